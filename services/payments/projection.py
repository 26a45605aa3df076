"""The payments read model: what the entitlement rules need, kept current by the feed.

Tables (own prefix `pay_`):
- `pay_journeys`: one row per journey — its folded facts as compact JSON, `changed_at` (the
  feed position of the last event that changed those facts) and `earns_until` (the last
  period in which the facts can still earn anything; '9999-12' while the journey is open).
  A run loads, in one query, only journeys that changed since the last closed run or can
  still earn after it.
- `pay_providers`: name and payment account (for the files), de-authorisation dates and
  `deauth_changed_at`.
- `pay_rates`: one rate table per effective_from (a later RatesSet with the same
  effective_from replaces it) with the position it was recorded at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from contracts.events import PublicEvent
from services.payments.rules import (
    Assignment,
    Exit,
    JourneyFacts,
    ProviderFacts,
    RateSchedule,
    RateTable,
    Voucher,
    apply_event,
    apply_provider_event,
    month_of,
)
from services.platform.db import Tx
from services.platform.feed import tracked_position

OPEN = "9999-12"  # earns_until of a journey that has not exited
NEVER = "0000-00"  # earns_until of a withdrawn journey

_DDL = (
    "CREATE TABLE IF NOT EXISTS pay_journeys ("
    " journey_id TEXT PRIMARY KEY, facts TEXT NOT NULL, changed_at BIGINT NOT NULL,"
    " earns_until TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pay_journeys_earns_until ON pay_journeys (earns_until)",
    "CREATE TABLE IF NOT EXISTS pay_providers ("
    " provider_id TEXT PRIMARY KEY, name TEXT NOT NULL, bankgiro TEXT, iban TEXT,"
    " deauthorised_on TEXT NOT NULL, deauth_changed_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pay_rates ("
    " effective_from TEXT PRIMARY KEY, rates TEXT NOT NULL, recorded_at BIGINT NOT NULL)",
)
_TABLES = ("pay_journeys", "pay_providers", "pay_rates")
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
    insats, withdrawn, assignments, exit_, vouchers, approved = json.loads(text)
    return JourneyFacts(
        journey_id,
        insats,
        bool(withdrawn),
        tuple([Assignment(p, _iso(d)) for p, d in assignments]),
        None if exit_ is None else Exit(_iso(exit_[0]), *exit_[1:]),
        tuple([Voucher(v, Decimal(a), _iso(g)) for v, a, g in vouchers]) if vouchers else (),
        None if approved is None else _iso(approved),
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
                "INSERT INTO pay_journeys (journey_id, facts, changed_at, earns_until)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (journey_id) DO UPDATE SET"
                " facts = excluded.facts, changed_at = excluded.changed_at,"
                " earns_until = excluded.earns_until",
                [
                    (jid, encode_facts(current[jid]), pos, earns_until(current[jid]))
                    for jid, pos in changed.items()
                ],
            )

    def _handle_provider(self, tx: Tx, e: PublicEvent) -> None:
        pid = e.payload["provider_id"]
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
        providers = {
            row[0]: ProviderRow(_provider_facts(row[0], row[1:]), int(row[5]))
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
    ) -> list[tuple[str, str, int]]:
        """(journey_id, facts, changed_at) of every journey — or, with both filters, only of
        those changed after a position or still earning after a period."""
        if changed_after is None or earning_after is None:
            return tx.execute(
                "SELECT journey_id, facts, changed_at FROM pay_journeys"
            ).fetchall()
        return tx.execute(
            "SELECT journey_id, facts, changed_at FROM pay_journeys"
            " WHERE earns_until > %s OR changed_at > %s",
            (earning_after, changed_after),
        ).fetchall()

    def journey(self, tx: Tx, journey_id: str) -> JourneyFacts | None:
        text = tx.scalar("SELECT facts FROM pay_journeys WHERE journey_id = %s", (journey_id,))
        return None if text is None else decode_facts(journey_id, text)


def _provider_facts(provider_id: str, row: Sequence[Any]) -> ProviderFacts:
    name, bankgiro, iban, deauthorised_on = row[0], row[1], row[2], row[3]
    return ProviderFacts(
        provider_id=provider_id,
        name=name or "",
        bankgiro=bankgiro,
        iban=iban,
        deauthorised_on=tuple(date.fromisoformat(d) for d in json.loads(deauthorised_on)),
    )


def iter_facts(rows: Sequence[tuple[str, str, int]]) -> Iterator[tuple[JourneyFacts, int]]:
    for jid, text, changed_at in rows:
        yield decode_facts(jid, text), int(changed_at)
