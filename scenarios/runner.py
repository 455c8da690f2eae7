"""Run scenarios: every (fleet size, replication, day) is one task, run on local processes or on a Ray cluster.

A scenario's own days are independent tasks, each searched afresh, so that every scenario of a comparison is
simulated the same way. The points of a fleet-size sweep that share a (replication, day) run together, as one chain
from the smallest fleet up (`scenarios.simulate.simulate_days`: each size starts from the plan of the one before),
so that the frontier never goes down. Tasks and chains are pure, so where they run changes only the time taken,
never the numbers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context

from scenarios.metrics import Summary, summarise
from scenarios.simulate import DayResult, DayTask, simulate_days
from scenarios.spec import Scenario


@dataclass
class Outcome:
    """A scenario's summary at its own fleet, its sweep (the frontier), and the raw days."""

    scenario: Scenario
    summary: Summary
    frontier: list[Summary]
    days: list[DayResult]  # every simulated day, the sweep's included


def tasks_of(scenario: Scenario) -> list[DayTask]:
    """The scenario's own days, then the sweep's points (100 % too: a sweep's points run as chains, `chains_of`)."""
    tasks = [DayTask(scenario, 1.0, r, d) for r in range(scenario.replications) for d in range(scenario.calendar.days)]
    if scenario.sweep is not None:
        days = min(scenario.sweep.days or scenario.calendar.days, scenario.calendar.days)
        tasks += [
            DayTask(scenario, scale, r, d, sweep=True)
            for scale in sorted(set(scenario.sweep.scales))
            for r in range(scenario.sweep.replications)
            for d in range(days)
        ]
    return tasks


def chains_of(tasks: Sequence[DayTask]) -> list[list[DayTask]]:
    """Each sweep's points grouped by (scenario, replication, day) in ascending fleet size; an own day alone."""
    chains: dict[tuple[str, int, int], list[DayTask]] = defaultdict(list)
    alone: list[list[DayTask]] = []
    for task in tasks:
        if task.sweep:
            chains[(task.scenario.name, task.replication, task.day)].append(task)
        else:
            alone.append([task])
    return alone + [sorted(chain, key=lambda t: t.scale) for chain in chains.values()]


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
    by_key: dict[tuple[str, bool, float], list[DayResult]] = defaultdict(list)
    for result in results:
        by_key[(result.scenario, result.sweep, result.scale)].append(result)
    outcomes = []
    for scenario in scenarios:
        # sums in one order, wherever the days ran
        main = sorted(by_key[(scenario.name, False, 1.0)], key=lambda d: (d.replication, d.day))
        frontier = []
        if scenario.sweep is not None:
            for scale in sorted(set(scenario.sweep.scales)):
                point = sorted(by_key[(scenario.name, True, scale)], key=lambda d: (d.replication, d.day))
                frontier.append(summarise(scenario, point))
        every = sorted((d for (name, _, _), days in by_key.items() if name == scenario.name for d in days),
                       key=lambda d: (d.sweep, d.scale, d.replication, d.day))
        outcomes.append(Outcome(scenario, summarise(scenario, main), frontier, every))
    return outcomes


def _execute(
    tasks: list[DayTask], workers: int | None, ray_address: str | None, progress: Callable[[DayResult], None]
) -> Iterator[DayResult]:
    # Biggest chains first, so that no long chain starts last while the other processes sit idle.
    chains = sorted(chains_of(tasks), key=lambda chain: sum(map(_expected_work, chain)), reverse=True)
    if ray_address is not None:
        yield from _on_ray(chains, ray_address, progress)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for chain in chains:
            for result in simulate_days(chain):
                progress(result)
                yield result
        return
    # spawn: OR-Tools and numpy keep threads that a forked child must not inherit
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(simulate_days, chain) for chain in chains]
        for future in as_completed(futures):
            for result in future.result():
                progress(result)
                yield result


def _on_ray(chains: list[list[DayTask]], address: str, progress: Callable[[DayResult], None]) -> Iterator[DayResult]:
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
        remote = ray.remote(simulate_days)
        pending = [remote.remote(chain) for chain in chains]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for result in ray.get(done[0]):
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
