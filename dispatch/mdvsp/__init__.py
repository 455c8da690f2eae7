"""The multi-depot vehicle scheduling benchmark (Pepin et al. 2009): the fixed-time scheduling core and its format.

Trips at fixed times, depots with vehicle counts, sparse feasible arcs: `schedule` solves it exactly (min-cost
flow for one depot, column generation and SCIP for several), `inp` reads the benchmark's `.inp` files and writes
its answers. Only the benchmark uses it (``python -m dispatch mdvsp``, ``benchmarks/mdvsp.py``); the dispatch engine
proper (`dispatch.solve`) does not.
"""

from dispatch.mdvsp.inp import answer, gap_percent, main, parse_inp, read_inp
from dispatch.mdvsp.schedule import (
    InfeasibleScheduleError,
    Schedule,
    ScheduleGraph,
    ScheduleTimeoutError,
    lower_bound,
    route_cost,
    solve,
)

__all__ = [
    "InfeasibleScheduleError",
    "Schedule",
    "ScheduleGraph",
    "ScheduleTimeoutError",
    "answer",
    "gap_percent",
    "lower_bound",
    "main",
    "parse_inp",
    "read_inp",
    "route_cost",
    "solve",
]
