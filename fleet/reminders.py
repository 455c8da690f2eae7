"""Reminders the office keeps: insurance expiry, annual inspection (年检), maintenance, renewal age and driving
licence expiry, each with the day it falls due.

The rules are pure functions over plain values (dates, km, seats), so that they can be checked on their own;
`due` reads the vehicles not disposed of and the active drivers and lists what falls due within a number of days,
or is already overdue.

**Annual inspection.** A vehicle's inspections fall due at ages counted from its registration (``acquired_on``
here), by the schedule of its kind (`INSPECTION_RULES`, data with its source). An inspection may be made in the
three months before the day it is due (检验有效期满前三个月内), so one passed on ``inspected_on`` covers every due
day up to three months after it. A vehicle with no inspection (or no maintenance) on the record is taken to have
kept its schedule, so that a registry just taken over does not report every vehicle overdue: its reminder is its
next scheduled day; recording the date (``PATCH /vehicles/{id}``) makes it exact.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from fleet import queries, rules
from fleet.enums import LabelledEnum, VehicleStatus
from fleet.i18n import Text, msg
from fleet.models import Agency, Driver, Vehicle
from fleet.policy import PolicyBook

DEFAULT_SERVICE_KM = 10_000  # 保养: a common maker's interval for a passenger car; each vehicle may set its own
DEFAULT_SERVICE_MONTHS = 12
EARLY_INSPECTION_MONTHS = 3  # 检验有效期满前三个月内 may an inspection be made for that due day


class ReminderKind(LabelledEnum):
    insurance = "insurance", "保险到期"
    inspection = "inspection", "年检"
    maintenance = "maintenance", "保养"
    renewal = "renewal", "达到更新年限"
    licence = "licence", "驾驶证到期"


class InspectionMode(StrEnum):
    on_site = "on_site"  # 上线检验: at an inspection station
    sticker = "sticker"  # 免检: the inspection sticker (检验标志) is applied for without an on-site inspection


@dataclass(frozen=True)
class Period:
    """From ``from_months`` of age on, an inspection every ``every_months``."""

    from_months: int
    every_months: int


@dataclass(frozen=True)
class InspectionRule:
    """The inspection schedule of one kind of vehicle: fixed ages (in months, with how each is made), then
    periods of regular inspection, each running until the next begins."""

    name: str
    source: str
    fixed: tuple[tuple[int, InspectionMode], ...]
    periods: tuple[Period, ...]


_ON, _STICKER = InspectionMode.on_site, InspectionMode.sticker
_IMPLEMENTING_REGULATION = ("《中华人民共和国道路交通安全法实施条例》第十六条 (国务院令第405号, 2004; 2017 修订)")
_REFORM_2022 = ("公安部 市场监管总局《关于深化机动车检验制度改革优化车检服务工作的意见》(2022-08, 2022-10-01 起施行)")

SMALL_PASSENGER = InspectionRule(
    name="small_passenger",
    # 非营运小微型载客汽车 (fewer than 10 seats; vans, 面包车, are outside the reform): within 10 years the sticker
    # is applied for in years 2, 4 and 8 and the car inspected on site in years 6 and 10; then every year; after
    # 15 years every six months (the implementing regulation's rule, which the reform left in place).
    source=f"{_REFORM_2022}; {_IMPLEMENTING_REGULATION}",
    fixed=((24, _STICKER), (48, _STICKER), (72, _ON), (96, _STICKER), (120, _ON)),
    periods=(Period(120, 12), Period(180, 6)),
)
LARGE_PASSENGER = InspectionRule(
    name="large_passenger",
    # 大型、中型非营运载客汽车 (10 seats or more): every year for 10 years, then every six months. (The five-year
    # rule is that of operating passenger vehicles, 营运载客汽车, which official vehicles are not.)
    source=_IMPLEMENTING_REGULATION,
    fixed=(),
    periods=(Period(0, 12), Period(120, 6)),
)
INSPECTION_RULES = (SMALL_PASSENGER, LARGE_PASSENGER)
BUS_SEATS = 10  # 中型载客汽车 starts at 10 seats (GA 802)


def inspection_rule(seats: int) -> InspectionRule:
    """The schedule of a non-operating passenger vehicle with ``seats`` seats."""
    return LARGE_PASSENGER if seats >= BUS_SEATS else SMALL_PASSENGER


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; a day the month lacks (31st, 29 February) becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def inspection_ages(rule: InspectionRule) -> Iterator[tuple[int, InspectionMode]]:
    """The ages (months) at which inspections fall due, in order, without end."""
    yield from rule.fixed
    for i, period in enumerate(rule.periods):
        until = rule.periods[i + 1].from_months if i + 1 < len(rule.periods) else None
        age = period.from_months + period.every_months
        while until is None or age <= until:
            yield age, _ON
            age += period.every_months


def next_inspection(rule: InspectionRule, registered_on: date, inspected_on: date | None,
                    today: date) -> tuple[date, InspectionMode]:
    """The next inspection due day and how it is made: the first due day the last inspection does not cover. With
    no inspection on the record, the vehicle is taken to have kept its schedule: its next due day from today."""
    if inspected_on is None:
        covered = max(registered_on, today - timedelta(days=1))
    else:
        covered = add_months(inspected_on, EARLY_INSPECTION_MONTHS)
    for months, mode in inspection_ages(rule):
        day = add_months(registered_on, months)
        if day > covered:
            return day, mode
    raise AssertionError("an inspection schedule has no end")  # pragma: no cover


@dataclass(frozen=True)
class ServiceDue:
    """The next scheduled maintenance: by date, and by odometer when the km of the last one is known."""

    on: date
    at_km: int | None


def next_service(*, acquired_on: date, serviced_on: date | None, serviced_km: int | None,
                 interval_km: int | None, interval_months: int | None, today: date) -> ServiceDue:
    """Months from the last service; km from the last service's reading, when it is known. With no service on the
    record, the vehicle is taken to have kept its schedule from its acquisition: its next interval from today."""
    months = interval_months or DEFAULT_SERVICE_MONTHS
    km = interval_km or DEFAULT_SERVICE_KM
    at_km = serviced_km + km if serviced_km is not None else None
    if serviced_on is not None:
        return ServiceDue(add_months(serviced_on, months), at_km)
    step = 1
    while (on := add_months(acquired_on, step * months)) < today:
        step += 1
    return ServiceDue(on, at_km)


def km_day(*, at_km: int, odometer_km: int, km_per_day: float, today: date) -> date:
    """The day the odometer reaches ``at_km`` at ``km_per_day`` (today when it has; far off when it never moves)."""
    left = at_km - odometer_km
    if left <= 0:
        return today
    horizon = (date.max - today).days
    if km_per_day <= 0 or left / km_per_day >= horizon:
        return date.max
    return today + timedelta(days=int(left / km_per_day))


def average_km_per_day(*, odometer_km: int, acquired_on: date, today: date) -> float:
    """The vehicle's lifetime average, what its km reminder extrapolates."""
    return odometer_km / max((today - acquired_on).days, 1)


