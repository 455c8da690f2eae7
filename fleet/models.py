"""The registry's tables as SQLAlchemy 2 typed models. Money is exact (integer fen), times are UTC-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from fleet import clock
from fleet.enums import (
    AssignmentSource,
    Category,
    CostKind,
    DisposalMethod,
    EarlyRenewalBasis,
    JurisdictionLevel,
    LicenceClass,
    MarkingStatus,
    OversightOffice,
    PlanLineKind,
    PlanStatus,
    PositionSource,
    Powertrain,
    Priority,
    RegistrationBasis,
    Role,
    RunStatus,
    TripStatus,
    VehicleSource,
    VehicleStatus,
)


class ScaledDecimal(TypeDecorator[Decimal]):
    """A Decimal stored as an integer of 10**-scale units: exact on every database, no float drift."""

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return None if value is None else int((Decimal(value) * 10**self.scale).to_integral_value())

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-self.scale)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite hands back naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Money = ScaledDecimal(2)  # CNY, stored in fen
Litres = ScaledDecimal(3)  # engine displacement, stored in millilitres


def _enum(enum_cls: type[Any]) -> sa.Enum:
    return sa.Enum(enum_cls, native_enum=False, length=32, validate_strings=True)


def utcnow() -> datetime:
    return clock.now()


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    # The entity name written in audit records ("vehicle", "plan", ...).
    audit_entity: ClassVar[str] = ""
    # Columns an audit record's digest of the row leaves out: bookkeeping the application changes without a record
    # (none so far; every column of an audited table is stated, see fleet.audit).
    audit_unstated: ClassVar[frozenset[str]] = frozenset()


class Jurisdiction(Base):
    """A province, city or county (行政区划); policies attach to it."""

    __tablename__ = "jurisdictions"
    audit_entity = "jurisdiction"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[JurisdictionLevel] = mapped_column(_enum(JurisdictionLevel))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jurisdictions.id"))
    # The day the platform went live here (上线): the fleet held then is registered; anything acquired after came
    # through a plan line, or is registered with a recorded basis (fleet.vehicles.register).
    live_on: Mapped[date | None]

    parent: Mapped[Jurisdiction | None] = relationship(remote_side=[id])


class Agency(Base):
    """A party or government unit (单位) holding vehicles under quota."""

    __tablename__ = "agencies"
    audit_entity = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))
    # 机构改革: an agency merged into another (or split up) stops on ``dissolved_on``; ``successor`` took over its
    # vehicles, quotas and open trips (fleet.reorganisation).
    dissolved_on: Mapped[date | None]
    successor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))

    jurisdiction: Mapped[Jurisdiction] = relationship()
    parent: Mapped[Agency | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    successor: Mapped[Agency | None] = relationship(remote_side=[id], foreign_keys=[successor_id])


class Quota(Base):
    """Establishment quota (编制): the most vehicles of one category an agency may hold."""

    __tablename__ = "quotas"
    __table_args__ = (
        sa.UniqueConstraint("agency_id", "category"),
        sa.CheckConstraint("vehicle_limit >= 0", name="limit_not_negative"),
    )
    audit_entity = "quota"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    category: Mapped[Category] = mapped_column(_enum(Category))
    limit: Mapped[int] = mapped_column("vehicle_limit")

    agency: Mapped[Agency] = relationship()


class QuotaChange(Base):
    """History of a quota: every change with its reason, newest last."""

    __tablename__ = "quota_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    quota_id: Mapped[int] = mapped_column(sa.ForeignKey("quotas.id"), index=True)
    old_limit: Mapped[int | None]
    new_limit: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(500))
    actor: Mapped[str] = mapped_column(sa.String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClosedYear(Base):
    """A plan year a jurisdiction has closed: no more plans for it."""

    __tablename__ = "closed_years"
    __table_args__ = (sa.UniqueConstraint("jurisdiction_id", "year"),)
    audit_entity = "closed_year"

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"))
    year: Mapped[int]


class Plan(Base):
    """Annual acquisition and renewal plan (配备更新计划) of one agency."""

    __tablename__ = "plans"
    audit_entity = "plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    year: Mapped[int] = mapped_column(index=True)
    status: Mapped[PlanStatus] = mapped_column(_enum(PlanStatus), default=PlanStatus.draft)
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    decision_note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    agency: Mapped[Agency] = relationship()
    lines: Mapped[list[PlanLine]] = relationship(
        back_populates="plan", order_by="PlanLine.id", cascade="all, delete-orphan"
    )


class PlanLine(Base):
    __tablename__ = "plan_lines"
    __table_args__ = (
        sa.CheckConstraint("count > 0", name="count_positive"),
        sa.CheckConstraint("acquired <= count", name="acquired_within_count"),
    )
    audit_entity = "plan_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"), index=True)
    kind: Mapped[PlanLineKind] = mapped_column(_enum(PlanLineKind))
    category: Mapped[Category] = mapped_column(_enum(Category))
    powertrain: Mapped[Powertrain] = mapped_column(_enum(Powertrain))
    count: Mapped[int]
    seats: Mapped[int] = mapped_column(default=5)
    unit_price_cny: Mapped[Decimal] = mapped_column(Money)
    displacement_l: Mapped[Decimal | None] = mapped_column(Litres)
    justification: Mapped[str | None] = mapped_column(sa.Text)  # for the higher standard tier
    new_energy_exemption: Mapped[str | None] = mapped_column(sa.Text)  # no new-energy model in the category
    early_renewal_basis: Mapped[EarlyRenewalBasis | None] = mapped_column(_enum(EarlyRenewalBasis))
    early_renewal_reason: Mapped[str | None] = mapped_column(sa.Text)
    acquired: Mapped[int] = mapped_column(default=0)

    plan: Mapped[Plan] = relationship(back_populates="lines")
    replaces: Mapped[list[Vehicle]] = relationship(secondary="plan_line_replacements", order_by="Vehicle.id")

    @property
    def remaining(self) -> int:
        return self.count - self.acquired


plan_line_replacements = sa.Table(
    "plan_line_replacements",
    Base.metadata,
    sa.Column("plan_line_id", sa.ForeignKey("plan_lines.id"), primary_key=True),
    sa.Column("vehicle_id", sa.ForeignKey("vehicles.id"), primary_key=True),
)


class Vehicle(Base):
    __tablename__ = "vehicles"
    __table_args__ = (
        sa.CheckConstraint("seats > 0", name="seats_positive"),
        sa.CheckConstraint("odometer_km >= 0", name="odometer_not_negative"),
        # An index rather than a constraint, so that SQLite can add it to a table with rows (migration 0008).
        sa.Index("uq_vehicles_terminal_id", "terminal_id", unique=True),
    )
    audit_entity = "vehicle"

    id: Mapped[int] = mapped_column(primary_key=True)
    plate: Mapped[str] = mapped_column(sa.String(16), unique=True)
    vin: Mapped[str] = mapped_column(sa.String(17), unique=True)
    model: Mapped[str] = mapped_column(sa.String(100), default="")
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    category: Mapped[Category] = mapped_column(_enum(Category))
    powertrain: Mapped[Powertrain] = mapped_column(_enum(Powertrain))
    seats: Mapped[int]
    price_cny: Mapped[Decimal] = mapped_column(Money)  # excluding purchase tax
    displacement_l: Mapped[Decimal | None] = mapped_column(Litres)
    range_km: Mapped[int | None]  # battery range
    acquired_on: Mapped[date]
    odometer_km: Mapped[int] = mapped_column(default=0)
    status: Mapped[VehicleStatus] = mapped_column(_enum(VehicleStatus), default=VehicleStatus.active)
    home_lat: Mapped[float | None]
    home_lon: Mapped[float | None]
    marking: Mapped[MarkingStatus] = mapped_column(_enum(MarkingStatus), default=MarkingStatus.marked)
    marking_exemption: Mapped[str | None] = mapped_column(sa.String(500))
    source: Mapped[VehicleSource] = mapped_column(_enum(VehicleSource), default=VehicleSource.retained)
    plan_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("plan_lines.id"))
    disposed_on: Mapped[date | None]
    # Registered outside the registration rules (acquired after go-live without a plan line, or above the equipment
    # standard): why, and the document that allowed it. Listed in the annual report.
    registration_basis: Mapped[RegistrationBasis | None] = mapped_column(_enum(RegistrationBasis))
    registration_note: Mapped[str | None] = mapped_column(sa.String(500))
    # A rental car (source rental, 长租) comes from a contracted provider: hired, not held, so outside 编制.
    rental_provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rental_providers.id"))
    # The JT/T 808 terminal's phone number (终端手机号) or an OsmAnd device id: how its positions find the vehicle.
    terminal_id: Mapped[str | None] = mapped_column(sa.String(20))  # unique: uq_vehicles_terminal_id
    colour: Mapped[str | None] = mapped_column(sa.String(20))  # 车身颜色
    # What the reminders (fleet.reminders) count from.
    insurance_expires_on: Mapped[date | None]
    inspected_on: Mapped[date | None]  # the last annual inspection (年检) passed
    serviced_on: Mapped[date | None]  # the last scheduled maintenance
    serviced_km: Mapped[int | None]
    service_interval_km: Mapped[int | None]  # None: the reminders' default
    service_interval_months: Mapped[int | None]

    agency: Mapped[Agency] = relationship()
    rental_provider: Mapped[RentalProvider | None] = relationship()

    @hybrid_property
    def under_quota(self) -> bool:
        """Whether the vehicle counts against its agency's 编制: held, not hired (a rental car, 社会化租赁, never
        does). The one statement of the rule, in Python and in SQL; disposal is a separate question."""
        return self.source is not VehicleSource.rental

    @under_quota.inplace.expression
    @classmethod
    def _under_quota(cls) -> sa.ColumnElement[bool]:
        return cls.source != VehicleSource.rental


class Transfer(Base):
    """调剂: a vehicle moved from one agency to another."""

    __tablename__ = "transfers"
    audit_entity = "transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"), index=True)
    from_agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    to_agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    transferred_on: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(500))


class Disposal(Base):
    """处置: how a vehicle left the registry, and what it brought in."""

    __tablename__ = "disposals"
    __table_args__ = (sa.CheckConstraint("proceeds_cny >= 0", name="proceeds_not_negative"),)
    audit_entity = "disposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"), unique=True)
    method: Mapped[DisposalMethod] = mapped_column(_enum(DisposalMethod))
    disposed_on: Mapped[date]
    proceeds_cny: Mapped[Decimal] = mapped_column(Money)
    recipient: Mapped[str | None] = mapped_column(sa.String(200))
    note: Mapped[str | None] = mapped_column(sa.Text)


class Driver(Base):
    __tablename__ = "drivers"
    audit_entity = "driver"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    licence_class: Mapped[LicenceClass] = mapped_column(_enum(LicenceClass))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)  # None: platform pool
    shift_start: Mapped[time]
    shift_end: Mapped[time]
    active: Mapped[bool] = mapped_column(default=True)
    licence_no: Mapped[str | None] = mapped_column(sa.String(32))  # 驾驶证号
    licence_expires_on: Mapped[date | None]
    phone: Mapped[str | None] = mapped_column(sa.String(20))

    agency: Mapped[Agency | None] = relationship()


class CostEntry(Base):
    """One line of a vehicle's cost ledger (单车核算)."""

    __tablename__ = "cost_entries"
    __table_args__ = (sa.CheckConstraint("amount_cny >= 0", name="amount_not_negative"),)
    audit_entity = "cost"

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"), index=True)
    kind: Mapped[CostKind] = mapped_column(_enum(CostKind))
    incurred_on: Mapped[date] = mapped_column(index=True)
    amount_cny: Mapped[Decimal] = mapped_column(Money)
    odometer_km: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(sa.String(500))


