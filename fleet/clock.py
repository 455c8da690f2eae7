"""The platform's one time zone and its local-day helpers.

Every instant is stored timezone-aware; a *day* (a trip's date, a report's year, a working hour) is always a day
in China time. Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so local days are exactly 24 h.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The China-time date of an aware instant."""
    return moment.astimezone(CHINA).date()


def local_moment(day: date, clock: time = time(0, 0)) -> datetime:
    """The instant of a China-time wall clock on ``day`` (midnight by default)."""
    return datetime.combine(day, clock, CHINA)


def local_text(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM`` in China time, as slips and messages show an instant."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
