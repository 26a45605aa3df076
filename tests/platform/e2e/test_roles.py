"""Who may call what (API.md "Roles"): the role × endpoint matrix, provider scoping, privacy."""

from __future__ import annotations

import pytest

from contracts.permissions import PERMISSIONS, ROLES, journey_command
from insats.bootstrap import Container
from insats.web import create_app
from services.platform.api import permitted, unlisted_routes
from tests.api import Api
from tests.conftest import P1, P2, decision_body, person

# The caller names of the test keys: every role of the table; "provider1" is the provider role
# acting for provider 1, which holds the sample journey.
CALLERS = {role: ("provider1" if role == "provider" else role) for role in ROLES}

# A request for every operation of the permission table: path parameters ({j} = a journey held
# by provider 1) and body. The matrix is the table × the roles; an operation without a sample
# fails `test_every_operation_has_a_sample`.
SAMPLES: dict[str, tuple[dict[str, str], dict | None]] = {
    "POST /v1/providers": (
        {},
        {
            "provider_id": "5567037485",
            "name": "Ny AB",
            "insats_types": ["grund"],
            "authorised_from": "2026-01-01",
            "bankgiro": "555-1239",
        },
    ),
    "POST /v1/providers/{provider_id}/deauthorisation": (
        {"provider_id": P2},
        {"effective_on": "2026-09-01", "reason": "x"},
    ),
    "POST /v1/providers/{provider_id}/details": (
        {"provider_id": P2},
        {"effective_from": "2026-09-01", "name": "Språkbron Nacka AB", "reason": "namnbyte"},
    ),
    "GET /v1/providers": ({}, None),
    "GET /v1/providers/{provider_id}": ({"provider_id": P2}, None),
    "POST /v1/rates": (
        {},
        {
            "effective_from": "2027-01-01",
            "monthly": {"sai": "7500.00"},
            "bonus": {"sai": "18000.00"},
            "voucher_min": "5000.00",
            "voucher_max": "15000.00",
            "min_days_before_payment": 14,
        },
    ),
    "GET /v1/rates": ({}, None),
    "POST /v1/decisions": ({}, decision_body("m1", person("1980-05-05"))),
    journey_command("provider"): ({}, {"provider_id": P1, "starts_on": "2026-01-21"}),
    journey_command("plan"): (
        {},
        {
            "established_on": "2026-02-01",
            "planned_internship_start": "2026-03-01",
            "planned_internship_share_percent": 50,
        },
    ),
    journey_command("internship/start"): ({}, {"started_on": "2026-03-02"}),
    journey_command("internship/end"): ({}, {"ended_on": "2026-04-02"}),
    journey_command("vouchers"): (
        {},
        {"amount": "5000.00", "purpose": "Tolk", "granted_on": "2026-02-01"},
    ),
    journey_command("exit"): ({}, {"exited_on": "2026-04-10", "reason": "moved"}),
    journey_command("follow-up"): ({}, {"followed_up_on": "2026-10-10", "employed": False}),
    journey_command("bonus-review"): ({}, {"reviewed_on": "2026-10-14", "decision": "approved"}),
    journey_command("withdrawal"): ({}, {"withdrawn_on": "2026-01-12", "reason": "x"}),
    journey_command("corrections"): (
        {},
        {"field": "starts_on", "value": "2026-01-21", "reason": "x"},
    ),
    "GET /v1/journeys/{journey_id}": ({}, None),
    "GET /v1/journeys/{journey_id}/events": ({}, None),
    "GET /v1/journeys": ({}, None),
    "GET /v1/payouts": ({}, None),
    "GET /v1/payouts/{month}/preview": ({"month": "2026-01"}, None),
    "POST /v1/payouts/{month}/close": ({"month": "2026-01"}, None),
    "GET /v1/payouts/{month}": ({"month": "2026-01"}, None),
    "GET /v1/payouts/{month}/files/{name}": (
        {"month": "2026-01", "name": f"underlag-{P1}-2026-01.html"},
        None,
    ),
    "GET /v1/alerts": ({}, None),
    "GET /v1/alerts/changes": ({}, None),
    "GET /v1/statistics": ({}, None),
    "GET /v1/statistics/report.html": ({}, None),
    "GET /v1/statistics/report.csv": ({}, None),
    "GET /v1/events": ({}, None),
    "GET /v1/audit/checkpoints": ({}, None),
    "GET /v1/audit/checkpoint": ({}, None),
    "POST /v1/audit/checkpoints": ({}, None),
    "GET /v1/audit/proofs/inclusion": ({}, None),
    "GET /v1/audit/proofs/consistency": ({}, None),
    "GET /v1/audit/leaves": ({}, None),
    "GET /v1/audit/checkpoints/{checkpoint_id}/note": ({"checkpoint_id": "none"}, None),
    "POST /v1/audit/cosignatures": ({}, None),
    "POST /v1/sandbox/runs": (
        {},
        {
            "name": "30 dagar",
            "changes": [{"effective_from": "2026-01-01", "min_days_before_payment": 30}],
        },
    ),
    "GET /metrics": ({}, None),
}
# Query strings the sample requests need (required query parameters).
QUERIES = {
    "GET /v1/audit/proofs/inclusion": "?position=1&tree_size=1",
    "GET /v1/audit/proofs/consistency": "?from=0&to=1",
    "POST /v1/sandbox/runs": "?from=2026-01&to=2026-01",
}


