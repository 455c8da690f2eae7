"""The audit's evidence from the database: trips with their vehicles, vehicle status changes, the fleet on the books.

Each loader reads a Session into plain frozen rows, so that the checks (``checks.py``) never touch the database
and a test can hand-build the rows they read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from fleet.enums import Category, MarkingStatus, Priority, TripStatus, VehicleStatus
from fleet.models import Agency, Assignment, AuditRecord, Quota, Trip, Vehicle
from fleet.tracks import Track, split

# The audit-log actions that move a vehicle's status; a disposal is dated, not timed, so it is told apart.
STATUS_MOVES = ("vehicle.seal", "vehicle.unseal", "vehicle.maintenance_in", "vehicle.maintenance_out")
DISPOSAL = "vehicle.disposed"


@dataclass(frozen=True)
class TripRow:
    """A trip with its active assignment's vehicle, as the rules read it."""

    id: int
    agency_id: int
    agency: str
    priority: Priority
    purpose: str
    status: TripStatus
    pickup: tuple[float, float]
    pickup_address: str
    dropoff: tuple[float, float]
    dropoff_address: str
    earliest_pickup: datetime
    planned_km: float
    started_at: datetime | None
    completed_at: datetime | None
    odometer_start_km: int | None
    odometer_end_km: int | None
    vehicle_id: int | None
    assigned_from: datetime | None
    assigned_to: datetime | None
    plate: str | None
    vehicle_agency_id: int | None
    vehicle_agency: str | None
    home: tuple[float, float] | None
    vehicle_status: VehicleStatus | None
    disposed_on: date | None

    @property
    def begins(self) -> tuple[datetime, str] | None:
        """When the vehicle set off: the recorded start, else the assignment's planned start."""
        if self.started_at is not None:
            return self.started_at, "actual"
        if self.assigned_from is not None:
            return self.assigned_from, "assigned"
        return None

    @property
    def ends(self) -> tuple[datetime, str] | None:
        """When it was done: the recorded completion; the assignment's planned end only for a trip not started."""
        if self.completed_at is not None:
            return self.completed_at, "actual"
        if self.started_at is None and self.assigned_to is not None:
            return self.assigned_to, "assigned"
        return None

    @property
    def when(self) -> datetime:
        """The trip's time: when it began, else its earliest pickup."""
        begins = self.begins
        return begins[0] if begins is not None else self.earliest_pickup

    @property
    def readings(self) -> bool:
        """Whether both odometer readings are recorded."""
        return self.odometer_start_km is not None and self.odometer_end_km is not None

    def place(self, which: Literal["pickup", "dropoff"]) -> dict[str, Any]:
        """The pickup or drop-off as evidence: lat, lon and address."""
        lat, lon = self.pickup if which == "pickup" else self.dropoff
        address = self.pickup_address if which == "pickup" else self.dropoff_address
        return {"lat": lat, "lon": lon, "address": address}


@dataclass(frozen=True)
class StatusChange:
    """One vehicle status change or disposal, as the audit log recorded it."""

    seq: int
    at: datetime
    action: str
    before: VehicleStatus | None
    after: VehicleStatus | None
    reason: str | None

    @property
    def disposal(self) -> bool:
        """Whether this is the vehicle's disposal rather than a move between statuses."""
        return self.action == DISPOSAL


@dataclass(frozen=True)
class HeldVehicle:
    """A vehicle on the books, with its agency's quota (编制) for its category; None: no quota row."""

    id: int
    plate: str
    agency_id: int
    agency: str
    category: Category
    status: VehicleStatus
    marking: MarkingStatus
    marking_exemption: str | None
    limit: int | None
    hired: bool = False  # a rental car (社会化租赁): on the books, never counted against the quota