class OdometerReading(Base):
    """Odometer readings from every source (acquisition, cost entries, trips); mileage is read off these."""

    __tablename__ = "odometer_readings"
    __table_args__ = (sa.Index("ix_odometer_vehicle_on", "vehicle_id", "read_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"))
    read_on: Mapped[date]
    km: Mapped[int]
    source: Mapped[str] = mapped_column(sa.String(32))


class AuditRecord(Base):
    """One link of the hash-chained audit log. Rows are never updated or deleted (triggers refuse it).

    ``mac`` and ``state`` came with migration 0003: records written before it have neither (see fleet.audit).
    """

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_entity", "entity", "entity_id"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                      autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(100), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    entity: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mac: Mapped[str | None] = mapped_column(sa.String(64))  # HMAC-SHA256 of ``hash`` under the audit key
    state: Mapped[dict[str, str | None] | None] = mapped_column(sa.JSON)  # "entity:id" -> digest of the row


class User(Base):
    """Someone who calls the API: a role, the agency it acts for, and the hash of its bearer token."""

    __tablename__ = "users"
    audit_entity = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))
    driver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drivers.id"))
    # SHA-256 of a 256-bit random token: a slow password hash buys nothing against a key that cannot be guessed.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The bearer token stops working then (fleet.users.admit); a browser session carries its own expiry.
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The sign-in password's argon2id hash (PHC string: algorithm, parameters, salt); None: no password, no sign-in.
    # A stated column: a hash written without an audit record is what `audit verify` exists to find.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # The level of the jurisdiction tree a platform role (dispatcher, supervisor, admin) acts for: it and everything
    # below it. None: the whole platform.
    jurisdiction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jurisdictions.id"))
    office: Mapped[OversightOffice | None] = mapped_column(_enum(OversightOffice))  # a supervisor's body

    agency: Mapped[Agency | None] = relationship()
    driver: Mapped[Driver | None] = relationship()
    jurisdiction: Mapped[Jurisdiction | None] = relationship()


