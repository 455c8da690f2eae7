"""The FastAPI application: ``create_app(engine)``; ``gongche serve`` runs it under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, get_args, get_origin

from fastapi import Depends, FastAPI, Request, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine

from api import errors
from api.console import mount_console
from api.keeper import Keeper
from api.routes import (
    accounts,
    auth,
    basemap,
    board,
    dispatch,
    events,
    oversight,
    records,
    registry,
    reminders,
    rentals,
    tracks,
    trips,
    users,
    vocabulary,
)
from fleet import clock
from fleet.db import make_engine
from fleet.errors import InvalidInput
from fleet.i18n import msg
from fleet.schemas import unstorable_text
from fleet.settings import get_settings
from fleet.usage_audit import calendar_health, configured_rules

PREFIX = "/api/v1"
DESCRIPTION = """Gongche 公车: booking, dispatch and audit of government official vehicles.

Send `Authorization: Bearer <token>` (tokens come from `gongche users add NAME --role ROLE [--agency CODE]`).
Roles: **requester** and **approver** act for their own agency; **dispatcher** runs the platform; **driver** records
its own trips; **supervisor** reads everything (audit, violations, reports); **admin** keeps the registry.
Every error is `{"error": code, "detail": sentence, "field": name-or-null}`.
"""


# Any route may meet a database too busy to serve it in time (api.errors); documented once for all of them.
BUSY: dict[int | str, dict[str, Any]] = {503: {
    "model": errors.ErrorOut,
    "description": "the database could not take the request in time, or refused it under load; its transaction was "
                   "rolled back: send it again",
    "headers": {"Retry-After": {"description": "seconds to wait before sending it again",
                                "schema": {"type": "integer"}}}}}


async def storable_text(request: Request) -> None:
    """Refuse (422, naming the field) a query parameter or a JSON body holding text no database can store.

    Checked here, once for every route and field, before any work: a NUL passes pydantic's ``str`` but PostgreSQL
    refuses it mid-transaction, and a lone surrogate fails in the driver's encoder on either database.
    """
    params = [*request.query_params.multi_items(), *request.path_params.items()]
    found = next((f for name, value in params if (f := unstorable_text(value, (name,)))), None)
    if found is None and await request.body():
        try:
            body = await request.json()  # FastAPI has parsed it already; Starlette keeps the result
        except ValueError:
            return  # not JSON: the route's own validation answers
        found = unstorable_text(body)
    if found is not None:
        field, reason = found
        raise InvalidInput(msg("field '{field}': {reason}", field=field, reason=reason) if field
                           else msg("the body {reason}", reason=reason), field=field)


async def known_query(request: Request) -> None:
    """Refuse (422, naming it) a query parameter the matched route does not declare, its dependencies' included:
    a misspelt filter would otherwise be ignored and answer with the unfiltered list."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = {f.alias: f for f in get_flat_params(route.dependant) if isinstance(f.field_info, params.Query)}
    unknown = next((name for name in request.query_params if name not in declared), None)
    if unknown is not None:
        raise InvalidInput(msg("unknown query parameter '{name}'", name=unknown), field=unknown)
    # A parameter of one value given twice (limit=5&limit=6) would be read as its last: which one was meant?
    twice = next((name for name in request.query_params
                  if len(request.query_params.getlist(name)) > 1
                  and not _repeatable(declared[name].field_info.annotation)), None)
    if twice is not None:
        raise InvalidInput(msg("query parameter '{name}' is given more than once; it takes one value", name=twice),
                           field=twice)


def _repeatable(annotation: Any) -> bool:
    """Whether a query parameter's annotation takes several values (``list[TripStatus] | None``)."""
    if get_origin(annotation) in (list, tuple, set, frozenset, Sequence):
        return True
    return any(_repeatable(inner) for inner in get_args(annotation))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the app serves: the live days' keeper (`api.keeper`), unless the settings turn it or the live day off."""
    settings = get_settings()
    keeper = (Keeper(app.state.engine, settings.live_day_keep_seconds).start()
              if settings.live_day and settings.live_day_keep_seconds > 0 else None)
    app.state.keeper = keeper
    try:
        yield
    finally:
        if keeper is not None:
            keeper.stop()


def create_app(engine: Engine | None = None) -> FastAPI:
    """The app over ``engine`` (default: GONGCHE_DATABASE_URL)."""
    app = FastAPI(title="Gongche 公车", version="1", description=DESCRIPTION,
                  openapi_url=f"{PREFIX}/openapi.json", docs_url=None, redoc_url=None,
                  dependencies=[Depends(known_query), Depends(storable_text)], lifespan=lifespan)
    app.state.engine = engine or make_engine()
    errors.install(app)
    for module in (auth, trips, dispatch, registry, oversight, vocabulary, events, board, basemap):
        app.include_router(module.router, prefix=PREFIX, responses=BUSY)
    for router in (rentals.providers_router, rentals.trips_router, accounts.router,  # issue 14
                   records.router, reminders.router, users.router):
        app.include_router(router, prefix=PREFIX, responses=BUSY)
    app.include_router(tracks.router, prefix=PREFIX, responses=BUSY)  # issue 15: tracks and the live map

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        # The calendar is a health fact: a year it does not cover makes the usage audit flag every routine trip.
        return {"status": "ok", "calendar": calendar_health(configured_rules().calendar, clock.today())}

    mount_console(app)  # last: the console answers every other GET outside /api (and /docs, /redoc, locally)
    return app
