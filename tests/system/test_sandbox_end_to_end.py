"""The policy sandbox end to end (issue 15, docs/sandbox.md), on both stores: given the worked
example of SPEC §4.2 recorded through the API and closed month by month, when a clerk asks
"30 days, a 20 000 bonus, förstärkt at 5 000" over HTTP and on the command line, then the
baseline is what was paid, the difference is the bonus's 2 000, and the store is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from insats.bootstrap import Container
from insats.cli import app
from tests.api import Api, record_the_worked_example
from tests.payments.paybuild import QUESTION

MONTHS = "?from=2026-01&to=2026-10"


@pytest.fixture
def closed_year(api: Api) -> str:
    return record_the_worked_example(lambda role, path, body: api.as_(role).post(path, body))


def store_state(api: Api) -> tuple[Any, Any]:
    events = api.as_("auditor").get("/v1/events", limit=1000).json()
    runs = api.as_("clerk").get("/v1/payouts").json()
    return events, runs


def test_a_clerk_asks_the_question_over_http(api: Api, closed_year: str) -> None:
    before = store_state(api)
    r = api.as_("clerk").post(f"/v1/sandbox/runs{MONTHS}", QUESTION)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["totals"]["baseline_matches_paid"] is True
    assert result["totals"]["paid"] == result["totals"]["baseline"] == "37840.10"
    assert result["totals"]["difference"] == "2000.00"
    assert [m["difference"] for m in result["months"]][-1] == "2000.00"
    assert amounts_of(result["by_line_type"])["bonus"] == ("18000.00", "20000.00")
    assert store_state(api) == before

    csv = api.as_("counsellor").post(f"/v1/sandbox/runs{MONTHS}&format=csv", QUESTION)
    assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
    assert "Totalt;;;37840,10;37840,10;39840,10;2000,00" in csv.text
    page = api.as_("auditor").post(f"/v1/sandbox/runs{MONTHS}&format=html", QUESTION)
    assert page.status_code == 200 and "<svg" in page.text and 'lang="sv"' in page.text
    journeys = api.as_("admin").post(f"/v1/sandbox/runs{MONTHS}&format=journeys.csv", QUESTION)
    assert closed_year in journeys.text


def amounts_of(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {r["key"]: (r["baseline"], r["scenario"]) for r in rows}


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        (MONTHS, {**QUESTION, "changez": []}, "changez"),
        (
            MONTHS,
            {"name": "x", "changes": [{"effective_from": "2026-01-01", "bonus": {"sai": 1.5}}]},
            "sai",
        ),
        ("?from=2026-01&to=2099-12", QUESTION, "to"),
        ("?from=2026-1&to=2026-10", QUESTION, "from"),
        ("?from=2026-01-32&to=2026-10", QUESTION, "from"),
        (f"{MONTHS}&known_at=2026-05-01T00:00:00", QUESTION, "known_at"),
    ],
)
def test_bad_requests_are_refused_naming_the_parameter(
    api: Api, query: str, body: dict[str, Any], field: str
) -> None:
    r = api.as_("clerk").post(f"/v1/sandbox/runs{query}", body)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_a_provider_may_not_run_the_sandbox(api: Api) -> None:
    r = api.as_("provider1").post(f"/v1/sandbox/runs{MONTHS}", QUESTION)
    assert r.status_code == 403


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_the_same_question_on_the_command_line(
    api: Api, closed_year: str, container: Container, tmp_path: Path
) -> None:
    scenario = tmp_path / "fraga.toml"
    scenario.write_text(
        'name = "30 dagar, 20 000 kr bonus, förstärkt 5 000 kr"\n'
        "[[changes]]\n"
        "effective_from = 2026-01-01\n"
        "min_days_before_payment = 30\n"
        'bonus = { grund = "20000.00", forstarkt = "20000.00", sai = "20000.00" }\n'
        'monthly = { forstarkt = "5000.00" }\n',
        encoding="utf-8",
    )
    db = str(container.config.sqlite_file)
    runner = CliRunner()
    checked = runner.invoke(app, ["sandbox", "check", str(scenario)])
    assert checked.exit_code == 0, checked.output
    out = tmp_path / "ut"
    dates = runner.invoke(  # the way: dates, each naming its month
        app,
        [
            "sandbox",
            "run",
            str(scenario),
            "--from",
            "2026-01-01",
            "--to",
            "2026-10-31",
            "--db",
            db,
            "--json",
        ],
    )
    assert dates.exit_code == 0, dates.output
    assert json.loads(dates.stdout)["to"] == "2026-10"
    ran = runner.invoke(
        app,
        [
            "sandbox",
            "run",
            str(scenario),
            "--from",
            "2026-01",
            "--to",
            "2026-10",
            "--db",
            db,
            "--out",
            str(out),
            "--json",
        ],
    )
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert result["totals"]["difference"] == "2000.00"
    assert result["totals"]["baseline_matches_paid"] is True
    assert sorted(p.name for p in out.iterdir()) == [
        "sandbox-insatser.csv",
        "sandbox.csv",
        "sandbox.html",
        "sandbox.json",
    ]
    assert json.loads((out / "sandbox.json").read_text(encoding="utf-8")) == result
    table = runner.invoke(
        app, ["sandbox", "run", str(scenario), "--from", "2026-01", "--to", "2026-10", "--db", db]
    )
    assert table.exit_code == 0 and "baseline reproduces the closed runs" in table.stdout

    bad = tmp_path / "fel.json"
    bad.write_text('{"name": "x", "changes": [{"effective_from": "2026-01-01", "min_dayz": 3}]}')
    refused = runner.invoke(app, ["sandbox", "check", str(bad)])
    assert refused.exit_code == 2 and "min_dayz: unknown parameter" in refused.output
