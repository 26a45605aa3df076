"""`insats stats --from D --to D [--group-by G] [--html FILE] [--csv FILE]`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from services.statistics.cli import register
from tests.statistics.stats_given import P1, Given


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    given = Given()
    given.authorise(P1, "Ett AB")
    given.journey("2023-05-01", "2024-03-01", "work")
    given.journey("2024-02-01", insats="sai")
    service = given.service()
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:  # as the root CLI does: ctx.obj carries the services
        ctx.obj = SimpleNamespace(statistics=service)

    register(app)
    return app


def test_stats_prints_readable_tables_that_fit_80_columns(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["stats", "--from", "2024-01-01", "--to", "2024-12-31"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Statistics 2024-01-01 – 2024-12-31, by insats"
    assert max(len(line) for line in lines) <= 80
    # the figures are split into parts that fit; each part repeats the group column
    grund = [line for line in lines if line.startswith("Jobbpeng grund")]
    assert len(grund) >= 3  # key figures in at least two parts, exits by reason in one or more
    assert grund[0].split()[2:7] == ["1", "1", "0", "1", "1"]  # journeys, customers, starts, ...
    assert "100,0 %" in " ".join(grund) and "305,0" in " ".join(grund)
    assert any(line.startswith("Total") for line in lines)
    headers = " ".join(line for line in lines if line.startswith("Insats"))
    for heading in ("Journeys", "Self-suff.", "Median days", "Plans on time", "other_authority"):
        assert heading in headers
    assert "Exits by reason" in result.output


def test_stats_by_provider_names_the_provider(cli: typer.Typer) -> None:
    result = CliRunner().invoke(
        cli, ["stats", "--from", "2024-01-01", "--to", "2024-12-31", "--group-by", "provider"]
    )

    assert result.exit_code == 0, result.output
    assert "Ett AB (5560000001)" in result.output
    assert "by provider" in result.output


def test_stats_writes_the_html_report_and_the_csv(cli: typer.Typer, tmp_path: Path) -> None:
    html, csv = tmp_path / "rapport.html", tmp_path / "statistik.csv"

    period = ["--from", "2024-01-01", "--to", "2024-12-31"]

    result = CliRunner().invoke(cli, ["stats", *period, "--html", str(html), "--csv", str(csv)])

    assert result.exit_code == 0, result.output
    assert html.read_text(encoding="utf-8").count("<svg") == 3
    assert csv.read_bytes().startswith("\ufeffFrån;Till;".encode())


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "2024-1-1", "--to", "2024-12-31"],
        ["--from", "2024-12-31", "--to", "2024-01-01"],
        ["--from", "2024-01-01", "--to", "2024-12-31", "--group-by", "kommun"],
    ],
)
def test_stats_refuses_bad_input(cli: typer.Typer, args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["stats", *args])

    assert result.exit_code == 2


def test_a_long_provider_name_is_shortened_to_fit_80_columns() -> None:
    given = Given()
    given.authorise(P1, "Jobbhjälpen Arbetsmarknadstjänster i Sverige och Norden AB")
    given.journey("2024-02-01", "2024-06-01", "work")
    service = given.service()
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = SimpleNamespace(statistics=service)

    register(app)
    period = ["--from", "2024-01-01", "--to", "2024-12-31", "--group-by", "provider"]
    result = CliRunner().invoke(app, ["stats", *period])

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert f"Jobbhjälpen Arbetsmarknadstjä… ({P1})" in result.output
