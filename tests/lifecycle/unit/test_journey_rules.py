"""SPEC §3 rules on one journey: given these facts, when this command, then these events or this
refusal — and a refusal records nothing. No database involved."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from contracts.journey import Evidence, Exit, Plan
from services.lifecycle.domain.base import CommandContext
from services.lifecycle.domain.journey import (
    ExitCorrection,
    ExternalRef,
    Journey,
    ProviderStart,
    journey_id_for,
)
from services.lifecycle.domain.personnummer import parse_person_id
from services.lifecycle.domain.provider import Provider
from services.lifecycle.domain.rates import Rates, RateTable
from services.platform.refusal import Conflict, Refusal
from tests.conftest import P1, P2, P3, d

CTX = CommandContext("counsellor:anna", "ecos", "corr-1", date(2026, 11, 23))


def provider(pid: str, types: tuple[str, ...] = ("grund", "forstarkt", "sai")) -> Provider:
    p = Provider.authorise(
        CTX,
        provider_id=pid,
        name=f"Anordnare {pid}",
        insats_types=list(types),
        authorised_from=d("2020-01-01"),
        bankgiro="5050-1055",
        iban=None,
    )
    p.collect_events()
    return p


def rate_table() -> RateTable:
    rates = Rates.open()
    rates.set_rates(
        CTX,
        effective_from=d("2016-01-01"),
        monthly={"grund": "3686", "forstarkt": "4823", "sai": "7293"},
        bonus={"grund": "18000", "forstarkt": "18000", "sai": "18000"},
        voucher_min="5000",
        voucher_max="15000",
        min_days_before_payment=14,
    )
    table = rates.in_force(d("2026-01-01"))
    assert table is not None
    return table


def given_decision(insats: str = "sai") -> Journey:
    j = Journey.register(
        CTX,
        journey_id=journey_id_for("ecos", f"d-{insats}"),
        external_ref=ExternalRef("ecos", f"d-{insats}"),
        person=parse_person_id("199001010017", date(2026, 11, 23)),
        person_ref="ref",
        insats=insats,
        decided_on=d("2026-01-10"),
        decided_by="kv-anna",
        target_group="other",
        transfer_from=None,
    )
    j.collect_events()
    return j


def given_started(insats: str = "sai", starts_on: str = "2026-01-20") -> Journey:
    j = given_decision(insats)
    j.choose_provider(CTX, provider=provider(P1), starts_on=d(starts_on))
    j.collect_events()
    return j


def given_exited(reason: str = "work", **details: Any) -> Journey:
    j = given_started()
    if reason == "work":
        details = {"employment_form": "permanent", **details}
    if reason == "studies":
        details = {"csn_eligible": True, **details}
    j.exit(CTX, exit_of({"exited_on": "2026-04-10", "reason": reason, **details}))
    j.collect_events()
    return j


def exit_of(details: dict[str, Any]) -> Exit:
    """An exit as reported, from the API's field names (dates as text)."""
    return Exit(**{**details, "exited_on": d(details["exited_on"])})


def then_events(j: Journey) -> list[str]:
    return [type(e).__name__ for e in j.collect_events()]


def then_refused(j: Journey, code: str, call: Any, exc: type[Refusal] = Refusal) -> None:
    version = j.version
    with pytest.raises(exc) as info:
        call()
    assert info.value.code == code
    assert j.version == version and j.pending_events == [], "a refusal must record nothing"


# --- provider choice and change -----------------------------------------------------------------


def test_the_insats_starts_on_the_first_providers_starts_on() -> None:
    j = given_decision()
    j.choose_provider(CTX, provider=provider(P1), starts_on=d("2026-01-20"))
    assert then_events(j) == ["ProviderChosen"]
    assert j.starts_on == d("2026-01-20")


def test_a_provider_not_authorised_for_the_insats_type_is_refused() -> None:
    j = given_decision("sai")
    grund_only = provider(P2, ("grund",))
    then_refused(
        j,
        "provider_not_authorised",
        lambda: j.choose_provider(CTX, provider=grund_only, starts_on=d("2026-01-20")),
    )


