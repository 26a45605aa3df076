"""Every date rule of the alerts, written once (documented in docs/alerts.md).

Day N counts from starts_on = day 0. Month arithmetic is calendar arithmetic: a month added to
the 31st lands on the last day of a shorter month, so a journey started 2026-01-31 turns green on
2026-04-30. Each function returns the FIRST day an alert is on; the rules in `rules.py` only
compare `as_of` with these days. When a plan and a follow-up are due is SPEC's, defined in the
public journey model (`JourneyFacts.plan_due_on`, `follow_up_due_on`); the alerts start from
those days.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from contracts import bounds

# Duration lights: (calendar months since starts_on, level), lowest first.
DURATION_LEVELS: tuple[tuple[int, str], ...] = ((3, "green"), (6, "yellow"), (12, "red"))

PLAN_DUE_SOON_DAY = 50  # plan_due_soon from day 50 through the due day (day 60)
FOLLOW_UP_OVERDUE_DAYS = 30  # forstarkt: overdue 30 days after the due date
BONUS_REVIEW_DAYS = 14  # a claim may wait 14 days; pending from the 15th


@lru_cache(maxsize=65536)  # a scan asks for the same few thousand start dates again and again
def add_months(day: date, months: int) -> date:
    """Calendar months; the day is clipped to the end of a shorter month."""
    return bounds.add_months(day, months)


def duration_level_from(starts_on: date, months: int) -> date:
    """First day of the duration level reached after `months` calendar months."""
    return add_months(starts_on, months)


def plan_due_soon_from(starts_on: date) -> date:
    """Day 50."""
    return bounds.add_days(starts_on, PLAN_DUE_SOON_DAY)


def plan_overdue_from(plan_due_on: date) -> date:
    """The day after the plan was due: the first day without a plan is overdue."""
    return bounds.add_days(plan_due_on, 1)


def internship_late_from(planned_start: date) -> date:
    """The day after the planned internship start: late once as_of > planned start."""
    return bounds.add_days(planned_start, 1)


def follow_up_overdue_from(follow_up_due_on: date) -> date:
    """30 days after the follow-up due date."""
    return bounds.add_days(follow_up_due_on, FOLLOW_UP_OVERDUE_DAYS)


def bonus_claim_pending_from(claimed_on: date) -> date:
    """Waiting for review for MORE than 14 days: from claimed_on + 15 days."""
    return bounds.add_days(claimed_on, BONUS_REVIEW_DAYS + 1)
