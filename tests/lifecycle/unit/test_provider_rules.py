"""Providers (SPEC §3 ProviderAuthorised): the payment account rules. Given these facts, when
this command, then these events or this refusal — and a refusal records nothing. No database."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from stdnum import luhn

from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.domain.base import CommandContext
from services.lifecycle.domain.provider import Provider
from services.platform.refusal import Refusal
from tests.conftest import P1, d

TODAY = date(2026, 5, 15)
CTX = CommandContext("admin:anna", "admin-ui", "corr-1", TODAY)
IBAN = "SE4550000000058398257466"  # a valid Swedish IBAN (mod 97)


def authorised(**overrides: Any) -> Provider:
    fields: dict[str, Any] = {
        "provider_id": P1,
        "name": "Jobbstart AB",
        "insats_types": ["grund", "sai"],
        "authorised_from": d("2020-01-01"),
        "bankgiro": "5050-1055",
        "iban": None,
    }
    fields.update(overrides)
    return Provider.authorise(CTX, **fields)


@pytest.fixture
def app() -> LifecycleApp:
    return LifecycleApp(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        person_key=PersonRefKey(b"k" * 32),
        today=lambda: TODAY,
    )


def refused(app: LifecycleApp, code: str, call: Any) -> Refusal:
    before = app.max_position()
    with pytest.raises(Refusal) as info:
        call()
    assert info.value.code == code, info.value.message
    assert app.max_position() == before, "a refusal must record nothing"
    return info.value


# --- bankgiro and IBAN ------------------------------------------------------------------------


def test_the_example_bankgiro_numbers_have_valid_check_digits() -> None:
    assert luhn.is_valid("50501055") and luhn.is_valid("1234566")
    assert not luhn.is_valid("1234567")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("5050-1055", "5050-1055"),
        ("50501055", "5050-1055"),
        ("123-4566", "123-4566"),
        ("1234566", "123-4566"),
        (" 5050-1055 ", "5050-1055"),
    ],
)
def test_a_bankgiro_is_stored_in_its_dashed_form(given: str, stored: str) -> None:
    (event,) = authorised(bankgiro=given).collect_events()
    assert event.payload()["bankgiro"] == stored


@pytest.mark.parametrize(
    "bankgiro", ["123-4567", "5050-1056", "12-3456", "5050-10555", "50-501055", "5050 1055", "abc"]
)
def test_a_bankgiro_with_a_wrong_check_digit_or_shape_is_refused(
    app: LifecycleApp, bankgiro: str
) -> None:
    error = refused(
        app,
        "invalid_bankgiro",
        lambda: app.authorise_provider(
            CTX,
            provider_id=P1,
            name="Jobbstart AB",
            insats_types=["grund"],
            authorised_from=d("2020-01-01"),
            bankgiro=bankgiro,
            iban=None,
        ),
    )
    assert error.field == "bankgiro"


@pytest.mark.parametrize(
    ("given", "stored"),
    [(IBAN, IBAN), ("se45 5000 0000 0583 9825 7466", IBAN)],
)
def test_an_iban_is_checked_and_stored_compact(given: str, stored: str) -> None:
    (event,) = authorised(bankgiro=None, iban=given).collect_events()
    assert event.payload()["iban"] == stored


@pytest.mark.parametrize(
    "iban",
    [
        "SE0000000000000000000000",  # the tester's: wrong check digits
        "SE4550000000058398257467",  # one digit off
        "SE45500000000583982574",  # too short for Sweden
        "DE89370400440532013000",  # valid, but not a Swedish account
        "not an iban",
    ],
)
def test_an_invalid_or_foreign_iban_is_refused(app: LifecycleApp, iban: str) -> None:
    error = refused(
        app,
        "invalid_iban",
        lambda: app.authorise_provider(
            CTX,
            provider_id=P1,
            name="Jobbstart AB",
            insats_types=["grund"],
            authorised_from=d("2020-01-01"),
            bankgiro=None,
            iban=iban,
        ),
    )
    assert error.field == "iban"


def test_an_authorisation_needs_a_payment_account() -> None:
    with pytest.raises(Refusal) as info:
        authorised(bankgiro=None, iban=None)
    assert info.value.code == "payment_account_required"


def test_repeating_an_authorisation_in_the_undashed_form_is_the_same_authorisation(
    app: LifecycleApp,
) -> None:
    fields: dict[str, Any] = {
        "provider_id": P1,
        "name": "Jobbstart AB",
        "insats_types": ["grund"],
        "authorised_from": d("2020-01-01"),
        "bankgiro": "5050-1055",
        "iban": None,
    }
    assert app.authorise_provider(CTX, **fields).status == 201
    position = app.max_position()
    again = app.authorise_provider(CTX, **{**fields, "bankgiro": "50501055"})
    assert again.status == 200 and app.max_position() == position


# --- name and payment account changed, effective-dated ----------------------------------------


def given_authorised(**overrides: Any) -> Provider:
    provider = authorised(**overrides)
    provider.collect_events()
    return provider


def payloads(provider: Provider) -> list[dict[str, Any]]:
    return [e.payload() for e in provider.collect_events()]


def change(provider: Provider, on: str, reason: str = "ändrat avtal", **changes: Any) -> None:
    provider.change_details(CTX, effective_from=d(on), reason=reason, changes=changes)


def test_a_change_of_name_and_bankgiro_is_recorded_whole_from_its_date() -> None:
    provider = given_authorised()
    change(provider, "2026-06-01", reason="fusion", name="Jobbstart Nacka AB", bankgiro="1234566")
    (event,) = provider.pending_events
    assert type(event).__name__ == "ProviderDetailsChanged"
    assert event.effective_date == d("2026-06-01")  # type: ignore[attr-defined]
    assert payloads(provider) == [
        {
            "provider_id": P1,
            "effective_from": "2026-06-01",
            "name": "Jobbstart Nacka AB",
            "bankgiro": "123-4566",
            "iban": None,
            "reason": "fusion",
        }
    ]


def test_fields_left_out_keep_the_value_in_force_on_the_date() -> None:
    provider = given_authorised()
    change(provider, "2026-06-01", iban=IBAN)
    assert payloads(provider)[0] | {"reason": None} == {
        "provider_id": P1,
        "effective_from": "2026-06-01",
        "name": "Jobbstart AB",
        "bankgiro": "5050-1055",
        "iban": IBAN,
        "reason": None,
    }


def test_an_account_can_be_removed_if_another_remains() -> None:
    provider = given_authorised(iban=IBAN)
    change(provider, "2026-06-01", bankgiro=None)
    (payload,) = payloads(provider)
    assert (payload["bankgiro"], payload["iban"]) == (None, IBAN)
    with pytest.raises(Refusal) as info:
        change(provider, "2026-07-01", iban=None)
    assert info.value.code == "payment_account_required"
    assert provider.pending_events == []


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"bankgiro": "123-4567"}, "invalid_bankgiro", "bankgiro"),
        ({"iban": "SE0000000000000000000000"}, "invalid_iban", "iban"),
        ({"name": "  "}, "invalid_name", "name"),
        ({"name": None}, "invalid_name", "name"),
        ({"name": "Jobbstart AB", "bankgiro": "5050-1055"}, "nothing_to_change", None),
        ({}, "nothing_to_change", None),
    ],
)
def test_a_change_that_breaks_a_rule_or_changes_nothing_is_refused(
    changes: dict[str, Any], code: str, field: str | None
) -> None:
    provider = given_authorised()
    with pytest.raises(Refusal) as info:
        change(provider, "2026-06-01", **changes)
    assert (info.value.code, info.value.field) == (code, field)
    assert provider.pending_events == []


@pytest.mark.parametrize(
    ("effective_from", "refusal"),
    [
        ("2019-12-31", "invalid_date"),  # before authorised_from
        ("2020-01-01", None),  # authorised_from itself
        ("2027-05-15", None),  # a year after today
        ("2027-05-16", "date_too_far_ahead"),  # more than a year ahead
    ],
)
def test_the_effective_date_lies_between_the_authorisation_and_a_year_ahead(
    effective_from: str, refusal: str | None
) -> None:
    provider = given_authorised()
    if refusal is None:
        change(provider, effective_from, name="Nytt Namn AB")
        assert len(provider.pending_events) == 1
        return
    with pytest.raises(Refusal) as info:
        change(provider, effective_from, name="Nytt Namn AB")
    assert (info.value.code, info.value.field) == (refusal, "effective_from")


def test_no_change_is_dated_before_customer_choice_began() -> None:
    provider = given_authorised(authorised_from=d("2005-01-01"))
    with pytest.raises(Refusal) as info:
        change(provider, "2008-12-31", name="Nytt Namn AB")
    assert info.value.code == "invalid_date" and "2009-01-01" in info.value.message


def test_a_change_needs_a_reason() -> None:
    provider = given_authorised()
    with pytest.raises(Refusal) as info:
        change(provider, "2026-06-01", reason=" ", name="Nytt Namn AB")
    assert info.value.code == "reason_required"


def test_the_view_shows_the_details_in_force_today_and_every_version() -> None:
    provider = given_authorised()
    change(provider, "2026-03-01", bankgiro="123-4566")
    change(provider, "2026-06-01", name="Jobbstart Nacka AB")
    provider.collect_events()
    view = provider.view(d("2026-05-15"))
    assert (view["name"], view["bankgiro"]) == ("Jobbstart AB", "123-4566")
    assert view["details"] == [
        {
            "effective_from": "2020-01-01",
            "name": "Jobbstart AB",
            "bankgiro": "5050-1055",
            "iban": None,
        },
        {
            "effective_from": "2026-03-01",
            "name": "Jobbstart AB",
            "bankgiro": "123-4566",
            "iban": None,
        },
        {
            "effective_from": "2026-06-01",
            "name": "Jobbstart Nacka AB",
            "bankgiro": "123-4566",
            "iban": None,
        },
    ]
    assert provider.view(d("2026-06-01"))["name"] == "Jobbstart Nacka AB"
    assert provider.view(d("2019-06-01"))["name"] == "Jobbstart AB"


def test_a_second_change_for_the_same_date_replaces_the_first() -> None:
    provider = given_authorised()
    change(provider, "2026-06-01", name="Fel Namn AB")
    change(provider, "2026-06-01", name="Rätt Namn AB")
    assert [p["name"] for p in payloads(provider)] == ["Fel Namn AB", "Rätt Namn AB"]
    assert [v["name"] for v in provider.view(TODAY)["details"]] == ["Jobbstart AB", "Rätt Namn AB"]


def test_an_earlier_dated_change_carries_into_later_versions_that_inherited_the_value() -> None:
    """Given a name change announced for 1 June, when the bankgiro changes from 1 March, then the
    June version is stated again with the new bankgiro (the earlier events stay as they were)."""
    provider = given_authorised()
    change(provider, "2026-06-01", name="Jobbstart Nacka AB")
    provider.collect_events()
    change(provider, "2026-03-01", reason="nytt konto", bankgiro="123-4566")
    assert [(p["effective_from"], p["name"], p["bankgiro"]) for p in payloads(provider)] == [
        ("2026-03-01", "Jobbstart AB", "123-4566"),
        ("2026-06-01", "Jobbstart Nacka AB", "123-4566"),
    ]


def test_a_later_version_that_set_its_own_value_keeps_it() -> None:
    provider = given_authorised()
    change(provider, "2026-06-01", bankgiro="123-4566")
    provider.collect_events()
    change(provider, "2026-03-01", name="Nytt Namn AB", bankgiro="555-1239")
    assert [(p["effective_from"], p["name"], p["bankgiro"]) for p in payloads(provider)] == [
        ("2026-03-01", "Nytt Namn AB", "555-1239"),
        ("2026-06-01", "Nytt Namn AB", "123-4566"),
    ]


def test_repeating_the_original_authorisation_after_a_change_is_still_a_no_op(
    app: LifecycleApp,
) -> None:
    fields: dict[str, Any] = {
        "provider_id": P1,
        "name": "Jobbstart AB",
        "insats_types": ["grund"],
        "authorised_from": d("2020-01-01"),
        "bankgiro": "5050-1055",
        "iban": None,
    }
    app.authorise_provider(CTX, **fields)
    app.change_provider_details(
        CTX, P1, effective_from=d("2026-01-01"), reason="nytt namn", changes={"name": "Ny AB"}
    )
    position = app.max_position()
    assert app.authorise_provider(CTX, **fields).status == 200
    assert app.max_position() == position


def test_a_refused_change_records_nothing(app: LifecycleApp) -> None:
    app.authorise_provider(
        CTX,
        provider_id=P1,
        name="Jobbstart AB",
        insats_types=["grund"],
        authorised_from=d("2020-01-01"),
        bankgiro="5050-1055",
        iban=None,
    )
    for changes, code in (
        ({"bankgiro": "123-4567"}, "invalid_bankgiro"),
        ({"iban": "SE0000000000000000000000"}, "invalid_iban"),
        ({"name": "Jobbstart AB"}, "nothing_to_change"),
    ):
        refused(
            app,
            code,
            lambda changes=changes: app.change_provider_details(
                CTX, P1, effective_from=d("2026-06-01"), reason="x", changes=changes
            ),
        )
    assert app.provider(P1).version == 1


def test_a_change_is_recorded_through_the_application(app: LifecycleApp) -> None:
    app.authorise_provider(
        CTX,
        provider_id=P1,
        name="Jobbstart AB",
        insats_types=["grund"],
        authorised_from=d("2020-01-01"),
        bankgiro="5050-1055",
        iban=None,
    )
    result = app.change_provider_details(
        CTX,
        P1,
        effective_from=d("2026-06-01"),
        reason="fusion",
        changes={"name": "Jobbstart Nacka AB", "bankgiro": "123-4566"},
    )
    assert result.status == 200
    (event,) = app.public_events(result.position - 1 if result.position else 0, 10)
    assert (event.type, event.stream_type, event.effective_date) == (
        "ProviderDetailsChanged",
        "provider",
        "2026-06-01",
    )
    assert event.payload == {
        "provider_id": P1,
        "effective_from": "2026-06-01",
        "name": "Jobbstart Nacka AB",
        "bankgiro": "123-4566",
        "iban": None,
        "reason": "fusion",
    }
