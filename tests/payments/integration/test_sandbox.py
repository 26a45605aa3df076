"""The policy sandbox (issue 15, docs/sandbox.md): given recorded facts and closed runs, when the
months are replayed under a scenario, then the baseline reproduces what was paid to the öre and
the scenario pays what its rates and rules say — and nothing real is written."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.scenario import ScenarioInvalid, parse_scenario
from insats.sandbox import SandboxRequest, run_sandbox
from services.payments.model import Run
from services.payments.rules import entitlement, replay
from services.payments.runs import PayoutRuns
from services.payments.sandbox import BASELINE, simulate
from services.payments.service import PaymentsService, feed_catch_up
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.platform.refusal import Invalid
from tests.payments.integration import test_payments_properties as properties
from tests.payments.paybuild import P1, P2, QUESTION, Log, Wired, wire

MONTHS = [f"2026-{m:02d}" for m in range(1, 11)]


def the_year(tmp_path: Path) -> Wired:
    """SPEC §4.2's worked example (j1), a journey exiting on its 20th day (j2), a förstärkt
    journey held all year (j3) and a 4-month fixed-term exit that does not qualify for the
    bonus but has a sustained follow-up with evidence (j4); every month closed in turn."""
    log = Log()
    log.default_rates()
    log.provider(P1)
    log.provider(P2)
    log.decision("j1", "sai")
    log.chosen("j1", P1, "2026-01-20")
    log.decision("j2", "sai", decided_on="2026-02-20")
    log.chosen("j2", P1, "2026-03-02")
    log.decision("j3", "forstarkt")
    log.chosen("j3", P2, "2026-02-01")
    log.decision("j4", "grund")
    log.chosen("j4", P2, "2026-01-15")
    wired = wire(tmp_path, log)
    wired.close("2026-01", "2026-02-02")
    wired.close("2026-02", "2026-03-02")
    log.changed("j1", P2, "2026-03-16", P1)
    log.exited("j2", "2026-03-21", "moved")
    wired.close("2026-03", "2026-04-02")
    log.exited("j1", "2026-04-10", "work", employment_form="fixed_term", contract_months=12)
    log.exited("j4", "2026-04-30", "work", employment_form="fixed_term", contract_months=4)
    wired.close("2026-04", "2026-05-04")
    for month, today in [
        ("2026-05", "2026-06-01"),
        ("2026-06", "2026-07-01"),
        ("2026-07", "2026-08-03"),
        ("2026-08", "2026-09-01"),
        ("2026-09", "2026-10-01"),
    ]:
        wired.close(month, today)
    log.follow_up("j1", "2026-10-12", due_on="2026-10-10")
    log.review("j1", "2026-10-14")
    log.follow_up("j4", "2026-10-31", due_on="2026-10-30", bonus_claim=False)
    wired.close("2026-10", "2026-11-02")
    return wired


def sandbox(wired: Wired, scenario: dict[str, Any], **options: Any) -> dict[str, Any]:
    request = SandboxRequest(
        parse_scenario(scenario),
        options.pop("month_from", "2026-01"),
        options.pop("month_to", "2026-10"),
        **options,
    )
    return run_sandbox(wired.source, wired.runs, request, today=date(2026, 11, 5))


def amounts(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {r["key"]: (r["baseline"], r["scenario"]) for r in rows}


def test_the_baseline_reproduces_every_closed_run_to_the_ore(tmp_path: Path) -> None:
    wired = the_year(tmp_path)
    closed = wired.runs.closed()
    result = sandbox(wired, QUESTION)
    assert [m["basis"] for m in result["months"]] == ["closed_run"] * 10
    for month in result["months"]:
        assert month["baseline_matches_paid"] is True
        assert month["baseline"] == month["paid"] == f"{closed[month['month']].total:.2f}"
    paid = sum((closed[m].total for m in MONTHS), Decimal("0"))
    assert result["totals"]["paid"] == result["totals"]["baseline"] == f"{paid:.2f}"
    assert result["totals"]["baseline_matches_paid"] is True


def test_the_question_of_the_issue(tmp_path: Path) -> None:
    result = sandbox(the_year(tmp_path), QUESTION)
    difference = {m["month"]: m["difference"] for m in result["months"]}
    # January: j4 (grund from the 15th) has lasted 14 days but not 30: 17/31 × 3 686 later.
    assert difference["2026-01"] == "-2021.35"
    # February: j4's January now; j3 (förstärkt from Feb 1st) has not lasted 30 days.
    assert difference["2026-02"] == f"{Decimal('2021.35') - Decimal('4823.00'):.2f}"
    # March: j2 exited on its 20th day and earns nothing (20/31 × 7 293); j3's February and
    # March at 5 000 instead of 4 823.
    assert (
        difference["2026-03"]
        == f"{Decimal('10000.00') - Decimal('4823.00') - Decimal('4705.16'):.2f}"
    )
    # October: j3 +177, and j1's bonus is 20 000 instead of 18 000.
    assert difference["2026-10"] == "2177.00"
    assert amounts(result["by_line_type"])["bonus"] == ("18000.00", "20000.00")
    insats = amounts(result["by_insats"])
    assert insats["forstarkt"] == ("43407.00", "45000.00")  # 9 months × 4 823 / × 5 000
    journeys = {r["journey_id"]: r for r in result["journeys"]["rows"]}
    assert journeys["j2"]["outcome"] == ["monthly_lost"]
    assert journeys["j1"]["outcome"] == [] and journeys["j1"]["difference"] == "2000.00"
    assert result["journeys"]["outcome_changed"] == 1


def test_a_shorter_contract_qualifies_from_its_follow_up(tmp_path: Path) -> None:
    """A bonus rule change: j4's 4-month contract qualifies under 3 months; no claim could be
    made under SPEC's 6, so the bonus is earned on its sustained follow-up with evidence."""
    scenario = {
        "name": "3 månader räcker",
        "changes": [{"effective_from": "2026-01-01", "rules": {"bonus_fixed_term_min_months": 3}}],
    }
    result = sandbox(the_year(tmp_path), scenario)
    journeys = {r["journey_id"]: r for r in result["journeys"]["rows"]}
    assert journeys["j4"]["outcome"] == ["bonus_gained"]
    assert journeys["j4"]["difference"] == "18000.00"
    stats = result["statistics"]
    assert stats["baseline"]["total"]["bonus_qualifying"] == 1
    assert stats["scenario"]["total"]["bonus_qualifying"] == 2
    assert stats["scenario"]["grund"]["bonus_qualifying"] == 1


