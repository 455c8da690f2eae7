"""fleet.positions.store on SQLite and PostgreSQL: a resent fix stored once, the latest fix only ever newer by device
time, month partitions made on PostgreSQL, raw frames kept and pruned, impossible times refused."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import clock, positions
from fleet.db import unit_of_work
from fleet.enums import PositionSource
from fleet.models import LatestPosition, Position, RawFrame
from fleet.positions import Fix, Raw
from telematics.sink import Sink, SinkError
from tests.conftest import postgres_schema
from tests.telematics.fleet_of import committed_fleet, fleet_of

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def fix(vehicle_id: int, minutes: float, **more: object) -> Fix:
    return Fix(vehicle_id=vehicle_id, fixed_at=NOW - timedelta(minutes=minutes), lat=30.5, lon=114.3,
               speed_kmh=minutes, **more)  # type: ignore[arg-type]


def test_resent_fix_stored_once_latest_only_newer(session: Session) -> None:
    car, other = (v.id for v in fleet_of(session, ["1", "2"]))
    with clock.travel(NOW):
        assert positions.store(session, [fix(car, 5), fix(car, 3, extras={"0x30": "1f"}), fix(other, 9)]) == 3
        assert positions.store(session, [fix(car, 3), fix(car, 10, backfill=True)]) == 1  # one resent, one late
    assert session.scalar(sa.select(sa.func.count()).select_from(Position)) == 4
    latest = {row.vehicle_id: row for row in session.scalars(sa.select(LatestPosition))}
    assert latest[car].fixed_at == NOW - timedelta(minutes=3)  # not the back-filled older one
    assert latest[other].speed_kmh == 9
    stored = session.scalars(sa.select(Position).where(Position.vehicle_id == car).order_by(Position.fixed_at)).all()
    assert [p.backfill for p in stored] == [True, False, False]
    assert stored[2].extras == {"0x30": "1f"}
    assert stored[2].fixed_at.tzinfo is not None


def test_the_first_of_two_fixes_at_one_time_stays_however_they_were_batched(session: Session) -> None:
    """A terminal reporting twice for one second (a batch item and a live fix, say): the first one received stays,
    whether the listeners' group commit put both in one batch or in two."""
    together, apart = (v.id for v in fleet_of(session, ["1", "2"]))
    with clock.travel(NOW):
        positions.store(session, [fix(together, 4, course=1), fix(together, 4, course=2)])
        positions.store(session, [fix(apart, 4, course=1)])
        positions.store(session, [fix(apart, 4, course=2)])
    stored = dict(session.execute(sa.select(Position.vehicle_id, Position.course)).all())
    assert stored == {together: 1, apart: 1}
    latest = dict(session.execute(sa.select(LatestPosition.vehicle_id, LatestPosition.course)).all())
    assert latest == {together: 1, apart: 1}


def test_the_live_map_keeps_the_newest_located_fix(session: Session) -> None:
    """A terminal that lost its position (status bit 1 clear) reports where it thinks it is: stored as evidence,
    but the vehicle stays on the map at its newest located fix."""
    car, phone = (v.id for v in fleet_of(session, ["1", "2"]))
    with clock.travel(NOW):
        positions.store(session, [fix(car, 5, status=0b11), fix(car, 1, status=0b01), fix(phone, 2)])
    latest = {row.vehicle_id: row.fixed_at for row in session.scalars(sa.select(LatestPosition))}
    assert latest == {car: NOW - timedelta(minutes=5), phone: NOW - timedelta(minutes=2)}
    assert session.scalar(sa.select(sa.func.count()).select_from(Position).where(Position.vehicle_id == car)) == 2


def test_refused_times(session: Session) -> None:
    car, = (v.id for v in fleet_of(session, ["1"]))
    with clock.travel(NOW, tick=False):
        early = Fix(vehicle_id=car, fixed_at=datetime(1999, 12, 31, tzinfo=UTC), lat=1, lon=1)
        ahead = fix(car, -3)  # 3 minutes ahead; the default skew allows 2
        fine = fix(car, -1)
        kept, refused = positions.split_refused([early, ahead, fine])
        assert kept == [fine]
        assert refused == [early, ahead]
        assert positions.store(session, [early, ahead, fine]) == 1


