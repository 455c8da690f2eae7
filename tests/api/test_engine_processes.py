"""The server's batch search: in a worker process, its parts on as many cores as `engine_search_processes` allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dispatch import Problem
from dispatch.parallel import cores
from dispatch.synthetic import city_instance
from fleet import solving
from fleet.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # the settings are read once per process; these tests change them
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def day() -> Problem:
    # Past one routing model (more than 80 trips), so that the search runs in parts.
    return Problem.parse(city_instance(40, 160, seed=8))


@pytest.mark.parametrize(("setting", "expected"), [("1", 1), ("0", None)])
def test_the_search_runs_on_the_cores_the_setting_allows(
    day: Problem, monkeypatch: pytest.MonkeyPatch, setting: str, expected: int | None
) -> None:
    monkeypatch.setenv("GONGCHE_ENGINE_PROCESSES", "1")
    monkeypatch.setenv("GONGCHE_ENGINE_SEARCH_PROCESSES", setting)
    assert get_settings().engine_search_processes == int(setting)
    plan = solving.solve(day, time_limit=1.0, seed=2)
    assert plan.workers == (cores() if expected is None else expected)
    assert sum(plan.objective.served.values()) > 0


def test_a_negative_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGCHE_ENGINE_SEARCH_PROCESSES", "-1")
    with pytest.raises(ValueError, match="engine_search_processes"):
        get_settings()