_TRIP_AGENCY = aliased(Agency)
_VEHICLE_AGENCY = aliased(Agency)
_TRIP_COLUMNS = tuple(column.label(name) for name, column in (
    ("trip_id", Trip.id), ("agency_id", Trip.agency_id), ("agency", _TRIP_AGENCY.code), ("priority", Trip.priority),
    ("purpose", Trip.purpose), ("status", Trip.status), ("pickup_lat", Trip.pickup_lat),
    ("pickup_lon", Trip.pickup_lon), ("pickup_address", Trip.pickup_address), ("dropoff_lat", Trip.dropoff_lat),
    ("dropoff_lon", Trip.dropoff_lon), ("dropoff_address", Trip.dropoff_address),
    ("earliest_pickup", Trip.earliest_pickup), ("planned_km", Trip.planned_km), ("started_at", Trip.started_at),
    ("completed_at", Trip.completed_at), ("odometer_start_km", Trip.odometer_start_km),
    ("odometer_end_km", Trip.odometer_end_km), ("vehicle_id", Assignment.vehicle_id),
    ("assigned_from", Assignment.starts_at), ("assigned_to", Assignment.ends_at), ("plate", Vehicle.plate),
    ("vehicle_agency_id", Vehicle.agency_id), ("vehicle_agency", _VEHICLE_AGENCY.code),
    ("home_lat", Vehicle.home_lat), ("home_lon", Vehicle.home_lon), ("vehicle_status", Vehicle.status),
    ("disposed_on", Vehicle.disposed_on),
))
# Chunks of ids bound into one IN list: far below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 2000


def _trip_select() -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(*_TRIP_COLUMNS)
        .join(_TRIP_AGENCY, _TRIP_AGENCY.id == Trip.agency_id)
        .outerjoin(Assignment, sa.and_(Assignment.trip_id == Trip.id, Assignment.active))
        .outerjoin(Vehicle, Vehicle.id == Assignment.vehicle_id)
        .outerjoin(_VEHICLE_AGENCY, _VEHICLE_AGENCY.id == Vehicle.agency_id)
    )


def _trip(row: Sequence[Any]) -> TripRow:
    (trip_id, agency_id, agency, priority, purpose, status, p_lat, p_lon, p_addr, d_lat, d_lon, d_addr, earliest,
     planned, started, completed, odo_start, odo_end, vehicle_id, a_from, a_to, plate, v_agency_id, v_agency,
     home_lat, home_lon, v_status, disposed_on) = row
    return TripRow(
        id=trip_id, agency_id=agency_id, agency=agency, priority=priority, purpose=purpose, status=status,
        pickup=(p_lat, p_lon), pickup_address=p_addr, dropoff=(d_lat, d_lon), dropoff_address=d_addr,
        earliest_pickup=earliest, planned_km=planned, started_at=started, completed_at=completed,
        odometer_start_km=odo_start, odometer_end_km=odo_end, vehicle_id=vehicle_id, assigned_from=a_from,
        assigned_to=a_to, plate=plate, vehicle_agency_id=v_agency_id, vehicle_agency=v_agency,
        home=(home_lat, home_lon) if home_lat is not None and home_lon is not None else None,
        vehicle_status=v_status, disposed_on=disposed_on,
    )


def _happened() -> sa.ColumnElement[bool]:
    """Trips that ran or are still to run: neither refused nor withdrawn before the vehicle set off."""
    return sa.or_(Trip.status.not_in((TripStatus.rejected, TripStatus.cancelled)), Trip.started_at.is_not(None))


def window_trips(session: Session, start: datetime, end: datetime, agency_ids: list[int] | None) -> list[TripRow]:
    """Trips timed (started_at, else earliest_pickup) in [start, end): the scoped agencies' own, and every trip
    driven by one of their vehicles (an odometer gap needs the vehicle's whole sequence)."""
    stmt = _trip_select().where(
        _happened(),
        sa.or_(
            sa.and_(Trip.started_at.is_not(None), Trip.started_at >= start, Trip.started_at < end),
            sa.and_(Trip.started_at.is_(None), Trip.earliest_pickup >= start, Trip.earliest_pickup < end),
        ),
    )
    if agency_ids is not None:
        stmt = stmt.where(sa.or_(Trip.agency_id.in_(agency_ids), Vehicle.agency_id.in_(agency_ids)))
    return [_trip(row) for row in session.execute(stmt.order_by(Trip.id))]


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i:i + _CHUNK]


