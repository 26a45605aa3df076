"""Given-facts for the alerts tests: a small builder of public events (the contract), in log
order, with the effective dates the lifecycle side would give them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from contracts.events import PublicEvent

P1 = "5566778899"
P2 = "5599887766"
P3 = "5500112239"


def d(text: str) -> date:
    return date.fromisoformat(text)


class EventLog:
    def __init__(self) -> None:
        self.events: list[PublicEvent] = []
        self._versions: dict[str, int] = {}

    def add(
        self,
        stream_id: str,
        type_: str,
        effective: str,
        payload: dict[str, Any],
        stream_type: str = "journey",
    ) -> PublicEvent:
        version = self._versions.get(stream_id, 0) + 1
        self._versions[stream_id] = version
        event = PublicEvent(
            position=len(self.events) * 3 + 7,  # gaps are allowed in the log
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stream_id}/{version}")),
            stream_id=stream_id,
            stream_type=stream_type,
            type=type_,
            version=version,
            effective_date=effective,
            recorded_at="2026-01-01T00:00:00Z",
            actor="publisher:test",
            source_system="test",
            correlation_id=str(uuid.uuid4()),
            payload=payload,
        )
        self.events.append(event)
        return event

    def of(self, journey_id: str) -> list[PublicEvent]:
        return [e for e in self.events if e.stream_id == journey_id]

    # --- journey facts ---------------------------------------------------------------------------

    def decision(
        self, journey_id: str, insats: str = "grund", decided_on: str = "2026-01-02"
    ) -> str:
        self.add(
            journey_id,
            "DecisionRegistered",
            decided_on,
            {
                "external_ref": {"system": "test", "decision_id": journey_id},
                "person_ref": f"ref-{journey_id}",
                "person_id_kind": "personnummer",
                "insats": insats,
                "decided_on": decided_on,
                "decided_by": "kv",
                "target_group": "other",
                "transfer_from": None,
            },
        )
        return journey_id

    def started(
        self, journey_id: str, starts_on: str, insats: str = "grund", provider: str = P1
    ) -> str:
        """A decision and its first provider."""
        self.decision(journey_id, insats)
        self.provider_chosen(journey_id, starts_on, provider)
        return journey_id

    def provider_chosen(self, journey_id: str, starts_on: str, provider: str = P1) -> None:
        self.add(
            journey_id,
            "ProviderChosen",
            starts_on,
            {"provider_id": provider, "starts_on": starts_on},
        )

    def provider_changed(
        self, journey_id: str, starts_on: str, provider: str, previous: str = P1
    ) -> None:
        self.add(
            journey_id,
            "ProviderChanged",
            starts_on,
            {"provider_id": provider, "starts_on": starts_on, "previous_provider_id": previous},
        )

    def plan(
        self, journey_id: str, established_on: str, planned_internship_start: str | None = None
    ) -> None:
        self.add(
            journey_id,
            "PlanRegistered",
            established_on,
            {
                "established_on": established_on,
                "due_on": "2099-01-01",
                "late": False,
                "planned_internship_start": planned_internship_start,
                "planned_internship_share_percent": 60 if planned_internship_start else None,
            },
        )

    def internship_started(self, journey_id: str, started_on: str) -> None:
        self.add(
            journey_id,
            "LanguageInternshipStarted",
            started_on,
            {"employer": "Bageriet AB", "started_on": started_on, "share_percent": 60},
        )

    def exited(self, journey_id: str, exited_on: str, reason: str = "work", **details: Any) -> None:
        payload = {"exited_on": exited_on, "reason": reason, **details}
        if reason == "work":
            payload.setdefault("employment_form", "permanent")
            payload.setdefault("subsidy", "none")
        self.add(journey_id, "JourneyExited", exited_on, payload)

    def follow_up(
        self,
        journey_id: str,
        followed_up_on: str,
        outcome: str = "sustained",
        bonus_claim: bool = False,
    ) -> None:
        self.add(
            journey_id,
            "FollowUpRecorded",
            followed_up_on,
            {
                "followed_up_on": followed_up_on,
                "outcome": outcome,
                "evidence": [{"type": "anställningsintyg", "id": "A1", "date": followed_up_on}],
                "due_on": "2099-01-01",
                "bonus_claim": bonus_claim,
            },
        )

    def review(self, journey_id: str, reviewed_on: str, decision: str = "approved") -> None:
        self.add(
            journey_id,
            "BonusClaimReviewed",
            reviewed_on,
            {
                "reviewed_on": reviewed_on,
                "decision": decision,
                "reason": None if decision == "approved" else "intyg saknas",
            },
        )

    def withdrawn(self, journey_id: str, withdrawn_on: str) -> None:
        self.add(
            journey_id,
            "DecisionWithdrawn",
            withdrawn_on,
            {"withdrawn_on": withdrawn_on, "reason": "kunden tackade nej"},
        )

    def corrected(
        self, journey_id: str, what: str, old: Any, new: Any, provider_id: str | None = None
    ) -> None:
        effective = min(old, new) if isinstance(old, str) else new["exited_on"]
        self.add(
            journey_id,
            "Corrected",
            effective,
            {
                "what": what,
                "old": old,
                "new": new,
                "reason": "fel datum",
                "provider_id": provider_id,
            },
        )

    # --- provider facts --------------------------------------------------------------------------

    def authorised(self, provider: str, authorised_from: str = "2020-01-01") -> None:
        self.add(
            f"provider-{provider}",
            "ProviderAuthorised",
            authorised_from,
            {
                "provider_id": provider,
                "name": f"Anordnare {provider}",
                "insats_types": ["grund", "forstarkt", "sai"],
                "authorised_from": authorised_from,
                "bankgiro": "5050-1055",
                "iban": None,
            },
            stream_type="provider",
        )

    def deauthorised(self, provider: str, effective_on: str) -> None:
        self.add(
            f"provider-{provider}",
            "ProviderDeauthorised",
            effective_on,
            {"provider_id": provider, "effective_on": effective_on, "reason": "avtalsbrott"},
            stream_type="provider",
        )

    def rates(self) -> None:
        self.add(
            "rates",
            "RatesSet",
            "2016-01-01",
            {
                "effective_from": "2016-01-01",
                "monthly": {"grund": "3686.00", "forstarkt": "4823.00", "sai": "7293.00"},
                "bonus": {"grund": "18000.00", "forstarkt": "18000.00", "sai": "18000.00"},
                "voucher_min": "5000.00",
                "voucher_max": "15000.00",
                "min_days_before_payment": 14,
            },
            stream_type="rates",
        )


@pytest.fixture
def log() -> EventLog:
    return EventLog()
