"""Test helpers: public events as the lifecycle side records them, and a payments service wired
the way the composition root wires it (SQLite read model, FeedRunner over a ListEventSource,
PayoutRuns on an SQLite file)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from contracts.events import PublicEvent
from contracts.rates import default_rates
from services.payments.model import Booking
from services.payments.projection import PaymentsProjection
from services.payments.references import DecisionReferences
from services.payments.runs import PayoutRuns
from services.payments.service import PaymentsService, feed_catch_up
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource

P1 = "5560000001"
P2 = "5560000002"
P3 = "5560000003"

_JOURNEY_TYPES = {
    "DecisionRegistered",
    "ProviderChosen",
    "ProviderChanged",
    "PlanRegistered",
    "VoucherGranted",
    "JourneyExited",
    "FollowUpRecorded",
    "BonusClaimReviewed",
    "DecisionWithdrawn",
    "Corrected",
    "LanguageInternshipStarted",
    "LanguageInternshipEnded",
}


class Log:
    """An ordered event log; helpers name the facts as SPEC §3 does."""

    def __init__(self, start: int = 0) -> None:
        self.events: list[PublicEvent] = []
        self.position = start
        self.versions: dict[str, int] = {}

    def add(
        self,
        stream_id: str,
        type_: str,
        payload: dict[str, Any],
        effective: str,
        stream_type: str | None = None,
    ) -> PublicEvent:
        self.position += 1
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        kind = stream_type or ("journey" if type_ in _JOURNEY_TYPES else "provider")
        event = PublicEvent(
            position=self.position,
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stream_id}/{version}")),
            stream_id=stream_id,
            stream_type=kind,
            type=type_,
            version=version,
            effective_date=effective,
            recorded_at=f"{effective}T12:00:00Z",
            actor="test",
            source_system="test",
            correlation_id=str(uuid.uuid4()),
            payload=payload,
        )
        self.events.append(event)
        return event

    # --- rates and providers -------------------------------------------------------------------

    def default_rates(self) -> PublicEvent:
        rates = default_rates()
        return self.add("rates", "RatesSet", rates, rates["effective_from"], "rates")

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
        payload = {
            "effective_from": effective_from,
            "monthly": {"grund": grund, "forstarkt": forstarkt, "sai": sai},
            "bonus": {"grund": bonus, "forstarkt": bonus, "sai": bonus},
            "voucher_min": "5000.00",
            "voucher_max": "15000.00",
            "min_days_before_payment": min_days,
        }
        return self.add("rates", "RatesSet", payload, effective_from, "rates")

    def provider(
        self,
        provider_id: str,
        name: str | None = None,
        *,
        bankgiro: str | None = "5050-1055",
        iban: str | None = None,
        authorised_from: str = "2020-01-01",
    ) -> PublicEvent:
        payload = {
            "provider_id": provider_id,
            "name": name or f"Anordnare {provider_id[-1]} AB",
            "insats_types": ["grund", "forstarkt", "sai"],
            "authorised_from": authorised_from,
            "bankgiro": bankgiro,
            "iban": iban,
        }
        return self.add(
            _provider_stream(provider_id),
            "ProviderAuthorised",
            payload,
            authorised_from,
            "provider",
        )

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
        payload = {
            "provider_id": provider_id,
            "effective_from": effective_from,
            "name": name,
            "bankgiro": bankgiro,
            "iban": iban,
            "reason": "fusion",
        }
        return self.add(
            _provider_stream(provider_id),
            "ProviderDetailsChanged",
            payload,
            effective_from,
            "provider",
        )

    def deauthorised(self, provider_id: str, effective_on: str) -> PublicEvent:
        payload = {"provider_id": provider_id, "effective_on": effective_on, "reason": "avtal"}
        return self.add(
            _provider_stream(provider_id), "ProviderDeauthorised", payload, effective_on, "provider"
        )

    # --- journeys ------------------------------------------------------------------------------

    def decision(
        self, jid: str, insats: str = "sai", decided_on: str = "2026-01-05"
    ) -> PublicEvent:
        payload = {
            "external_ref": {"system": "test", "decision_id": jid},
            "person_ref": f"ref-{jid}",
            "person_id_kind": "personnummer",
            "insats": insats,
            "decided_on": decided_on,
            "decided_by": "kv1",
            "target_group": "other",
            "transfer_from": None,
        }
        return self.add(jid, "DecisionRegistered", payload, decided_on)

    def chosen(self, jid: str, provider_id: str, starts_on: str) -> PublicEvent:
        return self.add(
            jid, "ProviderChosen", {"provider_id": provider_id, "starts_on": starts_on}, starts_on
        )

    def changed(self, jid: str, provider_id: str, starts_on: str, previous: str) -> PublicEvent:
        payload = {
            "provider_id": provider_id,
            "starts_on": starts_on,
            "previous_provider_id": previous,
        }
        return self.add(jid, "ProviderChanged", payload, starts_on)

    def plan(self, jid: str, established_on: str) -> PublicEvent:
        payload = {"established_on": established_on, "due_on": established_on, "late": False}
        return self.add(jid, "PlanRegistered", payload, established_on)

    def voucher(self, jid: str, voucher_id: str, amount: str, granted_on: str) -> PublicEvent:
        payload = {
            "voucher_id": voucher_id,
            "amount": amount,
            "purpose": "körkort B",
            "granted_on": granted_on,
        }
        return self.add(jid, "VoucherGranted", payload, granted_on)

    def exited(self, jid: str, exited_on: str, reason: str = "work", **details: Any) -> PublicEvent:
        return self.add(jid, "JourneyExited", exit_payload(exited_on, reason, **details), exited_on)

    def follow_up(self, jid: str, on: str, due_on: str, bonus_claim: bool = True) -> PublicEvent:
        payload = {
            "followed_up_on": on,
            "outcome": "sustained",
            "evidence": [{"type": "anställningsbevis", "id": "doc-1", "date": on}],
            "due_on": due_on,
            "bonus_claim": bonus_claim,
        }
        return self.add(jid, "FollowUpRecorded", payload, on)

    def review(self, jid: str, on: str, decision: str = "approved") -> PublicEvent:
        payload = {
            "reviewed_on": on,
            "decision": decision,
            "reason": None if decision == "approved" else "intyg saknas",
        }
        return self.add(jid, "BonusClaimReviewed", payload, on)

    def withdrawn(self, jid: str, on: str) -> PublicEvent:
        return self.add(jid, "DecisionWithdrawn", {"withdrawn_on": on, "reason": "avböjt"}, on)

    def corrected(
        self,
        jid: str,
        what: str,
        old: Any,
        new: Any,
        provider_id: str | None = None,
        on: str = "2026-01-01",
    ) -> PublicEvent:
        payload = {
            "what": what,
            "old": old,
            "new": new,
            "reason": "fel datum",
            "provider_id": provider_id,
        }
        return self.add(jid, "Corrected", payload, on)


def exit_payload(exited_on: str, reason: str = "work", **details: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "exited_on": exited_on,
        "reason": reason,
        "employment_form": None,
        "contract_months": None,
        "subsidy": None,
        "csn_eligible": None,
        "next_journey_id": None,
    }
    if reason == "work":
        payload.update(employment_form="fixed_term", contract_months=12, subsidy="none")
    payload.update(details)
    return payload


def _provider_stream(provider_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"provider/{provider_id}"))


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
