"""The ingest on a background thread's loop, and a blocking JT/T 808 terminal to talk to it over a real socket."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from fleet import clock
from fleet.settings import Settings, get_settings
from telematics.ingest import Ingest
from telematics.jt808.codec import (
    STATUS_ACC,
    STATUS_POSITIONED,
    Authenticate,
    FrameError,
    GeneralAck,
    Header,
    Location,
    Message,
    Register,
    RegisterReply,
    Splitter,
    decode_body,
    decode_frame,
    encode,
)


@dataclass
class Running:
    ingest: Ingest
    loop: asyncio.AbstractEventLoop
    ports: dict[str, int]

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the ingest's loop and return its result."""
        async def wrapped() -> Any:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(5)


@contextmanager
def running_ingest(engine: Engine, **overrides: Any) -> Iterator[Running]:
    """The ingest's listeners on free ports of 127.0.0.1, with these settings changed."""
    settings = get_settings().model_copy(update=overrides) if overrides else get_settings()
    assert isinstance(settings, Settings)
    loop = asyncio.new_event_loop()
    ingest = Ingest(engine, settings)
    ready = threading.Event()
    stop = asyncio.Event()
    ports: dict[str, int] = {}

    async def main() -> None:
        try:
            ports.update(await ingest.start("127.0.0.1", 0, 0))
        finally:
            ready.set()
        await stop.wait()
        await ingest.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield Running(ingest, loop, ports)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def at(seconds_ago: float) -> datetime:
    """A device time ``seconds_ago`` before the platform's now, whole seconds (BCD times have no fraction)."""
    return (clock.now() - timedelta(seconds=seconds_ago)).replace(microsecond=0).astimezone(UTC)


def location(seconds_ago: float = 5, *, lat: float = 30.5, lon: float = 114.3, speed: float = 36.0,
             mileage_km: float | None = None) -> Location:
    extras = {} if mileage_km is None else {0x01: int(mileage_km * 10).to_bytes(4, "big")}
    return Location(alarm=0, status=STATUS_ACC | STATUS_POSITIONED, lat=lat, lon=lon, altitude_m=20,
                    speed_kmh=speed, course=90, fixed_at=at(seconds_ago), extras=extras)


OPENED: list[socket.socket] = []  # every terminal's socket, closed by ``close_terminals``


def close_terminals() -> None:
    while OPENED:
        OPENED.pop().close()


@dataclass
class Terminal:
    """A terminal's side of one TCP connection: send messages, read the platform's answers."""

    port: int
    phone: str
    version: int | None = None
    timeout: float = 5.0
    serial: int = 0
    sock: socket.socket = field(init=False)
    splitter: Splitter = field(default_factory=Splitter)
    pending: list[tuple[Header, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        OPENED.append(self.sock)

    def close(self) -> None:
        self.sock.close()

    def frame(self, message: Message, msg_id: int | None = None) -> tuple[int, bytes]:
        self.serial += 1
        return self.serial, encode(message, phone=self.phone, serial=self.serial, version=self.version,
                                   msg_id=msg_id)

    def send(self, message: Message, msg_id: int | None = None) -> int:
        serial, data = self.frame(message, msg_id)
        self.sock.sendall(data)
        return serial

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive_raw(self) -> tuple[Header, bytes]:
        """The next frame from the platform, its body undecoded; TimeoutError if none comes, ConnectionError if the
        platform closed."""
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the platform")
            for item in self.splitter.feed(data):
                assert not isinstance(item, FrameError), item
                self.pending.append(decode_frame(item))
        return self.pending.pop(0)

    def receive(self) -> tuple[Header, Message]:
        """The next answer, decoded; TimeoutError if none comes, ConnectionError if the platform closed."""
        header, body = self.receive_raw()
        return header, decode_body(header, body)

    def ack(self) -> tuple[Header, GeneralAck]:
        header, message = self.receive()
        assert isinstance(message, GeneralAck), message
        return header, message

    def register(self, plate: str = "", colour: int = 1) -> RegisterReply:
        serial = self.send(Register(42, 100, "MK", "M1", "D1", colour, plate))
        header, reply = self.receive()
        assert isinstance(reply, RegisterReply), reply
        assert reply.serial == serial
        assert header.version == self.version
        return reply

    def authenticate(self, code: str) -> GeneralAck:
        imei = "860000000000001" if self.version is not None else None
        serial = self.send(Authenticate(code, imei, "1.0" if imei else None))
        _, answer = self.ack()
        assert answer.serial == serial
        return answer

    def sign_on(self, plate: str = "") -> None:
        reply = self.register(plate)
        assert reply.result == 0, reply
        assert reply.auth_code is not None
        assert self.authenticate(reply.auth_code).result == 0


def with_serial(header: Header, serial: int) -> Header:
    return replace(header, serial=serial)