def test_a_provider_de_authorised_before_starts_on_is_refused() -> None:
    j = given_decision()
    p = provider(P2)
    p.deauthorise(CTX, effective_on=d("2026-01-15"), reason="avtal upphört")
    then_refused(
        j,
        "provider_not_authorised",
        lambda: j.choose_provider(CTX, provider=p, starts_on=d("2026-01-20")),
    )


def test_the_customer_may_switch_and_the_previous_assignment_ends_the_day_before() -> None:
    j = given_started()
    j.choose_provider(CTX, provider=provider(P2), starts_on=d("2026-03-16"))
    assert then_events(j) == ["ProviderChanged"]
    first, second = j.facts.spans()
    assert first.ends_on == d("2026-03-15") and second.starts_on == d("2026-03-16")


def test_a_change_must_start_after_the_current_assignment() -> None:
    j = given_started()
    then_refused(
        j,
        "invalid_date",
        lambda: j.choose_provider(CTX, provider=provider(P2), starts_on=d("2026-01-20")),
    )


def test_switching_to_the_same_provider_is_refused() -> None:
    j = given_started()
    then_refused(
        j,
        "already_assigned",
        lambda: j.choose_provider(CTX, provider=provider(P1), starts_on=d("2026-02-01")),
        Conflict,
    )


def test_a_start_before_the_decision_is_refused() -> None:
    j = given_decision()
    then_refused(
        j,
        "invalid_date",
        lambda: j.choose_provider(CTX, provider=provider(P1), starts_on=d("2026-01-09")),
    )


# --- genomförandeplan -------------------------------------------------------------------------


def test_a_plan_within_60_days_is_on_time() -> None:
    j = given_started("grund")
    j.register_plan(CTX, Plan(d("2026-03-21"), None, None))
    (event,) = j.collect_events()
    assert isinstance(event, Journey.PlanRegistered)
    assert event.due_on == d("2026-03-21") and event.late is False


def test_a_late_plan_is_accepted_and_marked_late() -> None:
    j = given_started("grund")
    j.register_plan(CTX, Plan(d("2026-03-22"), None, None))
    (event,) = j.collect_events()
    assert isinstance(event, Journey.PlanRegistered) and event.late is True


def test_an_sai_plan_needs_the_planned_internship_start() -> None:
    j = given_started("sai")
    then_refused(
        j,
        "internship_start_required",
        lambda: j.register_plan(CTX, Plan(d("2026-02-01"), None, 60)),
    )


@pytest.mark.parametrize(("share", "accepted"), [(49, False), (50, True), (100, True)])
def test_an_sai_internship_must_cover_at_least_half_the_insats(share: int, accepted: bool) -> None:
    j = given_started("sai")

    def call() -> None:
        j.register_plan(CTX, Plan(d("2026-02-01"), d("2026-03-01"), share))

    if accepted:
        call()
        assert then_events(j) == ["PlanRegistered"]
    else:
        then_refused(j, "internship_share_too_low", call)


def test_a_second_plan_is_refused() -> None:
    j = given_started("grund")
    j.register_plan(CTX, Plan(d("2026-02-01"), None, None))
    j.collect_events()
    then_refused(
        j,
        "plan_exists",
        lambda: j.register_plan(CTX, Plan(d("2026-02-02"), None, None)),
        Conflict,
    )


def test_a_plan_before_the_insats_started_is_refused() -> None:
    j = given_decision("grund")
    then_refused(
        j,
        "journey_not_started",
        lambda: j.register_plan(CTX, Plan(d("2026-02-01"), None, None)),
        Conflict,
    )


# --- language internship ------------------------------------------------------------------------


def test_language_internships_are_sai_only() -> None:
    j = given_started("grund")
    then_refused(
        j,
        "not_sai",
        lambda: j.start_internship(
            CTX, employer="Café AB", started_on=d("2026-03-01"), share_percent=60
        ),
    )


def test_an_internship_starts_and_ends() -> None:
    j = given_started("sai")
    j.start_internship(CTX, employer="Café AB", started_on=d("2026-03-01"), share_percent=60)
    j.end_internship(CTX, ended_on=d("2026-06-30"))
    assert then_events(j) == ["LanguageInternshipStarted", "LanguageInternshipEnded"]


