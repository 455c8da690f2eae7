"""The demo's booking day, over real HTTP: the API server runs in a thread on the demo database and every step
goes through it as its user would — requesters book, approvers decide, the dispatcher dispatches and places an
emergency, drivers drive, the supervisor audits.

Tonight's bookings are made now; tomorrow is driven at tomorrow's hours: the platform's clock
(`fleet.clock.travel`, which the server's threads in this process read too) is moved to each start and completion
as it happens, so that no time is sent that is not "now".
"""

from __future__ import annotations

import random
import threading
import time as clock
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from api.app import create_app
from dispatch.synthetic import city_instance
from fleet import audit, users
from fleet import clock as platform_clock
from fleet.audit import Actor
from fleet.clock import CHINA
from fleet.db import unit_of_work
from fleet.enums import Category, Role, VehicleStatus
from fleet.models import Agency, Driver, Vehicle
from fleet.settings import audit_key, get_settings
from gongche.demo.city import EAST_LAKE

SETUP = Actor("demo-setup", "admin")


@contextmanager
def serving(engine: Engine) -> Iterator[str]:
    """Run the API on a free local port in a background thread; yields its base URL."""
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        clock.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_users(engine: Engine) -> tuple[dict[str, str], dict[str, list[str]]]:
    """One requester and one approver per agency, a dispatcher, a supervisor, an admin, a driver user."""
    tokens: dict[str, str] = {}
    holders: dict[str, list[str]] = {}
    with unit_of_work(engine) as session:
        for code, category in session.execute(
                sa.select(Agency.code, Vehicle.category).join(Vehicle, Vehicle.agency_id == Agency.id)
                .where(Vehicle.status == VehicleStatus.active).distinct()):
            holders.setdefault(category.value, []).append(code)
        for code in sorted({c for codes in holders.values() for c in codes}):
            for role in (Role.requester, Role.approver):
                tokens[f"{role.value}:{code}"] = users.add_user(
                    session, SETUP, name=f"{role.value}-{code}", role=role, agency=code)[1]
        driver = session.scalar(sa.select(Driver).where(Driver.active).order_by(Driver.id))
        for role in (Role.dispatcher, Role.supervisor, Role.admin):
            tokens[role.value] = users.add_user(session, SETUP, name=f"demo-{role.value}", role=role)[1]
        if driver is not None:
            tokens["driver"] = users.add_user(session, SETUP, name=f"driver-{driver.id}", role=Role.driver,
                                              driver_id=driver.id)[1]
    return tokens, holders


