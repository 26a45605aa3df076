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
    assert "Utbetalning 2026-02 (förhandsgranskning" in out
    assert "Jobbhjälpen AB" in out and "10\u00a0116,10" in out
    assert "Framtidsvägen AB" in out and "12\u00a0372,00" in out  # 2 × 3 686 + 5 000 voucher
    assert "Totalt" in out and "22\u00a0488,10" in out
    assert w.service.list_runs() == []


def test_close_stores_the_run_and_export_writes_its_files(w: Wired, tmp_path: Path) -> None:
    closed = invoke(w, "close", "2026-02")
    assert closed.exit_code == 0, closed.output
    assert "stängd" in closed.output
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
