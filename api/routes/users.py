"""Users and their tokens, for admins: list, create, deactivate, rotate a token (`gongche users` on the command line).

An admin manages the users within its own scope (`fleet.scopes`): a user outside it is unknown (404), and a new user's
scope lies within the admin's own (422 otherwise). A token is answered once, when it is made; only its SHA-256 is
stored. Deactivating a user ends its token and its browser sessions at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Admin, EngineDep, ScopeDep, SessionDep, allow_briefly, scope_read_briefly
from api.errors import ErrorOut
from api.routes.auth import Password
from api.schemas import Instant, Limit, ObjectId, Offset, PageOut
from fleet import users
from fleet.enums import OversightOffice, Role
from fleet.models import User
from fleet.schemas import Input
from fleet.users import actor_of

router = APIRouter(prefix="/users", tags=["users"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})

UserId = ObjectId


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    agency: str | None = Field(description="the agency it acts for (an agency role; a platform role for one agency)")
    jurisdiction: str | None = Field(description="the jurisdiction a platform role acts for, with all below it; "
                                                 "neither this nor agency: the whole platform")
    office: OversightOffice | None = Field(description="the oversight body a supervisor reads for")
    driver_id: int | None
    active: bool
    token_expires_at: Instant
    created_at: Instant


class UserPage(PageOut[UserOut]):
    pass


class UserIn(BaseModel):
    # Not `fleet.schemas.Input`: a password is taken as typed, spaces and all.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    role: Role
    agency: str | None = Field(default=None, min_length=1, max_length=32)
    jurisdiction: str | None = Field(default=None, min_length=1, max_length=32)
    office: OversightOffice | None = None
    driver_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    days: int | None = Field(default=None, ge=1, le=3660, description="the token's lifetime; default: the setting")
    password: Password | None = None


class RotateIn(Input):
    days: int | None = Field(default=None, ge=1, le=3660, description="the token's lifetime; default: the setting")


class DeactivateIn(Input):
    reason: str | None = Field(default=None, max_length=500)


class TokenOut(BaseModel):
    user: UserOut
    token: str = Field(description="the bearer token: shown this once, never again")


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, name=user.name, role=user.role, agency=user.agency.code if user.agency else None,
                   jurisdiction=user.jurisdiction.code if user.jurisdiction else None, office=user.office,
                   driver_id=user.driver_id, active=user.active, token_expires_at=user.token_expires_at,
                   created_at=user.created_at)


@router.get("", response_model=UserPage, summary="The users the admin manages, by name")
def list_users(session: SessionDep, user: Admin, scope: ScopeDep,
               active: Annotated[bool | None, Query(description="only active (true) or deactivated (false)")] = None,
               limit: Limit = 50, offset: Offset = 0) -> UserPage:
    found = users.list_users(session, scope, active=active)
    return UserPage(items=[user_out(u) for u in found[offset:offset + limit]], total=len(found), limit=limit,
                    offset=offset)


@router.post("", status_code=201, response_model=TokenOut, summary="Create a user; answers its token once")
def add_user(body: UserIn, engine: EngineDep, request: Request,
             user: Annotated[User, Depends(allow_briefly(Role.admin))]) -> TokenOut:
    """A requester or approver names its agency; a dispatcher, supervisor or admin names a jurisdiction (it and
    all below), an agency (that agency only), or neither (the whole platform: only a whole-platform admin grants
    it). A supervisor may name its oversight office (纪检监察, 财政, 审计). A password is hashed with no transaction
    open (the caller is read in one that ends before), then the user is written in a short one."""
    created, token = users.add_user_apart(
        engine, actor_of(user), name=body.name, role=body.role, agency=body.agency, driver_id=body.driver_id,
        days=body.days, password=body.password, jurisdiction=body.jurisdiction, office=body.office,
        granted_within=scope_read_briefly(request))
    return TokenOut(user=user_out(created), token=token)


@router.post("/{user_id}/deactivate", response_model=UserOut, summary="Deactivate: its token and sessions end now")
def deactivate(user_id: UserId, session: SessionDep, user: Admin, scope: ScopeDep,
               body: DeactivateIn | None = None) -> UserOut:
    target = users.managed_user(session, scope, user_id=user_id)
    return user_out(users.deactivate(session, actor_of(user), name=target.name, scope=scope,
                                     reason=body.reason if body else None))


@router.post("/{user_id}/rotate-token", response_model=TokenOut,
             summary="Issue a new token (answered once); the old one stops at once")
def rotate_token(user_id: UserId, session: SessionDep, user: Admin, scope: ScopeDep,
                 body: RotateIn | None = None) -> TokenOut:
    target = users.managed_user(session, scope, user_id=user_id)
    rotated, token = users.rotate_token(session, actor_of(user), name=target.name, days=body.days if body else None,
                                        scope=scope)
    return TokenOut(user=user_out(rotated), token=token)
