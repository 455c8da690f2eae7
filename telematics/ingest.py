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

log = logging.getLogger("gongche.telematics.ingest")

PRUNE_EVERY_SECONDS = 3600.0
SWITCH_INTERVAL = 0.0005


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
        self.sink = Sink(self.engine, asyncio.get_running_loop(), batch_max=settings.telematics_batch_max,
                         queue_max=settings.telematics_queue_max)
        if jt808_port >= 0:
            self.jt808 = Jt808Server(self.engine, self.sink, settings)
            self.ports["jt808"] = await self.jt808.start(host, jt808_port)
        if osmand_port >= 0:
            self.osmand = OsmAndServer(self.engine, self.sink, settings)
            self.ports["osmand"] = await self.osmand.start(host, osmand_port)
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
