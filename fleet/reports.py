"""The annual statistics report (年度统计报告) of a jurisdiction (with its sub-jurisdictions) or of an agency
(with its sub-agencies): fleet composition, quota use, additions and their new-energy share, disposals and
proceeds, mileage, and costs per vehicle and per km. Exported as JSON, CSV (one block per table) or XLSX.

A report describes the year as it was: vehicles belong to the agency that held them on 31 December (or on the
day they were disposed of), whatever transfers came later, and quotas are read off their history at the end of
the year (China Standard Time). A vehicle's costs and km of the year go to that same holder.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import clock, costs, queries
from fleet.audit import jsonable
from fleet.clock import CHINA
from fleet.enums import Category, CostKind, PlanStatus, Powertrain
from fleet.errors import InvalidInput
from fleet.exports import csv_text, formulas_as_text
from fleet.i18n import msg
from fleet.models import Agency, Disposal, Plan, PlanLine, Vehicle

Format = Literal["json", "csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("json", "csv", "xlsx")


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class AnnualReport:
    year: int
    scope: str
    scope_name: str
    summary: dict[str, Any]
    tables: list[Table]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def to_json(self) -> str:
        body = {
            "report": "annual", "year": self.year, "scope": self.scope, "scope_name": self.scope_name,
            "generated_at": clock.now().astimezone(UTC).isoformat(timespec="seconds"), "summary": self.summary,
            "tables": {t.name: {"title": t.title, "rows": [dict(zip(t.columns, r, strict=True)) for r in t.rows]}
                       for t in self.tables},
        }
        return json.dumps(jsonable(body), ensure_ascii=False, indent=2)

    def to_csv(self) -> str:
        """One block per table (``section`` first in every row), blocks separated by a blank line."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "metric", "value"])
        for key, value in self.summary.items():
            writer.writerow(["summary", key, csv_text(jsonable(value))])
        for t in self.tables:
            writer.writerow([])
            writer.writerow(["section", *t.columns])
            for row in t.rows:
                writer.writerow([t.name, *(csv_text(jsonable(v)) for v in row)])
        return out.getvalue()

    def to_xlsx(self) -> bytes:
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        sheet = book.active
        sheet.title = "summary"
        sheet.append([f"{self.scope_name} {self.year} 年度公务用车统计报告"])
        sheet["A1"].font = Font(bold=True, size=14)
        for key, value in self.summary.items():
            sheet.append([key, _cell(value)])
        for t in self.tables:
            ws = book.create_sheet(t.name[:31])
            ws.append([t.title])
            ws["A1"].font = Font(bold=True)
            ws.append(t.columns)
            for cell in ws[2]:
                cell.font = Font(bold=True)
            for row in t.rows:
                ws.append([_cell(v) for v in row])
        for ws in book.worksheets:
            formulas_as_text(ws)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    def write(self, path: Path, fmt: Format) -> None:
        if fmt == "xlsx":
            path.write_bytes(self.to_xlsx())
        else:
            path.write_text(self.to_json() if fmt == "json" else self.to_csv(), encoding="utf-8")


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str | int | float) or value is None:
        return value
    return str(jsonable(value))


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def annual_report(session: Session, *, year: int, jurisdiction: str | None = None,
                  agency: str | None = None) -> AnnualReport:
    """Build the report for ``year``: give exactly one of ``jurisdiction`` or ``agency`` (codes)."""
    if (jurisdiction is None) == (agency is None):
        raise InvalidInput(msg("name exactly one of jurisdiction or agency"), field="jurisdiction")
    if jurisdiction is not None:
        j = queries.jurisdiction_by_code(session, jurisdiction)
        policy_home = j
        jids = queries.jurisdiction_subtree_ids(session, j)
        agencies = list(session.scalars(sa.select(Agency).where(Agency.jurisdiction_id.in_(jids))
                                        .order_by(Agency.code)))
        scope, scope_name = f"jurisdiction:{j.code}", j.name
    else:
        root = queries.agency_by_code(session, agency or "")
        policy_home = root.jurisdiction
        agencies = _agency_subtree(session, root)
        scope, scope_name = f"agency:{root.code}", root.name
    policy = queries.policy_for(session, policy_home)
    agency_ids = [a.id for a in agencies]
    start, end = date(year, 1, 1), date(year, 12, 31)

    in_scope = set(agency_ids)
    candidates = queries.vehicles_touching(session, agency_ids)
    holder = queries.holders_on(session, {v: min(end, v.disposed_on or end) for v in candidates})
    vehicles = [v for v in candidates if holder[v.id] in in_scope]
    held = [v for v in vehicles if v.acquired_on <= end and (v.disposed_on is None or v.disposed_on > end)]
    in_use_during = [v for v in vehicles if v.acquired_on <= end and (v.disposed_on is None or v.disposed_on >= start)]

    fleet = Table("fleet", "车辆构成 vehicles held at year end by category and powertrain",
                  ["category", "category_zh", "powertrain", "powertrain_zh", "new_energy", "vehicles"])
    composition = Counter((v.category, v.powertrain) for v in held)
    for (cat, pt), n in sorted(composition.items()):
        fleet.rows.append([cat, cat.zh, pt, pt.zh, policy.is_new_energy(pt), n])

    quota_use = Table("quota_use", "编制使用 quota use by agency and category",
                      ["agency", "agency_name", "category", "quota", "held", "use_pct", "over_quota"])
    counted = [v for v in held if v.under_quota]
    held_by = Counter((holder[v.id], v.category) for v in counted)
    quotas = queries.quota_limits_on(session, agency_ids, datetime.combine(end, time.max, tzinfo=CHINA))
    for a in agencies:
        for cat in Category:
            limit, n = quotas.get((a.id, cat)), held_by.get((a.id, cat), 0)
            if limit is None and n == 0:
                continue
            lim = limit or 0
            quota_use.rows.append([a.code, a.name, cat, lim, n, _pct(n, lim), n > lim])

    additions = [v for v in vehicles if start <= v.acquired_on <= end]
    added = Table("additions", "新增及更新 vehicles acquired in the year",
                  ["category", "powertrain", "new_energy", "vehicles", "spend_cny"])
    by_kind: dict[tuple[Category, Powertrain], list[Vehicle]] = defaultdict(list)
    for v in additions:
        by_kind[(v.category, v.powertrain)].append(v)
    for (cat, pt), vs in sorted(by_kind.items()):
        added.rows.append([cat, pt, policy.is_new_energy(pt), len(vs), sum((v.price_cny for v in vs), Decimal(0))])
    nev_added = sum(1 for v in additions if policy.is_new_energy(v.powertrain))

    plan_rows = session.execute(
        sa.select(Plan.status, sa.func.count(sa.distinct(Plan.id)), sa.func.coalesce(sa.func.sum(PlanLine.count), 0))
        .join(PlanLine).where(Plan.agency_id.in_(agency_ids), Plan.year == year).group_by(Plan.status)
    ).all()
    plans_table = Table("plans", "配备更新计划 plans of the year by status",
                        ["status", "status_zh", "plans", "vehicles"])
    for status, n_plans, n_vehicles in sorted(plan_rows, key=lambda r: list(PlanStatus).index(r[0])):
        plans_table.rows.append([status, status.zh, n_plans, int(n_vehicles)])

    disposals = session.execute(
        sa.select(Disposal, Vehicle).join(Vehicle).where(Vehicle.id.in_([v.id for v in vehicles]),
                                                         Disposal.disposed_on.between(start, end))
    ).all()
    disp = Table("disposals", "处置 disposals by method", ["method", "method_zh", "vehicles", "proceeds_cny"])
    by_method: dict[Any, list[Decimal]] = defaultdict(list)
    for d, _v in disposals:
        by_method[d.method].append(d.proceeds_cny)
    for method, proceeds in sorted(by_method.items()):
        disp.rows.append([method, method.zh, len(proceeds), sum(proceeds, Decimal(0))])

    account = costs.accounts(session, [v.id for v in in_use_during], start, end)
    spend = Table("costs", "运行费用 operating costs by kind", ["kind", "kind_zh", "amount_cny"])
    totals: dict[CostKind, Decimal] = defaultdict(Decimal)
    for acc in account.values():
        for kind, amount in acc.by_kind.items():
            totals[kind] += amount
    for kind in CostKind:
        if kind in totals:
            spend.rows.append([kind, kind.zh, totals[kind]])
    total_cost = sum(totals.values(), Decimal(0))
    total_km = sum(acc.km for acc in account.values())

    by_cat = Table("cost_by_category", "单车核算 per-vehicle accounting by category",
                   ["category", "vehicles", "km", "cost_cny", "cost_per_vehicle_cny", "cost_per_km_cny"])
    cat_of = {v.id: v.category for v in in_use_during}
    cat_sum: dict[Category, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for vid, acc in account.items():
        s = cat_sum[cat_of[vid]]
        s[0], s[1], s[2] = s[0] + 1, s[1] + acc.km, s[2] + acc.total
    for cat, (n, km, cost) in sorted(cat_sum.items()):
        by_cat.rows.append([cat, n, km, cost, (cost / n).quantize(Decimal("0.01")) if n else None,
                            (cost / km).quantize(Decimal("0.01")) if km else None])

    top = Table("top_cost_per_km", "单车成本最高 vehicles with the highest cost per km (>= 1,000 km)",
                ["plate", "agency", "category", "powertrain", "km", "cost_cny", "cost_per_km_cny"])
    by_id = {v.id: v for v in in_use_during}
    codes = {a.id: a.code for a in agencies}
    ranked = sorted((acc for acc in account.values() if acc.km >= 1000 and acc.per_km is not None),
                    key=lambda acc: (-(acc.per_km or 0), by_id[acc.vehicle_id].plate))
    for acc in ranked[:15]:
        v = by_id[acc.vehicle_id]
        top.rows.append([v.plate, codes[holder[v.id]], v.category, v.powertrain, acc.km, acc.total, acc.per_km])

    exceptions = Table("registered_by_exception",
                       "登记例外 vehicles registered outside the registration rules (acquired after go-live or above "
                       "the equipment standard), with the recorded basis",
                       ["plate", "agency", "category", "powertrain", "acquired_on", "price_cny", "basis", "basis_zh",
                        "note"])
    for v in sorted((v for v in in_use_during if v.registration_basis is not None), key=lambda v: v.plate):
        assert v.registration_basis is not None
        exceptions.rows.append([v.plate, codes[holder[v.id]], v.category, v.powertrain, v.acquired_on, v.price_cny,
                                v.registration_basis, v.registration_basis.zh, v.registration_note])

    quota_total = sum(quotas.values())
    summary = {
        "agencies": len(agencies),
        "vehicles_held": len(held),
        "quota_total": quota_total,
        "quota_use_pct": _pct(len(counted), quota_total),
        "agencies_over_quota": len({row[0] for row in quota_use.rows if row[6]}),
        "new_energy_held": sum(1 for v in held if policy.is_new_energy(v.powertrain)),
        "additions": len(additions),
        "additions_new_energy": nev_added,
        "additions_new_energy_pct": _pct(nev_added, len(additions)),
        "new_energy_minimum_pct": round(100 * policy.min_new_energy_share(year), 1),
        "disposals": len(disposals),
        "disposal_proceeds_cny": sum((d.proceeds_cny for d, _ in disposals), Decimal(0)),
        "km_driven": total_km,
        "operating_cost_cny": total_cost,
        "cost_per_vehicle_cny": (total_cost / len(in_use_during)).quantize(Decimal("0.01")) if in_use_during else None,
        "cost_per_km_cny": (total_cost / total_km).quantize(Decimal("0.01")) if total_km else None,
        "registered_by_exception": len(exceptions.rows),
    }
    return AnnualReport(year, scope, scope_name, summary,
                        [fleet, quota_use, added, plans_table, disp, spend, by_cat, top, exceptions])


def _agency_subtree(session: Session, root: Agency) -> list[Agency]:
    found, frontier = [root], [root.id]
    while frontier:
        # sub-agencies, and the agencies merged into one (机构改革): a successor's report covers its predecessors
        children = list(session.scalars(sa.select(Agency).where(
            Agency.parent_id.in_(frontier) | Agency.successor_id.in_(frontier),
            Agency.id.not_in([a.id for a in found]))))
        found.extend(children)
        frontier = [c.id for c in children]
    return sorted(found, key=lambda a: a.code)
