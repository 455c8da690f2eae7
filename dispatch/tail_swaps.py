"""The tail exchange's sweeps (`dispatch.tails`), compiled by Numba.

Interpreted, the exchange took about 7 s to run to its end on a 1,000 x 5,000 day's first plan, so it ran only
once, at the end of the search, and rarely to its end there. Compiled, it takes 0.2-0.7 s at 300 x 1,500 between
epochs, so a large fleet's search runs it after every epoch. The state is arrays, changed in place: the network's
(``net``) and the fleet's routes with their per-cut sums (``fleet``), in the tuples `dispatch.tails` builds; each
function's first lines name the parts it reads.

A sweep checks a trip again only when a car its swaps depend on changed (`sweep`), so the sweeps after the first
cost little. A swap's second junction (car y's last kept trip to car x's first handed-over one) need not be among
the network's arcs: the sweeps ask for the legs they miss, on swaps that could still gain, and `dispatch.tails`
looks them up (`Network.leg`) and sweeps again. Numba compiles this module on first use and keeps the machine code
beside it (``cache=True``); `make` loads it once after installing (`dispatch.tails.load_sweeps`), as it does
`dispatch.labels`. Indices are bounds-checked, so a fault is an IndexError, never a write outside an array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO = -1.0  # `end_of`'s answer where the route breaks a window, the shift, the range or the kind
GAIN = 1e-6  # km: a swap must cut at least this much


@njit(cache=True, inline="always", boundscheck=True)
def summarise(net, fleet, v):  # type: ignore[no-untyped-def]
    """Car ``v``'s sums for cutting its route at any position ``c`` (trips ``[:c]`` kept, ``[c:]`` the tail): empty
    and loaded km before the cut and after it (between the tail's trips, not into its first, not home), the latest
    pickup of the tail's first trip its windows allow, the seconds from its first pickup to its last drop-off
    without waits, the earliest that drop-off can be, the vehicle kinds every trip of the tail allows; and the
    route's empty km, the drive home included."""
    early, late, service, loaded, by_kind = net[0], net[1], net[2], net[3], net[4]
    route, length, legs_km, legs_s = fleet[0], fleet[1], fleet[2], fleet[3]
    empty_before, loaded_before, empty_after, loaded_after = fleet[7], fleet[8], fleet[9], fleet[10]
    window, span, finish, kinds, total = fleet[11], fleet[12], fleet[13], fleet[14], fleet[15]
    size = length[v]
    empty_before[v, 0] = 0.0
    loaded_before[v, 0] = 0.0
    for k in range(size):
        empty_before[v, k + 1] = empty_before[v, k] + legs_km[v, k]
        loaded_before[v, k + 1] = loaded_before[v, k] + loaded[route[v, k]]
    empty_after[v, size] = 0.0
    loaded_after[v, size] = 0.0
    window[v, size] = 0
    span[v, size] = 0
    finish[v, size] = 0
    kinds[v, size, :] = True
    for k in range(size - 1, -1, -1):
        trip = route[v, k]
        kinds[v, k, :] = kinds[v, k + 1, :] & by_kind[trip, :]
        loaded_after[v, k] = loaded_after[v, k + 1] + loaded[trip]
        if k == size - 1:
            empty_after[v, k] = 0.0
            window[v, k] = late[trip]
            span[v, k] = service[trip]
        else:
            empty_after[v, k] = empty_after[v, k + 1] + legs_km[v, k + 1]
            window[v, k] = min(late[trip], window[v, k + 1] - legs_s[v, k + 1] - service[trip])
            span[v, k] = service[trip] + legs_s[v, k + 1] + span[v, k + 1]
        finish[v, k] = max(early[trip] + span[v, k], finish[v, k + 1])
    empty = 0.0
    if size > 0:
        for k in range(size + 1):
            empty += legs_km[v, k]
    total[v] = empty


@njit(cache=True, inline="always", boundscheck=True)
def junction(net, fleet, more, x, cut, y, at):  # type: ignore[no-untyped-def]
    """Km and seconds of car ``x``'s leg from its trip before ``cut`` (or its depot) to car ``y``'s trip at ``at``,
    and whether it is known: among the network's arcs or the legs looked up since (``more``: their keys ``tail *
    trips + head``, sorted, with their km and seconds). 0, 0, True where ``y`` has nothing from ``at`` on."""
    early, depot, out_km, out_s, starts, heads, arc_km, arc_s = (net[0], net[6], net[10], net[11], net[14], net[15],
                                                                 net[16], net[17])
    route, length = fleet[0], fleet[1]
    if at == length[y]:
        return 0.0, 0, True
    first = route[y, at]
    if cut == 0:
        return out_km[depot[x], first], out_s[depot[x], first], True
    last = route[x, cut - 1]
    for arc in range(starts[last], starts[last + 1]):
        if heads[arc] == first:
            return arc_km[arc], arc_s[arc], True
    keys = more[0]
    key = last * len(early) + first
    found = np.searchsorted(keys, key)
    if found < len(keys) and keys[found] == key:
        return more[1][found], more[2][found], True
    return 0.0, 0, False


@njit(cache=True, inline="always", boundscheck=True)
def end_of(net, fleet, x, cut, y, at, km, drive):  # type: ignore[no-untyped-def]
    """Empty km of car ``x`` driving its trips before ``cut`` and then car ``y``'s from ``at`` on, joined by a leg of
    ``km`` and ``drive`` seconds (`junction`), or `NO` where that route breaks a window, the shift, the range or the
    kind. Constant time, from the two routes' sums (`summarise`)."""
    early, service, kind, depot = net[0], net[2], net[5], net[6]
    shift_start, shift_end, range_km, in_km, in_s = net[7], net[8], net[9], net[12], net[13]
    route, length, start = fleet[0], fleet[1], fleet[4]
    empty_before, loaded_before, empty_after, loaded_after = fleet[7], fleet[8], fleet[9], fleet[10]
    window, span, finish, kinds = fleet[11], fleet[12], fleet[13], fleet[14]
    home_yard = depot[x]
    last = -1
    if cut > 0:
        last = route[x, cut - 1]
        ready = start[x, cut - 1] + service[last]
    else:
        ready = shift_start[x]
    if at == length[y]:  # x keeps only its own trips before the cut
        if cut == 0:
            return 0.0
        if ready + in_s[last, home_yard] > shift_end[x]:
            return NO
        empty = empty_before[x, cut] + in_km[last, home_yard]
        return empty if empty + loaded_before[x, cut] <= range_km[x] else NO
    first, final = route[y, at], route[y, length[y] - 1]
    if not kinds[y, at, kind[x]]:
        return NO
    pickup = max(early[first], ready + drive)
    home = max(pickup + span[y, at], finish[y, at]) + in_s[final, home_yard]
    if pickup > window[y, at] or home > shift_end[x]:
        return NO
    empty = empty_before[x, cut] + km + empty_after[y, at] + in_km[final, home_yard]
    if empty + loaded_before[x, cut] + loaded_after[y, at] > range_km[x]:
        return NO
    return empty


@njit(cache=True, inline="always", boundscheck=True)
def _join(net, fleet, x, cut, y, at, km, drive, trips, legs_km, legs_s):  # type: ignore[no-untyped-def]
    """Car ``x``'s new route (its trips before ``cut``, then ``y``'s from ``at``) into the scratch rows: trips and
    the legs into each, the last one home. Its length."""
    depot, in_km, in_s = net[6], net[12], net[13]
    route, length, route_km, route_s = fleet[0], fleet[1], fleet[2], fleet[3]
    size = 0
    for k in range(cut):
        trips[size], legs_km[size], legs_s[size] = route[x, k], route_km[x, k], route_s[x, k]
        size += 1
    for k in range(at, length[y]):
        trips[size] = route[y, k]
        if k == at:
            legs_km[size], legs_s[size] = km, drive
        else:
            legs_km[size], legs_s[size] = route_km[y, k], route_s[y, k]
        size += 1
    if size > 0:
        legs_km[size], legs_s[size] = in_km[trips[size - 1], depot[x]], in_s[trips[size - 1], depot[x]]
    return size


@njit(cache=True, inline="always", boundscheck=True)
def _place(net, fleet, v, size, trips, legs_km, legs_s):  # type: ignore[no-untyped-def]
    """Car ``v``'s route from the scratch rows, with its timetable (each pickup as early as its window and the
    drive allow), where each trip now is, and its sums."""
    early, service, shift_start = net[0], net[2], net[7]
    route, length, route_km, route_s, start, where, position = (fleet[0], fleet[1], fleet[2], fleet[3], fleet[4],
                                                                fleet[5], fleet[6])
    clock = shift_start[v]
    for k in range(size):
        trip = trips[k]
        route[v, k], route_km[v, k], route_s[v, k] = trip, legs_km[k], legs_s[k]
        start[v, k] = max(early[trip], clock + legs_s[k])
        clock = start[v, k] + service[trip]
        where[trip], position[trip] = v, k
    route_km[v, size], route_s[v, size] = (legs_km[size], legs_s[size]) if size > 0 else (0.0, 0)
    length[v] = size
    summarise(net, fleet, v)


@njit(cache=True, inline="always", boundscheck=True)
def swap(net, fleet, more, wanted, changed, x, cut, y, at, km_x, s_x,  # type: ignore[no-untyped-def]
         scratch_trips, scratch_km, scratch_s):
    """Make the swap (``x`` keeps ``[:cut]`` and takes ``y``'s ``[at:]``, ``y`` keeps ``[:at]`` and takes ``x``'s
    ``[cut:]``; ``km_x`` and ``s_x``: x's `junction`, which the caller knows) if both routes are drivable, the
    second junction is known and it cuts empty km, and mark both cars ``changed``. Whether it did. A second junction
    not known, on a swap that could still gain by what the rest of both routes allows, is added to ``wanted`` (its
    count first, then keys) for the caller to look up."""
    early, service, depot, in_km = net[0], net[2], net[6], net[12]
    route, length, start, empty_before, empty_after, window, total = (fleet[0], fleet[1], fleet[4], fleet[7],
                                                                      fleet[9], fleet[11], fleet[15])
    width = route.shape[1]
    if cut + length[y] - at > width or at + length[x] - cut > width:
        return False
    new_x = end_of(net, fleet, x, cut, y, at, km_x, s_x)
    if new_x == NO:
        return False
    km_y, s_y, ok_y = junction(net, fleet, more, y, at, x, cut)
    if not ok_y:
        # Only y's kept trip before ``at`` to x's at ``cut`` can be missing (a depot's legs are all known). With no
        # empty km for it, and no drive, would the swap gain and y reach that pickup?
        tail, head = route[y, at - 1], route[x, cut]
        if (start[y, at - 1] + service[tail] <= window[x, cut]
                and new_x + empty_before[y, at] + empty_after[x, cut] + in_km[route[x, length[x] - 1], depot[y]]
                < total[x] + total[y] - GAIN and wanted[0] < len(wanted) - 1):
            wanted[0] += 1
            wanted[wanted[0]] = tail * len(early) + head
        return False
    new_y = end_of(net, fleet, y, at, x, cut, km_y, s_y)
    if new_y == NO or new_x + new_y >= total[x] + total[y] - GAIN:
        return False
    size_x = _join(net, fleet, x, cut, y, at, km_x, s_x, scratch_trips[0], scratch_km[0], scratch_s[0])
    size_y = _join(net, fleet, y, at, x, cut, km_y, s_y, scratch_trips[1], scratch_km[1], scratch_s[1])
    _place(net, fleet, x, size_x, scratch_trips[0], scratch_km[0], scratch_s[0])
    _place(net, fleet, y, size_y, scratch_trips[1], scratch_km[1], scratch_s[1])
    changed[x], changed[y] = True, True
    return True


@njit(cache=True, boundscheck=True)
def sweep(net, fleet, more, wanted, changed, marks, state, checks, idle):  # type: ignore[no-untyped-def]
    """Go on with the sweeps for about ``checks`` checks: for each trip served, the first improving swap of what
    follows it with what follows one of its arcs on another car, else (if ``idle``) the hand-over of what follows
    it to the idle car that drives it for the fewest empty km, if that gains; sweeps repeat until one finds nothing.

    A trip is checked again only if its car, a car one of its arcs leads to, or the set of idle cars changed since
    it was last checked (nothing else decides its swaps): ``marks`` holds each car's last change and each trip's
    last check, in swaps made (-1: not yet). ``state``: the next trip, whether this sweep swapped, whether any did,
    whether the sweeps are over, the swaps made, the swaps made when a car last went idle. ``changed``: the cars
    whose routes the swaps changed. ``more`` and ``wanted``: see `swap`."""
    kind, depot, out_km, in_km, starts, heads, arc_km, arc_s = (net[5], net[6], net[10], net[12], net[14], net[15],
                                                                net[16], net[17])
    route, length, where, position, kinds = fleet[0], fleet[1], fleet[5], fleet[6], fleet[14]
    stamp, seen = marks[0], marks[1]
    trips = len(where)
    width = route.shape[1]
    scratch_trips = np.empty((2, width), dtype=np.int64)
    scratch_km = np.empty((2, width + 1), dtype=np.float64)
    scratch_s = np.empty((2, width + 1), dtype=np.int64)
    done = 0
    while done < checks:
        trip = state[0]
        if trip >= trips:
            if state[1] == 0:
                state[3] = 1
                return
            state[0], state[1] = 0, 0
            continue
        state[0] = trip + 1
        x = where[trip]
        if x < 0:
            continue
        cut = position[trip] + 1
        if seen[trip] >= 0:
            stale = stamp[x] > seen[trip] or (idle and cut < length[x] and state[5] > seen[trip])
            for arc in range(starts[trip], starts[trip + 1]):
                if stale:
                    break
                y = where[heads[arc]]
                stale = y >= 0 and stamp[y] > seen[trip]
            if not stale:
                continue
        seen[trip] = state[4]
        partner = -1
        for arc in range(starts[trip], starts[trip + 1]):
            done += 1
            y = where[heads[arc]]
            if y >= 0 and y != x and swap(net, fleet, more, wanted, changed, x, cut, y, position[heads[arc]],
                                          arc_km[arc], arc_s[arc], scratch_trips, scratch_km, scratch_s):
                partner = y
                break
        if partner < 0 and idle and cut < length[x]:
            # The idle car whose drive out to the end's first pickup and home from its last is shortest, of those
            # that can drive it: each car that would beat the best so far is checked in full.
            first, final = route[x, cut], route[x, length[x] - 1]
            best, best_km = -1, np.inf
            for y in range(len(length)):
                if length[y] > 0 or not kinds[x, cut, kind[y]]:
                    continue
                done += 1
                km = out_km[depot[y], first] + in_km[final, depot[y]]
                if km < best_km:
                    km_y, s_y, _ = junction(net, fleet, more, y, 0, x, cut)
                    if end_of(net, fleet, y, 0, x, cut, km_y, s_y) != NO:
                        best, best_km = y, km
            if best >= 0 and swap(net, fleet, more, wanted, changed, x, cut, best, 0, 0.0, 0, scratch_trips,
                                  scratch_km, scratch_s):  # x keeps only its trips before the cut: no junction
                partner = best
        if partner >= 0:
            state[1], state[2], state[4] = 1, 1, state[4] + 1
            stamp[x], stamp[partner] = state[4], state[4]
            if length[x] == 0 or length[partner] == 0:
                state[5] = state[4]
