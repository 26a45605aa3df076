"""From facts and earlier runs to a run's lines (SPEC §4.3) — pure, no I/O.

A run for month M pays, per key with period ≤ M, what is earned as known now minus what the
earlier closed runs paid. Two ways to get there, with the same result:

- in full (`full=True`, and always for journeys that changed): the journey's whole
  entitlement through M minus the sums of its lines in the stored runs;
- incrementally, for a journey whose facts, rates and providers did not change since the last
  closed run L was computed: that run left the journey paid exactly its entitlement through L
  with these facts (every run pays the difference, so the sums telescope), hence what is due
  now is `journey_entitlement(.., M, after=L)` — no need to read its history.

The auditors' verification always takes the full way, so it checks the incremental one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.payments.model import Run, RunLine
from services.payments.rules import (
    JourneyFacts,
    Key,
    Line,
    RateSchedule,
    add_paid,
    journey_entitlement,
    run_lines,
)

Paid = dict[str, dict[Key, Line]]  # per journey: key → sums paid so far


@dataclass(frozen=True)
class Settled:
    """The last closed run before the month computed: `month` and the feed `position` it was
    computed from. Journeys unchanged since `position` were paid their entitlement through
    `month`."""

    month: str
    position: int


def paid_by_journey(runs: Iterable[Run], journeys: set[str] | None = None) -> Paid:
    """What the runs paid, summed per journey and key (only `journeys` when given); keys that
    net to nothing are dropped, so a fully paid journey compares equal to its entitlement."""
    paid: Paid = {}
    for run in runs:
        for line in run.lines:
            if journeys is not None and line.journey_id not in journeys:
                continue
            key = (line.journey_id, line.provider_id, line.period, line.type, line.voucher_id)
            add_paid(paid.setdefault(line.journey_id, {}), key, Line(line.days, line.rate,
                                                                    line.amount))
    for per_key in paid.values():
        for key in [k for k, v in per_key.items() if v.amount == 0 and not v.days]:
            del per_key[key]
    return paid


def insats_of_paid(runs: Iterable[Run]) -> dict[str, str]:
    return {line.journey_id: line.insats for run in runs for line in run.lines}


def compute_lines(
    month: str,
    journeys: Iterable[tuple[JourneyFacts, int]],
    rates: RateSchedule,
    deauthorised: Mapping[str, Sequence[date]],
    earlier_runs: Sequence[Run],
    settled: Settled | None,
    slow_providers: frozenset[str] = frozenset(),
) -> list[RunLine]:
    """The lines of the run for `month`.

    `journeys` yields (facts, changed_at). Without `settled` every journey is computed in full
    and `journeys` must be all of them; with it, journeys changed after `settled.position` or
    holding an assignment of a provider in `slow_providers` (de-authorisation recorded since)
    are computed in full, the others incrementally, and journeys not passed are taken to have
    nothing new."""
    out: list[RunLine] = []
    slow: list[JourneyFacts] = []
    for facts, changed_at in journeys:
        if (
            settled is None
            or changed_at > settled.position
            or (slow_providers and any(a.provider_id in slow_providers for a in facts.assignments))
        ):
            slow.append(facts)
            continue
        insats = facts.insats or ""
        for (jid, provider, period, kind, voucher), line in journey_entitlement(
            facts, rates, deauthorised, month, after=settled.month
        ).items():
            out.append(
                RunLine(period, provider, jid, insats, kind, voucher, line.days, line.rate,
                        line.amount)
            )

    wanted = None if settled is None else {f.journey_id for f in slow}
    paid = paid_by_journey(earlier_runs, wanted) if earlier_runs else {}
    for facts in slow:
        earned = journey_entitlement(facts, rates, deauthorised, month)
        before = paid.pop(facts.journey_id, {})
        if earned != before:
            out.extend(_lines(month, earned, before, facts.insats or ""))
    if paid:  # paid journeys the read model no longer knows: take back what they were paid
        insats_paid = insats_of_paid(earlier_runs)
        for jid, before in paid.items():
            out.extend(_lines(month, {}, before, insats_paid.get(jid, "")))
    out.sort(key=RunLine.sort_key)
    return out


def _lines(
    month: str, earned: Mapping[Key, Line], paid: Mapping[Key, Line], insats: str
) -> list[RunLine]:
    return [
        RunLine(period, provider, jid, insats, kind, voucher, line.days, line.rate, line.amount)
        for (jid, provider, period, kind, voucher), line in run_lines(month, earned, paid)
    ]
