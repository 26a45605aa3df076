"""The 'statistics' read model: one compact row per journey that follows every fact and
correction, however the log is cut into batches, and however often a batch is re-delivered."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from contracts import journey as model
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.statistics.facts import figure_row, fold
from services.statistics.figures import compute_figures
from services.statistics.projection import JOURNEYS, StatisticsProjection, load_provider_names
from tests.statistics.stats_given import P1, P2, Given, busy_log

FROM, TO = date(2024, 1, 1), date(2024, 12, 31)


def stored_rows(db: SQLiteDatabase) -> list[tuple[Any, ...]]:
    with db.transaction() as tx:
        return tx.execute(f"SELECT * FROM {JOURNEYS} ORDER BY journey_id").fetchall()


def fed(given: Given, batch_size: int) -> SQLiteDatabase:
    db = SQLiteDatabase(":memory:")
    FeedRunner(
        ListEventSource(given.events), db, [StatisticsProjection()], batch_size=batch_size
    ).catch_up()
    return db


def test_the_rows_do_not_depend_on_how_the_log_is_cut_into_batches() -> None:
    given = busy_log()

    one_by_one = stored_rows(fed(given, 1))
    in_threes = stored_rows(fed(given, 3))
    all_at_once = stored_rows(fed(given, 10_000))

    assert one_by_one == in_threes == all_at_once
    assert len(all_at_once) == 3 + 1  # three journeys and the withdrawn decision


def test_a_re_delivered_batch_changes_nothing() -> None:
    given = busy_log()
    db = fed(given, 10_000)
    before = stored_rows(db)

    with db.transaction() as tx:
        StatisticsProjection().handle(tx, given.events)  # at-least-once delivery
    with db.transaction() as tx:
        StatisticsProjection().handle(tx, given.events[5:9])

    assert stored_rows(db) == before


def test_a_rebuild_reproduces_the_rows() -> None:
    given = busy_log()
    db = SQLiteDatabase(":memory:")
    runner = FeedRunner(ListEventSource(given.events), db, [StatisticsProjection()])
    runner.catch_up()
    before = stored_rows(db)

    runner.rebuild("statistics")

    assert stored_rows(db) == before


def test_the_row_holds_the_corrected_facts() -> None:
    given = Given()
    journey = given.journey("2024-01-10", insats="sai", provider_id=P1)
    given.provider(journey, P2, "2024-03-01")
    given.plan(journey, "2024-02-01")
    given.plan(journey, "2024-01-20")  # a second plan (the domain refuses one): the first holds
    given.plan(journey, "2024-05-01")
    given.correct(journey, "starts_on", "2024-01-10", "2024-01-05")
    given.exit(journey, "2024-06-01", "work")
    given.correct(journey, "exited_on", "2024-06-01", "2024-06-10")
    db = fed(given, 1000)

    with db.transaction() as tx:
        row = tx.execute(
            f"SELECT starts_on, exited_on, exit_reason, exit_days, providers, "
            f"plan_established_on, plan_due_on, withdrawn, last_relevant_on FROM {JOURNEYS}"
        ).fetchone()

    assert row is not None
    starts_on, exited_on, reason, days, providers, plan, due, withdrawn, last = row
    assert (starts_on, exited_on, reason, days) == ("2024-01-05", "2024-06-10", "work", 157)
    # the spans: who holds the journey when (the journey model's)
    assert json.loads(providers) == [
        ["2024-01-05", "2024-02-29", P1],
        ["2024-03-01", "2024-06-10", P2],
    ]
    assert (plan, due) == ("2024-02-01", "2024-03-05")
    assert withdrawn == 0 and last == "2024-06-10"


def test_withdrawn_and_never_started_journeys_are_never_selected() -> None:
    given = Given()
    withdrawn = given.decision()
    given.withdraw(withdrawn, "2024-01-02")
    given.decision()
    db = fed(given, 1000)

    with db.transaction() as tx:
        relevant = tx.execute(f"SELECT last_relevant_on FROM {JOURNEYS}").fetchall()

    assert relevant == [(None,), (None,)]


def test_the_read_model_gives_the_same_figures_as_folding_every_event() -> None:
    given = busy_log()
    service = given.service()
    by_journey: dict[str, list[Any]] = {}
    for event in given.events:
        if event.stream_type == "journey":
            by_journey.setdefault(event.stream_id, []).append(event)
    providers = model.fold_providers(given.events)
    naive = [figure_row(fold(journey, events), providers) for journey, events in by_journey.items()]

    for group_by in ("insats", "provider", "target_group"):
        served = service.figures(FROM, TO, group_by, as_of=TO)
        assert served == compute_figures(naive, FROM, TO, group_by, as_of=TO)


def test_a_reset_empties_the_read_model() -> None:
    db = fed(busy_log(), 1000)

    with db.transaction() as tx:
        StatisticsProjection().reset(tx)
        StatisticsProjection().setup(tx)  # as a rebuild does

    assert stored_rows(db) == []


def test_a_provider_is_shown_with_its_name_in_force_today() -> None:
    given = Given()
    given.authorise(P1, "Ett AB")
    given.authorise(P2, "Två AB")
    given.rename(P1, "Ett i Nacka AB", "2029-06-01")
    given.rename(P1, "Ett i Nacka och Värmdö AB", "2030-06-01")  # announced ahead
    service = given.service()

    def names_on(day: str) -> dict[str, str]:
        service.today = lambda: date.fromisoformat(day)  # the service's today
        return service.provider_names()

    assert names_on("2029-05-31") == {P1: "Ett AB", P2: "Två AB"}
    assert names_on("2030-01-01")[P1] == "Ett i Nacka AB"
    assert names_on("2030-06-01")[P1] == "Ett i Nacka och Värmdö AB"
    names_on("2030-01-01")
    report = service.report_data(date(2029, 1, 1), date(2029, 12, 31))
    assert report.provider_names[P1] == "Ett i Nacka AB"


def test_a_rebuild_reproduces_the_dated_names() -> None:
    given = Given()
    given.authorise(P1, "Ett AB")
    given.rename(P1, "Ett i Nacka AB", "2029-06-01")
    given.rename(P1, "Ett i Nacka AB (rättat)", "2029-06-01")  # the later of one date holds
    db = SQLiteDatabase(":memory:")
    runner = FeedRunner(ListEventSource(given.events), db, [StatisticsProjection()])
    runner.catch_up()

    def names() -> dict[str, str]:
        with db.transaction() as tx:
            return load_provider_names(tx, date(2029, 6, 1))

    before = names()
    runner.rebuild("statistics")

    assert names() == before == {P1: "Ett i Nacka AB (rättat)"}
