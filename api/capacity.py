"""How many requests hold a database session at once: no more than the engine's pool can serve.

Past the pool, a request would wait for a connection inside a worker thread (anyio lends 40), holding the thread
while it waits; enough of them and requests that need no database wait too. So a request first takes a slot here,
waiting on the event loop where a wait costs no thread, in arrival order, for at most ``db_wait_seconds``; past that
the answer is 503 with Retry-After. One set of slots per engine, per process: each worker has its own pool.

Reads that take seconds to minutes over a large city (the usage audit over a period, the annual report, the audit
chain's verification, exports, monthly statements) also take a place in a smaller lane first (`heavy_read`): a
quarter of the pool unless set. However many supervisors ask at once, three quarters of the pool stay for the day's
bookings and dispatch; a report past the lane waits, then is told to come back (503, Retry-After).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakKeyDictionary

import anyio
from fastapi import Request
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from fleet.errors import Busy
from fleet.i18n import msg
from fleet.settings import get_settings


def pool_capacity(engine: Engine) -> int | None:
    """How many connections the engine's pool hands out at most, or None when it sets no bound."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return None  # NullPool opens one per checkout; the single-connection pools of in-memory SQLite share theirs
    overflow: int = pool._max_overflow  # no public accessor; -1 means unbounded
    return None if overflow < 0 else pool.size() + overflow


class Slots:
    """A fair semaphore with a bounded wait, sized to one engine's pool (or, for the heavy reads, part of it)."""

    def __init__(self, capacity: int, wait: float, retry_after: int, *, heavy: bool = False) -> None:
        self.capacity, self.wait, self.retry_after, self.heavy = capacity, wait, retry_after, heavy
        self._semaphore = anyio.Semaphore(capacity, fast_acquire=True)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """One slot for the block; ``Busy`` if none comes free within ``wait`` seconds."""
        acquired = False
        with anyio.move_on_after(self.wait):  # around the wait only: the request itself is not timed here
            await self._semaphore.acquire()
            acquired = True
        if not acquired:
            busy = (msg("{capacity} reports and audits are being read, the most at once beside the day's work, and "
                        "none finished within {wait} s; send this one again", capacity=self.capacity,
                        wait=f"{self.wait:g}") if self.heavy else
                    msg("the database is serving {capacity} requests, its most at once, and none finished within "
                        "{wait} s; send this one again", capacity=self.capacity, wait=f"{self.wait:g}"))
            raise Busy(busy, retry_after=self.retry_after)
        try:
            yield
        finally:
            self._semaphore.release()


_SLOTS: WeakKeyDictionary[Engine, Slots | None] = WeakKeyDictionary()
_HEAVY: WeakKeyDictionary[Engine, Slots | None] = WeakKeyDictionary()


def slots_for(engine: Engine) -> Slots | None:
    """The engine's slots (made on first use, from the settings of that moment); None for an unbounded pool."""
    try:
        return _SLOTS[engine]
    except KeyError:
        capacity = pool_capacity(engine)
        settings = get_settings()
        made = None if capacity is None else Slots(capacity, settings.db_wait_seconds, settings.db_retry_after_seconds)
        return _SLOTS.setdefault(engine, made)


def heavy_slots_for(engine: Engine) -> Slots | None:
    """The engine's lane for heavy reads: ``db_heavy_reads`` places (0: a quarter of the pool, at least one), never
    more than the pool; None for an unbounded pool."""
    try:
        return _HEAVY[engine]
    except KeyError:
        capacity = pool_capacity(engine)
        settings = get_settings()
        made = None
        if capacity is not None:
            lane = min(capacity, settings.db_heavy_reads or max(1, capacity // 4))
            made = Slots(lane, settings.db_wait_seconds, settings.db_retry_after_seconds, heavy=True)
        return _HEAVY.setdefault(engine, made)


@asynccontextmanager
async def _holding(slots: Slots | None) -> AsyncIterator[None]:
    """A slot of ``slots`` for the block; nothing to hold for an unbounded pool (None)."""
    if slots is None:
        yield
        return
    async with slots.hold():
        yield


async def database_slot(request: Request) -> AsyncIterator[None]:
    """The dependency under every request session: hold a slot of the app's engine while the session lives."""
    async with _holding(slots_for(request.app.state.engine)):
        yield


async def heavy_read(request: Request) -> AsyncIterator[None]:
    """A route's dependency (listed first, so taken before its database slot): hold a place in the heavy lane."""
    async with _holding(heavy_slots_for(request.app.state.engine)):
        yield
