"""A payout run as a value: its lines, totals, the providers it pays and how it is booked.

A closed run carries everything its files are rendered from (provider names and payment
accounts as known at closing, the booking accounts), so the files are reproducible from the
stored `PayoutRunClosed` event alone — after any rebuild of the read models or change of
configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from itertools import compress, groupby, pairwise
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from services.payments.rules import ZERO
from services.platform.collector import collector_paused
from services.platform.municipality import municipality_name, municipality_org_no

RunStatus = Literal["preview", "closed"]

# How a run's files are laid out. A closed run keeps the layout it was closed with (stored in
# its event; a run stored before layouts had a number is layout 1), so its files stay the same
# bytes forever; a new layout changes only the runs closed after it. Layout 2: the compensation
# basis names each customer by the decision reference too, shows the closing time in Swedish
# time and every amount with a decimal comma, and fits an A4 page.
FIRST_LAYOUT = 1
CURRENT_LAYOUT = 2


class RunLine(NamedTuple):
    period: str
    provider_id: str
    journey_id: str
    insats: str
    type: str  # 'monthly' | 'bonus' | 'voucher'
    voucher_id: str  # '' unless type == 'voucher'
    days: int | None
    rate: Decimal | None
    amount: Decimal

    def to_list(self) -> list[Any]:
        """The compact form stored in the run event."""
        return [
            self.period,
            self.provider_id,
            self.journey_id,
            self.insats,
            self.type,
            self.voucher_id,
            self.days,
            None if self.rate is None else money_text(self.rate),
            money_text(self.amount),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "provider_id": self.provider_id,
            "journey_id": self.journey_id,
            "insats": self.insats,
            "type": self.type,
            "voucher_id": self.voucher_id or None,
            "days": self.days,
            "rate": None if self.rate is None else money_text(self.rate),
            "amount": money_text(self.amount),
        }


# Provider, period, journey, line type, voucher: the order of every run's lines.
line_order = itemgetter(1, 0, 2, 4, 5)

_provider_of = itemgetter(1)
_amount_of = itemgetter(8)
_type_of = itemgetter(4)


def new_line(values: tuple[Any, ...]) -> RunLine:
    """`RunLine._make(values)` without the Python-level constructor (runs build hundreds of
    thousands of lines): `values` are the nine fields in order."""
    return tuple.__new__(RunLine, values)


class Memo(dict[Any, Any]):
    """A dict that computes a missing value once (`fn(key)`): lookups of known keys stay a
    C-level `d[key]` — for the per-line memos of money texts and file fragments."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]):
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.fn(key)
        return value


@dataclass(frozen=True)
class ProviderInfo:
    """A provider as known when the run was computed: who is paid, and where."""

    provider_id: str
    name: str
    bankgiro: str | None = None
    iban: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "bankgiro": self.bankgiro, "iban": self.iban}

    @classmethod
    def from_json(cls, provider_id: str, data: Mapping[str, Any]) -> ProviderInfo:
        return cls(provider_id, data.get("name") or "", data.get("bankgiro"), data.get("iban"))


DEFAULT_EXPENSE_ACCOUNT = "4580"
DEFAULT_PAYABLE_ACCOUNT = "2440"


