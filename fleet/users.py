"""API users: their bearer tokens, their passwords and the browser sessions a password opens.

Bearer tokens. A token is shown once, when it is made; only its SHA-256 is stored. A token works until
``users.token_expires_at`` (GONGCHE_TOKEN_DAYS after it was issued); `rotate_token` issues a new one and the old one
stops at once.

Passwords and sessions. A password is stored as its argon2id hash (pwdlib's recommended hasher; a hash made with
older parameters is made again at the next sign-in). `sign_in` opens a browser session: a random cookie value and a
CSRF token, of which only SHA-256s are stored (``user_sessions``), working GONGCHE_SESSION_HOURS (and, with
GONGCHE_SESSION_IDLE_MINUTES, until unused that long). Hashing costs tens of milliseconds of CPU, so it is done with no
transaction open: the user is read in a read transaction, the password verified, and the outcome written in a short
write transaction (on SQLite a write transaction holds the database's only write lock).

Failed sign-ins are counted per user name and per client address in ``sign_in_failures``, in the database so that
every server process counts the same ones. After GONGCHE_SIGN_IN_FAILURES_PER_NAME failures for a name (or
_PER_CLIENT from one address) with no quiet spell of GONGCHE_SIGN_IN_WINDOW_MINUTES between them, that key's
sign-ins are refused (429) for GONGCHE_SIGN_IN_SLOWDOWN_SECONDS, doubling with each further failure up to the window;
an attempt refused so is not verified and not counted (nothing was learnt from it, and counting it would let anyone
keep a user out for good). A refused name or an unknown one costs the same hash verification and gets the same
sentence, so neither the answer nor its time tells whether the name exists. Failed attempts are not audit records:
the chained log is append-only and serialises its writers, and anyone may send failures; the ledger counts them, and
the start of a slowdown is logged.

`admit` is the one rule for letting a credential's holder in (user active, credential not expired, a driver user's
driver record active), checked on every request for tokens and sessions alike: a deactivated user's sessions stop
working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

import sqlalchemy as sa
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import audit, scopes
from fleet.audit import Actor
from fleet.clock import local_text
from fleet.db import atomic, unit_of_work
from fleet.enums import OversightOffice, Role
from fleet.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from fleet.i18n import msg, with_article
from fleet.models import Driver, SignInFailure, User, UserSession, utcnow
from fleet.reorganisation import check_active
from fleet.schemas import unstorable_text
from fleet.settings import get_settings

log = logging.getLogger("gongche.users")

TOKEN_PREFIX = "gc_"
# Roles that act for one agency and see only its trips; the others act for the platform (fleet.scopes).
AGENCY_ROLES = scopes.AGENCY_ROLES
MIN_PASSWORD, MAX_PASSWORD = 10, 200
_MAX_SECRET = 200  # longer cookie values, CSRF tokens and bearer tokens are nobody's: refused before any lookup

_HASHER = PasswordHash.recommended()


class CredentialRefused(Exception):
    """A credential (token, session, password) that does not let its holder in, with the sentence why: ``status``
    401 when it names nobody who may sign in (unknown, expired, user deactivated, a wrong password), 403 when it
    names someone who may not do this (a driver user whose driver record is deactivated, a missing CSRF token, a
    wrong current password), 429 while sign-ins are slowed down, with ``retry_after`` seconds; ``field`` names the
    input at fault, if one is."""

    def __init__(self, status: int, detail: str, *, field: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field, self.retry_after = status, detail, field, retry_after


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_token(days: int | None) -> tuple[str, datetime]:
    """A fresh token and when it expires (``days`` from now; default GONGCHE_TOKEN_DAYS)."""
    lifetime = timedelta(days=days if days is not None else get_settings().token_days)
    return TOKEN_PREFIX + secrets.token_urlsafe(32), utcnow() + lifetime


# --- Passwords ----------------------------------------------------------------------------------------------------


def check_password(name: str, password: str, *, field: str = "password") -> None:
    """Refuse (`InvalidInput` naming ``field``) a password user ``name`` may not have."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(msg("a password has at least {least} characters; this one has {length}",
                               least=MIN_PASSWORD, length=len(password)), field=field)
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(msg("a password has at most {most} characters; this one has {length}",
                               most=MAX_PASSWORD, length=len(password)), field=field)
    if password.strip().casefold() == name.strip().casefold():
        raise InvalidInput(msg("a password may not be the user's name"), field=field)
    if (unfit := unstorable_text(password)) is not None:  # a lone surrogate would stop the hash mid-way
        raise InvalidInput(unfit[1], field=field)


