"""Request-scoped wiring: the engine, one transaction per request, the caller and what its role may do.

The session dependency has ``scope="function"``: its commit runs before the response is sent, so a client is never
told "201" for a booking that did not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.capacity import database_slot
from api.errors import ApiError
from fleet.enums import Role
from fleet.models import Trip, User
from fleet.users import AGENCY_ROLES, CredentialRefused, authenticate

_bearer = HTTPBearer(auto_error=False, description="a token printed by `gongche users add`")


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_session(request: Request,
                      _slot: Annotated[None, Depends(database_slot, scope="function")]) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent and rolled back if the request fails."""
    # The slot is taken first and given back after the commit: no more sessions at once than the pool serves.
    # A read needs no write lock: on SQLite it begins DEFERRED and does not queue behind bookings.
    # Async so that making the session (no I/O) costs no trip to the thread pool; the commit, which does I/O
    # (and on SQLite hands the write lock on), goes to a worker thread.
    engine = get_engine(request)
    bind = engine.execution_options(readonly=True) if request.method in ("GET", "HEAD") else engine
    session = Session(bind, expire_on_commit=False)

    def commit() -> None:
        with session:  # closed either way; a commit that fails is rolled back
            session.commit()

    try:
        yield session
    except BaseException:
        await run_in_threadpool(session.close)  # rolls back
        raise
    await run_in_threadpool(commit)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    """The caller: 401 without a token or with one unknown, expired or of a deactivated user; 403 for a driver user
    whose driver record is deactivated."""
    if credentials is None:
        raise ApiError(401, "Unauthenticated", "send 'Authorization: Bearer <token>'")
    try:
        return authenticate(session, credentials.credentials)
    except CredentialRefused as refused:
        raise ApiError(refused.status, "Unauthenticated" if refused.status == 401 else "Forbidden",
                       refused.detail) from None


UserDep = Annotated[User, Depends(current_user)]


def allow(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 otherwise)."""
    names = ", ".join(r.value for r in roles)

    def check(user: UserDep) -> User:
        if user.role not in roles:
            raise ApiError(403, "Forbidden", f"a {user.role.value} may not do this; it needs: {names}")
        return user

    return check


def sees_trip(user: User, trip: Trip, driver_of: int | None) -> bool:
    """Agency roles see their agency's trips; a driver sees the trips it drives; the platform roles see all."""
    if user.role in AGENCY_ROLES:
        return trip.agency_id == user.agency_id
    if user.role is Role.driver:
        return driver_of is not None and driver_of == user.driver_id
    return True


def allow_briefly(*roles: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None], User]:
    """Like `allow`, for routes that must hold no transaction while they work (a dispatch run solves for seconds;
    on SQLite the request's own write transaction would hold the platform's write lock all that time): the caller
    is read in a read transaction that ends before the route runs, and the route's service opens its own."""
    check = allow(*roles)

    def read(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
        engine = get_engine(request).execution_options(readonly=True)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            user = current_user(session, credentials)
            _ = user.agency, user.driver  # loaded now: the session is gone when the route reads them
        return check(user)

    return read


EngineDep = Annotated[Engine, Depends(get_engine)]
