"""The figures of SPEC §6 as pure functions over compact per-journey facts.

Definitions for a period [from, to] (both dates inclusive); every date is the corrected one:

- **journeys** (inskrivna i insats): journeys that started (first provider's starts_on) on or
  before `to` and did not exit before `from`. Withdrawn decisions and decisions never started
  count nowhere, in no figure.
- **customers** (kunder): distinct `person_ref` among those journeys. A person in two insatser
  counts once per group they appear in and once in "total", but twice among journeys.
- **starts** (påbörjade): journeys whose starts_on is within the period.
- **exits** (avslut) per reason, all nine reasons listed (zeros too): journeys whose exited_on is
  within the period, by the (corrected) exit reason.
- **self_sufficient** (egen försörjning): exits within the period for work, studies or own
  business.
- **rate_of_journeys** = self_sufficient / journeys; **rate_of_exits** = self_sufficient / exits.
  Fractions 0–1 rounded half-up to 4 decimals; null when the denominator is 0.
- **avg_days** / **median_days**: over the self-sufficient exits in the period, days =
  exited_on − starts_on. The average is rounded half-up to 1 decimal; the median is exact (a
  whole number or a half). Null when there are none.
- **follow_ups** {sustained, deviation}: forstarkt journeys with a follow-up recorded
  (followed_up_on) within the period, each journey counted once, by the outcome of its latest
  follow-up within the period (latest followed_up_on; the later recorded on a tie). The journey
  need not be in insats during the period (follow-ups come after the exit). Zero for other
  insatser.
- **plans_on_time_share**: among journeys in insats, those counted are the ones whose plan was
  established within the period, or whose plan was due (corrected starts_on + 60 days) within the
  period with a settled outcome: a plan exists, or the due date has passed (is before `as_of`)
  while the journey was still in insats on it (not exited before the due date). A journey that
  exited before its due date without a plan is not counted: the obligation never fell due.
  On time = the (earliest) plan was established on or before the due date. Share = on time /
  counted, 4 decimals half-up, null when none are counted.
- **group_by provider**: a journey belongs to the provider holding it on min(`to`, exited_on),
  i.e. at the end of the period or at its exit (the journey model's responsible provider,
  `contracts.journey`: assignments end at the next provider's start, the exit or the day before
  a de-authorisation); a journey held by nobody on that date (waiting for a new provider after
  a de-authorisation) is grouped as `none`. **group_by target_group**: the decision's target group.
"""

from __future__ import annotations

import json
import statistics as pystats
from collections.abc import Container, Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from contracts.events import EXIT_REASONS, INSATS_TYPES, SELF_SUFFICIENT_REASONS, TARGET_GROUPS
from services.platform.refusal import Invalid
from services.statistics.facts import FactsRow

GROUP_BYS: Final[tuple[str, ...]] = ("insats", "provider", "target_group")
TOTAL: Final = "total"
NO_PROVIDER: Final = "none"

RATE_QUANTUM: Final = Decimal("0.0001")
DAYS_QUANTUM: Final = Decimal("0.1")

_REASON_INDEX: Final[dict[str, int]] = {r: i for i, r in enumerate(EXIT_REASONS)}
_OTHER_INDEX: Final = _REASON_INDEX["other"]
_SELF_SUFFICIENT_INDEXES: Final = frozenset(_REASON_INDEX[r] for r in SELF_SUFFICIENT_REASONS)


def rate(numerator: int, denominator: int) -> float | None:
    """A fraction rounded half-up to 4 decimals; null for an empty denominator."""
    if denominator == 0:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(RATE_QUANTUM, ROUND_HALF_UP))


def average_days(days: Sequence[int]) -> float | None:
    """The mean rounded half-up to 1 decimal (141.45 → 141.5)."""
    if not days:
        return None
    mean = Decimal(sum(days)) / Decimal(len(days))
    return float(mean.quantize(DAYS_QUANTUM, ROUND_HALF_UP))


def median_days(days: Sequence[int]) -> float | None:
    if not days:
        return None
    return float(pystats.median(days))


class _Acc:
    """Running sums for one group."""

    __slots__ = (
        "days",
        "deviation",
        "exits",
        "journeys",
        "persons",
        "plans_counted",
        "plans_on_time",
        "self_sufficient",
        "starts",
        "sustained",
    )

    def __init__(self) -> None:
        self.journeys = 0
        self.persons: set[str] = set()
        self.starts = 0
        self.exits = [0] * len(EXIT_REASONS)
        self.self_sufficient = 0
        self.days: list[int] = []
        self.sustained = 0
        self.deviation = 0
        self.plans_counted = 0
        self.plans_on_time = 0

    @classmethod
    def merged(cls, parts: Iterable[_Acc]) -> _Acc:
        """The sums over disjoint groups: every journey is in exactly one group, a person
        may be in several (counted once)."""
        total = cls()
        for part in parts:
            total.journeys += part.journeys
            total.persons |= part.persons
            total.starts += part.starts
            total.exits = [a + b for a, b in zip(total.exits, part.exits, strict=True)]
            total.self_sufficient += part.self_sufficient
            total.days.extend(part.days)
            total.sustained += part.sustained
            total.deviation += part.deviation
            total.plans_counted += part.plans_counted
            total.plans_on_time += part.plans_on_time
        return total

    def result(self) -> dict[str, Any]:
        exits_total = sum(self.exits)
        self_sufficient = self.self_sufficient
        return {
            "journeys": self.journeys,
            "customers": len(self.persons),
            "starts": self.starts,
            "exits": dict(zip(EXIT_REASONS, self.exits, strict=True)),
            "exits_total": exits_total,
            "self_sufficient": self_sufficient,
            "rate_of_journeys": rate(self_sufficient, self.journeys),
            "rate_of_exits": rate(self_sufficient, exits_total),
            "avg_days": average_days(self.days),
            "median_days": median_days(self.days),
            "follow_ups": {"sustained": self.sustained, "deviation": self.deviation},
            "plans": {"counted": self.plans_counted, "on_time": self.plans_on_time},
            "plans_on_time_share": rate(self.plans_on_time, self.plans_counted),
        }


