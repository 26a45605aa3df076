"""Once-a-day background work (the alerts' daily scan, the daily checkpoint): a thread that runs
`run_pending()` at start, then just after each midnight in Stockholm. What has run is stored by
the work itself, so restarts and several processes running the same task do not repeat it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta

from services.platform import clock

log = logging.getLogger(__name__)

# Wake at least this often: a suspended machine or a changed clock is noticed soon.
MAX_SLEEP_SECONDS = 900.0
# Run a little after midnight, never on the last tick of the old day.
AFTER_MIDNIGHT_SECONDS = 5.0
RETRY_SECONDS = 60.0


def seconds_until_next_check(now: datetime) -> float:
    """Seconds from `now` (tz-aware) until just after the next midnight in Stockholm, capped."""
    local = now.astimezone(clock.STOCKHOLM)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=clock.STOCKHOLM)
    wait = (midnight - local).total_seconds() + AFTER_MIDNIGHT_SECONDS
    return max(1.0, min(wait, MAX_SLEEP_SECONDS))


class DailyTask:
    """A background task (services.platform.tasks) calling `run_pending` once per calendar day;
    subclasses say what that is and how they know it has been done today."""

    name = "daily"

    def __init__(self, *, now: Callable[[], datetime] = clock.utcnow):
        self.now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_pending(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
                wait = seconds_until_next_check(self.now())
            except Exception:  # keep the schedule; the error is logged and retried
                log.exception("%s failed; retrying in %.0f s", self.name, RETRY_SECONDS)
                wait = RETRY_SECONDS
            self._stop.wait(wait)