def hash_password(name: str, password: str, *, field: str = "password") -> str:
    """The argon2id hash of a password user ``name`` may have (`check_password`). Costs tens of milliseconds of
    CPU: call it before the transaction that stores the hash, not inside it."""
    check_password(name, password, field=field)
    return _HASHER.hash(password)


@cache
def _decoy_hash() -> str:
    """A hash no password matches, made with the current parameters: verified against for an unknown name (or a
    user without a password), so that the answer takes as long as for a known one."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def _verify(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored``, and its new hash when the stored one was made with parameters (or an
    algorithm) no longer recommended. Never quicker for a missing hash than for a real one."""
    # As UTF-8 bytes, as the hash was made; a lone surrogate, which no stored password has (`check_password`),
    # is carried through rather than stopping the comparison, so it is refused as any wrong password is.
    secret = password.encode("utf-8", "surrogatepass")
    if stored is None:
        _HASHER.verify(secret, _decoy_hash())
        return False, None
    try:
        return _HASHER.verify_and_update(secret, stored)
    except UnknownHashError:
        log.error("a user's password hash is in no format this version reads; set it anew with "
                  "`gongche users password`")
        _HASHER.verify(secret, _decoy_hash())
        return False, None


# --- Users and tokens ---------------------------------------------------------------------------------------------


def add_user(session: Session, actor: Actor, *, name: str, role: Role, agency: str | None = None,
             driver_id: int | None = None, days: int | None = None, password: str | None = None,
             jurisdiction: str | None = None, office: OversightOffice | None = None,
             granted_within: scopes.Scope = scopes.WHOLE) -> tuple[User, str]:
    """Create a user; returns it with its token (not stored, never shown again), valid ``days`` (default: setting).
    Given a ``password`` (checked by `check_password`), the user may also sign in with it. The password is hashed
    before the session is used: a caller that has not begun writing holds no lock meanwhile.

    Its scope (`fleet.scopes`): an agency role names its ``agency``; a platform role names a ``jurisdiction`` (it
    and all below), an ``agency`` (that agency only), or neither (the whole platform); a supervisor may name the
    oversight ``office`` it reads for. The scope must lie within ``granted_within``, the granting admin's own: an
    admin never grants more than it holds (what lies outside is as unknown to it as anything else)."""
    hashed = hash_password(name, password) if password is not None else None
    return _add_user(session, actor, name=name, role=role, agency=agency, driver_id=driver_id, days=days,
                     password_hash=hashed, jurisdiction=jurisdiction, office=office, granted_within=granted_within)


def add_user_apart(engine: Engine, actor: Actor, *, name: str, role: Role, agency: str | None = None,
                   driver_id: int | None = None, days: int | None = None, password: str | None = None,
                   jurisdiction: str | None = None, office: OversightOffice | None = None,
                   granted_within: scopes.Scope = scopes.WHOLE) -> tuple[User, str]:
    """`add_user` in a transaction of its own, begun once the password is hashed: for a caller that cannot hash
    first (the API reads its caller before the route runs, and on SQLite a request's write transaction is the
    platform's write lock, which every booking would wait for while argon2 works). The user is returned with its
    agency and jurisdiction loaded."""
    hashed = hash_password(name, password) if password is not None else None
    with unit_of_work(engine) as session:
        user, token = _add_user(session, actor, name=name, role=role, agency=agency, driver_id=driver_id, days=days,
                                password_hash=hashed, jurisdiction=jurisdiction, office=office,
                                granted_within=granted_within)
        session.flush()
        _ = user.agency, user.jurisdiction, user.created_at  # read now: the session is gone when the caller reads
    return user, token