def test_every_operation_has_a_sample_and_every_route_is_in_the_table(
    container: Container,
) -> None:
    assert sorted(set(PERMISSIONS) - set(SAMPLES)) == []
    assert sorted(set(SAMPLES) - set(PERMISSIONS)) == []
    assert unlisted_routes(create_app(container, run_feed=False).routes) == []


def test_an_endpoint_missing_from_the_table_stops_the_app_from_starting(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import APIRouter, Depends

    from insats import web

    stray = APIRouter()

    @stray.get("/v1/unlisted", dependencies=[Depends(permitted)])
    def unlisted() -> dict[str, str]:
        return {}

    routers = web._service_routers
    monkeypatch.setattr(web, "_service_routers", lambda c: [*routers(c), stray])
    with pytest.raises(RuntimeError, match="GET /v1/unlisted"):
        create_app(container, run_feed=False)


@pytest.fixture
def journey(api: Api) -> str:
    r = api.as_("publisher").post("/v1/decisions", decision_body("held", person("1990-01-01")))
    jid = str(r.json()["journey_id"])
    api.as_("publisher").post(
        f"/v1/journeys/{jid}/provider", {"provider_id": P1, "starts_on": "2026-01-20"}
    )
    return jid


@pytest.mark.parametrize("operation", sorted(PERMISSIONS))
def test_role_matrix(api: Api, journey: str, operation: str) -> None:
    method, template = operation.split(" ", 1)
    params, body = SAMPLES[operation]
    url = template.format(journey_id=journey, **params) + QUERIES.get(operation, "")
    anonymous = api.client.request(method, url, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    bad_token = api.client.request(method, url, json=body, headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401
    for role in ROLES:
        caller = api.as_(CALLERS[role])
        r = caller.get(url) if method == "GET" else caller.post(url, body)
        if role in PERMISSIONS[operation]:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["error"] == "forbidden"


# Independent of the table: a few lines of API.md "Roles" read directly, so a wrong table entry
# cannot pass just because the matrix is generated from it.
API_MD_SPOT_CHECKS = [
    ("POST /v1/payouts/{month}/close", "clerk", True),
    ("POST /v1/payouts/{month}/close", "admin", False),
    ("POST /v1/providers", "admin", True),
    ("POST /v1/providers", "counsellor", False),
    (journey_command("bonus-review"), "counsellor", True),
    (journey_command("bonus-review"), "provider", False),
    (journey_command("exit"), "provider", True),
    (journey_command("vouchers"), "provider", False),
    ("GET /v1/events", "auditor", True),
    ("GET /v1/events", "counsellor", False),
    ("GET /v1/journeys", "clerk", False),
    ("GET /v1/statistics", "provider", False),
]


@pytest.mark.parametrize(("operation", "role", "may"), API_MD_SPOT_CHECKS)
def test_the_table_says_what_api_md_says(operation: str, role: str, may: bool) -> None:
    assert (role in PERMISSIONS[operation]) is may


def test_a_provider_sees_only_journeys_it_holds_or_held_and_never_person_id(
    api: Api, journey: str
) -> None:
    p1, p2 = api.as_("provider1"), api.as_("provider2")
    mine = p1.get(f"/v1/journeys/{journey}")
    assert mine.status_code == 200
    assert "person_id" not in mine.json() and "person_ref" not in mine.json()
    history = p1.get(f"/v1/journeys/{journey}/events").json()
    assert "person_id" not in history[0]["payload"]
    assert "person_ref" not in history[0]["payload"]
    assert person("1990-01-01").replace("-", "") not in str(history)
    assert p2.get(f"/v1/journeys/{journey}").status_code == 404
    assert (
        p2.post(
            f"/v1/journeys/{journey}/exit", {"exited_on": "2026-04-10", "reason": "moved"}
        ).status_code
        == 404
    )
    assert p2.get("/v1/journeys").json()["journeys"] == []
    api.as_("publisher").post(
        f"/v1/journeys/{journey}/provider", {"provider_id": P2, "starts_on": "2026-03-16"}
    )
    # P1 held it: may still read, may no longer act
    assert p1.get(f"/v1/journeys/{journey}").status_code == 200
    r = p1.post(f"/v1/journeys/{journey}/exit", {"exited_on": "2026-04-10", "reason": "moved"})
    assert r.status_code == 403 and r.json()["error"] == "not_your_customer"
    assert (
        p2.post(
            f"/v1/journeys/{journey}/exit", {"exited_on": "2026-04-10", "reason": "moved"}
        ).status_code
        == 200
    )


def test_a_provider_may_not_search_by_person_id(api: Api) -> None:
    r = api.as_("provider1").get("/v1/journeys", person_id=person("1990-01-01"))
    assert r.status_code == 403
