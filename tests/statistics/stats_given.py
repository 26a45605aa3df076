"""Builders for the statistics tests: journeys as the public events the lifecycle publishes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from contracts.events import PublicEvent
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.statistics.projection import StatisticsProjection
from services.statistics.service import StatisticsService

P1, P2, P3 = "5560000001", "5560000002", "5560000003"


class Given:
    """An ordered public event log, written the way the lifecycle records facts."""

    def __init__(self) -> None:
        self.events: list[PublicEvent] = []
        self._versions: dict[str, int] = {}
        self._has_provider: set[str] = set()
        self._current: dict[str, str] = {}
        self._persons = 0

    # --- plumbing ------------------------------------------------------------------------------

    def _add(
        self, stream_id: str, stream_type: str, kind: str, effective: str, payload: dict[str, Any]
    ) -> None:
        version = self._versions.get(stream_id, 0) + 1
        self._versions[stream_id] = version
        self.events.append(
            PublicEvent(
                position=len(self.events) + 1,
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stream_id}/{version}")),
                stream_id=stream_id,
                stream_type=stream_type,
                type=kind,
                version=version,
                effective_date=effective,
                recorded_at="2030-01-01T00:00:00Z",
                actor="test",
                source_system="test",
                correlation_id=str(uuid.uuid4()),
                payload=payload,
            )
        )

    def person(self) -> str:
        self._persons += 1
        return f"person-{self._persons}"

    # --- journey facts -------------------------------------------------------------------------

    def decision(
        self,
        *,
        insats: str = "grund",
        person: str | None = None,
        target_group: str = "income_support",
        decided_on: str = "2023-01-01",
        transfer_from: str | None = None,
    ) -> str:
        journey = str(uuid.uuid4())
        self._add(
            journey,
            "journey",
            "DecisionRegistered",
            decided_on,
            {
                "external_ref": {"system": "test", "decision_id": journey},
                "person_ref": person or self.person(),
                "person_id_kind": "personnummer",
                "insats": insats,
                "decided_on": decided_on,
                "decided_by": "counsellor",
                "target_group": target_group,
                "transfer_from": transfer_from,
            },
        )
        return journey

    def provider(self, journey: str, provider_id: str, starts_on: str) -> None:
        if journey in self._has_provider:
            self._add(
                journey,
                "journey",
                "ProviderChanged",
                starts_on,
                {
                    "provider_id": provider_id,
                    "starts_on": starts_on,
                    "previous_provider_id": self._current[journey],
                },
            )
        else:
            self._add(
                journey,
                "journey",
                "ProviderChosen",
                starts_on,
                {"provider_id": provider_id, "starts_on": starts_on},
            )
        self._has_provider.add(journey)
        self._current[journey] = provider_id

    def journey(
        self,
        starts_on: str,
        exited_on: str | None = None,
        reason: str = "work",
        *,
        insats: str = "grund",
        person: str | None = None,
        target_group: str = "income_support",
        provider_id: str = P1,
    ) -> str:
        """A decided, started (and maybe exited) journey."""
        journey = self.decision(
            insats=insats, person=person, target_group=target_group, decided_on=starts_on
        )
        self.provider(journey, provider_id, starts_on)
        if exited_on is not None:
            self.exit(journey, exited_on, reason)
        return journey

    def exit(self, journey: str, exited_on: str, reason: str = "work", **details: Any) -> None:
        payload: dict[str, Any] = {"exited_on": exited_on, "reason": reason, **details}
        if reason == "work" and not details:
            payload.update(employment_form="permanent", subsidy="none")
        self._add(journey, "journey", "JourneyExited", exited_on, payload)

    def plan(self, journey: str, established_on: str, due_on: str = "2000-01-01") -> None:
        self._add(
            journey,
            "journey",
            "PlanRegistered",
            established_on,
            {"established_on": established_on, "due_on": due_on, "late": False},
        )

    def follow_up(self, journey: str, on: str, outcome: str = "sustained") -> None:
        self._add(
            journey,
            "journey",
            "FollowUpRecorded",
            on,
            {
                "followed_up_on": on,
                "outcome": outcome,
                "evidence": [{"type": "employment_certificate", "id": "e1", "date": on}],
                "due_on": on,
                "bonus_claim": outcome == "sustained",
            },
        )

    def withdraw(self, journey: str, on: str) -> None:
        self._add(
            journey, "journey", "DecisionWithdrawn", on, {"withdrawn_on": on, "reason": "test"}
        )

    def correct(
        self, journey: str, what: str, old: Any, new: Any, provider_id: str | None = None
    ) -> None:
        payload: dict[str, Any] = {"what": what, "old": old, "new": new, "reason": "rättelse"}
        if provider_id is not None:
            payload["provider_id"] = provider_id
        self._add(journey, "journey", "Corrected", "2030-01-01", payload)

    def voucher(self, journey: str, on: str) -> None:
        self._add(
            journey,
            "journey",
            "VoucherGranted",
            on,
            {
                "voucher_id": str(uuid.uuid4()),
                "amount": "5000.00",
                "purpose": "B",
                "granted_on": on,
            },
        )

    # --- provider facts ------------------------------------------------------------------------

    def authorise(self, provider_id: str, name: str) -> None:
        self._add(
            str(uuid.uuid5(uuid.NAMESPACE_OID, provider_id)),
            "provider",
            "ProviderAuthorised",
            "2016-01-01",
            {
                "provider_id": provider_id,
                "name": name,
                "insats_types": ["grund", "forstarkt", "sai"],
                "authorised_from": "2016-01-01",
            },
        )

    def rename(self, provider_id: str, name: str, effective_from: str) -> None:
        """ProviderDetailsChanged: the whole version, here only the name differs."""
        self._add(
            str(uuid.uuid5(uuid.NAMESPACE_OID, provider_id)),
            "provider",
            "ProviderDetailsChanged",
            effective_from,
            {
                "provider_id": provider_id,
                "effective_from": effective_from,
                "name": name,
                "bankgiro": "5050-1055",
                "iban": None,
                "reason": "namnbyte",
            },
        )

    def deauthorise(self, provider_id: str, effective_on: str) -> None:
        self._add(
            str(uuid.uuid5(uuid.NAMESPACE_OID, provider_id)),
            "provider",
            "ProviderDeauthorised",
            effective_on,
            {"provider_id": provider_id, "effective_on": effective_on, "reason": "test"},
        )

    # --- when ------------------------------------------------------------------------------------

    def service(
        self, *, today: date = date(2030, 1, 1), batch_size: int = 1000
    ) -> StatisticsService:
        """The log fed through the 'statistics' projection into a fresh database."""
        db = SQLiteDatabase(":memory:")
        FeedRunner(
            ListEventSource(self.events), db, [StatisticsProjection()], batch_size=batch_size
        ).catch_up()
        return StatisticsService(db, today=lambda: today)
