"""The alert rules (SPEC §5, docs/alerts.md): given a journey's facts, on a date, then alerts."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import journey as model
from contracts.journey import (
    Assignment,
    Exit,
    FollowUp,
    Internship,
    JourneyFacts,
    Plan,
    ProviderFacts,
    Review,
    Withdrawal,
)
from services.alerts.rules import evaluate, quiet_from
from services.alerts.store import ALERT_PARTS


def fold(events: list) -> tuple[dict[str, JourneyFacts], dict[str, ProviderFacts]]:
    return model.fold(events), model.fold_providers(events)


P1, P2 = "5566778899", "5599887766"
J = "journey-1"


def alerts_on(log, as_of: str, journey_id: str = J) -> set[tuple[str, str | None, str]]:
    journeys, providers = fold(log.events)
    return {
        (a.kind, a.level, a.since.isoformat())
        for a in evaluate(journeys[journey_id], date.fromisoformat(as_of), providers)
    }


def kinds_on(log, as_of: str, journey_id: str = J) -> set[str]:
    return {kind for kind, _, _ in alerts_on(log, as_of, journey_id)}


def of_kind(log, as_of: str, kind: str) -> set[tuple[str, str | None, str]]:
    return {a for a in alerts_on(log, as_of) if a[0] == kind}


# --- duration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-04-09", set()),
        ("2026-04-10", {("duration", "green", "2026-04-10")}),
        ("2026-04-11", {("duration", "green", "2026-04-10")}),
        ("2026-07-09", {("duration", "green", "2026-04-10")}),
        ("2026-07-10", {("duration", "yellow", "2026-07-10")}),
        ("2026-07-11", {("duration", "yellow", "2026-07-10")}),
        ("2027-01-09", {("duration", "yellow", "2026-07-10")}),
        ("2027-01-10", {("duration", "red", "2027-01-10")}),
        ("2027-01-11", {("duration", "red", "2027-01-10")}),
    ],
)
def test_duration_light_turns_green_yellow_red_after_3_6_12_calendar_months(log, as_of, expected):
    # given a journey started 2026-01-10
    log.started(J, "2026-01-10")
    # then on each side of each boundary the light is
    assert of_kind(log, as_of, "duration") == expected


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-04-29", set()),
        ("2026-04-30", {("duration", "green", "2026-04-30")}),
        ("2026-05-01", {("duration", "green", "2026-04-30")}),
        ("2026-07-30", {("duration", "green", "2026-04-30")}),
        ("2026-07-31", {("duration", "yellow", "2026-07-31")}),
        ("2027-01-30", {("duration", "yellow", "2026-07-31")}),
        ("2027-01-31", {("duration", "red", "2027-01-31")}),
    ],
)
def test_month_end_start_counts_calendar_months_clipped_to_shorter_months(log, as_of, expected):
    # given a journey started on the 31st
    log.started(J, "2026-01-31")
    # then 3 months later is the last day of April, 6 months later the 31st of July
    assert of_kind(log, as_of, "duration") == expected


def test_no_light_before_the_journey_has_started(log):
    # given a decision whose provider starts in the future
    log.started(J, "2026-06-01")
    # then before the start nothing is flagged, even long after the decision
    assert alerts_on(log, "2026-05-31") == set()


def test_exited_journey_carries_no_duration_light(log):
    # given a journey in its fourth month that exits (not self-sufficient)
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-05-01", "dropped_out")
    # then it is green the day before the exit and has no alert from the exit date
    assert alerts_on(log, "2026-04-30") == {("duration", "green", "2026-04-10")}
    assert alerts_on(log, "2026-05-01") == set()
    assert alerts_on(log, "2027-06-01") == set()


def test_withdrawn_journey_has_no_alerts_at_all(log):
    # given a decision with a provider chosen, withdrawn before the start
    log.started(J, "2026-03-01")
    log.withdrawn(J, "2026-02-15")
    # then no date ever shows an alert for it
    for as_of in ("2026-02-14", "2026-03-01", "2026-05-01", "2027-06-01"):
        assert alerts_on(log, as_of) == set()


# --- plan -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-02-28", set()),  # day 49
        ("2026-03-01", {("plan_due_soon", None, "2026-03-01")}),  # day 50
        ("2026-03-02", {("plan_due_soon", None, "2026-03-01")}),  # day 51
        ("2026-03-11", {("plan_due_soon", None, "2026-03-01")}),  # day 60
        ("2026-03-12", {("plan_overdue", None, "2026-03-12")}),  # day 61
        ("2026-03-13", {("plan_overdue", None, "2026-03-12")}),  # day 62
    ],
)
def test_plan_due_soon_on_days_50_to_60_and_overdue_from_day_61(log, as_of, expected):
    # given a journey started 2026-01-10 (day 0) without a plan
    log.started(J, "2026-01-10")
    # then
    assert alerts_on(log, as_of) == expected


def test_plan_registered_clears_the_plan_alert_from_its_established_date(log):
    # given an overdue plan that is established on day 69
    log.started(J, "2026-01-10")
    log.plan(J, "2026-03-20")
    # then the plan was overdue the day before and is not from that day
    assert kinds_on(log, "2026-03-19") == {"plan_overdue"}
    assert kinds_on(log, "2026-03-20") == set()
    assert kinds_on(log, "2026-03-21") == set()


def test_plan_established_after_as_of_does_not_clear_an_earlier_date(log):
    # given a plan established on day 69, known now
    log.started(J, "2026-01-10")
    log.plan(J, "2026-03-20")
    # then as of day 55 the plan was due soon, as of day 65 overdue
    assert kinds_on(log, "2026-03-06") == {"plan_due_soon"}
    assert kinds_on(log, "2026-03-16") == {"plan_overdue"}


def test_plan_on_time_never_raises_a_plan_alert(log):
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    for as_of in ("2026-03-01", "2026-03-12", "2026-04-01"):
        assert "plan_due_soon" not in kinds_on(log, as_of)
        assert "plan_overdue" not in kinds_on(log, as_of)


# --- internship (SAI) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-04-01", set()),  # the planned start itself: not passed yet
        ("2026-04-02", {("internship_late", None, "2026-04-02")}),
        ("2026-04-03", {("internship_late", None, "2026-04-02")}),
    ],
)
def test_internship_late_once_the_planned_start_has_passed(log, as_of, expected):
    # given an SAI journey whose plan puts the internship start at 2026-04-01
    log.started(J, "2026-01-10", insats="sai")
    log.plan(J, "2026-02-20", planned_internship_start="2026-04-01")
    # then
    assert of_kind(log, as_of, "internship_late") == expected


def test_internship_started_clears_internship_late(log):
    log.started(J, "2026-01-10", insats="sai")
    log.plan(J, "2026-02-20", planned_internship_start="2026-04-01")
    log.internship_started(J, "2026-04-05")
    assert "internship_late" in kinds_on(log, "2026-04-04")
    assert "internship_late" not in kinds_on(log, "2026-04-05")


def test_internship_late_follows_the_one_plan_of_the_journey(log):
    # given a plan (internship 2026-04-01) and a second one in the log (the domain refuses a
    # second plan: an imported log could hold one)
    log.started(J, "2026-01-10", insats="sai")
    log.plan(J, "2026-02-20", planned_internship_start="2026-04-01")
    log.plan(J, "2026-04-10", planned_internship_start="2026-05-01")
    # then the first plan holds: the internship is late from the day after its planned start
    assert of_kind(log, "2026-04-01", "internship_late") == set()
    assert of_kind(log, "2026-04-09", "internship_late") == {
        ("internship_late", None, "2026-04-02")
    }
    assert of_kind(log, "2026-05-02", "internship_late") == {
        ("internship_late", None, "2026-04-02")
    }


def test_internship_late_is_for_sai_only(log):
    log.started(J, "2026-01-10", insats="grund")
    log.plan(J, "2026-02-20", planned_internship_start="2026-04-01")
    assert "internship_late" not in kinds_on(log, "2026-05-01")


# --- follow-up --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insats", "as_of", "expected"),
    [
        ("grund", "2026-09-14", set()),
        ("grund", "2026-09-15", {("follow_up_due", None, "2026-09-15")}),
        ("grund", "2026-09-16", {("follow_up_due", None, "2026-09-15")}),
        ("grund", "2026-10-15", {("follow_up_due", None, "2026-09-15")}),  # never overdue
        ("forstarkt", "2026-09-14", set()),
        ("forstarkt", "2026-09-15", {("follow_up_due", None, "2026-09-15")}),
        ("forstarkt", "2026-10-14", {("follow_up_due", None, "2026-09-15")}),
        (
            "forstarkt",
            "2026-10-15",
            {("follow_up_due", None, "2026-09-15"), ("follow_up_overdue", None, "2026-10-15")},
        ),
        (
            "forstarkt",
            "2026-10-16",
            {("follow_up_due", None, "2026-09-15"), ("follow_up_overdue", None, "2026-10-15")},
        ),
    ],
)
def test_follow_up_due_six_months_after_a_self_sufficient_exit(log, insats, as_of, expected):
    # given a journey exited to work on 2026-03-15 (due 2026-09-15)
    log.started(J, "2026-01-10", insats=insats)
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", "work")
    # then
    assert alerts_on(log, as_of) == expected


def test_follow_up_due_date_clips_to_month_end(log):
    log.started(J, "2026-01-10", insats="forstarkt")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-08-31", "studies", csn_eligible=True)
    assert alerts_on(log, "2027-02-27") == set()
    assert alerts_on(log, "2027-02-28") == {("follow_up_due", None, "2027-02-28")}
    assert "follow_up_overdue" in kinds_on(log, "2027-03-30")
    assert "follow_up_overdue" not in kinds_on(log, "2027-03-29")


@pytest.mark.parametrize("reason", ["other_insats", "moved", "illness", "dropped_out", "other"])
def test_no_follow_up_for_exits_that_are_not_self_sufficient(log, reason):
    log.started(J, "2026-01-10", insats="forstarkt")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", reason)
    assert alerts_on(log, "2026-12-01") == set()


def test_follow_up_recorded_clears_due_and_overdue(log):
    # given a forstarkt exit to own business whose follow-up comes late, on 2026-10-20
    log.started(J, "2026-01-10", insats="forstarkt")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", "own_business")
    log.follow_up(J, "2026-10-20", "sustained")
    # then both alerts are on the day before and gone from that day
    assert kinds_on(log, "2026-10-19") == {"follow_up_due", "follow_up_overdue"}
    assert kinds_on(log, "2026-10-20") == set()


def test_early_deviation_answers_the_follow_up_but_early_sustained_does_not(log):
    log.started(J, "2026-01-10", insats="forstarkt")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", "work")
    log.follow_up(J, "2026-06-01", "sustained")
    assert kinds_on(log, "2026-09-15") == {"follow_up_due"}
    log.follow_up(J, "2026-07-01", "deviation")
    assert kinds_on(log, "2026-09-15") == set()


# --- bonus claim ------------------------------------------------------------------------------


def _claimed(log, claimed_on: str = "2026-10-01") -> None:
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", "work")
    log.follow_up(J, claimed_on, "sustained", bonus_claim=True)


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-10-15", set()),  # waiting 14 days
        ("2026-10-16", {("bonus_claim_pending", None, "2026-10-16")}),  # 15 days
        ("2026-10-17", {("bonus_claim_pending", None, "2026-10-16")}),
    ],
)
def test_bonus_claim_pending_after_more_than_14_days(log, as_of, expected):
    # given a bonus claim made on 2026-10-01
    _claimed(log)
    # then
    assert alerts_on(log, as_of) == expected


def test_claim_reviewed_clears_the_pending_alert(log):
    _claimed(log)
    log.review(J, "2026-10-20", "approved")
    assert kinds_on(log, "2026-10-19") == {"bonus_claim_pending"}
    assert kinds_on(log, "2026-10-20") == set()


def test_returned_claim_resubmitted_waits_again(log):
    # given a claim returned on 2026-10-05 and resubmitted on 2026-10-25
    _claimed(log)
    log.review(J, "2026-10-05", "returned")
    log.follow_up(J, "2026-10-25", "sustained", bonus_claim=True)
    # then nothing waits in between, and the new claim is pending from its 15th day
    assert kinds_on(log, "2026-10-24") == set()
    assert alerts_on(log, "2026-11-08") == set()
    assert alerts_on(log, "2026-11-09") == {("bonus_claim_pending", None, "2026-11-09")}


# --- provider de-authorised -------------------------------------------------------------------


def _deauthorised_journey(log) -> None:
    log.authorised(P1)
    log.authorised(P2)
    log.started(J, "2026-01-10", provider=P1)
    log.plan(J, "2026-02-01")
    log.deauthorised(P1, "2026-05-01")


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-04-30", set()),
        ("2026-05-01", {("provider_deauthorised", None, "2026-05-01")}),
        ("2026-05-02", {("provider_deauthorised", None, "2026-05-01")}),
    ],
)
def test_provider_deauthorised_from_its_effective_date(log, as_of, expected):
    _deauthorised_journey(log)
    assert of_kind(log, as_of, "provider_deauthorised") == expected


def test_new_provider_chosen_clears_provider_deauthorised(log):
    _deauthorised_journey(log)
    log.provider_changed(J, "2026-05-10", P2, previous=P1)
    assert "provider_deauthorised" in kinds_on(log, "2026-05-09")
    assert "provider_deauthorised" not in kinds_on(log, "2026-05-10")
    journeys, providers = fold(log.events)
    # de-authorised, the journey waits for a new provider: nobody holds it (SPEC §3)
    assert journeys[J].responsible_provider_on(date(2026, 5, 9), providers) is None
    assert journeys[J].responsible_provider_on(date(2026, 5, 10), providers) == P2


def test_journey_that_left_the_provider_before_its_deauthorisation_is_not_flagged(log):
    log.authorised(P1)
    log.authorised(P2)
    log.started(J, "2026-01-10", provider=P1)
    log.provider_changed(J, "2026-03-01", P2, previous=P1)
    log.deauthorised(P1, "2026-05-01")
    assert "provider_deauthorised" not in kinds_on(log, "2026-06-01")


def test_deauthorisation_after_exit_is_not_flagged(log):
    _deauthorised_journey(log)
    log.exited(J, "2026-04-20", "moved")
    assert alerts_on(log, "2026-06-01") == set()


# --- corrections ------------------------------------------------------------------------------


def test_corrected_start_shifts_the_lights(log):
    # given a journey started 2026-01-10, then its start corrected to 2026-02-10
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-20")
    assert of_kind(log, "2026-04-10", "duration") == {("duration", "green", "2026-04-10")}
    log.corrected(J, "starts_on", "2026-01-10", "2026-02-10")
    # then the light moves a month later
    assert of_kind(log, "2026-04-10", "duration") == set()
    assert of_kind(log, "2026-05-10", "duration") == {("duration", "green", "2026-05-10")}
    assert of_kind(log, "2026-08-10", "duration") == {("duration", "yellow", "2026-08-10")}


def test_corrected_exit_date_moves_the_follow_up(log):
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", "work")
    log.corrected(J, "exited_on", "2026-03-15", "2026-04-15")
    assert alerts_on(log, "2026-09-15") == set()
    assert alerts_on(log, "2026-10-15") == {("follow_up_due", None, "2026-10-15")}


def test_corrected_exit_reason_removes_the_follow_up(log):
    log.started(J, "2026-01-10")
    log.plan(J, "2026-02-01")
    log.exited(J, "2026-03-15", "work")
    log.corrected(
        J,
        "exit",
        {"exited_on": "2026-03-15", "reason": "work"},
        {"exited_on": "2026-03-15", "reason": "moved"},
    )
    assert alerts_on(log, "2026-10-01") == set()


def test_corrected_provider_change_date_moves_the_end_of_the_wait(log):
    _deauthorised_journey(log)
    log.provider_changed(J, "2026-05-10", P2, previous=P1)
    log.corrected(J, "provider_starts_on", "2026-05-10", "2026-05-20", provider_id=P2)
    assert "provider_deauthorised" in kinds_on(log, "2026-05-15")
    assert "provider_deauthorised" not in kinds_on(log, "2026-05-20")


# --- properties -------------------------------------------------------------------------------


def _months_reached(start: date, as_of: date, months: int) -> bool:
    """Independent of relativedelta: the n-th month anniversary, clipped to the month's end."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    anniversary = date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
    return as_of >= anniversary


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    offset=st.integers(min_value=0, max_value=500),
)
def test_duration_level_matches_calendar_month_anniversaries(start, offset):
    # given a journey started on `start` (a plan on time, so only the light matters)
    facts = JourneyFacts(
        journey_id=J,
        insats="grund",
        assignments=(Assignment(P1, start),),
        plan=Plan(start, None, None),
    )
    as_of = start + timedelta(days=offset)
    levels = [a for a in evaluate(facts, as_of) if a.kind == "duration"]
    expected = (
        "red"
        if _months_reached(start, as_of, 12)
        else "yellow"
        if _months_reached(start, as_of, 6)
        else "green"
        if _months_reached(start, as_of, 3)
        else None
    )
    assert [a.level for a in levels] == ([expected] if expected else [])
    for a in levels:
        assert a.since <= as_of


