"""SPEC §4.2–4.4 as pure rules: given the facts known at each closing, when the runs are
computed, then they pay exactly this (no database involved)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.payments.rules import (
    Key,
    Line,
    RateMissing,
    add_paid,
    replay,
    run_lines,
)
from tests.payments.paybuild import P1, P2, P3, Log, exit_payload

D = Decimal
SAI = D("7293.00")


def runs_over(snapshots: list[tuple[str, int]], log: Log) -> dict[str, dict[Key, Line]]:
    """Close the months in order, each with the first `n` events of the log known (§4.3: pay
    earned-as-known-now minus what earlier runs paid)."""
    paid: dict[Key, Line] = {}
    out: dict[str, dict[Key, Line]] = {}
    for month, known in snapshots:
        lines = run_lines(month, replay(log.events[:known]).entitlement(month), paid)
        for key, line in lines:
            add_paid(paid, key, line)
            assert key[2] <= month
        out[month] = dict(lines)
    return out


def amounts(lines: dict[Key, Line]) -> dict[tuple[str, str, str], Decimal]:
    """(provider, period, type) → amount, for readable expectations."""
    return {(k[1], k[2], k[3]): v.amount for k, v in lines.items()}


def base_log(*providers: str) -> Log:
    log = Log()
    log.default_rates()
    for p in providers or (P1, P2):
        log.provider(p)
    return log


# --- the worked example of §4.2 -----------------------------------------------------------------


def test_worked_example_of_spec_4_2_to_the_ore() -> None:
    # Given an SAI journey (7 293 SEK) started 2026-01-20 with P1
    log = base_log(P1, P2)
    log.decision("j1", "sai", "2026-01-12")
    log.chosen("j1", P1, "2026-01-20")
    after_start = len(log.events)
    # the customer switches to P2 from 2026-03-16
    log.changed("j1", P2, "2026-03-16", P1)
    after_switch = len(log.events)
    # exit 2026-04-10 to work with a 12-month contract
    log.exited("j1", "2026-04-10", "work", employment_form="fixed_term", contract_months=12)
    after_exit = len(log.events)
    # P2 records the follow-up on 2026-10-12; the counsellor approves it on 2026-10-14
    log.follow_up("j1", "2026-10-12", due_on="2026-10-10")
    log.review("j1", "2026-10-14", "approved")

    runs = runs_over(
        [
            ("2026-01", after_start),
            ("2026-02", after_start),
            ("2026-03", after_switch),
            ("2026-04", after_exit),
            ("2026-05", after_exit),
            ("2026-06", after_exit),
            ("2026-07", after_exit),
            ("2026-08", after_exit),
            ("2026-09", after_exit),
            ("2026-10", len(log.events)),
        ],
        log,
    )

    # Then the January run has nothing (12 days, under 14)
    assert runs["2026-01"] == {}
    # the February run pays P1 2 823.10 for January (12/31) and 7 293.00 for February
    assert amounts(runs["2026-02"]) == {
        (P1, "2026-01", "monthly"): D("2823.10"),
        (P1, "2026-02", "monthly"): D("7293.00"),
    }
    assert runs["2026-02"][("j1", P1, "2026-01", "monthly", "")] == Line(12, SAI, D("2823.10"))
    # March pays P1 3 528.87 (15/31) and P2 3 764.13 (16/31)
    assert amounts(runs["2026-03"]) == {
        (P1, "2026-03", "monthly"): D("3528.87"),
        (P2, "2026-03", "monthly"): D("3764.13"),
    }
    assert runs["2026-03"][("j1", P1, "2026-03", "monthly", "")].days == 15
    assert runs["2026-03"][("j1", P2, "2026-03", "monthly", "")].days == 16
    # April pays P2 2 431.00 (10/30)
    assert amounts(runs["2026-04"]) == {(P2, "2026-04", "monthly"): D("2431.00")}
    # nothing from May to September
    for month in ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09"):
        assert runs[month] == {}
    # the October run pays P2 the 18 000.00 bonus
    assert amounts(runs["2026-10"]) == {(P2, "2026-10", "bonus"): D("18000.00")}


# --- the 14-day rule ----------------------------------------------------------------------------


def journey(log: Log, jid: str, starts_on: str, provider: str = P1, insats: str = "sai") -> None:
    log.decision(jid, insats, "2026-01-02")
    log.chosen(jid, provider, starts_on)


def test_a_journey_exited_on_its_13th_day_earns_nothing() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-10")
    log.exited("j1", "2026-01-22", "moved")  # 10th..22nd = 13 days
    assert replay(log.events).entitlement("2026-12") == {}


def test_a_journey_exited_on_its_14th_day_earns_every_day_from_the_first() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-10")
    log.exited("j1", "2026-01-23", "moved")  # 10th..23rd = 14 days
    earned = replay(log.events).entitlement("2026-12")
    assert earned == {("j1", P1, "2026-01", "monthly", ""): Line(14, SAI, D("3293.61"))}


def test_13_days_across_a_month_boundary_earn_nothing_14_earn_both_months() -> None:
    log = base_log()
    journey(log, "short", "2026-01-25")
    log.exited("short", "2026-02-06", "illness")  # 7 + 6 = 13 days
    journey(log, "long", "2026-01-25")
    log.exited("long", "2026-02-07", "illness")  # 7 + 7 = 14 days
    earned = replay(log.events).entitlement("2026-12")
    assert earned == {
        ("long", P1, "2026-01", "monthly", ""): Line(7, SAI, D("1646.81")),
        ("long", P1, "2026-02", "monthly", ""): Line(7, SAI, D("1823.25")),
    }


def test_the_14_days_are_counted_by_the_end_of_the_month_being_closed() -> None:
    # Given a journey started 2026-01-25 (7 days by the end of January)
    log = base_log()
    journey(log, "j1", "2026-01-25")
    runs = runs_over([("2026-01", len(log.events)), ("2026-02", len(log.events))], log)
    # Then January's run pays nothing and February's pays January's 7 days and all February
    assert runs["2026-01"] == {}
    assert amounts(runs["2026-02"]) == {
        (P1, "2026-01", "monthly"): D("1646.81"),
        (P1, "2026-02", "monthly"): D("7293.00"),
    }


def test_min_days_comes_from_the_rate_table() -> None:
    log = Log()
    log.rates("2016-01-01", min_days=30)
    log.provider(P1)
    journey(log, "j1", "2026-01-10")
    log.exited("j1", "2026-02-07", "moved")  # 29 days
    assert replay(log.events).entitlement("2026-12") == {}


# --- providers ----------------------------------------------------------------------------------


def test_an_assignment_runs_to_the_next_start_the_exit_or_the_deauthorisation() -> None:
    log = base_log(P1, P2, P3)
    journey(log, "j1", "2026-01-01")
    log.changed("j1", P2, "2026-02-01", P1)
    log.deauthorised(P2, "2026-03-01")
    log.changed("j1", P3, "2026-03-10", P2)
    log.exited("j1", "2026-04-30", "moved")
    known = replay(log.events)
    spans = known.journeys["j1"].spans(known.providers)
    assert [(s.provider_id, str(s.starts_on), str(s.ends_on)) for s in spans] == [
        (P1, "2026-01-01", "2026-01-31"),
        (P2, "2026-02-01", "2026-02-28"),
        (P3, "2026-03-10", "2026-04-30"),
    ]


def test_a_provider_change_mid_month_splits_the_month_by_days() -> None:
    log = base_log(P1, P2)
    journey(log, "j1", "2026-01-01", insats="grund")
    log.changed("j1", P2, "2026-02-11", P1)
    earned = replay(log.events).entitlement("2026-02")
    grund = D("3686.00")
    assert earned[("j1", P1, "2026-02", "monthly", "")] == Line(10, grund, D("1316.43"))
    assert earned[("j1", P2, "2026-02", "monthly", "")] == Line(18, grund, D("2369.57"))


def test_one_line_per_provider_and_month_even_when_a_provider_returns() -> None:
    log = base_log(P1, P2)
    journey(log, "j1", "2026-01-01")
    log.changed("j1", P2, "2026-03-11", P1)
    log.changed("j1", P1, "2026-03-21", P2)
    earned = replay(log.events).entitlement("2026-03")
    assert earned[("j1", P1, "2026-03", "monthly", "")].days == 10 + 11
    assert earned[("j1", P2, "2026-03", "monthly", "")].days == 10


def test_deauthorisation_ends_the_assignment_the_day_before_and_the_journey_waits() -> None:
    # Given P1 de-authorised from 2026-03-10; the customer chooses P2 from 2026-03-20
    log = base_log(P1, P2)
    journey(log, "j1", "2026-01-01")
    log.deauthorised(P1, "2026-03-10")
    log.voucher("j1", "v-gap", "5000.00", "2026-03-15")  # while nobody holds the journey
    log.changed("j1", P2, "2026-03-20", P1)
    earned = replay(log.events).entitlement("2026-03")
    # Then P1 earns 1–9 March, P2 20–31 March, and nobody the days in between
    assert earned[("j1", P1, "2026-03", "monthly", "")].days == 9
    assert earned[("j1", P2, "2026-03", "monthly", "")].days == 12
    assert not [k for k in earned if k[3] == "voucher"]


def test_deauthorisation_does_not_cut_assignments_after_a_new_authorisation() -> None:
    log = base_log(P1, P2)
    log.deauthorised(P1, "2025-06-01")
    log.provider(P1, authorised_from="2025-09-01")
    journey(log, "j1", "2026-01-01")
    assert (
        replay(log.events).entitlement("2026-01")[("j1", P1, "2026-01", "monthly", "")].days == 31
    )


# --- rates --------------------------------------------------------------------------------------


def test_a_rate_change_on_the_first_of_a_month_applies_to_that_month() -> None:
    log = base_log()
    log.rates("2026-03-01", sai="7500.00")
    journey(log, "j1", "2026-01-01")
    earned = replay(log.events).entitlement("2026-03")
    assert earned[("j1", P1, "2026-02", "monthly", "")].amount == D("7293.00")
    assert earned[("j1", P1, "2026-03", "monthly", "")] == Line(31, D("7500.00"), D("7500.00"))


def test_a_rate_change_mid_month_applies_from_the_next_month() -> None:
    log = base_log()
    log.rates("2026-03-15", sai="7500.00")
    journey(log, "j1", "2026-01-01")
    earned = replay(log.events).entitlement("2026-04")
    assert earned[("j1", P1, "2026-03", "monthly", "")].rate == SAI
    assert earned[("j1", P1, "2026-04", "monthly", "")].rate == D("7500.00")


def test_a_later_rate_table_with_the_same_effective_from_replaces_the_earlier() -> None:
    log = base_log()
    log.rates("2026-03-01", sai="7500.00")
    log.rates("2026-03-01", sai="7400.00")
    journey(log, "j1", "2026-01-01")
    assert replay(log.events).entitlement("2026-03")[
        ("j1", P1, "2026-03", "monthly", "")
    ].rate == D("7400.00")


def test_no_rate_for_an_insats_and_month_is_an_error_naming_both() -> None:
    log = base_log()
    log.rates("2026-02-01", sai=None)
    journey(log, "j1", "2026-01-01")
    known = replay(log.events)
    assert known.entitlement("2026-01")  # January is covered by the default table
    with pytest.raises(RateMissing) as refused:
        known.entitlement("2026-02")
    assert refused.value.insats == "sai" and refused.value.month == "2026-02"
    assert "'sai'" in str(refused.value) and "2026-02" in str(refused.value)


def test_no_rate_table_at_all_is_an_error_not_an_invented_amount() -> None:
    log = Log()
    log.provider(P1)
    journey(log, "j1", "2026-01-01", insats="grund")
    with pytest.raises(RateMissing, match=r"grund.*2026-01"):
        replay(log.events).entitlement("2026-01")


# --- bonus --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "details", "qualifies"),
    [
        ("work", {"employment_form": "permanent", "contract_months": None}, True),
        ("work", {"employment_form": "fixed_term", "contract_months": 6}, True),
        ("work", {"employment_form": "fixed_term", "contract_months": 5}, False),
        ("work", {"employment_form": "fixed_term", "contract_months": None}, False),
        ("work", {"employment_form": "full_time_hourly", "subsidy": "extratjanst"}, True),
        ("work", {"employment_form": "permanent", "subsidy": "nystartsjobb"}, True),
        (
            "work",
            {"employment_form": "fixed_term", "contract_months": 12, "subsidy": "instegsjobb"},
            True,
        ),
        ("work", {"employment_form": None, "contract_months": None}, False),
        ("studies", {"csn_eligible": True}, True),
        ("studies", {"csn_eligible": False}, False),
        ("studies", {}, False),
        ("own_business", {}, False),
        ("other_insats", {}, False),
        ("moved", {}, False),
        ("illness", {}, False),
        ("dropped_out", {}, False),
    ],
)
def test_bonus_qualification(reason: str, details: dict[str, object], qualifies: bool) -> None:
    log = base_log()
    journey(log, "j1", "2026-01-01")
    log.exited("j1", "2026-03-31", reason, **details)
    log.follow_up("j1", "2026-10-02", due_on="2026-09-30")
    log.review("j1", "2026-10-05")
    bonus = [k for k in replay(log.events).entitlement("2026-12") if k[3] == "bonus"]
    assert bonus == ([("j1", P1, "2026-10", "bonus", "")] if qualifies else [])


def test_no_bonus_without_an_approved_claim() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-01")
    log.exited("j1", "2026-03-31", "work", employment_form="permanent")
    log.follow_up("j1", "2026-10-02", due_on="2026-09-30")
    assert not [k for k in replay(log.events).entitlement("2026-12") if k[3] == "bonus"]


def test_a_returned_claim_then_approved_pays_in_the_approvals_month() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-01")
    log.exited("j1", "2026-03-31", "studies", csn_eligible=True)
    log.follow_up("j1", "2026-10-02", due_on="2026-09-30")
    log.review("j1", "2026-10-05", "returned")
    returned_only = replay(log.events).entitlement("2026-12")
    log.follow_up("j1", "2026-11-02", due_on="2026-09-30")
    log.review("j1", "2026-11-09", "approved")
    earned = replay(log.events).entitlement("2026-12")
    assert not [k for k in returned_only if k[3] == "bonus"]
    assert earned[("j1", P1, "2026-11", "bonus", "")] == Line(None, D("18000.00"), D("18000.00"))


def test_the_bonus_goes_to_the_provider_holding_the_journey_on_exited_on() -> None:
    log = base_log(P1, P2)
    journey(log, "j1", "2026-01-01")
    log.changed("j1", P2, "2026-03-01", P1)
    log.exited("j1", "2026-03-01", "work", employment_form="permanent")
    log.follow_up("j1", "2026-09-02", due_on="2026-09-01")
    log.review("j1", "2026-09-03")
    earned = replay(log.events).entitlement("2026-09")
    assert ("j1", P2, "2026-09", "bonus", "") in earned


def test_the_bonus_rate_is_the_one_in_force_on_exited_on() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-01")
    log.exited("j1", "2026-03-31", "work", employment_form="permanent")
    log.rates("2026-06-01", bonus="20000.00")
    log.follow_up("j1", "2026-10-02", due_on="2026-09-30")
    log.review("j1", "2026-10-05")
    assert replay(log.events).entitlement("2026-10")[
        ("j1", P1, "2026-10", "bonus", "")
    ].amount == D("18000.00")


def test_the_bonus_is_only_paid_in_a_run_for_its_period_or_later() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-01")
    log.exited("j1", "2026-03-31", "work", employment_form="permanent")
    log.follow_up("j1", "2026-10-02", due_on="2026-09-30")
    log.review("j1", "2026-10-05")
    known = replay(log.events)
    assert not [k for k in known.entitlement("2026-09") if k[3] == "bonus"]
    assert [k for k in known.entitlement("2026-10") if k[3] == "bonus"]


# --- vouchers -----------------------------------------------------------------------------------


def test_a_voucher_goes_to_the_provider_holding_the_journey_on_granted_on() -> None:
    log = base_log(P1, P2)
    journey(log, "j1", "2026-01-01")
    log.voucher("j1", "v1", "8500.00", "2026-02-03")
    log.changed("j1", P2, "2026-02-10", P1)
    log.voucher("j1", "v2", "5000.00", "2026-02-10")
    earned = replay(log.events).entitlement("2026-02")
    assert earned[("j1", P1, "2026-02", "voucher", "v1")] == Line(None, None, D("8500.00"))
    assert earned[("j1", P2, "2026-02", "voucher", "v2")] == Line(None, None, D("5000.00"))


def test_a_voucher_is_paid_in_its_month_even_before_the_insats_reached_14_days() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-25")
    log.voucher("j1", "v1", "15000.00", "2026-01-27")
    runs = runs_over([("2026-01", len(log.events))], log)
    assert amounts(runs["2026-01"]) == {(P1, "2026-01", "voucher"): D("15000.00")}


# --- withdrawn journeys -------------------------------------------------------------------------


def test_a_withdrawn_journey_earns_nothing() -> None:
    log = base_log()
    log.decision("j1", "sai", "2026-01-02")
    log.withdrawn("j1", "2026-01-03")
    assert replay(log.events).entitlement("2026-12") == {}


# --- late facts and corrections (§4.3, §4.4) ---------------------------------------------------


def started_january(log: Log) -> None:
    journey(log, "j1", "2026-01-01")


def test_an_exit_reported_after_its_month_closed_gives_a_negative_line_next_run() -> None:
    # Given January and February were paid in full
    log = base_log()
    started_january(log)
    known = len(log.events)
    # When the exit on 2026-02-10 is reported in March
    log.exited("j1", "2026-02-10", "moved")
    runs = runs_over([("2026-01", known), ("2026-02", known), ("2026-03", len(log.events))], log)
    # Then March's run takes back February's 18 days: 10/28 earned, 28/28 paid
    assert runs["2026-03"] == {
        ("j1", P1, "2026-02", "monthly", ""): Line(-18, SAI, D("2604.64") - D("7293.00")),
    }


def test_an_exit_date_corrected_earlier_gives_negative_lines() -> None:
    log = base_log()
    started_january(log)
    log.exited("j1", "2026-03-20", "moved")
    known = len(log.events)
    log.corrected("j1", "exited_on", "2026-03-20", "2026-02-20")
    runs = runs_over([("2026-03", known), ("2026-04", len(log.events))], log)
    # February: 20/28 earned instead of 28/28; March: 20/31 earned, nothing
    assert amounts(runs["2026-04"]) == {
        (P1, "2026-02", "monthly"): D("5209.29") - D("7293.00"),
        (P1, "2026-03", "monthly"): -D("4705.16"),
    }
    assert runs["2026-04"][("j1", P1, "2026-02", "monthly", "")].days == -8


def test_an_exit_date_corrected_later_gives_positive_lines() -> None:
    log = base_log()
    started_january(log)
    log.exited("j1", "2026-02-20", "moved")
    known = len(log.events)
    log.corrected("j1", "exited_on", "2026-02-20", "2026-03-20")
    runs = runs_over([("2026-03", known), ("2026-04", len(log.events))], log)
    assert amounts(runs["2026-04"]) == {
        (P1, "2026-02", "monthly"): D("7293.00") - D("5209.29"),
        (P1, "2026-03", "monthly"): D("4705.16"),
    }
    assert runs["2026-04"][("j1", P1, "2026-02", "monthly", "")].days == 8


def test_an_exit_correction_that_removes_qualification_takes_the_bonus_back() -> None:
    log = base_log()
    started_january(log)
    log.exited("j1", "2026-03-31", "work", employment_form="permanent")
    log.follow_up("j1", "2026-10-02", due_on="2026-09-30")
    log.review("j1", "2026-10-05")
    known = len(log.events)
    old = exit_payload("2026-03-31", "work", employment_form="permanent")
    new = exit_payload("2026-03-31", "work", employment_form="fixed_term", contract_months=3)
    log.corrected("j1", "exit", old, new)
    runs = runs_over([("2026-10", known), ("2026-11", len(log.events))], log)
    assert amounts(runs["2026-10"])[(P1, "2026-10", "bonus")] == D("18000.00")
    assert amounts(runs["2026-11"]) == {(P1, "2026-10", "bonus"): D("-18000.00")}


def test_a_corrected_start_moves_the_first_assignment_and_the_14_days() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-20")
    known = len(log.events)
    log.corrected("j1", "starts_on", "2026-01-20", "2026-01-10")
    runs = runs_over([("2026-01", known), ("2026-02", len(log.events))], log)
    assert runs["2026-01"] == {}
    assert runs["2026-02"][("j1", P1, "2026-01", "monthly", "")] == Line(22, SAI, D("5175.68"))


def test_a_corrected_provider_change_date_moves_both_assignments() -> None:
    log = base_log(P1, P2)
    journey(log, "j1", "2026-01-01")
    log.changed("j1", P2, "2026-03-16", P1)
    known = len(log.events)
    log.corrected("j1", "provider_starts_on", "2026-03-16", "2026-03-11", provider_id=P2)
    runs = runs_over([("2026-03", known), ("2026-04", len(log.events))], log)
    march = {k: v for k, v in runs["2026-04"].items() if k[2] == "2026-03"}
    assert {k: v.days for k, v in march.items()} == {
        ("j1", P1, "2026-03", "monthly", ""): -5,
        ("j1", P2, "2026-03", "monthly", ""): 5,
    }
    # 10/31 instead of 15/31 for P1; 21/31 instead of 16/31 for P2
    assert amounts(march) == {
        (P1, "2026-03", "monthly"): D("2352.58") - D("3528.87"),
        (P2, "2026-03", "monthly"): D("4940.42") - D("3764.13"),
    }


def test_a_late_rate_table_for_a_paid_month_is_settled_in_the_next_run() -> None:
    log = base_log()
    started_january(log)
    known = len(log.events)
    log.rates("2026-01-01", sai="7400.00")
    runs = runs_over([("2026-01", known), ("2026-02", len(log.events))], log)
    assert amounts(runs["2026-02"]) == {
        (P1, "2026-01", "monthly"): D("107.00"),
        (P1, "2026-02", "monthly"): D("7400.00"),
    }


def test_months_never_closed_are_folded_into_the_next_run_with_their_own_periods() -> None:
    log = base_log()
    journey(log, "j1", "2026-01-20")
    runs = runs_over([("2026-03", len(log.events))], log)
    assert sorted(k[2] for k in runs["2026-03"]) == ["2026-01", "2026-02", "2026-03"]


def test_other_providers_lines_are_separate_keys() -> None:
    log = base_log(P1, P2, P3)
    journey(log, "a", "2026-01-01", P1)
    journey(log, "b", "2026-01-01", P3)
    earned = replay(log.events).entitlement("2026-01")
    assert {k[1] for k in earned} == {P1, P3}
