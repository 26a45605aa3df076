"""From facts and earlier runs to a run's lines (SPEC §4.3) — pure, no I/O.

A run for month M pays, per key with period ≤ M, what is earned as known now minus what the
earlier closed runs paid. Two ways to get there, with the same result:

- in full (`full=True`, and always for journeys that changed): the journey's whole
  entitlement through M minus the sums of its lines in the stored runs. For the most common
  journey nothing was paid for yet (ongoing, held from its start by one provider, no voucher
  or bonus: most of the first run ever) that is one line per month from its start, read from
  the row's derived columns without decoding its facts;
- incrementally, for a journey whose facts, rates and providers did not change since the last
  closed run L was computed: that run left the journey paid exactly its entitlement through L
  with these facts (every run pays the difference, so the sums telescope), hence what is due
  now is `journey_entitlement(.., M, after=L)` — no need to read its history. For the most
  common such journey (ongoing, past its 14 days, same provider) that is full months with its
  provider, read from the row's derived columns without decoding its facts.

The auditors' verification always takes the full way with every journey decoded
(`full=True`), so it checks the incremental one and the shortcuts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import chain, compress
from operator import itemgetter

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
    month_of,
    next_month,
    prorata,
    unsorted_run_lines,
)

Paid = dict[str, dict[Key, Line]]  # per journey: key → sums paid so far
MONTHLY = "monthly"  # the line type of monthly compensation
_JOURNEY_ID = itemgetter(0)  # of a JourneyRow
_LINE_JOURNEY = itemgetter(2)  # of a RunLine


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
        elif "by_journey" in run.__dict__ or len(journeys) * 16 > len(run.lines):
            index = run.by_journey  # (built once per run: runs are final)
            lines = [ln for jid in journeys for ln in index.get(jid, ())]
        else:  # a few journeys: one C-level pass over the lines beats indexing them all
            lines = compress(run.lines, map(journeys.__contains__, map(_LINE_JOURNEY, run.lines)))
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
    *,
    full: bool = False,
) -> list[RunLine]:
    """The lines of the run for `month`.

    Without `settled` every journey is computed in full and `rows` must be all of them. With
    it, journeys changed after `settled.position` or holding an assignment of a provider in
    `slow_providers` (de-authorisation recorded since) are computed in full, the others
    incrementally, and journeys not passed are taken to have nothing new.

    The most common journeys are read from their rows' derived columns without decoding their
    facts (`_SettledOngoing`, `_FreshOngoing`); `full=True` (the auditors' verification)
    decodes and computes every journey with `journey_entitlement` instead."""
    out: list[RunLine] = []
    sink = _Sink()
    to_decode: list[JourneyRow] = []
    paid: Paid | None = None
    if full:
        to_decode = list(rows)
    elif settled is None:
        # Nothing settled (the first run, or rates for settled months changed): a journey
        # nothing was paid for yet is owed its whole entitlement.
        paid = paid_by_journey(earlier_runs) if earlier_runs else {}
        fresh = _FreshOngoing(month, rates, providers, sink)
        to_decode = fresh.take(sorted(rows, key=_JOURNEY_ID), paid)
    elif slow_providers:  # the shortcut cannot see earlier assignments
        to_decode = list(rows)
    else:
        ongoing = _SettledOngoing(month, settled, rates, providers, sink)
        to_decode = ongoing.take(sorted(rows, key=_JOURNEY_ID), settled.position)

    slow: list[JourneyFacts] = []
    new = tuple.__new__
    for row, facts in zip(to_decode, decode_rows(to_decode), strict=True):
        if (
            settled is None
            or row.changed_at > settled.position
            or (slow_providers and any(a.provider_id in slow_providers for a in facts.assignments))
        ):
            slow.append(facts)
            continue
        insats = facts.insats or ""
        out.extend(
            [
                new(RunLine, (period, provider, jid, insats, kind, voucher, *line))
                for (jid, provider, period, kind, voucher), line in journey_entitlement(
                    facts, rates, providers, month, after=settled.month
                ).items()
            ]
        )

    if paid is None:
        wanted = None if settled is None else {f.journey_id for f in slow}
        paid = paid_by_journey(earlier_runs, wanted) if earlier_runs else {}
    for facts in slow:
        earned = journey_entitlement(facts, rates, providers, month)
        before = paid.pop(facts.journey_id, None)
        if before is None:  # nothing paid yet: all of it is due
            insats = facts.insats or ""
            out.extend(
                [
                    new(RunLine, (period, provider, jid, insats, kind, voucher, *line))
                    for (jid, provider, period, kind, voucher), line in earned.items()
                ]
            )
        elif earned != before:
            out.extend(_lines(month, earned, before, facts.insats or ""))
    if paid:  # paid journeys the read model no longer knows: take back what they were paid
        insats_paid = insats_of_paid(earlier_runs)
        for jid, before in paid.items():
            out.extend(_lines(month, {}, before, insats_paid.get(jid, "")))
    if not sink.buckets:
        out.sort(key=line_order)
        return out
    lines = sink.lines()  # sorted already
    if out:
        lines.extend(out)
        lines.sort(key=line_order)  # merges the sorted shortcut lines with the rest
    return lines


class _Sink:
    """The lines of the shortcut paths, gathered per (provider, period) in the order of the
    journeys' ids: one monthly line per journey in each, so the lists concatenated in the
    order of their keys are in the run's order (`line_order`) without a sort."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], list[RunLine]] = {}
        self._appenders: dict[str, dict[str, Callable[[RunLine], None]]] = {}

    def appenders(self, provider: str) -> dict[str, Callable[[RunLine], None]]:
        """period → the append of the provider's list for that period."""
        known = self._appenders.get(provider)
        if known is None:
            known = self._appenders[provider] = {}
        return known

    def appender(self, provider: str, period: str) -> Callable[[RunLine], None]:
        per_period = self.appenders(provider)
        append = per_period.get(period)
        if append is None:
            bucket: list[RunLine] = []
            self.buckets[(provider, period)] = bucket
            append = per_period[period] = bucket.append
        return append

    def lines(self) -> list[RunLine]:
        buckets = self.buckets
        return list(chain.from_iterable([buckets[key] for key in sorted(buckets)]))


class _FreshOngoing:
    """The common case of a run with nothing settled, for a journey nothing was paid for
    yet, read from its row's derived columns without decoding its facts.

    An ongoing journey (not exited, not withdrawn) held from its start by one provider that
    was never de-authorised, with no voucher or bonus, has earned through `month` exactly:
    nothing while the insats has not lasted its minimum days by the end of `month`, else one
    monthly line per month from its start's month, pro rata in the first — what
    `journey_entitlement(.., month)` gives (a property test checks the two agree)."""

    def __init__(self, month: str, rates: RateSchedule, providers: Providers, sink: _Sink):
        self.month = month
        self.limit = last_day(month)
        self.rates = rates
        self.sink = sink
        self.deauthorised = {p for p, f in providers.items() if any(not ok for _, ok in f.changes)}
        # (insats, starts_on) → [(period, days, rate, amount)]
        self._months: dict[tuple[str, str], list[tuple[str, int, Decimal, Decimal]]] = {}

    def _earned(self, insats: str, starts_on: str) -> list[tuple[str, int, Decimal, Decimal]]:
        start = date.fromisoformat(starts_on)
        threshold = add_days(start, self.rates.min_days(start) - 1)
        out: list[tuple[str, int, Decimal, Decimal]] = []
        if threshold > self.limit:
            return out  # not lasted its minimum days by the end of the month: nothing yet
        period, first = month_of(start), start.day
        while period <= self.month:
            dim = last_day(period).day
            days = dim - first + 1
            rate = self.rates.monthly(insats, period)
            out.append((period, days, rate, prorata(rate, days, dim)))
            period, first = next_month(period), 1
        return out

    def take(self, rows: Iterable[JourneyRow], paid: Paid) -> list[JourneyRow]:
        """Add the lines of the rows it can read to the sink; the others (to decode)."""
        rest: list[JourneyRow] = []
        keep = rest.append
        known = self._months
        deauthorised = self.deauthorised
        sink = self.sink
        new = tuple.__new__
        for row in rows:
            jid, _, _, insats, starts_on, holder, since, extra = row
            if (
                holder is None
                or insats is None
                or starts_on is None
                or since != starts_on
                or extra
                or holder in deauthorised
                or jid in paid
            ):
                keep(row)
                continue
            months = known.get((insats, starts_on))
            if months is None:
                months = known[(insats, starts_on)] = self._earned(insats, starts_on)
            if months:
                appenders = sink.appenders(holder)
                for period, days, rate, amount in months:
                    line = new(
                        RunLine, (period, holder, jid, insats, MONTHLY, "", days, rate, amount)
                    )
                    (appenders.get(period) or sink.appender(holder, period))(line)
        return rest


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
        sink: _Sink,
    ):
        self.settled_month = settled.month
        self.settled_end = last_day(settled.month)
        self.day_after = (self.settled_end + timedelta(days=1)).isoformat()
        self.rates = rates
        self.sink = sink
        # providers that were ever de-authorised: their journeys take the full path
        self.deauthorised = {p for p, f in providers.items() if any(not ok for _, ok in f.changes)}
        self.months: list[tuple[str, int]] = []
        period = next_month(settled.month)
        while period <= month:
            self.months.append((period, last_day(period).day))
            period = next_month(period)
        self._lasted: dict[str, bool] = {}
        # (provider, insats) → [(append, period, days, rate, amount)]
        self._plans: dict[tuple[str, str], list[_Planned]] = {}

    def _plan(self, holder: str, insats: str) -> list[_Planned]:
        return [
            (self.sink.appender(holder, period), period, dim, rate, prorata(rate, dim, dim))
            for period, dim in self.months
            for rate in (self.rates.monthly(insats, period),)
        ]

    def take(self, rows: Iterable[JourneyRow], position: int) -> list[JourneyRow]:
        """Add the new lines of the rows it can read to the sink (rows unchanged since
        `position`); the others (to decode)."""
        rest: list[JourneyRow] = []
        keep = rest.append
        day_after, settled_month = self.day_after, self.settled_month
        deauthorised, lasted_by_start, plans = self.deauthorised, self._lasted, self._plans
        new = tuple.__new__
        for row in rows:
            jid, _, changed_at, insats, starts_on, holder, since, extra = row
            if (
                changed_at > position
                or holder is None
                or insats is None
                or starts_on is None
                or since is None
                or since > day_after
                or extra > settled_month
                or holder in deauthorised
            ):
                keep(row)
                continue
            lasted = lasted_by_start.get(starts_on)
            if lasted is None:
                start = date.fromisoformat(starts_on)
                threshold = add_days(start, self.rates.min_days(start) - 1)
                lasted = lasted_by_start[starts_on] = threshold <= self.settled_end
            if not lasted:
                keep(row)
                continue
            plan = plans.get((holder, insats))
            if plan is None:
                plan = plans[(holder, insats)] = self._plan(holder, insats)
            for append, period, dim, rate, amount in plan:
                append(new(RunLine, (period, holder, jid, insats, MONTHLY, "", dim, rate, amount)))
        return rest


_Planned = tuple[Callable[[RunLine], None], str, int, Decimal, Decimal]


def _lines(
    month: str, earned: Mapping[Key, Line], paid: Mapping[Key, Line], insats: str
) -> list[RunLine]:
    new = tuple.__new__
    return [
        new(RunLine, (period, provider, jid, insats, kind, voucher, *line))
        for (jid, provider, period, kind, voucher), line in unsorted_run_lines(month, earned, paid)
    ]
