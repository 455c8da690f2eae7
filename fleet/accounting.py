"""统一核算一本账: each completed trip costed and charged to the agency that BOOKED it, whoever holds the car.

Most dispatched trips ride in another agency's vehicle; its ledger (`fleet.costs`) stays with the holder. A monthly
statement moves each trip's share to the booking agency:

- **vehicle cost**: the vehicle's ledger for the month (every cost entry incurred in it) split by km. A trip's
  weight is its driven km: odometer_end − odometer_start, or its planned_km when the trip carries no readings. The
  month's km is the ledger's own (`fleet.costs.mileages`, read off the odometer readings); what the trips did not
  drive of it (deadhead to a pickup, the drive home, private running the usage audit may flag) stays with the
  holder as its **unallocated remainder**. Were the trips' km to exceed the month's (readings missing), the
  ledger is split among the trips alone and nothing remains.
- **driver cost**: the assignment's occupied hours × ``driver_cost_cny_per_hour`` (`fleet.settings`, default 50)
  when a driver was assigned. Drivers' pay is not in a vehicle's ledger, so it is charged on top and not part of
  the reconciliation.
- **rental cost**: what a rental provider billed (`fleet.rentals`) for a trip it served instead of the fleet.

A trip belongs to the month of its China-time start (``started_at``, else its earliest pickup). Shares are in fen,
rounded by the largest-remainder method, so that for every vehicle the month's ledger total equals, to the fen,
what its trips charged to booking agencies plus the holder's remainder. A vehicle belongs to the agency that held
it at the end of the month (`fleet.queries.holders_on`), as in the annual report.

**One agency's statement** covers the agency and its predecessors (agencies merged into it, 机构改革), as the annual
report does: their trips, and the full reconciliation of the vehicles they hold. Of another holder's vehicle that
their trips rode in it lists only what those trips were charged (``charged_in``), never that vehicle's ledger, km or
charges to anyone else. What the agency bears then adds up against what is listed: its vehicle shares plus its
remainder equal its own vehicles' ledgers, less what other agencies' trips were charged for them
(``charged_out_cny``), plus what it was charged in (``charged_in_cny``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from fleet import costs, queries, reorganisation
from fleet.clock import local_date, local_moment
from fleet.enums import TripStatus
from fleet.errors import InvalidInput
from fleet.exports import formulas_as_text
from fleet.i18n import msg
from fleet.models import Agency, Assignment, CostEntry, Trip, Vehicle
from fleet.settings import get_settings

FEN = Decimal("0.01")
ZERO = Decimal("0.00")  # sums start here, so that an empty one still reads 0.00
KmSource = Literal["odometer", "planned", "rental"]
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


# --- the arithmetic (pure) --------------------------------------------------------------------------------------


def allocate(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights`` (non-negative integers, not all zero) into whole fen that add
    up to it exactly: each part is rounded down, and the fen left over go to the largest fractional parts (the
    earlier part first on a tie) — the largest-remainder (Hamilton) method."""
    whole = sum(weights)
    if whole <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative and not all zero")
    parts = [total_fen * w // whole for w in weights]
    left = total_fen - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total_fen * weights[i] % whole), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


