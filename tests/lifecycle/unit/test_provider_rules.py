"""Providers (SPEC §3 ProviderAuthorised, ProviderDetailsChanged): the payment account rules and
effective-dated details. Given these past events, when this command (through the real
LifecycleApp, in memory), then these events — whole payloads — or this refusal, which records
nothing. No database."""

from __future__ import annotations

from typing import Any

import pytest
from stdnum import luhn

from tests.given import P1, EventLog, Refused, When, d, when

TODAY = "2026-05-15"
IBAN = "SE4550000000058398257466"  # a valid Swedish IBAN (mod 97)


def authorise(app: When, **overrides: Any) -> Any:
    """Jobbstart AB for grund and SAI from 2020-01-01, bankgiro 5050-1055."""
    fields: dict[str, Any] = {
        "provider_id": P1,
        "name": "Jobbstart AB",
        "insats_types": ["grund", "sai"],
        "authorised_from": d("2020-01-01"),
        "bankgiro": "5050-1055",
        "iban": None,
    }
    fields.update(overrides)
    return app.authorise_provider(**fields)


def authorised(**overrides: Any) -> tuple[str, dict[str, Any]]:
    """The ProviderAuthorised that `authorise` records."""
    payload: dict[str, Any] = {
        "provider_id": P1,
        "name": "Jobbstart AB",
        "insats_types": ["grund", "sai"],
        "authorised_from": "2020-01-01",
        "bankgiro": "5050-1055",
        "iban": None,
    }
    payload.update(overrides)
    return ("ProviderAuthorised", payload)


def jobbstart(**overrides: Any) -> EventLog:
    """Given: Jobbstart AB authorised as `authorise` would record it."""
    given = EventLog()
    fields: dict[str, Any] = {
        "name": "Jobbstart AB",
        "insats_types": ["grund", "sai"],
        "authorised_from": "2020-01-01",
        "bankgiro": "5050-1055",
        "iban": None,
    }
    fields.update(overrides)
    given.provider_authorised(P1, **fields)
    return given


def change(app: When, on: str, reason: str = "ändrat avtal", **changes: Any) -> Any:
    return app.change_provider_details(P1, effective_from=d(on), reason=reason, changes=changes)


def details_changed(on: str, name: str, bankgiro: str | None, iban: str | None, reason: str) -> Any:
    return (
        "ProviderDetailsChanged",
        {
            "provider_id": P1,
            "effective_from": on,
            "name": name,
            "bankgiro": bankgiro,
            "iban": iban,
            "reason": reason,
        },
    )


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
    then = authorise(when(EventLog(), today=TODAY), bankgiro=given)
    assert then == [authorised(bankgiro=stored)]


@pytest.mark.parametrize(
    "bankgiro", ["123-4567", "5050-1056", "12-3456", "5050-10555", "50-501055", "5050 1055", "abc"]
)
def test_a_bankgiro_with_a_wrong_check_digit_or_shape_is_refused(bankgiro: str) -> None:
    then = authorise(when(EventLog(), today=TODAY), bankgiro=bankgiro)
    assert then == Refused("invalid_bankgiro", "bankgiro")


@pytest.mark.parametrize(
    ("given", "stored"),
    [(IBAN, IBAN), ("se45 5000 0000 0583 9825 7466", IBAN)],
)
def test_an_iban_is_checked_and_stored_compact(given: str, stored: str) -> None:
    then = authorise(when(EventLog(), today=TODAY), bankgiro=None, iban=given)
    assert then == [authorised(bankgiro=None, iban=stored)]


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
def test_an_invalid_or_foreign_iban_is_refused(iban: str) -> None:
    then = authorise(when(EventLog(), today=TODAY), bankgiro=None, iban=iban)
    assert then == Refused("invalid_iban", "iban")


def test_an_authorisation_needs_a_payment_account() -> None:
    then = authorise(when(EventLog(), today=TODAY), bankgiro=None, iban=None)
    assert then == Refused("payment_account_required", "bankgiro")


def test_repeating_an_authorisation_in_the_undashed_form_is_the_same_authorisation() -> None:
    app = when(jobbstart(), today=TODAY)
    assert authorise(app, bankgiro="50501055") == []
    assert app.result.status == 200


def test_an_authorisation_with_other_details_is_a_conflict() -> None:
    then = authorise(when(jobbstart(), today=TODAY), name="Annat AB")
    assert then == Refused("provider_exists", "provider_id", "Conflict")


# --- name and payment account changed, effective-dated ----------------------------------------


def test_a_change_of_name_and_bankgiro_is_recorded_whole_from_its_date() -> None:
    app = when(jobbstart(), today=TODAY)
    then = change(app, "2026-06-01", reason="fusion", name="Jobbstart Nacka AB", bankgiro="1234566")
    assert then == [details_changed("2026-06-01", "Jobbstart Nacka AB", "123-4566", None, "fusion")]
    assert app.recorded[0].effective_date == "2026-06-01"
    assert app.recorded[0].stream_type == "provider"


