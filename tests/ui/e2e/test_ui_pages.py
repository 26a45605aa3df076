"""The web pages over HTTP (TestClient, both stores): the permission table agrees with the API
for every role, sign-in, sessions, CSRF and the provider's scope."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insats.ui.permissions import PAGES
from tests.api import Api
from tests.conftest import P1, P2, decision_body, person


def sign_in(client: TestClient, token: str) -> str:
    """Signs in; returns the session's CSRF token (from the page's forms)."""
    client.cookies.clear()
    page = client.get("/ui/login")
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert nonce is not None
    answer = client.post(
        "/ui/login", data={"token": token, "login_csrf": nonce.group(1)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    start = client.get("/ui/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', start.text)
    assert csrf is not None
    return csrf.group(1)


def journey(api: Api, ref: str, provider: str) -> str:
    r = api.as_("counsellor").post(
        "/v1/decisions", decision_body(ref, person("1990-01-01", ref[-3:]))
    )
    assert r.status_code == 201, r.text
    jid = str(r.json()["journey_id"])
    r = api.as_("counsellor").post(
        f"/v1/journeys/{jid}/provider", {"provider_id": provider, "starts_on": "2026-01-20"}
    )
    assert r.status_code == 200, r.text
    return jid


@pytest.mark.parametrize(
    "role", ["admin", "publisher", "counsellor", "clerk", "auditor", "provider1"]
)
def test_each_role_gets_the_pages_of_the_table_and_403_elsewhere(
    client: TestClient, api: Api, role: str
) -> None:
    sign_in(client, api.tokens[role])
    name = "provider" if role == "provider1" else role
    for page, path in (
        ("journeys", "/ui/journeys"),
        ("alerts", "/ui/alerts"),
        ("payouts", "/ui/payouts"),
        ("statistics", "/ui/statistics"),
        ("sandbox", "/ui/sandbox"),
        ("audit", "/ui/audit"),
        ("basis", "/ui/underlag"),
        ("decisions", "/ui/decisions/new"),
    ):
        answer = client.get(path)
        assert (answer.status_code == 200) == (name in PAGES[page]), (role, path)
        if name not in PAGES[page]:
            assert answer.status_code == 403 and "Ingen behörighet" in answer.text


def test_a_provider_sees_its_own_customers_only_and_never_person_id(
    client: TestClient, api: Api, container: Any
) -> None:
    mine, theirs = journey(api, "U-101", P1), journey(api, "U-102", P2)
    container.feed.catch_up()
    csrf = sign_in(client, api.tokens["provider1"])
    listing = client.get("/ui/journeys").text
    assert "U-101" in listing and "U-102" not in listing
    page = client.get(f"/ui/journeys/{mine}")
    assert page.status_code == 200
    assert "19900101" not in page.text and "Personnummer" not in page.text
    assert client.get(f"/ui/journeys/{theirs}").status_code == 404
    refused = client.post(
        f"/ui/journeys/{theirs}/plan", data={"csrf_token": csrf, "established_on": "2026-02-01"}
    )
    assert refused.status_code == 404
    done = client.post(
        f"/ui/journeys/{mine}/plan",
        follow_redirects=False,
        data={
            "csrf_token": csrf,
            "established_on": "2026-02-01",
            "planned_internship_start": "2026-03-01",
            "planned_internship_share_percent": "50",
        },
    )
    assert done.status_code == 303, done.text
    view = api.as_("counsellor").get(f"/v1/journeys/{mine}").json()
    assert view["plan"]["established_on"] == "2026-02-01"
    assert api.as_("counsellor").get(f"/v1/journeys/{theirs}").json()["plan"] is None
    events = api.as_("auditor").get(f"/v1/journeys/{mine}/events").json()
    assert events[-1]["actor"] == f"provider:{P1}:p1-staff"
    assert events[-1]["source_system"] == "insats-webb"


def test_posts_without_the_sessions_csrf_token_are_refused_and_record_nothing(
    client: TestClient, api: Api
) -> None:
    jid = journey(api, "U-201", P1)
    csrf = sign_in(client, api.tokens["counsellor"])
    before = api.get(f"/v1/journeys/{jid}").json()["version"]
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post(
            f"/ui/journeys/{jid}/vouchers",
            data={**data, "amount": "6000", "purpose": "körkort", "granted_on": "2026-03-01"},
        )
        assert answer.status_code == 403 and "säkerhetstoken" in answer.text
    other_site = client.post(
        f"/ui/journeys/{jid}/vouchers",
        headers={"Origin": "http://x.test"},
        data={
            "csrf_token": csrf,
            "amount": "6000",
            "purpose": "körkort",
            "granted_on": "2026-03-01",
        },
    )
    assert other_site.status_code == 403
    assert api.get(f"/v1/journeys/{jid}").json()["version"] == before
    # and with it, the voucher is recorded once, however often the same form is sent
    form = {
        "csrf_token": csrf,
        "form_id": "f-1",
        "amount": "6 000,00",
        "purpose": "körkort",
        "granted_on": "2026-03-01",
        "version": str(before),
    }
    for _ in range(2):
        assert (
            client.post(
                f"/ui/journeys/{jid}/vouchers", data=form, follow_redirects=False
            ).status_code
            == 303
        )
    vouchers = api.get(f"/v1/journeys/{jid}").json()["vouchers"]
    assert [v["amount"] for v in vouchers] == ["6000.00"]


def test_a_stale_form_and_an_invalid_value_are_refused_with_the_rule_and_the_field(
    client: TestClient, api: Api
) -> None:
    jid = journey(api, "U-301", P1)
    csrf = sign_in(client, api.tokens["counsellor"])
    stale = client.post(
        f"/ui/journeys/{jid}/vouchers",
        data={
            "csrf_token": csrf,
            "amount": "6000",
            "purpose": "tolk",
            "granted_on": "2026-03-01",
            "version": "1",
        },
    )
    assert stale.status_code == 409 and "har ändrats sedan du öppnade sidan" in stale.text
    too_much = client.post(
        f"/ui/journeys/{jid}/vouchers",
        data={"csrf_token": csrf, "amount": "99000", "purpose": "tolk", "granted_on": "2026-03-01"},
    )
    assert too_much.status_code == 422 and "Ingenting har sparats" in too_much.text
    assert api.get(f"/v1/journeys/{jid}").json()["vouchers"] == []


def test_signing_out_ends_the_session_and_a_removed_key_ends_it_too(
    client: TestClient, api: Api, container: Any
) -> None:
    sign_in(client, api.tokens["auditor"])
    cookie = client.cookies.get("insats_session")
    assert client.get("/ui/audit").status_code == 200
    client.get("/ui/logout")
    client.cookies.set("insats_session", cookie or "", path="/ui")
    assert client.get("/ui/audit", follow_redirects=False).status_code == 303
    # a key removed from the keys file ends the sessions it opened
    sign_in(client, api.tokens["clerk"])
    assert client.get("/ui/payouts").status_code == 200
    import json

    path = container.keys.path
    data = json.loads(path.read_text())
    data["keys"] = [k for k in data["keys"] if k["role"] != "clerk"]
    path.write_text(json.dumps(data))
    import os
    import time

    os.utime(path, (time.time() + 5, time.time() + 5))
    assert client.get("/ui/payouts", follow_redirects=False).status_code == 303


def test_the_root_and_docs_answer_without_a_cdn(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/ui/static/vendor/htmx-2.0.11.min.js").status_code == 200