def split_ledger(total: Decimal, ledger_metres: int, trip_metres: Sequence[int]) -> tuple[list[Decimal], Decimal]:
    """A vehicle's month ledger split into its trips' shares and the holder's remainder, in CNY to the fen, adding
    up to ``total`` exactly: by metres driven, out of the month's (or the trips' own, when they drove more)."""
    fen = int((total / FEN).to_integral_value(rounding=ROUND_HALF_UP))
    off_trips = max(ledger_metres - sum(trip_metres), 0)
    weights = [*trip_metres, off_trips]
    if sum(weights) == 0:  # no km at all: nothing to split by, the holder keeps its costs
        return [ZERO for _ in trip_metres], Decimal(fen) * FEN
    *shares, rest = (Decimal(part) * FEN for part in allocate(fen, weights))
    return shares, rest


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``."""
    found = _MONTH.match(month.strip())
    if found is None or not 2000 <= int(found.group(1)) <= 2100:
        raise InvalidInput(msg("field 'month': {month} is not a month like 2026-11", month=month), field="month")
    first = date(int(found.group(1)), int(found.group(2)), 1)
    following = (first + timedelta(days=31)).replace(day=1)
    return first, following - timedelta(days=1)


def driver_cost(starts_at: datetime, ends_at: datetime, rate: Decimal) -> Decimal:
    hours = Decimal((ends_at - starts_at).total_seconds()) / 3600
    return (hours * rate).quantize(FEN, rounding=ROUND_HALF_UP)


# --- the statement ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TripCharge:
    """One completed trip, charged to the agency that booked it."""

    trip_id: int
    day: date
    agency: str
    agency_name: str
    plate: str | None
    holder: str | None  # the vehicle's holder; None for a rental
    provider: str | None  # the rental provider that served it instead
    km: float
    km_source: KmSource
    vehicle_cny: Decimal
    driver_cny: Decimal
    rental_cny: Decimal

    @property
    def total_cny(self) -> Decimal:
        return self.vehicle_cny + self.driver_cny + self.rental_cny


@dataclass(frozen=True)
class VehicleBalance:
    """One vehicle's month: ledger = charged to its trips' booking agencies + the holder's unallocated remainder."""

    vehicle_id: int
    plate: str
    holder: str
    ledger_cny: Decimal
    ledger_km: int
    trips: int
    trips_km: float
    charged_cny: Decimal
    unallocated_cny: Decimal

    @property
    def balanced(self) -> bool:
        return self.ledger_cny == self.charged_cny + self.unallocated_cny


@dataclass(frozen=True)
class VehicleCharge:
    """Another holder's vehicle in one agency's statement: only what that agency's trips in it were charged."""

    plate: str
    holder: str
    trips: int
    trips_km: float
    charged_cny: Decimal


@dataclass(frozen=True)
class AgencyTotals:
    """What an agency's trips were charged, and the remainder of the vehicles it holds."""

    agency: str
    name: str
    trips: int
    vehicle_cny: Decimal
    driver_cny: Decimal
    rental_cny: Decimal
    unallocated_cny: Decimal

    @property
    def total_cny(self) -> Decimal:
        return self.vehicle_cny + self.driver_cny + self.rental_cny


@dataclass(frozen=True)
class Reconciliation:
    """The listed vehicles' ledgers = what their trips were charged + their holders' remainders. In one agency's
    statement, also what other agencies' trips were charged for its vehicles (``charged_out_cny``, part of
    ``charged_cny``) and what its trips were charged for others' vehicles (``charged_in_cny``)."""

    ledger_cny: Decimal
    charged_cny: Decimal
    unallocated_cny: Decimal
    charged_out_cny: Decimal = ZERO
    charged_in_cny: Decimal = ZERO

    @property
    def balanced(self) -> bool:
        return self.ledger_cny == self.charged_cny + self.unallocated_cny


@dataclass
class Statement:
    month: str
    first_day: date
    last_day: date
    agency: str | None
    driver_cost_cny_per_hour: Decimal
    trips: list[TripCharge] = field(default_factory=list)
    agencies: list[AgencyTotals] = field(default_factory=list)
    vehicles: list[VehicleBalance] = field(default_factory=list)
    charged_in: list[VehicleCharge] = field(default_factory=list)  # one agency's: others' vehicles its trips rode in
    charged_out_cny: Decimal = ZERO  # one agency's: its vehicles' shares charged to other agencies' trips

    @property
    def totals(self) -> AgencyTotals:
        return AgencyTotals(
            agency=self.agency or "", name="", trips=len(self.trips),
            vehicle_cny=sum((t.vehicle_cny for t in self.trips), ZERO),
            driver_cny=sum((t.driver_cny for t in self.trips), ZERO),
            rental_cny=sum((t.rental_cny for t in self.trips), ZERO),
            unallocated_cny=sum((a.unallocated_cny for a in self.agencies), ZERO))

    @property
    def reconciliation(self) -> Reconciliation:
        """The listed vehicles' ledgers against what their trips charged (to any agency) and their remainders."""
        return Reconciliation(ledger_cny=sum((v.ledger_cny for v in self.vehicles), ZERO),
                              charged_cny=sum((v.charged_cny for v in self.vehicles), ZERO),
                              unallocated_cny=sum((v.unallocated_cny for v in self.vehicles), ZERO),
                              charged_out_cny=self.charged_out_cny,
                              charged_in_cny=sum((v.charged_cny for v in self.charged_in), ZERO))

    @property
    def adds_up(self) -> bool:
        """What the statement's agencies bear for vehicles (their trips' shares and their remainders) equals the
        listed vehicles' ledgers, less what was charged out, plus what was charged in."""
        r, t = self.reconciliation, self.totals
        return t.vehicle_cny + t.unallocated_cny == r.ledger_cny - r.charged_out_cny + r.charged_in_cny


