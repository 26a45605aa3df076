"""Every CLI command given bad input answers with a message and a non-zero exit, never a
traceback (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insats.cli import app

JOURNEY = "7d8f3c2e-1111-4a4a-9b9b-123456789abc"

# (arguments, extra environment, a word the message must contain)
README = Path(__file__).resolve().parents[2] / "README.md"  # a file that is not a backup

CASES: list[tuple[list[str], dict[str, str], str]] = [
    (["readmodels", "status"], {"INSATS_TODAY": "2026-13-01"}, "INSATS_TODAY"),
    (["readmodels", "status"], {"INSATS_POSTGRES_CONNECT_TIMEOUT": "soon"}, "CONNECT_TIMEOUT"),
    (["audit", "as-of", JOURNEY, "--known-at", "2026-12-01"], {}, "time zone"),
    (["audit", "as-of", JOURNEY, "--known-at", "igår"], {}, "known-at"),
    (["audit", "as-of", JOURNEY, "--as-of", "2026-02-30"], {}, "as-of"),
    (["audit", "as-of", "not-a-journey"], {}, "journey"),
    (["audit", "history", "not-a-journey"], {}, "journey"),
    (["payouts", "preview", "2026-13"], {}, "month"),
    (["payouts", "close", "2026-1"], {}, "month"),
    (["payouts", "export", "2026-01"], {}, "2026-01"),
    (["stats", "--from", "2026-02-30", "--to", "2026-12-31"], {}, "from"),
    (["stats", "--from", "2026-12-31", "--to", "2026-01-01"], {}, "from"),
    (["alerts", "--as-of", "igår"], {}, "as-of"),
    (["alerts", "--kind", "late"], {}, "kind"),
    (["events", "import", "/nonexistent/events.jsonl"], {}, "events.jsonl"),
    (["readmodels", "rebuild", "nosuch"], {}, "nosuch"),
    (["keys", "add", "--role", "wizard", "--name", "x"], {}, "role"),
    (["keys", "revoke", "nope"], {}, "key"),
    (["serve", "--port", "99999"], {}, "port"),
    (["serve"], {"INSATS_LOG_FORMAT": "xml"}, "INSATS_LOG_FORMAT"),
    (["worker", "--source", "nosuch"], {}, "source"),
    (["worker"], {"INSATS_LOG_FORMAT": "syslog"}, "INSATS_LOG_FORMAT"),
    (["backup", "restore", "/nonexistent/insats.backup"], {}, "no such file"),
    (["backup", "restore", str(README)], {}, "JSON"),
    (["backup", "create", str(README)], {}, "exists"),
    (["stats", "--from", "2026-01-01", "--to", "2026-12-31", "--group-by", "kön"], {}, "group"),
    (["alerts", "--limit", "0"], {}, "limit"),
]


@pytest.mark.parametrize(
    ("args", "env", "word"), CASES, ids=[" ".join(a) + (" env" if e else "") for a, e, _ in CASES]
)
def test_bad_input_gets_a_message_not_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    word: str,
) -> None:
    monkeypatch.delenv("INSATS_POSTGRES_URL", raising=False)
    monkeypatch.setenv("INSATS_DB", str(tmp_path / "insats.db"))
    monkeypatch.setenv("INSATS_API_KEYS_FILE", str(tmp_path / "keys.json"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, args)
    # a usage error or a reported refusal ends in SystemExit; anything else is a crash
    assert result.exception is None or isinstance(result.exception, SystemExit), "".join(
        traceback.format_exception(result.exception)
    )
    assert result.exit_code != 0, result.output
    assert word.lower() in result.output.lower(), result.output


def test_the_installed_command_reports_without_a_traceback(tmp_path: Path) -> None:
    """The same through the console script's process (`python -m insats`)."""
    environment = {
        **os.environ,
        "INSATS_DB": str(tmp_path / "insats.db"),
        "INSATS_TODAY": "2026-13-01",
    }
    result = subprocess.run(
        [sys.executable, "-m", "insats", "readmodels", "status"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "INSATS_TODAY" in result.stderr