# --- the reminders due ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    kind: ReminderKind
    due_on: date
    days_left: int  # negative: overdue by that many days
    subject: Literal["vehicle", "driver"]
    subject_id: int
    label: str  # the plate, or the driver's name
    agency: str | None
    detail: Text
    due_km: int | None = None


def vehicle_reminders(vehicle: Vehicle, *, today: date, renewal_years: int) -> list[Reminder]:
    """Every reminder of one vehicle with the day it falls due (whatever how far off)."""
    found: list[tuple[ReminderKind, date, Text, int | None]] = []
    if vehicle.insurance_expires_on is not None:
        found.append((ReminderKind.insurance, vehicle.insurance_expires_on,
                      msg("insurance expires on {day}", day=vehicle.insurance_expires_on), None))
    rule = inspection_rule(vehicle.seats)
    due, mode = next_inspection(rule, vehicle.acquired_on, vehicle.inspected_on, today)
    found.append((ReminderKind.inspection, due,
                  msg("annual inspection due on {day} (on site)", day=due) if mode is InspectionMode.on_site else
                  msg("inspection sticker to apply for by {day} (no on-site inspection)", day=due), None))
    service = next_service(acquired_on=vehicle.acquired_on, serviced_on=vehicle.serviced_on,
                           serviced_km=vehicle.serviced_km, interval_km=vehicle.service_interval_km,
                           interval_months=vehicle.service_interval_months, today=today)
    service_on = service.on
    if service.at_km is not None:
        pace = average_km_per_day(odometer_km=vehicle.odometer_km, acquired_on=vehicle.acquired_on, today=today)
        service_on = min(service_on, km_day(at_km=service.at_km, odometer_km=vehicle.odometer_km, km_per_day=pace,
                                            today=today))
    found.append((ReminderKind.maintenance, service_on,
                  msg("maintenance due on {day} or at {km} km, whichever comes first", day=service.on,
                      km=service.at_km) if service.at_km is not None else
                  msg("maintenance due on {day}", day=service.on), service.at_km))
    renewal = rules.renewal_due(vehicle.acquired_on, renewal_years)
    found.append((ReminderKind.renewal, renewal,
                  msg("reaches the renewal age of {years} years on {day}", years=renewal_years, day=renewal), None))
    return [Reminder(kind, day, (day - today).days, "vehicle", vehicle.id, vehicle.plate, vehicle.agency.code, detail,
                     km) for kind, day, detail, km in found]