def test_fields_left_out_keep_the_value_in_force_on_the_date() -> None:
    then = change(when(jobbstart(), today=TODAY), "2026-06-01", reason="nytt konto", iban=IBAN)
    assert then == [details_changed("2026-06-01", "Jobbstart AB", "5050-1055", IBAN, "nytt konto")]


def test_an_account_can_be_removed_if_another_remains() -> None:
    then = change(when(jobbstart(iban=IBAN), today=TODAY), "2026-06-01", bankgiro=None)
    assert then == [details_changed("2026-06-01", "Jobbstart AB", None, IBAN, "ändrat avtal")]


def test_the_last_account_cannot_be_removed() -> None:
    given = jobbstart(iban=IBAN)
    given.provider_details_changed(P1, "2026-06-01", "Jobbstart AB", bankgiro=None, iban=IBAN)
    then = change(when(given, today=TODAY), "2026-07-01", iban=None)
    assert then == Refused("payment_account_required", "bankgiro")


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
    then = change(when(jobbstart(), today=TODAY), "2026-06-01", **changes)
    assert then == Refused(code, field)


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
    then = change(when(jobbstart(), today=TODAY), effective_from, name="Nytt Namn AB")
    if refusal is None:
        assert then == [
            details_changed(effective_from, "Nytt Namn AB", "5050-1055", None, "ändrat avtal")
        ]
    else:
        assert then == Refused(refusal, "effective_from")


def test_no_change_is_dated_before_customer_choice_began() -> None:
    app = when(jobbstart(authorised_from="2005-01-01"), today=TODAY)
    then = change(app, "2008-12-31", name="Nytt Namn AB")
    assert then == Refused("invalid_date", "effective_from")
    assert app.refusal is not None and "2009-01-01" in app.refusal.message


def test_a_change_needs_a_reason() -> None:
    then = change(when(jobbstart(), today=TODAY), "2026-06-01", reason=" ", name="Nytt Namn AB")
    assert then == Refused("reason_required", "reason")


def test_the_view_shows_the_details_in_force_today_and_every_version() -> None:
    given = jobbstart()
    given.provider_details_changed(P1, "2026-03-01", "Jobbstart AB", bankgiro="123-4566")
    given.provider_details_changed(P1, "2026-06-01", "Jobbstart Nacka AB", bankgiro="123-4566")
    provider = when(given, today=TODAY).app.provider(P1)
    view = provider.view(d(TODAY))
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
    given = jobbstart()
    given.provider_details_changed(P1, "2026-06-01", "Fel Namn AB", bankgiro="5050-1055")
    app = when(given, today=TODAY)
    then = change(app, "2026-06-01", name="Rätt Namn AB")
    assert then == [
        details_changed("2026-06-01", "Rätt Namn AB", "5050-1055", None, "ändrat avtal")
    ]
    details = app.app.provider(P1).view(d(TODAY))["details"]
    assert [v["name"] for v in details] == ["Jobbstart AB", "Rätt Namn AB"]


def test_an_earlier_dated_change_carries_into_later_versions_that_inherited_the_value() -> None:
    """Given a name change announced for 1 June, when the bankgiro changes from 1 March, then the
    June version is stated again with the new bankgiro (the earlier events stay as they were)."""
    given = jobbstart()
    given.provider_details_changed(P1, "2026-06-01", "Jobbstart Nacka AB", bankgiro="5050-1055")
    then = change(when(given, today=TODAY), "2026-03-01", reason="nytt konto", bankgiro="123-4566")
    assert then == [
        details_changed("2026-03-01", "Jobbstart AB", "123-4566", None, "nytt konto"),
        details_changed("2026-06-01", "Jobbstart Nacka AB", "123-4566", None, "nytt konto"),
    ]


def test_a_later_version_that_set_its_own_value_keeps_it() -> None:
    given = jobbstart()
    given.provider_details_changed(P1, "2026-06-01", "Jobbstart AB", bankgiro="123-4566")
    then = change(when(given, today=TODAY), "2026-03-01", name="Nytt Namn AB", bankgiro="555-1239")
    assert then == [
        details_changed("2026-03-01", "Nytt Namn AB", "555-1239", None, "ändrat avtal"),
        details_changed("2026-06-01", "Nytt Namn AB", "123-4566", None, "ändrat avtal"),
    ]


