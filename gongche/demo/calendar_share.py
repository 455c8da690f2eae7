"""The demo's checks on two slow-moving facts: which years the usage audit's holiday calendar covers (and whether
the coming weeks fall outside them), and the new-energy share a plan leaves its province (the national plan's unit,
各省(区、市)), before and with the plan, as ``GET /plans/{id}/review`` answers it."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy.orm import Session

from fleet import plans, queries
from fleet.enums import PlanStatus
from fleet.usage_audit import calendar_health, configured_rules


def _pct(counts: tuple[int, int]) -> str:
    share = plans.ShareReview.share(counts)
    return f"{counts[0]} of {counts[1]}" + ("" if share is None else f" ({share:.1%})")


def run(session: Session, console: Console, *, today: date) -> None:
    health = calendar_health(configured_rules().calendar, today)
    console.print(f"Holiday calendar (State Council, chinese-calendar + rules file) covers [bold]{health['years']}"
                  f"[/]; today {today} covered: {health['today_covered']}", highlight=False)
    if "warning" in health:
        console.print(f"[yellow]/healthz warns:[/] {health['warning']}", highlight=False)

    approved = queries.plans_page(session, limit=50, year=today.year, status=PlanStatus.approved).rows
    if not approved:
        return
    plan = approved[-1]
    review = plans.review_plan(session, plan)
    share = review.share
    table = RichTable(title=f"New-energy share of plan {plan.id} ({plan.agency.code}) over {share.scope.name} "
                            f"({share.scope.code}), {share.year}")
    for column in ("approved so far", "with this plan", "minimum", "kept"):
        table.add_column(column)
    table.add_row(_pct(share.approved), _pct(share.with_plan), f"{share.minimum:.0%}", "yes" if share.met else "no")
    console.print(table)
