"""The answer: routes, unserved trips with their reasons, the objective, its bounds and the gap.

`Plan.exchange()` is the exchange format's solution document; the extra fields (timetable, bounds, timings) are
additions the referee ignores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from dispatch.messages import Text
from dispatch.problem import FORMAT, Priority


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Route(_Out):
    vehicle: str
    trips: list[str]
    pickups: list[datetime] = Field(description="planned pickup time of each trip")
    empty_km: float
    road_km: float


class Unserved(_Out):
    trip: str
    priority: Priority
    reason: Text  # a message, kept so that it can be shown in the reader's language


class Objective(_Out):
    served: dict[Priority, int]
    offered: dict[Priority, int]
    deadhead_km: float
    total_km: float
    vehicles_used: int


class Bounds(_Out):
    """What no plan can beat: most trips servable per priority, and least empty km for the trips served."""

    served_upper: dict[Priority, int]
    deadhead_lower_km: float
    vehicles_needed: int | None = Field(
        default=None, description="fewest vehicles able to serve every servable trip (minimum path cover)"
    )
    method: str = Field(description="how the bounds were obtained")
    seconds: float = Field(default=0.0, description="the bounds' own computing time")

    def gap(self, objective: Objective) -> dict[str, float]:
        """Trips per priority the plan may still be short of, and the relative deadhead gap."""
        gap: dict[str, float] = {p.value: self.served_upper[p] - objective.served[p] for p in Priority}
        if objective.deadhead_km > 0:
            gap["deadhead"] = round(max(0.0, 1 - self.deadhead_lower_km / objective.deadhead_km), 6)
        else:
            gap["deadhead"] = 0.0
        return gap


Status = Literal["optimal", "feasible"]
StoppedBy = Literal["optimal", "work budget", "time limit"]


class Plan(_Out):
    """The result of `dispatch.solve`: ``routes``, ``unserved`` (each with a reason), objective and bounds."""

    format: Literal["dispatch/1"] = FORMAT
    instance: str
    status: Status
    routes: list[Route]
    unserved: list[Unserved]
    objective: Objective
    bounds: Bounds
    gap: dict[str, float]
    build_seconds: float = Field(description="reading the problem and building the arcs")
    solve_seconds: float = Field(description="optimisation proper, held to the time limit")
    seed: int
    time_limit: float | None = Field(description="wall-clock seconds the search was held to; None: no clock, a "
                                                 "work budget alone")
    stopped_by: StoppedBy
    workers: int = Field(default=1, description="processes the search ran in")
    _state: Any = PrivateAttr(default=None)  # the solver's routes, kept for `insert` on the same problem

    def exchange(self) -> dict[str, Any]:
        """The solution document of the exchange format (with the extra fields)."""
        return self.model_dump(mode="json")

    def route_of(self, vehicle: str) -> Route | None:
        return next((route for route in self.routes if route.vehicle == vehicle), None)