def run(engine: Engine, console: Console, *, today: date, out_dir: Path, seed: int = 2026) -> bool:
    """Tomorrow's bookings through the API, dispatched, driven and audited. Returns whether the audit verifies."""
    day = today + timedelta(days=1)
    rng = random.Random(seed)
    tokens, holders = make_users(engine)
    with serving(engine) as base, httpx.Client(base_url=f"{base}/api/v1", timeout=120) as http:
        def call(method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[who]}", **kwargs.pop("headers", {})}
            answer = http.request(method, url, headers=headers, **kwargs)
            if answer.status_code >= 400:  # the demo's requests are all valid: any refusal is a bug to show
                raise RuntimeError(f"{method} {url} as {who}: {answer.status_code} {answer.text}")
            return answer

        started = clock.perf_counter()
        with console.status("Booking tomorrow's trips through the API…"):
            booked = _book_day(call, rng, holders, day)
        seconds = clock.perf_counter() - started
        statuses = Counter(t["status"] for t in booked)
        console.print(f"[bold]Booking API[/] at {base}: {len(booked)} trips booked for {day} in {seconds:.1f} s "
                      f"({len(booked) / seconds:.0f}/s, one client sharing the process with the server); "
                      f"approvers approved {statuses['approved']}, rejected {statuses['rejected']}; "
                      f"{statuses['assigned']} emergencies placed at booking")

        window = {"start": datetime.combine(day, time(0), CHINA).isoformat(),
                  "end": datetime.combine(day + timedelta(days=1), time(0), CHINA).isoformat(), "time_limit": 5}
        with console.status("POST /dispatch (OR-Tools, 5 s)…"):
            run_out = call("POST", "/dispatch", "dispatcher", json=window).json()
        _show_run(console, run_out)

        at = datetime.combine(day, time(10, 0), CHINA)
        body = _trip(rng, "emergency", ["emergency"], holders, at, purpose="暴雨内涝抢险 (urgent)")
        r = call("POST", "/trips", "dispatcher", json={**body, "priority_reason": "暴雨致道路积水，需紧急转移群众",
                                                       "approval_basis": f"{body['agency']} 负责人电话同意"})
        urgent = r.json()
        placed = urgent["urgent"]
        console.print(f"Urgent emergency {urgent['id']} at 10:00 answered with [bold]{placed['vehicle']}[/] in "
                      f"{placed['milliseconds']:.0f} ms (the running day kept live in the server since its first "
                      "placement, brought up to date from the audit log)"
                      + (f", displacing trips {placed['displaced']}" if placed["displaced"] else ""))

        with console.status("Drivers start and complete the day's trips (odometers)…"):
            driven, planted = _drive_day(call, rng, day)
        console.print(f"{driven} trips driven and closed with odometer readings; planted for the audit to find: "
                      + "; ".join(planted))

        slip = call("GET", f"/trips/{urgent['id']}/slip", "dispatcher", params={"format": "html"})
        slip_path = out_dir / f"slip-{urgent['id']}.html"
        slip_path.write_text(slip.text, encoding="utf-8")

        since = datetime.combine(day - timedelta(days=1), time(0), CHINA).isoformat()
        until = datetime.combine(day + timedelta(days=1), time(0), CHINA).isoformat()
        findings = call("GET", "/violations", "supervisor",
                        params={"since": since, "until": until, "limit": 200}).json()["items"]
        _show_findings(console, findings)

        settings = get_settings()
        with unit_of_work(engine, readonly=True) as session:
            point = audit.write_checkpoint(session, settings.audit_checkpoint_file, audit_key(settings))
        verified = call("GET", "/audit/verify", "supervisor").json()
    style = "green" if verified["ok"] else "bold red"
    console.print(f"Dispatch slip (派车单) written to {slip_path}; audit checkpoint #{point.seq} signed into "
                  f"{settings.audit_checkpoint_file}")
    console.print(f"[{style}]GET /audit/verify: {'intact' if verified['ok'] else verified['reason']} — "
                  f"{verified['records']} records, head #{verified['head_seq']}, checked against checkpoint "
                  f"#{(verified['checkpoint'] or {}).get('seq')}[/]")
    return bool(verified["ok"])


def _trip(rng: random.Random, priority: str, categories: list[str], holders: dict[str, list[str]], at: datetime,
          *, purpose: str, pickup: tuple[float, float] | None = None, dropoff: tuple[float, float] | None = None,
          ) -> dict[str, Any]:
    here = pickup or (30.58 + rng.uniform(-0.08, 0.08), 114.30 + rng.uniform(-0.1, 0.1))
    there = dropoff or (here[0] + rng.uniform(-0.06, 0.06), here[1] + rng.uniform(-0.06, 0.06))
    agency = rng.choice([c for cat in categories for c in holders.get(cat, [])] or sorted(holders["general"]))
    return {
        "purpose": purpose, "priority": priority, "categories": categories, "passengers": rng.randint(1, 3),
        "pickup": {"lat": here[0], "lon": here[1], "address": f"上车点 {here[0]:.4f},{here[1]:.4f}"},
        "dropoff": {"lat": there[0], "lon": there[1], "address": f"目的地 {there[0]:.4f},{there[1]:.4f}"},
        "earliest_pickup": at.isoformat(), "latest_pickup": (at + timedelta(minutes=20)).isoformat(),
        "dwell_min": rng.choice((15, 30, 45, 60)), "agency": agency,
    }


_PURPOSES = {"emergency": "应急处置", "law_enforcement": "执法检查", "routine": "公务活动"}


