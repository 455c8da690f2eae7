"""Log lines that a crowd would repeat thousands of times a second (refused connections, closed garbage senders,
the accept loop out of file descriptors) written at most once per interval per kind, with the count of those
left out: the log stays readable and the disk stays free while the listeners are under a flood."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any


class Throttle:
    """``allow(kind)``: the number of occurrences since the last line written (>= 1) when a line may be written
    now, else 0 (the occurrence counted)."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def allow(self, kind: str) -> int:
        count = self._count.get(kind, 0) + 1
        now = self._clock()
        if now - self._last.get(kind, -1e18) < self.interval:
            self._count[kind] = count
            return 0
        self._last[kind], self._count[kind] = now, 0
        return count

    def log(self, logger: logging.Logger, level: int, kind: str, message: str, *args: Any) -> None:
        """``logger.log(level, message % args)`` at most once per interval for ``kind``, with the count."""
        count = self.allow(kind)
        if count:
            logger.log(level, message + " (%d time(s) since the last such line)", *args, count)


def throttled_exception_handler(throttle: Throttle) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """A loop exception handler passing each kind of message (e.g. asyncio's "socket.accept() out of system
    resource" with EMFILE, once per refused accept) to the default handler at most once per interval."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        kind = f"{context.get('message', '')}|{type(exception).__name__}"
        count = throttle.allow(kind)
        if count:
            if count > 1:
                context = {**context, "message": f"{context.get('message', '')} ({count} time(s) since the last)"}
            loop.default_exception_handler(context)

    return handle