def test_ending_an_internship_that_is_not_running_is_refused() -> None:
    j = given_started("sai")
    then_refused(
        j,
        "no_internship_running",
        lambda: j.end_internship(CTX, ended_on=d("2026-03-01")),
        Conflict,
    )


# --- vouchers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "accepted"),
    [("4999.99", False), ("5000", True), ("15000.00", True), ("15000.01", False)],
)
def test_a_voucher_is_5000_to_15000_from_the_rate_table(amount: str, accepted: bool) -> None:
    j = given_started()

    def call() -> None:
        j.grant_voucher(
            CTX, amount=amount, purpose="Körkort B", granted_on=d("2026-02-01"), rates=rate_table()
        )

    if accepted:
        call()
        (event,) = j.collect_events()
        assert isinstance(event, Journey.VoucherGranted)
        assert event.amount == Decimal(amount).quantize(Decimal("0.01"))
    else:
        then_refused(j, "amount_out_of_range", call)


def test_a_voucher_needs_an_active_journey() -> None:
    j = given_exited()
    then_refused(
        j,
        "journey_exited",
        lambda: j.grant_voucher(
            CTX,
            amount="5000",
            purpose="Arbetskläder",
            granted_on=d("2026-05-01"),
            rates=rate_table(),
        ),
        Conflict,
    )


# --- exit ---------------------------------------------------------------------------------------


def test_an_exit_to_work_records_its_employment_form_and_subsidy() -> None:
    j = given_started()
    j.exit(
        CTX,
        Exit(
            d("2026-04-10"),
            "work",
            employment_form="fixed_term",
            contract_months=12,
            subsidy="extratjanst",
        ),
    )
    (event,) = j.collect_events()
    assert isinstance(event, Journey.JourneyExited)
    assert (event.employment_form, event.contract_months, event.subsidy) == (
        "fixed_term",
        12,
        "extratjanst",
    )
    assert not j.is_open


@pytest.mark.parametrize(
    ("details", "code"),
    [
        ({"exited_on": "2026-01-19", "reason": "moved"}, "invalid_date"),
        ({"exited_on": "2026-11-24", "reason": "moved"}, "date_in_future"),
        ({"exited_on": "2026-04-10", "reason": "work"}, "employment_form_required"),
        (
            {"exited_on": "2026-04-10", "reason": "work", "employment_form": "fixed_term"},
            "contract_months_required",
        ),
        ({"exited_on": "2026-04-10", "reason": "studies"}, "csn_eligible_required"),
        ({"exited_on": "2026-04-10", "reason": "moved", "csn_eligible": True}, "unexpected_field"),
        ({"exited_on": "2026-04-10", "reason": "other_insats"}, "transfer_required"),
        ({"exited_on": "2026-04-10", "reason": "vacation"}, "invalid_reason"),
    ],
)
def test_an_exit_that_breaks_a_rule_is_refused(details: dict[str, Any], code: str) -> None:
    j = given_started()
    then_refused(j, code, lambda: j.exit(CTX, exit_of(details)))


def test_an_exited_journey_cannot_exit_again() -> None:
    j = given_exited()
    then_refused(
        j,
        "journey_exited",
        lambda: j.exit(CTX, Exit(d("2026-04-11"), "moved")),
        Conflict,
    )


# --- follow-up and bonus claim ------------------------------------------------------------------


EVIDENCE = [Evidence("anstallningsbevis", "doc-1", d("2026-10-01"))]


def test_follow_up_is_due_six_calendar_months_after_exit() -> None:
    assert given_exited(exited_on="2026-04-10").facts.follow_up_due_on == d("2026-10-10")
    assert given_exited(exited_on="2026-08-31").facts.follow_up_due_on == d("2027-02-28")


def test_a_sustained_follow_up_with_evidence_on_the_due_date_is_a_bonus_claim() -> None:
    j = given_exited()
    j.record_follow_up(CTX, followed_up_on=d("2026-10-10"), outcome="sustained", evidence=EVIDENCE)
    (event,) = j.collect_events()
    assert isinstance(event, Journey.FollowUpRecorded) and event.bonus_claim is True
    assert j.facts.bonus_status == "claimed"


