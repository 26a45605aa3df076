"""Decisions (SPEC §3 DecisionRegistered, §3.1): personnummer, ages, one open journey per person,
transfers, idempotent external references. In-memory store: no I/O."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from contracts.journey import Exit
from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.domain.journey import ExternalRef, Transfer
from services.lifecycle.domain.personnummer import parse_person_id
from services.platform.refusal import Conflict, Refusal
from tests.conftest import P1, d, person

TODAY = date(2026, 11, 23)


@pytest.fixture
def app() -> LifecycleApp:
    a = LifecycleApp(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        person_key=PersonRefKey(b"k" * 32),
        today=lambda: TODAY,
    )
    a.ensure_default_rates()
    ctx = a.context("admin:test", "test", "c")
    a.authorise_provider(
        ctx,
        provider_id=P1,
        name="Anordnare 1",
        insats_types=["grund", "forstarkt", "sai"],
        authorised_from=d("2020-01-01"),
        bankgiro="5050-1055",
        iban=None,
    )
    return a


def decide(app: LifecycleApp, decision_id: str, pnr: str, **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        external_ref=ExternalRef("ecos", decision_id),
        person_id=pnr,
        insats="grund",
        decided_on=d("2026-01-10"),
        decided_by="kv-anna",
        target_group="other",
    )
    args.update(kw)
    return app.register_decision(app.context("publisher:ecos", "ecos", decision_id), **args)


def refused(app: LifecycleApp, code: str, call: Any, exc: type[Refusal] = Refusal) -> None:
    before = app.max_position()
    with pytest.raises(exc) as info:
        call()
    assert info.value.code == code
    assert app.max_position() == before, "a refusal must record nothing"


# --- personnummer ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["19900101-0017", "199001010017", "900101-0017", "9001010017"])
def test_personnummer_forms_normalise_to_twelve_digits(text: str) -> None:
    p = parse_person_id(text, TODAY)
    assert p.number == "199001010017" and p.kind == "personnummer"


def test_a_plus_sign_means_a_hundred_years_or_older() -> None:
    assert parse_person_id("101010+1234", TODAY).birth_date == d("1910-10-10")


def test_samordningsnummer_is_accepted_and_its_kind_stored() -> None:
    p = parse_person_id("19900161-0014", TODAY)
    assert p.kind == "samordningsnummer" and p.birth_date == d("1990-01-01")


@pytest.mark.parametrize("text", ["19900101-0018", "19901301-0017", "19900230-0011", "abc", ""])
def test_invalid_personnummer_is_refused(text: str) -> None:
    with pytest.raises(Refusal) as info:
        parse_person_id(text, TODAY)
    assert info.value.code == "invalid_person_id"


# --- ages and target groups ----------------------------------------------------------------------


def test_a_customer_must_be_18_on_the_decision_date(app: LifecycleApp) -> None:
    refused(app, "age_out_of_range", lambda: decide(app, "a", person("2008-01-11")))
    assert decide(app, "b", person("2008-01-10")).status == 201


def test_a_customer_older_than_65_is_refused(app: LifecycleApp) -> None:
    refused(app, "age_out_of_range", lambda: decide(app, "a", person("1960-01-10")))  # 66 today
    assert decide(app, "b", person("1960-01-11")).status == 201  # 65 until tomorrow


def test_target_group_youth_is_18_to_24(app: LifecycleApp) -> None:
    refused(
        app,
        "age_out_of_range",
        lambda: decide(app, "a", person("2001-01-10"), target_group="youth"),  # 25 today
    )
    assert decide(app, "b", person("2001-01-11"), target_group="youth").status == 201


# --- one open journey per person ----------------------------------------------------------------


def test_a_person_has_at_most_one_open_journey(app: LifecycleApp) -> None:
    pnr = person("1990-01-01")
    decide(app, "first", pnr)
    refused(app, "open_journey_exists", lambda: decide(app, "second", pnr), Conflict)


def test_after_exit_a_new_journey_may_be_opened(app: LifecycleApp) -> None:
    pnr = person("1990-01-01")
    jid = decide(app, "first", pnr).resource["journey_id"]
    ctx = app.context("publisher:ecos", "ecos", "x")
    app.choose_provider(ctx, jid, provider_id=P1, starts_on=d("2026-01-20"))
    app.exit_journey(ctx, jid, Exit(d("2026-03-01"), "moved"))
    assert decide(app, "second", pnr, decided_on=d("2026-06-01")).status == 201


def test_a_withdrawn_decision_frees_the_person(app: LifecycleApp) -> None:
    pnr = person("1990-01-01")
    jid = decide(app, "first", pnr).resource["journey_id"]
    ctx = app.context("publisher:ecos", "ecos", "x")
    app.withdraw_decision(ctx, jid, withdrawn_on=d("2026-01-12"), reason="flyttat")
    assert decide(app, "second", pnr).status == 201


def test_a_transfer_exits_the_old_journey_and_opens_the_new_one_atomically(
    app: LifecycleApp,
) -> None:
    pnr = person("1990-01-01")
    old = decide(app, "first", pnr).resource["journey_id"]
    ctx = app.context("publisher:ecos", "ecos", "x")
    app.choose_provider(ctx, old, provider_id=P1, starts_on=d("2026-01-20"))
    new = decide(
        app,
        "second",
        pnr,
        insats="sai",
        decided_on=d("2026-05-01"),
        transfer_from=Transfer(old, d("2026-04-30")),
    ).resource["journey_id"]
    exit = app.journey(old).facts.exit
    assert exit is not None
    assert (exit.reason, exit.exited_on, exit.next_journey_id) == (
        "other_insats",
        d("2026-04-30"),
        new,
    )
    decision = app.journey(new).facts.decision
    assert decision is not None and decision.transfer_from == old


def test_a_transfer_from_a_journey_that_breaks_the_exit_rules_records_nothing(
    app: LifecycleApp,
) -> None:
    pnr = person("1990-01-01")
    old = decide(app, "first", pnr).resource["journey_id"]
    refused(
        app,
        "journey_not_started",
        lambda: decide(app, "second", pnr, transfer_from=Transfer(old, d("2026-04-30"))),
        Conflict,
    )


# --- idempotency of external references ---------------------------------------------------------


def test_the_same_external_ref_with_the_same_content_returns_the_same_journey(
    app: LifecycleApp,
) -> None:
    pnr = person("1990-01-01")
    first = decide(app, "d1", pnr)
    before = app.max_position()
    again = decide(app, "d1", pnr)
    assert again.status == 200 and again.resource["journey_id"] == first.resource["journey_id"]
    assert app.max_position() == before


def test_the_same_external_ref_with_other_content_is_a_conflict(app: LifecycleApp) -> None:
    pnr = person("1990-01-01")
    decide(app, "d1", pnr)
    refused(app, "duplicate_external_ref", lambda: decide(app, "d1", pnr, insats="sai"), Conflict)


def test_a_decision_in_the_future_is_refused(app: LifecycleApp) -> None:
    refused(
        app,
        "date_in_future",
        lambda: decide(app, "d1", person("1990-01-01"), decided_on=d("2026-11-24")),
    )
