"""Where the vehicles went and where they are: a vehicle's track over a window, a trip's track beside its planned
route (GeoJSON, simplified for long spans), and every vehicle's newest position for the live map
(`fleet.track_queries`).

Who reads them: the platform's dispatchers (the live map, a trip under way), supervisors (纪检: auditing where a
car went) and, for vehicles, the admin who keeps the registry and its terminals (is this one reporting?). A trip's
track is the dispatcher's and the supervisor's, as the day board is. Requesters and approvers book and decide; they
read no tracks. A driver reads none either (403), as it reads nothing of the registry: it knows where it drove, and
its own trips show it their places. Everything within the caller's scope (`fleet.scopes`): outside it a vehicle or
a trip is unknown (404), and the live map leaves its vehicles out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import RegistryReader, ScopeDep, SessionDep, allow
from api.errors import ErrorOut
from api.schemas import LatestPositionsOut, LivePositionOut, ObjectId, Since, TrackOut, TripTrackOut, Until
from fleet import clock, track_queries
from fleet.enums import Role
from fleet.models import User

router = APIRouter(tags=["tracks"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}})

Watcher = Annotated[User, Depends(allow(Role.dispatcher, Role.supervisor))]
MaxPoints = Annotated[int, Query(ge=100, le=50_000, description="at most this many positions: a longer track is "
                                                                "simplified (Douglas–Peucker) to fit")]


@router.get("/vehicles/{vehicle_id}/track", response_model=TrackOut,
            summary="A vehicle's track over a window (GeoJSON)")
def vehicle_track(
    vehicle_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep,
    start: Annotated[Since, Query(description="an instant with its offset, or a date (from the start of that day, "
                                              "China time)")],
    end: Annotated[Until, Query(description="an instant (exclusive), or a date (to the end of that day, China "
                                            "time); at most 31 days after start")],
    max_points: MaxPoints = track_queries.DEFAULT_MAX_POINTS,
) -> TrackOut:
    """One Feature: a LineString of `[lon, lat]` (WGS-84) in device-time order, or a MultiLineString cut where no
    fix came for longer than `gap_minutes`; the time of each position in `properties.coordTimes`; the fixes, km
    and first and last fix of the window; whether it was simplified and with what tolerance. No fix: a null
    geometry."""
    return TrackOut.model_validate(track_queries.vehicle_track(session, scope, vehicle_id, start, end,
                                                               max_points=max_points))


@router.get("/trips/{trip_id}/track", response_model=TripTrackOut,
            summary="A trip's track beside its planned route (GeoJSON)")
def trip_track(trip_id: ObjectId, session: SessionDep, user: Watcher, scope: ScopeDep,
               max_points: MaxPoints = track_queries.DEFAULT_MAX_POINTS) -> TripTrackOut:
    """The fixes of the trip's vehicle from its pickup (出车, or the assignment's start before it) to its end (收车;
    now while under way; the assignment's end before it starts), role `track`; and the planned route, role
    `planned`: the vehicle's home → pickup → drop-off in straight legs. A trip without a vehicle has only the
    planned route."""
    return TripTrackOut.model_validate(track_queries.trip_track(session, scope, trip_id, max_points=max_points))


@router.get("/positions/latest", response_model=LatestPositionsOut,
            summary="Every vehicle's newest position (the live map)")
def latest_positions(
    session: SessionDep, user: RegistryReader, scope: ScopeDep,
    since: Annotated[Since | None, Query(description="only vehicles whose newest fix was received at or after this "
                                                     "instant (and a few seconds before: nothing committed late "
                                                     "is missed): the previous answer's `at`")] = None,
) -> LatestPositionsOut:
    """The vehicles of the caller's scope with a fix, on the books, by plate: where each was last (WGS-84), its
    speed, course, ignition, age, and whether its terminal is online (a fix received within `online_within_s`)."""
    now = clock.now()
    found = track_queries.latest_positions(session, scope, since, now=now)
    return LatestPositionsOut(at=now, online_within_s=int(track_queries.ONLINE_WITHIN.total_seconds()),
                              items=[LivePositionOut.model_validate(p) for p in found])
