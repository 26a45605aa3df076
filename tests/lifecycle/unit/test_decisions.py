"""Decisions (SPEC §3 DecisionRegistered, §3.1): personnummer, ages, one open journey per person,
transfers, idempotent external references. Given past events, when a decision is registered
through the real LifecycleApp (in memory), then these events — whole payloads — or this refusal,
which records nothing. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from services.lifecycle.domain.journey import ExternalRef, Transfer, journey_id_for
from services.lifecycle.domain.personnummer import parse_person_id
from services.platform.refusal import Refusal
from tests.given import (
    P1,
    TODAY,
    EventLog,
    Refused,
    When,
    d,
    exit_payload,
    person_ref_of,
    personnummer,
    when,
)

PNR = personnummer("1990-01-01")


def world() -> EventLog:
    given = EventLog()
    given.default_rates()
    given.provider_authorised(P1)
    return given


def register(
    app: When, decision_id: str, person_id: str, **overrides: Any
) -> list[tuple[str, dict[str, Any]]] | Refused:
    """A grund decision decided 2026-01-10 by kv-anna, from ECOS."""
    args: dict[str, Any] = dict(
        external_ref=ExternalRef("ecos", decision_id),
        person_id=person_id,
        insats="grund",
        decided_on=d("2026-01-10"),
        decided_by="kv-anna",
        target_group="other",
    )
    args.update(overrides)
    return app.register_decision(**args)  # type: ignore[no-any-return]


def registered(decision_id: str, person_id: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """The DecisionRegistered that `register` records."""
    payload: dict[str, Any] = {
        "external_ref": {"system": "ecos", "decision_id": decision_id},
        "person_ref": person_ref_of(person_id),
        "person_id_kind": "personnummer",
        "insats": "grund",
        "decided_on": "2026-01-10",
        "decided_by": "kv-anna",
        "target_group": "other",
        "transfer_from": None,
    }
    payload.update(overrides)
    return ("DecisionRegistered", payload)


# --- personnummer ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["19900101-0017", "199001010017", "900101-0017", "9001010017"])
def test_personnummer_forms_normalise_to_twelve_digits(text: str) -> None:
    p = parse_person_id(text, d(TODAY))
    assert p.number == "199001010017" and p.kind == "personnummer"


@pytest.mark.parametrize("text", ["19900101-0017", "900101-0017", "9001010017"])
def test_every_form_of_a_personnummer_is_the_same_person(text: str) -> None:
    then = register(when(world()), "d1", text)
    assert then == [registered("d1", "199001010017")]


def test_a_plus_sign_means_a_hundred_years_or_older() -> None:
    assert parse_person_id("101010+1234", d(TODAY)).birth_date == d("1910-10-10")


def test_samordningsnummer_is_accepted_and_its_kind_stored() -> None:
    p = parse_person_id("19900161-0014", d(TODAY))
    assert p.kind == "samordningsnummer" and p.birth_date == d("1990-01-01")
    then = register(when(world()), "d1", "19900161-0014")
    assert then == [registered("d1", "19900161-0014", person_id_kind="samordningsnummer")]


@pytest.mark.parametrize("text", ["19900101-0018", "19901301-0017", "19900230-0011", "abc", ""])
def test_invalid_personnummer_is_refused(text: str) -> None:
    with pytest.raises(Refusal) as info:
        parse_person_id(text, d(TODAY))
    assert info.value.code == "invalid_person_id"
    assert register(when(world()), "d1", text) == Refused("invalid_person_id", "person_id")


# --- ages and target groups ----------------------------------------------------------------------


def test_a_customer_must_be_18_on_the_decision_date() -> None:
    app = when(world())
    too_young, just_18 = personnummer("2008-01-11"), personnummer("2008-01-10")
    assert register(app, "a", too_young) == Refused("age_out_of_range", "person_id")
    assert register(app, "b", just_18) == [registered("b", just_18)]


def test_a_customer_older_than_65_is_refused() -> None:
    app = when(world())
    sixty_six, sixty_five = personnummer("1960-01-10"), personnummer("1960-01-11")  # today
    assert register(app, "a", sixty_six) == Refused("age_out_of_range", "person_id")
    assert register(app, "b", sixty_five) == [registered("b", sixty_five)]


def test_target_group_youth_is_18_to_24() -> None:
    app = when(world())
    twenty_five, twenty_four = personnummer("2001-01-10"), personnummer("2001-01-11")
    then = register(app, "a", twenty_five, target_group="youth")
    assert then == Refused("age_out_of_range", "target_group")
    then = register(app, "b", twenty_four, target_group="youth")
    assert then == [registered("b", twenty_four, target_group="youth")]


# --- one open journey per person ----------------------------------------------------------------


def test_a_person_has_at_most_one_open_journey() -> None:
    given = world()
    given.decision(person_id=PNR, external_ref=("ecos", "first"))
    then = register(when(given), "second", PNR)
    assert then == Refused("open_journey_exists", "person_id", "Conflict")


def test_after_exit_a_new_journey_may_be_opened() -> None:
    given = world()
    first = given.started(person_id=PNR, external_ref=("ecos", "first"))
    given.exited(first, "2026-03-01", "moved")
    then = register(when(given), "second", PNR, decided_on=d("2026-06-01"))
    assert then == [registered("second", PNR, decided_on="2026-06-01")]


def test_a_withdrawn_decision_frees_the_person() -> None:
    given = world()
    first = given.decision(person_id=PNR, external_ref=("ecos", "first"))
    given.withdrawn(first, "2026-01-12", "flyttat")
    assert register(when(given), "second", PNR) == [registered("second", PNR)]


def test_a_transfer_exits_the_old_journey_and_opens_the_new_one_atomically() -> None:
    given = world()
    old = given.started(person_id=PNR, external_ref=("ecos", "first"))
    new = str(journey_id_for("ecos", "second"))
    app = when(given)
    then = register(
        app,
        "second",
        PNR,
        insats="sai",
        decided_on=d("2026-05-01"),
        transfer_from=Transfer(old, d("2026-04-30")),
    )
    assert sorted(then) == sorted(  # type: ignore[arg-type]
        [
            registered("second", PNR, insats="sai", decided_on="2026-05-01", transfer_from=old),
            ("JourneyExited", exit_payload("2026-04-30", "other_insats", next_journey_id=new)),
        ],
        key=str,
    )
    assert {e.stream_id for e in app.recorded} == {old, new}
    assert app.journey(old).facts.exit.next_journey_id == new  # type: ignore[union-attr]


def test_a_transfer_from_a_journey_that_breaks_the_exit_rules_records_nothing() -> None:
    given = world()
    old = given.decision(person_id=PNR, external_ref=("ecos", "first"))
    then = register(when(given), "second", PNR, transfer_from=Transfer(old, d("2026-04-30")))
    assert then == Refused("journey_not_started", None, "Conflict")


def test_a_transfer_from_another_persons_journey_is_refused() -> None:
    given = world()
    old = given.started(person_id=personnummer("1985-05-05"), external_ref=("ecos", "first"))
    then = register(when(given), "second", PNR, transfer_from=Transfer(old, d("2026-04-30")))
    assert then == Refused("transfer_other_person", "transfer_from")


# --- idempotency of external references ---------------------------------------------------------


def test_the_same_external_ref_with_the_same_content_returns_the_same_journey() -> None:
    given = world()
    journey = given.decision(
        person_id=PNR, external_ref=("ecos", "d1"), decided_by="kv-anna", insats="grund"
    )
    app = when(given)
    assert register(app, "d1", PNR) == []
    assert app.result.status == 200 and app.result.resource["journey_id"] == journey


def test_the_same_external_ref_with_other_content_is_a_conflict() -> None:
    given = world()
    given.decision(person_id=PNR, external_ref=("ecos", "d1"), decided_by="kv-anna")
    then = register(when(given), "d1", PNR, insats="sai")
    assert then == Refused("duplicate_external_ref", "external_ref", "Conflict")


def test_a_decision_in_the_future_is_refused() -> None:
    then = register(when(world()), "d1", PNR, decided_on=d("2026-11-24"))
    assert then == Refused("date_in_future", "decided_on")
