"""Recording facts through the lifecycle application's commands (no HTTP) on a real store, for the
store-level and system tests. To state past events, use tests/given.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.lifecycle.application import LifecycleApp
from services.lifecycle.domain.base import CommandContext
from services.lifecycle.domain.journey import ExternalRef
from tests.given import P1
from tests.given import personnummer as person


def ctx_of(app: LifecycleApp, correlation: str = "test") -> CommandContext:
    return app.context("publisher:ecos", "ecos", correlation)


def authorise(
    app: LifecycleApp, provider_id: str = P1, types: tuple[str, ...] = ("grund", "sai")
) -> None:
    app.authorise_provider(
        ctx_of(app),
        provider_id=provider_id,
        name=f"Anordnare {provider_id}",
        insats_types=list(types),
        authorised_from=date(2020, 1, 1),
        bankgiro="5050-1055",
        iban=None,
    )


def decide(app: LifecycleApp, decision_id: str, pnr: str | None = None, **overrides: Any) -> str:
    """A decision (grund, decided 2026-01-10 unless overridden); returns the journey id."""
    args: dict[str, Any] = {
        "external_ref": ExternalRef("ecos", decision_id),
        "person_id": pnr or person("1990-01-01"),
        "insats": "grund",
        "decided_on": date(2026, 1, 10),
        "decided_by": "kv",
        "target_group": "other",
    }
    args.update(overrides)
    return str(app.register_decision(ctx_of(app, decision_id), **args).resource["journey_id"])


def start(
    app: LifecycleApp, journey_id: str, provider_id: str = P1, on: date = date(2026, 1, 20)
) -> None:
    app.choose_provider(ctx_of(app), journey_id, provider_id=provider_id, starts_on=on)
