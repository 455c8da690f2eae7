"""The dispatch engine's batch search, in worker processes.

OR-Tools' search holds Python's GIL for seconds at a time: a 6 s solve in one thread left another unscheduled for
5.96 s (measured on this project's 20-vehicle day). Inside the API server that would stall every other request for
the length of a dispatch run, so the search runs in a pool of spawned worker processes (`engine_processes`, one by
default: the machine's other core serves requests), and each search runs its parts in up to
`engine_search_processes` processes of its own. The caller waits on the answer without holding anything.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import dispatch
from dispatch import Plan, Problem
from fleet.settings import get_settings

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def solve(problem: Problem, *, time_limit: float, seed: int) -> Plan:
    """`dispatch.solve` with a wall-clock limit, in a worker process (or here, with ``engine_processes = 0``)."""
    settings = get_settings()
    workers = settings.engine_processes
    if workers == 0:
        # In the server's own process, which runs threads: no forked search processes (a fork copies whatever
        # locks those threads hold). The plan is the same; only the search's wall time differs.
        return dispatch.solve(problem, stop=dispatch.MaxRuntime(time_limit), seed=seed, workers=1)
    try:
        search = settings.engine_search_processes or None  # None: every core the worker may use
        return _executor(workers).submit(_solve, problem, time_limit, seed, search).result()
    except BrokenProcessPool:  # the worker died (killed, out of memory): the next call starts a fresh one
        _reset()
        raise


def _solve(problem: Problem, time_limit: float, seed: int, search: int | None) -> Plan:
    plan = dispatch.solve(problem, stop=dispatch.MaxRuntime(time_limit), seed=seed, workers=search)
    plan._state = None  # the solver's working routes are for `insert` in this process; they need not travel back
    return plan


def _executor(workers: int) -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn: a forked copy of a threaded server (uvicorn's, the pool's own threads) can inherit held locks.
            _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_die_with_parent)
        return _pool


def _reset() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _die_with_parent() -> None:
    """A worker ends with the server that started it, even under ``kill -9``, rather than finish a search for no one.

    It watches its parent rather than asking for a death signal (``PR_SET_PDEATHSIG``), which Linux sends when the
    parent *thread* ends: a request's worker thread that happened to start the pool would take it down with it.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


atexit.register(_reset)
