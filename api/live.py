"""Live changes for open pages: one poller of the audit log per process, fanned out to every event stream.

A stream costs a queue, not a query: however many pages are open, the process reads the log once per
``interval`` (a range scan on its primary key, in a read transaction of its own that takes no connection slot from
the requests), and only while at least one page listens. A page that reconnects names the last change it saw
(``Last-Event-ID``) and gets what it missed from the log itself, then the live feed, without a gap or a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fleet import changes
from fleet.changes import Change
from fleet.clock import CHINA
from fleet.models import User
from fleet.scopes import Scope

log = logging.getLogger("gongche.api")

POLL_SECONDS = 0.25
# A change to the listener's own credentials or scope ends its stream: the page's EventSource reconnects at once and
# is let in again (or not) as of now, catching up from Last-Event-ID without a gap. A deactivated user hears
# nothing more.
REAUTHENTICATE = frozenset({"user.deactivated", "user.signed_out", "user.password_changed", "user.password_set",
                            "user.token_rotated", "user.reassigned"})
CATCH_UP_LIMIT = 1000  # a page further behind than this is told to reload everything instead
QUEUE_LIMIT = 2000  # a page this far behind the live feed is told to reload everything instead


@dataclass(eq=False)
class _Listener:
    queue: asyncio.Queue[Change | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class Feed:
    """The process's one reader of the change log."""

    def __init__(self, engine: Engine, interval: float = POLL_SECONDS) -> None:
        self.engine = engine.execution_options(readonly=True)
        self.interval = interval
        self._listeners: set[_Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._last = 0
        # One stream at a time starts the poller: two opening at once each read the head and started one, and the
        # later head, read after a commit, became the pollers' starting point, so an earlier stream whose catch-up
        # ended before that commit never heard of it.
        self._starting = asyncio.Lock()

    def _read(self, seq: int | None, limit: int) -> tuple[int, list[Change]]:
        with Session(self.engine) as session, session.begin():
            if seq is None:
                return changes.head(session), []
            return seq, changes.after(session, seq, limit=limit)

    def _catch_up(self, seq: int | None, limit: int) -> tuple[int, list[Change]]:
        """The log's head, and the changes after ``seq`` (none when it is None), read together."""
        with Session(self.engine) as session, session.begin():
            head = changes.head(session)
            return head, [] if seq is None else changes.after(session, seq, limit=limit)

    async def _poll(self) -> None:
        while self._listeners:
            try:
                _, found = await run_in_threadpool(self._read, self._last, 500)
            except (sa_exc.DBAPIError, sa_exc.TimeoutError) as failed:  # busy or restarting: try on the next tick
                log.warning("the live feed could not read the change log: %s", failed)
                found = []
            for change in found:
                self._last = change.seq
                for listener in list(self._listeners):
                    try:
                        listener.queue.put_nowait(change)
                    except asyncio.QueueFull:
                        self._overflow(listener)
            if len(found) < 500:
                await asyncio.sleep(self.interval)
        self._task = None

    @staticmethod
    def _overflow(listener: _Listener) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                listener.queue.get_nowait()
        listener.queue.put_nowait(None)  # None: "too far behind, reload everything"

    async def stream(self, user: User, last_seen: int | None,
                     scope: Scope | None = None) -> AsyncIterator[dict[str, str]]:
        """The events for ``user``'s page (within its ``scope``, fleet.scopes), from after ``last_seen`` (or from
        now), as sse-starlette dicts."""
        listener = _Listener()
        self._listeners.add(listener)  # listen first, then catch up: nothing committed in between is missed
        try:
            async with self._starting:
                if self._task is None:
                    self._last, _ = await run_in_threadpool(self._read, None, 0)
                    self._task = asyncio.create_task(self._poll())
            head, missed = await run_in_threadpool(self._catch_up, last_seen, CATCH_UP_LIMIT)
            sent = head if last_seen is None else last_seen
            # Too far behind to catch up, or ahead of the log (an id from another database, or one restored from
            # an older backup): reload everything, as of the head, which a reconnection then starts from.
            if len(missed) >= CATCH_UP_LIMIT or sent > head:
                yield _reset(head)
                sent = head
                missed = []
            for change in missed:  # credentials changed before now are already judged: the caller was just let in
                sent = change.seq
                if change.visible_to(user, scope):
                    yield _event(change)
            yield {"id": str(sent), "event": "ready", "data": json.dumps({"seq": sent})}
            while True:
                news = await listener.queue.get()
                if news is None:
                    yield _reset(self._last)
                    sent = self._last
                    continue
                if news.seq <= sent:
                    continue
                if _ends(news, user):
                    return
                sent = news.seq
                if news.visible_to(user, scope):
                    yield _event(news)
        finally:
            self._listeners.discard(listener)


def _ends(change: Change, user: User) -> bool:
    return change.entity == "user" and change.entity_id == str(user.id) and change.action in REAUTHENTICATE


def _event(change: Change) -> dict[str, str]:
    body = {"seq": change.seq, "action": change.action, "entity": change.entity, "entity_id": change.entity_id,
            "at": change.at.astimezone(CHINA).isoformat(timespec="seconds")}
    return {"id": str(change.seq), "event": "change", "data": json.dumps(body)}


def _reset(seq: int) -> dict[str, str]:
    return {"id": str(seq), "event": "reset", "data": json.dumps({"seq": seq})}
