"""The daily scan scheduler: once per calendar day, at start when today's scan has not run,
then just after midnight Europe/Stockholm."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from services.alerts import AlertsService, DailyScheduler, ScanResult
from services.alerts.scheduler import MAX_SLEEP_SECONDS, seconds_until_next_check
from services.platform.clock import STOCKHOLM
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource

J = "journey-1"


class Today:
    def __init__(self, day: date):
        self.day = day

    def __call__(self) -> date:
        return self.day


def make_service(tmp_path, log, today: Today) -> AlertsService:
    log.started(J, "2026-01-10")
    db = SQLiteDatabase(tmp_path / "alerts.db")
    service = AlertsService(db, today=today)
    FeedRunner(ListEventSource(log.events), db, [service.projection()]).catch_up()
    return service


def test_run_pending_scans_once_per_calendar_day(tmp_path, log):
    # given a journey whose plan turns overdue on 2026-03-12
    today = Today(date(2026, 3, 11))
    service = make_service(tmp_path, log, today)
    scheduler = DailyScheduler(service)
    # when the scheduler runs twice on the same day, then on the next
    first = scheduler.run_pending()
    second = scheduler.run_pending()
    today.day = date(2026, 3, 12)
    third = scheduler.run_pending()
    # then it scanned once per day, and the new day's scan recorded the change
    assert first is not None and first.as_of == date(2026, 3, 11)
    assert second is None
    assert third is not None
    assert [(c.type, c.kind) for c in third.changes] == [
        ("AlertCleared", "plan_due_soon"),
        ("AlertRaised", "plan_overdue"),
    ]


def test_scan_already_done_today_is_not_repeated_at_start(tmp_path, log):
    today = Today(date(2026, 3, 12))
    service = make_service(tmp_path, log, today)
    service.daily_scan(today())
    assert DailyScheduler(service).run_pending() is None


def test_next_check_is_just_after_midnight_in_stockholm():
    # one minute before midnight (winter time, UTC+1): 60 s + the margin
    assert seconds_until_next_check(datetime(2026, 3, 10, 23, 59, tzinfo=STOCKHOLM)) == 65.0
    # the same moment given in UTC (summer time, UTC+2)
    assert seconds_until_next_check(datetime(2026, 6, 30, 21, 59, tzinfo=UTC)) == 65.0
    # the night the clocks go forward (2026-03-29 at 02:00): midnight itself exists
    assert seconds_until_next_check(datetime(2026, 3, 28, 23, 59, 30, tzinfo=STOCKHOLM)) == 35.0
    # midday: wake again well before midnight to notice clock changes
    assert seconds_until_next_check(datetime(2026, 3, 10, 12, 0, tzinfo=STOCKHOLM)) == (
        MAX_SLEEP_SECONDS
    )


def test_started_scheduler_scans_today_and_stops(tmp_path, log):
    today = Today(date(2026, 3, 12))
    service = make_service(tmp_path, log, today)
    scanned = threading.Event()
    results: list[ScanResult] = []

    def on_scan(result: ScanResult) -> None:
        results.append(result)
        scanned.set()

    scheduler = DailyScheduler(service, on_scan=on_scan)
    scheduler.start()
    assert scanned.wait(10)  # synchronisation, not a timing assertion
    scheduler.stop()
    assert not scheduler.running
    assert service.has_scanned(date(2026, 3, 12))
    assert [r.as_of for r in results] == [date(2026, 3, 12)]


def test_started_the_scheduler_scans_today_in_the_background_until_stopped(tmp_path, log):
    # `insats serve` and `insats worker` start it among the container's background tasks
    today = Today(date(2026, 3, 12))
    service = make_service(tmp_path, log, today)
    scanned = threading.Event()
    scheduler = DailyScheduler(service, on_scan=lambda result: scanned.set())
    scheduler.start()
    assert scheduler.running
    assert scanned.wait(10)  # synchronisation, not a timing assertion
    scheduler.stop()
    assert not scheduler.running
    assert service.last_scanned() == date(2026, 3, 12)