def test_a_rule_on_subsidised_work_moves_the_self_sufficiency_figures(tmp_path: Path) -> None:
    wired = the_year(tmp_path)
    wired.log.decision("j5", "grund")
    wired.log.chosen("j5", P1, "2026-02-01")
    wired.log.exited(
        "j5",
        "2026-09-30",
        "work",
        employment_form="permanent",
        subsidy="nystartsjobb",
    )
    wired.publish()
    scenario = {
        "name": "Subventionerat arbete räknas inte",
        "changes": [
            {
                "effective_from": "2026-01-01",
                "rules": {
                    "bonus_subsidised_work_counts": False,
                    "self_sufficiency_subsidised_work_counts": False,
                },
            }
        ],
    }
    result = sandbox(wired, scenario, month_from="2026-01", month_to="2026-10")
    stats = result["statistics"]
    assert stats["baseline"]["grund"]["self_sufficient"] == 2  # j4 and j5
    assert stats["scenario"]["grund"]["self_sufficient"] == 1  # j5's nystartsjobb no longer
    assert stats["baseline"]["grund"]["bonus_qualifying"] == 1
    assert stats["scenario"]["grund"]["bonus_qualifying"] == 0
    assert stats["baseline"]["grund"]["exits_total"] == stats["scenario"]["grund"]["exits_total"]


def test_voucher_bounds_count_a_voucher_at_the_nearest_bound(tmp_path: Path) -> None:
    wired = the_year(tmp_path)
    scenario = {
        "name": "Tak 10 000",
        "changes": [{"effective_from": "2026-11-01", "voucher_max": "10000.00"}],
    }
    wired.log.voucher("j3", "v1", "15000.00", "2026-11-03")
    wired.publish()
    result = sandbox(wired, scenario, month_from="2026-11", month_to="2026-11")
    assert result["months"][0]["basis"] == "known_at"
    assert amounts(result["by_line_type"])["voucher"] == ("15000.00", "10000.00")


def test_from_a_later_month_the_months_before_are_what_was_really_paid(tmp_path: Path) -> None:
    """From February on, under 10 days instead of 14: j1 (12 days in January) was not paid for
    January by the real January run, and is by the February run under both rules — so February
    pays the same; the scenario must not take January as settled under its own rules."""
    scenario = {
        "name": "10 dagar",
        "changes": [{"effective_from": "2025-01-01", "min_days_before_payment": 10}],
    }
    result = sandbox(the_year(tmp_path), scenario, month_from="2026-02", month_to="2026-02")
    assert result["months"][0]["difference"] == "0.00"
    assert result["months"][0]["baseline_matches_paid"] is True


