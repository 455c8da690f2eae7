"""The audit's calendar: working hours on working days, public holidays and their make-up working days (调休).

The State Council's arrangement (国务院办公厅关于部分节假日安排的通知) comes year by year from the maintained
``chinese-calendar`` package; a rules file's ``holidays`` override it day by day, and its ``covered_years`` add the
years published after the package's release whose whole arrangement the file lists. A day of a year that neither
covers has no known status (a holiday the file lists for it still counts): `Calendar.covers` says so, and the audit
and ``/healthz`` report it rather than taking the day for a plain weekday.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from fleet.clock import CHINA
from fleet.errors import FieldError
from fleet.i18n import msg
from fleet.schemas import TimeOfDay


class Weekday(StrEnum):
    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"
    sunday = "sunday"

    @property
    def iso(self) -> int:
        """ISO weekday number: Monday 1 ... Sunday 7, as ``date.isoweekday()``."""
        return list(Weekday).index(self) + 1


class WorkingHours(BaseModel):
    """Local working hours, both ends inclusive: a trip ending at 18:00 sharp ended within them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: TimeOfDay = time(8, 0)
    end: TimeOfDay = time(18, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 18:00 as the base-60 integer 1080, which pydantic would take as 00:18:00.
        if isinstance(value, int | float):
            raise ValueError(msg("write the time as a quoted string, e.g. '18:00' (YAML reads unquoted 18:00 as a "
                                 "number)"))
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise FieldError("end", msg("{end:%H:%M} is not after start {start:%H:%M}", end=self.end, start=self.start))
        return self

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class Holiday(BaseModel):
    """A public holiday period (放假调休) and the make-up working days (调休上班) that pay for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=50)
    first: date
    last: date
    workdays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Holiday:
        if self.last < self.first:
            raise FieldError("last", msg("{last} is before first {first}", last=self.last, first=self.first))
        if (self.last - self.first).days > 31:
            raise FieldError("last", msg("a holiday of {days} days is not a holiday",
                                         days=(self.last - self.first).days + 1))
        for index, day in enumerate(self.workdays):
            if self.first <= day <= self.last:
                raise FieldError(f"workdays.{index}", msg("make-up working day {day} falls inside the holiday itself",
                                                          day=day))
        return self

    def days(self) -> Iterator[date]:
        """Every day of the holiday, first to last."""
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


# The package names three festivals by their short names; the State Council's notices (and the audit's findings
# until now) say 清明节, 端午节, 中秋节.
_FULL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}


@dataclass(frozen=True, slots=True)
class StateCouncilDays:
    """The State Council's holidays (weekend days inside a holiday period included) and make-up working days,
    with the Chinese name of each, and the years the package holds."""

    off: Mapping[date, str]
    on: Mapping[date, str]
    years: frozenset[int]


@cache
def state_council_days() -> StateCouncilDays:
    """What the installed ``chinese-calendar`` knows, read once."""
    names = {h.value: _FULL_NAMES.get(h.chinese, h.chinese) for h in chinese_calendar.Holiday}
    off = {day: names.get(name, name) for day, name in chinese_calendar.holidays.items()}
    on = {day: names.get(name, name) for day, name in chinese_calendar.workdays.items()}
    # The package answers for every year from its first to its last and raises NotImplementedError outside them.
    first, last = min(off).year, max(off).year
    return StateCouncilDays(off=off, on=on, years=frozenset(range(first, last + 1)))


def year_ranges(years: Iterable[int]) -> str:
    """``2004–2026, 2028``: years as runs, for a person to read."""
    runs: list[list[int]] = []
    for year in sorted(set(years)):
        if runs and runs[-1][1] == year - 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


@dataclass(frozen=True, slots=True)
class _Days:
    """A calendar's answers as plain lookups: the audit asks them for every trip, so no model machinery here."""

    zone: ZoneInfo
    off: dict[date, str]
    on: dict[date, str]
    weekend: frozenset[int]
    start: time
    end: time
    years: frozenset[int]

    @classmethod
    def of(cls, calendar: Calendar) -> _Days:
        own_off = {day: h.name for h in calendar.holidays for day in h.days()}
        own_on = {day: h.name for h in calendar.holidays for day in h.workdays}
        official = state_council_days() if calendar.state_council else StateCouncilDays({}, {}, frozenset())
        # The rules file wins day by day: its holiday cancels the package's make-up day and the other way round.
        off = {day: name for day, name in official.off.items() if day not in own_on} | own_off
        on = {day: name for day, name in official.on.items() if day not in own_off} | own_on
        return cls(
            zone=ZoneInfo(calendar.timezone), off=off, on=on,
            weekend=frozenset(w.iso for w in calendar.weekend),
            start=calendar.working_hours.start, end=calendar.working_hours.end,
            years=official.years | calendar.own_years(),
        )

    def covers(self, day: date) -> bool:
        return day.year in self.years

    def day_off(self, day: date) -> str | None:
        if day in self.on:
            return None
        if day in self.off:
            return f"holiday {self.off[day]}"
        if day.isoweekday() in self.weekend:
            return "weekend"
        return None

    def in_hours(self, local: datetime) -> bool:
        return self.start <= local.time() <= self.end


class Calendar(BaseModel):
    """When official business is done: working hours on working days, in the country's time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The zone is data (a rules file may name another); only its default is the platform's own China time.
    timezone: str = CHINA.key
    # 08:00–18:00: offices keep roughly 08:30–17:30 (with a summer variant ending later), and a trip to a morning
    # meeting or back from a late one legitimately spills half an hour past either end. Tighter hours would flag
    # every commute-time pickup; wider ones would hide evening dinners.
    working_hours: WorkingHours = WorkingHours()
    weekend: frozenset[Weekday] = frozenset({Weekday.saturday, Weekday.sunday})
    # The national arrangement, from the chinese-calendar package (off: only the rules file's own holidays count).
    state_council: bool = True
    # Overrides and additions: a day listed here wins over the package's answer for it, whatever its year.
    holidays: tuple[Holiday, ...] = ()
    # The years the file declares it lists in whole (their unlisted weekdays are taken as working days), so that
    # they count as covered. A holiday alone never makes its year covered: one day listed is not the arrangement.
    covered_years: frozenset[Annotated[int, Field(ge=1949, le=2200)]] = frozenset()

    _days: _Days = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(msg("unknown time zone {value!r} (an IANA name such as 'Asia/Shanghai')",
                                 value=value)) from exc
        return value

    @model_validator(mode="after")
    def _no_workday_on_a_holiday(self) -> Calendar:
        off = {day: h.name for h in self.holidays for day in h.days()}
        for index, holiday in enumerate(self.holidays):
            for w, day in enumerate(holiday.workdays):
                if day in off:
                    raise FieldError(f"holidays.{index}.workdays.{w}",
                                     msg("make-up working day {day} falls inside the holiday {holiday}", day=day,
                                         holiday=off[day]))
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._days = _Days.of(self)

    def own_years(self) -> frozenset[int]:
        """The years the rules file declares it covers in whole (``covered_years``)."""
        return self.covered_years

    @property
    def years(self) -> frozenset[int]:
        """The years whose holidays and make-up days the calendar knows in whole (the package's and the file's
        ``covered_years``)."""
        return self._days.years

    def covers(self, day: date) -> bool:
        """Whether the calendar knows ``day``'s status; outside those years a weekday may yet be a holiday."""
        return self._days.covers(day)

    def uncovered(self, first: date, days: int) -> list[date]:
        """The days of ``[first, first + days)`` the calendar does not cover, in order."""
        return [d for d in (first + timedelta(days=i) for i in range(days)) if not self.covers(d)]

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return self._days.zone

    @property
    def days(self) -> _Days:
        """The calendar as plain lookups, for a check that asks it once per trip."""
        return self._days

    def day_off(self, day: date) -> str | None:
        """Why ``day`` is not a working day (``"weekend"`` or ``"holiday 春节"``), or None on a working day."""
        return self._days.day_off(day)

    def is_working_day(self, day: date) -> bool:
        """A weekday that is not a holiday, or a make-up working day (a weekday of a year the calendar does not
        cover counts as working: ask `covers` before trusting the answer)."""
        return self.day_off(day) is None

    def is_working_time(self, moment: datetime) -> bool:
        """Whether an aware instant falls within working hours of a working day, local time."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime: say which time zone it is in")
        days = self._days
        local = moment.astimezone(days.zone)
        return days.day_off(local.date()) is None and days.in_hours(local)