def test_raw_frames_kept_and_pruned(session: Session) -> None:
    frames = [Raw(NOW - timedelta(days=d), PositionSource.jt808, "013912345678", bytes([d, 0x7D])) for d in (1, 40)]
    positions.store(session, [], frames)
    assert sorted(session.scalars(sa.select(RawFrame.payload))) == [bytes([1, 0x7D]), bytes([40, 0x7D])]
    assert positions.prune_raw(session, NOW - timedelta(days=30)) == 1
    assert session.scalars(sa.select(RawFrame.device)).all() == ["013912345678"]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 50)), max_size=30), st.integers(1, 4))
def test_store_equals_the_set_of_fixes_sent_in_any_batches(sqlite_engine: Engine, sent: list[tuple[int, int]],
                                                          batches: int) -> None:
    """Whatever the batching and the repeats: the rows are the set sent, latest the newest per vehicle."""
    with sqlite_engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            cars = [v.id for v in fleet_of(session, [None, None])]
            fixes = [fix(cars[v], m) for v, m in sent]
            with clock.travel(NOW):
                for i in range(batches):
                    positions.store(session, fixes[i::batches])
            rows = {(r[0], r[1]) for r in session.execute(sa.select(Position.vehicle_id, Position.fixed_at))}
            assert rows == {(f.vehicle_id, f.fixed_at) for f in fixes}
            latest_rows = session.execute(sa.select(LatestPosition.vehicle_id, LatestPosition.fixed_at))
            latest = {r[0]: r[1] for r in latest_rows}
            expected: dict[int, datetime] = {}
            for f in fixes:
                expected[f.vehicle_id] = max(expected.get(f.vehicle_id, f.fixed_at), f.fixed_at)
            assert latest == expected
        outer.rollback()


@pytest.fixture
def pg_fresh(postgresql_engine: Engine) -> Iterator[Engine]:
    with postgres_schema("gongche_positions") as engine:
        yield engine


@pytest.mark.postgres
def test_month_partitions_made_and_raced(pg_fresh: Engine) -> None:
    fresh_engine = pg_fresh
    car, = committed_fleet(fresh_engine, ["1"])
    months = [datetime(2026, m, 15, tzinfo=UTC) for m in (9, 10, 11)]
    positions._known_partitions.clear()
    with clock.travel(NOW), unit_of_work(fresh_engine) as session:
        # A fix at 16:30 UTC on 30 November is 1 December in China: the December partition holds it.
        edge = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
        positions.store(session, [Fix(vehicle_id=car, fixed_at=at, lat=1, lon=1) for at in [*months, edge]])
    with fresh_engine.connect() as conn:
        names = set(conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'positions'::regclass")).scalars())
        assert names == {f"positions_2026_{m:02d}" for m in (9, 10, 11, 12)}
        assert conn.execute(sa.text("SELECT count(*) FROM positions_2026_12")).scalar() == 1
    # Another process (a cold cache) creating a partition that exists: no error, nothing stored twice.
    positions._known_partitions.clear()
    with clock.travel(NOW), unit_of_work(fresh_engine) as session:
        assert positions.store(session, [Fix(vehicle_id=car, fixed_at=months[0], lat=1, lon=1)]) == 0
    # Two writers making the same new month's partition at once: both batches stored.
    positions._known_partitions.clear()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(second: int) -> None:
        try:
            start.wait(5)
            with clock.travel(NOW), unit_of_work(fresh_engine) as session:
                positions.store(session, [Fix(vehicle_id=car, fixed_at=datetime(2026, 8, 1, 0, 0, second,
                                                                                 tzinfo=UTC), lat=1, lon=1)])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with fresh_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM positions_2026_08")).scalar() == 4


def test_sink_fails_a_batch_the_database_refuses_and_goes_on(sqlite_engine: Engine) -> None:
    """Group commit: a batch that cannot be written fails its submitters (no acknowledgement: terminals resend),
    and the next batch is written; every submitter learns its outcome."""
    calls: list[int] = []

    def flaky(session: Session, fixes: list[Fix], raw: object = ()) -> int:
        calls.append(len(fixes))
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("the database is down"))
        return len(fixes)

    async def scenario() -> tuple[BaseException | None, BaseException | None, int]:
        sink = Sink(sqlite_engine, asyncio.get_running_loop(), batch_max=10, queue_max=100, store=flaky)
        first = sink.submit([fix(1, 1)])
        with pytest.raises(SinkError):
            await first
        second = sink.submit([fix(1, 2), fix(1, 3)])
        await second
        queued = sink.queued
        await sink.close()
        return first.exception(), second.exception(), queued

    failed, ok, queued = asyncio.run(scenario())
    assert isinstance(failed, SinkError)
    assert ok is None
    assert queued == 0
    assert calls == [1, 2]