def test_known_at_leaves_out_what_was_recorded_later(tmp_path: Path) -> None:
    """With --known-at, the October run is computed from what was known on 2026-10-13: the
    bonus approved on the 14th is not, and the month is then not a closed run's basis."""
    wired = the_year(tmp_path)
    known_at = datetime(2026, 10, 13, 23, 0, tzinfo=UTC)
    result = sandbox(wired, QUESTION, month_from="2026-10", month_to="2026-10", known_at=known_at)
    october = result["months"][0]
    assert october["basis"] == "known_at" and october["baseline_matches_paid"] is None
    assert amounts(result["by_line_type"]).get("bonus") is None


def contents(folder: Path) -> dict[str, str]:
    """Every database in the folder, dumped (the read model's and the runs store's)."""
    out = {}
    for path in sorted(folder.glob("*.db")):
        with closing(sqlite3.connect(path)) as db:
            out[path.name] = hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()
    return out


def test_nothing_real_is_written(tmp_path: Path) -> None:
    wired = the_year(tmp_path)
    wired.runner.catch_up()
    before, events = contents(tmp_path), list(wired.source.events)
    assert set(before) == {"read-a.db", "runs-a.db"}
    sandbox(wired, QUESTION)
    assert contents(tmp_path) == before
    assert wired.source.events == events


def test_requests_beyond_the_domain_are_refused(tmp_path: Path) -> None:
    wired = the_year(tmp_path)
    for options, field in [
        ({"month_from": "2026-13"}, "from"),
        ({"month_from": "2026-05", "month_to": "2026-04"}, "from"),
        ({"month_to": "2026-12"}, "to"),  # after the current month
        ({"month_from": "2008-12"}, "from"),
        ({"month_from": "2020-01", "month_to": "2026-01"}, "to"),  # over 60 months
    ]:
        with pytest.raises(Invalid) as refused:
            sandbox(wired, QUESTION, **options)
        assert refused.value.field == field


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"min_dayz": 30}, "min_dayz: unknown parameter"),
        ({"rules": {"bonus_contract_months": 3}}, "rules.bonus_contract_months: unknown"),
        ({"monthly": {"sai": 7000.5}}, "amounts are strings"),
        ({"monthly": {"sai": "-1.00"}}, "cannot be negative"),
        ({"monthly": {"sai": "1e9"}}, "at most 1000000.00"),
        ({"min_days_before_payment": 0}, "min_days_before_payment"),
        ({"voucher_min": "9000.00", "voucher_max": "8000.00"}, "is above voucher_max"),
    ],
)
def test_a_scenario_with_unknown_or_unbounded_parameters_is_refused(
    change: dict[str, Any], says: str
) -> None:
    with pytest.raises(ScenarioInvalid) as refused:
        parse_scenario({"name": "x", "changes": [{"effective_from": "2026-01-01", **change}]})
    assert says in str(refused.value)


def test_two_recorded_years_every_run_reproduced_by_the_baseline(tmp_path: Path) -> None:
    """The recorded municipality (tests/payments/recorded: every kind of fact and correction,
    late facts paid as lines for earlier periods): given its runs closed as recorded, the
    sandbox's baseline reproduces each of them line for line, and a scenario changes them."""
    from services.payments.model import FIRST_LAYOUT
    from tests.payments.integration.test_recorded_log import recorded_events, recorded_runs

    events, recorded = recorded_events(), recorded_runs()
    source = ListEventSource()
    db = SQLiteDatabase(tmp_path / "readmodels.db")
    runs = PayoutRuns(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "r.db")}
    )
    clock: dict[str, Any] = {}
    service = PaymentsService(
        db,
        runs,
        source=source,
        today=lambda: clock["today"],
        now=lambda: clock["now"],
        layout=FIRST_LAYOUT,
    )
    runner = FeedRunner(source, db, [service.projection, service.references])
    service.catch_up = feed_catch_up(runner)
    published = 0
    for run in recorded:
        while published < len(events) and events[published].position <= run["position"]:
            source.append(events[published])
            published += 1
        clock["today"] = date.fromisoformat(run["today"])
        clock["now"] = datetime.fromisoformat(run["closed_at"].replace("Z", "+00:00"))
        service.close(run["month"])
    source.append(*events[published:])
    months = [r["month"] for r in recorded]
    request = SandboxRequest(parse_scenario(QUESTION), months[0], months[-1])
    try:
        result = run_sandbox(source, runs, request, today=clock["today"])
    finally:
        service.shutdown()
        db.close()
    by_month = {m["month"]: m for m in result["months"]}
    for run in recorded:
        month = by_month[run["month"]]
        assert month["basis"] == "closed_run"
        assert month["baseline_matches_paid"] is True, run["month"]
        assert month["baseline"] == month["paid"] == run["total"]
    assert result["totals"]["baseline_matches_paid"] is True
    assert result["totals"]["difference"] != "0.00"
    assert result["journeys"]["outcome_changed"] > 0


