"""The OsmAnd / Traccar Client listener over real HTTP: the query form (GET and POST, form bodies) with speed in
knots, the JSON form with speed in m/s, answered 200 only once stored; 400 naming the field for bad input and for
a device the registry does not bind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet.db import make_engine
from fleet.enums import PositionSource
from fleet.migrate import upgrade
from fleet.models import Position, RawFrame, Terminal
from telematics import osmand_http
from tests.telematics.fleet_of import committed_fleet
from tests.telematics.harness import Running, at, running_ingest


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, list[int]]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('osmand') / 'ingest.db'}")
    upgrade(engine)
    yield engine, committed_fleet(engine, ["123456", "777"])
    engine.dispose()


@pytest.fixture(scope="module")
def running(db: tuple[Engine, list[int]]) -> Iterator[Running]:
    with running_ingest(db[0]) as ingest:
        yield ingest


@pytest.fixture(scope="module")
def client(running: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{running.ports['osmand']}", timeout=5) as http:
        yield http


def stored(engine: Engine, vehicle_id: int) -> list[Position]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Position).where(Position.vehicle_id == vehicle_id)
                                 .order_by(Position.fixed_at)))


def test_query_form_get_and_post(db: tuple[Engine, list[int]], client: httpx.Client) -> None:
    engine, (car, _) = db
    when = int(at(60).timestamp())
    answer = client.get("/", params={"id": "123456", "timestamp": when, "lat": "30.59", "lon": "114.30",
                                     "speed": "10", "bearing": "45", "altitude": "30", "accuracy": "5",
                                     "batt": "80", "hdop": "0.9"})
    assert answer.status_code == 200, answer.text
    rows = stored(engine, car)
    assert len(rows) == 1
    assert rows[0].speed_kmh == pytest.approx(18.52)  # knots
    assert rows[0].source is PositionSource.osmand
    assert rows[0].course == 45
    assert rows[0].extras is not None
    assert rows[0].extras.get("hdop") == "0.9"
    # Traccar Client's POST with the parameters in the query, and a form body; a resent one stored once.
    assert client.post(f"/?id=123456&timestamp={when + 10}&lat=30.6&lon=114.3").status_code == 200
    form = {"id": "0123456", "timestamp": str(when + 20), "lat": "30.61", "lon": "114.31"}
    assert client.post("/", data=form).status_code == 200
    assert client.post("/", data=form).status_code == 200
    assert len(stored(engine, car)) == 3
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RawFrame)).scalar_one() >= 4


def test_json_form(db: tuple[Engine, list[int]], client: httpx.Client) -> None:
    engine, (_, car) = db
    payload = {"device_id": "777", "location": [
        {"timestamp": at(30).isoformat(), "coords": {"latitude": 30.5, "longitude": 114.2, "speed": 10,
                                                    "heading": 90, "altitude": 12, "accuracy": 8},
         "is_moving": True, "odometer": 12345, "battery": {"level": 0.5, "is_charging": False}},
        {"timestamp": at(20).isoformat(), "coords": {"latitude": 30.51, "longitude": 114.21, "speed": 0}}]}
    answer = client.post("/", json=payload)
    assert answer.status_code == 200, answer.text
    rows = stored(engine, car)
    assert [r.speed_kmh for r in rows] == [pytest.approx(36.0), 0.0]  # m/s
    assert rows[0].mileage_km == pytest.approx(12.345)


@pytest.mark.parametrize(("params", "field"), [
    ({"id": "123456", "lat": "91", "lon": "114"}, "lat"),
    ({"id": "123456", "lat": "30", "lon": "east"}, "lon"),
    ({"lat": "30", "lon": "114"}, "id"),
    ({"id": "123456", "lat": "30", "lon": "114", "timestamp": "tomorrow"}, "timestamp"),
    ({"id": "999999", "lat": "30", "lon": "114"}, "id"),  # bound to no vehicle
    ({"id": "123456", "lat": "30", "lon": "114", "timestamp": str(int(time.time()) + 7200)}, "timestamp"),
])
def test_bad_input_names_the_field(client: httpx.Client, params: dict[str, str], field: str) -> None:
    answer = client.get("/", params=params)
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def test_bad_json(client: httpx.Client) -> None:
    answer = client.post("/", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "body"
    assert client.post("/", json={"device_id": "777"}).status_code == 400


def test_huge_bodies_refused_413_unread(client: httpx.Client) -> None:
    big = b"id=123456&lat=30&lon=114&x=" + b"a" * osmand_http.MAX_BODY
    answer = client.post("/", content=big, headers={"content-type": "application/x-www-form-urlencoded"})
    assert (answer.status_code, answer.json()["field"]) == (413, "body")

    def chunks() -> Iterable[bytes]:  # no Content-Length: refused once the limit is read, not at the end
        yield b"{"
        for _ in range(1000):
            yield b" " * 65536

    answer = client.post("/", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_form_body_without_content_type(db: tuple[Engine, list[int]], client: httpx.Client) -> None:
    engine, (car, _) = db
    before = len(stored(engine, car))
    body = f"id=123456&timestamp={int(at(200).timestamp())}&lat=30.7&lon=114.4".encode()
    assert client.post("/", content=body, headers={"content-type": ""}).status_code == 200
    assert len(stored(engine, car)) == before + 1


def test_overload_and_a_failing_database_answer_503_with_retry_after(
        db: tuple[Engine, list[int]], client: httpx.Client, running: Running) -> None:
    engine, (car, _) = db
    sink = running.ingest.sink
    assert sink is not None
    params = {"id": "123456", "lat": "30.8", "lon": "114.5", "timestamp": str(int(at(300).timestamp()))}
    running.call(setattr, sink, "queue_max", 0)  # full: refused at once, not held
    try:
        answer = client.get("/", params=params)
    finally:
        running.call(setattr, sink, "queue_max", 50000)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(osmand_http.RETRY_AFTER_SECONDS)

    def down(*args: object) -> int:
        raise sa.exc.OperationalError("COPY", {}, Exception("the database is down"))

    store, sink._store = sink._store, down
    try:
        answer = client.get("/", params=params)
    finally:
        sink._store = store
    assert (answer.status_code, answer.json()["field"]) == (503, "body")
    assert "retry-after" in answer.headers
    assert client.get("/", params=params).status_code == 200  # the database back: the resend is stored
    assert len([p for p in stored(engine, car) if p.lat == 30.8]) == 1


def test_an_unforeseen_failure_is_400_never_500(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> object:
        raise ValueError("a parser bug")

    monkeypatch.setattr(osmand_http, "parse_query", broken)
    answer = client.get("/", params={"id": "123456", "lat": "30", "lon": "114"})
    assert (answer.status_code, answer.json()["field"]) == (400, "body")


def test_a_batch_with_one_bad_fix_keeps_the_good_ones(db: tuple[Engine, list[int]], client: httpx.Client) -> None:
    """The apps resend any non-200: the good fixes are stored at once (a resend dedupes them) and the 400 names the
    bad one's field, instead of the whole batch looping for ever."""
    engine, (_, car) = db
    good = {"timestamp": at(40).isoformat(), "coords": {"latitude": 30.41, "longitude": 114.1}}
    for bad, field in [({"timestamp": at(50).isoformat(), "coords": {"latitude": 999, "longitude": 114.1}},
                        "location[1].coords.latitude"),
                       ({"timestamp": "1999-01-01T00:00:00Z", "coords": {"latitude": 30.4, "longitude": 114.1}},
                        "location[1].timestamp"),
                       ({"timestamp": at(50).isoformat(), "coords": {"latitude": 30.4, "longitude": 114.1,
                                                                     "altitude": 1e30}},
                        "location[1].coords.altitude")]:
        answer = client.post("/", json={"device_id": "777", "location": [good, bad]})
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == field
        assert [r.lat for r in stored(engine, car)].count(30.41) == 1
    assert client.post("/", json={"device_id": "777", "location": [bad]}).status_code == 400


@pytest.mark.parametrize(("params", "field"), [
    ({"speed": "1e308"}, "speed"), ({"altitude": "1e30"}, "altitude"), ({"bearing": "9999"}, "bearing"),
    ({"accuracy": "inf"}, "accuracy"), ({"batt": "nan"}, "batt"),
])
def test_implausible_values_are_400_never_503(client: httpx.Client, params: dict[str, str], field: str) -> None:
    answer = client.get("/", params={"id": "123456", "lat": "30", "lon": "114", **params})
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field


def test_osmand_does_not_speak_for_a_jt808_vehicle(db: tuple[Engine, list[int]]) -> None:
    """A vehicle with an active JT/T 808 terminal: the listener's bindings leave its number out, so an
    unauthenticated HTTP report with it is refused 400 ``id`` (once the cache reloads, within a minute)."""
    engine, (car, other) = db
    with engine.begin() as conn:
        conn.execute(sa.insert(Terminal).values(phone="123456", vehicle_id=car, auth_digest="0" * 64))
    try:
        bindings = osmand_http.Bindings(engine)
        assert asyncio.run(bindings.vehicle("123456")) is None
        assert asyncio.run(bindings.vehicle("777")) == other
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(Terminal))