@atomic
def _add_user(session: Session, actor: Actor, *, name: str, role: Role, agency: str | None, driver_id: int | None,
              days: int | None, password_hash: str | None, jurisdiction: str | None = None,
              office: OversightOffice | None = None,
              granted_within: scopes.Scope = scopes.WHOLE) -> tuple[User, str]:
    if not 1 <= len(name) <= 100:
        raise InvalidInput(msg("a user name has 1 to 100 characters"), field="name")
    if session.scalar(sa.select(User.id).where(User.name == name)) is not None:
        raise AlreadyExists(msg("user {name!r} already exists", name=name), field="name")
    if role in AGENCY_ROLES and agency is None:
        raise InvalidInput(msg("{role} acts for an agency: give --agency", role=with_article(role)), field="agency")
    if jurisdiction is not None and role not in scopes.PLATFORM_ROLES:
        raise InvalidInput(msg("only a dispatcher, supervisor or admin acts for a jurisdiction, not {role}",
                               role=with_article(role)), field="jurisdiction")
    if jurisdiction is not None and agency is not None:
        raise InvalidInput(msg("a user acts for an agency or for a jurisdiction, not both"), field="jurisdiction")
    if office is not None and role is not Role.supervisor:
        raise InvalidInput(msg("only a supervisor reads for an oversight office, not {role}", role=with_article(role)),
                           field="office")
    if role is Role.driver:
        if agency is not None:
            raise InvalidInput(msg("a driver user goes with its driver record's agency: give no agency"),
                               field="agency")
        if driver_id is None:
            raise InvalidInput(msg("a driver user names the driver record it is: give --driver"), field="driver")
        if session.get(Driver, driver_id) is None:
            raise NotFound(msg("unknown driver id {driver_id}", driver_id=driver_id), field="driver")
    elif driver_id is not None:
        raise InvalidInput(msg("only a driver user names a driver, not {role}", role=with_article(role)),
                           field="driver")
    held_by = scopes.agency(session, granted_within, agency) if agency else None
    if held_by is not None:
        check_active(held_by)  # a dissolved agency acts no more: its people act for its successor
    level = scopes.jurisdiction(session, granted_within, jurisdiction) if jurisdiction else None
    if role is Role.driver and driver_id is not None:
        scopes.driver(session, granted_within, driver_id, field="driver")
    granted = scopes.scope_for(session, role, agency=held_by, jurisdiction=level, driver_id=driver_id)
    if role is not Role.driver and not granted_within.covers(granted):
        raise InvalidInput(msg("{role} for {scope} would reach beyond {own}, the scope it is granted from: name "
                               "an agency or a jurisdiction within it", role=with_article(role), scope=granted.label,
                               own=granted_within.label), field="jurisdiction")
    token, expires = _new_token(days)
    user = User(name=name, role=role, agency=held_by, driver_id=driver_id, token_hash=token_hash(token),
                token_expires_at=expires, password_hash=password_hash, jurisdiction=level, office=office)
    session.add(user)
    changes = {"name": name, "role": role, "agency": agency, "driver_id": driver_id, "token_expires_at": expires,
               "jurisdiction": jurisdiction, "office": office}
    if password_hash is not None:
        changes["password_set"] = True
    audit.record(session, actor, "user.added", user, changes)
    return user, token


def list_users(session: Session, scope: scopes.Scope, *, active: bool | None = None) -> list[User]:
    """The users an admin of ``scope`` manages (`fleet.scopes.sees_user`), by name."""
    query = sa.select(User).where(scopes.users_filter(scope)).order_by(User.name)
    if active is not None:
        query = query.where(User.active == active)
    return list(session.scalars(query))


def managed_user(session: Session, scope: scopes.Scope, *, name: str | None = None, user_id: int | None = None,
                 lock: bool = False) -> User:
    """The user named (or numbered) if an admin of ``scope`` manages it; `NotFound` as for one that does not
    exist otherwise."""
    query = sa.select(User).where(User.name == name) if name is not None else sa.select(User).where(
        User.id == user_id)
    found = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if found is None or not scopes.sees_user(scope, found):
        missing = (msg("unknown user {name!r}", name=name) if name is not None
                   else msg("unknown user id {user_id}", user_id=user_id))
        raise NotFound(missing, field="name" if name is not None else "user_id")
    return found


