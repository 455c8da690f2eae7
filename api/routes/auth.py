"""Signing in with a password: a browser session in an HttpOnly cookie, and its CSRF token (docs/console-api.md).

``POST /auth/login`` sets ``gongche_session`` (HttpOnly: the page's scripts never see it) and ``gongche_csrf`` (read
by the page, which sends it back as ``X-CSRF-Token`` with every change), both SameSite=Strict on Path=/, Secure when
the request came over HTTPS. Neither value is stored, only their SHA-256 (`fleet.users`). Bearer tokens keep working
beside the cookie, and need no CSRF header: a browser never sends them by itself.

The routes hold no transaction while a password is hashed: `fleet.users.sign_in` and `change_password` open their own
short ones around the hashing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    CookieDep,
    EngineDep,
    SessionDep,
    UserDep,
    allow_briefly,
    refusal,
)
from api.errors import ErrorOut
from fleet import users
from fleet.enums import OversightOffice, Role
from fleet.models import User
from fleet.users import MAX_PASSWORD, CredentialRefused

RETRY_AFTER: dict[str, Any] = {"Retry-After": {"description": "seconds until sign-ins are taken again",
                                               "schema": {"type": "integer"}}}
SLOWED: dict[int | str, dict[str, Any]] = {429: {
    "model": ErrorOut, "headers": RETRY_AFTER,
    "description": "too many failed sign-ins for this user name or from this address: refused without checking "
                   "the password until Retry-After has passed"}}

router = APIRouter(prefix="/auth", tags=["auth"], responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}})

Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD, json_schema_extra={"format": "password"})]


class LoginIn(BaseModel):
    # Not `fleet.schemas.Input`: a password is taken as typed, spaces and all.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, description="the user name")
    password: Password


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    current: Password = Field(description="the password the user signs in with now")
    new: Password = Field(description=f"at least {users.MIN_PASSWORD} characters, not the user's name")


class MeOut(BaseModel):
    name: str
    role: Role
    agency: str | None = Field(description="the code of the agency a requester or approver acts for (or a platform "
                                           "role made for one agency)")
    agency_name: str | None
    jurisdiction: str | None = Field(default=None, description="the jurisdiction a dispatcher, supervisor or admin "
                                                               "acts for, with all below it; neither this nor agency: "
                                                               "the whole platform")
    office: OversightOffice | None = Field(default=None, description="the oversight body a supervisor reads for")
    driver_id: int | None = Field(description="the driver record a driver user is")
    driver_name: str | None


class LoginOut(BaseModel):
    user: MeOut
    csrf_token: str = Field(description="send it back as the header X-CSRF-Token with every change (also in the "
                                        "cookie gongche_csrf)")


def me_out(user: User) -> MeOut:
    return MeOut(name=user.name, role=user.role, agency=user.agency.code if user.agency else None,
                 agency_name=user.agency.name if user.agency else None,
                 jurisdiction=user.jurisdiction.code if user.jurisdiction else None, office=user.office,
                 driver_id=user.driver_id,
                 driver_name=user.driver.name if user.driver else None)


def _cookie_options(request: Request) -> dict[str, Any]:
    # Secure over HTTPS only: the console is also served over plain HTTP on 127.0.0.1, where a Secure cookie would
    # never come back. Behind a TLS-terminating proxy, uvicorn's proxy headers give the request its https scheme.
    return {"path": "/", "samesite": "strict", "secure": request.url.scheme == "https"}


@router.post("/login", response_model=LoginOut, summary="Sign in with a name and password (sets the session cookie)",
             responses=SLOWED)
def login(body: LoginIn, request: Request, response: Response, engine: EngineDep) -> LoginOut:
    """Opens a browser session: sets the cookies ``gongche_session`` and ``gongche_csrf`` and answers the user and
    the CSRF token. A wrong password and an unknown name get the same 401; repeated failures for a name or from an
    address are refused with 429 and Retry-After for a while, the right password too."""
    client = request.client.host if request.client else None
    try:
        opened = users.sign_in(engine, body.name, body.password, client)
    except CredentialRefused as refused:
        raise refusal(refused) from None
    options = _cookie_options(request)
    response.set_cookie(SESSION_COOKIE, opened.cookie_token, httponly=True, **options)
    response.set_cookie(CSRF_COOKIE, opened.csrf_token, httponly=False, **options)
    return LoginOut(user=me_out(opened.user), csrf_token=opened.csrf_token)


@router.post("/logout", status_code=204, response_class=Response, summary="End the browser session",
             responses={403: {"model": ErrorOut}})
def logout(request: Request, session: SessionDep, cookie: CookieDep) -> Response:
    """Ends the session the cookie names, on the server (its cookie value no longer works anywhere), and clears both
    cookies. Needs X-CSRF-Token while the session is going; without a session there is nothing to end (204)."""
    if cookie:
        try:
            users.sign_out(session, cookie, request.headers.get(CSRF_HEADER))
        except CredentialRefused as refused:
            raise refusal(refused) from None
    answer = Response(status_code=204)
    options = _cookie_options(request)
    answer.delete_cookie(SESSION_COOKIE, httponly=True, **options)
    answer.delete_cookie(CSRF_COOKIE, httponly=False, **options)
    return answer


@router.post("/password", status_code=204, response_class=Response, summary="Change one's own password",
             responses={403: {"model": ErrorOut}, 409: {"model": ErrorOut}, **SLOWED})
def change_password(body: PasswordIn, request: Request, engine: EngineDep,
                    user: Annotated[User, Depends(allow_briefly(*Role))]) -> Response:
    """Replaces the caller's password, given the current one (403, field ``current``, when it is wrong; it counts as
    a failed sign-in). Every other session of the user ends; the one asking goes on."""
    keep: int | None = getattr(request.state, "user_session", None)
    try:
        users.change_password(engine, user.id, current=body.current, new=body.new, keep_session=keep)
    except CredentialRefused as refused:
        raise refusal(refused) from None
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="Who the caller is")
def me(user: UserDep) -> MeOut:
    return me_out(user)
