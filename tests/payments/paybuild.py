"""Test helpers: the payments tests' names for public events (a thin layer over the one builder,
tests/given.py, which checks every event against its JSON Schema), and a payments service wired
the way the composition root wires it (SQLite read model, FeedRunner over a ListEventSource,
PayoutRuns on an SQLite file)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from contracts.events import PublicEvent
from services.payments.model import Booking
from services.payments.projection import PaymentsProjection
from services.payments.references import DecisionReferences
from services.payments.runs import PayoutRuns
from services.payments.service import PaymentsService, feed_catch_up
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from tests.given import EventLog, exit_payload

__all__ = ["P1", "P2", "P3", "QUESTION", "Clock", "Log", "Wired", "exit_payload", "wire"]

P1 = "5560000001"
P2 = "5560000002"
P3 = "5560000003"

# The policy sandbox's question of issue 15 (docs/sandbox.md): 30 days instead of 14, a 20 000
# SEK bonus, förstärkt at 5 000 — from 2026-01-01, as a scenario.
QUESTION: dict[str, Any] = {
    "name": "30 dagar, 20 000 kr bonus, förstärkt 5 000 kr",
    "changes": [
        {
            "effective_from": "2026-01-01",
            "min_days_before_payment": 30,
            "bonus": {"grund": "20000.00", "forstarkt": "20000.00", "sai": "20000.00"},
            "monthly": {"forstarkt": "5000.00"},
        }
    ],
}


class Log(EventLog):
    """The facts named as the payments tests name them (each returns the event it added)."""

    # --- rates and providers -------------------------------------------------------------------

    def default_rates(self) -> PublicEvent:  # type: ignore[override]
        super().default_rates()
        return self.events[-1]

    def rates(
        self,
        effective_from: str,
        *,
        sai: str | None = "7293.00",
        grund: str | None = "3686.00",
        forstarkt: str | None = "4823.00",
        bonus: str = "18000.00",
        min_days: int = 14,
    ) -> PublicEvent:
        self.rates_published(
            effective_from,
            sai=sai,
            grund=grund,
            forstarkt=forstarkt,
            bonus=bonus,
            min_days=min_days,
        )
        return self.events[-1]

    def provider(  # type: ignore[override]
        self,
        provider_id: str,
        name: str | None = None,
        *,
        bankgiro: str | None = "5050-1055",
        iban: str | None = None,
        authorised_from: str = "2020-01-01",
    ) -> PublicEvent:
        self.provider_authorised(
            provider_id,
            name or f"Anordnare {provider_id[-1]} AB",
            authorised_from=authorised_from,
            bankgiro=bankgiro,
            iban=iban,
        )
        return self.events[-1]

    def details_changed(
        self,
        provider_id: str,
        effective_from: str,
        name: str,
        *,
        bankgiro: str | None = None,
        iban: str | None = None,
    ) -> PublicEvent:
        """ProviderDetailsChanged: the whole version in force from effective_from."""
        self.provider_details_changed(
            provider_id, effective_from, name, bankgiro=bankgiro, iban=iban
        )
        return self.events[-1]

    def deauthorised(self, provider_id: str, effective_on: str) -> PublicEvent:
        self.provider_deauthorised(provider_id, effective_on, "avtal")
        return self.events[-1]

    # --- journeys ------------------------------------------------------------------------------

    def decision(  # type: ignore[override]
        self, jid: str, insats: str = "sai", decided_on: str = "2026-01-05"
    ) -> PublicEvent:
        super().decision(
            jid, insats=insats, decided_on=decided_on, decided_by="kv1", person_ref=f"ref-{jid}"
        )
        return self.events[-1]

    def chosen(self, jid: str, provider_id: str, starts_on: str) -> PublicEvent:
        self.provider_chosen(jid, provider_id, starts_on)
        return self.events[-1]

    def changed(self, jid: str, provider_id: str, starts_on: str, previous: str) -> PublicEvent:
        self.provider_changed(jid, provider_id, starts_on, previous)
        return self.events[-1]

    def plan(self, jid: str, established_on: str) -> PublicEvent:  # type: ignore[override]
        super().plan(jid, established_on, due_on=established_on)
        return self.events[-1]

    def voucher(  # type: ignore[override]
        self, jid: str, voucher_id: str, amount: str, granted_on: str
    ) -> PublicEvent:
        super().voucher(jid, granted_on, amount, voucher_id=voucher_id)
        return self.events[-1]

    def exited(  # type: ignore[override]
        self, jid: str, exited_on: str, reason: str = "work", **details: Any
    ) -> PublicEvent:
        super().exited(jid, exited_on, reason, **details)
        return self.events[-1]

    def follow_up(  # type: ignore[override]
        self, jid: str, on: str, due_on: str, bonus_claim: bool = True
    ) -> PublicEvent:
        super().follow_up(jid, on, due_on=due_on, bonus_claim=bonus_claim)
        return self.events[-1]

    def review(self, jid: str, on: str, decision: str = "approved") -> PublicEvent:
        self.bonus_reviewed(jid, on, decision)
        return self.events[-1]

    def withdrawn(self, jid: str, on: str) -> PublicEvent:  # type: ignore[override]
        super().withdrawn(jid, on)
        return self.events[-1]

    def corrected(  # type: ignore[override]
        self,
        jid: str,
        what: str,
        old: Any,
        new: Any,
        provider_id: str | None = None,
        on: str = "2026-01-01",
    ) -> PublicEvent:
        super().corrected(jid, what, old, new, provider_id=provider_id, effective=on)
        return self.events[-1]


@dataclass
class Clock:
    day: date

    def today(self) -> date:
        return self.day


@dataclass
class Wired:
    """A payments service over a growing event log, as the composition root builds it."""

    log: Log
    source: ListEventSource
    db: SQLiteDatabase
    runner: FeedRunner
    runs: PayoutRuns
    service: PaymentsService
    clock: Clock
    path: Path

    def publish(self) -> None:
        """Make every event in the log visible to the feed."""
        known = len(self.source.events)
        self.source.append(*self.log.events[known:])

    def close(self, month: str, today: str) -> Any:
        self.publish()
        self.clock.day = date.fromisoformat(today)
        return self.service.close(month)


def wire(
    tmp_path: Path,
    log: Log | None = None,
    booking: Booking | None = None,
    today: str = "2026-01-01",
    name: str = "a",
) -> Wired:
    log = log or Log()
    source = ListEventSource()
    db = SQLiteDatabase(tmp_path / f"read-{name}.db")
    projection = PaymentsProjection()
    runner = FeedRunner(source, db, [projection, DecisionReferences()], batch_size=50)
    runs = PayoutRuns(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / f"runs-{name}.db"),
        }
    )
    clock = Clock(date.fromisoformat(today))
    service = PaymentsService(
        db, runs, feed_catch_up(runner), projection=projection, booking=booking, today=clock.today
    )
    wired = Wired(log, source, db, runner, runs, service, clock, tmp_path)
    wired.publish()
    return wired