def _book_day(call: Any, rng: random.Random, holders: dict[str, list[str]], day: date) -> list[dict[str, Any]]:
    """The synthetic city's requests for the day, each booked by its agency (emergencies by the dispatcher)."""
    requests = city_instance(300, 400, seed=rng.randint(0, 10**6), day=day)["trips"]
    booked = []
    for k, request in enumerate(requests):
        categories = [c for c in request["categories"] if holders.get(c)]
        if not categories:
            continue
        pickup, dropoff = request["pickup"], request["dropoff"]
        body = _trip(rng, request["priority"], categories, holders, datetime.fromisoformat(request["earliest_pickup"]),
                     purpose=_PURPOSES[request["priority"]], pickup=(pickup["lat"], pickup["lon"]),
                     dropoff=(dropoff["lat"], dropoff["lon"]))
        body["latest_pickup"] = request["latest_pickup"]
        agency = body["agency"]
        if request["priority"] == "emergency":  # phoned in: the agency's approval is its basis, recorded
            booked.append(call("POST", "/trips", "dispatcher", json={
                **body, "priority_reason": "突发事件现场处置",
                "approval_basis": f"{agency} 值班负责人电话同意"}).json())
            continue
        del body["agency"]
        trip = call("POST", "/trips", f"requester:{agency}", json=body,
                    headers={"Idempotency-Key": f"demo-{day}-{k}"}).json()
        # An approver turns down about one routine request in twelve (合并出行 / not official business).
        if request["priority"] == "routine" and rng.random() < 1 / 12:
            trip = call("POST", f"/trips/{trip['id']}/reject", f"approver:{agency}",
                        json={"note": "可与同单位其他行程合并"}).json()
        else:
            trip = call("POST", f"/trips/{trip['id']}/approve", f"approver:{agency}", json={"note": "同意"}).json()
        booked.append(trip)
    return booked


def _show_run(console: Console, run: dict[str, Any]) -> None:
    table = Table(title=f"POST /dispatch run {run['run_id']}: {run['trips']} approved trips, "
                        f"{run['vehicles_available']} vehicles on duty")
    for column in ("priority", "served", "approved", "no plan serves more"):
        table.add_column(column, justify="left" if column == "priority" else "right")
    for priority, served in run["served"].items():
        table.add_row(priority, str(served), str(run["offered"][priority]),
                      str(run["bounds"]["served_upper"][priority]))
    console.print(table)
    console.print(f"{run['vehicles_used']} vehicles used, {run['deadhead_km']:,.0f} empty km (bound "
                  f"{run['bounds']['deadhead_lower_km']:,.0f}); {run['routes_without_driver']} routes left for the "
                  f"agency's own staff to drive; written in short transactions, each "
                  f"assignment re-checked")
    for unserved in run["unserved"][:3]:
        console.print(f"  unserved trip {unserved['trip_id']} ({unserved['priority']}): {unserved['reason']}")


