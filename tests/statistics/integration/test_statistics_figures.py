"""SPEC §6 figures on small hand-computed logs: given these journeys, when the figures for 2024
are asked, then these numbers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from contracts.events import EXIT_REASONS
from services.platform.refusal import Invalid
from tests.statistics.stats_given import P1, P2, P3, Given

FROM, TO = date(2024, 1, 1), date(2024, 12, 31)


def figures_2024(given: Given, group_by: str = "insats", **kwargs: Any) -> dict[str, Any]:
    return given.service(**kwargs).figures(FROM, TO, group_by)


def exits(**counts: int) -> dict[str, int]:
    return {reason: counts.get(reason, 0) for reason in EXIT_REASONS}


# --- who is in insats ------------------------------------------------------------------------


def test_journeys_in_insats_are_started_by_to_and_not_exited_before_from() -> None:
    given = Given()
    given.journey("2023-05-01", "2024-03-01", "work")  # started before, exited within: in
    given.journey("2023-02-01", "2023-12-31", "work")  # exited the day before from: out
    given.journey("2023-06-01", "2024-01-01", "moved")  # exited on from: in
    given.journey("2024-12-31")  # started on to: in, a start
    given.journey("2024-01-01")  # started on from: in, a start
    given.journey("2025-01-01")  # started after to: out
    never_started = given.decision(decided_on="2024-03-01")  # decided, never started: nowhere
    withdrawn = given.decision(decided_on="2024-04-01")
    given.withdraw(withdrawn, "2024-04-10")  # withdrawn: nowhere
    assert never_started and withdrawn

    total = figures_2024(given)["groups"]["total"]

    assert total["journeys"] == 4
    assert total["customers"] == 4
    assert total["starts"] == 2
    assert total["exits"] == exits(work=1, moved=1)
    assert total["exits_total"] == 2
    assert total["self_sufficient"] == 1
    assert total["rate_of_journeys"] == 0.25  # 1 / 4
    assert total["rate_of_exits"] == 0.5  # 1 / 2
    assert total["avg_days"] == 305.0  # 2023-05-01 → 2024-03-01
    assert total["median_days"] == 305.0


def test_every_exit_reason_is_listed_and_only_work_studies_own_business_are_self_sufficient() -> (
    None
):
    given = Given()
    for n, reason in enumerate(EXIT_REASONS):
        given.journey("2024-01-01", f"2024-02-{n + 1:02d}", reason)

    total = figures_2024(given)["groups"]["total"]

    assert total["exits"] == {reason: 1 for reason in EXIT_REASONS}
    assert total["self_sufficient"] == 3
    assert total["rate_of_exits"] == 0.3333
    assert total["avg_days"] == 32.0  # 31 (work), 32 (studies), 33 (own business)
    assert total["median_days"] == 32.0


def test_a_transfer_counts_the_person_once_among_customers_and_twice_among_journeys() -> None:
    given = Given()
    person = given.person()
    old = given.journey("2024-02-01", insats="grund", person=person)
    given.exit(old, "2024-06-30", "other_insats", next_journey_id="next")
    new = given.decision(insats="sai", person=person, decided_on="2024-06-30", transfer_from=old)
    given.provider(new, P1, "2024-07-01")

    groups = figures_2024(given)["groups"]

    assert groups["grund"]["journeys"] == 1 and groups["grund"]["customers"] == 1
    assert groups["grund"]["exits"]["other_insats"] == 1
    assert groups["sai"]["journeys"] == 1 and groups["sai"]["customers"] == 1
    assert groups["total"]["journeys"] == 2
    assert groups["total"]["customers"] == 1


def test_a_person_with_two_journeys_in_the_same_insats_is_one_customer_of_it() -> None:
    given = Given()
    person = given.person()
    given.journey("2024-01-01", "2024-02-01", "dropped_out", person=person)
    given.journey("2024-05-01", person=person)
    given.journey("2024-05-01")

    grund = figures_2024(given)["groups"]["grund"]

    assert grund["journeys"] == 3
    assert grund["customers"] == 2


def test_groups_by_insats_always_list_every_insats_and_a_total() -> None:
    given = Given()
    given.journey("2024-03-01", insats="sai")

    data = figures_2024(given)

    assert data["from"] == "2024-01-01" and data["to"] == "2024-12-31"
    assert data["group_by"] == "insats"
    assert list(data["groups"]) == ["grund", "forstarkt", "sai", "total"]
    assert data["groups"]["grund"]["journeys"] == 0
    assert data["groups"]["grund"]["rate_of_journeys"] is None  # no denominator
    assert data["groups"]["grund"]["plans_on_time_share"] is None
    assert data["groups"]["sai"]["journeys"] == 1
    assert data["groups"]["sai"]["rate_of_exits"] is None  # no exits


# --- rounding --------------------------------------------------------------------------------


def test_rates_round_half_up_to_four_decimals() -> None:
    given = Given()
    given.journey("2023-01-01", "2024-01-10", "work")
    for _ in range(31):
        given.journey("2024-02-01")

    total = figures_2024(given)["groups"]["total"]

    assert total["journeys"] == 32
    assert total["rate_of_journeys"] == 0.0313  # 1/32 = 0.03125, half-up (not to even)


def test_average_days_round_half_up_to_one_decimal_and_median_is_exact() -> None:
    given = Given()
    for exited in ("2024-01-11", "2024-01-11", "2024-01-11", "2024-01-12"):
        given.journey("2024-01-01", exited, "studies")  # 10, 10, 10, 11 days

    total = figures_2024(given)["groups"]["total"]

    assert total["avg_days"] == 10.3  # 41 / 4 = 10.25 → 10.3
    assert total["median_days"] == 10.0


# --- corrections -----------------------------------------------------------------------------


def test_an_exit_corrected_into_the_period_counts_in_it() -> None:
    given = Given()
    journey = given.journey("2023-01-10", "2023-12-15", "work")
    given.correct(journey, "exited_on", "2023-12-15", "2024-01-05")

    total = figures_2024(given)["groups"]["total"]

    assert total["journeys"] == 1
    assert total["exits"]["work"] == 1
    assert total["avg_days"] == 360.0  # 2023-01-10 → 2024-01-05


def test_an_exit_corrected_out_of_the_period_leaves_it() -> None:
    given = Given()
    journey = given.journey("2023-01-10", "2024-02-01", "work")
    given.correct(journey, "exited_on", "2024-02-01", "2023-12-20")

    total = figures_2024(given)["groups"]["total"]

    assert total["journeys"] == 0
    assert total["exits_total"] == 0


def test_a_corrected_exit_reason_is_the_one_counted() -> None:
    given = Given()
    journey = given.journey("2024-01-01", "2024-05-01", "dropped_out")
    given.correct(
        journey,
        "exit",
        {"exited_on": "2024-05-01", "reason": "dropped_out"},
        {"exited_on": "2024-06-01", "reason": "work", "employment_form": "permanent"},
    )

    total = figures_2024(given)["groups"]["total"]

    assert total["exits"] == exits(work=1)
    assert total["self_sufficient"] == 1
    assert total["avg_days"] == 152.0  # 2024-01-01 → 2024-06-01


def test_a_corrected_start_moves_the_start_and_the_days() -> None:
    given = Given()
    journey = given.journey("2024-01-10", "2024-03-01", "work")
    given.correct(journey, "starts_on", "2024-01-10", "2023-12-01")

    total = figures_2024(given)["groups"]["total"]

    assert total["starts"] == 0
    assert total["journeys"] == 1
    assert total["avg_days"] == 91.0  # 2023-12-01 → 2024-03-01


def test_a_start_corrected_past_the_period_takes_the_journey_out() -> None:
    given = Given()
    journey = given.journey("2024-12-20")
    given.correct(journey, "starts_on", "2024-12-20", "2025-01-07")

    assert figures_2024(given)["groups"]["total"]["journeys"] == 0


# --- follow-ups ------------------------------------------------------------------------------


def test_follow_ups_count_forstarkt_journeys_by_their_latest_outcome_in_the_period() -> None:
    given = Given()
    before = given.journey("2023-01-01", "2023-10-01", "work", insats="forstarkt")
    given.follow_up(before, "2024-04-01", "sustained")  # exited last year, followed up now
    changed = given.journey("2023-06-01", "2023-09-01", "studies", insats="forstarkt")
    given.follow_up(changed, "2024-02-01", "deviation")
    given.follow_up(changed, "2024-05-01", "sustained")  # latest in 2024: sustained
    later = given.journey("2023-06-01", "2024-05-01", "work", insats="forstarkt")
    given.follow_up(later, "2024-11-01", "sustained")
    given.follow_up(later, "2025-01-10", "deviation")  # after 2024: not this period
    deviation = given.journey("2024-01-01", "2024-03-01", "own_business", insats="forstarkt")
    given.follow_up(deviation, "2024-06-01", "deviation")
    grund = given.journey("2023-06-01", "2024-01-20", "work", insats="grund")
    given.follow_up(grund, "2024-07-20", "sustained")  # not forstarkt: not counted

    service = given.service()
    groups = service.figures(FROM, TO)["groups"]
    next_year = service.figures(date(2025, 1, 1), date(2025, 12, 31))["groups"]

    assert groups["forstarkt"]["follow_ups"] == {"sustained": 3, "deviation": 1}
    assert groups["grund"]["follow_ups"] == {"sustained": 0, "deviation": 0}
    assert groups["total"]["follow_ups"] == {"sustained": 3, "deviation": 1}
    assert groups["forstarkt"]["journeys"] == 2  # the ones exited in 2023 are not in insats
    assert next_year["forstarkt"]["follow_ups"] == {"sustained": 0, "deviation": 1}


def test_two_follow_ups_on_the_same_day_count_the_later_recorded() -> None:
    given = Given()
    journey = given.journey("2023-01-01", "2023-08-01", "work", insats="forstarkt")
    given.follow_up(journey, "2024-02-01", "sustained")
    given.follow_up(journey, "2024-02-01", "deviation")

    assert figures_2024(given)["groups"]["forstarkt"]["follow_ups"] == {
        "sustained": 0,
        "deviation": 1,
    }


# --- plans -----------------------------------------------------------------------------------


def plans_log() -> Given:
    given = Given()
    on_time = given.journey("2024-01-10")  # due 2024-03-10
    given.plan(on_time, "2024-02-15")
    late = given.journey("2024-02-01")  # due 2024-04-01
    given.plan(late, "2024-04-15")
    given.journey("2024-03-01")  # due 2024-04-30, no plan, still active: counted, not on time
    gone = given.journey("2024-03-01", "2024-04-10", "moved")  # exited before due, no plan
    assert gone
    late_last_year = given.journey("2023-10-01")  # due 2023-11-30, plan established in 2024
    given.plan(late_last_year, "2024-01-15")
    early = given.journey("2023-12-01")  # due 2024-01-30, plan in 2023: counted by due date
    given.plan(early, "2023-12-20")
    given.journey("2024-12-01")  # due 2025-01-30: not in 2024
    settled = given.journey("2023-01-01")  # due and planned in 2023
    given.plan(settled, "2023-02-01")
    return given


def test_plans_on_time_share_counts_plans_due_or_established_in_the_period() -> None:
    total = figures_2024(plans_log())["groups"]["total"]

    assert total["plans"] == {"counted": 5, "on_time": 2}
    assert total["plans_on_time_share"] == 0.4


def test_a_plan_due_date_not_yet_passed_is_not_counted_without_a_plan() -> None:
    given = Given()
    given.journey("2024-03-01")  # due 2024-04-30, no plan

    before_due = given.service(today=date(2024, 4, 15)).figures(FROM, TO)["groups"]["total"]
    after_due = given.service(today=date(2024, 5, 1)).figures(FROM, TO)["groups"]["total"]

    assert before_due["plans"] == {"counted": 0, "on_time": 0}
    assert before_due["plans_on_time_share"] is None
    assert after_due["plans"] == {"counted": 1, "on_time": 0}
    assert after_due["plans_on_time_share"] == 0.0


def test_a_plan_follows_a_corrected_start() -> None:
    given = Given()
    journey = given.journey("2024-03-01")
    given.plan(journey, "2024-04-20")  # day 50
    given.correct(journey, "starts_on", "2024-03-01", "2024-02-01")  # now day 79: late

    assert figures_2024(given)["groups"]["total"]["plans"] == {"counted": 1, "on_time": 0}


# --- grouping by provider and by target group --------------------------------------------------


def test_group_by_provider_uses_the_provider_holding_the_journey_at_the_end_or_at_exit() -> None:
    given = Given()
    given.authorise(P1, "Ett AB")
    given.authorise(P2, "Två AB")
    given.authorise(P3, "Tre AB")
    given.journey("2023-01-01", provider_id=P1)  # P1 all year
    moved = given.journey("2023-01-01", provider_id=P1)
    given.provider(moved, P2, "2024-06-01")  # P2 at the end of the period
    given.journey("2023-01-01", "2024-03-01", "work", provider_id=P1)  # P1 at exit
    switched = given.journey("2023-01-01", provider_id=P2)
    given.provider(switched, P3, "2024-03-01")
    given.exit(switched, "2024-08-01", "studies")  # P3 at exit
    given.journey("2024-01-15", "2024-09-15", "illness", provider_id=P3)  # P3 at exit
    waiting = given.journey("2024-02-01", provider_id=P3)
    rescued = given.journey("2024-02-01", provider_id=P3)
    given.deauthorise(P3, "2024-10-01")  # P3's assignments end 2024-09-30
    given.provider(rescued, P1, "2024-10-20")  # rescued chose P1; waiting has no provider
    assert waiting

    data = figures_2024(given, "provider")
    groups = data["groups"]

    assert list(groups) == [P1, P2, P3, "none", "total"]
    assert groups[P1]["journeys"] == 3 and groups[P1]["exits"]["work"] == 1
    assert groups[P2]["journeys"] == 1 and groups[P2]["starts"] == 0
    assert groups[P3]["journeys"] == 2
    assert groups[P3]["exits"] == exits(studies=1, illness=1)
    assert groups[P3]["self_sufficient"] == 1
    assert groups["none"]["journeys"] == 1
    assert groups["total"]["journeys"] == 7


def test_a_corrected_provider_start_changes_who_holds_the_journey() -> None:
    given = Given()
    journey = given.journey("2023-01-01", provider_id=P1)
    given.provider(journey, P2, "2024-12-01")
    given.correct(journey, "provider_starts_on", "2024-12-01", "2025-01-15", provider_id=P2)

    groups = figures_2024(given, "provider")["groups"]

    assert list(groups) == [P1, "total"]


def test_a_provider_change_on_the_start_day_leaves_the_later_provider_holding_it() -> None:
    given = Given()
    journey = given.journey("2024-03-01", provider_id=P1)
    given.provider(journey, P2, "2024-03-01")

    groups = figures_2024(given, "provider")["groups"]

    assert list(groups) == [P2, "total"]
    assert groups[P2]["starts"] == 1


def test_follow_ups_of_exited_journeys_group_by_the_provider_at_exit() -> None:
    given = Given()
    journey = given.journey("2023-01-01", "2023-09-01", "work", insats="forstarkt", provider_id=P2)
    given.follow_up(journey, "2024-03-01", "sustained")

    groups = figures_2024(given, "provider")["groups"]

    assert groups[P2]["follow_ups"] == {"sustained": 1, "deviation": 0}
    assert groups[P2]["journeys"] == 0


def test_group_by_target_group_uses_the_decisions_target_group() -> None:
    given = Given()
    person = given.person()
    given.journey("2024-01-01", "2024-04-01", "work", target_group="youth", person=person)
    given.journey("2024-05-01", target_group="youth", person=person)
    given.journey("2024-02-01", target_group="family_reunification")

    groups = figures_2024(given, "target_group")["groups"]

    assert list(groups) == [
        "youth",
        "income_support",
        "newly_arrived_establishment",
        "newly_arrived_own_housing",
        "family_reunification",
        "after_establishment",
        "other",
        "total",
    ]
    assert groups["youth"]["journeys"] == 2 and groups["youth"]["customers"] == 1
    assert groups["youth"]["self_sufficient"] == 1
    assert groups["family_reunification"]["journeys"] == 1
    assert groups["income_support"]["journeys"] == 0
    assert groups["total"]["customers"] == 2


# --- requests --------------------------------------------------------------------------------


def test_an_unknown_grouping_or_a_reversed_period_is_refused() -> None:
    service = Given().service()

    with pytest.raises(Invalid) as unknown:
        service.figures(FROM, TO, "municipality")
    with pytest.raises(Invalid) as reversed_period:
        service.figures(TO, FROM)

    assert unknown.value.field == "group_by"
    assert reversed_period.value.field == "from"


def test_a_one_day_period() -> None:
    given = Given()
    given.journey("2024-06-01", "2024-06-01", "work")  # started and exited the same day

    total = given.service().figures(date(2024, 6, 1), date(2024, 6, 1))["groups"]["total"]

    assert total["journeys"] == 1 and total["starts"] == 1 and total["self_sufficient"] == 1
    assert total["avg_days"] == 0.0
