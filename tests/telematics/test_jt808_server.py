"""The JT/T 808 listener over real sockets (port 0) on a SQLite database: register, authenticate, report, the
0x8001 with the terminal's serial and message id after the fix is stored; 2019 headers; blind-area back-fill; bad
frames answered or dropped while another session goes on; the heartbeat timeout; unknown messages; missing
sub-packages asked for again (0x8003)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet.db import make_engine
from fleet.migrate import upgrade
from fleet.models import LatestPosition, Position, RawFrame
from telematics.jt808.codec import (
    NO_TIME,
    AckResult,
    Batch,
    Header,
    MessageId,
    Unknown,
    encode_body,
    encode_frame,
    escape,
)
from telematics.jt808.server import Jt808Connection
from tests.telematics.fleet_of import committed_fleet
from tests.telematics.harness import Running, Terminal, at, close_terminals, location, running_ingest

PHONES = [f"1391234{n:04d}" for n in range(24)]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, int]]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('jt808') / 'ingest.db'}")
    upgrade(engine)
    ids = committed_fleet(engine, list(PHONES))
    yield engine, dict(zip(PHONES, ids, strict=True))
    engine.dispose()


@pytest.fixture(scope="module")
def ingest(db: tuple[Engine, dict[str, int]]) -> Iterator[Running]:
    with running_ingest(db[0]) as running:
        yield running


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    close_terminals()


def positions_of(engine: Engine, vehicle_id: int) -> list[Position]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Position).where(Position.vehicle_id == vehicle_id)
                                 .order_by(Position.fixed_at)))


def test_register_authenticate_report(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    phone = PHONES[0]
    terminal = Terminal(ingest.ports["jt808"], phone)
    reply = terminal.register()
    assert reply.result == 0
    assert reply.auth_code
    assert terminal.authenticate("wrong").result == AckResult.FAILURE
    assert terminal.authenticate(reply.auth_code).result == AckResult.OK
    fix = location(5, mileage_km=1234.5)
    serial = terminal.send(fix)
    header, ack = terminal.ack()
    assert (ack.serial, ack.msg_id, ack.result) == (serial, MessageId.LOCATION, AckResult.OK)
    assert header.msg_id == MessageId.PLATFORM_ACK
    assert header.phone == "0" + phone  # the 2013 header's 12 digits
    stored = positions_of(engine, ids[phone])  # acknowledged, so already committed
    assert len(stored) == 1
    assert stored[0].mileage_km == 1234.5
    assert stored[0].acc is True
    assert stored[0].speed_kmh == 36.0
    # The same fix again (a terminal resending): acknowledged, stored once.
    terminal.send(fix)
    assert terminal.ack()[1].result == AckResult.OK
    assert len(positions_of(engine, ids[phone])) == 1
    # The heartbeat answered, the platform's serials counting up.
    serial = terminal.send(None, MessageId.HEARTBEAT)
    header2, ack = terminal.ack()
    assert (ack.serial, ack.msg_id) == (serial, MessageId.HEARTBEAT)
    assert header2.serial > header.serial
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RawFrame)).scalar_one() >= 3
    terminal.close()


def test_2019_terminal_gets_2019_headers_and_back_fill(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    phone = PHONES[1]
    terminal = Terminal(ingest.ports["jt808"], phone.rjust(20, "0"), version=1)
    terminal.sign_on()
    terminal.send(location(10))
    header, ack = terminal.ack()
    assert header.version == 1
    assert ack.result == AckResult.OK
    # Blind-area back-fill: older fixes arriving late, out of order.
    serial = terminal.send(Batch(1, (location(300), location(900), location(600))))
    _, ack = terminal.ack()
    assert (ack.serial, ack.msg_id, ack.result) == (serial, MessageId.BATCH, AckResult.OK)
    stored = positions_of(engine, ids[phone])
    assert [p.backfill for p in stored] == [True, True, True, False]
    with engine.connect() as conn:
        latest = conn.execute(sa.select(LatestPosition.fixed_at).where(
            LatestPosition.vehicle_id == ids[phone])).scalar_one()
    assert latest == stored[-1].fixed_at  # the live fix, not the back-fill that came after it
    terminal.close()


def test_positions_before_authentication_are_refused(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[2])
    serial = terminal.send(location(5))
    _, ack = terminal.ack()
    assert (ack.serial, ack.result) == (serial, AckResult.FAILURE)
    # Authenticated as another terminal number: still refused for this one.
    other = Terminal(ingest.ports["jt808"], PHONES[3])
    code = other.register().auth_code
    assert code
    other.close()
    terminal.phone = PHONES[3]
    assert terminal.authenticate(code).result == AckResult.OK
    terminal.phone = PHONES[2]
    terminal.send(location(5))
    assert terminal.ack()[1].result == AckResult.FAILURE
    assert positions_of(engine, ids[PHONES[2]]) == []
    terminal.close()


def test_impossible_times_refused(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[4])
    terminal.sign_on()
    terminal.send(location(-3600))  # an hour ahead of the platform
    assert terminal.ack()[1].result == AckResult.FAILURE
    terminal.send(Batch(0, (location(-3600), location(30))))  # one good fix: stored, the batch answered OK
    assert terminal.ack()[1].result == AckResult.OK
    assert len(positions_of(engine, ids[PHONES[4]])) == 1
    terminal.close()


def test_unknown_and_encrypted_messages(ingest: Running) -> None:
    terminal = Terminal(ingest.ports["jt808"], PHONES[5])
    serial = terminal.send(Unknown(0x0900, b"\x01\x02"))
    _, ack = terminal.ack()
    assert (ack.serial, ack.msg_id, ack.result) == (serial, 0x0900, AckResult.UNSUPPORTED)
    header = Header(MessageId.LOCATION, "0" + PHONES[5], 77, None, encrypted=1)
    terminal.send_raw(encode_frame(header, encode_body(location(5))))
    _, ack = terminal.ack()
    assert (ack.serial, ack.result) == (77, AckResult.UNSUPPORTED)
    terminal.close()


def _checked(content: bytes) -> bytes:
    check = 0
    for byte in content:
        check ^= byte
    return b"\x7e" + escape(content + bytes([check])) + b"\x7e"


def test_bad_frames_do_not_harm_another_session(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    good = Terminal(ingest.ports["jt808"], PHONES[6])
    good.sign_on()
    bad = Terminal(ingest.ports["jt808"], PHONES[7])
    _, frame = bad.frame(location(5))
    # A bad check code: answered MESSAGE_ERROR to its serial.
    bad.send_raw(frame[:-2] + bytes([frame[-2] ^ 0x55]) + b"\x7e")
    _, ack = bad.ack()
    assert (ack.serial, ack.result) == (1, AckResult.MESSAGE_ERROR)
    # A wrong body length (the attributes say 10 bytes more), with a correct check code.
    content = bytes.fromhex(frame[1:-1].hex().replace("7d02", "7e").replace("7d01", "7d"))[:-1]
    longer = content[:2] + (int.from_bytes(content[2:4], "big") + 10).to_bytes(2, "big") + content[4:]
    bad.send_raw(_checked(longer))
    assert bad.ack()[1].result == AckResult.MESSAGE_ERROR
    # A truncated body of a known message (location of 10 bytes), well framed.
    header = Header(MessageId.LOCATION, "0" + PHONES[7], 9)
    bad.send_raw(encode_frame(header, b"\x00" * 10))
    _, ack = bad.ack()
    assert (ack.serial, ack.result) == (9, AckResult.MESSAGE_ERROR)
    # Garbage, a truncated frame, then a megabyte without 0x7E: no answer, and the good session goes on meanwhile.
    bad.send_raw(b"\x7e\x01\x02\x03\x7e" + frame[: len(frame) // 2])
    bad.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        bad.receive()
    sent = rounds = 0
    megabyte = bytes(range(256)).replace(b"\x7e", b"") * 4200
    try:
        while sent < len(megabyte):
            sent += bad.sock.send(megabyte[sent:sent + 65536])
            rounds += 1
            serial = good.send(location(100 - rounds))
            assert good.ack()[1].serial == serial
    except OSError:
        pass  # the platform may close a connection that sends only garbage: that is its right
    assert len(positions_of(engine, ids[PHONES[6]])) == rounds
    assert rounds >= 5
    good.close()
    bad.close()


def test_a_frame_across_reads_and_frames_in_one_read(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[8])
    terminal.sign_on()
    frames = b"".join(terminal.frame(location(s))[1] for s in (30, 20, 10))
    for i in range(0, len(frames), 7):
        terminal.send_raw(frames[i:i + 7])
        time.sleep(0.001)
    assert sorted(terminal.ack()[1].serial for _ in range(3)) == [3, 4, 5]
    assert len(positions_of(engine, ids[PHONES[8]])) == 3
    terminal.close()


def test_session_ends_after_missed_heartbeats(db: tuple[Engine, dict[str, int]]) -> None:
    with running_ingest(db[0], jt808_heartbeat_seconds=0.2, jt808_missed_heartbeats=2) as running:
        quiet = Terminal(running.ports["jt808"], PHONES[9])
        talking = Terminal(running.ports["jt808"], PHONES[10])
        talking.sign_on()
        anonymous = Terminal(running.ports["jt808"], PHONES[12])  # heartbeats, never authenticates
        started = time.monotonic()
        while time.monotonic() - started < 0.8:
            talking.send(None, MessageId.HEARTBEAT)
            talking.ack()
            with contextlib.suppress(OSError):  # closed already
                anonymous.send(None, MessageId.HEARTBEAT)
            time.sleep(0.05)
        for closed in (quiet, anonymous):
            closed.sock.settimeout(1)
            with pytest.raises((ConnectionError, socket.timeout, OSError)):  # noqa: PT012
                while True:
                    closed.receive()  # closed by the platform after 0.4 s (of silence, or unauthenticated)
        assert time.monotonic() - started < 4
        talking.send(None, MessageId.HEARTBEAT)
        assert talking.ack()[1].result == AckResult.OK
        assert running.ingest.jt808 is not None
        assert running.ingest.jt808.counters.idle_closed == 2


def test_sub_packaged_message_reassembled(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[11])
    terminal.sign_on()
    body = encode_body(Batch(1, tuple(location(100 + s) for s in range(3))))
    half = len(body) // 2
    for index, part in ((1, body[:half]), (2, body[half:])):
        terminal.serial += 1
        terminal.send_raw(encode_frame(Header(MessageId.BATCH, "0" + PHONES[11], terminal.serial,
                                              packet=(2, index)), part))
    acks = [terminal.ack()[1] for _ in range(2)]
    assert [(a.serial, a.result) for a in acks] == [(terminal.serial - 1, 0), (terminal.serial, 0)]
    assert len(positions_of(engine, ids[PHONES[11]])) == 3
    assert timedelta(0) < positions_of(engine, ids[PHONES[11]])[-1].fixed_at - positions_of(
        engine, ids[PHONES[11]])[0].fixed_at
    terminal.close()


def _closed_by_platform(terminal: Terminal) -> bool:
    terminal.sock.settimeout(2)
    try:
        while True:
            terminal.receive()
    except TimeoutError:  # (an OSError too: caught first)
        return False
    except OSError:
        return True


def test_a_session_speaks_for_its_own_terminal_only(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    """Authenticated as X: positions and a logout (0x0003) carrying Y's number are refused; nobody but X's own
    session registers X again (a rogue 0x0100 would otherwise get a code of its own for X's vehicle)."""
    engine, ids = db
    port = ingest.ports["jt808"]
    victim = Terminal(port, PHONES[13])
    victim_code = victim.register().auth_code
    assert victim_code
    rogue = Terminal(port, PHONES[14])
    rogue.sign_on()
    rogue.phone = PHONES[13]
    rogue.send(location(5))
    assert rogue.ack()[1].result == AckResult.FAILURE
    rogue.send(None, MessageId.LOGOUT)  # would end the victim's registration
    assert rogue.ack()[1].result == AckResult.FAILURE
    assert rogue.register().result == 3  # already registered: no new code for the rogue
    assert victim.authenticate(victim_code).result == AckResult.OK  # the victim's code still works
    assert positions_of(engine, ids[PHONES[13]]) == []
    # The terminal's own session may register again (a new code), and log out.
    reply = victim.register()
    assert reply.result == 0
    assert reply.auth_code
    assert reply.auth_code != victim_code
    victim.send(None, MessageId.LOGOUT)
    assert victim.ack()[1].result == AckResult.OK
    victim.send(location(5))
    assert victim.ack()[1].result == AckResult.FAILURE  # logged out: no longer authenticated


def test_one_session_per_terminal_and_wrong_codes_end_a_connection(ingest: Running) -> None:
    port = ingest.ports["jt808"]
    first = Terminal(port, PHONES[15])
    code = first.register().auth_code
    assert code
    assert first.authenticate(code).result == AckResult.OK
    second = Terminal(port, PHONES[15])  # the terminal reconnected
    assert second.authenticate(code).result == AckResult.OK
    assert _closed_by_platform(first)
    second.send(location(5))
    assert second.ack()[1].result == AckResult.OK
    guesser = Terminal(port, PHONES[15])
    for _ in range(5):
        assert guesser.authenticate("guess").result == AckResult.FAILURE
    assert _closed_by_platform(guesser)
    second.send(None, MessageId.HEARTBEAT)
    assert second.ack()[1].result == AckResult.OK


def test_connections_beyond_the_limit_are_closed(db: tuple[Engine, dict[str, int]]) -> None:
    with running_ingest(db[0], ingest_max_connections=2) as running:
        port = running.ports["jt808"]
        kept = [Terminal(port, PHONES[16]), Terminal(port, PHONES[17])]
        for terminal in kept:
            terminal.send(None, MessageId.HEARTBEAT)
            assert terminal.ack()[1].result == AckResult.OK
        extra = Terminal(port, PHONES[18])
        with contextlib.suppress(OSError):
            extra.send(None, MessageId.HEARTBEAT)
        assert _closed_by_platform(extra)
        kept[0].close()
        time.sleep(0.1)
        again = Terminal(port, PHONES[18])  # room again
        again.send(None, MessageId.HEARTBEAT)
        assert again.ack()[1].result == AckResult.OK


def test_a_terminal_that_does_not_read_its_answers_is_no_longer_read(ingest: Running) -> None:
    """Heartbeats sent at full speed, no answer read: the platform stops reading rather than buffer the answers
    (kernel buffers made small on both sides so that the platform's own buffer is what fills)."""
    flooder = socket.socket()
    flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flooder.connect(("127.0.0.1", ingest.ports["jt808"]))
    server = ingest.ingest.jt808
    assert server is not None
    deadline = time.monotonic() + 2
    found: list[Jt808Connection] = []
    while not found and time.monotonic() < deadline:
        found = [c for c in list(server.connections) if c.transport is not None
                 and c.transport.get_extra_info("peername") == flooder.getsockname()]
    (connection,) = found
    assert isinstance(connection.transport, asyncio.Transport)
    transport = connection.transport
    ingest.call(lambda: transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096))
    terminal = Terminal.__new__(Terminal)
    terminal.phone, terminal.version, terminal.serial = PHONES[19], None, 0
    burst = b"".join(terminal.frame(None, MessageId.HEARTBEAT)[1] for _ in range(10000))
    flooder.settimeout(0.3)
    sent = 0
    try:
        for _ in range(12):  # 120,000 heartbeats, 2.4 MB of answers if all were answered
            sent += flooder.send(burst)
    except TimeoutError:
        pass
    assert sent > 1 << 20
    peak = 0
    for _ in range(30):  # while the platform works through what it could read
        peak = max(peak, ingest.call(transport.get_write_buffer_size))
        time.sleep(0.05)
    assert peak < 1 << 20, peak  # bounded by the high-water mark and one read's answers
    flooder.close()


