"""`insats payouts preview|close|export YYYY-MM [--out DIR]` (API.md CLI)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from services.payments.cli import app
from tests.payments.paybuild import P1, P2, Log, Wired, wire


@pytest.fixture
def w(tmp_path: Path) -> Wired:
    log = Log()
    log.default_rates()
    log.provider(P1, "Jobbhjälpen AB")
    log.provider(P2, "Framtidsvägen AB")
    log.decision("j1", "sai")
    log.chosen("j1", P1, "2026-01-20")
    log.decision("j2", "grund")
    log.chosen("j2", P2, "2026-01-01")
    log.voucher("j2", "v1", "5000.00", "2026-02-02")
    return wire(tmp_path, log, today="2026-03-01")


def invoke(w: Wired, *args: str) -> object:
    return CliRunner().invoke(app, list(args), obj=SimpleNamespace(payments=w.service))


def test_preview_prints_totals_per_provider_and_in_all(w: Wired) -> None:
    result = invoke(w, "preview", "2026-02")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Payout run 2026-02 (preview" in out
    assert "Jobbhjälpen AB" in out and "10\u00a0116,10" in out
    assert "Framtidsvägen AB" in out and "12\u00a0372,00" in out  # 2 × 3 686 + 5 000 voucher
    assert "Total" in out and "22\u00a0488,10" in out
    assert w.service.list_runs() == []


def test_close_stores_the_run_and_export_writes_its_files(w: Wired, tmp_path: Path) -> None:
    closed = invoke(w, "close", "2026-02")
    assert closed.exit_code == 0, closed.output
    assert "(closed" in closed.output
    out = tmp_path / "export"
    exported = invoke(w, "export", "2026-02", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    run = w.service.get("2026-02")
    assert sorted(p.name for p in out.iterdir()) == sorted(run.files)
    for name, digest in run.files.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
        assert digest in exported.output


def test_errors_are_clear_and_exit_non_zero(w: Wired) -> None:
    not_ended = invoke(w, "close", "2026-03")
    assert not_ended.exit_code == 1
    assert "2026-03 has not ended" in not_ended.output
    bad = invoke(w, "preview", "2026-3")
    assert bad.exit_code == 1 and "YYYY-MM" in bad.output
    missing = invoke(w, "export", "2026-01")
    assert missing.exit_code == 1 and "no closed payout run for 2026-01" in missing.output
    unconfigured = CliRunner().invoke(app, ["preview", "2026-01"], obj=SimpleNamespace())
    assert unconfigured.exit_code == 2 and "ctx.obj.payments" in unconfigured.output


def test_runs_lists_the_closed_runs(w: Wired) -> None:
    invoke(w, "close", "2026-01")
    result = invoke(w, "runs")
    assert result.exit_code == 0 and "2026-01" in result.output


def _lines(output: str, starting: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(starting)]


def test_at_80_columns_the_table_keeps_the_provider_and_breaks_down_by_line_type(
    w: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke(w, "preview", "2026-02")
    assert result.exit_code == 0, result.output
    out = result.output
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "Jobbhjälpen AB" in out and "Framtidsvägen AB" in out
    # the per-line-type sums move to a table of their own
    assert "By line type, 2026-02" in out
    by_type = out[out.index("By line type") :]
    voucher = next(line for line in by_type.splitlines() if "Voucher" in line)
    assert "5\u00a0000,00" in voucher
    assert "22\u00a0488,10" in by_type


def test_at_120_columns_and_wider_one_table_holds_every_line_type(
    w: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "140")
    result = invoke(w, "preview", "2026-02")
    assert result.exit_code == 0, result.output
    assert "By line type" not in result.output
    header = next(line for line in result.output.splitlines() if "Provider" in line)
    for column in ("Monthly", "Bonus", "Voucher", "Total (SEK)"):
        assert column in header