def test_sink_groups_what_waits_and_applies_back_pressure(sqlite_engine: Engine) -> None:
    batches: list[int] = []
    gate = threading.Event()

    def slow(session: Session, fixes: list[Fix], raw: object = ()) -> int:
        gate.wait(5)
        batches.append(len(fixes))
        return len(fixes)

    async def scenario() -> bool:
        sink = Sink(sqlite_engine, asyncio.get_running_loop(), batch_max=50, queue_max=100, store=slow)
        futures = [sink.submit([fix(1, i)]) for i in range(120)]
        full = sink.full
        gate.set()
        await asyncio.gather(*futures)
        await sink.room()
        await sink.close()
        return full

    assert asyncio.run(scenario())  # 120 waiting > queue_max: the listeners stop reading
    assert sum(batches) == 120
    assert max(batches) <= 50
    assert len(batches) <= 4  # grouped: the first alone (taken before the rest came), then full batches


def test_nulls_json_extras_and_unicode_stored(session: Session) -> None:
    """COPY (PostgreSQL) and executemany (SQLite) with every optional column empty, and extras PostgreSQL's JSON
    input would refuse raw (a NUL, a lone surrogate: a phone app's free-form attribute may carry either)."""
    car, = (v.id for v in fleet_of(session, ["1"]))
    bare = Fix(vehicle_id=car, fixed_at=NOW - timedelta(minutes=2), lat=-33.9, lon=-0.0)
    rich = fix(car, 1, extras={"名称": "鄂A·12345", "nul": "a\x00b", "half": "\ud800x", "n": [1, None, {"z": 2.5}],
                               "emoji": "\U0001F697"})
    with clock.travel(NOW):
        assert positions.store(session, [bare, rich]) == 2
    rows = session.scalars(sa.select(Position).where(Position.vehicle_id == car).order_by(Position.fixed_at)).all()
    assert (rows[0].course, rows[0].altitude_m, rows[0].accuracy_m, rows[0].acc, rows[0].status,
            rows[0].mileage_km, rows[0].extras) == (None, None, None, None, None, None, None)
    assert (rows[0].lat, rows[0].lon) == (-33.9, 0.0)
    assert rows[1].extras == {"名称": "鄂A·12345", "nul": "a\ufffdb", "half": "\ufffdx", "n": [1, None, {"z": 2.5}],
                              "emoji": "\U0001F697"}


def test_sink_counts_raw_frames_and_isolates_a_poisoned_batch(sqlite_engine: Engine) -> None:
    """Raw frames nobody waits for fill the queue too (a heartbeat flood is pushed back); a batch that fails for
    one entry's data, whatever the exception, is written entry by entry so the others are acknowledged."""
    gate = threading.Event()

    def picky(session: Session, fixes: list[Fix], raw: object = ()) -> int:
        gate.wait(5)
        if any(f.speed_kmh == 99 for f in fixes):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return len(fixes)

    async def scenario() -> tuple[bool, list[BaseException | None]]:
        sink = Sink(sqlite_engine, asyncio.get_running_loop(), batch_max=50, queue_max=100, store=picky)
        for _ in range(100):
            sink.keep_raw([Raw(NOW, PositionSource.jt808, "1", b"\x00")])
        full = sink.full
        futures = [sink.submit([fix(1, i)]) for i in (1, 2)] + [sink.submit([fix(1, 99)])]
        gate.set()
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        await sink.close()
        return full, list(outcomes)

    full, outcomes = asyncio.run(scenario())
    assert full
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], SinkError)
