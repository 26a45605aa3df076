"""SPEC §3 rules on one journey, each test one rule: given these past events, when this command
(through the real LifecycleApp, in memory), then exactly these new events — whole payloads — or
this refusal, which records nothing. No database involved."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from contracts.journey import Evidence, Exit, Plan
from contracts.rates import default_rates
from services.lifecycle.domain.journey import ExitCorrection, ProviderStart
from tests.given import P1, P2, P3, EventLog, Refused, d, exit_payload, when

NO_INTERNSHIP = {"planned_internship_start": None, "planned_internship_share_percent": None}
EVIDENCE = [Evidence("anstallningsbevis", "doc-1", d("2026-10-01"))]
EVIDENCE_JSON = [{"type": "anstallningsbevis", "id": "doc-1", "date": "2026-10-01"}]


# --- given: the journeys these rules start from ------------------------------------------------


def providers_and_rates(p2_types: tuple[str, ...] = ("grund", "forstarkt", "sai")) -> EventLog:
    given = EventLog()
    given.rates_published("2016-01-01")
    given.provider_authorised(P1)
    given.provider_authorised(P2, insats_types=p2_types)
    given.provider_authorised(P3)
    return given


def a_decision(insats: str = "sai", given: EventLog | None = None) -> tuple[EventLog, str]:
    """Decided 2026-01-10 (today is 2026-11-23)."""
    given = given or providers_and_rates()
    return given, given.decision(insats=insats, decided_on="2026-01-10")


def a_started_journey(insats: str = "sai", starts_on: str = "2026-01-20") -> tuple[EventLog, str]:
    given, journey = a_decision(insats)
    given.provider_chosen(journey, P1, starts_on)
    return given, journey


def an_exited_journey(
    reason: str = "work", exited_on: str = "2026-04-10", **details: Any
) -> tuple[EventLog, str]:
    """Started 2026-01-20 with P1; exited to a permanent job unless told otherwise."""
    given, journey = a_started_journey()
    if reason == "work":
        details = {
            "employment_form": "permanent",
            "contract_months": None,
            **details,
        }
    if reason == "studies":
        details = {"csn_eligible": True, **details}
    given.exited(journey, exited_on, reason, **details)
    return given, journey


def exit_of(details: dict[str, Any]) -> Exit:
    """An exit as reported, from the API's field names (dates as text)."""
    return Exit(**{**details, "exited_on": d(details["exited_on"])})


# --- provider choice and change -----------------------------------------------------------------


def test_the_insats_starts_on_the_first_providers_starts_on() -> None:
    given, journey = a_decision()
    app = when(given)
    then = app.choose_provider(journey, provider_id=P1, starts_on=d("2026-01-20"))
    assert then == [("ProviderChosen", {"provider_id": P1, "starts_on": "2026-01-20"})]
    assert app.recorded[0].effective_date == "2026-01-20"
    assert app.journey(journey).starts_on == d("2026-01-20")


def test_a_provider_not_authorised_for_the_insats_type_is_refused() -> None:
    given, journey = a_decision("sai", providers_and_rates(p2_types=("grund",)))
    then = when(given).choose_provider(journey, provider_id=P2, starts_on=d("2026-01-20"))
    assert then == Refused("provider_not_authorised", "provider_id")


def test_a_provider_de_authorised_before_starts_on_is_refused() -> None:
    given, journey = a_decision()
    given.provider_deauthorised(P2, "2026-01-15")
    then = when(given).choose_provider(journey, provider_id=P2, starts_on=d("2026-01-20"))
    assert then == Refused("provider_not_authorised", "provider_id")


def test_the_customer_may_switch_and_the_previous_assignment_ends_the_day_before() -> None:
    given, journey = a_started_journey()
    app = when(given)
    then = app.choose_provider(journey, provider_id=P2, starts_on=d("2026-03-16"))
    assert then == [
        (
            "ProviderChanged",
            {"provider_id": P2, "starts_on": "2026-03-16", "previous_provider_id": P1},
        )
    ]
    first, second = app.journey(journey).facts.spans()
    assert first.ends_on == d("2026-03-15") and second.starts_on == d("2026-03-16")


def test_a_change_must_start_after_the_current_assignment() -> None:
    given, journey = a_started_journey()
    then = when(given).choose_provider(journey, provider_id=P2, starts_on=d("2026-01-20"))
    assert then == Refused("invalid_date", "starts_on")