def _month_trips(session: Session, start: datetime, end: datetime) -> list[Trip]:
    """Completed trips that started (or, never started by a driver — a rental —, were to be picked up) in
    [start, end)."""
    return list(session.scalars(
        sa.select(Trip).options(selectinload(Trip.agency), selectinload(Trip.rental_provider),
                                selectinload(Trip.assignment).selectinload(Assignment.vehicle))
        .where(Trip.status == TripStatus.completed, sa.or_(
            sa.and_(Trip.started_at.is_not(None), Trip.started_at >= start, Trip.started_at < end),
            sa.and_(Trip.started_at.is_(None), Trip.earliest_pickup >= start, Trip.earliest_pickup < end)))
        .order_by(Trip.id)))


def _km(trip: Trip) -> tuple[float, KmSource]:
    if trip.odometer_start_km is not None and trip.odometer_end_km is not None:
        return float(trip.odometer_end_km - trip.odometer_start_km), "odometer"
    if trip.rental_km is not None:
        return trip.rental_km, "rental"
    return round(trip.planned_km, 3), "planned"


def statement(session: Session, *, month: str, agency: str | None = None) -> Statement:
    """The month's statement: every completed trip charged to its booking agency, the agencies' totals, and each
    vehicle's reconciliation. Given ``agency``: only its and its predecessors' trips, the reconciliation of the
    vehicles they hold, and of other holders' vehicles only what their trips were charged."""
    first, last = month_bounds(month)
    scope = queries.agency_by_code(session, agency, field="agency") if agency is not None else None
    rate = get_settings().driver_cost_cny_per_hour
    start, end = local_moment(first), local_moment(last + timedelta(days=1))
    trips = _month_trips(session, start, end)

    by_vehicle: dict[int, list[Trip]] = defaultdict(list)
    for trip in trips:
        if trip.assignment is not None:
            by_vehicle[trip.assignment.vehicle_id].append(trip)
    costed = set(session.scalars(sa.select(CostEntry.vehicle_id).where(CostEntry.incurred_on.between(first, last))
                                 .distinct()))
    vehicle_ids = sorted(set(by_vehicle) | costed)
    ledgers = costs.accounts(session, vehicle_ids, first, last)
    fleet = {v.id: v for v in session.scalars(sa.select(Vehicle).where(Vehicle.id.in_(vehicle_ids)))} \
        if vehicle_ids else {}
    holder_ids = queries.holders_on(session, {v: min(last, v.disposed_on or last) for v in fleet.values()}) \
        if fleet else {}
    agencies = {a.id: a for a in session.scalars(sa.select(Agency))}

    km = {t.id: _km(t) for t in trips}
    share: dict[int, Decimal] = {}
    balances: list[VehicleBalance] = []
    for vid in vehicle_ids:
        ridden = by_vehicle.get(vid, [])
        ledger = ledgers[vid]
        shares, rest = split_ledger(ledger.total, ledger.km * 1000, [round(km[t.id][0] * 1000) for t in ridden])
        share.update({t.id: s for t, s in zip(ridden, shares, strict=True)})
        balances.append(VehicleBalance(
            vehicle_id=vid, plate=fleet[vid].plate, holder=agencies[holder_ids[vid]].code,
            ledger_cny=ledger.total.quantize(FEN), ledger_km=ledger.km, trips=len(ridden),
            trips_km=round(sum(km[t.id][0] for t in ridden), 3), charged_cny=sum(shares, ZERO),
            unallocated_cny=rest))

    charges: list[TripCharge] = []
    for trip in trips:
        held = trip.assignment
        ridden_in = held.vehicle_id if held is not None else None
        rented = trip.rental_provider is not None and held is None
        charges.append(TripCharge(
            trip_id=trip.id, day=local_date(trip.started_at or trip.earliest_pickup), agency=trip.agency.code,
            agency_name=trip.agency.name, plate=fleet[ridden_in].plate if ridden_in is not None else None,
            holder=agencies[holder_ids[ridden_in]].code if ridden_in is not None else None,
            provider=trip.rental_provider.code if rented and trip.rental_provider else None,
            km=km[trip.id][0], km_source=km[trip.id][1],
            vehicle_cny=share.get(trip.id, ZERO),
            driver_cny=driver_cost(held.starts_at, held.ends_at, rate) if held is not None and held.driver_id
            else ZERO,
            rental_cny=(trip.rental_cost_cny or ZERO).quantize(FEN) if rented else ZERO))

    totals = _agency_totals(charges, balances, agencies)
    found = Statement(month=f"{first:%Y-%m}", first_day=first, last_day=last, agency=scope.code if scope else None,
                      driver_cost_cny_per_hour=rate, trips=charges, agencies=totals, vehicles=balances)
    if scope is not None:
        _keep_to(found, scope, {agencies[i].code for i in reorganisation.lineage_ids(session, scope.id)}, share,
                 {t.id: t for t in trips})
    return found


