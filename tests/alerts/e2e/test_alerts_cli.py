"""`insats alerts`: a table with traffic-light colours and a summary per kind."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from services.alerts import AlertsService
from services.alerts import cli as alerts_cli
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource

P1, P2 = "5566778899", "5599887766"

# `insats alerts` as the root CLI registers it (a command calling `show_alerts`).
root = typer.Typer()
root.command("alerts")(alerts_cli.show_alerts)
root.command("version")(lambda: None)
J1, J2, J3 = "journey-1", "journey-2", "journey-3"


@pytest.fixture
def obj(tmp_path, log):
    # given J1 started 2026-01-10 without a plan, J2 started 2025-07-01, J3 2026-03-01
    log.started(J1, "2026-01-10", provider=P1)
    log.started(J2, "2025-07-01", provider=P2)
    log.plan(J2, "2025-07-20")
    log.started(J3, "2026-03-01", provider=P1)
    log.plan(J3, "2026-03-10")
    db = SQLiteDatabase(tmp_path / "alerts.db")
    service = AlertsService(db, today=lambda: date(2026, 4, 15))
    FeedRunner(ListEventSource(log.events), db, [service.projection()]).catch_up()
    yield SimpleNamespace(alerts=service)
    db.close()


def test_lists_alerts_with_their_kinds_and_a_summary(obj):
    result = CliRunner().invoke(root, ["alerts", "--as-of", "2026-07-15"], obj=obj)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Alerts on 2026-07-15" in out
    for journey in (J1, J2, J3):
        assert journey in out
    assert "● red" in out  # J2: 12 months on 2026-07-01
    assert "● yellow" in out  # J1: 6 months on 2026-07-10
    assert "● green" in out  # J3: 3 months on 2026-06-01
    assert "plan_overdue" in out
    summary = out[out.index("Summary by kind") :]
    assert "duration" in summary
    assert "duration/red" in summary
    assert "Total" in summary
    total = next(line for line in summary.splitlines() if "Total" in line)
    assert [cell.strip() for cell in total.split("│")][-2] == "4"  # 3 lights + 1 overdue plan
    # the reddest light first
    assert out.index("● red") < out.index("● yellow") < out.index("● green")


def test_today_by_default_and_filters(obj):
    runner = CliRunner()
    today = runner.invoke(root, ["alerts"], obj=obj)
    assert today.exit_code == 0, today.output
    assert "Alerts on 2026-04-15" in today.output
    red = runner.invoke(root, ["alerts", "--as-of", "2026-07-15", "--level", "red"], obj=obj)
    assert J2 in red.output and J1 not in red.output
    plans = runner.invoke(
        root, ["alerts", "--as-of", "2026-07-15", "--kind", "plan_overdue"], obj=obj
    )
    assert J1 in plans.output and J2 not in plans.output


def test_traffic_light_colours_on_a_terminal(obj, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = CliRunner().invoke(root, ["alerts", "--as-of", "2026-07-15"], obj=obj)
    assert result.exit_code == 0, result.output
    assert "\x1b[1;31m● red" in result.output
    assert "\x1b[1;33m● yellow" in result.output
    assert "\x1b[1;32m● green" in result.output


@pytest.mark.parametrize(
    "args",
    [["--as-of", "2026-02-30"], ["--as-of", "igår"], ["--kind", "late"], ["--level", "blå"]],
)
def test_invalid_options_are_refused(obj, args):
    result = CliRunner().invoke(root, ["alerts", *args], obj=obj)
    assert result.exit_code == 2


def test_at_80_columns_every_line_fits_and_the_provider_shows(obj, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(root, ["alerts", "--as-of", "2026-07-15"], obj=obj)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    for journey in (J1, J2, J3):
        assert journey in result.output
    assert P1 in result.output and P2 in result.output


def test_a_journey_id_and_a_long_provider_name_both_show_at_80_columns():
    from rich.console import Console

    from services.alerts.store import JourneyAlert

    journey = "1141b74c-eeab-40fd-aa48-e58c5995b77c"
    name = "Jobbhjälpen Arbetsmarknadstjänster i Sverige AB"
    alert = JourneyAlert(
        journey, "provider_deauthorised", None, date(2026, 1, 1), P1, name, "grund",
        None, None, date(2026, 2, 1), None,
    )  # fmt: skip
    console = Console(width=80, record=True)
    console.print(alerts_cli.alerts_table(date(2026, 3, 1), [alert], console.width))
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert journey in text and "provider_deauthorised" in text
    assert "Jobbhjälpen Arbetsmarknadstjänster" in text and "Sverige AB" in text
