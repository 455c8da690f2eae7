"""The ingest: the JT/T 808 and OsmAnd listeners and the group-commit sink on one asyncio loop.

``run(engine, settings)`` serves until SIGTERM or SIGINT, then stops listening, stores what the sink holds (those
fixes' answers may be lost with their connections: the terminals resend them and they are stored once) and returns.
Raw frames older than ``telematics_raw_retention_days`` are pruned every hour. Several ingest processes may run in
front of one database (each on its own ports or behind a TCP balancer): they share nothing but the database.

``python -m telematics.ingest`` runs it with the settings (``gongche ingest`` is the same with options).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
from datetime import timedelta

from sqlalchemy.engine import Engine

from fleet import clock, positions
from fleet.db import make_engine, unit_of_work
from fleet.settings import Settings, get_settings
from telematics.jt808.server import Jt808Server
from telematics.osmand_http import OsmAndServer
from telematics.sink import Sink
from telematics.throttle import Throttle, throttled_exception_handler

log = logging.getLogger("gongche.telematics.ingest")

PRUNE_EVERY_SECONDS = 3600.0
SWITCH_INTERVAL = 0.0005
# File descriptors kept free of connections: the database pool, the HTTP listener's own, logs, the resolver.
FD_HEADROOM = 256


class ListenError(OSError):
    """A listener could not bind its port (taken, or not allowed): ``host``, ``port`` and the system's reason."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (a stock soft limit of 1024 is below the
    connection cap: accept() then fails in a loop with EMFILE and the listeners stop serving); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. a hard limit above the kernel's nr_open: keep the soft one
            log.warning("the open-file limit could not be raised from %d", soft)
    return soft


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def connection_cap(wanted: int, soft_limit: int, listeners: int = 1) -> int:
    """The connections allowed to each listener: the setting, kept with the others' below the open-file limit less
    ``FD_HEADROOM`` (at least 1)."""
    return max(1, min(wanted, (soft_limit - FD_HEADROOM) // max(1, listeners)))


class Ingest:
    """The listeners and the sink, started and stopped together on the running loop."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings or get_settings()
        self.sink: Sink | None = None
        self.jt808: Jt808Server | None = None
        self.osmand: OsmAndServer | None = None
        self.ports: dict[str, int] = {}
        self._pruner: asyncio.Task[None] | None = None

    async def start(self, host: str | None = None, jt808_port: int | None = None,
                    osmand_port: int | None = None) -> dict[str, int]:
        """Start each listener on its port: None takes the settings' (where 0 means "not started"), 0 given here
        binds any free port, a negative one starts nothing. The ports bound."""
        settings = self.settings
        # The sink's writer thread gives the GIL up at every database round trip and must win it back from the busy
        # loop thread each time: at the default 5 ms switch interval a batch's dozen round trips cost tens of ms.
        sys.setswitchinterval(SWITCH_INTERVAL)
        host = host or settings.ingest_host
        jt808_port = (settings.jt808_port or -1) if jt808_port is None else jt808_port
        osmand_port = (settings.osmand_port or -1) if osmand_port is None else osmand_port
        listeners = (jt808_port >= 0) + (osmand_port >= 0)
        cap = connection_cap(settings.ingest_max_connections, raise_fd_limit(), listeners)
        if cap < settings.ingest_max_connections:
            log.warning("at most %d connections per listener (ingest_max_connections %d would exceed the open-file "
                        "limit less %d)", cap, settings.ingest_max_connections, FD_HEADROOM)
            settings = self.settings = settings.model_copy(update={"ingest_max_connections": cap})
        # asyncio logs each accept() that fails for want of file descriptors: thousands a second under a crowd.
        asyncio.get_running_loop().set_exception_handler(throttled_exception_handler(Throttle()))
        self.sink = Sink(self.engine, asyncio.get_running_loop(), batch_max=settings.telematics_batch_max,
                         queue_max=settings.telematics_queue_max)
        if jt808_port >= 0:
            self.jt808 = Jt808Server(self.engine, self.sink, settings)
            try:
                self.ports["jt808"] = await self.jt808.start(host, jt808_port)
            except OSError as error:
                raise ListenError(host, jt808_port, _reason(error)) from error
        if osmand_port >= 0:
            self.osmand = OsmAndServer(self.engine, self.sink, settings)
            try:
                self.ports["osmand"] = await self.osmand.start(host, osmand_port)
            except OSError as error:
                self.osmand = None  # nothing to shut down
                raise ListenError(host, osmand_port, _reason(error)) from error
        if settings.telematics_raw_retention_days > 0:
            self._pruner = asyncio.get_running_loop().create_task(self._prune_hourly())
        log.info("ingest listening on %s: %s", host, self.ports)
        return self.ports

    async def close(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
        if self.jt808 is not None:
            await self.jt808.close()
        if self.osmand is not None:
            await self.osmand.close()
        if self.sink is not None:
            await self.sink.close()
            stats = self.sink.stats
            log.info("sink: %d fixes in %d batches (largest %d, %d failed), %.1f s writing", stats.fixes,
                     stats.batches, stats.largest_batch, stats.failed_batches, stats.commit_seconds)

    def prune(self) -> int:
        before = clock.now() - timedelta(days=self.settings.telematics_raw_retention_days)
        with unit_of_work(self.engine) as session:
            return positions.prune_raw(session, before)

    async def _prune_hourly(self) -> None:
        while True:
            try:
                pruned = await asyncio.to_thread(self.prune)
                if pruned:
                    log.info("pruned %d raw frames", pruned)
            except Exception:  # the database may be away for a while: try again next hour
                log.exception("pruning raw frames failed")
            await asyncio.sleep(PRUNE_EVERY_SECONDS)


async def serve(engine: Engine, settings: Settings | None = None, *, host: str | None = None,
                jt808_port: int | None = None, osmand_port: int | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set, or SIGTERM/SIGINT (when run in the main thread)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or not on this platform
            pass
    ingest = Ingest(engine, settings)
    try:
        ports = await ingest.start(host, jt808_port, osmand_port)
        print(f"ingest ready: {' '.join(f'{k}={v}' for k, v in sorted(ports.items()))}", flush=True)
        await stop.wait()
    finally:
        await ingest.close()
        for signum in handled:
            loop.remove_signal_handler(signum)


def run(engine: Engine, settings: Settings | None = None, **ports: int | str | None) -> None:
    """Serve in a new event loop until SIGTERM or SIGINT."""
    asyncio.run(serve(engine, settings, **ports))  # type: ignore[arg-type]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(make_engine())
