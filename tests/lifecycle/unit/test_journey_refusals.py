"""Every other refusal of a journey command (SPEC §3, README "Bounded input"), one rule a row:
given the journey in this state, when this command, then this refusal — and nothing recorded.
The rows' ids read as the rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts.journey import Evidence, Exit, Plan
from services.lifecycle.domain.journey import ExitCorrection, ExternalRef, ProviderStart
from tests.given import P1, P2, P3, EventLog, Refused, When, d, personnummer, when

EVIDENCE = [Evidence("anstallningsbevis", "doc-1", d("2026-10-12"))]


def world(rates: bool = True) -> EventLog:
    given = EventLog()
    if rates:
        given.rates_published("2016-01-01")
    for provider in (P1, P2, P3):
        given.provider_authorised(provider)
    return given


def decided(given: EventLog, insats: str = "sai", decided_on: str = "2026-01-10") -> str:
    return given.decision(insats=insats, decided_on=decided_on)


def started(given: EventLog, insats: str = "sai") -> str:
    journey = decided(given, insats)
    given.provider_chosen(journey, P1, "2026-01-20")
    return journey


def exited(given: EventLog) -> str:
    journey = started(given)
    given.exited(journey, "2026-04-10", "work", employment_form="permanent", contract_months=None)
    return journey


def claimed(given: EventLog) -> str:
    journey = exited(given)
    given.follow_up(journey, "2026-10-12", due_on="2026-10-10")
    return journey


def changed(given: EventLog) -> str:
    journey = started(given)
    given.provider_changed(journey, P2, "2026-03-16")
    return journey


def interning(given: EventLog) -> str:
    journey = started(given)
    given.internship_started(journey, "2026-03-01")
    return journey


def interned(given: EventLog) -> str:
    journey = interning(given)
    given.internship_ended(journey, "2026-05-31")
    return journey


def transferred(given: EventLog) -> str:
    journey = started(given)
    given.exited(
        journey,
        "2026-04-10",
        "other_insats",
        next_journey_id="7c9e6679-7425-40de-944b-e07fc1f90ae7",
    )
    return journey


def late_decision(given: EventLog) -> str:
    return decided(given, decided_on="2026-11-20")


def withdrawable(given: EventLog) -> str:
    return decided(given)


Command = Callable[[When, str], Any]


def exit_with(**details: Any) -> Command:
    def run(app: When, journey: str) -> Any:
        return app.exit_journey(journey, Exit(d("2026-04-10"), "work", **details))

    return run


def voucher(granted_on: str = "2026-02-01", purpose: str = "Körkort B") -> Command:
    return lambda app, j: app.grant_voucher(
        j, amount="5000", purpose=purpose, granted_on=d(granted_on)
    )


def internship(
    started_on: str = "2026-03-01", employer: str = "Café AB", share: int = 60
) -> Command:
    return lambda app, j: app.start_internship(
        j, employer=employer, started_on=d(started_on), share_percent=share
    )


def correct(field: str, value: Any) -> Command:
    return lambda app, j: app.correct_journey(j, field=field, value=value, reason="fel")


ROWS = [
    # provider choice: bounds
    pytest.param(
        decided,
        lambda app, j: app.choose_provider(j, provider_id=P1, starts_on=d("2027-01-12")),
        Refused("date_too_far_ahead", "starts_on"),
        id="an_insats_starting_more_than_a_year_after_the_decision_is_refused",
    ),
    pytest.param(
        late_decision,
        lambda app, j: app.choose_provider(j, provider_id=P1, starts_on=d("2027-11-25")),
        Refused("date_too_far_ahead", "starts_on"),
        id="a_provider_choice_more_than_a_year_ahead_of_today_is_refused",
    ),
    pytest.param(
        exited,
        lambda app, j: app.choose_provider(j, provider_id=P2, starts_on=d("2026-05-01")),
        Refused("journey_exited", None, "Conflict"),
        id="no_provider_is_chosen_for_an_exited_journey",
    ),
    # plan
    pytest.param(
        lambda g: started(g, "grund"),
        lambda app, j: app.register_plan(j, Plan(d("2026-01-19"), None, None)),
        Refused("invalid_date", "established_on"),
        id="a_plan_established_before_the_insats_started_is_refused",
    ),
    pytest.param(
        started,
        lambda app, j: app.register_plan(j, Plan(d("2026-02-01"), d("2026-01-19"), 60)),
        Refused("invalid_date", "planned_internship_start"),
        id="a_planned_internship_cannot_start_before_the_insats",
    ),
    pytest.param(
        started,
        lambda app, j: app.register_plan(j, Plan(d("2026-02-01"), d("2028-01-22"), 60)),
        Refused("date_too_far_ahead", "planned_internship_start"),
        id="a_planned_internship_starts_within_two_years_of_the_insats",
    ),
    pytest.param(
        lambda g: started(g, "grund"),
        lambda app, j: app.register_plan(j, Plan(d("2026-02-01"), d("2026-03-01"), 60)),
        Refused("not_sai", "planned_internship_start"),
        id="only_an_sai_plan_plans_a_language_internship",
    ),
    # language internship
    pytest.param(
        interning,
        internship("2026-04-01"),
        Refused("internship_running", None, "Conflict"),
        id="one_language_internship_runs_at_a_time",
    ),
    pytest.param(
        started,
        internship(employer=" "),
        Refused("employer_required", "employer"),
        id="an_internship_names_its_employer",
    ),
    pytest.param(
        started,
        internship(share=0),
        Refused("invalid_share", "share_percent"),
        id="an_internship_share_is_1_to_100_percent_not_0",
    ),
    pytest.param(
        started,
        internship(share=101),
        Refused("invalid_share", "share_percent"),
        id="an_internship_share_is_1_to_100_percent_not_101",
    ),
    pytest.param(
        started,
        internship("2026-01-19"),
        Refused("invalid_date", "started_on"),
        id="an_internship_cannot_start_before_the_insats",
    ),
    pytest.param(
        interned,
        internship("2026-05-31"),
        Refused("invalid_date", "started_on"),
        id="a_new_internship_starts_after_the_previous_one_ended",
    ),
    pytest.param(
        started,
        internship("2026-11-24"),
        Refused("date_in_future", "started_on"),
        id="an_internship_in_the_future_is_refused",
    ),
    pytest.param(
        interning,
        lambda app, j: app.end_internship(j, ended_on=d("2026-02-28")),
        Refused("invalid_date", "ended_on"),
        id="an_internship_cannot_end_before_it_started",
    ),
    # vouchers
    pytest.param(
        started,
        voucher("2026-01-19"),
        Refused("journey_not_active", "granted_on"),
        id="a_voucher_is_granted_while_the_journey_is_active",
    ),
    pytest.param(
        started,
        voucher("2026-11-24"),
        Refused("date_in_future", "granted_on"),
        id="a_voucher_granted_in_the_future_is_refused",
    ),
    pytest.param(
        started,
        voucher(purpose=" "),
        Refused("purpose_required", "purpose"),
        id="a_voucher_states_its_purpose",
    ),
    # exit details
    pytest.param(
        started,
        exit_with(employment_form="fixed_term", contract_months=121),
        Refused("invalid_contract_months", "contract_months"),
        id="a_fixed_term_contract_is_at_most_ten_years",
    ),
    pytest.param(
        started,
        exit_with(employment_form="permanent", contract_months=12),
        Refused("unexpected_field", "contract_months"),
        id="contract_months_are_only_for_fixed_term_jobs",
    ),
    pytest.param(
        started,
        exit_with(employment_form="permanent", subsidy="bidrag"),
        Refused("invalid_subsidy", "subsidy"),
        id="a_subsidy_is_one_of_the_known_kinds",
    ),
    # follow-up and review
    pytest.param(
        exited,
        lambda app, j: app.record_follow_up(
            j, followed_up_on=d("2026-10-12"), outcome="maybe", evidence=EVIDENCE
        ),
        Refused("invalid_outcome", "outcome"),
        id="a_follow_up_is_sustained_or_a_deviation",
    ),
    pytest.param(
        exited,
        lambda app, j: app.record_follow_up(
            j, followed_up_on=d("2026-04-09"), outcome="deviation", evidence=[]
        ),
        Refused("invalid_date", "followed_up_on"),
        id="a_follow_up_is_not_before_the_exit",
    ),
    pytest.param(
        claimed,
        lambda app, j: app.review_bonus_claim(j, reviewed_on=d("2026-10-14"), decision="maybe"),
        Refused("invalid_decision", "decision"),
        id="a_claim_is_approved_or_returned",
    ),
    pytest.param(
        claimed,
        lambda app, j: app.review_bonus_claim(j, reviewed_on=d("2026-10-11"), decision="approved"),
        Refused("invalid_date", "reviewed_on"),
        id="a_claim_is_not_reviewed_before_it_was_made",
    ),
    # withdrawal
    pytest.param(
        exited,
        lambda app, j: app.withdraw_decision(j, withdrawn_on=d("2026-05-01"), reason="fel"),
        Refused("journey_exited", None, "Conflict"),
        id="an_exited_journey_is_not_withdrawn",
    ),
    pytest.param(
        withdrawable,
        lambda app, j: app.withdraw_decision(j, withdrawn_on=d("2026-01-09"), reason="fel"),
        Refused("invalid_date", "withdrawn_on"),
        id="a_withdrawal_is_not_before_the_decision",
    ),
    pytest.param(
        withdrawable,
        lambda app, j: app.withdraw_decision(j, withdrawn_on=d("2026-01-12"), reason=" "),
        Refused("reason_required", "reason"),
        id="a_withdrawal_gives_its_reason",
    ),
    # corrections
    pytest.param(
        exited,
        correct("plan", d("2026-02-01")),
        Refused("invalid_field", "field"),
        id="only_the_start_the_exit_and_provider_changes_are_corrected",
    ),
    pytest.param(
        exited,
        correct("exit", d("2026-02-01")),
        Refused("invalid_value", "value"),
        id="an_exit_is_corrected_with_an_exit",
    ),
    pytest.param(
        started,
        correct("exited_on", d("2026-03-01")),
        Refused("journey_not_exited", "field", "Conflict"),
        id="the_exit_date_of_an_open_journey_is_not_corrected",
    ),
    pytest.param(
        exited,
        correct("exited_on", d("2026-01-19")),
        Refused("invalid_date", "value"),
        id="a_corrected_exit_is_not_before_the_last_assignment",
    ),
    pytest.param(
        exited,
        correct("exited_on", d("2026-11-24")),
        Refused("date_in_future", "value"),
        id="a_corrected_exit_is_not_in_the_future",
    ),
    pytest.param(
        transferred,
        correct("exit", ExitCorrection("work", employment_form="permanent")),
        Refused("invalid_value", "value"),
        id="a_transfer_to_another_insats_is_not_corrected_as_an_exit",
    ),
    pytest.param(
        started,
        correct("provider_starts_on", d("2026-02-01")),
        Refused("no_provider_change", "field", "Conflict"),
        id="a_provider_change_date_is_corrected_only_when_there_was_a_change",
    ),
    pytest.param(
        changed,
        correct("provider_starts_on", d("2026-01-20")),
        Refused("invalid_date", "value"),
        id="a_corrected_change_date_lies_after_the_previous_start",
    ),
    pytest.param(
        changed,
        correct("provider_starts_on", ProviderStart(d("2026-03-10"), P3)),
        Refused("unknown_assignment", "value"),
        id="a_corrected_change_names_a_provider_the_journey_changed_to",
    ),
]


@pytest.mark.parametrize(("state", "command", "refused"), ROWS)
def test_a_command_that_breaks_a_rule_is_refused_and_records_nothing(
    state: Callable[[EventLog], str], command: Command, refused: Refused
) -> None:
    given = world()
    journey = state(given)
    assert command(when(given), journey) == refused


def test_a_voucher_needs_a_rate_table_in_force() -> None:
    given = world(rates=False)
    journey = started(given)
    assert voucher()(when(given), journey) == Refused("rate_missing", "granted_on")


def test_a_decision_names_who_decided() -> None:
    then = when(world()).register_decision(
        external_ref=ExternalRef("ecos", "d1"),
        person_id=personnummer(),
        insats="grund",
        decided_on=d("2026-01-10"),
        decided_by=" ",
        target_group="other",
    )
    assert then == Refused("decided_by_required", "decided_by")
