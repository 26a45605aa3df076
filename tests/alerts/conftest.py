"""Given-facts for the alerts tests: the public events (the contract) in log order, with the
effective dates the lifecycle side would give them, named as these tests name them — a thin layer
over the one builder (tests/given.py), which checks every event against its JSON Schema."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.given import EventLog as OneEventLog

P1 = "5566778899"
P2 = "5599887766"
P3 = "5500112239"


def d(text: str) -> date:
    return date.fromisoformat(text)


class EventLog(OneEventLog):
    def __init__(self) -> None:
        # positions 7, 10, 13, ...: gaps are allowed in the log
        super().__init__(
            start=4, step=3, recorded_at="2026-01-01T00:00:00Z", actor="publisher:test"
        )

    # --- journey facts ---------------------------------------------------------------------------

    def decision(  # type: ignore[override]
        self, journey_id: str, insats: str = "grund", decided_on: str = "2026-01-02"
    ) -> str:
        return super().decision(
            journey_id,
            insats=insats,
            decided_on=decided_on,
            decided_by="kv",
            person_ref=f"ref-{journey_id}",
        )

    def started(  # type: ignore[override]
        self, journey_id: str, starts_on: str, insats: str = "grund", provider: str = P1
    ) -> str:
        """A decision and its first provider."""
        self.decision(journey_id, insats)
        self.provider_chosen(journey_id, starts_on, provider)
        return journey_id

    def provider_chosen(  # type: ignore[override]
        self, journey_id: str, starts_on: str, provider: str = P1
    ) -> None:
        super().provider_chosen(journey_id, provider, starts_on)

    def provider_changed(  # type: ignore[override]
        self, journey_id: str, starts_on: str, provider: str, previous: str = P1
    ) -> None:
        super().provider_changed(journey_id, provider, starts_on, previous)

    def plan(  # type: ignore[override]
        self, journey_id: str, established_on: str, planned_internship_start: str | None = None
    ) -> None:
        super().plan(
            journey_id,
            established_on,
            planned_internship_start=planned_internship_start,
            planned_internship_share_percent=60 if planned_internship_start else None,
        )

    def exited(  # type: ignore[override]
        self, journey_id: str, exited_on: str, reason: str = "work", **details: Any
    ) -> None:
        """An exit to work is to a permanent job without subsidy unless the details say."""
        if reason == "work":
            details.setdefault("employment_form", "permanent")
            details.setdefault("contract_months", None)
            details.setdefault("subsidy", "none")
        super().exited(journey_id, exited_on, reason, **details)

    def follow_up(  # type: ignore[override]
        self,
        journey_id: str,
        followed_up_on: str,
        outcome: str = "sustained",
        bonus_claim: bool = False,
    ) -> None:
        super().follow_up(
            journey_id,
            followed_up_on,
            outcome,
            bonus_claim=bonus_claim,
            evidence=[{"type": "anställningsintyg", "id": "A1", "date": followed_up_on}],
        )

    def review(self, journey_id: str, reviewed_on: str, decision: str = "approved") -> None:
        self.bonus_reviewed(journey_id, reviewed_on, decision)

    def withdrawn(self, journey_id: str, withdrawn_on: str) -> None:  # type: ignore[override]
        super().withdrawn(journey_id, withdrawn_on, "kunden tackade nej")

    def corrected(  # type: ignore[override]
        self, journey_id: str, what: str, old: Any, new: Any, provider_id: str | None = None
    ) -> None:
        effective = min(old, new) if isinstance(old, str) else new["exited_on"]
        super().corrected(journey_id, what, old, new, provider_id=provider_id, effective=effective)

    # --- provider facts --------------------------------------------------------------------------

    def authorised(self, provider: str, authorised_from: str = "2020-01-01") -> None:
        self.provider_authorised(provider, authorised_from=authorised_from)

    def deauthorised(self, provider: str, effective_on: str) -> None:
        self.provider_deauthorised(provider, effective_on, "avtalsbrott")

    def rates(self) -> None:
        self.rates_published("2016-01-01")


@pytest.fixture
def log() -> EventLog:
    return EventLog()