def _keep_to(found: Statement, scope: Agency, codes: set[str], share: dict[int, Decimal],
             trips: dict[int, Trip]) -> None:
    """Narrow a whole-platform statement to one agency and its predecessors (``codes``): their trips and totals,
    their own vehicles' reconciliation, and of others' vehicles only what their trips were charged."""
    own = [b for b in found.vehicles if b.holder in codes]
    own_ids = {b.vehicle_id for b in own}
    charged_in: dict[str, list[TripCharge]] = defaultdict(list)
    for c in found.trips:
        if c.agency in codes and c.plate is not None and c.holder not in codes:
            charged_in[c.plate].append(c)
    found.charged_in = [VehicleCharge(plate=plate, holder=rows[0].holder or "", trips=len(rows),
                                      trips_km=round(sum(c.km for c in rows), 3),
                                      charged_cny=sum((c.vehicle_cny for c in rows), ZERO))
                        for plate, rows in sorted(charged_in.items())]
    found.charged_out_cny = sum((share.get(t.id, ZERO) for t in trips.values()
                                 if t.assignment is not None and t.assignment.vehicle_id in own_ids
                                 and t.agency.code not in codes), ZERO)
    found.trips = [c for c in found.trips if c.agency in codes]
    found.vehicles = own
    found.agencies = [a for a in found.agencies if a.agency in codes]
    if not any(a.agency == scope.code for a in found.agencies):
        found.agencies = sorted([*found.agencies, AgencyTotals(scope.code, scope.name, 0, *(ZERO,) * 4)],
                                key=lambda a: a.agency)


def _agency_totals(charges: Sequence[TripCharge], balances: Sequence[VehicleBalance],
                   agencies: dict[int, Agency]) -> list[AgencyTotals]:
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO])
    count: dict[str, int] = defaultdict(int)
    for c in charges:
        row = sums[c.agency]
        row[0] += c.vehicle_cny
        row[1] += c.driver_cny
        row[2] += c.rental_cny
        count[c.agency] += 1
    for b in balances:
        sums[b.holder][3] += b.unallocated_cny
    names = {a.code: a.name for a in agencies.values()}
    return [AgencyTotals(code, names[code], count[code], *sums[code]) for code in sorted(sums)]


# --- the spreadsheet ------------------------------------------------------------------------------------------------

TRIP_HEADINGS = ("单号", "日期", "用车单位", "单位代码", "车牌", "车辆所属单位", "租赁企业", "里程(km)", "里程来源",
                 "车辆费用(元)", "驾驶员费用(元)", "租赁费用(元)", "合计(元)")
AGENCY_HEADINGS = ("单位代码", "单位名称", "行程数", "车辆费用(元)", "驾驶员费用(元)", "租赁费用(元)", "合计(元)",
                   "自有车辆未分摊(元)")
