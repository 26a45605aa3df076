"""Who may call what (API.md "Roles"): the role × endpoint matrix, provider scoping, privacy."""

from __future__ import annotations

import pytest

from tests.conftest import P1, P2, decision_body, person
from tests.e2e.conftest import Api

ALL = ("admin", "publisher", "counsellor", "clerk", "auditor", "provider1")

# (method, path template, body, roles allowed). {j} = a journey held by provider 1.
MATRIX: list[tuple[str, str, dict | None, set[str]]] = [
    (
        "POST",
        "/v1/providers",
        {
            "provider_id": "5567037485",
            "name": "Ny AB",
            "insats_types": ["grund"],
            "authorised_from": "2026-01-01",
            "bankgiro": "555-1239",
        },
        {"admin"},
    ),
    (
        "POST",
        f"/v1/providers/{P2}/deauthorisation",
        {"effective_on": "2026-09-01", "reason": "x"},
        {"admin"},
    ),
    (
        "POST",
        f"/v1/providers/{P2}/details",
        {"effective_from": "2026-09-01", "name": "Språkbron Nacka AB", "reason": "namnbyte"},
        {"admin"},
    ),
    ("GET", "/v1/providers", None, set(ALL)),
    ("GET", f"/v1/providers/{P2}", None, set(ALL)),
    (
        "POST",
        "/v1/rates",
        {
            "effective_from": "2027-01-01",
            "monthly": {"sai": "7500.00"},
            "bonus": {"sai": "18000.00"},
            "voucher_min": "5000.00",
            "voucher_max": "15000.00",
            "min_days_before_payment": 14,
        },
        {"admin"},
    ),
    ("GET", "/v1/rates", None, set(ALL)),
    (
        "POST",
        "/v1/decisions",
        decision_body("m1", person("1980-05-05")),
        {"publisher", "counsellor"},
    ),
    (
        "POST",
        "/v1/journeys/{j}/vouchers",
        {"amount": "5000.00", "purpose": "Tolk", "granted_on": "2026-02-01"},
        {"publisher", "counsellor"},
    ),
    (
        "POST",
        "/v1/journeys/{j}/plan",
        {
            "established_on": "2026-02-01",
            "planned_internship_start": "2026-03-01",
            "planned_internship_share_percent": 50,
        },
        {"publisher", "counsellor", "provider1"},
    ),
    (
        "POST",
        "/v1/journeys/{j}/bonus-review",
        {"reviewed_on": "2026-10-14", "decision": "approved"},
        {"counsellor"},
    ),
    (
        "POST",
        "/v1/journeys/{j}/withdrawal",
        {"withdrawn_on": "2026-01-12", "reason": "x"},
        {"publisher", "counsellor"},
    ),
    (
        "POST",
        "/v1/journeys/{j}/corrections",
        {"field": "starts_on", "value": "2026-01-21", "reason": "x"},
        {"publisher", "counsellor"},
    ),
    ("GET", "/v1/journeys/{j}", None, {"admin", "publisher", "counsellor", "auditor", "provider1"}),
    (
        "GET",
        "/v1/journeys/{j}/events",
        None,
        {"admin", "publisher", "counsellor", "auditor", "provider1"},
    ),
    ("GET", "/v1/journeys", None, {"admin", "publisher", "counsellor", "auditor", "provider1"}),
    ("GET", "/v1/events", None, {"auditor", "admin"}),
    ("GET", "/metrics", None, {"admin", "auditor", "clerk", "counsellor"}),
]


@pytest.fixture
def journey(api: Api) -> str:
    r = api.as_("publisher").post("/v1/decisions", decision_body("held", person("1990-01-01")))
    jid = str(r.json()["journey_id"])
    api.as_("publisher").post(
        f"/v1/journeys/{jid}/provider", {"provider_id": P1, "starts_on": "2026-01-20"}
    )
    return jid


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_role_matrix(
    api: Api, journey: str, method: str, path: str, body: dict | None, allowed: set[str]
) -> None:
    url = path.format(j=journey)
    anonymous = api.client.request(method, url, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    bad_token = api.client.request(method, url, json=body, headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401
    for role in ALL:
        caller = api.as_(role)
        r = caller.get(url) if method == "GET" else caller.post(url, body)
        if role in allowed:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["error"] == "forbidden"


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