@atomic
def deactivate(session: Session, actor: Actor, *, name: str, scope: scopes.Scope = scopes.WHOLE,
               reason: str | None = None, now: datetime | None = None) -> User:
    """Deactivate user ``name``: its token and every session stop working at once (`admit` checks ``active`` on
    every request; the sessions are also ended, so that reactivating would not revive them). Refused for a user
    outside ``scope`` (as unknown), one already deactivated, and the acting user itself (an admin does not lock
    itself out)."""
    user = managed_user(session, scope, name=name, lock=True)
    if not user.active:
        raise InvalidState(msg("user {name} is already deactivated", name=name), field="name")
    if user.name == actor.name:
        raise InvalidState(msg("a user does not deactivate itself: another admin does"), field="name")
    user.active = False
    ended = _end_sessions(session, user.id, now or utcnow())
    audit.record(session, actor, "user.deactivated", user, {"active": False, "sessions_ended": ended,
                                                             "reason": reason})
    return user


def _active_user(session: Session, name: str, deactivated: str) -> User:
    """User ``name``, locked for the change to come; `NotFound`, or `InvalidState` saying ``deactivated``."""
    user = session.scalar(sa.select(User).where(User.name == name).with_for_update(key_share=True))
    if user is None:
        raise NotFound(msg("unknown user {name!r}", name=name), field="name")
    if not user.active:
        raise InvalidState(deactivated, field="name")
    return user


