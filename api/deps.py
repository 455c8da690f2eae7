"""Request-scoped wiring: the engine, one transaction per request, the caller and what its role may do.

The session dependency has ``scope="function"``: its commit runs before the response is sent, so a client is never
told "201" for a booking that did not commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.errors import ApiError
from fleet.enums import Role
from fleet.models import Trip, User
from fleet.users import AGENCY_ROLES, authenticate

_bearer = HTTPBearer(auto_error=False, description="a token printed by `gongche users add`")


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    # A read needs no write lock: on SQLite it begins DEFERRED and does not queue behind bookings.
    bind = engine.execution_options(readonly=True) if request.method in ("GET", "HEAD") else engine
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    if credentials is None:
        raise ApiError(401, "Unauthenticated", "send 'Authorization: Bearer <token>'")
    user = authenticate(session, credentials.credentials)
    if user is None:
        raise ApiError(401, "Unauthenticated", "the token is unknown or its user is deactivated")
    return user


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