def test_facts_survive_their_storage_format(log):
    log.authorised(P1)
    log.started(J, "2026-01-10", insats="sai")
    log.plan(J, "2026-02-20", planned_internship_start="2026-04-01")
    log.internship_started(J, "2026-04-05")
    log.provider_changed(J, "2026-05-10", P2)
    log.exited(J, "2026-06-15", "work")
    log.follow_up(J, "2026-12-15", "sustained", bonus_claim=True)
    log.review(J, "2026-12-20", "returned")
    # the store folds with the parts the rules read, and keeps them through its stored form
    facts = None
    for e in log.events:
        if e.stream_id == J:
            facts = model.apply(facts, e, ALERT_PARTS)
    assert facts is not None and facts.follow_ups and facts.reviews and facts.internships
    assert model.decode(J, model.encode(facts, ALERT_PARTS)) == facts  # the decision too


BASE = date(2026, 1, 1)
day_offsets = st.integers(min_value=0, max_value=900).map(lambda n: BASE + timedelta(days=n))


@st.composite
def journeys(draw) -> JourneyFacts:
    """Arbitrary combinations of facts (not all of them a valid journey: the rules must hold
    anyway)."""
    starts_on = draw(day_offsets)
    assignments = [Assignment(P1, starts_on)]
    if draw(st.booleans()):
        assignments.append(Assignment(P2, draw(day_offsets)))
    exit_ = None
    if draw(st.booleans()):
        reason = draw(st.sampled_from(["work", "studies", "own_business", "moved", "dropped_out"]))
        exit_ = Exit(draw(day_offsets), reason)
    # bonus claims (follow-ups recorded as claims), the first of them reviewed
    claimed = [draw(day_offsets) for _ in range(draw(st.integers(0, 2)))]
    reviews = tuple(
        Review(draw(day_offsets), "returned", "intyg saknas")
        for _ in range(draw(st.integers(0, len(claimed))))
    )
    follow_ups = [
        FollowUp(on, draw(st.sampled_from(["sustained", "deviation"])), (), on, False)
        for on in draw(st.lists(day_offsets, max_size=2))
    ] + [FollowUp(on, "sustained", (), on, True) for on in claimed]
    plan = None
    if draw(st.booleans()):
        plan = Plan(draw(day_offsets), draw(st.none() | day_offsets), None)
    return JourneyFacts(
        journey_id=J,
        insats=draw(st.sampled_from(["grund", "forstarkt", "sai"])),
        assignments=tuple(sorted(assignments, key=lambda a: a.starts_on)),
        plan=plan,
        internships=tuple(
            Internship("Café AB", on, 60, None) for on in draw(st.lists(day_offsets, max_size=1))
        ),
        exit=exit_,
        withdrawal=Withdrawal(draw(day_offsets), "avböjt")
        if draw(st.integers(0, 9)) == 0
        else None,
        follow_ups=tuple(follow_ups),
        reviews=reviews,
    )


@settings(max_examples=200, deadline=None)
@given(
    facts=journeys(),
    deauthorised_on=st.none() | day_offsets,
    later=st.lists(st.integers(min_value=0, max_value=1200), min_size=1, max_size=5),
)
def test_a_quiet_journey_has_no_alert_on_any_later_day(facts, deauthorised_on, later):
    # given any facts, and perhaps P1 de-authorised
    changes: tuple[tuple[date, bool], ...] = ((date(2020, 1, 1), True),)
    if deauthorised_on is not None:
        changes += ((deauthorised_on, False),)
    providers = {P1: ProviderFacts(P1, changes=changes)}
    # when the journey is quiet from some day
    quiet = quiet_from(facts)
    if quiet is None:
        return
    # then no day from then on has an alert (the store skips it on those days)
    for offset in later:
        as_of = max(quiet, BASE) + timedelta(days=offset)
        assert evaluate(facts, as_of, providers) == []
