"""What providers have earned (SPEC §4.1–4.2, §4.4) — pure functions, no I/O.

A journey's public events are folded into `JourneyFacts` (latest fact wins, corrections
included). From those facts, the providers' de-authorisations and the rate tables,
`journey_entitlement` computes what has been earned **as known at the closing of month M**:
only periods up to M, and monthly compensation only when the insats had lasted
`min_days_before_payment` days by the end of M (a journey that exited earlier earns none).

An entitlement is a dict keyed by `(journey_id, provider_id, period 'YYYY-MM', line type,
voucher_id or '')`; a payout run pays the difference between it and what earlier runs paid
(`run_lines`).
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol

from contracts import journey as model
from contracts.bounds import MAX_AMOUNT
from contracts.events import PublicEvent
from contracts.journey import SPEC_RULES, JourneyFacts, ProviderFacts, Providers, Rules

LineType = Literal["monthly", "bonus", "voucher"]
LINE_TYPES: tuple[LineType, ...] = ("monthly", "bonus", "voucher")  # display order

# (journey_id, provider_id, period 'YYYY-MM', line type, voucher_id or '')
Key = tuple[str, str, str, str, str]

ORE = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_MIN_DAYS = 14

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


# --- months -------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def parse_month(month: str) -> tuple[int, int]:
    """'YYYY-MM' → (year, month); ValueError for anything else."""
    m = _MONTH.match(month) if isinstance(month, str) else None
    if m is None:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return int(m.group(1)), int(m.group(2))


def month_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def first_day(month: str) -> date:
    y, m = parse_month(month)
    return date(y, m, 1)


@lru_cache(maxsize=4096)
def last_day(month: str) -> date:
    y, m = parse_month(month)
    return date(y, m, calendar.monthrange(y, m)[1])


def next_month(month: str) -> str:
    y, m = parse_month(month)
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def half_up(value: Decimal) -> Decimal:
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


# --- rates ----------------------------------------------------------------------------------------


class RateMissing(Exception):
    """No rate is set for an insats type in a period: the run refuses (SPEC §4.1)."""

    def __init__(self, insats: str, month: str, kind: str = "monthly"):
        self.insats = insats
        self.month = month
        self.kind = kind
        what = "monthly compensation" if kind == "monthly" else "result bonus"
        super().__init__(
            f"no {what} rate is set for insats {insats!r} in {month}; "
            f"record a rate table (RatesSet) that covers it before running payouts"
        )


class RateOutOfBounds(RateMissing):
    """A stored rate beyond what the contract accepts (recorded by a release that did not
    bound amounts): the run refuses rather than compute with it."""

    def __init__(self, insats: str, month: str, kind: str, rate: Decimal):
        super().__init__(insats, month, kind)
        what = "monthly compensation" if kind == "monthly" else "result bonus"
        self.args = (
            f"the {what} rate for insats {insats!r} in force in {month} is {rate}, beyond "
            f"{MAX_AMOUNT:.2f} SEK; record a corrected rate table (RatesSet) for it",
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class RateTable:
    effective_from: date
    monthly: Mapping[str, Decimal | None]
    bonus: Mapping[str, Decimal | None]
    min_days_before_payment: int = DEFAULT_MIN_DAYS

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RateTable:
        def per_insats(values: Mapping[str, Any] | None) -> dict[str, Decimal | None]:
            return {k: (None if v is None else Decimal(str(v))) for k, v in (values or {}).items()}

        return cls(
            effective_from=date.fromisoformat(payload["effective_from"]),
            monthly=per_insats(payload.get("monthly")),
            bonus=per_insats(payload.get("bonus")),
            min_days_before_payment=int(payload.get("min_days_before_payment", DEFAULT_MIN_DAYS)),
        )


class Policy(Protocol):
    """What a policy scenario changes beyond the rate tables (`contracts.scenario.Scenario`):
    SPEC's rule parameters and the voucher bounds, from dates on."""

    def rules_on(self, day: date) -> Rules: ...

    def voucher_amount(self, amount: Decimal, granted_on: date) -> Decimal: ...

    def changes_on(self, day: date) -> Sequence[Any]: ...

    def change_dates(self) -> list[date]: ...


