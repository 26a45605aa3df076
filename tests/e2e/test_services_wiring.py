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
