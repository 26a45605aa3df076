"""The alert rules (SPEC §5): a pure function from a journey's facts and a date to its alerts.

Only facts effective on or before `as_of` count, so the same facts answer "what was flagged on
1 March", "what is flagged today" and "who turns red by January". The dates at which alerts
start are computed in `dates.py` (one place) and tabulated in docs/alerts.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from contracts.events import SELF_SUFFICIENT_REASONS
from services.alerts import dates
from services.alerts.facts import Assignment, JourneyFacts, ProviderHistory

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
    providers: Mapping[str, ProviderHistory] | None = None,
) -> list[Alert]:
    """The journey's alerts on `as_of`, in the order of KINDS."""
    if facts.withdrawn_on is not None:
        return []  # a withdrawn decision counts nowhere
    active = is_active(facts, as_of)
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


def quiet_from(facts: JourneyFacts) -> date | None:
    """The first day from which `evaluate` returns nothing for that day and every later one,
    given these facts; None while an alert may still come. Lets the store skip settled journeys
    (most of the history) instead of evaluating them every day."""
    if facts.withdrawn_on is not None:
        return date.min
    if facts.exit is None or any(c.reviewed_on is None for c in facts.claims):
        return None
    days = [facts.exit.exited_on]  # no active-journey alert from the exit
    days += [c.claimed_on for c in facts.claims] + [
        c.reviewed_on for c in facts.claims if c.reviewed_on
    ]
    if facts.exit.reason in SELF_SUFFICIENT_REASONS:
        due = dates.follow_up_due_on(facts.exit.exited_on)
        answers = [
            u.followed_up_on
            for u in facts.follow_ups
            if u.outcome == "deviation" or u.followed_up_on >= due
        ]
        if not answers:
            return None
        days.append(min(answers))
    return max(days)


def is_active(facts: JourneyFacts, as_of: date) -> bool:
    """Started on or before as_of, not exited on or before it, not withdrawn."""
    starts_on = facts.starts_on
    return (
        facts.withdrawn_on is None
        and starts_on is not None
        and starts_on <= as_of
        and not (facts.exit is not None and facts.exit.exited_on <= as_of)
    )


def provider_on(facts: JourneyFacts, as_of: date) -> str | None:
    """The provider responsible on `as_of`: the assignment in force then (for an exited
    journey, the one holding it on the exit date). After a de-authorisation this is still the
    de-authorised provider until a new one is chosen; `evaluate` flags that."""
    day = as_of
    if facts.exit is not None and facts.exit.exited_on <= as_of:
        day = facts.exit.exited_on
    current = _assignment_on(facts, day)
    return current.provider_id if current is not None else None


def _assignment_on(facts: JourneyFacts, day: date) -> Assignment | None:
    started = [(a.starts_on, i, a) for i, a in enumerate(facts.assignments) if a.starts_on <= day]
    return max(started)[2] if started else None


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


def _has_plan(facts: JourneyFacts, as_of: date) -> bool:
    return any(p.established_on <= as_of for p in facts.plans)


def _plan(facts: JourneyFacts, as_of: date) -> list[Alert]:
    assert facts.starts_on is not None
    if _has_plan(facts, as_of):
        return []
    overdue = dates.plan_overdue_from(facts.starts_on)
    if as_of >= overdue:
        return [Alert("plan_overdue", None, overdue)]
    due_soon = dates.plan_due_soon_from(facts.starts_on)
    if as_of >= due_soon:
        return [Alert("plan_due_soon", None, due_soon)]
    return []


def _internship(facts: JourneyFacts, as_of: date) -> list[Alert]:
    if facts.insats != "sai":
        return []
    plans = [
        (p.established_on, i, p) for i, p in enumerate(facts.plans) if p.established_on <= as_of
    ]
    if not plans:
        return []
    planned = max(plans)[2].planned_internship_start  # the plan in force on as_of
    if planned is None or any(d <= as_of for d in facts.internships_started):
        return []
    late = dates.internship_late_from(planned)
    return [Alert("internship_late", None, late)] if as_of >= late else []


def _follow_up(facts: JourneyFacts, as_of: date) -> list[Alert]:
    exit_ = facts.exit
    if exit_ is None or exit_.reason not in SELF_SUFFICIENT_REASONS or exit_.exited_on > as_of:
        return []
    due = dates.follow_up_due_on(exit_.exited_on)
    if as_of < due:
        return []
    # A deviation answers the follow-up whenever it is reported; a report of sustained
    # self-sufficiency only from the due date (an earlier one does not prove six months).
    if any(
        u.followed_up_on <= as_of and (u.outcome == "deviation" or u.followed_up_on >= due)
        for u in facts.follow_ups
    ):
        return []
    alerts = [Alert("follow_up_due", None, due)]
    overdue = dates.follow_up_overdue_from(exit_.exited_on)
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


def _provider_deauthorised(
    facts: JourneyFacts, as_of: date, providers: Mapping[str, ProviderHistory]
) -> list[Alert]:
    current = _assignment_on(facts, as_of)
    if current is None:
        return []
    since = deauthorised_from(providers.get(current.provider_id, ()), current.starts_on, as_of)
    return [Alert("provider_deauthorised", None, since)] if since is not None else []


def deauthorised_from(history: ProviderHistory, starts_on: date, as_of: date) -> date | None:
    """The first day in [starts_on, as_of] on which the provider was not authorised, if any.

    The assignment ends the day before; the journey then waits for a new provider (a later
    assignment, which `_assignment_on` picks up). A provider with no recorded history counts as
    authorised; a de-authorisation recorded after the assignment began also counts when it is
    dated earlier (the assignment then never really started)."""
    candidates = [starts_on] + [c.on for c in history if not c.authorised and starts_on < c.on]
    for day in sorted(d for d in candidates if d <= as_of):
        if authorised_on(history, day) is False:
            return day
    return None


def authorised_on(history: ProviderHistory, day: date) -> bool | None:
    """The provider's status on `day` (the latest change dated on or before it; None if none)."""
    known = [(c.on, i, c.authorised) for i, c in enumerate(history) if c.on <= day]
    return max(known)[2] if known else None
