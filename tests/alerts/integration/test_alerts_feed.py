"""The alerts projection and service on a real SQLite file: facts stored from the feed, every
raise and clear recorded once — across restarts, repeated scans and crashes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date

import pytest

from contracts.events import PublicEvent
from services.alerts import AlertsProjection, AlertsService
from services.platform.db import Database, PostgresDatabase, SQLiteDatabase, Tx
from services.platform.feed import FeedRunner, ListEventSource
from services.platform.refusal import Invalid
from tests.conftest import PG_URL

P1, P2 = "5566778899", "5599887766"
J, K = "journey-1", "journey-2"


class Today:
    """A settable clock for the service (the feed evaluates for today())."""

    def __init__(self, day: str):
        self.day = date.fromisoformat(day)

    def set(self, day: str) -> None:
        self.day = date.fromisoformat(day)

    def __call__(self) -> date:
        return self.day


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_db(request, tmp_path) -> Iterator[Callable[[], Database]]:
    """Opens the installation's database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield lambda: SQLiteDatabase(tmp_path / "alerts.db")
        return
    schema = request.getfixturevalue("pg_schema")
    yield lambda: PostgresDatabase(PG_URL, schema, max_size=2)


class Installation:
    """One process: database, service and feed on the same database. A restart builds a new one
    on the same database (file or schema)."""

    def __init__(
        self,
        make_db: Callable[[], Database],
        source: ListEventSource,
        today: Today,
        batch_size: int = 1000,
    ):
        self.db = make_db()
        self.service = AlertsService(self.db, today=today)
        self.runner = FeedRunner(
            source,
            self.db,
            [self.service.projection(head=source.max_position)],
            batch_size=batch_size,
        )

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def today() -> Today:
    return Today("2026-01-10")


@pytest.fixture
def source(log) -> ListEventSource:
    return ListEventSource()


def feed(log, source: ListEventSource) -> None:
    """Append to the source what the log has that the source has not yet."""
    source.append(*log.events[len(source.events) :])


def changes_of(service: AlertsService) -> list[tuple[str, str, str, str | None, str, str]]:
    return [
        (c.type, c.journey_id, c.kind, c.level, c.since.isoformat(), c.as_of.isoformat())
        for c in service.changes(limit=1000)
    ]


def restart_and_settle(make_db, source, today) -> Installation:
    """A restart: new objects on the same database, catch up, and the day's scan twice."""
    node = Installation(make_db, source, today)
    node.runner.catch_up()
    node.service.daily_scan(today())
    node.service.daily_scan(today())
    return node


def test_one_raise_and_one_clear_per_episode_across_restarts(make_db, log, source, today):
    # given a journey started 2026-01-10, known on day 54
    log.started(J, "2026-01-10")
    feed(log, source)
    today.set("2026-03-05")
    node = restart_and_settle(make_db, source, today)
    node.close()
    # when time passes to day 61 (restart, scans)
    today.set("2026-03-12")
    for _ in range(2):
        restart_and_settle(make_db, source, today).close()
    # and the plan arrives on day 64
    today.set("2026-03-15")
    log.plan(J, "2026-03-15")
    feed(log, source)
    for _ in range(2):
        node = restart_and_settle(make_db, source, today)
        node.close()
    # then the feed holds each episode's raise and clear exactly once, in order
    node = Installation(make_db, source, today)
    assert changes_of(node.service) == [
        ("AlertRaised", J, "plan_due_soon", None, "2026-03-01", "2026-03-05"),
        ("AlertCleared", J, "plan_due_soon", None, "2026-03-01", "2026-03-12"),
        ("AlertRaised", J, "plan_overdue", None, "2026-03-12", "2026-03-12"),
        ("AlertCleared", J, "plan_overdue", None, "2026-03-12", "2026-03-15"),
    ]
    assert [c.seq for c in node.service.changes()] == [1, 2, 3, 4]
    node.close()


def test_a_batch_that_fails_records_no_change_and_the_retry_records_it_once(
    make_db, log, source, today
):
    class PowerCut(BaseException):
        """The process dies before the commit (nothing after it runs)."""

    class Crashing(AlertsProjection):
        def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
            super().handle(tx, events)
            raise PowerCut()

    # given a journey overdue with its plan today, and a process that dies mid-batch
    today.set("2026-03-20")
    log.started(J, "2026-01-10")
    feed(log, source)
    db = make_db()
    crashing = FeedRunner(source, db, [Crashing(today=today)])
    with pytest.raises(PowerCut):
        crashing.catch_up()
    assert AlertsService(db, today=today).changes() == []
    db.close()
    # when it restarts
    node = restart_and_settle(make_db, source, today)
    # then the raise is there once
    assert changes_of(node.service) == [
        ("AlertRaised", J, "plan_overdue", None, "2026-03-12", "2026-03-20")
    ]
    node.close()


