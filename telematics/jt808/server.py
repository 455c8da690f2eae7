"""The JT/T 808 listener: an asyncio TCP server, one protocol object per terminal connection.

Per connection: bytes -> ``Splitter`` -> ``decode_frame`` -> ``Reassembler`` -> ``decode_body`` -> an answer.

- 0x0100 register -> 0x8100 (``fleet.terminals.register`` in a worker thread); 0x0102 authenticate -> 0x8001 OK or
  FAILURE; 0x0002 heartbeat and 0x0003 deregistration (终端注销) -> 0x8001 OK.
- 0x0200 location and 0x0704 batch -> 0x8001 OK with the terminal's serial and message id, sent only once the sink
  committed the fixes (a terminal resends what is not answered, so a crash loses nothing acknowledged). Positions
  from a connection that did not authenticate that terminal number are answered FAILURE. A fix whose time is
  impossible (before 2000, or ahead of the platform's clock) is not stored: a 0x0200 carrying one is answered
  FAILURE, a 0x0704 only if every fix in it was refused (the others are stored; one bad fix must not make a
  terminal resend a whole blind-area back-fill for ever). A fix without a position (status bit 1 clear) at 0,0 is
  acknowledged and not stored: it is no place; so is a report with an all-zero BCD time (a terminal at power-on,
  before its first fix). Implausible values a terminal sends (speed 0xFFFF, course 9999) are stored as sent: they are
  evidence, and the tracks ignore them.
- Unknown message ids -> 0x8001 UNSUPPORTED; encrypted bodies (RSA, attributes bits 10-12) -> UNSUPPORTED too (the
  platform supports no encryption: the terminal's message is well-formed, we just do not take it); a frame whose
  header could be read but whose check code, length or body is wrong -> MESSAGE_ERROR, in the header version the
  frame's bit 14 announces when that header can be read (``codec.refusal_header``: a 2019 terminal cannot read an
  answer in a 2013 header); anything else is dropped (no header: nobody to answer). A connection that sends nothing
  readable for ``_MAX_GARBAGE`` frames in a row is closed. Whatever one connection sends, the others are untouched:
  all per-connection state lives on its protocol object, and a handler's exception closes only that connection.
- A session ends after ``jt808_missed_heartbeats`` x ``jt808_heartbeat_seconds`` with nothing received, and a
  connection that has not authenticated within that time is closed even if it keeps sending heartbeats.
- Session identity: a connection speaks for the one terminal it authenticated as. Positions and 0x0003 whose header
  carries another number are answered FAILURE; a second connection authenticating as a terminal closes the first
  (the terminal reconnected: the old socket is half-open); a terminal already registered registers again only from
  its own authenticated session (see ``fleet.terminals``' trust model); ``_MAX_AUTH_FAILURES`` wrong codes in a row
  close the connection.
- Resources: at most ``ingest_max_connections`` connections (beyond it new ones are closed at once); a connection is
  no longer read while the sink is full, while frames wait behind a database round trip, or while its answers are
  not read by the terminal (the transport's write buffer is above its high-water mark); partial frames are bounded
  by the splitter's ``max_frame``, sub-packaged parts by the reassembler's ``_MAX_PARTS``.
- A handler that fails unexpectedly is logged and its frame answered FAILURE; the connection and the others go on.
- Sub-packaged messages: each part is answered OK as it comes, the whole message (answered with the part that
  completed it) once reassembled. Parts that did not come are asked for with 0x8003, naming the first part's serial
  and the missing indices: at once when the last part arrives after a gap, else after ``_RESEND_AFTER`` seconds
  without a part, at most ``_MAX_RESENDS`` times per message (why: ``codec.Reassembler``); an incomplete message is
  dropped after the reassembler's ttl (60 s). A per-connection timer runs only while the connection holds parts.
- Answers use the terminal's header version (a 2019 terminal gets 2019 headers) and the session's own serials.

Frames are handled in arrival order: while a register/authenticate/deregister waits for the database, the frames
after it wait too (a terminal that sends its first position right behind its authentication is not refused).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine

from fleet import clock, terminals
from fleet.db import unit_of_work
from fleet.enums import PositionSource
from fleet.positions import Fix, Raw, refusal
from fleet.settings import Settings, get_settings
from fleet.terminals import normalise
from telematics.jt808.codec import (
    EXTRA_UNPARSED,
    AckResult,
    Authenticate,
    Batch,
    FrameError,
    GeneralAck,
    Header,
    Location,
    MessageId,
    Reassembler,
    Register,
    RegisterReply,
    Splitter,
    decode_body,
    decode_frame,
    encode,
    refusal_header,
)
from telematics.sink import Sink
from telematics.throttle import Throttle

log = logging.getLogger("gongche.telematics.jt808")

_MAX_GARBAGE = 32  # unreadable frames in a row after which a connection is closed
_MAX_BACKLOG = 256  # frames waiting behind a database round trip before the connection stops being read
_MAX_AUTH_FAILURES = 5  # wrong auth codes in a row after which a connection is closed (codes are 96 random bits)
_MAX_PARTS = 64  # sub-packaged parts held per connection (64 x 1023 bytes; a 0x0704 of ~2,000 fixes)
# Seconds without a part of an incomplete sub-packaged message before its missing parts are asked for (0x8003), and
# how many times at most: three requests within the 60 s a partial is kept, each long enough after the last part for a
# terminal on a slow link to be done sending (go-jt808 waits 5 s, yezhihao/jt808-server 30 s, up to 5 times).
_RESEND_AFTER = 10.0
_MAX_RESENDS = 3


@dataclass
class Counters:
    connections: int = 0
    frames: int = 0
    fixes: int = 0
    acks: int = 0
    bad_frames: int = 0
    idle_closed: int = 0
    refused_connections: int = 0  # beyond ingest_max_connections
    replaced_sessions: int = 0  # an older connection closed when its terminal authenticated again elsewhere
    handler_errors: int = 0
    resend_requests: int = 0  # 0x8003 sent: parts of sub-packaged messages asked for again


def to_fix(location: Location, vehicle_id: int, *, backfill: bool = False) -> Fix:
    """A decoded 0x0200 as the one shape of a fix; extras kept raw as hex under their id ("0x30")."""
    extras = {("tail" if key == EXTRA_UNPARSED else f"0x{key:02x}"): value.hex()
              for key, value in location.extras.items()} or None
    return Fix(vehicle_id=vehicle_id, fixed_at=location.fixed_at, lat=location.lat, lon=location.lon,
               speed_kmh=location.speed_kmh, course=location.course, altitude_m=location.altitude_m,
               acc=location.acc, alarm=location.alarm, status=location.status, mileage_km=location.mileage_km,
               source=PositionSource.jt808, backfill=backfill, extras=extras)


class Jt808Server:
    """The listener's shared state: the sink, the settings, the live connections and their idle sweep."""

    def __init__(self, engine: Engine, sink: Sink, settings: Settings | None = None) -> None:
        self.engine = engine
        self.sink = sink
        self.settings = settings or get_settings()
        self.keep_raw = self.settings.telematics_raw_retention_days > 0
        self.idle_seconds = self.settings.jt808_heartbeat_seconds * self.settings.jt808_missed_heartbeats
        self.max_connections = self.settings.ingest_max_connections
        self.connections: set[Jt808Connection] = set()
        self.sessions: dict[str, Jt808Connection] = {}  # terminal number -> the connection authenticated as it
        self.counters = Counters()
        self.throttle = Throttle()  # per-connection log lines a crowd would flood
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: any free port); the port bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Jt808Connection(self), host, port, backlog=1024)
        self._sweeper = loop.create_task(self._sweep())
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and close every connection (answers still owed are dropped: terminals resend)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _sweep(self) -> None:
        # One timer for all connections instead of one per connection.
        loop = asyncio.get_running_loop()
        every = min(max(self.idle_seconds / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(every)
            now = loop.time()
            for connection in list(self.connections):
                silent = now - connection.last_seen > self.idle_seconds
                unauthenticated = connection.phone is None and now - connection.opened_at > self.idle_seconds
                if silent or unauthenticated:
                    self.counters.idle_closed += 1
                    connection.close()
                connection.reassembler.expire(now)

    # Database round trips, each one unit of work in a worker thread.

    def register(self, header: Header, message: Register, authenticated: bool) -> tuple[int, str | None, int | None]:
        with unit_of_work(self.engine) as session:
            return terminals.register(
                session, phone=header.phone, version=header.version, province=message.province,
                city=message.city, maker=message.maker, model=message.model, device_no=message.device_no,
                plate_colour=message.plate_colour, plate=message.plate, authenticated=authenticated)

    def authenticate(self, header: Header, message: Authenticate) -> int | None:
        with unit_of_work(self.engine, readonly=True) as session:
            return terminals.authenticate(session, phone=header.phone, code=message.code)

    def deregister(self, header: Header) -> bool:
        with unit_of_work(self.engine) as session:
            return terminals.deregister(session, phone=header.phone)


class Jt808Connection(asyncio.Protocol):
    """One terminal's connection: its framing state, its authentication and its serials."""

    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.sink = server.sink
        self.loop = asyncio.get_running_loop()
        self.splitter = Splitter()
        self.reassembler = Reassembler(max_parts=_MAX_PARTS, resend_after=_RESEND_AFTER, max_requests=_MAX_RESENDS)
        self._resend_timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        self.last_seen = self.opened_at = self.loop.time()
        self._auth_failures = 0
        self.phone: str | None = None  # the authenticated terminal number (zeros stripped)
        self.vehicle_id: int | None = None
        self._serial = 0
        self._backlog: deque[bytes | FrameError] = deque()
        self._busy = False  # a database round trip is under way: later frames wait
        self._paused: set[str] = set()
        self._garbage = 0
        self._out: list[bytes] = []

    # --- asyncio.Protocol ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.server.connections) >= self.server.max_connections:
            self.server.counters.refused_connections += 1
            self.server.throttle.log(log, logging.WARNING, "refused", "a JT/T 808 connection refused: %d open",
                                     len(self.server.connections))
            transport.abort()  # nothing read, nothing owed
            return
        self.server.connections.add(self)
        self.server.counters.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._forget_session()
        self._backlog.clear()
        if self._resend_timer is not None:
            self._resend_timer.cancel()
            self._resend_timer = None

    def pause_writing(self) -> None:
        # The terminal does not read its answers: stop reading its frames rather than buffer answers without end.
        self._pause("write", True)

    def resume_writing(self) -> None:
        self._pause("write", False)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # closed (or refused) by us: what is still in flight is not read
        self.last_seen = self.loop.time()
        self._backlog.extend(self.splitter.feed(data))
        self._drain()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # --- flow ----------------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        try:
            while self._backlog and not self._busy:
                if self.transport is None or self.transport.is_closing():
                    self._backlog.clear()  # closed by one of these frames: the rest are not answered
                    return
                item = self._backlog.popleft()
                if isinstance(item, FrameError):
                    self._bad(item)
                else:
                    self._frame(item)
        except Exception:  # a bug must cost this connection only
            log.exception("closing a JT/T 808 connection after an unexpected error")
            self.close()
            return
        self._pause("backlog", len(self._backlog) > _MAX_BACKLOG)
        if self.sink.full and "sink" not in self._paused:
            self._pause("sink", True)
            self.sink.when_room(lambda: self._pause("sink", False))

    def _pause(self, reason: str, on: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        was = bool(self._paused)
        if on:
            self._paused.add(reason)
        else:
            self._paused.discard(reason)
        if bool(self._paused) != was:
            (self.transport.pause_reading if self._paused else self.transport.resume_reading)()

    def _next_serial(self) -> int:
        serial = self._serial
        self._serial = (serial + 1) & 0xFFFF
        return serial

    def _send(self, frame: bytes) -> None:
        # Answers made in one turn of the loop (a batch's acknowledgements) leave in one write: one system call.
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(frame)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def _ack(self, header: Header, result: AckResult) -> None:
        self.server.counters.acks += 1
        self._send(encode(GeneralAck(header.serial, header.msg_id, result), phone=header.phone,
                          serial=self._next_serial(), version=header.version))

    def _raw(self, header: Header, content: bytes) -> tuple[Raw, ...]:
        if not self.server.keep_raw:
            return ()
        return (Raw(clock.now(), PositionSource.jt808, header.phone, content),)

    def _bad(self, error: FrameError, content: bytes | None = None) -> None:
        """Count a refused frame and answer it MESSAGE_ERROR if it has a header to answer; ``content``: the frame's
        (None for a run the splitter refused)."""
        self.server.counters.bad_frames += 1
        header = error.header if content is None else refusal_header(content, error.header)
        if header is not None:
            self._ack(header, AckResult.MESSAGE_ERROR)
            return
        self._garbage += 1
        if self._garbage >= _MAX_GARBAGE:
            self.server.throttle.log(log, logging.INFO, "garbage",
                                     "closing a JT/T 808 connection after %d unreadable frames (%s)", self._garbage,
                                     error.reason)
            self.close()

    # --- frames --------------------------------------------------------------------------------------------------

    def _frame(self, content: bytes) -> None:
        self.server.counters.frames += 1
        try:
            header, body = decode_frame(content)
        except FrameError as error:
            self._bad(error, content)
            return
        self._garbage = 0
        try:
            self._message(header, body, content)
        except Exception:  # a bug, or input nobody foresaw: this frame is refused, the session goes on
            self.server.counters.handler_errors += 1
            log.exception("a JT/T 808 frame from %s (0x%04x) could not be handled", header.phone, header.msg_id)
            self._ack(header, AckResult.FAILURE)

    def _message(self, header: Header, body: bytes, content: bytes) -> None:
        if header.encrypted:
            self._ack(header, AckResult.UNSUPPORTED)
            return
        answer_to = header  # a sub-packaged message is answered part by part, the whole with its last part
        raw = self._raw(header, content)
        if header.packet is not None:
            try:
                whole = self.reassembler.feed(header, body, self.loop.time())
            except FrameError as error:
                self._bad(error, content)
                return
            if whole is None:
                self.sink.keep_raw(raw)
                self._ack(header, AckResult.OK)  # this part received; the message is answered when whole
                self._ask_for_missing_parts()
                return
            header, body = whole
        try:
            message = decode_body(header, body)
        except FrameError as error:
            self.sink.keep_raw(raw)
            self._bad(FrameError(error.reason, answer_to), content)
            return
        msg_id = header.msg_id
        if msg_id in (MessageId.LOCATION, MessageId.BATCH) and isinstance(message, Location | Batch):
            self._positions(answer_to, header, message, raw)
            return
        self.sink.keep_raw(raw)
        if msg_id == MessageId.HEARTBEAT:
            self._ack(answer_to, AckResult.OK)
        elif msg_id == MessageId.TERMINAL_ACK:
            pass  # the terminal answering one of ours: we send none that need it
        elif msg_id == MessageId.REGISTER and isinstance(message, Register):
            own = self.phone is not None and normalise(header.phone) == self.phone
            self._round_trip(partial(self.server.register, header, message, own),
                             partial(self._registered, answer_to))
        elif msg_id == MessageId.AUTHENTICATE and isinstance(message, Authenticate):
            self._round_trip(partial(self.server.authenticate, header, message),
                             partial(self._authenticated, answer_to))
        elif msg_id == MessageId.LOGOUT:
            if self.phone is None or normalise(header.phone) != self.phone:
                self._ack(answer_to, AckResult.FAILURE)  # only a terminal's own session ends its registration
                return
            self._round_trip(partial(self.server.deregister, header), partial(self._deregistered, answer_to))
        else:
            self._ack(answer_to, AckResult.UNSUPPORTED)

    def _ask_for_missing_parts(self) -> None:
        """Send the 0x8003 the reassembler has due, then set the timer for its next (none while it has none)."""
        if self._resend_timer is not None:
            self._resend_timer.cancel()
            self._resend_timer = None
        if self.transport is None or self.transport.is_closing():
            return
        now = self.loop.time()
        self.reassembler.expire(now)  # a message past its ttl is dropped, not asked for
        for header, request in self.reassembler.requests(now):
            self.server.counters.resend_requests += 1
            self._send(encode(request, phone=header.phone, serial=self._next_serial(), version=header.version))
        when = self.reassembler.next_due()
        if when is not None:
            self._resend_timer = self.loop.call_at(when, self._ask_for_missing_parts)

    def _positions(self, answer_to: Header, header: Header, message: Location | Batch, raw: tuple[Raw, ...]) -> None:
        if self.vehicle_id is None or normalise(header.phone) != self.phone:
            self.sink.keep_raw(raw)
            self._ack(answer_to, AckResult.FAILURE)  # not authenticated: 0x0102 first
            return
        if isinstance(message, Location):
            locations: tuple[Location, ...] = (message,)
            backfill = False
        else:
            locations, backfill = message.locations, message.kind == 1
        now = clock.now()
        skew = self.server.settings.clock_skew_minutes
        fixes: list[Fix] = []
        refused = 0
        for location in locations:
            if location.timeless:  # all-zero time at power-on: acknowledged, not stored (no time, no place)
                continue
            if refusal(location.fixed_at, now, skew):
                refused += 1
            elif location.positioned or location.lat or location.lon:
                fixes.append(to_fix(location, self.vehicle_id, backfill=backfill))
        if refused and not fixes:
            self.sink.keep_raw(raw)
            self._ack(answer_to, AckResult.FAILURE)
            return
        if not fixes:
            self.sink.keep_raw(raw)
            self._ack(answer_to, AckResult.OK)
            return
        self.server.counters.fixes += len(fixes)
        self.sink.submit(fixes, raw).add_done_callback(partial(self._stored, answer_to))

    def _stored(self, answer_to: Header, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # not durable: no answer, the terminal resends
        self._ack(answer_to, AckResult.OK)

    # --- database round trips --------------------------------------------------------------------------------------

    def _round_trip(self, work: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Run ``work`` in a worker thread, then ``then(result)`` (None if it failed) on the loop; frames after
        this one wait."""
        self._busy = True
        future = self.loop.run_in_executor(None, work)

        def done(finished: asyncio.Future[Any]) -> None:
            self._busy = False
            if self.transport is None or self.transport.is_closing():
                return
            error = finished.exception()
            if error is not None:
                log.warning("a JT/T 808 terminal's request failed in the database: %s", error)
            then(None if error is not None else finished.result())
            self._drain()

        future.add_done_callback(done)

    def _registered(self, answer_to: Header, outcome: tuple[int, str | None, int | None] | None) -> None:
        if outcome is None:
            self._ack(answer_to, AckResult.FAILURE)
            return
        result, code, _ = outcome
        self._send(encode(RegisterReply(answer_to.serial, int(result), code), phone=answer_to.phone,
                          serial=self._next_serial(), version=answer_to.version))

    def _authenticated(self, answer_to: Header, vehicle_id: int | None) -> None:
        if vehicle_id is None:
            self._ack(answer_to, AckResult.FAILURE)
            self._auth_failures += 1
            if self._auth_failures >= _MAX_AUTH_FAILURES:
                self.server.throttle.log(log, logging.INFO, "auth",
                                         "closing a JT/T 808 connection after %d wrong auth codes (terminal %s)",
                                         self._auth_failures, answer_to.phone)
                self._flush()
                self.close()
            return
        self._auth_failures = 0
        self._forget_session()
        self.phone, self.vehicle_id = normalise(answer_to.phone), vehicle_id
        older = self.server.sessions.get(self.phone)
        if older is not None and older is not self:
            # The terminal reconnected (new address, or the old socket half-open): one session per terminal.
            self.server.counters.replaced_sessions += 1
            older.phone = older.vehicle_id = None
            older.close()
        self.server.sessions[self.phone] = self
        self._ack(answer_to, AckResult.OK)

    def _forget_session(self) -> None:
        if self.phone is not None and self.server.sessions.get(self.phone) is self:
            del self.server.sessions[self.phone]

    def _deregistered(self, answer_to: Header, done: bool | None) -> None:
        if done is None:
            self._ack(answer_to, AckResult.FAILURE)
            return
        if normalise(answer_to.phone) == self.phone:
            self._forget_session()
            self.phone = self.vehicle_id = None
        self._ack(answer_to, AckResult.OK)