def previous_trips(session: Session, vehicle_ids: Iterable[int], before: datetime) -> dict[int, TripRow]:
    """Each vehicle's last trip started before ``before``: the first link of its sequence in the window."""
    found: dict[int, TripRow] = {}
    for chunk in _chunks(vehicle_ids):
        ranked = (
            _trip_select()
            .add_columns(sa.func.row_number().over(
                partition_by=Assignment.vehicle_id, order_by=(Trip.started_at.desc(), Trip.id.desc()),
            ).label("rank"))
            .where(_happened(), Trip.started_at.is_not(None), Trip.started_at < before,
                   Assignment.vehicle_id.in_(chunk))
            .subquery()
        )
        rows = session.execute(sa.select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1))
        for row in rows:
            trip = _trip(row)
            if trip.vehicle_id is not None:
                found[trip.vehicle_id] = trip
    return found


def status_log(session: Session, vehicle_ids: Iterable[int]) -> dict[int, list[StatusChange]]:
    """Each vehicle's status changes and disposal from the audit log, in log order."""
    log: dict[int, list[StatusChange]] = defaultdict(list)
    for chunk in _chunks(vehicle_ids):
        rows = session.execute(
            sa.select(AuditRecord.seq, AuditRecord.at, AuditRecord.action, AuditRecord.entity_id,
                      AuditRecord.changes)
            .where(AuditRecord.entity == Vehicle.audit_entity, AuditRecord.entity_id.in_([str(i) for i in chunk]),
                   AuditRecord.action.in_((*STATUS_MOVES, DISPOSAL)))
            .order_by(AuditRecord.seq)
        )
        for seq, at, action, entity_id, changes in rows:
            log[int(entity_id)].append(StatusChange(
                seq=seq, at=at, action=action, before=_status(changes.get("from")),
                after=VehicleStatus.disposed if action == DISPOSAL else _status(changes.get("to")),
                reason=changes.get("reason") or changes.get("note"),
            ))
    return log


def _status(value: Any) -> VehicleStatus | None:
    try:
        return VehicleStatus(value)
    except ValueError:
        return None


def held_vehicles(session: Session, scope: list[int] | None) -> list[HeldVehicle]:
    """Vehicles on the books (every status but disposed), with their agency's quota for the category."""
    stmt = (
        sa.select(Vehicle.id, Vehicle.plate, Vehicle.agency_id, Agency.code, Vehicle.category, Vehicle.status,
                  Vehicle.marking, Vehicle.marking_exemption, Quota.limit, Vehicle.under_quota)
        .join(Agency, Agency.id == Vehicle.agency_id)
        .outerjoin(Quota, sa.and_(Quota.agency_id == Vehicle.agency_id, Quota.category == Vehicle.category))
        .where(Vehicle.status != VehicleStatus.disposed)
        .order_by(Agency.code, Vehicle.plate)
    )
    if scope is not None:
        stmt = stmt.where(Vehicle.agency_id.in_(scope))
    return [HeldVehicle(*row[:9], hired=not row[9]) for row in session.execute(stmt)]


# --- Tracks -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VehicleRow:
    """A vehicle whose track the audit reads: its agency, its designated parking place (home) and its terminal."""

    id: int
    plate: str
    agency_id: int
    agency: str
    home: tuple[float, float] | None
    status: VehicleStatus
    terminal_id: str | None


def audited_vehicles(session: Session, scope: list[int] | None) -> list[VehicleRow]:
    """The scope's vehicles on the books (all but disposed), whose tracks the audit reads."""
    stmt = (
        sa.select(Vehicle.id, Vehicle.plate, Vehicle.agency_id, Agency.code, Vehicle.home_lat, Vehicle.home_lon,
                  Vehicle.status, Vehicle.terminal_id)
        .join(Agency, Agency.id == Vehicle.agency_id)
        .where(Vehicle.status != VehicleStatus.disposed)
        .order_by(Vehicle.id)
    )
    if scope is not None:
        stmt = stmt.where(Vehicle.agency_id.in_(scope))
    return [VehicleRow(id=vid, plate=plate, agency_id=agency_id, agency=code,
                       home=(h_lat, h_lon) if h_lat is not None and h_lon is not None else None,
                       status=status, terminal_id=terminal)
            for vid, plate, agency_id, code, h_lat, h_lon, status, terminal in session.execute(stmt)]