def test_a_failing_handler_answers_failure_and_the_session_goes_on(
        db: tuple[Engine, dict[str, int]], ingest: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    from telematics.jt808 import server

    terminal = Terminal(ingest.ports["jt808"], PHONES[16])
    terminal.sign_on()

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(server, "to_fix", broken)
        serial = terminal.send(location(5))
        _, ack = terminal.ack()
    assert (ack.serial, ack.result) == (serial, AckResult.FAILURE)
    terminal.send(location(5))
    assert terminal.ack()[1].result == AckResult.OK


def test_no_answer_while_the_database_fails_then_the_resend_is_stored(
        db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[17])
    terminal.sign_on()
    sink = ingest.ingest.sink
    assert sink is not None

    def down(*args: object) -> int:
        raise sa.exc.OperationalError("COPY", {}, Exception("the database is down"))

    store, sink._store = sink._store, down
    try:
        terminal.send(Batch(1, (location(50), location(40))))
        terminal.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            terminal.ack()
    finally:
        sink._store = store
    terminal.sock.settimeout(5)
    serial = terminal.send(Batch(1, (location(50), location(40))))
    assert terminal.ack()[1].serial == serial
    assert len(positions_of(engine, ids[PHONES[17]])) == 2


def test_a_cold_start_report_without_time_is_acknowledged_not_stored(
        db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    """At power-on a terminal reports before it has a fix: status 0, lat = lon = 0, BCD time 000000000000. Its frame
    is well-formed: answered OK (so it is not resent) and stored nowhere. Any other impossible time stays a message
    error. The bodies are built by hand, not by the codec under test."""
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[18])
    terminal.sign_on()
    head = struct.pack(">IIIIHHH", 0, 0, 0, 0, 0, 0, 0)
    serial = terminal.send(Unknown(MessageId.LOCATION, head + bytes(6)), MessageId.LOCATION)
    _, ack = terminal.ack()
    assert (ack.serial, ack.result) == (serial, AckResult.OK)
    terminal.send(Unknown(MessageId.LOCATION, head + bytes.fromhex("261300120000")), MessageId.LOCATION)  # month 13
    assert terminal.ack()[1].result == AckResult.MESSAGE_ERROR
    # 0x0704 of one cold-start report and one real fix: the fix is stored, the batch answered OK.
    cold = dataclasses.replace(location(30), status=0, lat=0.0, lon=0.0, fixed_at=NO_TIME)
    terminal.send(Batch(0, (cold, location(30))))
    assert terminal.ack()[1].result == AckResult.OK
    assert len(positions_of(engine, ids[PHONES[18]])) == 1
    terminal.close()


def test_implausible_speed_and_course_are_stored_as_sent(db: tuple[Engine, dict[str, int]], ingest: Running) -> None:
    """A terminal's speed 0xFFFF (6553.5 km/h) or course 9999 is evidence of what it sent: acknowledged and stored
    raw (the tracks ignore implausible values), not refused. Regression: the code already did so."""
    engine, ids = db
    terminal = Terminal(ingest.ports["jt808"], PHONES[19])
    terminal.sign_on()
    when = (at(20) + timedelta(hours=8)).strftime("%y%m%d%H%M%S")
    body = struct.pack(">IIIIHHH", 0, 0b11, 30_500_000, 114_300_000, 20, 0xFFFF, 9999) + bytes.fromhex(when)
    terminal.send(Unknown(MessageId.LOCATION, body), MessageId.LOCATION)
    assert terminal.ack()[1].result == AckResult.OK
    row, = positions_of(engine, ids[PHONES[19]])
    assert (row.speed_kmh, row.course) == (6553.5, 9999)
    terminal.close()


# --- sub-packages asked for again (0x8003), and refusals in the terminal's own header --------------------------------


def _sub_packages(terminal: Terminal, body: bytes, total: int) -> list[tuple[int, bytes]]:
    """``body`` cut into ``total`` parts of a 0x0704 framed as the terminal sends them, on consecutive serials (the
    standard's way): (serial, frame) per part, index 1 first."""
    size = -(-len(body) // total)
    parts = []
    for index in range(1, total + 1):
        terminal.serial += 1
        header = Header(MessageId.BATCH, terminal.phone, terminal.serial, terminal.version, packet=(total, index))
        parts.append((terminal.serial, encode_frame(header, body[(index - 1) * size : index * size])))
    return parts


def _retransmit_request(version: int | None, body: bytes) -> tuple[int, list[int]]:
    """A 0x8003 body read by hand: (first part's serial, indices asked for). The count is a BYTE in 2013, a WORD in
    2019 (JT/T 808-2019 table 6; SmallChi's JT808_0x8003, yezhihao's T8003 and toggery's B8003Codec agree)."""
    if version is None:
        serial, count = struct.unpack_from(">HB", body)
        at = 3
    else:
        serial, count = struct.unpack_from(">HH", body)
        at = 4
    assert len(body) == at + 2 * count, body.hex()
    return serial, list(struct.unpack_from(f">{count}H", body, at))


@pytest.mark.parametrize(("number", "version", "total", "lost"), [(20, None, 3, (2,)), (21, 1, 4, (2, 3))],
                         ids=["2013", "2019"])
def test_missing_sub_packages_are_asked_for_then_the_message_is_stored(
        db: tuple[Engine, dict[str, int]], ingest: Running, number: int, version: int | None, total: int,
        lost: tuple[int, ...]) -> None:
    """A 0x0704 cut in parts, middle ones lost: once its last part is in, the platform answers each part and sends
    one 0x8003 naming exactly the lost indices under the first part's serial, in the terminal's header version; the
    lost parts resent (identical, as the standard asks) complete the message, which is stored and answered."""
    engine, ids = db
    phone = PHONES[number]
    terminal = Terminal(ingest.ports["jt808"], phone if version is None else phone.rjust(20, "0"), version=version)
    terminal.sign_on()
    fixes = tuple(location(300 + 10 * n) for n in range(2 * total))
    parts = _sub_packages(terminal, encode_body(Batch(1, fixes)), total)
    for index, (_, frame) in enumerate(parts, 1):
        if index not in lost:
            terminal.send_raw(frame)
    answered: list[int] = []
    requests: list[tuple[Header, bytes]] = []
    while len(answered) < total - len(lost) or not requests:
        header, body = terminal.receive_raw()
        if header.msg_id == 0x8003:
            requests.append((header, body))
        else:
            assert header.msg_id == MessageId.PLATFORM_ACK
            serial, msg_id, result = struct.unpack(">HHB", body)
            assert (msg_id, result) == (MessageId.BATCH, AckResult.OK)
            answered.append(serial)
    assert sorted(answered) == [serial for index, (serial, _) in enumerate(parts, 1) if index not in lost]
    ((header, body),) = requests
    assert (header.version, header.phone) == (version, terminal.phone.rjust(12 if version is None else 20, "0"))
    assert _retransmit_request(version, body) == (parts[0][0], list(lost))
    assert positions_of(engine, ids[phone]) == []
    for index in lost:
        terminal.send_raw(parts[index - 1][1])
    last = parts[lost[-1] - 1][0]
    while True:
        _, ack = terminal.ack()
        assert ack.result == AckResult.OK
        if ack.serial == last:
            break
    assert len(positions_of(engine, ids[phone])) == len(fixes)
    terminal.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):  # nothing more asked for
        terminal.receive_raw()
    terminal.close()


def test_a_lost_last_sub_package_is_asked_for_after_a_pause_a_bounded_number_of_times(
        db: tuple[Engine, dict[str, int]], ingest: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last part lost too: nothing tells the platform the terminal is done, so it asks after a pause without
    parts, again after each further pause, at most ``_MAX_RESENDS`` times; the part then sent still completes the
    message (the partial is kept for the reassembler's ttl, as before)."""
    from telematics.jt808 import server

    monkeypatch.setattr(server, "_RESEND_AFTER", 0.2, raising=False)
    engine, ids = db
    phone = PHONES[22]
    terminal = Terminal(ingest.ports["jt808"], phone)
    terminal.sign_on()
    fixes = tuple(location(300 + 10 * n) for n in range(4))
    parts = _sub_packages(terminal, encode_body(Batch(0, fixes)), 3)
    for _, frame in parts[:2]:
        terminal.send_raw(frame)
    requests: list[tuple[int, list[int]]] = []
    answers = 0
    terminal.sock.settimeout(1.0)
    with contextlib.suppress(TimeoutError):
        while True:
            header, body = terminal.receive_raw()
            if header.msg_id == 0x8003:
                requests.append(_retransmit_request(None, body))
            else:
                answers += 1
    assert answers == 2
    assert requests, "no 0x8003"
    assert requests == [(parts[0][0], [3])] * server._MAX_RESENDS
    terminal.sock.settimeout(5)
    terminal.send_raw(parts[2][1])
    _, ack = terminal.ack()
    assert (ack.serial, ack.msg_id, ack.result) == (parts[2][0], MessageId.BATCH, AckResult.OK)
    assert len(positions_of(engine, ids[phone])) == len(fixes)
    terminal.close()


def _unescaped(frame: bytes) -> bytes:
    """A frame's content between the flags, unescaped by hand (not by the codec under test)."""
    out, escaped = bytearray(), False
    for byte in frame[1:-1]:
        if escaped:
            out.append({1: 0x7D, 2: 0x7E}[byte])
            escaped = False
        elif byte == 0x7D:
            escaped = True
        else:
            out.append(byte)
    return bytes(out)


def _declaring(content: bytes, more: int) -> bytes:
    """``content`` (without its check code) with the attributes' body length raised by ``more``."""
    attrs = int.from_bytes(content[2:4], "big")
    return content[:2] + (attrs + more).to_bytes(2, "big") + content[4:]


def _check(content: bytes) -> int:
    check = 0
    for byte in content:
        check ^= byte
    return check


MALFORMED_2019 = {
    # The 2013 and 2019 headers differ by five bytes: these frames fit only the 2013 header (which a 2013 terminal
    # that sets bit 14 sends), but their body or check code fails read that way.
    "body five bytes short of its length": lambda c: c[:-6] + bytes([_check(c[:-6])]),
    "body cut by five bytes, check code stale": lambda c: c[:-6] + c[-1:],
    "length five bytes too long": lambda c: _declaring(c[:-1], 5) + bytes([_check(_declaring(c[:-1], 5))]),
    # Read as 2019 before the fix already: kept as regressions.
    "body one byte short of its length": lambda c: c[:-2] + bytes([_check(c[:-2])]),
    "length ten bytes too long": lambda c: _declaring(c[:-1], 10) + bytes([_check(_declaring(c[:-1], 10))]),
    "bad check code": lambda c: c[:-1] + bytes([c[-1] ^ 0x55]),
    "location body of ten bytes": lambda c: (_declaring(c[:17], 10 - 28) + c[17:27]
                                             + bytes([_check(_declaring(c[:17], 10 - 28) + c[17:27])])),
}


@pytest.mark.parametrize("damage", list(MALFORMED_2019))
def test_a_malformed_2019_frame_is_refused_in_a_2019_header(ingest: Running, damage: str) -> None:
    """A 2019 terminal (bit 14 set) whose frame cannot be used is answered 0x8001 "message error" in the 2019 header
    it speaks (version byte, its 20-digit number) to its own serial, not in a 2013 header read from its bytes."""
    phone = PHONES[23].rjust(20, "0")
    terminal = Terminal(ingest.ports["jt808"], phone, version=1)
    serial, frame = terminal.frame(location(5))
    content = _unescaped(frame)
    assert len(content) == 17 + 28 + 1  # a 2019 header, a location without extras, the check code
    terminal.send_raw(b"\x7e" + escape(MALFORMED_2019[damage](content)) + b"\x7e")
    header, ack = terminal.ack()
    assert (header.msg_id, header.version, header.phone) == (MessageId.PLATFORM_ACK, 1, phone)
    assert (ack.serial, ack.msg_id, ack.result) == (serial, MessageId.LOCATION, AckResult.MESSAGE_ERROR)
    terminal.send(None, MessageId.HEARTBEAT)  # the session goes on
    assert terminal.ack()[1].result == AckResult.OK
    terminal.close()
