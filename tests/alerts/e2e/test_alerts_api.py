"""GET /v1/alerts and /v1/alerts/changes through FastAPI: roles, provider scoping, validation."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.alerts import AlertsService
from services.alerts.api import router
from services.platform.api import refusal_response
from services.platform.auth import KeyStore
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.platform.refusal import Refusal

P1, P2, P3 = "5566778899", "5599887766", "5500112239"
J1, J2, J3 = "journey-1", "journey-2", "journey-3"
TODAY = date(2026, 4, 15)


@pytest.fixture
def api(tmp_path, log):
    # given: J1 with P1 (no plan: overdue, green), J2 with P2 (green), J3 with P3, whose
    # provider is de-authorised from 2026-04-01
    for provider in (P1, P2, P3):
        log.authorised(provider)
    log.started(J1, "2026-01-10", provider=P1)
    log.started(J2, "2026-01-05", insats="sai", provider=P2)
    log.plan(J2, "2026-02-01")
    log.started(J3, "2025-12-20", provider=P3)
    log.plan(J3, "2026-02-01")
    log.deauthorised(P3, "2026-04-01")
    db = SQLiteDatabase(tmp_path / "alerts.db")
    service = AlertsService(db, today=lambda: TODAY)
    FeedRunner(ListEventSource(log.events), db, [service.projection()]).catch_up()

    app = FastAPI()
    app.add_exception_handler(Refusal, lambda request, exc: refusal_response(exc))
    app.include_router(router)
    keys = KeyStore(tmp_path / "keys.json")
    app.state.keys = keys
    app.state.alerts = service
    tokens = {
        "counsellor": keys.add("counsellor", "kv"),
        "auditor": keys.add("auditor", "revisor"),
        "admin": keys.add("admin", "admin"),
        "clerk": keys.add("clerk", "ekonomi"),
        "publisher": keys.add("publisher", "arende"),
        "p1": keys.add("provider", "anordnare 1", P1),
        "p3": keys.add("provider", "anordnare 3", P3),
    }
    client = TestClient(app)

    def get(path: str, who: str | None, **params: str):
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        return client.get(path, params=params, headers=headers)

    yield get
    client.close()
    db.close()


def rows(response) -> list[tuple[str, str, str | None]]:
    return [(a["journey_id"], a["kind"], a["level"]) for a in response.json()["alerts"]]


@pytest.mark.parametrize("role", ["counsellor", "auditor", "admin"])
def test_staff_see_every_journeys_alerts_for_today_by_default(api, role):
    response = api("/v1/alerts", role)
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2026-04-15"
    assert body["alerts"][1] == {
        "journey_id": J2,
        "kind": "duration",
        "level": "green",
        "since": "2026-04-05",
        "provider_id": P2,
        # what helps to act on it
        "provider_name": f"Anordnare {P2}",
        "insats": "sai",
        "external_ref": {"system": "test", "decision_id": J2},  # the log builder's reference
        "due_on": None,  # time in insats has no deadline
        "counsellor": None,
    }
    assert body["total"] == 5 and body["next_offset"] is None
    # by kind, then longest-standing first
    assert rows(response) == [
        (J3, "duration", "green"),
        (J2, "duration", "green"),
        (J1, "duration", "green"),
        (J1, "plan_overdue", None),
        (J3, "provider_deauthorised", None),
    ]


def test_filters_by_date_kind_level_and_provider(api):
    red = api("/v1/alerts", "counsellor", as_of="2027-01-31", level="red")
    assert rows(red) == [(J3, "duration", "red"), (J2, "duration", "red"), (J1, "duration", "red")]
    plans = api("/v1/alerts", "counsellor", as_of="2026-03-05", kind="plan_due_soon")
    assert rows(plans) == [(J1, "plan_due_soon", None)]
    of_p2 = api("/v1/alerts", "counsellor", provider_id=P2)
    assert rows(of_p2) == [(J2, "duration", "green")]
    # the de-authorised provider's journeys can be found by staff; nobody holds them now
    of_p3 = api("/v1/alerts", "counsellor", provider_id=P3)
    assert rows(of_p3) == [(J3, "provider_deauthorised", None)]
    waiting = api("/v1/alerts", "counsellor").json()["alerts"]
    assert {a["provider_id"] for a in waiting if a["journey_id"] == J3} == {None, P3}


def test_a_provider_sees_only_the_journeys_it_holds(api):
    response = api("/v1/alerts", "p1")
    assert response.status_code == 200
    assert {a["provider_id"] for a in response.json()["alerts"]} == {P1}
    assert rows(response) == [(J1, "duration", "green"), (J1, "plan_overdue", None)]
    assert rows(api("/v1/alerts", "p1", provider_id=P1)) == rows(response)


def test_a_provider_asking_for_another_providers_alerts_is_forbidden(api):
    response = api("/v1/alerts", "p1", provider_id=P2)
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "message": "a provider sees its own journeys only",
        "field": "provider_id",
    }


def test_a_deauthorised_provider_no_longer_sees_the_journeys_it_lost(api):
    assert rows(api("/v1/alerts", "p3")) == []
    # but it sees what was flagged while it held them
    assert rows(api("/v1/alerts", "p3", as_of="2026-03-25")) == [(J3, "duration", "green")]


def test_without_credentials_401_and_for_other_roles_403(api):
    assert api("/v1/alerts", None).status_code == 401
    assert api("/v1/alerts", None).json()["error"] == "unauthenticated"
    assert api("/v1/alerts/changes", None).status_code == 401
    for role in ("clerk", "publisher"):
        assert api("/v1/alerts", role).status_code == 403
        assert api("/v1/alerts/changes", role).status_code == 403


@pytest.mark.parametrize("value", ["2026-02-30", "20260101", "tomorrow", "2026-1-5", ""])
def test_invalid_date_is_422(api, value):
    response = api("/v1/alerts", "counsellor", as_of=value)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_date"
    assert response.json()["field"] == "as_of"


def test_unknown_kind_or_level_is_422(api):
    kind = api("/v1/alerts", "counsellor", kind="late")
    level = api("/v1/alerts", "counsellor", level="purple")
    assert (kind.status_code, kind.json()["error"], kind.json()["field"]) == (
        422,
        "invalid_kind",
        "kind",
    )
    assert (level.status_code, level.json()["error"], level.json()["field"]) == (
        422,
        "invalid_level",
        "level",
    )


def test_change_feed_pages_with_next(api):
    everything = api("/v1/alerts/changes", "auditor", limit="1000").json()
    assert [(c["type"], c["journey_id"], c["kind"]) for c in everything["changes"]] == [
        ("AlertRaised", J1, "duration"),
        ("AlertRaised", J1, "plan_overdue"),
        ("AlertRaised", J2, "duration"),
        ("AlertRaised", J3, "duration"),
        ("AlertRaised", J3, "provider_deauthorised"),
    ]
    assert everything["changes"][0] == {
        "seq": 1,
        "type": "AlertRaised",
        "journey_id": J1,
        "kind": "duration",
        "level": "green",
        "since": "2026-04-10",
        "as_of": "2026-04-15",
        "provider_id": P1,
    }
    first = api("/v1/alerts/changes", "counsellor", limit="2").json()
    second = api("/v1/alerts/changes", "counsellor", after=str(first["next"])).json()
    assert first["next"] == 2
    assert first["changes"] + second["changes"] == everything["changes"]
    end = api("/v1/alerts/changes", "counsellor", after=str(second["next"])).json()
    assert end == {"changes": [], "next": second["next"]}


def test_provider_change_feed_holds_its_own_changes_only(api):
    body = api("/v1/alerts/changes", "p1").json()
    assert {c["provider_id"] for c in body["changes"]} == {P1}
    assert len(body["changes"]) == 2


@pytest.mark.parametrize(("after", "limit"), [("-1", "10"), ("x", "10"), ("0", "0"), ("0", "5000")])
def test_invalid_paging_is_422(api, after, limit):
    response = api("/v1/alerts/changes", "counsellor", after=after, limit=limit)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_parameter"
