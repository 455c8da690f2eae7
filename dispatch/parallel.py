"""Run the search's parts in forked worker processes, or one after another here: the same answers either way.

The network is built before the workers start and reaches them by fork, not by pickling (it holds thousands of
arrays); each task then travels as a few lists of trip numbers. Fork rather than spawn for that reason, and it works
from inside the API server's spawned solve worker too (that process runs no threads that hold locks a fork could
inherit; its one parent-watch thread only sleeps).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import Pool
from typing import Any, Generic, TypeVar

from dispatch.network import Network

log = logging.getLogger("gongche.dispatch")

T = TypeVar("T")
R = TypeVar("R")
Runner = Callable[[Callable[[Network, T], R], Sequence[T]], list[R]]

_NET: Network | None = None  # in a worker process: the network its pool was started with
# How long past the deadline (or, with no clock, how long at all) a round of parts may take before its workers are
# taken for lost (killed, out of memory) and the round is run here instead: a part is about a second of work.
GRACE_SECONDS = 5.0
NO_CLOCK_SECONDS = 120.0


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _adopt(net: Network) -> None:
    # The pool's initializer: with fork its arguments reach the child as they are, without pickling, and each pool
    # has its own network (two solves in two threads of one process do not share a global).
    global _NET
    _NET = net


def _call(job: tuple[Callable[[Network, Any], Any], Any]) -> Any:
    function, task = job
    assert _NET is not None
    return function(_NET, task)


def can_fork(workers: int) -> bool:
    """Whether parts may run in child processes here: more than one worker, fork available, and not inside a
    daemonic process (a `multiprocessing.Pool` worker, which may not have children)."""
    return workers > 1 and "fork" in multiprocessing.get_all_start_methods() \
        and not multiprocessing.current_process().daemon


@contextmanager
def runner(net: Network, workers: int, deadline: float = math.inf) -> Iterator[Runner[Any, Any]]:
    """A function that maps tasks to answers in order, in up to ``workers`` processes (started on first use).

    A round whose workers do not answer by ``deadline`` plus `GRACE_SECONDS` (a worker killed, say) ends the pool,
    and that round and every later one run here, one task after another: the same answers, only slower.
    """
    pool: Pool | None = None
    lost = False

    def run(function: Callable[[Network, Any], Any], tasks: Sequence[Any]) -> list[Any]:
        nonlocal pool, lost
        if lost or len(tasks) <= 1 or not can_fork(workers):
            return [function(net, task) for task in tasks]
        if pool is None:
            pool = multiprocessing.get_context("fork").Pool(min(workers, len(tasks)), initializer=_adopt,
                                                             initargs=(net,))
        pending = pool.map_async(_call, [(function, task) for task in tasks], chunksize=1)
        wait = NO_CLOCK_SECONDS if math.isinf(deadline) else max(0.0, deadline - time.perf_counter()) + GRACE_SECONDS
        try:
            return pending.get(timeout=wait)
        except multiprocessing.TimeoutError:
            log.warning("the search's worker processes did not answer in %.0f s; running on in this process", wait)
            lost = True
            pool.terminate()
            pool.join()
            pool = None
            return [function(net, task) for task in tasks]

    try:
        yield run
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


class Aside(Generic[R]):
    """``function()`` run in a forked child while this process goes on with other work; `result` collects it.

    For work of the same plan that needs no answer from the rest (the bounds' halves): the child gets the network
    by fork as the search's workers do, and sends back only its small answer.
    """

    def __init__(self, function: Callable[[], R]) -> None:
        context = multiprocessing.get_context("fork")
        self._answers, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_answer, args=(function, send), daemon=True)
        self._process.start()
        send.close()  # the child holds the only sending end: its exit ends the pipe

    def result(self, timeout: float) -> R | None:
        """The child's answer, or None if it gave none within ``timeout`` seconds (it failed, was killed, or is
        late; it is stopped then)."""
        try:
            if self._answers.poll(max(0.0, timeout)):
                answer: R = self._answers.recv()
                return answer
            log.warning("work set aside in a child process gave no answer in %.1f s", timeout)
        except (EOFError, OSError):
            log.warning("work set aside in a child process ended without an answer")
        finally:
            self.stop()
        return None

    def stop(self) -> None:
        """End the child if it still runs (its answer, if any, is dropped); again, nothing."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answers.close()


def _answer(function: Callable[[], Any], send: Any) -> None:
    try:
        send.send(function())
    except Exception:  # the parent goes on without the answer; the reason belongs in the log, once
        log.exception("work set aside in a child process failed")
    finally:
        send.close()
