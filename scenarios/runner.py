"""Run scenarios: every (fleet size, replication, day) is one task, run on local processes or on a Ray cluster.

Tasks are independent and pure, so where they run changes only the time taken, never the numbers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context

from scenarios.metrics import Summary, summarise
from scenarios.simulate import DayResult, DayTask, simulate_day
from scenarios.spec import Scenario


@dataclass
class Outcome:
    """A scenario's summary at its own fleet, its sweep (the frontier), and the raw days."""

    scenario: Scenario
    summary: Summary
    frontier: list[Summary]
    days: list[DayResult]  # every simulated day, the sweep's included


def tasks_of(scenario: Scenario) -> list[DayTask]:
    """The scenario's own days, then the sweep's (a sweep point that repeats an own day is not run twice)."""
    tasks = [DayTask(scenario, 1.0, r, d) for r in range(scenario.replications) for d in range(scenario.calendar.days)]
    if scenario.sweep is not None:
        days = min(scenario.sweep.days or scenario.calendar.days, scenario.calendar.days)
        seen = {(t.scale, t.replication, t.day) for t in tasks}
        tasks += [
            DayTask(scenario, scale, r, d)
            for scale in scenario.sweep.scales
            for r in range(scenario.sweep.replications)
            for d in range(days)
            if (scale, r, d) not in seen
        ]
    return tasks


def run(
    scenarios: Sequence[Scenario],
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[DayResult], None] | None = None,
) -> list[Outcome]:
    """Simulate every task of every scenario and summarise each; ``progress`` is called once per finished day."""
    tasks = [task for scenario in scenarios for task in tasks_of(scenario)]
    results = list(_execute(tasks, workers, ray_address, progress or (lambda _: None)))
    by_key: dict[tuple[str, float], list[DayResult]] = defaultdict(list)
    for result in results:
        by_key[(result.scenario, result.scale)].append(result)
    outcomes = []
    for scenario in scenarios:
        own = sorted(by_key[(scenario.name, 1.0)], key=lambda d: (d.replication, d.day))
        main = [d for d in own if d.replication < scenario.replications]
        frontier = []
        if scenario.sweep is not None:
            days = scenario.sweep.days or scenario.calendar.days
            for scale in sorted(set(scenario.sweep.scales)):
                point = sorted((d for d in by_key[(scenario.name, scale)]
                                if d.replication < scenario.sweep.replications and d.day < days),
                               key=lambda d: (d.replication, d.day))  # sums in one order, wherever days ran
                frontier.append(summarise(scenario, point))
        every = sorted((d for (name, _), days in by_key.items() if name == scenario.name for d in days),
                       key=lambda d: (d.scale, d.replication, d.day))
        outcomes.append(Outcome(scenario, summarise(scenario, main), frontier, every))
    return outcomes


def _execute(
    tasks: list[DayTask], workers: int | None, ray_address: str | None, progress: Callable[[DayResult], None]
) -> Iterator[DayResult]:
    # Biggest days first, so that no long day starts last while the other processes sit idle.
    tasks = sorted(tasks, key=_expected_work, reverse=True)
    if ray_address is not None:
        yield from _on_ray(tasks, ray_address, progress)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for task in tasks:
            result = simulate_day(task)
            progress(result)
            yield result
        return
    # spawn: OR-Tools and numpy keep threads that a forked child must not inherit
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(simulate_day, task) for task in tasks]
        for future in as_completed(futures):
            result = future.result()
            progress(result)
            yield result


def _on_ray(tasks: list[DayTask], address: str, progress: Callable[[DayResult], None]) -> Iterator[DayResult]:
    try:
        import ray  # an optional extra: pip install 'gongche[ray]'
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'gongche[ray]'") from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own types: all mean "not here"
            raise RuntimeError(f"--ray {address}: cannot connect to Ray: {exc}") from None
    try:
        remote = ray.remote(simulate_day)
        pending = [remote.remote(task) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            result = ray.get(done[0])
            progress(result)
            yield result
    finally:
        if started:
            ray.shutdown()


def _expected_work(task: DayTask) -> float:
    scenario = task.scenario
    trips = sum(a.trips for a in scenario.fleet.agencies)
    surge = scenario.surge.factor if scenario.surge is not None and scenario.surge.on(task.day) else 1.0
    working = scenario.calendar.working(scenario.calendar.dates()[task.day])
    return trips * surge * (1.0 if working else 0.2) * task.scale