class RateSchedule:
    """The effective-dated rate tables; the table in force on a day is the latest one whose
    effective_from is on or before it (one table per effective_from: a later RatesSet with the
    same effective_from replaced the earlier one before it got here).

    `policy` (the sandbox's scenario, `under`) changes the rules and vouchers too; real runs
    have none: SPEC's rules and the vouchers as granted."""

    def __init__(self, tables: Iterable[RateTable] = (), policy: Policy | None = None):
        by_day = {t.effective_from: t for t in tables}
        self.tables: tuple[RateTable, ...] = tuple(by_day[d] for d in sorted(by_day))
        self.policy = policy
        self._starts = [t.effective_from for t in self.tables]
        self._monthly: dict[tuple[str, str], Decimal] = {}

    def under(self, policy: Policy) -> RateSchedule:
        """These tables with a scenario's changes applied from their dates on (the table of
        each day: the real one in force, then every change in force, oldest first), and its
        rules and voucher bounds."""
        days = sorted({*self._starts, *(d for d in policy.change_dates() if self._starts)})
        tables = []
        for day in days:
            base = self.in_force(day)
            if base is None:  # before the first real table: a change alone sets no rate
                continue
            monthly, bonus = dict(base.monthly), dict(base.bonus)
            min_days = base.min_days_before_payment
            for change in policy.changes_on(day):
                if change.monthly is not None:
                    monthly.update(change.monthly.given())
                if change.bonus is not None:
                    bonus.update(change.bonus.given())
                if change.min_days_before_payment is not None:
                    min_days = change.min_days_before_payment
            tables.append(RateTable(day, monthly, bonus, min_days))
        return RateSchedule(tables, policy)

    def in_force(self, day: date) -> RateTable | None:
        i = bisect.bisect_right(self._starts, day)
        return self.tables[i - 1] if i else None

    def monthly(self, insats: str, month: str) -> Decimal:
        """The monthly cheque in force on the month's first day."""
        cached = self._monthly.get((insats, month))
        if cached is not None:
            return cached
        table = self.in_force(first_day(month))
        rate = table.monthly.get(insats) if table is not None else None
        if rate is None:
            raise RateMissing(insats, month)
        if rate > MAX_AMOUNT:
            raise RateOutOfBounds(insats, month, "monthly", rate)
        self._monthly[(insats, month)] = rate
        return rate

    def bonus(self, insats: str, on: date) -> Decimal:
        table = self.in_force(on)
        rate = table.bonus.get(insats) if table is not None else None
        if rate is None:
            raise RateMissing(insats, month_of(on), kind="bonus")
        if rate > MAX_AMOUNT:
            raise RateOutOfBounds(insats, month_of(on), "bonus", rate)
        return rate

    def min_days(self, on: date) -> int:
        table = self.in_force(on) or (self.tables[0] if self.tables else None)
        return table.min_days_before_payment if table is not None else DEFAULT_MIN_DAYS


# --- journeys and providers: the public journey model (contracts.journey) ---------------------
# Payments read a journey's assignments, exit, vouchers and bonus approval; what those are after
# every kind of correction, and who holds a journey after a de-authorisation, is the shared
# model's (`JourneyFacts.spans`). Provider details in force on a day: `ProviderFacts`.

# The parts of the journey facts payments store and read (`contracts.journey.encode`).
PAYMENT_PARTS: frozenset[str] = frozenset({"vouchers", "reviews"})


# --- entitlement --------------------------------------------------------------------------------


class Line(NamedTuple):
    """One entitlement line: days (monthly only), the rate used, the amount.

    A named tuple, not a dataclass: runs build hundreds of thousands of them."""

    days: int | None
    rate: Decimal | None
    amount: Decimal


# Spans as (provider_id, first day ordinal, last day ordinal or None): runs walk every active
# journey, and plain tuples of ints are several times cheaper than dates.
_OrdSpan = tuple[str, int, int | None]


def _spans(facts: JourneyFacts, providers: Providers) -> list[_OrdSpan]:
    return [
        (
            s.provider_id,
            s.starts_on.toordinal(),
            None if s.ends_on is None else s.ends_on.toordinal(),
        )
        for s in facts.spans(providers)
    ]


def _holder(spans: Sequence[_OrdSpan], day: int) -> str | None:
    for provider, lo, hi in spans:
        if lo <= day and (hi is None or day <= hi):
            return provider
    return None


