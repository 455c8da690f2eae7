"""API users and their bearer tokens. A token is shown once, when it is made; only its SHA-256 is stored.

A token works until ``users.token_expires_at`` (GONGCHE_TOKEN_DAYS after it was issued); `rotate_token` issues a
new one and the old one stops at once. `admit` is the one rule for letting a credential's holder in (user active,
credential not expired, a driver user's driver record active): the browser sessions to come carry their own
expiry in their own table and go through it too.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, queries
from fleet.audit import Actor
from fleet.clock import local_text
from fleet.db import atomic
from fleet.enums import Role
from fleet.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from fleet.models import Driver, User, utcnow
from fleet.settings import get_settings

TOKEN_PREFIX = "gc_"
# Roles that act for one agency and see only its trips; the others act for the platform.
AGENCY_ROLES = frozenset({Role.requester, Role.approver})


class CredentialRefused(Exception):
    """A token (or, later, a session) that does not let its holder in, with the sentence why: ``status`` 401 when
    it names nobody who may sign in (unknown, expired, user deactivated), 403 when it names a driver user whose
    driver record is deactivated."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token(days: int | None) -> tuple[str, datetime]:
    """A fresh token and when it expires (``days`` from now; default GONGCHE_TOKEN_DAYS)."""
    lifetime = timedelta(days=days if days is not None else get_settings().token_days)
    return TOKEN_PREFIX + secrets.token_urlsafe(32), utcnow() + lifetime


@atomic
def add_user(session: Session, actor: Actor, *, name: str, role: Role, agency: str | None = None,
             driver_id: int | None = None, days: int | None = None) -> tuple[User, str]:
    """Create a user; returns it with its token (not stored, never shown again), valid ``days`` (default: setting)."""
    if not 1 <= len(name) <= 100:
        raise InvalidInput("a user name has 1 to 100 characters", field="name")
    if session.scalar(sa.select(User.id).where(User.name == name)) is not None:
        raise AlreadyExists(f"user {name!r} already exists", field="name")
    if role in AGENCY_ROLES and agency is None:
        raise InvalidInput(f"a {role.value} acts for an agency: give --agency", field="agency")
    if role is Role.driver:
        if driver_id is None:
            raise InvalidInput("a driver user names the driver record it is: give --driver", field="driver")
        if session.get(Driver, driver_id) is None:
            raise NotFound(f"unknown driver id {driver_id}", field="driver")
    elif driver_id is not None:
        raise InvalidInput(f"only a driver user names a driver, not a {role.value}", field="driver")
    held_by = queries.agency_by_code(session, agency) if agency else None
    token, expires = _new_token(days)
    user = User(name=name, role=role, agency=held_by, driver_id=driver_id, token_hash=token_hash(token),
                token_expires_at=expires)
    session.add(user)
    audit.record(session, actor, "user.added", user, {"name": name, "role": role, "agency": agency,
                                                      "driver_id": driver_id, "token_expires_at": expires})
    return user, token


@atomic
def rotate_token(session: Session, actor: Actor, *, name: str, days: int | None = None) -> tuple[User, str]:
    """Give user ``name`` a new token (returned, shown once) valid ``days``; its old token stops working at once."""
    user = session.scalar(sa.select(User).where(User.name == name).with_for_update())
    if user is None:
        raise NotFound(f"unknown user {name!r}", field="name")
    if not user.active:
        raise InvalidState(f"user {name} is deactivated: a deactivated user gets no new token", field="name")
    token, expires = _new_token(days)
    user.token_hash, user.token_expires_at = token_hash(token), expires
    audit.record(session, actor, "user.token_rotated", user, {"token_expires_at": expires})
    return user, token


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> User:
    """The user holding ``token``; `CredentialRefused` saying why not (unknown, expired, deactivated)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise CredentialRefused(401, "the token is unknown")
    user = session.scalar(sa.select(User).where(User.token_hash == token_hash(token)))
    if user is None:
        raise CredentialRefused(401, "the token is unknown")
    admit(user, "token", user.token_expires_at, now=now)
    return user


def admit(user: User, credential: str, expires_at: datetime, *, now: datetime | None = None) -> None:
    """Refuse (`CredentialRefused`) ``user``'s ``credential`` unless the user is active, the credential has not
    expired, and a driver user's driver record is active; checked on every request, so a change takes effect at
    once, whichever path made it."""
    if not user.active:
        raise CredentialRefused(401, f"user {user.name} is deactivated")
    if expires_at <= (now or utcnow()):
        raise CredentialRefused(
            401, f"the {credential} of user {user.name} expired on {local_text(expires_at)} (China time); "
                 f"an admin issues a new one with `gongche users rotate {user.name}`")
    if user.role is Role.driver and (user.driver is None or not user.driver.active):
        record = f"{user.driver.name} (id {user.driver.id})" if user.driver else f"id {user.driver_id}"
        raise CredentialRefused(403, f"driver record {record} is deactivated: user {user.name} may no longer drive")


def actor_of(user: User) -> Actor:
    return Actor(user.name, user.role.value)
