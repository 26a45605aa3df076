"""Providers over HTTP (API.md): payment accounts checked by the domain."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api

NEW = "5567037485"  # a valid organisation number not authorised by the fixture


def authorisation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider_id": NEW,
        "name": "Ny Väg AB",
        "insats_types": ["grund"],
        "authorised_from": "2026-01-01",
        "bankgiro": "5050-1055",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ({"bankgiro": "123-4567"}, "invalid_bankgiro"),
        ({"bankgiro": "12-34"}, "invalid_bankgiro"),
        ({"bankgiro": None, "iban": "SE0000000000000000000000"}, "invalid_iban"),
        ({"bankgiro": None, "iban": "DE89370400440532013000"}, "invalid_iban"),
    ],
)
def test_an_invalid_payment_account_is_refused_and_nothing_recorded(
    api: Api, account: dict[str, Any], code: str
) -> None:
    before = api.get("/v1/events", limit=1000).json()["next"]
    r = api.post("/v1/providers", authorisation(**account))
    assert r.status_code == 422, r.text
    field = "bankgiro" if "bankgiro" in code else "iban"
    assert r.json() == {"error": code, "message": r.json()["message"], "field": field}
    assert api.get("/v1/events", after=before).json()["events"] == []
    assert api.get(f"/v1/providers/{NEW}").status_code == 404


def test_an_undashed_bankgiro_is_stored_dashed(api: Api) -> None:
    r = api.post("/v1/providers", authorisation(bankgiro="50501055"))
    assert r.status_code == 201, r.text
    assert r.json()["bankgiro"] == "5050-1055"
