"""The payments read model: what the entitlement rules need, kept current by the feed.

Journeys and providers are folded with the public journey model (`contracts.journey`): what a
correction changes and who holds a journey is defined there, once.

Tables (own prefix `pay_`):
- `pay_journeys`: one row per journey — its facts in the model's stored form (the parts payments
  read: `rules.PAYMENT_PARTS`), `changed_at` (the feed position of the last event that changed
  what payments read), `earns_until` (the last period in which the facts can still earn
  anything; '9999-12' while the journey is open), and a few columns derived from the facts for
  the runs' common case: `insats`, `starts_on`, `holder`/`holder_since` (the current assignment
  of a journey that has not exited) and `extra_until` (the last period of any voucher or bonus).
  A run loads, in one query, only journeys that changed since the last closed run or can still
  earn after it.
- `pay_providers`: each provider's facts in the model's stored form (name and payment account by
  date, for the files; the de-authorisation) and `deauth_changed_at`.
- `pay_rates`: one rate table per effective_from (a later RatesSet with the same
  effective_from replaces it) with the position it was recorded at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from contracts import journey as model
from contracts.events import PublicEvent
from contracts.journey import JourneyFacts, ProviderFacts
from services.payments.rules import PAYMENT_PARTS, RateSchedule, RateTable, month_of
from services.platform.collector import collector_paused
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
    " provider_id TEXT PRIMARY KEY, facts TEXT NOT NULL, deauth_changed_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pay_rates ("
    " effective_from TEXT PRIMARY KEY, rates TEXT NOT NULL, recorded_at BIGINT NOT NULL)",
)
# (pay_provider_details: version 1's table, gone with the rebuild to version 2)
_TABLES = ("pay_journeys", "pay_providers", "pay_provider_details", "pay_rates")
_CHUNK = 500  # ids per IN (...) query


def decode_facts(journey_id: str, text: str) -> JourneyFacts:
    return model.decode(journey_id, text)


def _paid(f: JourneyFacts | None) -> tuple[Any, ...] | None:
    """What payments store of a journey (`PAYMENT_PARTS`, no version): a change elsewhere (a
    plan, a follow-up) is not a change to pay on, and leaves the row as it is. (Follow-ups are
    folded only by the sandbox's projection, where a scenario may pay on them.)"""
    if f is None:
        return None
    return (f.insats, f.assignments, f.exit, f.vouchers, f.reviews, f.withdrawal, f.follow_ups)


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
        return model.decode(self.journey_id, self.facts)


_ROW_COLUMNS = "journey_id, facts, changed_at, insats, starts_on, holder, holder_since, extra_until"


def row_of(f: JourneyFacts, changed_at: int, parts: frozenset[str] = PAYMENT_PARTS) -> JourneyRow:
    ongoing = f.withdrawal is None and f.exit is None and bool(f.assignments)
    last = f.assignments[-1] if ongoing else None
    extras = [month_of(v.granted_on) for v in f.vouchers]
    if f.bonus_approved_on is not None:
        extras.append(month_of(f.bonus_approved_on))
    return JourneyRow(
        f.journey_id,
        # Without the version: a row is written only when what payments read changed, so a
        # stored version would depend on how the log was cut into batches (and replays differ).
        model.encode(f._replace(version=0), parts),
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
    if f.withdrawal is not None:
        return NEVER
    if f.exit is None:
        return OPEN
    months = [month_of(f.exit.exited_on)]
    if f.bonus_approved_on is not None:
        months.append(month_of(f.bonus_approved_on))
    if f.bonus_claimable_on is not None:  # (a scenario's bonus: follow-ups stored)
        months.append(month_of(f.bonus_claimable_on))
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
    schema_version = 2  # 2: the shared journey model's stored form, providers as model facts

    def __init__(self, parts: frozenset[str] = PAYMENT_PARTS):
        # The parts of the journey facts stored (`rules.PAYMENT_PARTS`); the sandbox's
        # throwaway copy stores them all, so a scenario can pay on follow-ups and the figures
        # can be computed from the same facts.
        self.parts = parts
        self._unpaid = model.events_outside(parts)

    # --- feed side ------------------------------------------------------------------------------

    def setup(self, tx: Tx) -> None:
        for ddl in _DDL:
            tx.execute(ddl)

    def reset(self, tx: Tx) -> None:
        for table in _TABLES:
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        with collector_paused():  # a batch builds many small objects
            self._handle(tx, events)

    def _handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        journey_events = [e for e in events if e.stream_type == "journey"]
        if journey_events:
            self._handle_journeys(tx, journey_events)
        provider_events = [e for e in events if e.stream_type == "provider"]
        if provider_events:
            self._handle_providers(tx, provider_events)
        rates = [
            (
                e.payload["effective_from"],
                json.dumps(e.payload, sort_keys=True, separators=(",", ":")),
                e.position,
            )
            for e in events
            if e.stream_type == "rates" and e.type == "RatesSet"
        ]
        if rates:  # in log order: of two tables with the same effective_from, the later holds
            tx.executemany(
                "INSERT INTO pay_rates (effective_from, rates, recorded_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (effective_from) DO UPDATE SET rates = excluded.rates,"
                " recorded_at = excluded.recorded_at",
                rates,
            )

    def _handle_journeys(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        ids = list(dict.fromkeys(e.stream_id for e in events))
        current: dict[str, JourneyFacts] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            stored = tx.execute(
                f"SELECT journey_id, facts FROM pay_journeys WHERE journey_id IN ({marks})",
                chunk,
            ).fetchall()
            if stored:  # one json.loads for the chunk's rows (`model.decode`, row by row)
                values = json.loads("[" + ",".join([text for _, text in stored]) + "]")
                for (jid, _), value in zip(stored, values, strict=True):
                    current[jid] = model.from_value(jid, value)
        changed: dict[str, int] = {}
        unpaid, parts = self._unpaid, self.parts
        for e in events:
            jid = e.stream_id
            before = current.get(jid)
            if before is not None and e.type in unpaid:
                # It changes only a part payments do not store: the fold would move only the
                # version (not stored either), and the row stays as it is.
                continue
            after = model.apply(before, e, parts)
            if after is before:  # folded already (delivered twice)
                continue
            current[jid] = after
            if _paid(after) != _paid(before):
                changed[jid] = e.position
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
                    for row in (row_of(current[jid], pos, parts),)
                ],
            )

    def _handle_providers(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        """The batch's provider events folded in memory, in log order, onto the stored facts
        of the providers they name: one query to read them, one statement to write them."""
        ids = list(dict.fromkeys(str(e.payload["provider_id"]) for e in events))
        state: dict[str, tuple[ProviderFacts | None, int]] = {pid: (None, 0) for pid in ids}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            for pid, text, changed_at in tx.execute(
                "SELECT provider_id, facts, deauth_changed_at FROM pay_providers"
                f" WHERE provider_id IN ({marks})",
                chunk,
            ).fetchall():
                state[pid] = (model.decode_provider(text), int(changed_at))
        for e in events:
            pid = str(e.payload["provider_id"])
            before, deauth_changed_at = state[pid]
            after = model.apply_provider(before, e)
            # When the authorisation history changed (a de-authorisation cuts the spans of the
            # journeys it held): runs then compute those journeys in full.
            if before is None:
                deauth_changed_at = e.position if any(not ok for _, ok in after.changes) else 0
            elif after.changes != before.changes:
                deauth_changed_at = e.position
            state[pid] = (after, deauth_changed_at)
        tx.executemany(
            "INSERT INTO pay_providers (provider_id, facts, deauth_changed_at)"
            " VALUES (%s, %s, %s) ON CONFLICT (provider_id)"
            " DO UPDATE SET facts = excluded.facts, deauth_changed_at = excluded.deauth_changed_at",
            [
                (pid, model.encode_provider(facts), deauth_changed_at)
                for pid, (facts, deauth_changed_at) in state.items()
                if facts is not None
            ],
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
            pid: ProviderRow(model.decode_provider(text), int(changed_at))
            for pid, text, changed_at in tx.execute(
                "SELECT provider_id, facts, deauth_changed_at FROM pay_providers"
                " ORDER BY provider_id"
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
        new = tuple.__new__  # JourneyRow._make without a Python call per row
        return [new(JourneyRow, r) for r in rows]

    def journey(self, tx: Tx, journey_id: str) -> JourneyFacts | None:
        text = tx.scalar("SELECT facts FROM pay_journeys WHERE journey_id = %s", (journey_id,))
        return None if text is None else model.decode(journey_id, text)


def decode_rows(rows: Sequence[JourneyRow], chunk: int = 20_000) -> Iterator[JourneyFacts]:
    """Decode stored facts, many rows per `json.loads` (one C call instead of one per row)."""
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        decoded = json.loads("[" + ",".join([r.facts for r in part]) + "]")
        for row, value in zip(part, decoded, strict=True):
            yield model.from_value(row.journey_id, value)