@atomic
def rotate_token(session: Session, actor: Actor, *, name: str, days: int | None = None,
                 scope: scopes.Scope = scopes.WHOLE) -> tuple[User, str]:
    """Give user ``name`` a new token (returned, shown once) valid ``days``; its old token stops working at once.
    A user outside ``scope`` (the admin's) is unknown."""
    managed_user(session, scope, name=name)
    user = _active_user(session, name, msg("user {name} is deactivated: a deactivated user gets no new token",
                                           name=name))
    token, expires = _new_token(days)
    user.token_hash, user.token_expires_at = token_hash(token), expires
    audit.record(session, actor, "user.token_rotated", user, {"token_expires_at": expires})
    return user, token


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> User:
    """The user holding ``token``; `CredentialRefused` saying why not (unknown, expired, deactivated)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_SECRET:
        raise CredentialRefused(401, msg("the token is unknown"))
    user = session.scalar(sa.select(User).where(User.token_hash == token_hash(token)))
    if user is None:
        raise CredentialRefused(401, msg("the token is unknown"))
    admit(user, "token", user.token_expires_at, now=now)
    return user


def admit(user: User, credential: str, expires_at: datetime, *, now: datetime | None = None) -> None:
    """Refuse (`CredentialRefused`) ``user``'s ``credential`` ("token" or "session") unless the user is active, the
    credential has not expired, and a driver user's driver record is active; checked on every request, so a change
    takes effect at once, whichever path made it."""
    if not user.active:
        raise CredentialRefused(401, msg("user {name} is deactivated", name=user.name))
    if expires_at <= (now or utcnow()):
        if credential == "session":
            raise CredentialRefused(401, msg("the session of user {name} expired on {at} (China time): sign in again",
                                             name=user.name, at=local_text(expires_at)))
        raise CredentialRefused(401, msg(
            "the {credential} of user {name} expired on {at} (China time); an admin issues a new one with "
            "`gongche users rotate {name}`", credential=credential, name=user.name, at=local_text(expires_at)))
    if user.role is Role.driver and (user.driver is None or not user.driver.active):
        record = f"{user.driver.name} (id {user.driver.id})" if user.driver else f"id {user.driver_id}"
        raise CredentialRefused(403, msg("driver record {record} is deactivated: user {name} may no longer drive",
                                         record=record, name=user.name))


def actor_of(user: User) -> Actor:
    return Actor(user.name, user.role.value)


# --- The ledger of failed sign-ins --------------------------------------------------------------------------------


def _name_key(name: str) -> str:
    # Hashed: what someone typed as a name (a password, now and then) is not kept.
    return "name:" + token_hash(name)


def _client_key(client: str) -> str:
    return "client:" + client[:90]


def _keys(name: str, client: str | None) -> dict[str, int]:
    """The ledger keys of a sign-in and the failures each allows."""
    settings = get_settings()
    keys = {_name_key(name): settings.sign_in_failures_per_name}
    if client:
        keys[_client_key(client)] = settings.sign_in_failures_per_client
    return keys


def _ledger(session: Session, keys: Sequence[str], *, lock: bool = False) -> list[SignInFailure]:
    query = sa.select(SignInFailure).where(SignInFailure.key.in_(keys)).order_by(SignInFailure.key)
    return list(session.scalars(query.with_for_update(key_share=True) if lock else query))


def _slowdown(rows: Sequence[SignInFailure], now: datetime) -> CredentialRefused | None:
    """The refusal while any of ``rows`` is slowed down at ``now``, or None."""
    until = max((r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now), default=None)
    if until is None:
        return None
    seconds = max(1, math.ceil((until - now).total_seconds()))
    wait = (msg("{seconds} s", seconds=seconds) if seconds < 120
            else msg("{minutes} min", minutes=math.ceil(seconds / 60)))
    return CredentialRefused(429, msg("too many failed sign-ins for this user name or from this address: try again "
                                      "in {wait}", wait=wait), retry_after=seconds)


def _record_failures(session: Session, keys: Mapping[str, int], now: datetime) -> None:
    """Count one failure against each of ``keys`` (key -> failures allowed); slow a key down once it has had its
    allowance, for twice as long with each further failure, up to the window. Keys quiet for a window are
    forgotten."""
    settings = get_settings()
    window = timedelta(minutes=settings.sign_in_window_minutes)
    first = timedelta(seconds=settings.sign_in_slowdown_seconds)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(SignInFailure).values(
        [{"key": key, "count": 0, "first_at": now, "last_at": now, "locked_until": None} for key in keys]
    ).on_conflict_do_nothing(index_elements=["key"]))
    for row in _ledger(session, list(keys), lock=True):
        if now >= max(row.last_at, row.locked_until or row.last_at) + window:  # a quiet spell: counting restarts
            row.count, row.first_at, row.locked_until = 0, now, None
        row.count += 1
        row.last_at = now
        allowed = keys[row.key]
        if row.count >= allowed:
            row.locked_until = now + min(window, first * 2 ** min(row.count - allowed, 32))
            kind, _, value = row.key.partition(":")
            log.warning("sign-ins slowed down for %s until %s (China time): %d failures since %s",
                        f"address {value}" if kind == "client" else f"the user name hashed {value[:12]}…",
                        local_text(row.locked_until), row.count, local_text(row.first_at))
    stale = now - window
    session.execute(sa.delete(SignInFailure).where(
        SignInFailure.last_at <= stale,
        sa.or_(SignInFailure.locked_until.is_(None), SignInFailure.locked_until <= stale)))


def _forget_failures(session: Session, name: str) -> None:
    session.execute(sa.delete(SignInFailure).where(SignInFailure.key == _name_key(name)))


# --- Sessions -----------------------------------------------------------------------------------------------------


class SignedIn(NamedTuple):
    """A session just opened: its user, and the cookie value and CSRF token to hand the browser (not stored)."""

    user: User
    cookie_token: str
    csrf_token: str


def sign_in(engine: Engine, name: str, password: str, client: str | None, *,
            now: datetime | None = None) -> SignedIn:
    """Open a browser session for user ``name`` with ``password``, from address ``client``.

    Three steps, so that no lock is held while the password is hashed: the slowdown and the user are read in a
    read transaction, the password is verified with none open, and the outcome is written in a short write
    transaction (the failure counted, or the session made and audited, the hash renewed if its parameters are old).
    Refused with `CredentialRefused`: 429 while the name or the address is slowed down (the password is not even
    checked), 401 with one sentence for an unknown name, a user without a password and a wrong password alike, and
    `admit`'s answer for a user who may not sign in (deactivated)."""
    now = now or utcnow()
    keys = _keys(name, client)
    with unit_of_work(engine, readonly=True) as session:
        slowed = _slowdown(_ledger(session, list(keys)), now)
        if slowed is not None:
            raise slowed
        found = session.execute(sa.select(User.id, User.password_hash).where(User.name == name)).first()
    stored = found.password_hash if found is not None else None
    valid, renewed = _verify(password, stored)

    refused: CredentialRefused | None = None
    with unit_of_work(engine) as session:
        refused = _slowdown(_ledger(session, list(keys), lock=True), now)  # failures counted while we verified
        if refused is None and not valid:
            _record_failures(session, keys, now)
            refused = CredentialRefused(401, msg("the user name or the password is wrong"))
        if refused is None:
            assert found is not None
            user = session.scalar(sa.select(User).where(User.id == found.id).with_for_update(key_share=True))
            if user is None or user.password_hash != stored:  # changed meanwhile: the old password proves nothing
                refused = CredentialRefused(401, msg("the user name or the password is wrong"))
            else:
                return _open_session(session, user, client, renewed, now)
    assert refused is not None
    raise refused


