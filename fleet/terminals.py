"""Terminals: JT/T 808 registration (0x0100), authentication (0x0102) and deregistration (0x0003), and the
bindings by which an OsmAnd device id finds its vehicle.

A terminal is bound to a vehicle the registry holds: by the terminal number the registry records for the vehicle
(``Vehicle.terminal_id``), else by plate (plate colour 0 means "not yet plated": the plate field then carries the
VIN, JT/T 808-2019 §8.5). Numbers are compared with their leading zeros stripped: a 2013 header's BCD[6] and a 2019
header's BCD[10] of one terminal are one number. The result codes are those of 0x8100 (``RegisterOutcome``); the
auth code handed out is kept only as its SHA-256.

Trust model. JT/T 808 authenticates a terminal by nothing more than the auth code the platform hands out at its
registration, and anyone who can reach the listener may send a 0x0100. What the platform adds:

- a vehicle whose registry records a terminal number (``Vehicle.terminal_id``) is bound to that terminal only: a
  registration by its plate from another number is refused (4);
- a registration by plate binds only a vehicle that records no terminal number and has no active terminal (1);
- a terminal already registered and active is not registered again (3) unless the request comes over a connection
  that authenticated as that terminal (it holds the code already): otherwise anyone knowing a terminal's number
  could take its place and report for its vehicle. A terminal that lost its code is deregistered by an operator
  (``deregister``), or sends 0x0003 from an authenticated session before registering again;
- auth codes are 96 random bits, kept only as their SHA-256, compared in constant time.

That is as far as the protocol goes: in production the listener sits on the terminals' private APN or VPN, and the
registry's terminal numbers should be recorded before the terminals are first switched on.

Each function is one unit of work on the caller's session; a registration or deregistration is audited as a change
of the ``terminal`` row. A refused registration changes nothing and records nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, clock
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import VehicleStatus
from fleet.models import Terminal, Vehicle


class RegisterOutcome(IntEnum):
    """The 0x8100 result codes (JT/T 808 §8.6), the same numbers as the codec's ``RegisterResult``."""

    OK = 0
    VEHICLE_TAKEN = 1  # the vehicle is registered to another active terminal
    NO_VEHICLE = 2  # no such vehicle in the registry (or disposed of)
    TERMINAL_TAKEN = 3  # the terminal is registered to another vehicle
    NO_TERMINAL = 4  # the registry records another terminal number for the vehicle


def normalise(number: str) -> str:
    """A terminal number or device id without its leading zeros (and surrounding blanks)."""
    return number.strip().lstrip("0")


