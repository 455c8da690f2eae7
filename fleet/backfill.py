"""The platform's "now", give or take, and the back-fills (补录) outside it (issue 14).

A time a user enters as it happens (a start, a completion, a rental's end) is taken if it falls within
`now_window`: ``GONGCHE_CLOCK_GRACE_MINUTES`` before now, ``GONGCHE_CLOCK_SKEW_MINUTES`` after. An older time is a
back-fill, which only a dispatcher records, with its reason; a later one is never taken. A back-fill reason given
for a time that is in fact live is refused: it would record a 补录 that never was.

Used by `fleet.bookings` (start, complete, bookings of a past pickup) and `fleet.rentals` (the rental bill); kept
apart from both so that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fleet import clock
from fleet.audit import Actor
from fleet.clock import local_text
from fleet.enums import Role
from fleet.errors import InvalidInput, NotPermitted
from fleet.i18n import field_label, msg, with_article
from fleet.settings import get_settings

# How far outside a trip's pickup window a back-filled time may lie: a driver may leave the evening before an
# early pickup, or a long trip run into the next day; a time further off describes another trip, not this one.
REACH = timedelta(days=1)


@dataclass(frozen=True)
class NowWindow:
    """The platform's "now", give or take: times between ``earliest`` and ``latest`` are taken as entered live."""

    now: datetime
    earliest: datetime
    latest: datetime

    @property
    def grace_minutes(self) -> int:
        return round((self.now - self.earliest).total_seconds() / 60)


def now_window() -> NowWindow:
    """Now, the oldest time still taken as now (``GONGCHE_CLOCK_GRACE_MINUTES``) and the latest a fast clock may
    give (``GONGCHE_CLOCK_SKEW_MINUTES``)."""
    settings, now = get_settings(), clock.now()
    return NowWindow(now, now - timedelta(minutes=settings.clock_grace_minutes),
                     now + timedelta(minutes=settings.clock_skew_minutes))


def may_backfill(actor: Actor, reason: str | None) -> None:
    """Only a dispatcher gives a back-fill reason (403 naming ``backfill_reason`` otherwise)."""
    if reason is not None and actor.role != Role.dispatcher.value:
        raise NotPermitted(msg("only a dispatcher back-fills (补录) times, with the reason; {role} enters them as "
                               "they happen", role=with_article(actor.role)), field="backfill_reason")


def entered_at(actor: Actor, at: datetime | None, reason: str | None, window: NowWindow) -> datetime:
    """When something happened as a user enters it: now when ``at`` is None, ``at`` if it is now give or take; an
    older time only as a dispatcher's back-fill with its ``reason``; never a time in the future. A reason for a
    time that is live is refused (422 naming ``backfill_reason``)."""
    may_backfill(actor, reason)
    when = at or window.now
    if when > window.latest:
        raise InvalidInput(msg("{at} is in the future (now: {now})", at=local_text(when), now=local_text(window.now)),
                           field="at")
    if when >= window.earliest:
        if reason is not None:
            raise InvalidInput(msg("{at} is within {minutes} minutes of now ({now}): it is entered live, not "
                                   "back-filled; send it without the {field}", at=local_text(when),
                                   minutes=window.grace_minutes, now=local_text(window.now),
                                   field=field_label("backfill_reason")),
                               field="backfill_reason")
        return when
    if reason is None:
        raise InvalidInput(msg("{at} is more than {minutes} minutes before now ({now}); a time entered after the "
                               "fact is a back-fill (补录) a dispatcher records with the {field}",
                               at=local_text(when), minutes=window.grace_minutes, now=local_text(window.now),
                               field=field_label("backfill_reason")),
                           field="at")
    return when


def is_backfill(at: datetime, window: NowWindow) -> bool:
    return at < window.earliest
