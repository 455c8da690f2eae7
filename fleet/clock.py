"""The platform's one time zone and its local-day helpers.

Every instant is stored timezone-aware; a *day* (a trip's date, a report's year, a working hour) is always a day
in China time. Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so local days are exactly 24 h.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

# Where the process's clock has been moved to (`travel`): the instant and the monotonic reading it was set at, or
# None for the wall clock. One per process, not per thread: the demo's server threads read the clock it moves.
_travelled: tuple[datetime, float, bool] | None = None
_lock = threading.Lock()


def now() -> datetime:
    """The platform's "now", UTC-aware: the wall clock, unless `travel` moved it. Every rule that compares a time
    with now (back-dated driving, bookings already past, token expiry) reads it here."""
    moved = _travelled
    if moved is None:
        return datetime.now(UTC)
    at, since, ticking = moved
    return at + timedelta(seconds=_time.monotonic() - since) if ticking else at


def today() -> date:
    """China's date now."""
    return local_date(now())


@contextmanager
def travel(moment: datetime, *, tick: bool = True) -> Iterator[None]:
    """Run the platform's clock from ``moment`` (``tick=False``: stopped there) inside the block, for simulations
    (the demo drives tomorrow's trips at tomorrow's hours) and tests. In-process only: nothing outside the process
    (no setting, no request) can move it."""
    global _travelled
    if moment.tzinfo is None:
        raise ValueError("travel needs an aware instant")
    with _lock:
        before = _travelled
        _travelled = (moment.astimezone(UTC), _time.monotonic(), tick)
    try:
        yield
    finally:
        with _lock:
            _travelled = before


def local_date(moment: datetime) -> date:
    """The China-time date of an aware instant."""
    return moment.astimezone(CHINA).date()


def local_moment(day: date, clock: time = time(0, 0)) -> datetime:
    """The instant of a China-time wall clock on ``day`` (midnight by default)."""
    return datetime.combine(day, clock, CHINA)


def local_text(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM`` in China time, as slips and messages show an instant."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