def test_daily_scan_turns_green_to_yellow_without_any_event(make_db, log, source, today):
    # given a green journey
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    feed(log, source)
    today.set("2026-05-01")
    node = restart_and_settle(make_db, source, today)
    # when the scan runs on the day it turns yellow
    result = node.service.daily_scan(date(2026, 7, 10))
    again = node.service.daily_scan(date(2026, 7, 10))
    # then green is cleared and yellow raised, once
    assert [(c.type, c.level) for c in result.changes] == [
        ("AlertCleared", "green"),
        ("AlertRaised", "yellow"),
    ]
    assert again.changes == []
    assert node.service.has_scanned(date(2026, 7, 10))
    assert node.service.last_scanned() == date(2026, 7, 10)
    node.close()


def test_deauthorisation_is_flagged_by_the_provider_event_and_cleared_by_a_new_provider(
    make_db, log, source, today
):
    # given a yellow journey with P1
    log.authorised(P1)
    log.authorised(P2)
    log.started(J, "2026-01-10", provider=P1)
    log.plan(J, "2026-02-01")
    feed(log, source)
    today.set("2026-08-01")
    node = restart_and_settle(make_db, source, today)
    before = len(node.service.changes(limit=1000))
    # when P1 is de-authorised from today (a provider event only)
    log.deauthorised(P1, "2026-08-01")
    feed(log, source)
    node.runner.catch_up()
    # then the journey is flagged, and its light is nobody's until a new provider is chosen
    flagged = node.service.changes(after=before)
    assert [(c.type, c.kind, c.provider_id) for c in flagged] == [
        ("AlertCleared", "duration", P1),
        ("AlertRaised", "duration", None),
        ("AlertRaised", "provider_deauthorised", P1),
    ]
    # when the customer chooses P2 from 2026-08-05
    today.set("2026-08-05")
    log.provider_changed(J, "2026-08-05", P2, previous=P1)
    feed(log, source)
    node.runner.catch_up()
    # then the flag is cleared and the light moves to P2
    moved = node.service.changes(after=flagged[-1].seq)
    assert [(c.type, c.kind, c.provider_id) for c in moved] == [
        ("AlertCleared", "duration", None),
        ("AlertRaised", "duration", P2),
        ("AlertCleared", "provider_deauthorised", P1),
    ]
    node.close()


def test_corrected_start_re_dates_the_light(make_db, log, source, today):
    # given a green journey started 2026-01-10
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    feed(log, source)
    today.set("2026-05-20")
    node = restart_and_settle(make_db, source, today)
    # when its start is corrected to 2026-02-10
    log.corrected(J, "starts_on", "2026-01-10", "2026-02-10")
    feed(log, source)
    node.runner.catch_up()
    # then the old light is cleared and the re-dated one raised
    assert changes_of(node.service) == [
        ("AlertRaised", J, "duration", "green", "2026-04-10", "2026-05-20"),
        ("AlertCleared", J, "duration", "green", "2026-04-10", "2026-05-20"),
        ("AlertRaised", J, "duration", "green", "2026-05-10", "2026-05-20"),
    ]
    node.close()


def test_catching_up_a_long_log_records_only_the_final_state(make_db, log, source, today):
    # given a log read two events at a time, whose plan comes in a later batch
    log.rates()
    log.started(J, "2026-01-10")
    log.started(K, "2026-01-10")
    log.plan(J, "2026-02-01")
    log.plan(K, "2026-02-01")
    log.exited(K, "2026-03-01", "dropped_out")
    feed(log, source)
    today.set("2026-04-15")
    # when a fresh installation catches up
    node = Installation(make_db, source, today, batch_size=2)
    node.runner.catch_up()
    # then no plan alert flickered: only the light that is on today was raised
    assert changes_of(node.service) == [
        ("AlertRaised", J, "duration", "green", "2026-04-10", "2026-04-15")
    ]
    node.close()


