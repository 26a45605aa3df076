"""The daily scan: once per calendar day (Europe/Stockholm), at start if today's has not run,
then just after midnight. Which dates have been scanned is stored (alerts_scans), so restarts
and several processes running the scheduler do not scan twice, and a scan that did run twice
would record nothing new anyway."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from services.alerts.service import AlertsService, ScanResult
from services.platform import clock
from services.platform.daily import MAX_SLEEP_SECONDS, DailyTask, seconds_until_next_check

__all__ = ["MAX_SLEEP_SECONDS", "DailyScheduler", "seconds_until_next_check"]

log = logging.getLogger(__name__)


class DailyScheduler(DailyTask):
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
        super().__init__(now=now)
        self.service = service
        self.today = today or service.today
        self.on_scan = on_scan

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