# Month arithmetic on day ordinals, cached: runs touch the same few dozen months over and over.
_MONTH_BOUNDS: dict[tuple[int, int], tuple[int, int, int, str]] = {}


def _month_bounds(y: int, m: int) -> tuple[int, int, int, str]:
    """(first day ordinal, last day ordinal, days in month, 'YYYY-MM')."""
    b = _MONTH_BOUNDS.get((y, m))
    if b is None:
        dim = calendar.monthrange(y, m)[1]
        first = date(y, m, 1).toordinal()
        b = (first, first + dim - 1, dim, f"{y:04d}-{m:02d}")
        _MONTH_BOUNDS[(y, m)] = b
    return b


_BY_INDEX: dict[int, tuple[int, int, int, str]] = {}  # year × 12 + month − 1 → bounds


def _month_of_index(index: int) -> tuple[int, int, int, str]:
    bounds = _month_bounds(index // 12, index % 12 + 1)
    _BY_INDEX[index] = bounds
    return bounds


@lru_cache(maxsize=4096)
def _end_ordinal(month: str) -> int:
    return _month_bounds(*parse_month(month))[1]


@lru_cache(maxsize=65536)
def _period_of_ordinal(day: int) -> str:
    d = date.fromordinal(day)
    return f"{d.year:04d}-{d.month:02d}"


_PRORATA: dict[tuple[Decimal, int, int], Decimal] = {}


def prorata(rate: Decimal, days: int, days_in_month: int) -> Decimal:
    """rate × days / days in month, rounded half-up to öre."""
    key = (rate, days, days_in_month)
    amount = _PRORATA.get(key)
    if amount is None:
        amount = half_up(rate * days / days_in_month)
        if len(_PRORATA) < 100_000:
            _PRORATA[key] = amount
    return amount


def journey_entitlement(
    facts: JourneyFacts,
    rates: RateSchedule,
    providers: Providers,
    through: str,
    *,
    after: str | None = None,
) -> dict[Key, Line]:
    """What the journey has earned as known at the closing of month `through`.

    Monthly compensation: per provider and month, the rate in force on the month's first day ×
    days held / days in the month — only once the insats has lasted `min_days_before_payment`
    days by the end of `through` (and not exited before that), and then from its first day.
    Bonus: on an approved claim for a qualifying exit, to the provider holding the journey on
    exited_on, in the approval's month, at the bonus rate in force on exited_on. Vouchers: to
    the provider holding the journey on granted_on, in that month.

    With `after` (a month before `through`): only what was added between the closing of
    `after` and that of `through` with the same facts — exactly the keys of
    `journey_entitlement(.., through)` that `journey_entitlement(.., after)` lacks (the two agree
    on the keys they share). Runs use it for journeys whose facts did not change since the last
    closed run, so they need not recompute (or compare) a journey's whole history."""
    out: dict[Key, Line] = {}
    assignments = facts.assignments
    insats = facts.insats
    if facts.withdrawal is not None or not assignments or insats is None:
        return out
    jid = facts.journey_id
    start = assignments[0].starts_on
    exit_ = facts.exit
    exit_on = exit_.exited_on.toordinal() if exit_ is not None else None
    spans = _spans(facts, providers)
    limit = _end_ordinal(through)

    threshold = start.toordinal() + rates.min_days(start) - 1  # the day the insats lasted N days
    if threshold <= limit and (exit_on is None or exit_on >= threshold):
        floor = 0
        if after is not None:
            after_end = _end_ordinal(after)
            if threshold <= after_end:
                floor = after_end + 1  # earlier months were already earned at `after`
        days: dict[tuple[str, int], int] = {}  # (provider, month index) → days held
        for provider, lo, end in spans:
            hi = limit if end is None or end > limit else end
            if lo < floor:
                lo = floor
            if lo > hi:
                continue
            d = date.fromordinal(lo)
            index = d.year * 12 + d.month - 1
            while lo <= hi:
                bounds = _BY_INDEX.get(index) or _month_of_index(index)
                last = bounds[1]
                k = (provider, index)
                days[k] = days.get(k, 0) + (hi if hi < last else last) - lo + 1
                lo = last + 1
                index += 1
        for (provider, index), n in days.items():
            _, _, dim, period = _BY_INDEX[index]
            rate = rates.monthly(insats, period)
            out[(jid, provider, period, "monthly", "")] = Line(n, rate, prorata(rate, n, dim))

    lowest = after or ""  # bonus and vouchers: periods in (after, through]
    policy = rates.policy
    approved = None
    if exit_ is not None:
        rules = SPEC_RULES if policy is None else policy.rules_on(exit_.exited_on)
        approved = facts.bonus_earned_on(rules)
    if approved is not None and exit_ is not None and exit_on is not None:
        period = _period_of_ordinal(approved.toordinal())
        if lowest < period <= through:
            holder = _holder(spans, exit_on)
            if holder is not None:
                bonus = rates.bonus(insats, exit_.exited_on)
                out[(jid, holder, period, "bonus", "")] = Line(None, bonus, bonus)

    for voucher in facts.vouchers:
        granted = voucher.granted_on.toordinal()
        period = _period_of_ordinal(granted)
        if lowest < period <= through:
            holder = _holder(spans, granted)
            if holder is not None:
                key = (jid, holder, period, "voucher", voucher.voucher_id)
                amount = voucher.amount
                if policy is not None:
                    amount = policy.voucher_amount(amount, voucher.granted_on)
                out[key] = Line(None, None, amount)
    return out


def entitlement(
    journeys: Iterable[JourneyFacts],
    rates: RateSchedule,
    providers: Providers,
    through: str,
) -> dict[Key, Line]:
    """Every journey's entitlement as known at the closing of `through`."""
    out: dict[Key, Line] = {}
    for facts in journeys:
        out.update(journey_entitlement(facts, rates, providers, through))
    return out


# --- runs ---------------------------------------------------------------------------------------


def add_paid(paid: dict[Key, Line], key: Key, line: Line) -> None:
    """Accumulate one run line into what has been paid per key (sums of days and amounts; the
    rate last used)."""
    before = paid.get(key)
    if before is None:
        paid[key] = line
        return
    days = (
        None if before.days is None and line.days is None else (before.days or 0) + (line.days or 0)
    )
    paid[key] = Line(days, line.rate, before.amount + line.amount)


def run_lines(
    month: str, earned: Mapping[Key, Line], paid: Mapping[Key, Line]
) -> list[tuple[Key, Line]]:
    """What a run for `month` pays: per key with period ≤ month, earned minus already paid.
    Days of a monthly line are the difference in days too; keys that net to nothing are left
    out. Sorted by provider, period, journey, line type, voucher."""
    out = unsorted_run_lines(month, earned, paid)
    out.sort(key=line_sort_key)
    return out


def unsorted_run_lines(
    month: str, earned: Mapping[Key, Line], paid: Mapping[Key, Line]
) -> list[tuple[Key, Line]]:
    out: list[tuple[Key, Line]] = []
    for key in earned.keys() | paid.keys():
        if key[2] > month:
            continue
        e = earned.get(key)
        p = paid.get(key)
        e_amount = e.amount if e is not None else ZERO
        p_amount = p.amount if p is not None else ZERO
        amount = e_amount - p_amount
        days: int | None = None
        if key[3] == "monthly":
            days = ((e.days or 0) if e else 0) - ((p.days or 0) if p else 0)
        if amount == 0 and not days:
            continue
        rate = e.rate if e is not None else (p.rate if p is not None else None)
        out.append((key, Line(days, rate, amount)))
    return out


def line_sort_key(item: tuple[Key, Line]) -> tuple[str, str, str, str, str]:
    """Provider, period, journey, line type, voucher: the order of every run's lines."""
    (jid, provider, period, kind, voucher), _ = item
    return (provider, period, jid, kind, voucher)


# --- everything from a list of events (tests, baselines, spot checks) ----------------------------


@dataclass
class Known:
    """Journeys, providers and rates as folded from a list of public events."""

    journeys: dict[str, JourneyFacts]
    providers: dict[str, ProviderFacts]
    rates: RateSchedule

    def entitlement(self, through: str) -> dict[Key, Line]:
        return entitlement(
            self.journeys.values(),
            self.rates,
            self.providers,
            through,
        )


def replay(events: Iterable[PublicEvent]) -> Known:
    events = list(events)
    tables: dict[date, RateTable] = {}
    for e in events:
        if e.type == "RatesSet":
            table = RateTable.from_payload(e.payload)
            tables[table.effective_from] = table
    return Known(model.fold(events), model.fold_providers(events), RateSchedule(tables.values()))