class UserSession(Base):
    """A browser's sign-in: SHA-256 of the session cookie's random value and of its CSRF token (neither value is
    stored), when it ends on its own, and when it was ended (sign-out, a password changed or set).

    Not an audited table: a session's start and end are audit records of its user ("user.signed_in", ...), and
    its ``last_seen_at`` moves without one (the idle timeout)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(sa.String(64))
    client: Mapped[str | None] = mapped_column(sa.String(100))  # the address it signed in from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class SignInFailure(Base):
    """The failed sign-ins of one key ("name:<sha256 of the name>" or "client:<address>") since the key's last quiet
    spell, and until when its sign-ins are refused (fleet.users). In the database, so that every server process
    counts the same failures."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    count: Mapped[int]
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RentalProvider(Base):
    """A contracted rental provider (定点租赁企业) and its tariff: base fee + per km + per started hour."""

    __tablename__ = "rental_providers"
    __table_args__ = (
        sa.CheckConstraint("base_cny >= 0 AND per_km_cny >= 0 AND per_hour_cny >= 0", name="tariff_not_negative"),
        sa.CheckConstraint("max_seats > 0", name="seats_positive"),
    )
    audit_entity = "rental_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    contact: Mapped[str | None] = mapped_column(sa.String(200))
    base_cny: Mapped[Decimal] = mapped_column(Money)
    per_km_cny: Mapped[Decimal] = mapped_column(Money)
    per_hour_cny: Mapped[Decimal] = mapped_column(Money)
    max_seats: Mapped[int] = mapped_column(default=7)
    contract_until: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True)


