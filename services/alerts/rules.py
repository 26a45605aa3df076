"""The alert rules (SPEC §5): a pure function from a journey's facts and a date to its alerts.

Only facts effective on or before `as_of` count, so the same facts answer "what was flagged on
1 March", "what is flagged today" and "who turns red by January". The journey's facts, and what
SPEC defines on them (active on a day, plan due, follow-up due, claims, who holds the journey),
are the public journey model's (`contracts.journey`); the dates at which alerts start are
computed in `dates.py` (one place) and tabulated in docs/alerts.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from contracts.journey import FollowUp, JourneyFacts, Providers
from services.alerts import dates

KINDS: tuple[str, ...] = (
    "duration",
    "plan_due_soon",
    "plan_overdue",
    "internship_late",
    "follow_up_due",
    "follow_up_overdue",
    "bonus_claim_pending",
    "provider_deauthorised",
)
LEVELS: tuple[str, ...] = tuple(level for _, level in dates.DURATION_LEVELS)

# Swedish labels for municipal staff (CLI, reports).
KIND_LABELS: dict[str, str] = {
    "duration": "Tid i insats",
    "plan_due_soon": "Genomförandeplan snart försenad",
    "plan_overdue": "Genomförandeplan försenad",
    "internship_late": "Språkpraktik ej påbörjad",
    "follow_up_due": "Uppföljning ska göras",
    "follow_up_overdue": "Uppföljning försenad",
    "bonus_claim_pending": "Resultatbonus väntar på granskning",
    "provider_deauthorised": "Anordnaren avauktoriserad – nytt val krävs",
}
LEVEL_LABELS: dict[str, str] = {"green": "grön", "yellow": "gul", "red": "röd"}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a journey on a date. `level` is set for duration only; `since` is the
    first day of the alert (for duration: of its current level)."""

    kind: str
    level: str | None
    since: date


def evaluate(
    facts: JourneyFacts,
    as_of: date,
    providers: Providers | None = None,
) -> list[Alert]:
    """The journey's alerts on `as_of`, in the order of KINDS."""
    if facts.withdrawal is not None:
        return []  # a withdrawn decision counts nowhere
    active = facts.active_on(as_of)
    alerts: list[Alert] = []
    if active:
        alerts += _duration(facts, as_of)
        alerts += _plan(facts, as_of)
        alerts += _internship(facts, as_of)
    alerts += _follow_up(facts, as_of)
    alerts += _bonus_claim(facts, as_of)
    if active:
        alerts += _provider_deauthorised(facts, as_of, providers or {})
    return alerts


def due_on(kind: str, facts: JourneyFacts) -> date | None:
    """The deadline an alert is about, where SPEC sets one: the plan's due date (60 days after
    the start), the planned start of the SAI internship, the follow-up's due date (six months
    after the exit). Duration, a waiting bonus claim and a de-authorised provider have none."""
    if kind in ("plan_due_soon", "plan_overdue"):
        return facts.plan_due_on
    if kind == "internship_late":
        return facts.plan.planned_internship_start if facts.plan is not None else None
    if kind in ("follow_up_due", "follow_up_overdue"):
        return facts.follow_up_due_on
    return None


def quiet_from(facts: JourneyFacts) -> date | None:
    """The first day from which `evaluate` returns nothing for that day and every later one,
    given these facts; None while an alert may still come. Lets the store skip settled journeys
    (most of the history) instead of evaluating them every day."""
    if facts.withdrawal is not None:
        return date.min
    claims = facts.claims
    if facts.exit is None or any(c.reviewed_on is None for c in claims):
        return None
    days = [facts.exit.exited_on]  # no active-journey alert from the exit
    days += [c.claimed_on for c in claims] + [c.reviewed_on for c in claims if c.reviewed_on]
    due = facts.follow_up_due_on
    if due is not None:
        answers = [u.followed_up_on for u in facts.follow_ups if _answers_follow_up(u, due)]
        if not answers:
            return None
        days.append(min(answers))
    return max(days)


def _answers_follow_up(u: FollowUp, due: date) -> bool:
    # A deviation answers the follow-up whenever it is reported; a report of sustained
    # self-sufficiency only from the due date (an earlier one does not prove six months).
    return u.outcome == "deviation" or u.followed_up_on >= due


# --- one function per kind --------------------------------------------------------------------


def _duration(facts: JourneyFacts, as_of: date) -> list[Alert]:
    assert facts.starts_on is not None
    reached = [
        (dates.duration_level_from(facts.starts_on, months), level)
        for months, level in dates.DURATION_LEVELS
    ]
    reached = [(since, level) for since, level in reached if since <= as_of]
    if not reached:
        return []
    since, level = reached[-1]
    return [Alert("duration", level, since)]


def _plan(facts: JourneyFacts, as_of: date) -> list[Alert]:
    assert facts.starts_on is not None and facts.plan_due_on is not None
    if facts.plan is not None and facts.plan.established_on <= as_of:
        return []
    overdue = dates.plan_overdue_from(facts.plan_due_on)
    if as_of >= overdue:
        return [Alert("plan_overdue", None, overdue)]
    due_soon = dates.plan_due_soon_from(facts.starts_on)
    if as_of >= due_soon:
        return [Alert("plan_due_soon", None, due_soon)]
    return []


def _internship(facts: JourneyFacts, as_of: date) -> list[Alert]:
    plan = facts.plan
    if facts.insats != "sai" or plan is None or plan.established_on > as_of:
        return []
    planned = plan.planned_internship_start
    if planned is None or any(i.started_on <= as_of for i in facts.internships):
        return []
    late = dates.internship_late_from(planned)
    return [Alert("internship_late", None, late)] if as_of >= late else []


def _follow_up(facts: JourneyFacts, as_of: date) -> list[Alert]:
    exit_ = facts.exit
    due = facts.follow_up_due_on
    if exit_ is None or due is None or exit_.exited_on > as_of or as_of < due:
        return []
    if any(u.followed_up_on <= as_of and _answers_follow_up(u, due) for u in facts.follow_ups):
        return []
    alerts = [Alert("follow_up_due", None, due)]
    overdue = dates.follow_up_overdue_from(due)
    if facts.insats == "forstarkt" and as_of >= overdue:
        alerts.append(Alert("follow_up_overdue", None, overdue))
    return alerts


def _bonus_claim(facts: JourneyFacts, as_of: date) -> list[Alert]:
    waiting = [
        c
        for c in facts.claims
        if c.claimed_on <= as_of and (c.reviewed_on is None or c.reviewed_on > as_of)
    ]
    if not waiting:
        return []
    pending = dates.bonus_claim_pending_from(max(c.claimed_on for c in waiting))
    return [Alert("bonus_claim_pending", None, pending)] if as_of >= pending else []


def _provider_deauthorised(facts: JourneyFacts, as_of: date, providers: Providers) -> list[Alert]:
    since = facts.waiting_since(as_of, providers)
    return [Alert("provider_deauthorised", None, since)] if since is not None else []
