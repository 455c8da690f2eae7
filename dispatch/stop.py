"""When the search stops: criteria given to `dispatch.solve` as objects, in the manner of PyVRP's ``pyvrp.stop``.

`MaxRuntime` holds the search to the wall clock; `WorkBudget` to its own count of work, measured in seconds of the
reference machine, so that the same seed and budget give the same plan on any machine, however loaded. Give one,
or a tuple of both; the search stops at whichever runs out first::

    solve(problem, stop=MaxRuntime(5))                    # what time_limit=5 has always meant
    solve(problem, stop=WorkBudget(2))                    # repeatable, and no wall-clock limit at all
    solve(problem, stop=(WorkBudget(2), MaxRuntime(10)))  # repeatable, with the clock only as a backstop

Building the network is not optimisation and comes on top of either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import TypeAlias

__all__ = ["MaxRuntime", "StopCriteria", "StopCriterion", "WorkBudget", "limits"]


def _seconds(kind: str, seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, Real):
        raise TypeError(f"{kind}(seconds): seconds must be a number, not {type(seconds).__name__}")
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{kind}(seconds): seconds must be finite and at least 0, got {seconds!r}")
    return value


@dataclass(frozen=True)
class MaxRuntime:
    """Stop after ``seconds`` of wall clock spent optimising.

    Without a `WorkBudget` beside it, the work budget is the same number of seconds, as with ``time_limit=``: on
    the reference machine budget and clock run out together, and on a slower or loaded one the clock stops first
    (and the plan says ``stopped_by="time limit"``).

    :param seconds: wall-clock seconds, finite and at least 0.
    """

    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", _seconds("MaxRuntime", self.seconds))


@dataclass(frozen=True)
class WorkBudget:
    """Stop after ``seconds`` of search work, counted (not timed) in seconds of the reference machine.

    The same problem, seed and budget give the same plan anywhere. Alone, nothing watches the clock; give a
    `MaxRuntime` as well to bound the wall time on a slow machine. Beside a `MaxRuntime`, the budget is capped at
    its seconds (as ``work=`` always was by ``time_limit=``).

    :param seconds: reference-machine seconds of work, finite and at least 0.
    """

    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", _seconds("WorkBudget", self.seconds))


StopCriterion: TypeAlias = MaxRuntime | WorkBudget
#: One criterion, or a tuple of them (whichever runs out first stops the search).
StopCriteria: TypeAlias = StopCriterion | tuple[StopCriterion, ...]


def limits(stop: StopCriteria) -> tuple[float | None, float]:
    """The wall-clock seconds (None: no clock) and the work budget in reference seconds that ``stop`` sets.

    :raises TypeError: something other than criteria.
    :raises ValueError: an empty tuple.
    """
    criteria = stop if isinstance(stop, tuple) else (stop,)
    if not criteria:
        raise ValueError("stop: give at least one criterion, e.g. MaxRuntime(10) or WorkBudget(2)")
    for criterion in criteria:
        if not isinstance(criterion, MaxRuntime | WorkBudget):
            raise TypeError(
                f"stop: expected MaxRuntime, WorkBudget or a tuple of them, not {type(criterion).__name__}"
            )
    clocks = [c.seconds for c in criteria if isinstance(c, MaxRuntime)]
    budgets = [c.seconds for c in criteria if isinstance(c, WorkBudget)]
    if not clocks:
        return None, min(budgets)
    clock = min(clocks)
    return clock, min(min(budgets, default=clock), clock)