class Trip(Base):
    """A booking (用车申请): who, why, where, when, how many, and what became of it."""

    __tablename__ = "trips"
    __table_args__ = (
        sa.UniqueConstraint("requested_by_id", "idempotency_key"),
        sa.CheckConstraint("passengers > 0", name="passengers_positive"),
        sa.CheckConstraint("latest_pickup >= earliest_pickup", name="window_ordered"),
        sa.CheckConstraint("odometer_end_km IS NULL OR odometer_end_km >= odometer_start_km", name="odometer_ordered"),
        sa.Index("ix_trips_status_pickup", "status", "earliest_pickup"),
    )
    audit_entity = "trip"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(sa.String(500))
    # Why the priority is emergency or law enforcement (应急事由), as the requester stated it: shown to its approver,
    # the dispatcher and on the slip.
    priority_reason: Mapped[str | None] = mapped_column(sa.String(500))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    categories: Mapped[list[str]] = mapped_column(sa.JSON)
    passengers: Mapped[int]
    pickup_lat: Mapped[float]
    pickup_lon: Mapped[float]
    pickup_address: Mapped[str] = mapped_column(sa.String(200))
    dropoff_lat: Mapped[float]
    dropoff_lon: Mapped[float]
    dropoff_address: Mapped[str] = mapped_column(sa.String(200))
    earliest_pickup: Mapped[datetime] = mapped_column(UTCDateTime())
    latest_pickup: Mapped[datetime] = mapped_column(UTCDateTime())
    dwell_min: Mapped[int] = mapped_column(default=0)
    planned_km: Mapped[float]  # road km pickup -> drop-off, what the usage audit holds the odometer to
    status: Mapped[TripStatus] = mapped_column(_enum(TripStatus), default=TripStatus.requested)
    decision_note: Mapped[str | None] = mapped_column(sa.String(500))
    # Why the engine left the trip unassigned (a batch run's reason, a failed urgent placement); cleared on assign.
    dispatch_note: Mapped[str | None] = mapped_column(sa.String(500))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    odometer_start_km: Mapped[int | None]
    odometer_end_km: Mapped[int | None]
    # A dispatcher's booking approved without the agency's approver: the basis recorded (e.g. a phoned approval).
    approval_basis: Mapped[str | None] = mapped_column(sa.String(500))
    # Times entered after the fact (补录) by a dispatcher, and why: the booking, its start or its completion.
    backfill_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # 定点租赁: the provider a trip the fleet could not serve went to, and what it costs (estimated when sent,
    # final when completed).
    rental_provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rental_providers.id"))
    rental_cost_cny: Mapped[Decimal | None] = mapped_column(Money)
    rental_km: Mapped[float | None]  # the km the provider billed (fleet.rentals.bill), what the statement charges
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    request_digest: Mapped[str | None] = mapped_column(sa.String(64))  # of the body, to refuse a reused key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()
    requested_by: Mapped[User | None] = relationship()
    rental_provider: Mapped[RentalProvider | None] = relationship()
    assignment: Mapped[Assignment | None] = relationship(
        primaryjoin="and_(Trip.id == Assignment.trip_id, Assignment.active)", viewonly=True, uselist=False,
    )


