"""The payments read model: what the entitlement rules need, kept current by the feed.

Tables (own prefix `pay_`):
- `pay_journeys`: one row per journey — its folded facts as compact JSON, `changed_at` (the
  feed position of the last event that changed those facts), `earns_until` (the last period
  in which the facts can still earn anything; '9999-12' while the journey is open), and a
  few columns derived from the facts for the runs' common case: `insats`, `starts_on`,
  `holder`/`holder_since` (the current assignment of a journey that has not exited) and
  `extra_until` (the last period of any voucher or bonus). A run loads, in one query, only
  journeys that changed since the last closed run or can still earn after it.
- `pay_providers`: name and payment account as authorised (for the files), de-authorisation
  dates and `deauth_changed_at`.
- `pay_provider_details`: the dated versions of name and payment account
  (ProviderDetailsChanged), one row per provider and effective_from; a run's files use the
  version in force on the day it closes. (A table of its own rather than new columns: the
  tables are created with CREATE TABLE IF NOT EXISTS, so an existing read model gains it
  without a migration, and its rows are written only from these events.)
- `pay_rates`: one rate table per effective_from (a later RatesSet with the same
  effective_from replaces it) with the position it was recorded at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from contracts.events import PublicEvent
from services.payments.model import gc_paused
from services.payments.rules import (
    Assignment,
    Exit,
    JourneyFacts,
    ProviderDetails,
    ProviderFacts,
    RateSchedule,
    RateTable,
    Voucher,
    apply_event,
    apply_provider_event,
    details_of,
    month_of,
)
from services.platform.db import Tx
from services.platform.feed import tracked_position

OPEN = "9999-12"  # earns_until of a journey that has not exited
NEVER = "0000-00"  # earns_until of a withdrawn journey

_DDL = (
    "CREATE TABLE IF NOT EXISTS pay_journeys ("
    " journey_id TEXT PRIMARY KEY, facts TEXT NOT NULL, changed_at BIGINT NOT NULL,"
    " earns_until TEXT NOT NULL, insats TEXT, starts_on TEXT, holder TEXT, holder_since TEXT,"
    " extra_until TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pay_journeys_earns_until ON pay_journeys (earns_until)",
    "CREATE TABLE IF NOT EXISTS pay_providers ("
    " provider_id TEXT PRIMARY KEY, name TEXT NOT NULL, bankgiro TEXT, iban TEXT,"
    " deauthorised_on TEXT NOT NULL, deauth_changed_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pay_provider_details ("
    " provider_id TEXT NOT NULL, effective_from TEXT NOT NULL, name TEXT NOT NULL,"
    " bankgiro TEXT, iban TEXT, PRIMARY KEY (provider_id, effective_from))",
    "CREATE TABLE IF NOT EXISTS pay_rates ("
    " effective_from TEXT PRIMARY KEY, rates TEXT NOT NULL, recorded_at BIGINT NOT NULL)",
)
_TABLES = ("pay_journeys", "pay_providers", "pay_provider_details", "pay_rates")
_CHUNK = 500  # ids per IN (...) query


# --- the stored form of a journey's facts -------------------------------------------------------


def encode_facts(f: JourneyFacts) -> str:
    exit_ = f.exit
    return json.dumps(
        [
            f.insats,
            1 if f.withdrawn else 0,
            [[a.provider_id, a.starts_on.isoformat()] for a in f.assignments],
            None
            if exit_ is None
            else [
                exit_.exited_on.isoformat(),
                exit_.reason,
                exit_.employment_form,
                exit_.contract_months,
                exit_.subsidy,
                exit_.csn_eligible,
            ],
            [[v.voucher_id, str(v.amount), v.granted_on.isoformat()] for v in f.vouchers],
            None if f.bonus_approved_on is None else f.bonus_approved_on.isoformat(),
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


_iso = date.fromisoformat


def decode_facts(journey_id: str, text: str) -> JourneyFacts:
    return _facts(journey_id, json.loads(text))


def _facts(journey_id: str, value: list[Any]) -> JourneyFacts:
    insats, withdrawn, assignments, exit_, vouchers, approved = value
    return JourneyFacts(
        journey_id,
        insats,
        bool(withdrawn),
        tuple([Assignment(p, _iso(d)) for p, d in assignments]),
        None if exit_ is None else Exit(_iso(exit_[0]), *exit_[1:]),
        tuple([Voucher(v, Decimal(a), _iso(g)) for v, a, g in vouchers]) if vouchers else (),
        None if approved is None else _iso(approved),
    )


class JourneyRow(NamedTuple):
    """A stored journey as a run reads it: the encoded facts plus columns derived from them."""

    journey_id: str
    facts: str
    changed_at: int
    insats: str | None
    starts_on: str | None
    holder: str | None  # provider of the current assignment, while the journey has not exited
    holder_since: str | None
    extra_until: str  # last period of any voucher or bonus, '' if none

    def decode(self) -> JourneyFacts:
        return decode_facts(self.journey_id, self.facts)


_ROW_COLUMNS = "journey_id, facts, changed_at, insats, starts_on, holder, holder_since, extra_until"


def row_of(f: JourneyFacts, changed_at: int) -> JourneyRow:
    ongoing = not f.withdrawn and f.exit is None and bool(f.assignments)
    last = f.assignments[-1] if ongoing else None
    extras = [month_of(v.granted_on) for v in f.vouchers]
    if f.bonus_approved_on is not None:
        extras.append(month_of(f.bonus_approved_on))
    return JourneyRow(
        f.journey_id,
        encode_facts(f),
        changed_at,
        f.insats,
        None if f.starts_on is None else f.starts_on.isoformat(),
        None if last is None else last.provider_id,
        None if last is None else last.starts_on.isoformat(),
        max(extras, default=""),
    )


def earns_until(f: JourneyFacts) -> str:
    """The last period in which these facts can earn anything (monthly compensation up to the
    exit's month, a bonus in its approval's month, vouchers in their months)."""
    if f.withdrawn:
        return NEVER
    if f.exit is None:
        return OPEN
    months = [month_of(f.exit.exited_on)]
    if f.bonus_approved_on is not None:
        months.append(month_of(f.bonus_approved_on))
    months.extend(month_of(v.granted_on) for v in f.vouchers)
    return max(months)


# --- what a run reads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderRow:
    facts: ProviderFacts
    deauth_changed_at: int


@dataclass(frozen=True)
class RateRow:
    effective_from: date
    recorded_at: int


@dataclass(frozen=True)
class Snapshot:
    """Everything a run needs except the journeys, read in one transaction."""

    position: int
    rates: RateSchedule
    rate_rows: tuple[RateRow, ...]
    providers: dict[str, ProviderRow]


class PaymentsProjection:
    """`services.platform.feed.Projection` for payments."""

    name = "payments"

    # --- feed side ------------------------------------------------------------------------------

    def setup(self, tx: Tx) -> None:
        for ddl in _DDL:
            tx.execute(ddl)

    def reset(self, tx: Tx) -> None:
        for table in _TABLES:
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        with gc_paused():  # a batch builds many small objects; see model.gc_paused
            self._handle(tx, events)

    def _handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        journey_events = [e for e in events if e.stream_type == "journey"]
        if journey_events:
            self._handle_journeys(tx, journey_events)
        for e in events:
            if e.stream_type == "provider":
                self._handle_provider(tx, e)
            elif e.stream_type == "rates" and e.type == "RatesSet":
                tx.execute(
                    "INSERT INTO pay_rates (effective_from, rates, recorded_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT (effective_from) DO UPDATE SET rates = excluded.rates,"
                    " recorded_at = excluded.recorded_at",
                    (
                        e.payload["effective_from"],
                        json.dumps(e.payload, sort_keys=True, separators=(",", ":")),
                        e.position,
                    ),
                )

    def _handle_journeys(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        ids = list(dict.fromkeys(e.stream_id for e in events))
        current: dict[str, JourneyFacts] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            for jid, text in tx.execute(
                f"SELECT journey_id, facts FROM pay_journeys WHERE journey_id IN ({marks})",
                chunk,
            ).fetchall():
                current[jid] = decode_facts(jid, text)
        changed: dict[str, int] = {}
        for e in events:
            before = current.get(e.stream_id)
            after = apply_event(before, e)
            if after != before:
                current[e.stream_id] = after
                changed[e.stream_id] = e.position
        if changed:
            tx.executemany(
                "INSERT INTO pay_journeys (journey_id, facts, changed_at, earns_until, insats,"
                " starts_on, holder, holder_since, extra_until)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (journey_id) DO UPDATE"
                " SET facts = excluded.facts, changed_at = excluded.changed_at,"
                " earns_until = excluded.earns_until, insats = excluded.insats,"
                " starts_on = excluded.starts_on, holder = excluded.holder,"
                " holder_since = excluded.holder_since, extra_until = excluded.extra_until",
                [
                    (*row[:3], earns_until(current[jid]), *row[3:])
                    for jid, pos in changed.items()
                    for row in (row_of(current[jid], pos),)
                ],
            )

    def _handle_provider(self, tx: Tx, e: PublicEvent) -> None:
        pid = e.payload["provider_id"]
        if e.type == "ProviderDetailsChanged":
            # A version per date; a later one for the same date replaces it (latest fact wins).
            v = details_of(e.payload)
            tx.execute(
                "INSERT INTO pay_provider_details (provider_id, effective_from, name, bankgiro,"
                " iban) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (provider_id, effective_from)"
                " DO UPDATE SET name = excluded.name, bankgiro = excluded.bankgiro,"
                " iban = excluded.iban",
                (pid, v.effective_from.isoformat(), v.name, v.bankgiro, v.iban),
            )
            return
        row = tx.execute(
            "SELECT name, bankgiro, iban, deauthorised_on, deauth_changed_at"
            " FROM pay_providers WHERE provider_id = %s",
            (pid,),
        ).fetchone()
        before = None if row is None else _provider_facts(pid, row)
        after = apply_provider_event(before, e)
        deauth_changed_at = 0 if row is None else int(row[4])
        if before is None or after.deauthorised_on != before.deauthorised_on:
            deauth_changed_at = e.position if after.deauthorised_on else deauth_changed_at
        tx.execute(
            "INSERT INTO pay_providers (provider_id, name, bankgiro, iban, deauthorised_on,"
            " deauth_changed_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (provider_id)"
            " DO UPDATE SET name = excluded.name, bankgiro = excluded.bankgiro,"
            " iban = excluded.iban, deauthorised_on = excluded.deauthorised_on,"
            " deauth_changed_at = excluded.deauth_changed_at",
            (
                pid,
                after.name,
                after.bankgiro,
                after.iban,
                json.dumps([d.isoformat() for d in after.deauthorised_on]),
                deauth_changed_at,
            ),
        )

    # --- run side -------------------------------------------------------------------------------

    def snapshot(self, tx: Tx) -> Snapshot:
        tables: list[RateTable] = []
        rate_rows: list[RateRow] = []
        for effective_from, text, recorded_at in tx.execute(
            "SELECT effective_from, rates, recorded_at FROM pay_rates ORDER BY effective_from"
        ).fetchall():
            tables.append(RateTable.from_payload(json.loads(text)))
            rate_rows.append(RateRow(date.fromisoformat(effective_from), int(recorded_at)))
        changes: dict[str, list[ProviderDetails]] = {}
        for pid, effective_from, name, bankgiro, iban in tx.execute(
            "SELECT provider_id, effective_from, name, bankgiro, iban FROM pay_provider_details"
            " ORDER BY provider_id, effective_from"
        ).fetchall():
            changes.setdefault(pid, []).append(
                ProviderDetails(date.fromisoformat(effective_from), name, bankgiro, iban)
            )
        providers = {
            row[0]: ProviderRow(
                _provider_facts(row[0], row[1:], tuple(changes.get(row[0], ()))), int(row[5])
            )
            for row in tx.execute(
                "SELECT provider_id, name, bankgiro, iban, deauthorised_on, deauth_changed_at"
                " FROM pay_providers ORDER BY provider_id"
            ).fetchall()
        }
        return Snapshot(
            position=tracked_position(tx, self.name),
            rates=RateSchedule(tables),
            rate_rows=tuple(rate_rows),
            providers=providers,
        )

    def journey_rows(
        self, tx: Tx, *, changed_after: int | None = None, earning_after: str | None = None
    ) -> list[JourneyRow]:
        """Every journey — or, with both filters, only those changed after a position or still
        earning after a period. (Unordered: sorting the run's lines in Python is cheaper.)"""
        if changed_after is None or earning_after is None:
            rows = tx.execute(f"SELECT {_ROW_COLUMNS} FROM pay_journeys").fetchall()
        else:
            rows = tx.execute(
                f"SELECT {_ROW_COLUMNS} FROM pay_journeys"
                " WHERE earns_until > %s OR changed_at > %s",
                (earning_after, changed_after),
            ).fetchall()
        return [JourneyRow._make(r) for r in rows]

    def journey(self, tx: Tx, journey_id: str) -> JourneyFacts | None:
        text = tx.scalar("SELECT facts FROM pay_journeys WHERE journey_id = %s", (journey_id,))
        return None if text is None else decode_facts(journey_id, text)


def _provider_facts(
    provider_id: str, row: Sequence[Any], changes: tuple[ProviderDetails, ...] = ()
) -> ProviderFacts:
    name, bankgiro, iban, deauthorised_on = row[0], row[1], row[2], row[3]
    return ProviderFacts(
        provider_id=provider_id,
        name=name or "",
        bankgiro=bankgiro,
        iban=iban,
        deauthorised_on=tuple(date.fromisoformat(d) for d in json.loads(deauthorised_on)),
        changes=changes,
    )


def decode_rows(rows: Sequence[JourneyRow], chunk: int = 20_000) -> Iterator[JourneyFacts]:
    """Decode stored facts, many rows per `json.loads` (one C call instead of one per row)."""
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        decoded = json.loads("[" + ",".join([r.facts for r in part]) + "]")
        for row, value in zip(part, decoded, strict=True):
            yield _facts(row.journey_id, value)