def holder_on(spans: Sequence[Sequence[str | None]], on: str) -> str | None:
    """The provider holding the journey on `on` (ISO date): the stored spans are the journey
    model's (`JourneyFacts.spans`, de-authorisations included), so this only looks it up."""
    for starts_on, ends_on, provider_id in spans:
        if starts_on is not None and starts_on <= on and (ends_on is None or on <= ends_on):
            return provider_id
    return None


def latest_follow_up(
    follow_ups: Iterable[Sequence[str]], period_from: str, period_to: str
) -> str | None:
    """The outcome of the latest follow-up within [from, to] (later recorded wins a tie)."""
    best_on: str | None = None
    outcome: str | None = None
    for on, result in follow_ups:  # (followed_up_on, outcome) in recording order
        if period_from <= on <= period_to and (best_on is None or on >= best_on):
            best_on, outcome = on, result
    return outcome


def _group_keys(group_by: str, seen: Iterable[str]) -> list[str]:
    """Groups in a stable order; insatser and target groups are always all listed."""
    if group_by == "insats":
        return list(INSATS_TYPES) + sorted(set(seen) - set(INSATS_TYPES))
    if group_by == "target_group":
        return list(TARGET_GROUPS) + sorted(set(seen) - set(TARGET_GROUPS))
    providers = sorted(k for k in seen if k != NO_PROVIDER)
    return providers + ([NO_PROVIDER] if NO_PROVIDER in seen else [])


def check_request(period_from: date, period_to: date, group_by: str = "insats") -> None:
    """Refuse a request for figures naming the offending parameter ('group_by' or 'from')."""
    if group_by not in GROUP_BYS:
        raise Invalid(
            "invalid_input", f"group_by must be one of {', '.join(GROUP_BYS)}", "group_by"
        )
    if period_from > period_to:
        raise Invalid("invalid_input", "from must be on or before to", "from")


def compute_figures(
    facts: Iterable[FactsRow],
    period_from: date,
    period_to: date,
    group_by: str = "insats",
    *,
    as_of: date | None = None,
    not_self_sufficient: Container[int] = (),
) -> dict[str, Any]:
    """The figures for [period_from, period_to] grouped by `group_by`, plus "total".

    Returns the JSON shape of `GET /v1/statistics`. `as_of` settles which plan due dates have
    passed (default: none has a say, i.e. every due date within the period counts); see the
    module docstring for every definition. `not_self_sufficient`: the indexes of rows whose
    exit another rule than SPEC's does not count as self-sufficient (the policy sandbox)."""
    check_request(period_from, period_to, group_by)
    f_, t_ = period_from.isoformat(), period_to.isoformat()
    settled_before = as_of.isoformat() if as_of is not None else "9999-12-31"
    by_provider = group_by == "provider"
    by_insats = group_by == "insats"

    groups: dict[str, _Acc] = {}
    reason_index = _REASON_INDEX
    ss_indexes = _SELF_SUFFICIENT_INDEXES

    # Unpacking the row once is the fastest way through a million rows in CPython.
    for n, (
        insats,
        target_group,
        person,
        starts_on,
        exited_on,
        exit_reason,
        exit_days,
        established,
        due,
        follow_ups_json,
        providers_json,
        withdrawn,
    ) in enumerate(facts):
        if starts_on is None or starts_on > t_ or withdrawn:
            continue
        in_insats = exited_on is None or exited_on >= f_
        outcome = None
        if follow_ups_json and insats == "forstarkt":
            outcome = latest_follow_up(json.loads(follow_ups_json), f_, t_)
        if not in_insats and outcome is None:
            continue

        if by_insats:
            key = insats
        elif by_provider:
            on = t_ if exited_on is None or exited_on > t_ else exited_on
            key = holder_on(json.loads(providers_json), on) or NO_PROVIDER
        else:
            key = target_group
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = _Acc()

        if outcome is not None:
            if outcome == "sustained":
                acc.sustained += 1
            else:
                acc.deviation += 1
        if not in_insats:
            continue

        acc.journeys += 1
        acc.persons.add(person)
        if starts_on >= f_:
            acc.starts += 1
        if exited_on is not None and exited_on <= t_:
            i = reason_index.get(exit_reason or "other", _OTHER_INDEX)
            acc.exits[i] += 1
            if i in ss_indexes and (not not_self_sufficient or n not in not_self_sufficient):
                acc.self_sufficient += 1
                if exit_days is not None:
                    acc.days.append(exit_days)

        if established is not None and f_ <= established <= t_:
            counted = True
        elif due is not None and f_ <= due <= t_:
            counted = established is not None or (
                due < settled_before and (exited_on is None or exited_on >= due)
            )
        else:
            counted = False
        if counted:
            acc.plans_counted += 1
            if established is not None and due is not None and established <= due:
                acc.plans_on_time += 1

    result_groups = {
        key: (groups.get(key) or _Acc()).result() for key in _group_keys(group_by, groups)
    }
    result_groups[TOTAL] = _Acc.merged(groups.values()).result()
    return {"from": f_, "to": t_, "group_by": group_by, "groups": result_groups}