def test_switching_to_the_same_provider_is_refused() -> None:
    given, journey = a_started_journey()
    then = when(given).choose_provider(journey, provider_id=P1, starts_on=d("2026-02-01"))
    assert then == Refused("already_assigned", "provider_id", "Conflict")


def test_a_start_before_the_decision_is_refused() -> None:
    given, journey = a_decision()
    then = when(given).choose_provider(journey, provider_id=P1, starts_on=d("2026-01-09"))
    assert then == Refused("invalid_date", "starts_on")


# --- genomförandeplan -------------------------------------------------------------------------


def test_a_plan_within_60_days_of_the_start_is_on_time() -> None:
    given, journey = a_started_journey("grund")
    then = when(given).register_plan(journey, Plan(d("2026-03-21"), None, None))
    assert then == [
        (
            "PlanRegistered",
            {"established_on": "2026-03-21", "due_on": "2026-03-21", "late": False} | NO_INTERNSHIP,
        )
    ]


def test_a_plan_later_than_60_days_is_accepted_and_marked_late() -> None:
    given, journey = a_started_journey("grund")
    then = when(given).register_plan(journey, Plan(d("2026-03-22"), None, None))
    assert then == [
        (
            "PlanRegistered",
            {"established_on": "2026-03-22", "due_on": "2026-03-21", "late": True} | NO_INTERNSHIP,
        )
    ]


def test_an_sai_plan_needs_the_planned_internship_start() -> None:
    given, journey = a_started_journey("sai")
    then = when(given).register_plan(journey, Plan(d("2026-02-01"), None, 60))
    assert then == Refused("internship_start_required", "planned_internship_start")


@pytest.mark.parametrize("share", [50, 100])
def test_an_sai_internship_covering_at_least_half_the_insats_is_planned(share: int) -> None:
    given, journey = a_started_journey("sai")
    then = when(given).register_plan(journey, Plan(d("2026-02-01"), d("2026-03-01"), share))
    assert then == [
        (
            "PlanRegistered",
            {
                "established_on": "2026-02-01",
                "due_on": "2026-03-21",
                "late": False,
                "planned_internship_start": "2026-03-01",
                "planned_internship_share_percent": share,
            },
        )
    ]


def test_an_sai_internship_covering_less_than_half_the_insats_is_refused() -> None:
    given, journey = a_started_journey("sai")
    then = when(given).register_plan(journey, Plan(d("2026-02-01"), d("2026-03-01"), 49))
    assert then == Refused("internship_share_too_low", "planned_internship_share_percent")


def test_a_second_plan_is_refused() -> None:
    given, journey = a_started_journey("grund")
    given.plan(journey, "2026-02-01", due_on="2026-03-21")
    then = when(given).register_plan(journey, Plan(d("2026-02-02"), None, None))
    assert then == Refused("plan_exists", None, "Conflict")


def test_a_plan_before_the_insats_started_is_refused() -> None:
    given, journey = a_decision("grund")
    then = when(given).register_plan(journey, Plan(d("2026-02-01"), None, None))
    assert then == Refused("journey_not_started", None, "Conflict")


# --- language internship ------------------------------------------------------------------------


def test_language_internships_are_sai_only() -> None:
    given, journey = a_started_journey("grund")
    then = when(given).start_internship(
        journey, employer="Café AB", started_on=d("2026-03-01"), share_percent=60
    )
    assert then == Refused("not_sai", None)


def test_an_internship_starts() -> None:
    given, journey = a_started_journey("sai")
    then = when(given).start_internship(
        journey, employer="Café AB", started_on=d("2026-03-01"), share_percent=60
    )
    assert then == [
        (
            "LanguageInternshipStarted",
            {"employer": "Café AB", "started_on": "2026-03-01", "share_percent": 60},
        )
    ]


def test_a_running_internship_ends() -> None:
    given, journey = a_started_journey("sai")
    given.internship_started(journey, "2026-03-01", employer="Café AB")
    then = when(given).end_internship(journey, ended_on=d("2026-06-30"))
    assert then == [("LanguageInternshipEnded", {"ended_on": "2026-06-30"})]


def test_ending_an_internship_that_is_not_running_is_refused() -> None:
    given, journey = a_started_journey("sai")
    then = when(given).end_internship(journey, ended_on=d("2026-03-01"))
    assert then == Refused("no_internship_running", None, "Conflict")