def test_repeating_the_original_authorisation_after_a_change_is_still_a_no_op() -> None:
    given = jobbstart()
    given.provider_details_changed(P1, "2026-01-01", "Ny AB", bankgiro="5050-1055")
    app = when(given, today=TODAY)
    assert authorise(app) == []
    assert app.result.status == 200


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"bankgiro": "123-4567"}, "invalid_bankgiro", "bankgiro"),
        ({"iban": "SE0000000000000000000000"}, "invalid_iban", "iban"),
        ({"name": "Jobbstart AB"}, "nothing_to_change", None),
    ],
)
def test_a_refused_change_records_nothing(
    changes: dict[str, Any], code: str, field: str | None
) -> None:
    app = when(jobbstart(), today=TODAY)
    assert change(app, "2026-06-01", reason="x", **changes) == Refused(code, field)
    assert app.app.provider(P1).version == 1


# --- de-authorisation ---------------------------------------------------------------------------


def test_a_de_authorisation_is_recorded_from_its_date() -> None:
    app = when(jobbstart(), today=TODAY)
    then = app.deauthorise_provider(P1, effective_on=d("2026-06-01"), reason="avtal upphört")
    assert then == [
        (
            "ProviderDeauthorised",
            {"provider_id": P1, "effective_on": "2026-06-01", "reason": "avtal upphört"},
        )
    ]


def test_a_de_authorisation_on_or_before_the_authorisation_is_refused() -> None:
    then = when(jobbstart(), today=TODAY).deauthorise_provider(
        P1, effective_on=d("2020-01-01"), reason="fel"
    )
    assert then == Refused("invalid_date", "effective_on")


@pytest.mark.parametrize(
    ("insats_types", "code"), [([], "invalid_insats_types"), (["grund", "yrkes"], "invalid_insats")]
)
def test_an_authorisation_names_known_insats_types(insats_types: list[str], code: str) -> None:
    then = authorise(when(EventLog(), today=TODAY), insats_types=insats_types)
    assert then == Refused(code, "insats_types")


def test_a_provider_is_de_authorised_once() -> None:
    given = jobbstart()
    given.provider_deauthorised(P1, "2026-06-01")
    then = when(given, today=TODAY).deauthorise_provider(
        P1, effective_on=d("2026-07-01"), reason="igen"
    )
    assert then == Refused("already_deauthorised", "effective_on", "Conflict")


def test_a_de_authorisation_gives_its_reason() -> None:
    then = when(jobbstart(), today=TODAY).deauthorise_provider(
        P1, effective_on=d("2026-06-01"), reason=" "
    )
    assert then == Refused("reason_required", "reason")


def test_only_the_name_and_the_payment_accounts_are_changed() -> None:
    then = change(when(jobbstart(), today=TODAY), "2026-06-01", insats_types=["grund"])
    assert then == Refused("invalid_input", None)


# --- rate tables ------------------------------------------------------------------------------


def publish(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "effective_from": d("2027-01-01"),
        "monthly": {"grund": "3700", "forstarkt": "4900", "sai": "7400"},
        "bonus": {"grund": "18000", "forstarkt": "18000", "sai": "18000"},
        "voucher_min": "5000",
        "voucher_max": "15000",
        "min_days_before_payment": 14,
    }
    fields.update(overrides)
    return when(EventLog()).set_rates(**fields)


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"effective_from": d("2028-11-25")}, Refused("date_too_far_ahead", "effective_from")),
        ({"monthly": {"yrkes": "100"}}, Refused("invalid_insats", "monthly")),
        ({"bonus": {"yrkes": "100"}}, Refused("invalid_insats", "bonus")),
        ({"monthly": {"sai": "-1"}}, Refused("invalid_amount", "monthly.sai")),
        ({"voucher_min": "abc"}, Refused("invalid_amount", "voucher_min")),
        ({"min_days_before_payment": 367}, Refused("invalid_days", "min_days_before_payment")),
        ({"min_days_before_payment": -1}, Refused("invalid_days", "min_days_before_payment")),
    ],
    ids=[
        "a_rate_table_is_published_at_most_two_years_ahead",
        "monthly_rates_are_for_known_insats_types",
        "bonuses_are_for_known_insats_types",
        "a_rate_is_not_negative",
        "an_amount_is_money",
        "payment_waits_at_most_366_days",
        "payment_waits_a_whole_number_of_days_from_0",
    ],
)
def test_a_rate_table_that_breaks_a_rule_is_refused(
    overrides: dict[str, Any], refused: Refused
) -> None:
    assert publish(**overrides) == refused


def test_a_rate_table_two_years_ahead_is_published() -> None:
    then = publish(effective_from=d("2028-11-24"), monthly={"sai": "7400"}, bonus={})
    assert then == [
        (
            "RatesSet",
            {
                "effective_from": "2028-11-24",
                "monthly": {"grund": None, "forstarkt": None, "sai": "7400.00"},
                "bonus": {"grund": None, "forstarkt": None, "sai": None},
                "voucher_min": "5000.00",
                "voucher_max": "15000.00",
                "min_days_before_payment": 14,
            },
        )
    ]