VEHICLE_HEADINGS = ("车牌", "所属单位", "当月账面费用(元)", "当月里程(km)", "行程数", "行程里程(km)",
                    "分摊至用车单位(元)", "所属单位未分摊(元)", "平衡")
CHARGED_IN_HEADINGS = ("车牌", "所属单位", "本单位行程数", "本单位行程里程(km)", "分摊至本单位(元)")
_KM_SOURCES = {"odometer": "里程表", "planned": "计划里程", "rental": "租赁结算"}


def write_xlsx(report: Statement, out: IO[bytes]) -> None:
    """The statement as a workbook with Chinese headings: the trips charged, the agencies' totals, the
    reconciliation per vehicle (and, for one agency, what it was charged for other holders' vehicles); each table
    closes with a total row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    book = Workbook()
    trips = book.active
    assert trips is not None
    trips.title = "费用明细"
    trips.append([f"{report.month} 公务用车统一核算 {report.agency or '全部单位'}"])
    trips.append(list(TRIP_HEADINGS))
    for c in report.trips:
        trips.append([c.trip_id, c.day, c.agency_name, c.agency, c.plate, c.holder, c.provider, c.km,
                      _KM_SOURCES[c.km_source], c.vehicle_cny, c.driver_cny, c.rental_cny, c.total_cny])
    t = report.totals
    trips.append(["合计", None, None, None, None, None, None, round(sum(c.km for c in report.trips), 3), None,
                  t.vehicle_cny, t.driver_cny, t.rental_cny, t.total_cny])
    bolded = [(trips, 2), (trips, trips.max_row)]
    agencies = book.create_sheet("单位汇总")
    agencies.append(list(AGENCY_HEADINGS))
    for a in report.agencies:
        agencies.append([a.agency, a.name, a.trips, a.vehicle_cny, a.driver_cny, a.rental_cny, a.total_cny,
                         a.unallocated_cny])
    agencies.append(["合计", None, t.trips, t.vehicle_cny, t.driver_cny, t.rental_cny, t.total_cny,
                     t.unallocated_cny])
    bolded += [(agencies, 1), (agencies, agencies.max_row)]
    vehicles = book.create_sheet("车辆对账")
    vehicles.append(list(VEHICLE_HEADINGS))
    for v in report.vehicles:
        vehicles.append([v.plate, v.holder, v.ledger_cny, v.ledger_km, v.trips, v.trips_km, v.charged_cny,
                         v.unallocated_cny, "是" if v.balanced else "否"])
    r = report.reconciliation
    vehicles.append(["合计", None, r.ledger_cny, sum(v.ledger_km for v in report.vehicles),
                     sum(v.trips for v in report.vehicles), None, r.charged_cny, r.unallocated_cny,
                     "是" if r.balanced else "否"])
    bolded += [(vehicles, 1), (vehicles, vehicles.max_row)]
    vehicles.append([f"对账: 账面费用 {r.ledger_cny} = 分摊 {r.charged_cny} + 未分摊 {r.unallocated_cny}"])
    if report.agency is not None:
        vehicles.append([f"本单位: 自有车辆账面费用 {r.ledger_cny} − 分摊至其他单位 {r.charged_out_cny} "
                         f"+ 使用其他单位车辆 {r.charged_in_cny} = 车辆费用 {t.vehicle_cny} "
                         f"+ 未分摊 {t.unallocated_cny}{'' if report.adds_up else ' (不平衡)'}"])
        charged_in = book.create_sheet("使用其他单位车辆")
        charged_in.append(list(CHARGED_IN_HEADINGS))
        for used in report.charged_in:
            charged_in.append([used.plate, used.holder, used.trips, used.trips_km, used.charged_cny])
        charged_in.append(["合计", None, sum(u.trips for u in report.charged_in),
                           round(sum(u.trips_km for u in report.charged_in), 3), r.charged_in_cny])
        bolded += [(charged_in, 1), (charged_in, charged_in.max_row)]
    for sheet, row in bolded:
        for cell in sheet[row]:
            cell.font = bold
    for cells in trips.iter_rows(min_row=3, max_col=2):
        cells[1].number_format = "yyyy-mm-dd"
    for sheet in book.worksheets:
        formulas_as_text(sheet)
    book.save(out)