def driver_reminders(driver: Driver, *, today: date) -> list[Reminder]:
    if driver.licence_expires_on is None:
        return []
    day = driver.licence_expires_on
    return [Reminder(ReminderKind.licence, day, (day - today).days, "driver", driver.id, driver.name,
                     driver.agency.code if driver.agency else None,
                     msg("driving licence expires on {day}", day=day))]


def due(session: Session, *, today: date, within_days: int, kinds: Sequence[ReminderKind] = (),
        agency_ids: Sequence[int] | None = None, policies: PolicyBook | None = None) -> list[Reminder]:
    """The reminders falling due by ``today + within_days`` (overdue ones included, but for the renewal age, which
    is reached rather than missed), of vehicles not disposed of and active drivers, of the agencies given (None:
    all; drivers of the shared pool only then), soonest first."""
    until = today + timedelta(days=within_days)
    vehicles = sa.select(Vehicle).where(Vehicle.status != VehicleStatus.disposed).options(
        selectinload(Vehicle.agency).selectinload(Agency.jurisdiction))
    drivers = sa.select(Driver).where(Driver.active).options(selectinload(Driver.agency))
    if agency_ids is not None:
        vehicles = vehicles.where(Vehicle.agency_id.in_(agency_ids))
        drivers = drivers.where(Driver.agency_id.in_(agency_ids))
    renewal_years: dict[int, int] = {}
    found: list[Reminder] = []
    for vehicle in session.scalars(vehicles):
        jurisdiction = vehicle.agency.jurisdiction
        if jurisdiction.id not in renewal_years:
            renewal_years[jurisdiction.id] = queries.policy_for(session, jurisdiction, policies).renewal_years
        found.extend(vehicle_reminders(vehicle, today=today, renewal_years=renewal_years[jurisdiction.id]))
    for driver in session.scalars(drivers):
        found.extend(driver_reminders(driver, today=today))
    wanted = set(kinds) or set(ReminderKind)
    return sorted((r for r in found if r.kind in wanted and r.due_on <= until and not _eligible_since(r, today)),
                  key=lambda r: (r.due_on, r.kind.value, r.label))


def _eligible_since(reminder: Reminder, today: date) -> bool:
    # The renewal age is a threshold, not a deadline: a vehicle past it may be renewed (through a plan), it is not
    # overdue; only its coming up is a reminder.
    return reminder.kind is ReminderKind.renewal and reminder.due_on < today
