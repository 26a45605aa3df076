"""The services' read models hang off the lifecycle's feed in the composed app: a fact recorded
through the journey API shows up in alerts (and payouts and statistics) over HTTP."""

from __future__ import annotations

from insats.bootstrap import Container
from tests.api import Api
from tests.conftest import P1, P2, decision_body, person


def started(
    api: Api, decision_id: str, insats: str = "grund", starts_on: str = "2026-01-20"
) -> str:
    pub = api.as_("publisher")
    r = pub.post(
        "/v1/decisions", decision_body(decision_id, person("1990-01-01", decision_id[-3:]), insats)
    )
    jid = str(r.json()["journey_id"])
    assert (
        pub.post(
            f"/v1/journeys/{jid}/provider", {"provider_id": P1, "starts_on": starts_on}
        ).status_code
        == 200
    )
    return jid


def test_alerts_follow_the_journeys(api: Api, container: Container) -> None:
    jid = started(api, "a-001")
    container.feed.catch_up()
    c = api.as_("counsellor")
    lights = c.get("/v1/alerts", as_of="2026-11-23", kind="duration").json()["alerts"]
    assert [(a["journey_id"], a["level"]) for a in lights] == [(jid, "yellow")]
    overdue = c.get("/v1/alerts", as_of="2026-11-23", kind="plan_overdue").json()["alerts"]
    assert [a["journey_id"] for a in overdue] == [jid]
    api.as_("publisher").post(f"/v1/journeys/{jid}/plan", {"established_on": "2026-11-20"})
    container.feed.catch_up()
    assert c.get("/v1/alerts", as_of="2026-11-23", kind="plan_overdue").json()["alerts"] == []
    # the provider holding the journey sees it; the other does not
    assert len(api.as_("provider1").get("/v1/alerts", as_of="2026-11-23").json()["alerts"]) >= 1
    assert api.as_("provider2").get("/v1/alerts", as_of="2026-11-23").json()["alerts"] == []


def test_statistics_follow_the_journeys(api: Api, container: Container) -> None:
    a = started(api, "s-001")
    b = started(api, "s-002", insats="sai")
    pub = api.as_("publisher")
    pub.post(
        f"/v1/journeys/{a}/exit",
        {"exited_on": "2026-04-10", "reason": "work", "employment_form": "permanent"},
    )
    pub.post(f"/v1/journeys/{b}/exit", {"exited_on": "2026-05-01", "reason": "moved"})
    container.feed.catch_up()
    figures = api.as_("counsellor").get(
        "/v1/statistics", **{"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert figures.status_code == 200, figures.text
    total = figures.json()["groups"]["total"]
    assert (total["journeys"], total["starts"], total["self_sufficient"]) == (2, 2, 1)
    assert total["exits"]["work"] == 1 and total["exits"]["moved"] == 1
    assert figures.json()["groups"]["grund"]["avg_days"] == 80.0  # 2026-01-20 → 2026-04-10
    report = api.as_("auditor").get(
        "/v1/statistics/report.html", **{"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert report.status_code == 200 and "<svg" in report.text
    assert (
        api.as_("provider1")
        .get("/v1/statistics", **{"from": "2026-01-01", "to": "2026-12-31"})
        .status_code
        == 403
    )


def test_the_worked_example_of_spec_4_2_through_the_api(api: Api, container: Container) -> None:
    """SAI 7 293 SEK: P1 from 2026-01-20, P2 from 2026-03-16, exit to work 2026-04-10 (12-month
    contract), bonus claim approved 2026-10-14 — closed month by month by the clerk."""
    pub, clerk = api.as_("publisher"), api.as_("clerk")
    jid = started(api, "w-001", insats="sai")
    pub.post(f"/v1/journeys/{jid}/provider", {"provider_id": P2, "starts_on": "2026-03-16"})
    api.as_("provider2").post(
        f"/v1/journeys/{jid}/exit",
        {
            "exited_on": "2026-04-10",
            "reason": "work",
            "employment_form": "fixed_term",
            "contract_months": 12,
        },
    )
    api.as_("provider2").post(
        f"/v1/journeys/{jid}/follow-up",
        {
            "followed_up_on": "2026-10-12",
            "outcome": "sustained",
            "evidence": [{"type": "anstallningsbevis", "id": "A-1", "date": "2026-10-01"}],
        },
    )
    api.as_("counsellor").post(
        f"/v1/journeys/{jid}/bonus-review", {"reviewed_on": "2026-10-14", "decision": "approved"}
    )
    paid: dict[str, list[tuple[str, str, str, str]]] = {}
    for month in [f"2026-{m:02d}" for m in range(1, 11)]:
        r = clerk.post(f"/v1/payouts/{month}/close", None)
        assert r.status_code in (200, 201), r.text
        paid[month] = [
            (line["period"], line["provider_id"], line["type"], line["amount"])
            for line in r.json()["lines"]
        ]
    assert paid["2026-01"] == []
    assert sorted(paid["2026-02"]) == [
        ("2026-01", P1, "monthly", "2823.10"),
        ("2026-02", P1, "monthly", "7293.00"),
    ]
    assert sorted(paid["2026-03"]) == [
        ("2026-03", P1, "monthly", "3528.87"),
        ("2026-03", P2, "monthly", "3764.13"),
    ]
    assert paid["2026-04"] == [("2026-04", P2, "monthly", "2431.00")]
    assert all(paid[f"2026-{m:02d}"] == [] for m in range(5, 10))
    assert paid["2026-10"] == [("2026-10", P2, "bonus", "18000.00")]

    run = clerk.get("/v1/payouts/2026-03").json()
    import hashlib

    for name, digest in run["files"].items():
        body = clerk.get(f"/v1/payouts/2026-03/files/{name}").content
        assert hashlib.sha256(body).hexdigest() == digest, name
    csv = clerk.get("/v1/payouts/2026-03/files/payout-2026-03.csv").content
    assert csv.startswith("\ufeff".encode()) and b"3528,87" in csv
    p2 = api.as_("provider2")
    assert p2.get(f"/v1/payouts/2026-03/files/underlag-{P2}-2026-03.html").status_code == 200
    assert p2.get(f"/v1/payouts/2026-03/files/underlag-{P1}-2026-03.html").status_code == 403

    from insats.audit import verify_read_models
    from insats.bootstrap import fresh_projections, service_verifications

    problems = verify_read_models(container, lambda: fresh_projections(container))
    for check in service_verifications(container):
        problems.extend(check())
    assert problems == []