def vehicle_trips(session: Session, lo: datetime, hi: datetime, vehicle_ids: Collection[int] | None) -> list[TripRow]:
    """Trips with a vehicle whose time on it (started..completed, else the assignment's interval; a trip in
    progress runs on) overlaps [lo, hi): what the vehicles' drives are matched to."""
    begins = sa.func.coalesce(Trip.started_at, Assignment.starts_at)
    in_progress = sa.and_(Trip.started_at.is_not(None), Trip.completed_at.is_(None),
                          Trip.status == TripStatus.in_progress)
    ends = sa.func.coalesce(Trip.completed_at, Assignment.ends_at)
    stmt = _trip_select().where(_happened(), Assignment.vehicle_id.is_not(None), begins < hi,
                                sa.or_(ends > lo, in_progress))
    if vehicle_ids is None:
        return [_trip(row) for row in session.execute(stmt.order_by(Trip.id))]
    out: list[TripRow] = []
    for chunk in _chunks(vehicle_ids):
        out.extend(_trip(row) for row in session.execute(stmt.where(Assignment.vehicle_id.in_(chunk))
                                                         .order_by(Trip.id)))
    return out


# Rows fetched per round trip: a chunk's tuples are turned into arrays before the next is read, so a day of
# millions of fixes never sits in memory as Python objects at once.
_FETCH = 200_000
_TRACK_COLUMNS = ("vehicle_id", "t", "lat", "lon", "speed_kmh", "acc", "alarm", "mileage_km", "status")


def tracks(session: Session, lo: datetime, hi: datetime, vehicle_ids: Collection[int] | None) -> dict[int, Track]:
    """Each vehicle's fixes timed in [lo, hi) as a `Track`, read by columns straight from the driver: the ORM's
    per-row objects would cost more than the audit. PostgreSQL sends one row per vehicle (each column an array) as
    binary COPY, parsed by numpy; SQLite's rows come in the primary key's order (vehicle, then device time). The
    month partitions outside [lo, hi) are pruned by the fixed_at bounds."""
    connection = session.connection()
    chunks: list[list[int] | None] = [None] if vehicle_ids is None else list(_chunks(vehicle_ids))
    if connection.dialect.name == "postgresql":
        out: dict[int, Track] = {}
        for chunk in chunks:
            if chunk != []:
                out.update(_pg_tracks(session, lo, hi, chunk))
        return out
    parts = [_generic_fixes(session, lo, hi, chunk) for chunk in chunks if chunk != []]
    table = np.concatenate(parts) if parts else np.zeros((0, len(_TRACK_COLUMNS)))
    if table.size == 0:
        return {}
    columns = {name: table[:, i] for i, name in enumerate(_TRACK_COLUMNS) if name != "vehicle_id"}
    return split(table[:, 0].astype(np.int64), columns)


def _sqlite_text(moment: datetime) -> str:
    # UTCDateTime's stored form on SQLite (UTC text): the bounds compare as text with the stored values.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _generic_fixes(session: Session, lo: datetime, hi: datetime, chunk: list[int] | None) -> npt.NDArray[np.float64]:
    where = "fixed_at >= ? AND fixed_at < ?"
    params: list[Any] = [_sqlite_text(lo), _sqlite_text(hi)]
    if chunk is not None:
        where += f" AND vehicle_id IN ({', '.join('?' for _ in chunk)})"
        params.extend(chunk)
    # The time as integer microseconds from its stored text (whole seconds + the fraction's digits): exact, as
    # PostgreSQL's; julianday's double would keep only ~10 µs.
    sql = ("SELECT vehicle_id, CAST(strftime('%s', fixed_at) AS INTEGER) * 1000000 "
           "+ CAST(substr(fixed_at, 21, 6) AS INTEGER), lat, lon, speed_kmh, "
           "CASE WHEN acc IS NULL THEN -1 WHEN acc THEN 1 ELSE 0 END, alarm, mileage_km, coalesce(status, -1) "
           f"FROM positions WHERE {where} ORDER BY vehicle_id, fixed_at")
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    blocks = []
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(_FETCH):
            blocks.append(np.array(rows, dtype=np.float64))
    finally:
        cursor.close()
    if not blocks:
        return np.zeros((0, len(_TRACK_COLUMNS)))
    table = np.concatenate(blocks)
    table[:, 1] /= 1e6  # integer microseconds (< 2**53: exact in a double) to seconds, rounded once
    return table