def test_a_sustained_follow_up_the_day_before_the_due_date_is_not_a_claim() -> None:
    j = given_exited()
    j.record_follow_up(CTX, followed_up_on=d("2026-10-09"), outcome="sustained", evidence=EVIDENCE)
    (event,) = j.collect_events()
    assert isinstance(event, Journey.FollowUpRecorded) and event.bonus_claim is False


def test_a_deviation_may_be_reported_at_any_time_before() -> None:
    j = given_exited()
    j.record_follow_up(CTX, followed_up_on=d("2026-05-01"), outcome="deviation", evidence=[])
    assert then_events(j) == ["FollowUpRecorded"]


def test_a_sustained_claim_needs_evidence() -> None:
    j = given_exited()
    then_refused(
        j,
        "evidence_required",
        lambda: j.record_follow_up(
            CTX, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=[]
        ),
    )


def test_follow_ups_are_for_self_sufficient_exits_only() -> None:
    j = given_exited("moved")
    then_refused(
        j,
        "not_self_sufficient_exit",
        lambda: j.record_follow_up(
            CTX, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE
        ),
        Conflict,
    )


def test_a_short_fixed_term_contract_does_not_qualify_for_the_bonus() -> None:
    j = given_exited("work", employment_form="fixed_term", contract_months=5)
    j.record_follow_up(CTX, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE)
    (event,) = j.collect_events()
    assert isinstance(event, Journey.FollowUpRecorded) and event.bonus_claim is False
    assert j.facts.bonus_status == "not_qualified"


def test_a_returned_claim_can_be_resubmitted_and_approved_once() -> None:
    j = given_exited()
    j.record_follow_up(CTX, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE)
    j.review_bonus_claim(
        CTX, reviewed_on=d("2026-10-14"), decision="returned", reason="intyg saknar datum"
    )
    assert j.facts.bonus_status == "returned"
    j.record_follow_up(CTX, followed_up_on=d("2026-10-20"), outcome="sustained", evidence=EVIDENCE)
    j.review_bonus_claim(CTX, reviewed_on=d("2026-10-21"), decision="approved", reason=None)
    assert then_events(j) == [
        "FollowUpRecorded",
        "BonusClaimReviewed",
        "FollowUpRecorded",
        "BonusClaimReviewed",
    ]
    assert j.facts.bonus_status == "approved"
    then_refused(
        j,
        "no_claim_pending",
        lambda: j.review_bonus_claim(
            CTX, reviewed_on=d("2026-10-22"), decision="approved", reason=None
        ),
        Conflict,
    )
    then_refused(
        j,
        "bonus_approved",
        lambda: j.record_follow_up(
            CTX, followed_up_on=d("2026-10-23"), outcome="sustained", evidence=EVIDENCE
        ),
        Conflict,
    )


def test_a_second_claim_while_one_is_pending_is_refused() -> None:
    j = given_exited()
    j.record_follow_up(CTX, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE)
    j.collect_events()
    then_refused(
        j,
        "claim_pending",
        lambda: j.record_follow_up(
            CTX, followed_up_on=d("2026-10-13"), outcome="sustained", evidence=EVIDENCE
        ),
        Conflict,
    )


def test_returning_a_claim_needs_a_reason() -> None:
    j = given_exited()
    j.record_follow_up(CTX, followed_up_on=d("2026-10-12"), outcome="sustained", evidence=EVIDENCE)
    j.collect_events()
    then_refused(
        j,
        "reason_required",
        lambda: j.review_bonus_claim(
            CTX, reviewed_on=d("2026-10-14"), decision="returned", reason=None
        ),
    )


# --- withdrawal ---------------------------------------------------------------------------------


def test_a_decision_can_be_withdrawn_before_the_insats_started() -> None:
    j = given_decision()
    j.withdraw(CTX, withdrawn_on=d("2026-01-15"), reason="tackade nej")
    assert then_events(j) == ["DecisionWithdrawn"]
    assert not j.is_open


def test_a_started_insats_cannot_be_withdrawn() -> None:
    j = given_started()
    then_refused(
        j,
        "journey_started",
        lambda: j.withdraw(CTX, withdrawn_on=d("2026-01-25"), reason="fel"),
        Conflict,
    )