def test_rebuild_keeps_the_published_feed_and_records_nothing_new(make_db, log, source, today):
    log.started(J, "2026-01-10")
    log.started(K, "2026-01-10", insats="forstarkt")
    log.plan(K, "2026-02-01")
    feed(log, source)
    today.set("2026-04-15")
    node = restart_and_settle(make_db, source, today)
    published = changes_of(node.service)
    assert len(published) == 3  # J: light and plan_overdue; K: light
    node.runner.rebuild("alerts")
    node.service.daily_scan(today())
    assert changes_of(node.service) == published
    assert {a.journey_id for a in node.service.alerts(today())} == {J, K}
    node.close()


def test_withdrawal_clears_nothing_that_was_never_raised_and_raises_nothing(
    make_db, log, source, today
):
    log.started(J, "2026-03-01")
    log.withdrawn(J, "2026-02-15")
    feed(log, source)
    today.set("2026-06-01")
    node = restart_and_settle(make_db, source, today)
    assert node.service.changes() == []
    assert node.service.alerts(date(2027, 1, 1)) == []
    node.close()


# --- reading alerts for any date ----------------------------------------------------------------


@pytest.fixture
def settled(make_db, log, source, today) -> Iterator[AlertsService]:
    log.authorised(P1)
    log.authorised(P2)
    log.started(J, "2026-01-10", provider=P1)  # no plan
    log.started(K, "2025-12-01", insats="forstarkt", provider=P2)
    log.plan(K, "2026-01-05")
    log.started("journey-3", "2026-02-01", provider=P1)
    log.plan("journey-3", "2026-02-10")
    feed(log, source)
    today.set("2026-04-15")
    node = restart_and_settle(make_db, source, today)
    yield node.service
    node.close()


def test_alerts_for_today_past_and_future(settled):
    # today: J green + plan overdue, K green, journey-3 nothing yet
    today = [(a.journey_id, a.kind, a.level) for a in settled.alerts(date(2026, 4, 15))]
    assert today == [
        (K, "duration", "green"),
        (J, "duration", "green"),
        (J, "plan_overdue", None),
    ]
    # in the past, when J's plan was only due soon
    assert [(a.journey_id, a.kind) for a in settled.alerts(date(2026, 3, 5))] == [
        (K, "duration"),
        (J, "plan_due_soon"),
    ]
    # look-ahead: who is red by 2027-01-31?
    red = settled.alerts(date(2027, 1, 31), kind="duration", level="red")
    assert [(a.journey_id, a.since.isoformat()) for a in red] == [
        (K, "2026-12-01"),
        (J, "2027-01-10"),
    ]


def test_alerts_filtered_by_provider_kind_and_level(settled):
    by_p1 = settled.alerts(date(2026, 7, 15), provider_id=P1)
    assert {(a.journey_id, a.kind, a.level) for a in by_p1} == {
        (J, "duration", "yellow"),
        (J, "plan_overdue", None),
        ("journey-3", "duration", "green"),
    }
    assert all(a.provider_id == P1 for a in by_p1)
    assert [a.journey_id for a in settled.alerts(date(2026, 7, 15), level="green")] == ["journey-3"]
    assert settled.alerts(date(2026, 8, 1), kind="bonus_claim_pending") == []
    with pytest.raises(Invalid):
        settled.alerts(date(2026, 8, 1), kind="nonsense")
    with pytest.raises(Invalid):
        settled.alerts(date(2026, 8, 1), level="purple")


def test_the_change_feed_pages_in_order(settled):
    everything = settled.changes(limit=1000)
    first = settled.changes(after=0, limit=2)
    rest = settled.changes(after=first[-1].seq, limit=1000)
    assert first + rest == everything
    assert [c.seq for c in everything] == sorted(c.seq for c in everything)
    assert settled.changes(provider_id=P2) == [c for c in everything if c.provider_id == P2]


def test_default_clock_honours_insats_today(make_db, log, source, monkeypatch):
    # given the service on the default clock, with INSATS_TODAY set
    monkeypatch.setenv("INSATS_TODAY", "2026-03-05")
    log.started(J, "2026-01-10")
    feed(log, source)
    db = make_db()
    service = AlertsService(db)
    FeedRunner(source, db, [service.projection()]).catch_up()
    # then the batch was evaluated for that date
    assert [(c.kind, c.as_of) for c in service.changes()] == [("plan_due_soon", date(2026, 3, 5))]
    db.close()
