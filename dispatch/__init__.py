"""The dispatch optimisation engine (pure Python over OR-Tools, no database). Built under issue 3.

The names below are the engine's public surface; import them from here::

    from dispatch import Problem, WorkBudget, MaxRuntime, insert, solve

    problem = Problem.read(path)
    plan = solve(problem, stop=(WorkBudget(2), MaxRuntime(10)), seed=0)
    placed = insert(plan, problem, trip)

The modules behind them (`dispatch.problem`, `dispatch.solve`, ...) stay importable, but what they hold beyond these
names is the engine's own business. Two sub-packages stand apart: `dispatch.synthetic` (the synthetic city's
instances) and `dispatch.mdvsp` (the scheduling benchmark). Note that ``dispatch.solve`` and ``dispatch.insert``
name the functions here, not their modules: ``from dispatch.solve import plan_of`` still reaches the module.
"""

from dispatch.insert import Placement, insert
from dispatch.plan import Bounds, Objective, Plan, Route, Status, StoppedBy, Unserved
from dispatch.problem import Category, Depot, Point, Powertrain, Priority, Problem, ProblemError, Trip, Vehicle
from dispatch.solve import InfeasibleRoutes, plan_of, solve
from dispatch.stop import MaxRuntime, StopCriteria, StopCriterion, WorkBudget
from dispatch.travel import Geodesic, Travel

__all__ = [
    "Bounds",
    "Category",
    "Depot",
    "Geodesic",
    "InfeasibleRoutes",
    "MaxRuntime",
    "Objective",
    "Placement",
    "Plan",
    "Point",
    "Powertrain",
    "Priority",
    "Problem",
    "ProblemError",
    "Route",
    "Status",
    "StopCriteria",
    "StopCriterion",
    "StoppedBy",
    "Travel",
    "Trip",
    "Unserved",
    "Vehicle",
    "WorkBudget",
    "insert",
    "plan_of",
    "solve",
]
