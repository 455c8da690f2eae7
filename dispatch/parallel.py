"""Run the search's parts in forked worker processes, or one after another here: the same answers either way.

The network is built before the workers start and reaches them by fork, not by pickling (it holds thousands of
arrays); each task then travels as a few lists of trip numbers. Fork rather than spawn for that reason, and it works
from inside the API server's spawned solve worker too (that process runs no threads that hold locks a fork could
inherit; its one parent-watch thread only sleeps).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import Pool
from typing import Any, TypeVar

from dispatch.network import Network

T = TypeVar("T")
R = TypeVar("R")
Runner = Callable[[Callable[[Network, T], R], Sequence[T]], list[R]]

_NET: Network | None = None  # the network the forked workers inherit


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _call(job: tuple[Callable[[Network, Any], Any], Any]) -> Any:
    function, task = job
    assert _NET is not None
    return function(_NET, task)


@contextmanager
def runner(net: Network, workers: int) -> Iterator[Runner[Any, Any]]:
    """A function that maps tasks to answers in order, in up to ``workers`` processes (started on first use)."""
    global _NET
    pool: Pool | None = None

    def run(function: Callable[[Network, Any], Any], tasks: Sequence[Any]) -> list[Any]:
        nonlocal pool
        global _NET
        if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return [function(net, task) for task in tasks]
        if pool is None:
            _NET = net
            pool = multiprocessing.get_context("fork").Pool(min(workers, len(tasks)))
        return pool.map(_call, [(function, task) for task in tasks], chunksize=1)

    try:
        yield run
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _NET = None
