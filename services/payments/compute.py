"""From facts and earlier runs to a run's lines (SPEC §4.3) — pure, no I/O.

A run for month M pays, per key with period ≤ M, what is earned as known now minus what the
earlier closed runs paid. Two ways to get there, with the same result:

- in full (`full=True`, and always for journeys that changed): the journey's whole
  entitlement through M minus the sums of its lines in the stored runs;
- incrementally, for a journey whose facts, rates and providers did not change since the last
  closed run L was computed: that run left the journey paid exactly its entitlement through L
  with these facts (every run pays the difference, so the sums telescope), hence what is due
  now is `journey_entitlement(.., M, after=L)` — no need to read its history. For the most
  common such journey (ongoing, past its 14 days, same provider) that is full months with its
  provider, read from the row's derived columns without decoding its facts.

The auditors' verification always takes the full way, so it checks the incremental one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from contracts.bounds import add_days
from contracts.journey import Providers
from services.payments.model import Run, RunLine, line_order
from services.payments.projection import JourneyRow, decode_rows
from services.payments.rules import (
    JourneyFacts,
    Key,
    Line,
    RateSchedule,
    add_paid,
    journey_entitlement,
    last_day,
    next_month,
    prorata,
    unsorted_run_lines,
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
        if journeys is None:
            lines: Iterable[RunLine] = run.lines
        else:
            index = run.by_journey
            lines = [ln for jid in journeys for ln in index.get(jid, ())]
        for line in lines:
            key = (line.journey_id, line.provider_id, line.period, line.type, line.voucher_id)
            add_paid(
                paid.setdefault(line.journey_id, {}), key, Line(line.days, line.rate, line.amount)
            )
    for per_key in paid.values():
        for key in [k for k, v in per_key.items() if v.amount == 0 and not v.days]:
            del per_key[key]
    return paid


def insats_of_paid(runs: Iterable[Run]) -> dict[str, str]:
    return {line.journey_id: line.insats for run in runs for line in run.lines}


def compute_lines(
    month: str,
    rows: Sequence[JourneyRow],
    rates: RateSchedule,
    providers: Providers,
    earlier_runs: Sequence[Run],
    settled: Settled | None,
    slow_providers: frozenset[str] = frozenset(),
) -> list[RunLine]:
    """The lines of the run for `month`.

    Without `settled` every journey is computed in full and `rows` must be all of them. With
    it, journeys changed after `settled.position` or holding an assignment of a provider in
    `slow_providers` (de-authorisation recorded since) are computed in full, the others
    incrementally, and journeys not passed are taken to have nothing new."""
    out: list[RunLine] = []
    to_decode: list[JourneyRow] = []
    if settled is None or slow_providers:  # the shortcut cannot see earlier assignments
        to_decode = list(rows)
    else:
        ongoing = _SettledOngoing(month, settled, rates, providers)
        for row in rows:
            if row.changed_at > settled.position or not ongoing.lines(row, out):
                to_decode.append(row)

    slow: list[JourneyFacts] = []
    for row, facts in zip(to_decode, decode_rows(to_decode), strict=True):
        if (
            settled is None
            or row.changed_at > settled.position
            or (slow_providers and any(a.provider_id in slow_providers for a in facts.assignments))
        ):
            slow.append(facts)
            continue
        insats = facts.insats or ""
        for (jid, provider, period, kind, voucher), line in journey_entitlement(
            facts, rates, providers, month, after=settled.month
        ).items():
            out.append(
                RunLine(
                    period, provider, jid, insats, kind, voucher, line.days, line.rate, line.amount
                )
            )

    wanted = None if settled is None else {f.journey_id for f in slow}
    paid = paid_by_journey(earlier_runs, wanted) if earlier_runs else {}
    for facts in slow:
        earned = journey_entitlement(facts, rates, providers, month)
        before = paid.pop(facts.journey_id, None)
        if before is None:  # nothing paid yet: all of it is due
            insats = facts.insats or ""
            out.extend(
                RunLine(
                    period, provider, jid, insats, kind, voucher, line.days, line.rate, line.amount
                )
                for (jid, provider, period, kind, voucher), line in earned.items()
            )
        elif earned != before:
            out.extend(_lines(month, earned, before, facts.insats or ""))
    if paid:  # paid journeys the read model no longer knows: take back what they were paid
        insats_paid = insats_of_paid(earlier_runs)
        for jid, before in paid.items():
            out.extend(_lines(month, {}, before, insats_paid.get(jid, "")))
    out.sort(key=line_order)
    return out


class _SettledOngoing:
    """The common case, read from a row's derived columns without decoding its facts.

    An ongoing journey (not exited, not withdrawn), unchanged since the settled run, whose
    insats had lasted its minimum days by the end of the settled month, whose current
    assignment began no later than the day after it, whose provider was never de-authorised,
    and with no voucher or bonus after the settled month, has earned since then exactly full
    months with its current provider — what `journey_entitlement(.., after=settled.month)`
    would give (a property test checks the two agree)."""

    def __init__(
        self,
        month: str,
        settled: Settled,
        rates: RateSchedule,
        providers: Providers,
    ):
        self.settled_month = settled.month
        self.settled_end = last_day(settled.month)
        self.day_after = (self.settled_end + timedelta(days=1)).isoformat()
        self.rates = rates
        # providers that were ever de-authorised: their journeys take the full path
        self.deauthorised = {p for p, f in providers.items() if any(not ok for _, ok in f.changes)}
        self.months: list[tuple[str, int]] = []
        period = next_month(settled.month)
        while period <= month:
            self.months.append((period, last_day(period).day))
            period = next_month(period)
        self._lasted: dict[str, bool] = {}
        self._full_months: dict[str, list[tuple[str, int, Decimal, Decimal]]] = {}

    def lines(self, row: JourneyRow, out: list[RunLine]) -> bool:
        """Append the row's new lines and return True, or return False (decode it instead)."""
        holder, insats, starts_on, since = row.holder, row.insats, row.starts_on, row.holder_since
        if (
            holder is None
            or insats is None
            or starts_on is None
            or since is None
            or since > self.day_after
            or row.extra_until > self.settled_month
            or holder in self.deauthorised
        ):
            return False
        lasted = self._lasted.get(starts_on)
        if lasted is None:
            start = date.fromisoformat(starts_on)
            threshold = add_days(start, self.rates.min_days(start) - 1)
            lasted = self._lasted[starts_on] = threshold <= self.settled_end
        if not lasted:
            return False
        months = self._full_months.get(insats)
        if months is None:
            months = self._full_months[insats] = [
                (period, dim, rate, prorata(rate, dim, dim))
                for period, dim in self.months
                for rate in (self.rates.monthly(insats, period),)
            ]
        jid = row.journey_id
        for period, dim, rate, amount in months:
            out.append(RunLine(period, holder, jid, insats, "monthly", "", dim, rate, amount))
        return True


def _lines(
    month: str, earned: Mapping[Key, Line], paid: Mapping[Key, Line], insats: str
) -> list[RunLine]:
    return [
        RunLine(period, provider, jid, insats, kind, voucher, line.days, line.rate, line.amount)
        for (jid, provider, period, kind, voucher), line in unsorted_run_lines(month, earned, paid)
    ]
