"""Group commit: the listeners hand fixes to the sink, one writer thread stores whatever is waiting in one
transaction, commits, and only then tells each submitter that its fixes are durable.

One commit costs one flush to disk whatever it holds, so the fixes that arrive while a commit is on its way to disk
all go in the next one (up to ``telematics_batch_max``): throughput grows with the load at the same durability. A
batch the database refuses fails its submitters, who then do not acknowledge (the terminals resend), and the sink
goes on with the next. Beyond ``telematics_queue_max`` fixes (and raw frames) waiting, ``full`` is set and the
listeners stop reading until there is room (back-pressure: terminals wait, nothing is dropped). Raw frames count
too: a terminal flooding heartbeats or unknown messages must not grow the queue while the database is slow.

A batch that fails because of its data (anything but the database being unreachable) is written again entry by
entry, so that one report the database refuses, resent for ever, cannot keep failing everyone batched with it.

The submitters live on one asyncio loop; the writer thread resolves their futures with one
``call_soon_threadsafe`` per batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from fleet import positions
from fleet.db import unit_of_work
from fleet.positions import Fix, Raw

log = logging.getLogger("gongche.telematics.sink")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# The database itself failed (down, connection lost, pool exhausted): writing entry by entry would only fail more.
_UNREACHABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


class SinkError(RuntimeError):
    """The batch holding these fixes was not stored: they must not be acknowledged."""


@dataclass(slots=True)
class _Entry:
    fixes: Sequence[Fix]
    raw: Sequence[Raw]
    future: asyncio.Future[None] | None  # None: nobody waits (raw frames of non-position messages)

    @property
    def weight(self) -> int:
        return len(self.fixes) + len(self.raw)


@dataclass
class SinkStats:
    batches: int = 0
    fixes: int = 0
    failed_batches: int = 0
    commit_seconds: float = 0.0
    largest_batch: int = 0
    sizes: list[int] = field(default_factory=list)  # the last batches' sizes, for tuning


class Sink:
    """``submit(fixes, raw)`` -> a future resolved once they are committed (SinkError if their batch failed)."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, *, batch_max: int = 2000,
                 queue_max: int = 50000,
                 store: Callable[..., int] = positions.store) -> None:
        self.engine = engine
        self.loop = loop
        self.batch_max = batch_max
        self.queue_max = queue_max
        self.stats = SinkStats()
        self._store = store
        self._queue: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._queued = 0  # fixes submitted and not yet resolved (read and written on the loop only)
        self._room_waiters: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._run, name="telematics-sink", daemon=True)
        self._thread.start()

    # --- the loop's side ---------------------------------------------------------------------------------------

    @property
    def full(self) -> bool:
        return self._queued >= self.queue_max

    @property
    def queued(self) -> int:
        return self._queued

    def when_room(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) once the queue is below ``queue_max`` again."""
        if not self.full:
            self.loop.call_soon(callback)
        else:
            self._room_waiters.append(callback)

    def submit(self, fixes: Sequence[Fix], raw: Sequence[Raw] = ()) -> asyncio.Future[None]:
        """Queue ``fixes`` (and their raw frames); the future is done once they are durable. Call on the loop."""
        future: asyncio.Future[None] = self.loop.create_future()
        if self._closing:
            future.set_exception(SinkError("the sink is closed"))
            return future
        entry = _Entry(fixes, raw, future)
        self._queued += entry.weight
        self._put(entry)
        return future

    def keep_raw(self, raw: Sequence[Raw]) -> None:
        """Queue raw frames that nobody waits for (frames without positions)."""
        if raw and not self._closing:
            entry = _Entry((), raw, None)
            self._queued += entry.weight
            self._put(entry)

    async def room(self) -> None:
        """Wait until the queue is below ``queue_max``."""
        while self.full:
            waiter: asyncio.Future[None] = self.loop.create_future()
            self.when_room(partial(_wake, waiter))
            await waiter

    async def close(self) -> None:
        """Store what is queued, then stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        await asyncio.to_thread(self._thread.join)

    def _put(self, entry: _Entry) -> None:
        with self._cond:
            self._queue.append(entry)
            self._cond.notify()

    def _settle(self, entries: list[_Entry], error: BaseException | None) -> None:
        # On the loop: resolve the batch's futures and make room.
        for entry in entries:
            self._queued -= entry.weight
            future = entry.future
            if future is None or future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(SinkError(str(error)))
        if self._room_waiters and not self.full:
            waiters, self._room_waiters = self._room_waiters, []
            for callback in waiters:
                callback()

    # --- the writer thread -------------------------------------------------------------------------------------

    def _take(self) -> list[_Entry] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            taken: list[_Entry] = []
            count = 0
            while self._queue and (not taken or count + self._queue[0].weight <= self.batch_max):
                entry = self._queue.popleft()
                taken.append(entry)
                count += entry.weight
            return taken

    def _write(self, entries: list[_Entry]) -> None:
        fixes = [fix for entry in entries for fix in entry.fixes]
        raw = [frame for entry in entries for frame in entry.raw]
        started = time.perf_counter()
        with unit_of_work(self.engine) as session:
            self._store(session, fixes, raw)
        stats = self.stats
        stats.commit_seconds += time.perf_counter() - started
        stats.batches += 1
        stats.fixes += len(fixes)
        stats.largest_batch = max(stats.largest_batch, len(fixes))
        stats.sizes = [*stats.sizes[-99:], len(fixes)]

    def _run(self) -> None:
        while (entries := self._take()) is not None:
            try:
                self._write(entries)
                outcome: list[tuple[list[_Entry], BaseException | None]] = [(entries, None)]
            except Exception as failure:  # the database is down, or one entry's data is refused
                self.stats.failed_batches += 1
                outcome = self._one_by_one(entries, failure)
            for settled, error in outcome:
                try:
                    self.loop.call_soon_threadsafe(self._settle, settled, error)
                except RuntimeError:  # the loop is closed: nobody is left to tell
                    return

    def _one_by_one(self, entries: list[_Entry], error: Exception) -> list[tuple[list[_Entry], BaseException | None]]:
        """After a failed batch: if its data was at fault (not the database), store each entry on its own so that
        one terminal's bad fix does not fail everyone else's."""
        log.warning("a batch of %d fixes was not stored: %s", sum(len(e.fixes) for e in entries), error)
        if len(entries) == 1 or isinstance(error, _UNREACHABLE):
            return [(entries, error)]
        outcome: list[tuple[list[_Entry], BaseException | None]] = []
        for entry in entries:
            try:
                self._write([entry])
                outcome.append(([entry], None))
            except Exception as alone:
                outcome.append(([entry], alone))
        return outcome
