"""Alerts that can be acted on (issue 12): each names the decision, insats, provider and
deadline; filters by counsellor and due window; pages; CSV and a limit in the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insats.bootstrap import Container
from tests.api import Api
from tests.conftest import P1, decision_body, person

AS_OF = "2026-04-01"  # both journeys started 2026-01-20 without a plan: plan overdue


@pytest.fixture
def journeys(api: Api, container: Container) -> dict[str, str]:
    ids = {}
    for ref, birth, counsellor in (("A-1", "1985-03-03", "Karin K"), ("A-2", "1986-04-04", None)):
        body = decision_body(ref, person(birth), insats="grund")
        if counsellor:
            body["counsellor"] = counsellor
        r = api.as_("counsellor").post("/v1/decisions", body)
        assert r.status_code == 201, r.text
        ids[ref] = journey = str(r.json()["journey_id"])
        r = api.as_("counsellor").post(
            f"/v1/journeys/{journey}/provider", {"provider_id": P1, "starts_on": "2026-01-20"}
        )
        assert r.status_code == 200, r.text
    container.feed.catch_up()
    return ids


def test_an_alert_names_decision_insats_provider_deadline_and_counsellor(
    api: Api, journeys: dict[str, str]
) -> None:
    r = api.as_("counsellor").get("/v1/alerts", as_of=AS_OF, kind="plan_overdue")
    assert r.status_code == 200, r.text
    by_journey = {a["journey_id"]: a for a in r.json()["alerts"]}
    karin = by_journey[journeys["A-1"]]
    assert karin["external_ref"] == {"system": "ecos", "decision_id": "A-1"}
    assert karin["insats"] == "grund"
    assert karin["provider_id"] == P1 and karin["provider_name"] == "Jobbstart AB"
    assert karin["due_on"] == "2026-03-21"  # 60 days after the start (SPEC §3)
    assert karin["counsellor"] == "Karin K"
    assert by_journey[journeys["A-2"]]["counsellor"] is None
    # the journey itself shows who follows it
    view = api.as_("counsellor").get(f"/v1/journeys/{journeys['A-1']}").json()
    assert view["counsellor"] == "Karin K"


def test_filters_by_counsellor_and_due_window_and_pages(api: Api, journeys: dict[str, str]) -> None:
    mine = api.as_("counsellor").get("/v1/alerts", as_of=AS_OF, counsellor="Karin K").json()
    assert {a["journey_id"] for a in mine["alerts"]} == {journeys["A-1"]}
    due = (
        api.as_("counsellor")
        .get("/v1/alerts", as_of=AS_OF, due_from="2026-03-01", due_to="2026-03-31")
        .json()
    )
    assert {a["kind"] for a in due["alerts"]} == {"plan_overdue"}
    assert (
        api.as_("counsellor").get("/v1/alerts", as_of=AS_OF, due_from="2026-04-01").json()["alerts"]
        == []
    )
    everything = api.as_("counsellor").get("/v1/alerts", as_of=AS_OF).json()
    first = api.as_("counsellor").get("/v1/alerts", as_of=AS_OF, limit="1").json()
    second = (
        api.as_("counsellor")
        .get("/v1/alerts", as_of=AS_OF, limit="1", offset=str(first["next_offset"]))
        .json()
    )
    assert first["total"] == everything["total"] == len(everything["alerts"]) > 1
    assert first["alerts"] + second["alerts"] == everything["alerts"][:2]
    refused = api.as_("counsellor").get(
        "/v1/alerts", as_of=AS_OF, due_from="2026-05-01", due_to="2026-04-01"
    )
    assert refused.status_code == 422 and refused.json()["field"] == "due_from"


def test_the_cli_writes_csv_filters_by_provider_and_limits(
    journeys: dict[str, str], container: Container, tmp_path: Path, monkeypatch
) -> None:
    from insats.cli import app

    if container.config.sqlite_file is None:
        monkeypatch.setenv("INSATS_POSTGRES_URL", container.config.postgres_url or "")
        monkeypatch.setenv("INSATS_POSTGRES_SCHEMA", container.config.schema)
    else:
        monkeypatch.setenv("INSATS_DB", str(container.config.sqlite_file))
    out = tmp_path / "larm.csv"
    dashed = f"{P1[:6]}-{P1[6:]}"
    args = ["alerts", "--as-of", AS_OF, "--provider", dashed, "--counsellor", "Karin K"]
    result = CliRunner().invoke(app, [*args, "--csv", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Insats-id", "Beslutssystem", "Beslutsreferens"]
    assert {r[2] for r in rows[1:]} == {"A-1"}
    assert all(r[9] == P1 and r[10] == "Jobbstart AB" and r[11] == "Karin K" for r in rows[1:])
    limited = CliRunner().invoke(app, ["alerts", "--as-of", AS_OF, "--limit", "1"])
    assert limited.exit_code == 0, limited.output
    assert "Showing 1 of" in limited.output


def test_facts_stored_before_the_counsellor_field_still_decode() -> None:
    from contracts import journey as model

    stored_before = (
        '[3, "grund", ["ecos", "A-9", "ref", "personnummer", 739000, "kv", "other", null], '
        "[], null, [], [], null, [], [], null]"
    )
    facts = model.decode("j", stored_before)
    assert facts.decision is not None and facts.decision.counsellor is None
    assert facts.decision.decision_id == "A-9"
