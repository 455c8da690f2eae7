"""The label-setting search behind the duties' pricing (`dispatch.duties`), compiled by Numba.

Interpreted, this search took nine tenths of column generation's time over duties: each round prices every class
(the served bounds) or every vehicle of a neighbourhood (price-and-branch), and each pricing offers and compares
tens of thousands of labels, at about 2 µs an offer. Compiled, the same pricings took 31-34 times less (on pricings
captured from a 100 x 500 and a 300 x 1,500 day's served stages). The search is the same step by step as the
interpreted one it replaced (the same labels in the same order, the same floating-point sums, no fused
multiply-add), so the same prices give the same duties, and a plan stays repeatable for a given seed and budget.

Numba compiles it when this module is first imported (about 7 s here) and keeps the machine code beside this file
(``cache=True``; where that folder cannot be written, in the user's cache), so later imports load it in about
0.4 s. `make` imports it once after installing, so that neither the first solve nor the first test pays for it.
Only processes that price import it (`dispatch.duties.load_pricing`): Numba and LLVM add about 130 MB to one.
Indices are bounds-checked (about 10 % of its time): a fault is an IndexError, never a write outside an array in
the server's process.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit


@njit(cache=True, inline="always", boundscheck=True)
def _grow(array: np.ndarray, size: int) -> np.ndarray:
    """``array``, or a copy twice as long when it has no room at ``size``."""
    if size < len(array):
        return array
    bigger = np.empty(max(2 * len(array), size + 1), dtype=array.dtype)
    bigger[:len(array)] = array
    return bigger


@njit(cache=True, inline="always", boundscheck=True)
def _covers(mine: np.ndarray, theirs: np.ndarray, hi: np.ndarray, at: int) -> bool:
    """No trip in ``mine`` (a label's met set) that the label of met set ``theirs`` (at ``at``) could still meet:
    each is in ``theirs`` or its window closed before ``at``. Both sets are sorted."""
    k = 0
    for trip in mine:
        while k < len(theirs) and theirs[k] < trip:
            k += 1
        if (k >= len(theirs) or theirs[k] != trip) and hi[trip] >= at:
            return False
    return True


# Compiled (or loaded from the cache) on import, not at the first call: `dispatch.duties.load_pricing` has a solve
# import it before its clock starts.
_SIGNATURE = ("Tuple((float64[::1], int64[::1], int64[::1], int64[::1]))(boolean[::1], float64[::1], int64[::1], "
              "int64[::1], int64[::1], float64[::1], float64[::1], float64[::1], float64, float64, boolean, "
              "boolean[::1], int64[::1], int64[::1], float64[::1], int64[::1], int64)")


@njit(_SIGNATURE, cache=True, boundscheck=True)
def search(useful: np.ndarray, value: np.ndarray, lo: np.ndarray, hi: np.ndarray, service: np.ndarray,
           loaded_km: np.ndarray, out_km: np.ndarray, home_km: np.ndarray, range_km: float, km_price: float,
           ranged: bool, again: np.ndarray, starts: np.ndarray, heads: np.ndarray, leg_km: np.ndarray,
           leg_s: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Label setting in pickup-time order over the ``useful`` trips (see `dispatch.duties._best_duties`).

    The legs are in rows: trip ``t``'s successors are ``heads[starts[t]:starts[t + 1]]``, with their empty km and
    drive seconds. Returns the end labels in the order they were settled (their worth with the way home, and the
    label), and each label's trip and parent (-1 for a first trip), for the caller to read the duties back.
    ``capacity``: labels, ends and met trips made room for at first (each grows by doubling)."""
    n = len(useful)
    times = np.empty(capacity, dtype=np.int64)
    worth = np.empty(capacity, dtype=np.float64)
    road = np.empty(capacity, dtype=np.float64)
    trip_of = np.empty(capacity, dtype=np.int64)
    parent = np.empty(capacity, dtype=np.int64)
    alive = np.empty(capacity, dtype=np.bool_)
    met_at = np.empty(capacity, dtype=np.int64)
    met_len = np.empty(capacity, dtype=np.int64)
    pool = np.empty(capacity, dtype=np.int64)  # the met sets, each sorted, one after another
    used = 0
    scratch = np.empty(n + 1, dtype=np.int64)  # an offered label's met set, before it is known to be kept
    # Each trip's front: the labels not dominated when they were made, in a chain through ``next_in_front``.
    first_in_front = np.full(n, -1, dtype=np.int64)
    next_in_front = np.empty(capacity, dtype=np.int64)
    count = 0
    heap = [(0, 0)]  # (pickup time, label): Numba types a list by its first item
    heap.pop()
    ends_gain = np.empty(capacity, dtype=np.float64)
    ends_label = np.empty(capacity, dtype=np.int64)
    ends = 0

    first = 0  # the next trip to offer as a duty's first, until every one has been
    settled = -1  # the label whose successors are being offered
    k = 0
    k_end = 0
    while True:
        if first < n:
            o_trip = first
            first += 1
            if not useful[o_trip]:
                continue
            o_at = lo[o_trip]
            o_gain = value[o_trip] - km_price * out_km[o_trip]
            o_driven = out_km[o_trip] + loaded_km[o_trip]
            o_came = -1
            from_at = 0
            from_len = 0
        else:
            if k >= k_end:
                if len(heap) == 0:
                    break
                _, settled = heapq.heappop(heap)
                if not alive[settled]:
                    continue  # dominated after it was made
                trip = trip_of[settled]
                ends_gain = _grow(ends_gain, ends)
                ends_label = _grow(ends_label, ends)
                ends_gain[ends] = worth[settled] - km_price * home_km[trip]
                ends_label[ends] = settled
                ends += 1
                k = starts[trip]
                k_end = starts[trip + 1]
                continue
            trip = trip_of[settled]
            head = heads[k]
            k += 1
            if not useful[head]:
                continue
            # A trip of no service may be followed at the same instant by any other, in either order: the trips a
            # label keeps (every such trip's window holds its service) are what stops such a chain coming back.
            when = max(lo[head], times[settled] + service[trip] + leg_s[k - 1])
            if when > hi[head] or head == trip:
                continue
            twice = False  # no duty meets a trip twice
            for i in range(met_at[settled], met_at[settled] + met_len[settled]):
                if pool[i] == head:
                    twice = True
                    break
            if twice:
                continue
            o_trip = head
            o_at = when
            o_gain = worth[settled] + value[head] - km_price * leg_km[k - 1]
            o_driven = road[settled] + leg_km[k - 1] + loaded_km[head]
            o_came = settled
            from_at = met_at[settled]
            from_len = met_len[settled]
        # The offer of a label (o_trip, o_at, o_gain, o_driven, o_came; its met set from the offering label's).
        if o_driven + home_km[o_trip] > range_km:
            continue
        # Its met set: the offering label's, with this trip if it can be met again, less the trips whose windows
        # have closed; sorted.
        size = 0
        placed = not again[o_trip]
        for i in range(from_at, from_at + from_len):
            t = pool[i]
            if not placed and o_trip < t:
                if hi[o_trip] >= o_at:
                    scratch[size] = o_trip
                    size += 1
                placed = True
            if hi[t] >= o_at:
                scratch[size] = t
                size += 1
        if not placed and hi[o_trip] >= o_at:
            scratch[size] = o_trip
            size += 1
        # Dominated by a label of the front?
        dominated = False
        other = first_in_front[o_trip]
        while other >= 0:
            if times[other] <= o_at and worth[other] >= o_gain and (not ranged or road[other] <= o_driven) and (
                    met_len[other] == 0 or _covers(pool[met_at[other]:met_at[other] + met_len[other]], scratch[:size],
                                                   hi, o_at)):
                dominated = True
                break
            other = next_in_front[other]
        if dominated:
            continue
        new = count
        count += 1
        if new >= len(times):
            times = _grow(times, new)
            worth = _grow(worth, new)
            road = _grow(road, new)
            trip_of = _grow(trip_of, new)
            parent = _grow(parent, new)
            met_at = _grow(met_at, new)
            met_len = _grow(met_len, new)
            next_in_front = _grow(next_in_front, new)
            alive = _grow(alive, new)
        pool = _grow(pool, used + size)
        pool[used:used + size] = scratch[:size]
        times[new] = o_at
        worth[new] = o_gain
        road[new] = o_driven
        trip_of[new] = o_trip
        parent[new] = o_came
        met_at[new] = used
        met_len[new] = size
        alive[new] = True
        used += size
        # The labels of the front the new one dominates leave it; the new one joins at its end.
        previous = -1
        other = first_in_front[o_trip]
        while other >= 0:
            following = next_in_front[other]
            if times[other] >= o_at and worth[other] <= o_gain and (not ranged or road[other] >= o_driven) and (
                    size == 0 or _covers(pool[used - size:used], pool[met_at[other]:met_at[other] + met_len[other]], hi,
                                         times[other])):
                alive[other] = False
                if previous < 0:
                    first_in_front[o_trip] = following
                else:
                    next_in_front[previous] = following
            else:
                previous = other
            other = following
        next_in_front[new] = -1
        if previous < 0:
            first_in_front[o_trip] = new
        else:
            next_in_front[previous] = new
        heapq.heappush(heap, (o_at, new))
    return ends_gain[:ends], ends_label[:ends], trip_of[:count], parent[:count]