def test_nothing_can_be_recorded_on_a_withdrawn_journey() -> None:
    j = given_decision()
    j.withdraw(CTX, withdrawn_on=d("2026-01-15"), reason="tackade nej")
    j.collect_events()
    then_refused(
        j,
        "journey_withdrawn",
        lambda: j.choose_provider(CTX, provider=provider(P1), starts_on=d("2026-01-20")),
        Conflict,
    )


# --- corrections --------------------------------------------------------------------------------


def test_an_exit_date_moved_earlier_is_a_new_fact_not_a_rewrite() -> None:
    j = given_exited()
    j.correct(CTX, what="exited_on", value=d("2026-03-31"), reason="felregistrerat")
    (event,) = j.collect_events()
    assert isinstance(event, Journey.Corrected)
    assert (event.old, event.new) == ("2026-04-10", "2026-03-31")
    assert j.facts.exited_on == d("2026-03-31")
    assert event.effective_date == d("2026-03-31")


def test_the_start_date_can_be_corrected() -> None:
    j = given_started()
    j.correct(CTX, what="starts_on", value=d("2026-01-22"), reason="fel datum")
    assert j.starts_on == d("2026-01-22")


def test_a_provider_change_date_can_be_corrected() -> None:
    j = given_started()
    j.choose_provider(CTX, provider=provider(P2), starts_on=d("2026-03-16"))
    j.choose_provider(CTX, provider=provider(P3), starts_on=d("2026-05-01"))
    j.collect_events()
    j.correct(
        CTX,
        what="provider_starts_on",
        value=ProviderStart(d("2026-03-10"), P2),
        reason="bytet skedde tidigare",
    )
    first, second, _ = j.facts.spans()
    assert first.ends_on == d("2026-03-09") and second.starts_on == d("2026-03-10")


def test_the_exit_reason_can_be_corrected() -> None:
    j = given_exited("moved")
    j.correct(
        CTX,
        what="exit",
        value=ExitCorrection("work", employment_form="permanent"),
        reason="fick anställning",
    )
    assert j.facts.exit is not None and j.facts.exit.reason == "work"


def test_a_correction_to_the_same_value_is_refused() -> None:
    j = given_exited()
    then_refused(
        j,
        "nothing_to_correct",
        lambda: j.correct(CTX, what="exited_on", value=d("2026-04-10"), reason="x"),
    )


def test_a_correction_that_breaks_the_order_of_facts_is_refused() -> None:
    j = given_exited()
    then_refused(
        j,
        "invalid_date",
        lambda: j.correct(CTX, what="starts_on", value=d("2026-05-01"), reason="x"),
    )


# --- providers and rates ------------------------------------------------------------------------


def test_an_invalid_organisation_number_is_refused() -> None:
    with pytest.raises(Refusal) as info:
        provider("5560360794")
    assert info.value.code == "invalid_organisation_number"


def test_the_rate_in_force_is_the_latest_effective_on_or_before_the_day() -> None:
    rates = Rates.open()
    common = dict(
        bonus={"sai": "18000"}, voucher_min="5000", voucher_max="15000", min_days_before_payment=14
    )
    rates.set_rates(CTX, effective_from=d("2016-01-01"), monthly={"sai": "7293"}, **common)
    rates.set_rates(CTX, effective_from=d("2026-03-01"), monthly={"sai": "7500"}, **common)
    assert rates.in_force(d("2026-02-28")).monthly["sai"] == Decimal("7293.00")  # type: ignore[union-attr]
    assert rates.in_force(d("2026-03-01")).monthly["sai"] == Decimal("7500.00")  # type: ignore[union-attr]
    assert rates.in_force(d("2015-12-31")) is None


def test_a_voucher_range_upside_down_is_refused() -> None:
    rates = Rates.open()
    with pytest.raises(Refusal) as info:
        rates.set_rates(
            CTX,
            effective_from=d("2026-01-01"),
            monthly={},
            bonus={},
            voucher_min="15000",
            voucher_max="5000",
            min_days_before_payment=14,
        )
    assert info.value.code == "invalid_voucher_range"
    assert len(rates.pending_events) == 1  # only the stream's opening, no RatesSet
