"""Filters accept an organisation number as people write it, an unknown query parameter is
refused by name, and invalid input names every field at fault in words that say the expected
form (issue 12)."""

from __future__ import annotations

import pytest

from insats.bootstrap import Container
from tests.api import Api
from tests.conftest import P1, decision_body, person


def dashed(org_number: str) -> str:
    return f"{org_number[:6]}-{org_number[6:]}"


@pytest.fixture
def held_by_p1(api: Api, container: Container) -> str:
    r = api.as_("counsellor").post("/v1/decisions", decision_body("f-1", person("1985-03-03")))
    assert r.status_code == 201, r.text
    journey = str(r.json()["journey_id"])
    r = api.as_("counsellor").post(
        f"/v1/journeys/{journey}/provider", {"provider_id": P1, "starts_on": "2026-01-20"}
    )
    assert r.status_code == 200, r.text
    container.feed.catch_up()
    return journey


def test_an_organisation_number_with_a_dash_filters_like_the_ten_digits(
    api: Api, held_by_p1: str
) -> None:
    plain = api.as_("counsellor").get("/v1/journeys", provider_id=P1).json()["journeys"]
    written = api.as_("counsellor").get("/v1/journeys", provider_id=dashed(P1)).json()
    assert [j["journey_id"] for j in plain] == [held_by_p1]
    assert written["journeys"] == plain
    alerts = api.as_("counsellor").get("/v1/alerts", provider_id=P1, as_of="2026-04-01")
    alerts_dashed = api.as_("counsellor").get(
        "/v1/alerts", provider_id=dashed(P1), as_of="2026-04-01"
    )
    assert alerts.status_code == alerts_dashed.status_code == 200
    assert alerts.json()["alerts"] and alerts_dashed.json() == alerts.json()
    # a provider's own key may write its number with the dash too
    mine = api.as_("provider1").get("/v1/journeys", provider_id=dashed(P1))
    assert mine.status_code == 200
    assert [j["journey_id"] for j in mine.json()["journeys"]] == [held_by_p1]


def test_a_filter_that_is_no_organisation_number_is_refused(api: Api) -> None:
    r = api.as_("counsellor").get("/v1/journeys", provider_id="556123-4560")
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_organisation_number"
    assert r.json()["field"] == "provider_id"


@pytest.mark.parametrize("path", ["/v1/journeys", "/v1/alerts", "/v1/providers", "/v1/events"])
def test_an_unknown_query_parameter_is_refused_by_name(api: Api, path: str) -> None:
    r = api.as_("admin").get(path, decision_id="D-1")
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["error"], body["field"]) == ("unknown_parameter", "decision_id")
    assert "decision_id" in body["message"]


def test_invalid_input_names_every_field_at_fault_and_the_expected_form(api: Api) -> None:
    body = decision_body("f-2", person("1985-03-03"), decided_on="01/10/2026")
    del body["decided_by"]
    del body["insats"]
    r = api.as_("counsellor").post("/v1/decisions", body)
    assert r.status_code == 422
    answer = r.json()
    fields = {e["field"]: e["message"] for e in answer["errors"]}
    assert set(fields) == {"decided_on", "decided_by", "insats"}
    assert fields["decided_on"] == "expected a date YYYY-MM-DD"
    assert fields["decided_by"] == "required"
    assert answer["field"] in fields
    assert "YYYY-MM-DD" in answer["message"]
    # nothing was recorded
    assert api.as_("counsellor").get("/v1/journeys").json()["journeys"] == []


def test_malformed_json_is_not_reported_as_a_field(api: Api) -> None:
    r = api.client.post(
        "/v1/decisions",
        content=b'{"insats": "sai",, }',
        headers={
            "Authorization": f"Bearer {api.tokens['counsellor']}",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 422
    assert r.json()["field"] is None
    assert r.json()["message"].startswith("the body is not valid JSON")