def digest(code: str) -> str:
    """What is kept of an auth code: its SHA-256, hex."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def _actor(phone: str) -> Actor:
    return Actor(f"terminal {phone}", "terminal")


def _by_number(session: Session, number: str) -> Vehicle | None:
    # ltrim in SQL: the registry may hold the number with its zeros (a 2019 terminal's 20 digits as printed).
    if not number:
        return None
    return session.scalars(sa.select(Vehicle).where(sa.func.ltrim(Vehicle.terminal_id, "0") == number)).first()


def _by_plate(session: Session, plate: str, plate_colour: int) -> Vehicle | None:
    plate = plate.strip()
    if not plate:
        return None
    found = session.scalars(sa.select(Vehicle).where(Vehicle.plate == plate)).first()
    if found is None and plate_colour == 0:  # colour 0: not plated yet, the VIN is sent instead
        found = session.scalars(sa.select(Vehicle).where(Vehicle.vin == plate.upper())).first()
    return found


@atomic
def register(
    session: Session, *, phone: str, version: int | None, province: int = 0, city: int = 0, maker: str = "",
    model: str = "", device_no: str = "", plate_colour: int = 0, plate: str = "", authenticated: bool = False,
) -> tuple[RegisterOutcome, str | None, int | None]:
    """Register terminal ``phone``: (result, the new auth code when OK, the vehicle bound when OK).

    An active terminal registers again (same vehicle, a new code; the old one stops working) only when
    ``authenticated``: the request came over a connection that authenticated as this terminal. Otherwise it is
    refused as already registered (3): see the trust model above.
    """
    number = normalise(phone)
    if not number:  # all zeros: no terminal number at all
        return RegisterOutcome.NO_TERMINAL, None, None
    vehicle = _by_number(session, number)
    if vehicle is None:
        vehicle = _by_plate(session, plate, plate_colour)
        if vehicle is not None and vehicle.terminal_id and normalise(vehicle.terminal_id) != number:
            return RegisterOutcome.NO_TERMINAL, None, None
    if vehicle is None or vehicle.status is VehicleStatus.disposed:
        return RegisterOutcome.NO_VEHICLE, None, None
    terminal = session.scalars(sa.select(Terminal).where(Terminal.phone == number)).first()
    if terminal is not None and terminal.active and (terminal.vehicle_id != vehicle.id or not authenticated):
        return RegisterOutcome.TERMINAL_TAKEN, None, None
    other = session.scalar(sa.select(Terminal.phone).where(
        Terminal.vehicle_id == vehicle.id, Terminal.active, Terminal.phone != number))
    if other is not None:
        return RegisterOutcome.VEHICLE_TAKEN, None, None
    code = secrets.token_urlsafe(12)  # 16 ASCII characters: a STRING field any terminal keeps
    fields = {
        "vehicle_id": vehicle.id, "auth_digest": digest(code), "protocol_version": version,
        "province": province, "city": city, "maker": maker[:11], "model": model[:30], "device_no": device_no[:30],
        "plate_colour": plate_colour, "plate": plate[:16], "registered_at": clock.now(), "active": True,
    }
    if terminal is None:
        terminal = Terminal(phone=number, **fields)
        session.add(terminal)
    else:
        for name, value in fields.items():
            setattr(terminal, name, value)
    changes = {k: v for k, v in fields.items() if k not in ("auth_digest", "registered_at")}
    audit.record(session, _actor(number), "terminal.registered", terminal,
                 {"phone": number, "plate_of_vehicle": vehicle.plate, **changes})
    return RegisterOutcome.OK, code, vehicle.id


def authenticate(session: Session, *, phone: str, code: str) -> int | None:
    """The vehicle of active terminal ``phone`` if ``code`` is its auth code (and the vehicle not disposed of)."""
    row = session.execute(
        sa.select(Terminal.auth_digest, Terminal.vehicle_id, Vehicle.status)
        .join(Vehicle, Vehicle.id == Terminal.vehicle_id)
        .where(Terminal.phone == normalise(phone), Terminal.active)
    ).first()
    if row is None or row.status is VehicleStatus.disposed:
        return None
    return row.vehicle_id if hmac.compare_digest(row.auth_digest, digest(code)) else None


@atomic
def deregister(session: Session, *, phone: str, actor: Actor | None = None) -> bool:
    """0x0003 终端注销, or an operator for a terminal that lost its code: the registration ends (the terminal must
    register again); False if it had none."""
    number = normalise(phone)
    terminal = session.scalars(sa.select(Terminal).where(Terminal.phone == number, Terminal.active)).first()
    if terminal is None:
        return False
    terminal.active = False
    audit.record(session, actor or _actor(number), "terminal.deregistered", terminal, {"active": False})
    return True


def _speaks_jt808() -> sa.ColumnElement[bool]:
    """The vehicle has an active JT/T 808 terminal: only that authenticated terminal speaks for it."""
    return sa.exists().where(Terminal.vehicle_id == Vehicle.id, Terminal.active)


def osmand_vehicle(session: Session, device_id: str) -> int | None:
    """The vehicle whose registry terminal number is ``device_id`` (leading zeros aside), unless disposed of or
    bound to an active JT/T 808 terminal (an unauthenticated HTTP report must not speak for it: positions are
    first-write-wins on vehicle and time, so a report sent ahead would pre-empt the terminal's own fix)."""
    number = normalise(device_id)
    if not number.isdigit():  # Vehicle.terminal_id holds digits only
        return None
    vehicle = _by_number(session, number)
    if vehicle is None or vehicle.status is VehicleStatus.disposed:
        return None
    return None if session.scalar(sa.select(_speaks_jt808()).where(Vehicle.id == vehicle.id)) else vehicle.id


def bindings(session: Session) -> dict[str, int]:
    """Every OsmAnd vehicle's terminal number (zeros stripped) -> vehicle id: disposed vehicles and vehicles with an
    active JT/T 808 terminal left out (see ``osmand_vehicle``); one query the ingest caches instead of one per
    report."""
    rows = session.execute(sa.select(Vehicle.terminal_id, Vehicle.id).where(
        Vehicle.terminal_id.is_not(None), Vehicle.status != VehicleStatus.disposed, ~_speaks_jt808()))
    return {normalise(number): vehicle_id for number, vehicle_id in rows if number}
