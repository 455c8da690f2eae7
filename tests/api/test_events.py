"""The live feed (GET /events): a change committed by anyone reaches the open streams that may see it, a stream that
reconnects with Last-Event-ID gets what it missed first, and nobody hears of another agency's trips.

Served by a real uvicorn (an event stream never ends, which the in-process test client cannot read)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api import live
from api.app import create_app
from fleet import bookings
from fleet.audit import Actor
from fleet.changes import Change
from fleet.db import unit_of_work
from fleet.enums import Role
from fleet.models import User
from fleet.schemas import TripIn
from fleet.scopes import Scope
from tests.api.conftest import AGENCY_A, City, trip_body

WAIT = 20.0  # seconds: generous on a shared 2-core machine; a working feed answers within a second


@contextmanager
def served(engine: Engine) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning", access_log=False, ws="none",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def bearer(city: City, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {city.tokens[user]}"}


class Stream:
    """The events of one open stream, read in a thread as they come."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self._response: httpx.Response | None = None
        self._closing = False
        self._ready = threading.Event()
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(30, read=60))
        self._thread = threading.Thread(target=self._read, args=(headers,), daemon=True)
        self._thread.start()
        assert self._ready.wait(WAIT), f"the stream did not become ready: {self.events}"

    def _read(self, headers: dict[str, str]) -> None:
        try:
            self._listen(headers)
        except (httpx.HTTPError, RuntimeError):
            if not self._closing:  # closing the client under the reader ends it this way
                raise

    def _listen(self, headers: dict[str, str]) -> None:
        with self._client.stream("GET", "/api/v1/events", headers=headers) as response:
            self._response = response
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event: dict[str, Any] = {}
            for line in response.iter_lines():
                if line.startswith(("id:", "event:", "data:")):
                    key, _, value = line.partition(":")
                    event[key] = value.strip()
                elif line == "" and event:
                    if "data" in event:
                        event["data"] = json.loads(event["data"])
                    self.events.append(event)
                    if event.get("event") == "ready":
                        self._ready.set()
                    event = {}

    def changes(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "change"]

    def wait_for(self, entity_id: int, action: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for e in self.changes():
                if e["data"]["entity_id"] == str(entity_id) and e["data"]["action"] == action:
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no {action} of {entity_id} within {WAIT} s: {self.changes()}")

    def close(self) -> None:
        self._closing = True
        # Closing the client does not wake a read blocked in the reader thread (it waited out the join's timeout):
        # shutting the socket down does.
        stream = self._response.extensions.get("network_stream") if self._response is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._client.close()
        self._thread.join(timeout=2)
        assert not self._thread.is_alive(), "the stream's reader did not end"


def book(base: str, city: City, user: str, **fields: Any) -> int:
    response = httpx.post(f"{base}/api/v1/trips", json=trip_body(**fields), headers=bearer(city, user), timeout=30)
    assert response.status_code == 201, response.text
    trip_id: int = response.json()["id"]
    return trip_id


def test_a_change_reaches_the_streams_that_may_see_it_and_no_other(city_engine: Engine, city: City) -> None:
    with served(city_engine) as base:
        dispatcher = Stream(base, bearer(city, "dispatcher"))
        agency_a, agency_b = Stream(base, bearer(city, "requester-a")), Stream(base, bearer(city, "requester-b"))
        try:
            trip = book(base, city, "requester-a")
            seen = dispatcher.wait_for(trip, "trip.booked")
            assert seen["id"] == str(seen["data"]["seq"])  # the id a reconnecting EventSource sends back
            assert seen["data"]["entity"] == "trip"
            assert seen["data"]["at"].endswith("+08:00")
            agency_a.wait_for(trip, "trip.booked")
            approved = httpx.post(f"{base}/api/v1/trips/{trip}/approve", json={},
                                  headers=bearer(city, "approver-a"), timeout=30)
            assert approved.status_code == 200, approved.text
            agency_a.wait_for(trip, "trip.approved")
            dispatcher.wait_for(trip, "trip.approved")
            # Agency B's own booking reaches B: by then anything about A's trip would have reached it too.
            theirs = book(base, city, "requester-b")
            agency_b.wait_for(theirs, "trip.booked")
            assert {e["data"]["entity_id"] for e in agency_b.changes()} == {str(theirs)}
            assert str(theirs) not in {e["data"]["entity_id"] for e in agency_a.changes()}
        finally:
            for stream in (dispatcher, agency_a, agency_b):
                stream.close()


def _listened_then_missed(base: str, city: City) -> tuple[dict[str, Any], list[int]]:
    """A dispatcher's stream's "ready" event, and three trips booked after that stream closed."""
    first = Stream(base, bearer(city, "dispatcher"))
    ready = next(e for e in first.events if e.get("event") == "ready")
    first.close()
    return ready, [book(base, city, "requester-a", purpose=f"错过的行程 {n}") for n in range(3)]


def test_a_reconnecting_stream_gets_what_it_missed_first(city_engine: Engine, city: City) -> None:
    with served(city_engine) as base:
        ready, missed = _listened_then_missed(base, city)
        again = Stream(base, {**bearer(city, "dispatcher"), "Last-Event-ID": ready["id"]})
        try:
            order = [e.get("event") for e in again.events]
            caught_up = [int(e["data"]["entity_id"]) for e in again.events[:order.index("ready")]
                         if e.get("event") == "change" and e["data"]["action"] == "trip.booked"]
            assert caught_up == missed  # before "ready", in commit order
            seqs = [int(e["id"]) for e in again.changes()]
            assert seqs == sorted(set(seqs))  # no repeats
            later = book(base, city, "requester-a")
            again.wait_for(later, "trip.booked")
        finally:
            again.close()


def test_two_streams_opening_at_once_both_hear_what_is_committed_after_them(city_engine: Engine, city: City) -> None:
    """Two pages open their streams at the same instant, before the process listens to the log: the first is caught
    up (ready) before a booking commits, the second's first look at the log comes after it. Both hear of the
    booking. Each used to start a poller of its own, and the later look became where both pollers read from, so
    the first stream never heard of what was committed in between."""

    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]], int]:
        feed = live.Feed(city_engine, interval=1.0)  # the poller sleeps a second after each read
        real = feed._read
        second_looking, second_may_answer = threading.Event(), threading.Event()
        looks = 0

        def read(seq: int | None, limit: int) -> tuple[int, list[Change]]:
            nonlocal looks
            if seq is None:
                looks += 1
                if looks == 1:  # the first stream's look, answered once the second stream looks too (or 1 s)
                    second_looking.wait(timeout=1)
                else:  # the second's, held until the booking has committed
                    second_looking.set()
                    second_may_answer.wait(timeout=10)
            return real(seq, limit)

        feed._read = read  # type: ignore[method-assign]
        with Session(city_engine) as session:
            user = session.scalars(sa.select(User).where(User.name == "dispatcher")).one()
            session.expunge(user)
        heard: tuple[list[dict[str, str]], list[dict[str, str]]] = ([], [])
        ready = (asyncio.Event(), asyncio.Event())

        async def listen(index: int) -> None:
            async for event in feed.stream(user, None):
                heard[index].append(event)
                if event["event"] == "ready":
                    ready[index].set()

        listening = [asyncio.create_task(listen(0))]
        await asyncio.sleep(0)  # the first stream asks first
        listening.append(asyncio.create_task(listen(1)))
        await asyncio.wait_for(ready[0].wait(), WAIT)
        trip = await asyncio.to_thread(_booked_directly, city_engine)
        second_may_answer.set()
        await asyncio.wait_for(ready[1].wait(), WAIT)
        deadline = time.monotonic() + 5  # the poller's read after its second's sleep, and a margin
        while time.monotonic() < deadline and not all(_booking_heard(h, trip) for h in heard):
            await asyncio.sleep(0.05)
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
        return heard[0], heard[1], trip

    first, second, trip = asyncio.run(scenario())
    assert _booking_heard(first, trip), first
    assert _booking_heard(second, trip), second