# --- over random histories -----------------------------------------------------------------------

SCENARIOS = st.sampled_from(
    [
        QUESTION,
        {
            "name": "kortare kontrakt, högre SAI från april",
            "changes": [
                {"effective_from": "2026-01-01", "rules": {"bonus_fixed_term_min_months": 3}},
                {"effective_from": "2026-04-01", "monthly": {"sai": "8000.00"}},
            ],
        },
        {
            "name": "10 dagar",
            "changes": [{"effective_from": "2025-01-01", "min_days_before_payment": 10}],
        },
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(properties.action, min_size=1, max_size=35), SCENARIOS)
def test_over_random_histories_the_baseline_is_what_was_paid_and_the_scenario_adds_up(
    steps: list[Any], scenario: dict[str, Any]
) -> None:
    """Whatever arrives late, is corrected or skipped: every closed month's baseline is its run
    line for line, and the scenario's runs together pay exactly the scenario's entitlement of
    the history known at the last close (computed the long way, from the folded events)."""
    told = properties.close_along(steps)
    source, closed, months = told.source, told.runs.closed(), told.months
    known_events = told.story.log.events[: len(source.events)]
    source.append(*told.story.log.events[len(source.events) :])  # learnt after the last close

    parsed = parse_scenario(scenario)
    simulation = simulate(
        source, closed, months, {BASELINE: None, "scenario": parsed}, known_at=source.max_position()
    )
    for basis in simulation.months:
        if basis.folded:
            assert basis.month not in closed
            continue
        assert basis.closed is closed[basis.month]
        assert simulation.runs[BASELINE][basis.month].lines == closed[basis.month].lines

    known = replay(known_events)
    expected = entitlement(
        known.journeys.values(), known.rates.under(parsed), known.providers, months[-1]
    )
    expected_amounts = {k: v.amount for k, v in expected.items() if v.amount != 0}
    assert summed(simulation.runs["scenario"].values()) == expected_amounts

    # From a later month on, the months before are what was really paid (under the baseline):
    # together with the scenario's runs they still pay the scenario's entitlement.
    later = months[len(months) // 2 :]
    partial = simulate(source, closed, later, {"scenario": parsed}, known_at=source.max_position())
    before = [run for m, run in closed.items() if m < later[0]]
    assert summed([*before, *partial.runs["scenario"].values()]) == expected_amounts


def summed(runs: Iterable[Run]) -> dict[tuple[str, str, str, str, str], Decimal]:
    paid: dict[tuple[str, str, str, str, str], Decimal] = {}
    for run in runs:
        for ln in run.lines:
            key = (ln.journey_id, ln.provider_id, ln.period, ln.type, ln.voucher_id)
            paid[key] = paid.get(key, Decimal(0)) + ln.amount
    return {k: v for k, v in paid.items() if v != 0}


def test_the_extreme_values_a_scenario_may_hold_break_neither_the_run_nor_its_files(
    tmp_path: Path,
) -> None:
    """Every bound at its edge: the largest amounts, the longest waiting period, the widest
    dates, the longest text (with markup in it). The run and every file are still made."""
    from contracts.bounds import MAX_NAME, MAX_REASON
    from insats.sandbox.report import render_csv, render_html, render_journeys_csv, render_json

    top = "1000000.00"
    name = ("<b>&" * MAX_NAME)[:MAX_NAME]
    scenario = {
        "name": name,
        "description": "x" * (MAX_REASON * 4),
        "changes": [
            {
                "effective_from": "2009-01-01",
                "reason": "r" * MAX_REASON,
                "monthly": {"grund": top, "forstarkt": top, "sai": top},
                "bonus": {"grund": top, "forstarkt": top, "sai": top},
                "min_days_before_payment": 366,
                "voucher_min": "0.00",
                "voucher_max": top,
                "rules": {"bonus_fixed_term_min_months": 0},
            },
            {
                "effective_from": "2099-12-31",
                "min_days_before_payment": 1,
                "rules": {"bonus_fixed_term_min_months": 120},
            },
        ],
    }
    result = sandbox(the_year(tmp_path), scenario)
    assert result["totals"]["baseline_matches_paid"] is True
    for render in (render_json, render_csv, render_journeys_csv):
        assert render(result)
    page = render_html(result).decode()
    assert "<b>&" not in page and "&lt;b&gt;&amp;" in page
