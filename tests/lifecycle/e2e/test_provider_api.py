"""Providers over HTTP (API.md): payment accounts checked by the domain; name and account
changed by an admin, effective-dated."""

from __future__ import annotations

from typing import Any

import pytest

from insats.audit import verify_read_models
from insats.bootstrap import Container, fresh_projections, service_verifications
from tests.api import Api
from tests.conftest import P1, P2, decision_body, person

NEW = "5567037485"  # a valid organisation number not authorised by the fixture
IBAN = "SE4550000000058398257466"


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


# --- POST /v1/providers/{id}/details ------------------------------------------------------------
# The fixture authorises P1 "Jobbstart AB" from 2020-01-01 with bankgiro 5050-1055; today is
# 2026-11-23 (tests/conftest.py).


def test_an_admin_changes_name_and_bankgiro_and_sees_them_in_force(api: Api) -> None:
    r = api.post(
        f"/v1/providers/{P1}/details",
        {
            "effective_from": "2026-06-01",
            "name": "Jobbstart Nacka AB",
            "bankgiro": "1234566",
            "reason": "fusion",
        },
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["name"], view["bankgiro"], view["iban"]) == (
        "Jobbstart Nacka AB",
        "123-4566",
        None,
    )
    assert view["details"] == [
        {
            "effective_from": "2020-01-01",
            "name": "Jobbstart AB",
            "bankgiro": "5050-1055",
            "iban": None,
        },
        {
            "effective_from": "2026-06-01",
            "name": "Jobbstart Nacka AB",
            "bankgiro": "123-4566",
            "iban": None,
        },
    ]
    assert api.as_("clerk").get(f"/v1/providers/{P1}").json() == view
    listed = api.as_("auditor").get("/v1/providers").json()["providers"]
    assert next(p for p in listed if p["provider_id"] == P1) == view
    (event,) = [
        e
        for e in api.get("/v1/events", limit=1000).json()["events"]
        if e["type"] == "ProviderDetailsChanged"
    ]
    assert (event["stream_type"], event["effective_date"], event["actor"]) == (
        "provider",
        "2026-06-01",
        "admin:test-admin",
    )
    assert event["payload"] == {
        "provider_id": P1,
        "effective_from": "2026-06-01",
        "name": "Jobbstart Nacka AB",
        "bankgiro": "123-4566",
        "iban": None,
        "reason": "fusion",
    }


def test_a_change_announced_ahead_is_not_in_force_today(api: Api) -> None:
    r = api.post(
        f"/v1/providers/{P1}/details",
        {"effective_from": "2027-01-01", "name": "Jobbstart 2027 AB", "reason": "namnbyte"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Jobbstart AB"
    assert r.json()["details"][-1]["name"] == "Jobbstart 2027 AB"


def test_fields_left_out_keep_their_value_and_null_removes_an_account(api: Api) -> None:
    r = api.post(
        f"/v1/providers/{P1}/details",
        {"effective_from": "2026-06-01", "iban": IBAN, "reason": "nytt konto"},
    )
    assert (r.json()["name"], r.json()["bankgiro"], r.json()["iban"]) == (
        "Jobbstart AB",
        "5050-1055",
        IBAN,
    )
    r = api.post(
        f"/v1/providers/{P1}/details",
        {"effective_from": "2026-07-01", "bankgiro": None, "reason": "bankgirot avslutat"},
    )
    assert (r.json()["bankgiro"], r.json()["iban"]) == (None, IBAN)
    r = api.post(
        f"/v1/providers/{P1}/details",
        {"effective_from": "2026-08-01", "iban": None, "reason": "x"},
    )
    assert r.status_code == 422 and r.json()["error"] == "payment_account_required"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"bankgiro": "123-4567"}, "invalid_bankgiro", "bankgiro"),
        ({"iban": "SE0000000000000000000000"}, "invalid_iban", "iban"),
        ({"name": "Jobbstart AB"}, "nothing_to_change", None),
        ({"effective_from": "2019-12-31", "name": "X AB"}, "invalid_date", "effective_from"),
        ({"effective_from": "2027-11-24", "name": "X AB"}, "date_too_far_ahead", "effective_from"),
        ({"effective_from": "2008-12-31", "name": "X AB"}, "invalid_input", "effective_from"),
        ({"name": "X AB", "reason": ""}, "invalid_input", "reason"),
        ({"name": "X AB", "provider_id": P2}, "invalid_input", "provider_id"),
    ],
)
def test_a_refused_change_records_nothing(
    api: Api, body: dict[str, Any], code: str, field: str | None
) -> None:
    before = api.get("/v1/events", limit=1000).json()["next"]
    r = api.post(
        f"/v1/providers/{P1}/details", {"effective_from": "2026-06-01", "reason": "x", **body}
    )
    assert r.status_code == 422, r.text
    assert (r.json()["error"], r.json()["field"]) == (code, field)
    assert api.get("/v1/events", after=before).json()["events"] == []
    assert len(api.get(f"/v1/providers/{P1}").json()["details"]) == 1