# --- vouchers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "recorded"), [("5000", "5000.00"), ("15000.00", "15000.00"), ("7500.5", "7500.50")]
)
def test_a_voucher_of_5000_to_15000_from_the_rate_table_is_granted(
    amount: str, recorded: str
) -> None:
    given, journey = a_started_journey()
    then = when(given).grant_voucher(
        journey, amount=amount, purpose="Körkort B", granted_on=d("2026-02-01")
    )
    assert then == [
        (
            "VoucherGranted",
            {
                "voucher_id": ANY,
                "amount": recorded,
                "purpose": "Körkort B",
                "granted_on": "2026-02-01",
            },
        )
    ]


@pytest.mark.parametrize("amount", ["4999.99", "15000.01"])
def test_a_voucher_outside_the_rate_tables_range_is_refused(amount: str) -> None:
    given, journey = a_started_journey()
    then = when(given).grant_voucher(
        journey, amount=amount, purpose="Körkort B", granted_on=d("2026-02-01")
    )
    assert then == Refused("amount_out_of_range", "amount")


def test_a_voucher_needs_an_active_journey() -> None:
    given, journey = an_exited_journey()
    then = when(given).grant_voucher(
        journey, amount="5000", purpose="Arbetskläder", granted_on=d("2026-05-01")
    )
    assert then == Refused("journey_exited", None, "Conflict")


# --- exit ---------------------------------------------------------------------------------------


def test_an_exit_to_work_records_its_employment_form_and_subsidy() -> None:
    given, journey = a_started_journey()
    app = when(given)
    then = app.exit_journey(
        journey,
        Exit(
            d("2026-04-10"),
            "work",
            employment_form="fixed_term",
            contract_months=12,
            subsidy="extratjanst",
        ),
    )
    assert then == [("JourneyExited", exit_payload("2026-04-10", "work", subsidy="extratjanst"))]
    assert not app.journey(journey).is_open


def test_an_exit_to_studies_records_the_csn_eligibility() -> None:
    given, journey = a_started_journey()
    then = when(given).exit_journey(journey, Exit(d("2026-04-10"), "studies", csn_eligible=True))
    assert then == [("JourneyExited", exit_payload("2026-04-10", "studies", csn_eligible=True))]


@pytest.mark.parametrize(
    ("details", "refused"),
    [
        ({"exited_on": "2026-01-19", "reason": "moved"}, Refused("invalid_date", "exited_on")),
        ({"exited_on": "2026-11-24", "reason": "moved"}, Refused("date_in_future", "exited_on")),
        (
            {"exited_on": "2026-04-10", "reason": "work"},
            Refused("employment_form_required", "employment_form"),
        ),
        (
            {"exited_on": "2026-04-10", "reason": "work", "employment_form": "fixed_term"},
            Refused("contract_months_required", "contract_months"),
        ),
        (
            {"exited_on": "2026-04-10", "reason": "studies"},
            Refused("csn_eligible_required", "csn_eligible"),
        ),
        (
            {"exited_on": "2026-04-10", "reason": "moved", "csn_eligible": True},
            Refused("unexpected_field", "csn_eligible"),
        ),
        (
            {"exited_on": "2026-04-10", "reason": "other_insats"},
            Refused("transfer_required", "reason"),
        ),
        ({"exited_on": "2026-04-10", "reason": "vacation"}, Refused("invalid_reason", "reason")),
    ],
)
def test_an_exit_that_breaks_a_rule_is_refused(details: dict[str, Any], refused: Refused) -> None:
    given, journey = a_started_journey()
    assert when(given).exit_journey(journey, exit_of(details)) == refused


def test_an_exited_journey_cannot_exit_again() -> None:
    given, journey = an_exited_journey()
    then = when(given).exit_journey(journey, Exit(d("2026-04-11"), "moved"))
    assert then == Refused("journey_exited", None, "Conflict")


# --- follow-up and bonus claim ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exited_on", "due_on"), [("2026-04-10", "2026-10-10"), ("2026-08-31", "2027-02-28")]
)
def test_follow_up_is_due_six_calendar_months_after_exit(exited_on: str, due_on: str) -> None:
    given, journey = an_exited_journey(exited_on=exited_on)
    assert when(given).journey(journey).facts.follow_up_due_on == d(due_on)


def follow_up(on: str, bonus_claim: bool, outcome: str = "sustained", evidence: Any = None) -> Any:
    return (
        "FollowUpRecorded",
        {
            "followed_up_on": on,
            "outcome": outcome,
            "evidence": EVIDENCE_JSON if evidence is None else evidence,
            "due_on": "2026-10-10",
            "bonus_claim": bonus_claim,
        },
    )


