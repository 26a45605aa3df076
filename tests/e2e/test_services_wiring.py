"""The services' read models hang off the lifecycle's feed in the composed app: a fact recorded
through the journey API shows up in alerts (and payouts and statistics) over HTTP."""

from __future__ import annotations

from insats.bootstrap import Container
from tests.conftest import P1, decision_body, person
from tests.e2e.conftest import Api


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
