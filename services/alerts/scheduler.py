"""The daily scan: once per calendar day (Europe/Stockholm), at start if today's has not run,
then just after midnight. Which dates have been scanned is stored (alerts_scans), so restarts
and several processes running the scheduler do not scan twice, and a scan that did run twice
would record nothing new anyway."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from services.alerts.service import AlertsService, ScanResult
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


class DailyScheduler:
    """A background thread running `service.daily_scan(today())` once per calendar day (a
    background task of the composition root, in `insats serve` and `insats worker`)."""

    name = "alerts-daily-scan"

    def __init__(
        self,
        service: AlertsService,
        *,
        today: Callable[[], date] | None = None,
        now: Callable[[], datetime] = clock.utcnow,
        on_scan: Callable[[ScanResult], None] | None = None,
    ):
        self.service = service
        self.today = today or service.today
        self.now = now
        self.on_scan = on_scan
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_pending(self) -> ScanResult | None:
        """Scan for today unless that has been done; returns the scan, or None."""
        day = self.today()
        if self.service.has_scanned(day):
            return None
        result = self.service.daily_scan(day)
        log.info(
            "alerts: daily scan for %s: %d journeys, %d changes",
            day,
            result.journeys,
            len(result.changes),
        )
        if self.on_scan is not None:
            self.on_scan(result)
        return result

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alerts-daily-scan", daemon=True)
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
                log.exception("alerts: daily scan failed; retrying")
                wait = RETRY_SECONDS
            self._stop.wait(wait)