def _open_session(session: Session, user: User, client: str | None, renewed: str | None,
                  now: datetime) -> SignedIn:
    expires = now + timedelta(hours=get_settings().session_hours)
    admit(user, "session", expires, now=now)
    actor = actor_of(user)
    if renewed is not None:
        user.password_hash = renewed
        audit.record(session, actor, "user.password_rehashed", user, {})
    _forget_failures(session, user.name)
    session.execute(sa.delete(UserSession).where(  # the user's sessions that are over: the audit log keeps them
        UserSession.user_id == user.id, sa.or_(UserSession.ended_at.is_not(None), UserSession.expires_at <= now)))
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    opened = UserSession(user_id=user.id, token_hash=token_hash(cookie), csrf_hash=token_hash(csrf),
                         client=client[:100] if client else None, created_at=now, expires_at=expires, last_seen_at=now)
    session.add(opened)
    session.flush()
    audit.record(session, actor, "user.signed_in", user, {"session": opened.id, "client": opened.client,
                                                          "expires_at": expires})
    _ = user.agency, user.driver, user.jurisdiction  # loaded now: the caller reads them after the session is gone
    return SignedIn(user, cookie, csrf)


def find_session(session: Session, cookie_token: str, *, lock: bool = False) -> UserSession | None:
    """The session a cookie value names, ended or not; None for a value nobody was given."""
    if not cookie_token or len(cookie_token) > _MAX_SECRET:
        return None
    query = sa.select(UserSession).where(UserSession.token_hash == token_hash(cookie_token))
    found: UserSession | None = session.scalar(query.with_for_update(key_share=True) if lock else query)
    return found


def session_expiry(opened: UserSession) -> datetime:
    """When ``opened`` stops working: its lifetime's end, or sooner once unused for the idle timeout."""
    idle = get_settings().session_idle_minutes
    if idle <= 0:
        return opened.expires_at
    return min(opened.expires_at, opened.last_seen_at + timedelta(minutes=idle))


def authenticate_session(session: Session, cookie_token: str, *,
                         now: datetime | None = None) -> tuple[User, UserSession]:
    """The user whose browser session the cookie value opens, and the session; `CredentialRefused` saying why not
    (unknown or ended, expired, `admit`'s rule)."""
    opened = find_session(session, cookie_token)
    if opened is None or opened.ended_at is not None:
        raise CredentialRefused(401, msg("the session is unknown or has ended: sign in again"))
    admit(opened.user, "session", session_expiry(opened), now=now)
    return opened.user, opened


def check_csrf(opened: UserSession, csrf_token: str | None) -> None:
    """Refuse (403 naming the header) a cookie-authenticated change that does not carry the session's CSRF token;
    compared in constant time."""
    given = token_hash(csrf_token) if csrf_token and len(csrf_token) <= _MAX_SECRET else ""
    if not hmac.compare_digest(given, opened.csrf_hash):
        raise CredentialRefused(403, msg(
            "a change made with a sign-in cookie must carry the header X-CSRF-Token with the value of the "
            "gongche_csrf cookie"), field="X-CSRF-Token")


def needs_touch(opened: UserSession, now: datetime | None = None) -> bool:
    """Whether ``opened``'s ``last_seen_at`` should move to now: only with an idle timeout, and at most every
    minute (or tenth of the timeout), so that reading does not become writing."""
    idle = get_settings().session_idle_minutes
    return idle > 0 and (now or utcnow()) - opened.last_seen_at >= min(timedelta(minutes=1),
                                                                       timedelta(minutes=idle / 10))


