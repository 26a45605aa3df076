"""Providers (SPEC §3 ProviderAuthorised): the payment account rules. Given these facts, when
this command, then these events or this refusal — and a refusal records nothing. No database."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from stdnum import luhn

from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.domain.base import CommandContext
from services.lifecycle.domain.errors import DomainError
from services.lifecycle.domain.provider import Provider
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


def refused(app: LifecycleApp, code: str, call: Any) -> DomainError:
    before = app.max_position()
    with pytest.raises(DomainError) as info:
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
    with pytest.raises(DomainError) as info:
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