@dataclass(frozen=True)
class Booking:
    """How runs are booked in the SIE file, and who issues them.

    Defaults (change them to the municipality's own chart of accounts):
    - expense account 4580 "Köp av huvudverksamhet, kundval" for every line type — Kommun-Bas
      class 45 (köp av huvudverksamhet); set a separate account per line type if the finance
      office books bonuses or supplementary cheques apart;
    - payable account 2440 "Leverantörsskulder" (BAS / Kommun-Bas);
    - voucher series "A", chart type "EUBAS97" (the SIE #KPTYP for BAS-derived charts).

    From the environment (`Booking.from_env`): INSATS_PAYOUT_ORGANISATION,
    INSATS_PAYOUT_ORGANISATION_NO, INSATS_PAYOUT_EXPENSE_ACCOUNT (all line types),
    INSATS_PAYOUT_EXPENSE_ACCOUNT_MONTHLY / _BONUS / _VOUCHER, INSATS_PAYOUT_PAYABLE_ACCOUNT,
    INSATS_PAYOUT_VOUCHER_SERIES, INSATS_PAYOUT_CHART_TYPE.
    """

    organisation: str = "Kommunen"  # INSATS_PAYOUT_ORGANISATION or INSATS_MUNICIPALITY_NAME
    organisation_no: str = ""
    expense_accounts: Mapping[str, str] = field(
        default_factory=lambda: {
            "monthly": DEFAULT_EXPENSE_ACCOUNT,
            "bonus": DEFAULT_EXPENSE_ACCOUNT,
            "voucher": DEFAULT_EXPENSE_ACCOUNT,
        }
    )
    payable_account: str = DEFAULT_PAYABLE_ACCOUNT
    account_names: Mapping[str, str] = field(
        default_factory=lambda: {
            DEFAULT_EXPENSE_ACCOUNT: "Köp av huvudverksamhet, kundval",
            DEFAULT_PAYABLE_ACCOUNT: "Leverantörsskulder",
        }
    )
    voucher_series: str = "A"
    chart_type: str = "EUBAS97"

    def to_json(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "organisation_no": self.organisation_no,
            "expense_accounts": dict(sorted(self.expense_accounts.items())),
            "payable_account": self.payable_account,
            "account_names": dict(sorted(self.account_names.items())),
            "voucher_series": self.voucher_series,
            "chart_type": self.chart_type,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Booking:
        default = cls()
        return cls(
            organisation=data.get("organisation", default.organisation),
            organisation_no=data.get("organisation_no", default.organisation_no),
            expense_accounts=dict(data.get("expense_accounts", default.expense_accounts)),
            payable_account=data.get("payable_account", default.payable_account),
            account_names=dict(data.get("account_names", default.account_names)),
            voucher_series=data.get("voucher_series", default.voucher_series),
            chart_type=data.get("chart_type", default.chart_type),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Booking:
        env = os.environ if environ is None else environ
        default = cls()
        base = env.get("INSATS_PAYOUT_EXPENSE_ACCOUNT")
        expense = {
            kind: env.get(f"INSATS_PAYOUT_EXPENSE_ACCOUNT_{kind.upper()}")
            or base
            or default.expense_accounts[kind]
            for kind in ("monthly", "bonus", "voucher")
        }
        return cls(
            organisation=municipality_name(env) or default.organisation,
            organisation_no=municipality_org_no(env) or default.organisation_no,
            expense_accounts=expense,
            payable_account=env.get("INSATS_PAYOUT_PAYABLE_ACCOUNT", default.payable_account),
            account_names=default.account_names,
            voucher_series=env.get("INSATS_PAYOUT_VOUCHER_SERIES", default.voucher_series),
            chart_type=env.get("INSATS_PAYOUT_CHART_TYPE", default.chart_type),
        )

    def account_name(self, account: str) -> str:
        return self.account_names.get(account) or (
            "Leverantörsskulder" if account == self.payable_account else "Ersättning kundval"
        )


@dataclass(frozen=True)
class Run:
    """A payout run for `month` (API.md "A run"), previewed or closed."""

    month: str
    status: RunStatus
    lines: tuple[RunLine, ...]
    position: int
    providers: Mapping[str, ProviderInfo]
    booking: Booking
    closed_at: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    layout: int = CURRENT_LAYOUT
    # journey id → (case system, decision id), for the journeys of the lines (layout ≥ 2)
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # The signed checkpoint of the event log up to `position`, written at the close (docs/
    # audit.md); not in the files, which stay what the lines and facts make them.
    checkpoint: str | None = None

    @cached_property
    def totals(self) -> dict[str, Decimal]:
        return {p: sum(map(_amount_of, lines), ZERO) for p, lines in self.by_provider.items()}

    @cached_property
    def by_provider(self) -> dict[str, list[RunLine]]:
        """The lines per provider, in their order, providers sorted (built once: the totals
        and every file read them)."""
        return lines_by_provider(self.lines)

    @cached_property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)

    @cached_property
    def by_journey(self) -> dict[str, list[RunLine]]:
        """The lines per journey (built once: runs are final)."""
        out: dict[str, list[RunLine]] = {}
        with collector_paused():
            for line in self.lines:
                out.setdefault(line.journey_id, []).append(line)
        return out

    @cached_property
    def line_texts(self) -> str:
        """Every line's period, provider, journey, insats, type and voucher, concatenated: the
        files search it once for characters that need escaping."""
        lines = self.lines
        distinct = [set(map(itemgetter(i), lines)) for i in (0, 1, 3, 4, 5)]
        return "".join(map(itemgetter(2), lines)) + "".join(["".join(d) for d in distinct])

    def provider(self, provider_id: str) -> ProviderInfo:
        return self.providers.get(provider_id) or ProviderInfo(provider_id, "")

    def to_json(self) -> dict[str, Any]:
        """API.md "A run" (money as strings with two decimals); `files.run_json` writes the
        same document faster."""
        return {
            **self.to_json_head(),
            "lines": [line.to_json() for line in self.lines],
            **self.to_json_tail(),
        }

    def to_json_head(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "status": self.status,
            "position": self.position,
            "closed_at": self.closed_at,
        }

    def to_json_tail(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "totals": {p: money_text(v) for p, v in totals.items()},
            "total": money_text(self.total),
            "providers": {p: self.providers[p].to_json() for p in sorted(self.providers)},
            "files": dict(sorted(self.files.items())) if self.status == "closed" else None,
        }

    # --- the stored event's fields --------------------------------------------------------------

    def event_fields(self) -> dict[str, Any]:
        totals = self.totals
        layout: dict[str, Any] = {}
        if self.layout != FIRST_LAYOUT:  # a layout-1 run's event is what it always was
            layout = {
                "layout": self.layout,
                "references": {j: list(r) for j, r in sorted(self.references.items())},
            }
        return {
            "month": self.month,
            "position": self.position,
            "lines": lines_to_lists(self.lines),
            "totals": {p: str(v) for p, v in totals.items()},
            "total": str(sum(totals.values(), ZERO)),
            "closed_at": self.closed_at or "",
            "files": dict(sorted(self.files.items())),
            "providers": {p: self.providers[p].to_json() for p in sorted(self.providers)},
            "booking": self.booking.to_json(),
            **layout,
            **({"checkpoint": self.checkpoint} if self.checkpoint else {}),
        }

    @classmethod
    def from_event_fields(cls, data: Mapping[str, Any]) -> Run:
        with collector_paused():
            lines = lines_from_lists(data["lines"])
        return cls(
            month=data["month"],
            status="closed",
            lines=lines,
            position=int(data["position"]),
            providers={p: ProviderInfo.from_json(p, info) for p, info in data["providers"].items()},
            booking=Booking.from_json(data["booking"]),
            closed_at=data["closed_at"] or None,
            files=dict(data["files"]),
            layout=int(data.get("layout") or FIRST_LAYOUT),
            references={j: (r[0], r[1]) for j, r in (data.get("references") or {}).items()},
            checkpoint=data.get("checkpoint") or None,
        )


# What a run derives from its lines alone (cached properties), in `changed`.
_FROM_LINES = ("totals", "total", "by_provider", "by_journey", "line_texts")


def changed(run: Run, **changes: Any) -> Run:
    """`dataclasses.replace(run, **changes)`, keeping what was derived from its lines when
    they stay the same (a run may hold hundreds of thousands of lines)."""
    new = replace(run, **changes)
    if "lines" not in changes:
        for name in _FROM_LINES:
            if name in run.__dict__:
                new.__dict__[name] = run.__dict__[name]
    return new


def lines_from_lists(rows: Iterable[list[Any]]) -> tuple[RunLine, ...]:
    """`RunLine.from_list` for a whole stored run, without a Python call per line's
    constructor (stored runs may hold hundreds of thousands of lines)."""
    new = tuple.__new__
    known = _MONEY_VALUE
    return tuple(
        [
            new(
                RunLine,
                (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    None if r[7] is None else (known.get(r[7]) or parse_money(r[7])),
                    known.get(r[8]) or parse_money(r[8]),
                ),
            )
            for r in rows
        ]
    )


def lines_to_lists(lines: Iterable[RunLine]) -> list[list[Any]]:
    """`[line.to_list() for line in lines]`, without a Python call per line."""
    text = Memo(money_text)
    text[None] = None
    return [
        [ln[0], ln[1], ln[2], ln[3], ln[4], ln[5], ln[6], text[ln[7]], text[ln[8]]] for ln in lines
    ]


def lines_by_provider(lines: Iterable[RunLine]) -> dict[str, list[RunLine]]:
    """The lines per provider id (sorted), each provider's in the order given. Runs' lines
    come sorted by provider, so this takes one C-level pass over contiguous groups."""
    out: dict[str, list[RunLine]] = {}
    for provider_id, group in groupby(lines, _provider_of):
        known = out.get(provider_id)
        if known is None:
            out[provider_id] = list(group)
        else:  # lines not sorted by provider: gather them anyway
            known.extend(group)
    return out if _ascending(list(out)) else dict(sorted(out.items()))


def _ascending(keys: Sequence[str]) -> bool:
    return all(a < b for a, b in pairwise(keys))


def type_sums(lines: Sequence[RunLine]) -> dict[str, Decimal]:
    """Sum of the amounts per line type present in `lines` (a type without lines is absent)."""
    kinds = list(map(_type_of, lines))
    present = set(kinds)
    if len(present) == 1:
        return {present.pop(): sum(map(_amount_of, lines), ZERO)}
    amounts = list(map(_amount_of, lines))
    return {  # each type's amounts added in line order, as a running sum per type would
        kind: sum(compress(amounts, map(kind.__eq__, kinds)), ZERO) for kind in sorted(present)
    }


def money(value: Decimal | None) -> str | None:
    return None if value is None else money_text(value)


_MONEY_TEXT: dict[Decimal, str] = {}
_MONEY_VALUE: dict[str, Decimal] = {}


def parse_money(text: str) -> Decimal:
    """Decimal(text), memoised: stored runs repeat the same amounts many thousand times."""
    value = _MONEY_VALUE.get(text)
    if value is None:
        value = Decimal(text)
        if len(_MONEY_VALUE) < 200_000:
            _MONEY_VALUE[text] = value
    return value


def money_text(value: Decimal) -> str:
    """'2823.10' — memoised: a run repeats the same few hundred amounts many thousand times."""
    text = _MONEY_TEXT.get(value)
    if text is None:
        text = f"{value:.2f}" if value else "0.00"  # never '-0.00'; -0 and 0 share a key
        if len(_MONEY_TEXT) < 200_000:
            _MONEY_TEXT[value] = text
    return text


def provider_totals(lines: Iterable[RunLine]) -> dict[str, Decimal]:
    """Sum of the lines per provider (totals are sums of lines, never re-rounded)."""
    return {p: sum(map(_amount_of, group), ZERO) for p, group in lines_by_provider(lines).items()}
