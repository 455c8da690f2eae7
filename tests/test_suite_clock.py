"""The suite's own clock (tests/conftest.py): a run never spans China's midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet import clock
from tests.conftest import LATE_IN_THE_DAY, run_start

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(instants)
def test_a_run_starts_on_its_china_day_at_least_two_hours_before_midnight(now: datetime) -> None:
    start = run_start(None, now) or now
    local = start.astimezone(clock.CHINA)
    assert local.date() == clock.local_date(now)  # the same day, never moved into another
    assert clock.local_moment(local.date() + timedelta(days=1)) - start >= timedelta(hours=2)
    assert start <= now  # moved back, if at all: a refusal of "the future" stays a refusal
    if now.astimezone(clock.CHINA).time() < LATE_IN_THE_DAY:
        assert run_start(None, now) is None  # the wall clock, untouched


def test_a_given_start_is_kept_unless_late_and_must_be_aware() -> None:
    assert run_start("2031-01-01T08:30:00+08:00", clock.now()) == clock.local_moment(date(2031, 1, 1), time(8, 30))
    late = run_start("2030-12-31T23:59:50+08:00", clock.now())
    assert late == clock.local_moment(date(2030, 12, 31), time(21))
    with pytest.raises(pytest.UsageError, match="UTC offset"):
        run_start("2031-01-01T08:30:00", clock.now())
