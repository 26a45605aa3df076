"""Payout runs through the real wiring: the feed fills the payments read model, runs are closed
and recorded as events (SPEC §4.3)."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.payments.files import render_files, sha256
from services.payments.model import Run
from services.payments.projection import PaymentsProjection
from services.payments.references import DecisionReferences
from services.payments.rules import replay
from services.payments.runs import PayoutRun, PayoutRunClosed, PayoutRuns, run_id
from services.payments.service import PaymentsService, feed_catch_up
from services.payments.verify import verify_runs
from services.platform.db import PostgresDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.platform.refusal import Conflict, Invalid, NotFound, Refusal
from tests.payments.paybuild import P1, P2, Clock, Log, Wired, wire

D = Decimal


def lines_of(run: Run) -> list[tuple[str, str, str, int | None, str]]:
    return [(ln.provider_id, ln.period, ln.type, ln.days, f"{ln.amount:.2f}") for ln in run.lines]


@pytest.fixture
def w(tmp_path: Path) -> Wired:
    log = Log()
    log.default_rates()
    log.provider(P1, "Jobbhjälpen AB", bankgiro="5050-1055")
    log.provider(P2, "Framtidsvägen AB", iban="SE4550000000058398257466")
    return wire(tmp_path, log)


def test_worked_example_of_spec_4_2_run_by_run(w: Wired) -> None:
    log = w.log
    log.decision("j1", "sai", "2026-01-12")
    log.chosen("j1", P1, "2026-01-20")
    jan = w.close("2026-01", today="2026-02-01")
    feb = w.close("2026-02", today="2026-03-01")
    log.changed("j1", P2, "2026-03-16", P1)
    mar = w.close("2026-03", today="2026-04-01")
    log.exited("j1", "2026-04-10", "work", employment_form="fixed_term", contract_months=12)
    apr = w.close("2026-04", today="2026-05-02")
    quiet = [
        w.close(m, today="2026-10-01")
        for m in ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09")
    ]
    log.follow_up("j1", "2026-10-12", due_on="2026-10-10")
    log.review("j1", "2026-10-14", "approved")
    octo = w.close("2026-10", today="2026-11-01")

    assert jan.lines == () and jan.total == D("0.00")
    assert lines_of(feb) == [
        (P1, "2026-01", "monthly", 12, "2823.10"),
        (P1, "2026-02", "monthly", 28, "7293.00"),
    ]
    assert lines_of(mar) == [
        (P1, "2026-03", "monthly", 15, "3528.87"),
        (P2, "2026-03", "monthly", 16, "3764.13"),
    ]
    assert lines_of(apr) == [(P2, "2026-04", "monthly", 10, "2431.00")]
    assert all(run.lines == () for run in quiet)
    assert lines_of(octo) == [(P2, "2026-10", "bonus", None, "18000.00")]
    assert feb.totals == {P1: D("10116.10")} and feb.total == D("10116.10")
    assert mar.totals == {P1: D("3528.87"), P2: D("3764.13")}


def test_preview_shows_what_closing_would_pay_and_stores_nothing(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-20")
    w.publish()
    preview = w.service.preview("2026-02")
    assert preview.status == "preview" and preview.closed_at is None
    assert lines_of(preview)[0] == (P1, "2026-01", "monthly", 12, "2823.10")
    assert w.service.list_runs() == []
    with pytest.raises(NotFound) as refused:
        w.service.get("2026-02")
    assert refused.value.code == "run_not_found"


def test_a_month_closes_only_after_it_ended(w: Wired) -> None:
    with pytest.raises(Conflict, match="2026-02-01") as refused:
        w.close("2026-01", today="2026-01-31")
    assert refused.value.code == "month_not_ended"
    assert w.close("2026-01", today="2026-02-01").status == "closed"


def test_closing_again_returns_the_stored_run_even_after_new_facts(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    first = w.close("2026-01", today="2026-02-01")
    w.log.exited("j1", "2026-01-15", "moved")
    again = w.close("2026-01", today="2026-03-01")
    assert again == first
    assert w.service.get("2026-01") == first
    assert w.service.preview("2026-01") == first


def test_closing_an_earlier_month_after_a_later_one_is_refused(w: Wired) -> None:
    w.close("2026-03", today="2026-04-01")
    with pytest.raises(Conflict, match="2026-03") as refused:
        w.close("2026-02", today="2026-04-01")
    assert refused.value.code == "later_month_closed"
    with pytest.raises(Conflict) as refused:
        w.service.preview("2026-01")
    assert refused.value.code == "later_month_closed"


def test_unclosed_earlier_months_are_folded_in_with_their_own_periods(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-20")
    run = w.close("2026-03", today="2026-04-01")
    assert [ln.period for ln in run.lines] == ["2026-01", "2026-02", "2026-03"]


def test_the_run_is_recorded_as_a_payout_run_closed_event(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    w.log.voucher("j1", "v1", "5000.00", "2026-01-15")
    run = w.close("2026-01", today="2026-02-01")
    notifications = w.runs.recorder.select_notifications(start=1, limit=10)
    assert [n.topic for n in notifications] == [
        "services.payments.runs:PayoutRunClosed",
        "services.payments.runs:PayoutLedger.Opened",  # the first close opens the ledger
        "services.payments.runs:PayoutLedger.MonthClosed",
    ]
    event = w.runs.mapper.to_domain_event(notifications[0])
    assert isinstance(event, PayoutRunClosed)
    assert event.originator_id == run_id("2026-01")
    assert event.month == "2026-01"
    assert event.position == w.log.position
    assert event.total == "12293.00" and event.totals == {P1: "12293.00"}
    assert event.lines == [
        ["2026-01", P1, "j1", "sai", "monthly", "", 31, "7293.00", "7293.00"],
        ["2026-01", P1, "j1", "sai", "voucher", "v1", None, None, "5000.00"],
    ]
    assert event.providers[P1] == {"name": "Jobbhjälpen AB", "bankgiro": "5050-1055", "iban": None}
    assert set(event.files) == {
        "payout-2026-01.csv",
        "payout-2026-01.json",
        "payout-2026-01.si",
        f"underlag-{P1}-2026-01.html",
    }
    assert event.closed_at == run.closed_at
    aggregate = w.runs.repository.get(run_id("2026-01"))
    assert isinstance(aggregate, PayoutRun)


def test_a_second_process_sees_the_closed_runs(w: Wired, tmp_path: Path) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    run = w.close("2026-01", today="2026-02-01")
    other = PayoutRuns(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "runs-a.db"),
        }
    )
    assert other.get("2026-01") == run
    assert list(other.closed()) == ["2026-01"]


def test_file_hashes_match_the_downloaded_bytes(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    run = w.close("2026-01", today="2026-02-01")
    for name, digest in run.files.items():
        assert sha256(w.service.file("2026-01", name)) == digest
    with pytest.raises(NotFound) as refused:
        w.service.file("2026-01", "payout-2026-02.csv")
    assert refused.value.code == "file_not_found"


def test_files_are_the_same_bytes_after_rebuilding_the_read_model_and_restarting(
    w: Wired, tmp_path: Path
) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    w.log.changed("j1", P2, "2026-01-11", P1)
    w.log.voucher("j1", "v1", "7500.00", "2026-01-20")
    run = w.close("2026-01", today="2026-02-01")
    # When provider details change and the read model is rebuilt from scratch
    w.log.provider(P1, "Nytt Namn AB", bankgiro="9999-9997")
    w.publish()
    w.runner.rebuild(PaymentsProjection.name)
    # and a fresh process re-renders every file from the stored run
    fresh = wire(tmp_path, w.log, name="a")
    for name, digest in run.files.items():
        assert sha256(fresh.service.file("2026-01", name)) == digest
    assert render_files(fresh.service.get("2026-01")) == render_files(run)
    assert "Jobbhjälpen AB" in fresh.service.file("2026-01", "payout-2026-01.csv").decode()


def test_later_facts_for_a_closed_month_are_paid_in_the_next_run(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    w.close("2026-01", today="2026-02-01")
    w.close("2026-02", today="2026-03-01")
    w.log.exited("j1", "2026-02-10", "moved")
    march = w.close("2026-03", today="2026-04-01")
    assert lines_of(march) == [(P1, "2026-02", "monthly", -18, "-4688.36")]


def test_corrections_after_runs_keep_totals_equal_to_the_corrected_entitlement(w: Wired) -> None:
    w.log.decision("j1", "forstarkt")
    w.log.chosen("j1", P1, "2026-01-05")
    w.log.decision("j2", "grund")
    w.log.chosen("j2", P2, "2026-01-25")
    w.close("2026-01", today="2026-02-01")
    w.log.exited("j1", "2026-02-20", "work", employment_form="permanent")
    w.close("2026-02", today="2026-03-01")
    w.log.corrected("j1", "exited_on", "2026-02-20", "2026-02-03")
    w.log.corrected("j2", "starts_on", "2026-01-25", "2026-01-15")
    w.log.deauthorised(P2, "2026-03-10")
    w.close("2026-03", today="2026-04-01")
    w.log.corrected("j1", "exited_on", "2026-02-03", "2026-03-03")
    w.close("2026-04", today="2026-05-01")
    paid: dict[tuple[str, str, str, str, str], Decimal] = {}
    for run in w.service.list_runs():
        for ln in run.lines:
            key = (ln.journey_id, ln.provider_id, ln.period, ln.type, ln.voucher_id)
            paid[key] = paid.get(key, D(0)) + ln.amount
    earned = replay(w.log.events).entitlement("2026-04")
    assert {k: v for k, v in paid.items() if v != 0} == {k: v.amount for k, v in earned.items()}


def test_a_missing_rate_refuses_the_run_naming_insats_and_month(w: Wired) -> None:
    w.log.rates("2026-02-01", sai=None)
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    w.publish()
    with pytest.raises(Invalid) as refused:
        w.close("2026-02", today="2026-03-01")
    assert (refused.value.code, refused.value.field) == ("rate_missing", "rates")
    assert "sai" in refused.value.message and "2026-02" in refused.value.message
    assert w.service.list_runs() == []


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-01", "2026-00", "januari", ""])
def test_a_malformed_month_is_refused(w: Wired, month: str) -> None:
    with pytest.raises(Refusal) as refused:
        w.service.preview(month)
    assert (refused.value.status, refused.value.code) == (422, "invalid_month")


@pytest.mark.postgres
def test_the_worked_example_on_a_postgresql_read_model(tmp_path: Path, pg_schema: str) -> None:
    # Given the payments read model in PostgreSQL (runs still in SQLite)
    pg_url = os.environ.get("INSATS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    db = PostgresDatabase(pg_url, schema=pg_schema, max_size=2)
    try:
        log = Log()
        log.default_rates()
        log.provider(P1)
        log.provider(P2)
        log.decision("j1", "sai", "2026-01-12")
        log.chosen("j1", P1, "2026-01-20")
        source = ListEventSource()
        projection = PaymentsProjection()
        runner = FeedRunner(source, db, [projection, DecisionReferences()], batch_size=3)
        runs = PayoutRuns(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(tmp_path / "runs.db"),
            }
        )
        clock = Clock(date(2026, 3, 1))
        service = PaymentsService(
            db, runs, feed_catch_up(runner), projection=projection, today=clock.today
        )

        def close(month: str, today: str) -> Run:
            source.append(*log.events[len(source.events) :])
            clock.day = date.fromisoformat(today)
            return service.close(month)

        assert close("2026-01", "2026-02-01").lines == ()
        assert lines_of(close("2026-02", "2026-03-01")) == [
            (P1, "2026-01", "monthly", 12, "2823.10"),
            (P1, "2026-02", "monthly", 28, "7293.00"),
        ]
        log.changed("j1", P2, "2026-03-16", P1)
        assert [ln[4] for ln in lines_of(close("2026-03", "2026-04-01"))] == ["3528.87", "3764.13"]
        log.exited("j1", "2026-04-10", "work", employment_form="fixed_term", contract_months=12)
        assert lines_of(close("2026-04", "2026-05-01")) == [
            (P2, "2026-04", "monthly", 10, "2431.00")
        ]
        assert verify_runs(source, runs, db=None) == []
    finally:
        db.close()


def test_a_late_deauthorisation_of_an_earlier_provider_is_settled_next_run(w: Wired) -> None:
    # Given a journey that moved from P1 to P2 in March, paid through March
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    w.log.changed("j1", P2, "2026-03-01", P1)
    w.close("2026-03", today="2026-04-01")
    # When P1's de-authorisation from 2026-02-15 is recorded in April
    w.log.deauthorised(P1, "2026-02-15")
    april = w.close("2026-04", today="2026-05-01")
    # Then April's run takes back P1's second half of February, and pays P2 for April
    assert lines_of(april) == [
        (P1, "2026-02", "monthly", -14, "-3646.50"),
        (P2, "2026-04", "monthly", 30, "7293.00"),
    ]


def test_a_close_after_a_preview_includes_facts_recorded_in_between(w: Wired) -> None:
    w.log.decision("j1", "sai")
    w.log.chosen("j1", P1, "2026-01-01")
    w.publish()
    w.clock.day = date(2026, 2, 1)
    assert lines_of(w.service.preview("2026-01")) == [(P1, "2026-01", "monthly", 31, "7293.00")]
    w.log.voucher("j1", "v1", "5000.00", "2026-01-31")
    closed = w.close("2026-01", today="2026-02-01")
    assert [ln.type for ln in closed.lines] == ["monthly", "voucher"]
    assert closed.position == w.log.position