def test_an_unknown_provider_is_404(api: Api) -> None:
    body = {"effective_from": "2026-06-01", "name": "X AB", "reason": "x"}
    r = api.post(f"/v1/providers/{NEW}/details", body)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = api.post("/v1/providers/5560360794/details", body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_organisation_number"


def test_a_repeated_idempotency_key_returns_the_first_response_and_records_nothing(
    api: Api,
) -> None:
    body = {"effective_from": "2026-06-01", "name": "Jobbstart Nacka AB", "reason": "fusion"}
    key = {"Idempotency-Key": "details-1"}
    first = api.post(f"/v1/providers/{P1}/details", body, headers=key)
    assert first.status_code == 200
    position = api.get("/v1/events", limit=1000).json()["next"]
    again = api.post(f"/v1/providers/{P1}/details", body, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert api.get("/v1/events", after=position).json()["events"] == []
    # Without the key the same change changes nothing: refused.
    r = api.post(f"/v1/providers/{P1}/details", body)
    assert r.status_code == 422 and r.json()["error"] == "nothing_to_change"


def test_left_out_and_null_are_different_requests_for_one_idempotency_key(api: Api) -> None:
    key = {"Idempotency-Key": "details-2"}
    base = {"effective_from": "2026-06-01", "iban": IBAN, "reason": "konto"}
    assert api.post(f"/v1/providers/{P1}/details", base, headers=key).status_code == 200
    r = api.post(f"/v1/providers/{P1}/details", {**base, "bankgiro": None}, headers=key)
    assert r.status_code == 409 and r.json()["error"] == "idempotency_key_reused"


# --- the change through every read model ------------------------------------------------------


def test_payouts_and_reports_follow_the_details_in_force_and_closed_runs_never_change(
    api: Api, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given P1 holding an SAI journey from 2026-05-04 and May closed on 2026-06-02, when an
    admin changes P1's name and bankgiro from 2026-06-01, then May's files stay the same bytes
    (also after rebuilding every read model), June's files show the new details, and the
    auditors' replay reproduces everything."""
    monkeypatch.setenv("INSATS_TODAY", "2026-06-02")
    pub, clerk = api.as_("publisher"), api.as_("clerk")
    r = pub.post(
        "/v1/decisions", decision_body("pd-1", person("1990-01-01"), decided_on="2026-05-01")
    )
    jid = r.json()["journey_id"]
    pub.post(f"/v1/journeys/{jid}/provider", {"provider_id": P1, "starts_on": "2026-05-04"})
    may = clerk.post("/v1/payouts/2026-05/close", None).json()
    assert may["providers"][P1] == {"name": "Jobbstart AB", "bankgiro": "5050-1055", "iban": None}

    def may_files() -> dict[str, bytes]:
        return {n: clerk.get(f"/v1/payouts/2026-05/files/{n}").content for n in may["files"]}

    before = may_files()
    r = api.post(
        f"/v1/providers/{P1}/details",
        {
            "effective_from": "2026-06-01",
            "name": "Jobbstart Nacka AB",
            "bankgiro": "123-4566",
            "reason": "fusion",
        },
    )
    assert r.status_code == 200, r.text
    container.feed.catch_up()  # every read model takes the new event (alerts, journey list …)
    head = container.lifecycle.max_position()
    assert set(container.feed.positions().values()) == {head}
    assert may_files() == before
    for name in container.feed.projections:
        container.feed.rebuild(name)
    assert may_files() == before
    assert clerk.get("/v1/payouts/2026-05").json() == may
    assert api.as_("counsellor").get("/v1/alerts", as_of="2026-06-02").status_code == 200
    assert [j["journey_id"] for j in api.get("/v1/journeys").json()["journeys"]] == [jid]

    monkeypatch.setenv("INSATS_TODAY", "2026-07-01")
    preview = clerk.get("/v1/payouts/2026-06/preview").json()
    assert preview["providers"][P1] == {
        "name": "Jobbstart Nacka AB",
        "bankgiro": "123-4566",
        "iban": None,
    }
    june = clerk.post("/v1/payouts/2026-06/close", None).json()
    assert june["providers"][P1] == preview["providers"][P1]
    csv = clerk.get("/v1/payouts/2026-06/files/payout-2026-06.csv").content.decode("utf-8-sig")
    assert "Jobbstart Nacka AB" in csv and "Jobbstart AB;" not in csv
    sie = clerk.get("/v1/payouts/2026-06/files/payout-2026-06.si").content.decode("cp437")
    assert "Jobbstart Nacka AB" in sie
    basis = clerk.get(f"/v1/payouts/2026-06/files/underlag-{P1}-2026-06.html").text
    assert "Jobbstart Nacka AB" in basis and "123-4566" in basis and "5050-1055" not in basis
    report = api.as_("auditor").get(
        "/v1/statistics/report.html", **{"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert "Jobbstart Nacka AB" in report.text

    problems = verify_read_models(container, lambda: fresh_projections(container))
    for check in service_verifications(container):
        problems.extend(check())
    assert problems == []
