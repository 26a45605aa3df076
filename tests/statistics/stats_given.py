"""Builders for the statistics tests: journeys as the public events the lifecycle publishes, named
as these tests name them — a thin layer over the one builder (tests/given.py), which checks every
event against its JSON Schema."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.statistics.projection import StatisticsProjection
from services.statistics.service import StatisticsService
from tests.given import EventLog

P1, P2, P3 = "5560000001", "5560000002", "5560000003"


class Given(EventLog):
    """An ordered public event log, written the way the lifecycle records facts."""

    def __init__(self) -> None:
        super().__init__(recorded_at="2030-01-01T00:00:00Z")
        self._person_refs = 0

    def person(self) -> str:
        self._person_refs += 1
        return f"person-{self._person_refs}"

    # --- journey facts -------------------------------------------------------------------------

    def decision(  # type: ignore[override]
        self,
        *,
        insats: str = "grund",
        person: str | None = None,
        target_group: str = "income_support",
        decided_on: str = "2023-01-01",
        transfer_from: str | None = None,
    ) -> str:
        journey = str(uuid.uuid4())
        return super().decision(
            journey,
            insats=insats,
            person_ref=person or self.person(),
            target_group=target_group,
            decided_on=decided_on,
            decided_by="counsellor",
            transfer_from=transfer_from,
        )

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
        """An exit to work is to a permanent job without subsidy unless the details say."""
        if reason == "work" and not details:
            details = {"employment_form": "permanent", "contract_months": None, "subsidy": "none"}
        self.exited(journey, exited_on, reason, **details)

    def plan(  # type: ignore[override]
        self, journey: str, established_on: str, due_on: str = "2000-01-01"
    ) -> None:
        super().plan(journey, established_on, due_on=due_on)

    def follow_up(  # type: ignore[override]
        self, journey: str, on: str, outcome: str = "sustained"
    ) -> None:
        super().follow_up(
            journey,
            on,
            outcome,
            due_on=on,
            evidence=[{"type": "employment_certificate", "id": "e1", "date": on}],
        )

    def withdraw(self, journey: str, on: str) -> None:
        self.withdrawn(journey, on, "test")

    def correct(
        self, journey: str, what: str, old: Any, new: Any, provider_id: str | None = None
    ) -> None:
        self.corrected(
            journey,
            what,
            old,
            new,
            provider_id=provider_id,
            reason="rättelse",
            effective="2030-01-01",
        )

    def voucher(self, journey: str, on: str) -> None:  # type: ignore[override]
        super().voucher(journey, on, "5000.00", purpose="B")

    # --- provider facts ------------------------------------------------------------------------

    def authorise(self, provider_id: str, name: str) -> None:
        self.provider_authorised(provider_id, name, authorised_from="2016-01-01", bankgiro=None)

    def rename(self, provider_id: str, name: str, effective_from: str) -> None:
        """ProviderDetailsChanged: the whole version, here only the name differs."""
        self.provider_details_changed(
            provider_id, effective_from, name, bankgiro="5050-1055", reason="namnbyte"
        )

    def deauthorise(self, provider_id: str, effective_on: str) -> None:
        self.provider_deauthorised(provider_id, effective_on, "test")

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


def busy_log() -> Given:
    """Journeys with every kind of fact and correction (a withdrawn one, a transfer of
    provider, corrected starts, exits and provider starts)."""
    given = Given()
    given.authorise(P1, "Ett AB")
    a = given.journey("2023-03-01", insats="forstarkt", provider_id=P1)
    given.plan(a, "2023-04-01")
    given.provider(a, P2, "2023-09-01")
    given.voucher(a, "2023-10-01")
    given.exit(a, "2024-02-01", "work", employment_form="permanent", subsidy="none")
    given.follow_up(a, "2024-08-01", "sustained")
    given.correct(a, "provider_starts_on", "2023-09-01", "2023-08-15", provider_id=P2)
    b = given.journey("2024-01-10", insats="sai", provider_id=P2)
    given.correct(b, "starts_on", "2024-01-10", "2024-01-05")
    c = given.decision(insats="grund")
    given.withdraw(c, "2024-01-02")
    d = given.journey("2023-11-01", "2024-04-01", "illness")
    given.correct(
        d,
        "exit",
        {"exited_on": "2024-04-01", "reason": "illness"},
        {"exited_on": "2024-03-20", "reason": "moved"},
    )
    return given
