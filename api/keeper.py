"""The live days' keeper: one thread per server process keeps urgent placement's days built and up to date.

Without it the first emergency after a restart reads and builds its day (8 s at 1,000 vehicles with a yard each)
and every placement first reads whatever changed since the last one. The thread does that work between requests
(`fleet.dispatching.keep_live_days`); a placement still brings its day up to date itself, so at worst it reads
the last seconds' changes. A thread, not a task on the event loop: building a day is seconds of CPU.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from fleet import clock
from fleet.dispatching import keep_live_days

log = logging.getLogger("gongche.api")

# While rounds keep failing (the database away, say), the wait doubles up to this, and only the first failure of a
# run of them is logged with its traceback: a database outage is not a log line every two seconds.
MAX_WAIT_S = 60.0


def wait_after(every: float, failures: int) -> float:
    """Seconds to wait before the next round after ``failures`` failed rounds in a row."""
    if failures == 0:
        return every
    return min(max(every, MAX_WAIT_S), every * 2.0 ** min(failures, 30))


class Keeper:
    """Runs `keep_live_days` at once, then every ``every`` seconds (longer while rounds fail), until stopped."""

    def __init__(self, engine: Engine, every: float) -> None:
        self.engine = engine
        self.every = every
        self.rounds = 0  # rounds ended, for tests and logs
        self.failures = 0  # failed rounds in a row
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gongche-live-days", daemon=True)

    def start(self) -> Keeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop and wait briefly: a round under way (a build) ends on its own, as a daemon."""
        self._stop.set()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                keep_live_days(self.engine, clock.now())
            except Exception as failure:  # logged, and tried again later; placements do not depend on it
                self.failures += 1
                wait = wait_after(self.every, self.failures)
                if self.failures == 1:
                    log.exception("the live days' keeper failed a round; trying again with longer waits")
                else:
                    log.warning("the live days' keeper failed %d rounds in a row (%s); next in %.0f s",
                                self.failures, type(failure).__name__, wait)
            else:
                if self.failures:
                    log.warning("the live days' keeper is back after %d failed rounds", self.failures)
                self.failures = 0
                wait = self.every
            self.rounds += 1
            if self._stop.wait(wait):
                return