def test_a_sustained_follow_up_with_evidence_on_the_due_date_is_a_bonus_claim() -> None:
    given, journey = an_exited_journey()
    app = when(given)
    then = app.record_follow_up(
        journey, followed_up_on=d("2026-10-10"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == [follow_up("2026-10-10", bonus_claim=True)]
    assert app.journey(journey).facts.bonus_status == "claimed"


def test_a_sustained_follow_up_the_day_before_the_due_date_is_not_a_claim() -> None:
    given, journey = an_exited_journey()
    then = when(given).record_follow_up(
        journey, followed_up_on=d("2026-10-09"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == [follow_up("2026-10-09", bonus_claim=False)]


def test_a_deviation_may_be_reported_at_any_time_before() -> None:
    given, journey = an_exited_journey()
    then = when(given).record_follow_up(
        journey, followed_up_on=d("2026-05-01"), outcome="deviation", evidence=[]
    )
    assert then == [follow_up("2026-05-01", bonus_claim=False, outcome="deviation", evidence=[])]


def test_a_sustained_claim_needs_evidence() -> None:
    given, journey = an_exited_journey()
    then = when(given).record_follow_up(
        journey, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=[]
    )
    assert then == Refused("evidence_required", "evidence")


def test_follow_ups_are_for_self_sufficient_exits_only() -> None:
    given, journey = an_exited_journey("moved")
    then = when(given).record_follow_up(
        journey, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == Refused("not_self_sufficient_exit", None, "Conflict")


def test_a_short_fixed_term_contract_does_not_qualify_for_the_bonus() -> None:
    given, journey = an_exited_journey("work", employment_form="fixed_term", contract_months=5)
    app = when(given)
    then = app.record_follow_up(
        journey, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == [follow_up("2026-10-12", bonus_claim=False)]
    assert app.journey(journey).facts.bonus_status == "not_qualified"


def a_pending_claim() -> tuple[EventLog, str]:
    given, journey = an_exited_journey()
    given.follow_up(journey, "2026-10-12", due_on="2026-10-10", evidence=EVIDENCE_JSON)
    return given, journey


def test_a_pending_claim_is_returned_with_a_reason() -> None:
    given, journey = a_pending_claim()
    app = when(given)
    then = app.review_bonus_claim(
        journey, reviewed_on=d("2026-10-14"), decision="returned", reason="intyg saknar datum"
    )
    assert then == [
        (
            "BonusClaimReviewed",
            {"reviewed_on": "2026-10-14", "decision": "returned", "reason": "intyg saknar datum"},
        )
    ]
    assert app.journey(journey).facts.bonus_status == "returned"


def test_a_returned_claim_can_be_resubmitted_and_approved() -> None:
    given, journey = a_pending_claim()
    given.bonus_reviewed(journey, "2026-10-14", "returned", "intyg saknar datum")
    app = when(given)
    then = app.record_follow_up(
        journey, followed_up_on=d("2026-10-20"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == [follow_up("2026-10-20", bonus_claim=True)]
    then = app.review_bonus_claim(journey, reviewed_on=d("2026-10-21"), decision="approved")
    assert then == [
        (
            "BonusClaimReviewed",
            {"reviewed_on": "2026-10-21", "decision": "approved", "reason": None},
        )
    ]
    assert app.journey(journey).facts.bonus_status == "approved"


def an_approved_claim() -> tuple[EventLog, str]:
    given, journey = a_pending_claim()
    given.bonus_reviewed(journey, "2026-10-14", "returned", "intyg saknar datum")
    given.follow_up(journey, "2026-10-20", due_on="2026-10-10", evidence=EVIDENCE_JSON)
    given.bonus_reviewed(journey, "2026-10-21", "approved")
    return given, journey


def test_an_approved_claim_is_not_reviewed_again() -> None:
    given, journey = an_approved_claim()
    then = when(given).review_bonus_claim(journey, reviewed_on=d("2026-10-22"), decision="approved")
    assert then == Refused("no_claim_pending", None, "Conflict")


def test_after_an_approved_claim_no_further_claim_is_recorded() -> None:
    given, journey = an_approved_claim()
    then = when(given).record_follow_up(
        journey, followed_up_on=d("2026-10-23"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == Refused("bonus_approved", None, "Conflict")


def test_a_second_claim_while_one_is_pending_is_refused() -> None:
    given, journey = a_pending_claim()
    then = when(given).record_follow_up(
        journey, followed_up_on=d("2026-10-13"), outcome="sustained", evidence=EVIDENCE
    )
    assert then == Refused("claim_pending", None, "Conflict")


def test_returning_a_claim_needs_a_reason() -> None:
    given, journey = a_pending_claim()
    then = when(given).review_bonus_claim(
        journey, reviewed_on=d("2026-10-14"), decision="returned", reason=None
    )
    assert then == Refused("reason_required", "reason")


# --- a provider's facts (API.md "Roles") ------------------------------------------------------


def test_the_provider_holding_the_journey_records_its_plan() -> None:
    given, journey = a_started_journey("grund")
    then = when(given).as_provider(P1).register_plan(journey, Plan(d("2026-02-01"), None, None))
    assert then == [
        (
            "PlanRegistered",
            {"established_on": "2026-02-01", "due_on": "2026-03-21", "late": False} | NO_INTERNSHIP,
        )
    ]


def test_a_provider_that_no_longer_holds_the_journey_may_not_record_its_facts() -> None:
    given, journey = a_started_journey("grund")
    given.provider_changed(journey, P2, "2026-03-01")
    then = when(given).as_provider(P1).register_plan(journey, Plan(d("2026-03-02"), None, None))
    assert then == Refused("not_your_customer", None, "Forbidden")


def test_a_journey_a_provider_never_held_is_unknown_to_it() -> None:
    given, journey = a_started_journey("grund")
    then = when(given).as_provider(P3).register_plan(journey, Plan(d("2026-02-01"), None, None))
    assert then == Refused("journey_not_found", "journey_id", "NotFound")


# --- withdrawal ---------------------------------------------------------------------------------


def test_a_decision_can_be_withdrawn_before_the_insats_started() -> None:
    given, journey = a_decision()
    app = when(given)
    then = app.withdraw_decision(journey, withdrawn_on=d("2026-01-15"), reason="tackade nej")
    assert then == [("DecisionWithdrawn", {"withdrawn_on": "2026-01-15", "reason": "tackade nej"})]
    assert not app.journey(journey).is_open


def test_a_started_insats_cannot_be_withdrawn() -> None:
    given, journey = a_started_journey()
    then = when(given).withdraw_decision(journey, withdrawn_on=d("2026-01-25"), reason="fel")
    assert then == Refused("journey_started", "withdrawn_on", "Conflict")


def test_nothing_can_be_recorded_on_a_withdrawn_journey() -> None:
    given, journey = a_decision()
    given.withdrawn(journey, "2026-01-15", "tackade nej")
    then = when(given).choose_provider(journey, provider_id=P1, starts_on=d("2026-01-20"))
    assert then == Refused("journey_withdrawn", None, "Conflict")


# --- corrections (SPEC §4.4) --------------------------------------------------------------------


def corrected(what: str, old: Any, new: Any, reason: str, provider_id: str | None = None) -> Any:
    return (
        "Corrected",
        {"what": what, "old": old, "new": new, "reason": reason, "provider_id": provider_id},
    )


def test_an_exit_date_moved_earlier_is_a_new_fact_effective_on_the_earlier_date() -> None:
    given, journey = an_exited_journey()
    app = when(given)
    then = app.correct_journey(
        journey, field="exited_on", value=d("2026-03-31"), reason="felregistrerat"
    )
    assert then == [corrected("exited_on", "2026-04-10", "2026-03-31", "felregistrerat")]
    assert app.recorded[0].effective_date == "2026-03-31"
    assert app.journey(journey).facts.exited_on == d("2026-03-31")


def test_the_start_date_can_be_corrected() -> None:
    given, journey = a_started_journey()
    app = when(given)
    then = app.correct_journey(
        journey, field="starts_on", value=d("2026-01-22"), reason="fel datum"
    )
    assert then == [corrected("starts_on", "2026-01-20", "2026-01-22", "fel datum")]
    assert app.recorded[0].effective_date == "2026-01-20"
    assert app.journey(journey).starts_on == d("2026-01-22")


def test_a_provider_change_date_can_be_corrected() -> None:
    given, journey = a_started_journey()
    given.provider_changed(journey, P2, "2026-03-16")
    given.provider_changed(journey, P3, "2026-05-01")
    app = when(given)
    then = app.correct_journey(
        journey,
        field="provider_starts_on",
        value=ProviderStart(d("2026-03-10"), P2),
        reason="bytet skedde tidigare",
    )
    assert then == [
        corrected("provider_starts_on", "2026-03-16", "2026-03-10", "bytet skedde tidigare", P2)
    ]
    first, second, _ = app.journey(journey).facts.spans()
    assert first.ends_on == d("2026-03-09") and second.starts_on == d("2026-03-10")


def test_the_latest_provider_change_is_corrected_when_no_provider_is_named() -> None:
    given, journey = a_started_journey()
    given.provider_changed(journey, P2, "2026-03-16")
    then = when(given).correct_journey(
        journey, field="provider_starts_on", value=d("2026-03-20"), reason="senare"
    )
    assert then == [corrected("provider_starts_on", "2026-03-16", "2026-03-20", "senare", P2)]


def test_the_exit_reason_can_be_corrected() -> None:
    given, journey = an_exited_journey("moved")
    app = when(given)
    then = app.correct_journey(
        journey,
        field="exit",
        value=ExitCorrection("work", employment_form="permanent"),
        reason="fick anställning",
    )
    assert then == [
        corrected(
            "exit",
            exit_payload("2026-04-10", "moved"),
            exit_payload(
                "2026-04-10",
                "work",
                employment_form="permanent",
                contract_months=None,
            ),
            "fick anställning",
        )
    ]
    exit = app.journey(journey).facts.exit
    assert exit is not None and exit.reason == "work"


def test_a_correction_to_the_same_value_is_refused() -> None:
    given, journey = an_exited_journey()
    then = when(given).correct_journey(
        journey, field="exited_on", value=d("2026-04-10"), reason="x"
    )
    assert then == Refused("nothing_to_correct", "value")


def test_a_correction_that_breaks_the_order_of_facts_is_refused() -> None:
    given, journey = an_exited_journey()
    then = when(given).correct_journey(
        journey, field="starts_on", value=d("2026-05-01"), reason="x"
    )
    assert then == Refused("invalid_date", "value")


def test_a_correction_needs_a_reason() -> None:
    given, journey = an_exited_journey()
    then = when(given).correct_journey(
        journey, field="exited_on", value=d("2026-03-31"), reason="  "
    )
    assert then == Refused("reason_required", "reason")


# --- providers and rates ------------------------------------------------------------------------


def test_an_invalid_organisation_number_is_refused() -> None:
    then = when(EventLog()).authorise_provider(
        provider_id="5560360794",
        name="Anordnare",
        insats_types=["grund"],
        authorised_from=d("2020-01-01"),
        bankgiro="5050-1055",
        iban=None,
    )
    assert then == Refused("invalid_organisation_number", "provider_id")


def test_the_rate_in_force_is_the_latest_effective_on_or_before_the_day() -> None:
    given = EventLog()
    given.rates_published("2016-01-01", sai="7293.00")
    given.rates_published("2026-03-01", sai="7500.00")
    app = when(given).app
    assert app.rate_table_on(d("2026-02-28")).monthly["sai"] == 7293  # type: ignore[union-attr]
    assert app.rate_table_on(d("2026-03-01")).monthly["sai"] == 7500  # type: ignore[union-attr]
    assert app.rate_table_on(d("2015-12-31")) is None


def test_a_rate_table_is_published_whole() -> None:
    then = when(EventLog()).set_rates(
        effective_from=d("2026-01-01"),
        monthly={"sai": "7500"},
        bonus={"sai": "18000"},
        voucher_min="5000",
        voucher_max="15000",
        min_days_before_payment=14,
    )
    assert then == [
        (
            "RatesSet",
            {
                "effective_from": "2026-01-01",
                "monthly": {"grund": None, "forstarkt": None, "sai": "7500.00"},
                "bonus": {"grund": None, "forstarkt": None, "sai": "18000.00"},
                "voucher_min": "5000.00",
                "voucher_max": "15000.00",
                "min_days_before_payment": 14,
            },
        )
    ]


def test_a_voucher_range_upside_down_is_refused() -> None:
    then = when(EventLog()).set_rates(
        effective_from=d("2026-01-01"),
        monthly={},
        bonus={},
        voucher_min="15000",
        voucher_max="5000",
        min_days_before_payment=14,
    )
    assert then == Refused("invalid_voucher_range", "voucher_min")


def test_the_shipped_rate_table_is_recorded_on_first_start_only() -> None:
    app = when(EventLog())
    assert app.app.ensure_default_rates() is True
    (event,) = app.app.public_events(0, 10)
    assert (event.type, event.payload) == ("RatesSet", default_rates())
    assert app.app.ensure_default_rates() is False
    assert app.app.max_position() == event.position
