"""Request-scoped wiring: the engine, one transaction per request, the caller and what its role may do.

The caller is named by ``Authorization: Bearer <token>`` or by the browser session cookie ``gongche_session``
(`fleet.users`); when both are sent the bearer token wins. A change (any method but GET, HEAD, OPTIONS) made with the
cookie must carry ``X-CSRF-Token``, the session's CSRF token, which a page of another site cannot read.

The session dependency has ``scope="function"``: its commit runs before the response is sent, so a client is never
told "201" for a booking that did not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.capacity import database_slot, heavy_read
from api.errors import ApiError
from fleet import scopes, users
from fleet.db import busy_reason, unit_of_work
from fleet.enums import Role
from fleet.errors import Busy
from fleet.i18n import listing, msg, role_name, with_article
from fleet.models import Trip, User, UserSession
from fleet.scopes import Scope
from fleet.users import CredentialRefused, authenticate

SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "gongche_session", "gongche_csrf", "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # what a cookie may do without the CSRF token

_bearer = HTTPBearer(auto_error=False, description="a token printed by `gongche users add`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="the session cookie `POST /auth/login` sets; changes also need the header "
                                   "X-CSRF-Token")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
CookieDep = Annotated[str | None, Depends(_cookie)]


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
# A route's `dependencies=HEAVY_READ`: a place in the heavy reads' lane (api.capacity), taken before its session.
HEAVY_READ = [Depends(heavy_read, scope="function")]


def refusal(refused: CredentialRefused) -> ApiError:
    """The answer to a refused credential: 401 Unauthenticated, 403 Forbidden, 429 with Retry-After."""
    code = {401: "Unauthenticated", 429: "TooManyRequests"}.get(refused.status, "Forbidden")
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after is not None else None
    return ApiError(refused.status, code, refused.detail, refused.field, headers)


def _caller(request: Request, session: Session, credentials: HTTPAuthorizationCredentials | None,
            cookie: str | None) -> tuple[User, UserSession | None]:
    """The caller and, when its browser session named it, that session (also left in ``request.state``)."""
    try:
        if credentials is not None:
            return authenticate(session, credentials.credentials), None
        if cookie:
            user, opened = users.authenticate_session(session, cookie)
            if request.method not in SAFE_METHODS:
                users.check_csrf(opened, request.headers.get(CSRF_HEADER))
            request.state.user_session = opened.id
            return user, opened
    except CredentialRefused as refused:
        raise refusal(refused) from None
    raise ApiError(401, "Unauthenticated", msg("sign in, or send 'Authorization: Bearer <token>'"))


def _touch_apart(engine: Engine, opened: UserSession | None) -> None:
    """Note a session's use (the idle timeout) in a short transaction of its own: for a request whose own session
    only reads. A database too busy for it costs the note, not the request."""
    if opened is None or not users.needs_touch(opened):
        return
    try:
        with unit_of_work(engine) as session:
            users.touch_session(session, opened.id)
    except (Busy, sa_exc.DBAPIError) as exc:
        if not isinstance(exc, Busy) and busy_reason(exc) is None:
            raise


def current_user(request: Request, session: SessionDep, credentials: BearerDep, cookie: CookieDep) -> User:
    """The caller: 401 without a credential or with one unknown, ended, expired or of a deactivated user; 403 for a
    driver user whose driver record is deactivated, and for a change by cookie without its CSRF token."""
    user, opened = _caller(request, session, credentials, cookie)
    if opened is not None and users.needs_touch(opened):
        if request.method in ("GET", "HEAD"):  # the request's session reads only (get_session)
            _touch_apart(get_engine(request), opened)
        else:
            users.touch_session(session, opened.id)
    return user


UserDep = Annotated[User, Depends(current_user)]


def allow(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 otherwise)."""
    names = listing([role_name(r) for r in roles])

    def check(user: UserDep) -> User:
        if user.role not in roles:
            raise ApiError(403, "Forbidden", msg("{role} may not do this; it needs: {roles}",
                                                 role=with_article(user.role), roles=names))
        return user

    return check


def sees_trip(user: User, trip: Trip, driver_of: int | None, scope: Scope | None = None) -> bool:
    """Whether ``user`` sees the trip: agency roles their agency's, a driver the trips it drives, the platform roles
    those of the agencies in their scope (`fleet.scopes`; without ``scope``, only whole-platform users see them)."""
    if user.role is Role.driver:
        return driver_of is not None and driver_of == user.driver_id
    if scope is not None:
        return scope.has_agency(trip.agency_id)
    if user.agency_id is not None:
        return trip.agency_id == user.agency_id
    return user.role not in scopes.AGENCY_ROLES and user.jurisdiction_id is None


def scope_of(session: Session, user: User) -> Scope:
    """The caller's scope (`fleet.scopes`): what its lists hold and which objects exist for it. The one helper
    every route applies: ``scopes.vehicle(session, scope_of(session, user), vehicle_id)`` and the like for an
    object (404 outside), ``scope.agency_filter(Model.agency_id)`` or ``scope.ids()`` for a list."""
    return scopes.scope_of(session, user)


def in_scope(session: Session, user: User, agency_id: int | None) -> bool:
    """Whether the agency (None: the platform pool) lies in the caller's scope."""
    return scope_of(session, user).has_agency(agency_id)


def caller_scope(session: SessionDep, user: UserDep) -> Scope:
    return scope_of(session, user)


def scope_read_briefly(request: Request) -> Scope:
    """The scope of the caller an `allow_briefly` dependency read (worked out in its read transaction)."""
    found = getattr(request.state, "scope", None)
    assert isinstance(found, Scope), "scope_read_briefly needs an allow_briefly dependency first"
    return found


ScopeDep = Annotated[Scope, Depends(caller_scope)]


def whole_platform(user: User, scope: Scope) -> None:
    """Refuse (403) a caller whose scope is not the whole platform: for acts over every agency at once."""
    if not scope.whole:
        raise ApiError(403, "Forbidden", msg("{role} for {scope} may not do this: it acts over the whole platform",
                                             role=with_article(user.role), scope=scope.label))


def allow_briefly(*roles: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None, str | None], User]:
    """Like `allow`, for routes that must hold no transaction while they work (a dispatch run solves for seconds;
    on SQLite the request's own write transaction would hold the platform's write lock all that time): the caller
    (by token or cookie) is read in a read transaction that ends before the route runs, and the route's service
    opens its own."""
    check = allow(*roles)

    def read(request: Request, credentials: BearerDep, cookie: CookieDep) -> User:
        engine = get_engine(request)
        with Session(engine.execution_options(readonly=True), expire_on_commit=False) as session, session.begin():
            user, opened = _caller(request, session, credentials, cookie)
            _ = user.agency, user.driver, user.jurisdiction  # loaded now: the session is gone when the route reads
            request.state.scope = scopes.scope_of(session, user)
        _touch_apart(engine, opened)
        return check(user)

    return read


EngineDep = Annotated[Engine, Depends(get_engine)]


# The roles of the registry's routes: the admin writes; the platform (dispatcher) and supervisors read.
Admin = Annotated[User, Depends(allow(Role.admin))]
RegistryReader = Annotated[User, Depends(allow(Role.admin, Role.dispatcher, Role.supervisor))]
