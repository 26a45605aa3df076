"""The v1 API end to end on SQLite and PostgreSQL: every journey event of SPEC §3, reads with
as_of/known_at, history, search, the auditors' feed, errors, idempotency and If-Match."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.schemas import validation_errors
from insats.bootstrap import Container
from tests.api import Api
from tests.conftest import P1, P2, P3, decision_body, person

EVIDENCE = [{"type": "anstallningsbevis", "id": "doc-77", "date": "2026-10-01"}]


def new_journey(api: Api, decision_id: str = "d1", insats: str = "sai", **kw: Any) -> str:
    r = api.as_("publisher").post(
        "/v1/decisions",
        decision_body(decision_id, kw.pop("pnr", person("1990-01-01")), insats, **kw),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["journey_id"])


def started(
    api: Api, decision_id: str = "d1", insats: str = "sai", provider: str = P1, **kw: Any
) -> str:
    jid = new_journey(api, decision_id, insats, **kw)
    r = api.as_("publisher").post(
        f"/v1/journeys/{jid}/provider", {"provider_id": provider, "starts_on": "2026-01-20"}
    )
    assert r.status_code == 200, r.text
    return jid


def test_a_whole_sai_journey_over_http(api: Api, container: Container) -> None:
    pub, p1 = api.as_("publisher"), api.as_("provider1")
    jid = started(api)
    r = p1.post(
        f"/v1/journeys/{jid}/plan",
        {
            "established_on": "2026-02-10",
            "planned_internship_start": "2026-03-01",
            "planned_internship_share_percent": 60,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["late"] is False and r.json()["plan"]["due_on"] == "2026-03-21"
    assert (
        p1.post(
            f"/v1/journeys/{jid}/internship/start",
            {"employer": "Café Nacka AB", "started_on": "2026-03-02", "share_percent": 60},
        ).status_code
        == 200
    )
    assert (
        p1.post(f"/v1/journeys/{jid}/internship/end", {"ended_on": "2026-03-13"}).status_code == 200
    )
    v = pub.post(
        f"/v1/journeys/{jid}/vouchers",
        {"amount": "8500.00", "purpose": "Körkort B", "granted_on": "2026-02-15"},
    )
    assert v.status_code == 201 and v.json()["amount"] == "8500.00" and v.json()["voucher_id"]
    r = pub.post(f"/v1/journeys/{jid}/provider", {"provider_id": P2, "starts_on": "2026-03-16"})
    assert [a["ends_on"] for a in r.json()["assignments"]] == ["2026-03-15", None]
    p2 = api.as_("provider2")
    r = p2.post(
        f"/v1/journeys/{jid}/exit",
        {
            "exited_on": "2026-04-10",
            "reason": "work",
            "employment_form": "fixed_term",
            "contract_months": 12,
            "subsidy": "none",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "exited" and r.json()["bonus"]["status"] == "awaiting_claim"
    r = p2.post(
        f"/v1/journeys/{jid}/follow-up",
        {"followed_up_on": "2026-10-12", "outcome": "sustained", "evidence": EVIDENCE},
    )
    assert r.json()["bonus"]["status"] == "claimed", r.text
    r = api.as_("counsellor").post(
        f"/v1/journeys/{jid}/bonus-review", {"reviewed_on": "2026-10-14", "decision": "approved"}
    )
    assert r.status_code == 200 and r.json()["bonus"]["status"] == "approved"

    # as_of: the journey as it stood on a date
    r = api.as_("counsellor").get(f"/v1/journeys/{jid}", as_of="2026-03-20")
    body = r.json()
    assert body["status"] == "active" and body["provider_id"] == P2 and body["exit"] is None
    assert body["person_id"] == person("1990-01-01").replace("-", "")

    # history, oldest first, with actor and effective date
    hist = api.as_("auditor").get(f"/v1/journeys/{jid}/events").json()
    assert [e["type"] for e in hist] == [
        "DecisionRegistered",
        "ProviderChosen",
        "PlanRegistered",
        "LanguageInternshipStarted",
        "LanguageInternshipEnded",
        "VoucherGranted",
        "ProviderChanged",
        "JourneyExited",
        "FollowUpRecorded",
        "BonusClaimReviewed",
    ]
    assert (
        hist[0]["actor"] == "publisher:test-publisher" and hist[7]["effective_date"] == "2026-04-10"
    )

    # the auditors' feed: the public contract, schema-valid, no personnummer
    feed = api.as_("auditor").get("/v1/events", limit=1000).json()
    assert feed["events"] and all(validation_errors(e) == [] for e in feed["events"])
    raw = str(feed)
    assert person("1990-01-01").replace("-", "") not in raw and "services.lifecycle" not in raw


def test_known_at_shows_what_was_known_then(api: Api) -> None:
    jid = started(api)
    moment = datetime.now(UTC).isoformat()
    api.as_("publisher").post(
        f"/v1/journeys/{jid}/exit", {"exited_on": "2026-04-10", "reason": "moved"}
    )
    then = api.as_("auditor").get(f"/v1/journeys/{jid}", known_at=moment).json()
    now = api.as_("auditor").get(f"/v1/journeys/{jid}").json()
    assert then["status"] == "active" and now["status"] == "exited"


def test_corrections_and_withdrawal_over_http(api: Api) -> None:
    pub = api.as_("publisher")
    jid = started(api)
    pub.post(f"/v1/journeys/{jid}/exit", {"exited_on": "2026-04-10", "reason": "moved"})
    r = pub.post(
        f"/v1/journeys/{jid}/corrections",
        {"field": "exited_on", "value": "2026-03-31", "reason": "felregistrerat"},
    )
    assert r.status_code == 200 and r.json()["exit"]["exited_on"] == "2026-03-31"
    r = pub.post(
        f"/v1/journeys/{jid}/corrections",
        {
            "field": "exit",
            "value": {"reason": "work", "employment_form": "permanent"},
            "reason": "arbete",
        },
    )
    assert r.json()["exit"]["reason"] == "work"
    other = new_journey(api, "d2", pnr=person("1991-02-02"))
    r = pub.post(
        f"/v1/journeys/{other}/withdrawal", {"withdrawn_on": "2026-01-12", "reason": "tackat nej"}
    )
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"


def test_errors_are_machine_readable_and_change_nothing(api: Api, container: Container) -> None:
    pub = api.as_("publisher")
    jid = started(api)
    before = container.lifecycle.max_position()
    r = pub.post(f"/v1/journeys/{jid}/exit", {"exited_on": "2026-04-10", "reason": "work"})
    assert r.status_code == 422
    assert r.json() == {
        "error": "employment_form_required",
        "message": r.json()["message"],
        "field": "employment_form",
    }
    r = pub.post(f"/v1/journeys/{jid}/exit", {"exited_on": "not-a-date", "reason": "moved"})
    assert (
        r.status_code == 422
        and r.json()["error"] == "invalid_input"
        and r.json()["field"] == "exited_on"
    )
    r = pub.post("/v1/decisions", decision_body("x", "19900101-0018"))
    assert r.status_code == 422 and r.json()["error"] == "invalid_person_id"
    r = pub.post(f"/v1/journeys/{jid}/provider", {"provider_id": P3, "starts_on": "2026-02-01"})
    assert r.status_code == 422 and r.json()["error"] == "provider_not_authorised"
    r = pub.get("/v1/journeys/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and r.json()["error"] == "journey_not_found"
    assert container.lifecycle.max_position() == before


def test_duplicate_decisions_are_idempotent_or_conflicts(api: Api) -> None:
    pub = api.as_("publisher")
    body = decision_body("dup", person("1990-01-01"))
    first = pub.post("/v1/decisions", body)
    again = pub.post("/v1/decisions", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["journey_id"] == again.json()["journey_id"]
    r = pub.post("/v1/decisions", {**body, "insats": "grund"})
    assert r.status_code == 409 and r.json()["error"] == "duplicate_external_ref"


def test_idempotency_key_replays_the_first_response(api: Api, container: Container) -> None:
    pub = api.as_("publisher")
    jid = started(api)
    body = {"amount": "5000.00", "purpose": "Arbetskläder", "granted_on": "2026-02-01"}
    first = pub.post(f"/v1/journeys/{jid}/vouchers", body, headers={"Idempotency-Key": "k-1"})
    position = container.lifecycle.max_position()
    again = pub.post(f"/v1/journeys/{jid}/vouchers", body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert container.lifecycle.max_position() == position
    other = pub.post(
        f"/v1/journeys/{jid}/vouchers",
        {**body, "amount": "6000.00"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    journey = pub.get(f"/v1/journeys/{jid}").json()
    assert len(journey["vouchers"]) == 1


def test_if_match_refuses_a_stale_version(api: Api) -> None:
    pub = api.as_("publisher")
    jid = started(api)
    version = pub.get(f"/v1/journeys/{jid}").json()["version"]
    ok = pub.post(
        f"/v1/journeys/{jid}/plan",
        {
            "established_on": "2026-02-01",
            "planned_internship_start": "2026-03-01",
            "planned_internship_share_percent": 50,
        },
        headers={"If-Match": f'"{version}"'},
    )
    assert ok.status_code == 200 and ok.headers["ETag"] == f'"{version + 1}"'
    stale = pub.post(
        f"/v1/journeys/{jid}/exit",
        {"exited_on": "2026-04-10", "reason": "moved"},
        headers={"If-Match": str(version)},
    )
    assert stale.status_code == 409 and stale.json()["error"] == "stale_version"


def test_search_filters_and_pages_with_a_cursor(api: Api, container: Container) -> None:
    ids = [started(api, f"s{i}", pnr=person("1990-01-01", f"{i:03d}")) for i in range(5)]
    api.as_("publisher").post(
        f"/v1/journeys/{ids[0]}/exit", {"exited_on": "2026-04-10", "reason": "moved"}
    )
    container.feed.catch_up()
    c = api.as_("counsellor")
    page1 = c.get("/v1/journeys", limit=2).json()
    page2 = c.get("/v1/journeys", limit=2, cursor=page1["next_cursor"]).json()
    page3 = c.get("/v1/journeys", limit=2, cursor=page2["next_cursor"]).json()
    seen = [j["journey_id"] for p in (page1, page2, page3) for j in p["journeys"]]
    assert seen == ids and page3["next_cursor"] is None
    exited = c.get("/v1/journeys", status="exited").json()["journeys"]
    assert [j["journey_id"] for j in exited] == [ids[0]]
    by_person = c.get("/v1/journeys", person_id=person("1990-01-01", "003")).json()["journeys"]
    assert [j["journey_id"] for j in by_person] == [ids[3]]
    assert c.get("/v1/journeys", cursor="garbage!").status_code == 422


def test_providers_and_rates_read_back(api: Api) -> None:
    providers = api.as_("clerk").get("/v1/providers").json()["providers"]
    assert [p["provider_id"] for p in providers] == sorted([P1, P2, P3])
    r = api.post(
        "/v1/rates",
        {
            "effective_from": "2026-07-01",
            "monthly": {"grund": "3800.00", "forstarkt": "4858.00", "sai": "7400.00"},
            "bonus": {"grund": "18000.00", "forstarkt": "18000.00", "sai": "18000.00"},
            "voucher_min": "5000.00",
            "voucher_max": "15000.00",
            "min_days_before_payment": 14,
        },
    )
    assert r.status_code == 201, r.text
    rates = api.as_("auditor").get("/v1/rates").json()["rates"]
    assert [t["effective_from"] for t in rates] == ["2016-01-01", "2026-07-01"]
    assert rates[0]["monthly"]["sai"] == "7293.00"
    r = api.post(
        f"/v1/providers/{P3}/deauthorisation",
        {"effective_on": "2026-06-01", "reason": "avtal upphört"},
    )
    assert r.status_code == 200 and r.json()["deauthorised_on"] == "2026-06-01"


def test_a_deauthorised_providers_assignment_ends_the_day_before(api: Api) -> None:
    jid = started(api, provider=P2)
    api.post(
        f"/v1/providers/{P2}/deauthorisation",
        {"effective_on": "2026-06-01", "reason": "hävt avtal"},
    )
    j = api.as_("counsellor").get(f"/v1/journeys/{jid}").json()
    assert j["assignments"][0]["ends_on"] == "2026-05-31" and j["provider_id"] is None
    r = api.as_("publisher").post(
        f"/v1/journeys/{jid}/provider", {"provider_id": P1, "starts_on": "2026-06-01"}
    )
    assert r.status_code == 200 and r.json()["provider_id"] == P1


def test_health_readiness_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").json()["status"] == "ready"
    assert api.client.get("/metrics").status_code == 401
    text = api.get("/metrics").text
    assert "insats_http_requests_total" in text and "insats_event_log_position" in text