def _drive_day(call: Any, rng: random.Random, day: date) -> tuple[int, list[str]]:
    """Drive the first assigned trips of the day, each start and completion at its own hour of the day (the
    platform's clock moved there); plant one of each kind of misuse the audit looks for."""
    page = call("GET", "/trips", "dispatcher", params={"status": "assigned", "limit": 200}).json()["items"]
    trips = sorted(page, key=lambda t: t["assignment"]["starts_at"])[:120]
    events = _drive_events(trips, rng)
    odometer: dict[int, int] = {}
    planted: list[str] = []
    closed: set[int] = set()  # vehicles with a completed trip: a gap shows only between two of them
    gap_planted = False
    reading: dict[int, tuple[int, int]] = {}  # trip id -> (start km, km driven)
    for moment, step, k in events:
        trip = trips[k]
        vehicle = trip["assignment"]["vehicle_id"]
        with platform_clock.travel(moment):
            if step == "complete":
                start_km, driven_km = reading[trip["id"]]
                call("POST", f"/trips/{trip['id']}/complete", "dispatcher", json={"odometer_km": start_km + driven_km})
                odometer[vehicle] = start_km + driven_km
                closed.add(vehicle)
                continue
            if vehicle not in odometer:
                odometer[vehicle] = call("GET", f"/vehicles/{vehicle}", "admin").json()["odometer_km"]
            approach = rng.randint(1, 8)
            if vehicle in closed and not gap_planted:  # 无单出车: 60 km between two of its trips, with no booking
                approach += 60
                gap_planted = True
                planted.append(f"an unbooked 60 km before trip {trip['id']}")
            start_km = odometer[vehicle] + approach
            driven_km = max(1, round(trip["planned_km"] * rng.uniform(0.95, 1.15)))
            if k == 11:  # a detour: three times the planned route
                driven_km = round(trip["planned_km"] * 3) + 10
                planted.append(f"trip {trip['id']} driven {driven_km} km against {trip['planned_km']:.0f} planned")
            call("POST", f"/trips/{trip['id']}/start", "dispatcher", json={"odometer_km": start_km})
            reading[trip["id"]] = (start_km, driven_km)
    # A routine car out for an evening "survey" (调研) that ends at the East Lake scenic area, booked that
    # afternoon by the dispatcher on its agency's phoned approval.
    evening = datetime.combine(day, time(20, 30), CHINA)
    general = call("GET", "/vehicles", "admin", params={"category": Category.general.value, "status": "active",
                                                        "limit": 1}).json()["items"][0]
    body = _trip(rng, "routine", ["general"], {"general": [general["agency"]]}, evening, purpose="调研",
                 dropoff=EAST_LAKE)
    with platform_clock.travel(evening - timedelta(hours=3)):
        trip = call("POST", "/trips", "dispatcher", json={
            **body, "approval_basis": f"{general['agency']} 办公室主任电话同意"}).json()
        call("POST", f"/trips/{trip['id']}/assign", "dispatcher", json={"vehicle_id": general["id"]})
    start_km = general["odometer_km"] + 6
    with platform_clock.travel(evening):
        call("POST", f"/trips/{trip['id']}/start", "dispatcher", json={"odometer_km": start_km})
    with platform_clock.travel(evening + timedelta(hours=2)):
        call("POST", f"/trips/{trip['id']}/complete", "dispatcher",
             json={"odometer_km": start_km + round(trip["planned_km"]) + 1})
    planted.append(f"trip {trip['id']}, a routine car at 20:30 ending at East Lake")
    return len(trips) + 1, planted


def _drive_events(trips: list[dict[str, Any]], rng: random.Random) -> list[tuple[datetime, str, int]]:
    """Each trip's start (at its planned pickup) and completion (around its planned end, a few minutes either way,
    but before its vehicle's next pickup), in the order they happen: (moment, "start" | "complete", trip index)."""
    events: list[tuple[datetime, str, int]] = []
    next_pickup: dict[int, datetime] = {}
    for k in reversed(range(len(trips))):  # trips are in pickup order: walk back to know each vehicle's next one
        holding = trips[k]["assignment"]
        starts, ends = (datetime.fromisoformat(holding[key]) for key in ("starts_at", "ends_at"))
        done = ends + timedelta(minutes=rng.randint(-5, 10))
        later = next_pickup.get(holding["vehicle_id"])
        done = max(starts + timedelta(minutes=1), min(done, later) if later else done)
        events += [(starts, "start", k), (done, "complete", k)]
        next_pickup[holding["vehicle_id"]] = starts
    # At one instant a completion comes before a start (the vehicle's next trip), and a start before a later index.
    return sorted(events, key=lambda e: (e[0], e[1] != "complete", e[2]))


def _show_findings(console: Console, findings: list[dict[str, Any]]) -> None:
    kinds = Counter(f["kind"] for f in findings)
    table = Table(title=f"GET /violations: {len(findings)} findings "
                        f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    for column in ("kind", "vehicle", "trip", "finding"):
        table.add_column(column)
    shown: Counter[str] = Counter()
    for finding in findings:
        if shown[finding["kind"]] >= 2:
            continue
        shown[finding["kind"]] += 1
        table.add_row(finding["kind"], finding.get("plate") or "", str(finding.get("trip_id") or ""),
                      finding["detail"])
    console.print(table)
