"""Why a trip is unserved, in words a dispatcher can act on.

The checks go from the hardest fact to the softest: no vehicle of an allowed category; none with enough seats;
none that can reach the window from its depot and be back within its shift; none with the range; every vehicle
that could do it alone is busy at that time; or the free ones cannot fit it between their other trips.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from dispatch.messages import Message, msg
from dispatch.network import CATEGORIES, Network
from dispatch.routes import Routes

# Each reason's stable code, keyed on its template: what a reason is stored and sent as (with its parameters), to
# be worded in the reader's language where it is shown; the templates are the `msg` calls below.
CODES: Final[dict[str, str]] = {
    "no {categories} vehicle in the fleet": "no_vehicle_of_category",
    "no {categories} vehicle with >= {seats} seats": "no_vehicle_with_seats",
    "window unreachable from every depot within shift hours": "window_unreachable",
    "every eligible vehicle on shift has less range than the {km:.0f} km the trip needs": "range_too_short",
    "all {count} eligible vehicles busy {when}": "all_busy",
    "{free} eligible vehicles free {when}, none with the range left or a gap between its other trips":
        "no_range_or_gap_left",
    "{free} eligible vehicles free {when}, but none can fit it between its other trips": "no_gap",
}
TEMPLATES: Final[dict[str, str]] = {code: template for template, code in CODES.items()}


def _names(categories: list[str]) -> str:
    """``a or b``, the ``or`` a message of its own so that it is translated with the reason."""
    if not categories:
        return ""
    either: str = categories[0]
    for category in categories[1:]:
        either = msg("{first} or {second}", first=either, second=category)
    return either


def reason(net: Network, routes: Routes, trip: int) -> Message:
    """One sentence on why ``trip`` is not in any route."""
    spec = net.problem.trips[trip]
    allowed = [c.value for c in spec.categories]
    of_category = np.isin(net.kind_category[net.kind], [CATEGORIES.index(c) for c in spec.categories])
    if not of_category.any():
        return msg("no {categories} vehicle in the fleet", categories=_names(allowed))
    eligible = net.eligible[trip]
    if not eligible.any():
        return msg("no {categories} vehicle with >= {seats} seats", categories=_names(allowed), seats=spec.passengers)
    depot = net.depot
    reach = np.maximum(net.early[trip], net.shift_start + net.out_s[depot, trip])
    in_time = (reach <= net.late[trip]) & (reach + net.service[trip] + net.in_s[trip, depot] <= net.shift_end)
    if not (eligible & in_time).any():
        return msg("window unreachable from every depot within shift hours")
    round_km = net.out_km[depot, trip] + net.loaded_km[trip] + net.in_km[trip, depot]
    able = eligible & in_time & (round_km <= net.range_km)
    if not able.any():
        shortest = float(round_km[eligible & in_time].min())
        return msg("every eligible vehicle on shift has less range than the {km:.0f} km the trip needs", km=shortest)
    span = (int(net.early[trip]), int(net.late[trip]) + int(net.service[trip]))
    busy = [vehicle for vehicle in np.flatnonzero(able).tolist() if _busy(net, routes, vehicle, span)]
    when = f"{net.clock(span[0], trip)}-{net.clock(span[1], trip)}"
    if len(busy) == int(able.sum()):
        return msg("all {count} eligible vehicles busy {when}", count=len(busy), when=when)
    free = int(able.sum()) - len(busy)
    short = [v for v in np.flatnonzero(able).tolist() if routes.km[v] + round_km[v] > net.range_km[v]]
    if short:
        return msg("{free} eligible vehicles free {when}, none with the range left or a gap between its other trips",
                   free=free, when=when)
    return msg("{free} eligible vehicles free {when}, but none can fit it between its other trips", free=free,
               when=when)


def _busy(net: Network, routes: Routes, vehicle: int, span: tuple[int, int]) -> bool:
    for trip, pickup in zip(routes.trips[vehicle], routes.start[vehicle], strict=True):
        if pickup < span[1] and pickup + int(net.service[trip]) > span[0]:
            return True
    return False