class DispatchRun(Base):
    """One batch dispatch: the window, the time limit and what the engine answered."""

    __tablename__ = "dispatch_runs"
    audit_entity = "dispatch_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    time_limit_s: Mapped[float]
    actor: Mapped[str] = mapped_column(sa.String(100))
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.done, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The process working on a running run (host, pid, its start): a holder known to be dead frees the window.
    holder: Mapped[str | None] = mapped_column(sa.String(200))


class Assignment(Base):
    """A trip given to a vehicle (and driver) for an occupied interval [starts_at, ends_at).

    Two active assignments of one vehicle, or of one driver, never overlap: an exclusion constraint refuses it on
    PostgreSQL and a trigger on SQLite (migration 0002), whatever code writes the row.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="interval_ordered"),
        sa.Index("uq_assignments_active_trip", "trip_id", unique=True,
                 sqlite_where=sa.text("active"), postgresql_where=sa.text("active")),
        sa.Index("ix_assignments_vehicle_starts", "vehicle_id", "starts_at"),
        sa.Index("ix_assignments_driver_starts", "driver_id", "starts_at"),
    )
    audit_entity = "assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    trip_id: Mapped[int] = mapped_column(sa.ForeignKey("trips.id"))
    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"))
    driver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drivers.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[AssignmentSource] = mapped_column(_enum(AssignmentSource))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dispatch_runs.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    trip: Mapped[Trip] = relationship()
    vehicle: Mapped[Vehicle] = relationship()
    driver: Mapped[Driver | None] = relationship()


class Terminal(Base):
    """A JT/T 808 terminal that registered (0x0100) and the vehicle it was bound to.

    The vehicle is found by the terminal number the registry records (``Vehicle.terminal_id``) or by plate and plate
    colour. The auth code is kept only as its SHA-256: the terminal holds the code, the log never shows it.
    Deregistration (0x0003) ends the row's use (``active`` false); registering again starts a new code.
    """

    __tablename__ = "terminals"
    __table_args__ = (
        sa.Index("uq_terminals_active_vehicle", "vehicle_id", unique=True,
                 sqlite_where=sa.text("active"), postgresql_where=sa.text("active")),
    )
    audit_entity = "terminal"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The terminal's phone number (终端手机号) with its leading zeros stripped: a 2013 header's BCD[6] and a 2019
    # header's BCD[10] of one terminal are the same number.
    phone: Mapped[str] = mapped_column(sa.String(20), unique=True)
    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"))
    auth_digest: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 hex of the auth code (鉴权码)
    protocol_version: Mapped[int | None]  # the 2019 header's version byte; None for a 2013 terminal
    province: Mapped[int] = mapped_column(default=0)
    city: Mapped[int] = mapped_column(default=0)
    maker: Mapped[str] = mapped_column(sa.String(11), default="")
    model: Mapped[str] = mapped_column(sa.String(30), default="")
    device_no: Mapped[str] = mapped_column(sa.String(30), default="")  # the terminal's own id (终端ID)
    plate_colour: Mapped[int] = mapped_column(default=0)  # JT/T 697.7: 1 blue, 2 yellow, 3 black, 4 white, 5 green…
    plate: Mapped[str] = mapped_column(sa.String(16), default="")  # as the terminal sent it
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)

    vehicle: Mapped[Vehicle] = relationship()


class Position(Base):
    """One fix of a vehicle, stored once: a resent fix (same vehicle, same device time) is the same row.

    Telemetry, not a state change: fixes are not written to the audit log one by one (a terminal's registration
    is). On PostgreSQL the table is partitioned by month of ``fixed_at`` (migration 0009; ``fleet.positions``
    creates a month's partition before its first fix).
    """

    __tablename__ = "positions"
    __table_args__ = ({"postgresql_partition_by": "RANGE (fixed_at)"},)

    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"), primary_key=True)
    fixed_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)  # the device's time of the fix
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the platform got it
    lat: Mapped[float]  # WGS-84 / CGCS2000, as the terminal sends it (never GCJ-02)
    lon: Mapped[float]
    speed_kmh: Mapped[float] = mapped_column(default=0.0)
    course: Mapped[int | None]  # degrees from north, 0-359
    altitude_m: Mapped[int | None]
    accuracy_m: Mapped[float | None]
    acc: Mapped[bool | None]  # ignition (ACC) on; None when the source does not say
    alarm: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # JT/T 808 alarm DWORD
    status: Mapped[int | None] = mapped_column(sa.BigInteger)  # JT/T 808 status DWORD
    mileage_km: Mapped[float | None]  # the terminal's odometer (extra 0x01), or OsmAnd's odometer
    source: Mapped[PositionSource] = mapped_column(_enum(PositionSource))
    backfill: Mapped[bool] = mapped_column(default=False)  # a blind-area fix sent late (0x0704 type 1)
    extras: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # the rest, raw: JT/T 808 extras as hex


class LatestPosition(Base):
    """Each vehicle's newest fix by device time, kept by the writer of positions for the live map."""

    __tablename__ = "latest_positions"

    vehicle_id: Mapped[int] = mapped_column(sa.ForeignKey("vehicles.id"), primary_key=True)
    fixed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lat: Mapped[float]
    lon: Mapped[float]
    speed_kmh: Mapped[float] = mapped_column(default=0.0)
    course: Mapped[int | None]
    acc: Mapped[bool | None]
    alarm: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    source: Mapped[PositionSource] = mapped_column(_enum(PositionSource))


class RawFrame(Base):
    """A frame as it arrived (JT/T 808 bytes unescaped, or an OsmAnd request), kept for
    ``telematics_raw_retention_days`` so that a disputed fix can be checked against what the terminal sent."""

    __tablename__ = "raw_frames"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    source: Mapped[PositionSource] = mapped_column(_enum(PositionSource))
    device: Mapped[str] = mapped_column(sa.String(64))  # terminal phone number or OsmAnd device id, as sent
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
