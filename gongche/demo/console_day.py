"""The demo's last part: the console, on the demo's data, with something waiting for each role.

The day before was booked, dispatched and partly driven over HTTP (``booking_day``). Here the demo users get
generated passwords, and work is left for them: requests waiting for their approver, approved trips waiting for
the dispatcher, and trips today for the driver. Then the console is served until Ctrl-C, or, when standard input
is not a terminal (CI, a pipe), its address and the users are printed and the demo ends.
"""

from __future__ import annotations

import random
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from fleet import assignments, bookings, users
from fleet.audit import Actor
from fleet.clock import CHINA
from fleet.db import unit_of_work
from fleet.enums import Role, VehicleStatus
from fleet.errors import FleetError
from fleet.models import Agency, Driver, User, Vehicle, utcnow
from fleet.schemas import AssignIn, TripIn
from gongche.demo.booking_day import SETUP, _trip

ROLE_LABELS = {Role.requester: "申请人 requester", Role.approver: "审批 approver", Role.dispatcher: "调度员 dispatcher",
               Role.driver: "驾驶员 driver", Role.supervisor: "监督 supervisor", Role.admin: "管理员 admin"}


@dataclass(frozen=True)
class Login:
    name: str
    role: Role
    password: str
    agency: str | None


def run(engine: Engine, console: Console, *, today: date, board_day: date, out_dir: Path, seed: int = 2026,
        host: str = "127.0.0.1", port: int = 8000, serve: bool | None = None) -> None:
    """Passwords for one user per role, work left for each, then the console served (see the module's text)."""
    rng = random.Random(seed + 13)
    logins = _passwords(engine)
    left = _leave_work(engine, rng, logins, today=today, board_day=board_day)
    url = f"http://{host}:{port}/"
    # Each role's page on the demo's day: the board it was booked for, and the misuse planted on it (track_day,
    # booking_day), which the findings page's default period (the last 7 days) would not reach; the admin's
    # registry opens on its quotas, where the year's acquisitions and disposals show, and on its battery cars.
    table = Table(title=f"The console: {url}  (调度台 {url}board?day={board_day}; "
                        f"违规线索 {url}findings?since={board_day}&until={board_day}; "
                        f"车辆台账 {url}vehicles?tab=quotas, 纯电动 {url}vehicles?powertrain=bev)")
    for column in ("role", "user", "password", "agency"):
        table.add_column(column)
    for login in logins.values():
        table.add_row(ROLE_LABELS[login.role], login.name, login.password, login.agency or "")
    console.print(table)
    console.print("Waiting for them: " + "; ".join(left))
    credentials = out_dir / "demo-users.txt"
    credentials.write_text("".join(f"{login.role.value}\t{login.name}\t{login.password}\n"
                                   for login in logins.values()), encoding="utf-8")
    credentials.chmod(0o600)
    why = "--no-serve" if serve is False else "standard input is not a terminal"
    if serve is None:
        serve = sys.stdin.isatty()
    if not serve:
        console.print(f"(not serving: {why}; `gongche serve --port {port}` on this database serves the console; "
                      f"the users are also in {credentials})")
        return
    import uvicorn

    from api.app import create_app

    console.print(f"[bold]Serving the console at {url}[/] — Ctrl-C to stop")
    uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")


def _passwords(engine: Engine) -> dict[Role, Login]:
    """A generated password for the demo's first user of each role (the agency roles of one agency)."""
    with unit_of_work(engine, readonly=True) as session:
        chosen: dict[Role, User] = {}
        for user in session.scalars(sa.select(User).where(User.active).order_by(User.id)):
            chosen.setdefault(user.role, user)
        approver = chosen.get(Role.approver)
        if approver is not None:  # the requester of the approver's agency: one's requests reach the other
            same = session.scalar(sa.select(User).where(User.role == Role.requester,
                                                        User.agency_id == approver.agency_id))
            if same is not None:
                chosen[Role.requester] = same
        found = {role: (user.name, user.agency.code if user.agency else None) for role, user in chosen.items()}
    logins: dict[Role, Login] = {}
    for role in ROLE_LABELS:
        if role in found and role is not Role.driver:  # the driver is chosen by its shift (_driver_today)
            name, agency = found[role]
            password = secrets.token_urlsafe(12)
            with unit_of_work(engine) as session:
                users.set_password(session, SETUP, name, password)
            logins[role] = Login(name, role, password, agency)
    return logins


