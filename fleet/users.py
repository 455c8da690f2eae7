"""API users and their bearer tokens. A token is shown once, when it is made; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, queries
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import Role
from fleet.errors import AlreadyExists, InvalidInput, NotFound
from fleet.models import Driver, User

TOKEN_PREFIX = "gc_"
# Roles that act for one agency and see only its trips; the others act for the platform.
AGENCY_ROLES = frozenset({Role.requester, Role.approver})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@atomic
def add_user(session: Session, actor: Actor, *, name: str, role: Role, agency: str | None = None,
             driver_id: int | None = None) -> tuple[User, str]:
    """Create a user; returns it with its token, which is not stored and cannot be shown again."""
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
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = User(name=name, role=role, agency=held_by, driver_id=driver_id, token_hash=token_hash(token))
    session.add(user)
    audit.record(session, actor, "user.added", user, {"name": name, "role": role, "agency": agency,
                                                      "driver_id": driver_id})
    return user, token


def authenticate(session: Session, token: str) -> User | None:
    """The active user holding ``token``, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return session.scalar(sa.select(User).where(User.token_hash == token_hash(token), User.active))


def actor_of(user: User) -> Actor:
    return Actor(user.name, user.role.value)