# PostgreSQL sends a COPY TO one message per row: a row per fix would cost a Python step per fix (seconds per
# million), so the rows are aggregated per vehicle, each column one bytea of the values' binary send forms end to
# end (big-endian, no per-value length as an array's elements carry), which numpy reads in one step. No per-fix
# conversion on the server: fixed_at as timestamptz (int8 microseconds since 2000-01-01 UTC), lat, lon, speed as
# float8, acc as int2 (-1 unknown, 0 off, 1 on), alarm int8, mileage float8 with NULL as NaN (string_agg skips a
# NULL, which would shift the column against the others), status int8 with NULL as -1.
_PG_COLUMNS = (("t", ">i8", "timestamptz_send(fixed_at)"), ("lat", ">f8", "float8send(lat)"),
               ("lon", ">f8", "float8send(lon)"), ("speed_kmh", ">f8", "float8send(speed_kmh)"),
               ("acc", ">i2", "int2send((CASE WHEN acc IS NULL THEN -1 WHEN acc THEN 1 ELSE 0 END)::int2)"),
               ("alarm", ">i8", "int8send(alarm)"), ("mileage_km", ">f8", "float8send(coalesce(mileage_km, 'NaN'))"),
               ("status", ">i8", "int8send(coalesce(status, -1))"))
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in Unix microseconds
_PG_HEADER = 19  # b"PGCOPY\n\xff\r\n\0", flags, extension length


def _pg_tracks(session: Session, lo: datetime, hi: datetime, chunk: list[int] | None) -> dict[int, Track]:
    from psycopg import sql

    raw = session.connection().connection.dbapi_connection
    vehicles: sql.Composable = sql.SQL("")
    if chunk is not None:
        vehicles = sql.SQL(" AND vehicle_id IN ({})").format(sql.SQL(", ").join(sql.Literal(v) for v in chunk))
    # Every aggregate of a group reads its rows in one order, so the columns line up; Track.build puts them in
    # time order (the primary key's index usually hands them over in it already).
    columns = sql.SQL(", ").join(sql.SQL(f"string_agg({expression}, '')") for _, _, expression in _PG_COLUMNS)
    query = sql.SQL(
        "COPY (SELECT vehicle_id, {} FROM positions WHERE fixed_at >= {} AND fixed_at < {}{} GROUP BY vehicle_id) "
        "TO STDOUT (FORMAT BINARY)"
    ).format(columns, sql.Literal(lo), sql.Literal(hi), vehicles)
    out: dict[int, Track] = {}
    pending = bytearray()
    skip = _PG_HEADER
    with raw.cursor() as cursor, cursor.copy(query) as copy:  # type: ignore[union-attr]
        for data in copy:
            pending += data
            if len(pending) < skip:
                continue
            used = skip
            while (end := _pg_row_end(pending, used)) is not None:
                track = _pg_track(memoryview(pending)[used:end])
                out[track.vehicle_id] = track
                used = end
            del pending[:used]
            skip = 0
    return out


def _pg_row_end(buffer: bytearray, at: int) -> int | None:
    """Where the COPY row starting at ``at`` ends, if the buffer holds all of it (None also at the trailer)."""
    if len(buffer) < at + 2:
        return None
    fields = int.from_bytes(buffer[at:at + 2], "big", signed=True)
    at += 2
    for _ in range(max(fields, 0)):
        if len(buffer) < at + 4:
            return None
        at += 4 + max(int.from_bytes(buffer[at:at + 4], "big", signed=True), 0)
    return at if fields > 0 and len(buffer) >= at else None


def _pg_track(row: memoryview) -> Track:
    """One vehicle's row: its id (int4), then one bytea per column of ``_PG_COLUMNS``."""
    vehicle_id = int.from_bytes(row[6:10], "big", signed=True)
    at = 10
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, kind, _ in _PG_COLUMNS:
        length = int.from_bytes(row[at:at + 4], "big", signed=True)
        columns[name] = np.frombuffer(row, dtype=kind, count=length // int(kind[-1]), offset=at + 4).astype(kind[1:])
        at += 4 + length
    t = (columns.pop("t") + _PG_EPOCH_US) / 1e6  # exact microseconds, rounded once to a double
    return Track.build(vehicle_id, t, **columns)