def _leave_work(engine: Engine, rng: random.Random, logins: dict[Role, Login], *, today: date,
                board_day: date) -> list[str]:
    """Requests for the approver, approved trips for the dispatcher's queue, today's trips for the driver."""
    said: list[str] = []
    requester, approver = logins.get(Role.requester), logins.get(Role.approver)
    if requester is None or approver is None or requester.agency is None:
        return said
    with unit_of_work(engine, readonly=True) as session:
        holders: dict[str, list[str]] = {}
        for code, category in session.execute(
                sa.select(Agency.code, Vehicle.category).join(Vehicle, Vehicle.agency_id == Agency.id)
                .where(Vehicle.status == VehicleStatus.active).distinct()):
            holders.setdefault(category.value, []).append(code)
    holders = {category: [requester.agency] for category in holders}

    def book(who: Login, at: datetime, purpose: str, priority: str = "routine") -> int:
        body = _trip(rng, priority, ["general"] if priority == "routine" else ["law_enforcement"], holders, at,
                     purpose=purpose)
        del body["agency"]
        with unit_of_work(engine) as session:
            user = session.scalar(sa.select(User).where(User.name == who.name))
            assert user is not None
            assert user.agency is not None
            booked = bookings.request(session, Actor(who.name, who.role.value), agency=user.agency.code,
                                      data=TripIn.model_validate(body), requested_by=user, engine=engine)
            return booked.trip.id

    def approve(trip_id: int) -> None:
        with unit_of_work(engine) as session:
            bookings.approve(session, Actor(approver.name, approver.role.value), trip_id=trip_id, engine=engine,
                             note="同意")

    waiting = [book(requester, datetime.combine(board_day, time(9 + 2 * k, 30), CHINA), purpose)
               for k, purpose in enumerate(("赴区政务服务中心调研", "参加市级专题会议", "走访企业开展安全检查"))]
    said.append(f"{len(waiting)} requests of {requester.agency} for its approver {approver.name}")
    queued = []
    for k, purpose in enumerate(("执法检查（待派车）", "现场勘查（待派车）")):
        trip_id = book(requester, datetime.combine(board_day, time(15 + k, 0), CHINA), purpose, "law_enforcement")
        approve(trip_id)
        queued.append(trip_id)
    said.append(f"approved trips {queued} in the dispatcher's queue on {board_day}")
    driver, sentence = _driver_today(engine, requester, book, approve, today)
    if driver is not None:
        logins[Role.driver] = driver
    said.append(sentence)
    return said


def _driver_today(engine: Engine, requester: Login, book: Callable[[Login, datetime, str], int],
                  approve: Callable[[int], None], today: date) -> tuple[Login | None, str]:
    """Two trips later today given to a driver on shift then (its user made if it has none), on a vehicle free
    then; none when the day is nearly over."""
    now = utcnow().astimezone(CHINA)
    first = max(datetime.combine(today, time(8), CHINA),
                (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0))
    last = first + timedelta(hours=2)
    if last.date() != today or last.hour >= 20:
        return None, "no trip left today for a driver: the day is nearly over"
    with unit_of_work(engine, readonly=True) as session:
        on_duty = next((d for d in session.scalars(sa.select(Driver).where(Driver.active).order_by(Driver.id))
                        if assignments.on_shift(d, first, last + timedelta(hours=2))), None)
        if on_duty is None:
            return None, "no driver on shift later today"
        driver_id = on_duty.id
        name = session.scalar(sa.select(User.name).where(User.driver_id == driver_id, User.active))
    password = secrets.token_urlsafe(12)
    with unit_of_work(engine) as session:
        if name is None:
            name = f"driver-{driver_id}"
            users.add_user(session, SETUP, name=name, role=Role.driver, driver_id=driver_id, password=password)
        else:
            users.set_password(session, SETUP, name, password)
    given = []
    for at, purpose in ((first, "接送检查组"), (last, "送达机要文件")):
        trip_id = book(requester, at, purpose)
        approve(trip_id)
        if _give(engine, trip_id, driver_id):
            given.append(trip_id)
    login = Login(name, Role.driver, password, None)
    return login, (f"trips {given} today for driver {name}" if given else f"no vehicle free for {name} today")


def _give(engine: Engine, trip_id: int, driver_id: int) -> bool:
    with unit_of_work(engine, readonly=True) as session:
        candidates = list(session.scalars(sa.select(Vehicle.id).where(Vehicle.status == VehicleStatus.active)
                                          .order_by(Vehicle.id)))
    for vehicle_id in candidates:
        try:
            with unit_of_work(engine) as session:
                assignments.assign(session, SETUP, trip_id=trip_id,
                                   data=AssignIn(vehicle_id=vehicle_id, driver_id=driver_id))
            return True
        except FleetError:
            continue  # that vehicle is busy, of another category, or beyond the driver's licence: try the next
    return False