def touch_session(session: Session, session_id: int, now: datetime | None = None) -> None:
    """Note that session ``session_id`` was used ``now`` (the idle timeout counts from it)."""
    now = now or utcnow()
    session.execute(sa.update(UserSession).where(UserSession.id == session_id, UserSession.last_seen_at < now)
                    .values(last_seen_at=now))


@atomic
def sign_out(session: Session, cookie_token: str, csrf_token: str | None, *,
             now: datetime | None = None) -> User | None:
    """End the browser session the cookie value opens (`check_csrf` first); its user, or None when the value opens
    no session still going (nothing to end, nothing refused)."""
    opened = find_session(session, cookie_token, lock=True)
    if opened is None or opened.ended_at is not None:
        return None
    check_csrf(opened, csrf_token)
    opened.ended_at = now or utcnow()
    audit.record(session, actor_of(opened.user), "user.signed_out", opened.user, {"session": opened.id})
    return opened.user


def _end_sessions(session: Session, user_id: int, now: datetime, *, keep: int | None = None) -> int:
    """End every session of the user still going but ``keep``; how many."""
    going = sa.select(UserSession.id).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None),
                                            UserSession.expires_at > now)
    if keep is not None:
        going = going.where(UserSession.id != keep)
    ended = list(session.scalars(going))
    if ended:
        session.execute(sa.update(UserSession).where(UserSession.id.in_(ended)).values(ended_at=now))
    return len(ended)


def set_password(session: Session, actor: Actor, name: str, password: str, *, now: datetime | None = None) -> User:
    """An admin's act: give user ``name`` the sign-in ``password`` (`check_password`), ending its sessions and
    lifting any slowdown of its name. Hashed before the session is used (see `add_user`)."""
    hashed = hash_password(name, password)
    return _store_password(session, actor, name, hashed, now or utcnow())


@atomic
def _store_password(session: Session, actor: Actor, name: str, hashed: str, now: datetime) -> User:
    user = _active_user(session, name, msg("user {name} is deactivated: a deactivated user gets no new password",
                                           name=name))
    user.password_hash = hashed
    ended = _end_sessions(session, user.id, now)
    _forget_failures(session, name)
    audit.record(session, actor, "user.password_set", user, {"sessions_ended": ended})
    return user


def change_password(engine: Engine, user_id: int, *, current: str, new: str, keep_session: int | None = None,
                    now: datetime | None = None) -> User:
    """The user's own act: replace its password, proving it knows the ``current`` one; every session of the user
    but ``keep_session`` (the one asking) ends. Like `sign_in`, three steps with no lock held while hashing; a wrong
    ``current`` counts as a failed sign-in of the name (403, field "current"), and is refused while it is slowed
    down (429)."""
    now = now or utcnow()
    with unit_of_work(engine, readonly=True) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(msg("unknown user id {user_id}", user_id=user_id))
        name, stored = user.name, user.password_hash
        keys = {_name_key(name): get_settings().sign_in_failures_per_name}
        slowed = _slowdown(_ledger(session, list(keys)), now)
        if slowed is not None:
            raise slowed
    check_password(name, new, field="new")
    valid, _ = _verify(current, stored)
    hashed = _HASHER.hash(new) if valid else None

    with unit_of_work(engine) as session:
        refused = _slowdown(_ledger(session, list(keys), lock=True), now)
        if refused is None and hashed is None:
            _record_failures(session, keys, now)
            refused = CredentialRefused(403, msg("the current password is wrong"), field="current")
        if refused is None and hashed is not None:
            user = session.scalar(sa.select(User).where(User.id == user_id).with_for_update(key_share=True))
            if user is None or user.password_hash != stored:
                raise InvalidState(msg("the password was changed meanwhile: sign in again"), field="current")
            user.password_hash = hashed
            ended = _end_sessions(session, user.id, now, keep=keep_session)
            _forget_failures(session, name)
            audit.record(session, actor_of(user), "user.password_changed", user, {"sessions_ended": ended})
            return user
    assert refused is not None
    raise refused