def _booked_directly(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        trip, _ = bookings.book(session, Actor("requester-a", "requester"), agency=AGENCY_A,
                                data=TripIn.parse(trip_body()))
        session.flush()
        return trip.id


def _booking_heard(events: list[dict[str, str]], trip: int) -> bool:
    return any(e["event"] == "change" and json.loads(e["data"])["entity_id"] == str(trip)
               and json.loads(e["data"])["action"] == "trip.booked" for e in events)


def test_an_id_ahead_of_the_log_is_told_to_reload_and_then_hears_what_comes(city_engine: Engine, city: City) -> None:
    """A Last-Event-ID the log never reached (another database's, or one restored from an older backup) once left
    the stream silent for good: it skipped every change numbered below it."""
    with served(city_engine) as base:
        first = Stream(base, bearer(city, "dispatcher"))
        head = int(next(e for e in first.events if e.get("event") == "ready")["id"])
        first.close()
        again = Stream(base, {**bearer(city, "dispatcher"), "Last-Event-ID": str(head + 10**6)})
        try:
            reset, ready = again.events[:2]
            assert (reset["event"], int(reset["id"])) == ("reset", head)
            assert (ready["event"], int(ready["id"])) == ("ready", head)
            later = book(base, city, "requester-a")
            assert int(again.wait_for(later, "trip.booked")["id"]) > head
        finally:
            again.close()


def test_a_stream_too_far_behind_reloads_as_of_the_head_so_reconnecting_catches_up(
        city_engine: Engine, city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reset once carried the last change it had read (the client's id plus the catch-up limit): the client
    reconnecting from it was too far behind again, reset after reset."""
    monkeypatch.setattr(live, "CATCH_UP_LIMIT", 2)
    with served(city_engine) as base:
        ready, missed = _listened_then_missed(base, city)
        behind = Stream(base, {**bearer(city, "dispatcher"), "Last-Event-ID": ready["id"]})
        behind.close()
        reset = behind.events[0]
        assert reset["event"] == "reset"
        again = Stream(base, {**bearer(city, "dispatcher"), "Last-Event-ID": reset["id"]})
        again.close()
        assert [e["event"] for e in again.events] == ["ready"]
        assert int(reset["id"]) >= int(ready["id"]) + len(missed)


def test_deactivating_a_user_ends_its_open_stream_and_it_cannot_listen_again(city_engine: Engine,
                                                                             city: City) -> None:
    with served(city_engine) as base:
        listening = Stream(base, bearer(city, "requester-b"))
        try:
            users = httpx.get(f"{base}/api/v1/users", params={"limit": 200}, headers=bearer(city, "admin"),
                              timeout=30).json()["items"]
            target = next(u["id"] for u in users if u["name"] == "requester-b")
            gone = httpx.post(f"{base}/api/v1/users/{target}/deactivate", json={"reason": "调离"},
                              headers=bearer(city, "admin"), timeout=30)
            assert gone.status_code == 200, gone.text
            listening._thread.join(timeout=WAIT)
            assert not listening._thread.is_alive(), "the stream of a deactivated user is still open"
            again = httpx.get(f"{base}/api/v1/events", headers=bearer(city, "requester-b"), timeout=30)
            assert again.status_code == 401
        finally:
            listening.close()


def test_the_stream_wants_a_caller(city_engine: Engine) -> None:
    with served(city_engine) as base:
        response = httpx.get(f"{base}/api/v1/events", timeout=30)
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthenticated"
        bad = httpx.get(f"{base}/api/v1/events", headers={"Last-Event-ID": "yesterday"}, timeout=30)
        assert bad.status_code in (401, 422)


@given(role=st.sampled_from(list(Role)), agency=st.sampled_from([1, 2, None]), trip_agency=st.sampled_from([1, 2]),
       driver=st.sampled_from([7, 8, None]), drivers=st.frozensets(st.sampled_from([7, 8]), max_size=2),
       entity=st.sampled_from(["trip", "vehicle", "dispatch_run"]))
def test_who_hears_of_a_change(role: Role, agency: int | None, trip_agency: int, driver: int | None,
                               drivers: frozenset[int], entity: str) -> None:
    user = User(name="u", role=role, agency_id=agency, driver_id=driver)
    change = Change(1, None, "x.y", entity, "5", trip_agency if entity == "trip" else None,  # type: ignore[arg-type]
                    drivers if entity == "trip" else frozenset())
    hears = change.visible_to(user)
    if role in (Role.requester, Role.approver):
        assert hears == (entity == "trip" and agency == trip_agency)
    elif role is Role.driver:
        assert hears == (entity == "trip" and driver is not None and driver in drivers)
    elif agency is not None:  # a platform role made for one agency acts for it only (fleet.scopes)
        assert hears == (entity == "trip" and agency == trip_agency)
    else:
        assert hears


@given(agency=st.sampled_from([1, 2, None]), scoped=st.frozensets(st.sampled_from([1, 2, 3]), max_size=3) | st.none(),
       entity=st.sampled_from(["trip", "vehicle", "dispatch_run"]))
def test_a_platform_role_hears_of_its_scope(agency: int | None, scoped: frozenset[int] | None, entity: str) -> None:
    """A dispatcher, supervisor or admin for part of the platform hears of its agencies' trips and vehicles only;
    of what names no agency (a dispatch run), only the whole platform's do."""
    user = User(name="u", role=Role.supervisor, jurisdiction_id=1)
    change = Change(1, None, "x.y", entity, "5", agency if entity != "dispatch_run" else None)  # type: ignore[arg-type]
    hears = change.visible_to(user, Scope(scoped, None if scoped is None else frozenset({1}), "scope"))
    if scoped is None:
        assert hears
    else:
        assert hears == (entity != "dispatch_run" and agency is not None and agency in scoped)


@pytest.mark.parametrize("header", ["-1", "x", str(2**63)])
def test_a_malformed_last_event_id_is_refused_naming_it(city_engine: Engine, city: City, header: str) -> None:
    with served(city_engine) as base:
        response = httpx.get(f"{base}/api/v1/events", headers={**bearer(city, "dispatcher"), "Last-Event-ID": header},
                             timeout=30)
        assert response.status_code == 422
        assert response.json()["field"] == "last-event-id"


def test_every_signed_in_role_may_listen(city_engine: Engine, city: City) -> None:
    """The role table's column for GET /events (tests/api/test_roles.py cannot judge a stream by one request)."""
    with served(city_engine) as base:
        for user in city.tokens:
            stream = Stream(base, bearer(city, user))  # fails unless 200, text/event-stream, and "ready" comes
            stream.close()
