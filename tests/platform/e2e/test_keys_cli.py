"""`insats keys`: add (a provider key needs an authorised provider, or --force with a warning),
list without secrets, revoke with effect at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from insats.bootstrap import build
from services.lifecycle.store import StoreConfig
from services.platform.auth import KeyStore
from tests.builders import authorise
from tests.conftest import P1, P2

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded store where P1 is authorised and P2 is not known."""
    db = tmp_path / "insats.db"
    monkeypatch.setenv("INSATS_API_KEYS_FILE", str(tmp_path / "keys.json"))
    container = build(StoreConfig(sqlite_file=db))
    authorise(container.lifecycle, P1)
    container.close()
    return db


def cli(*args: str) -> Result:
    from insats.cli import app

    return runner.invoke(app, list(args))


def test_a_provider_key_needs_an_authorised_provider(store: Path, tmp_path: Path) -> None:
    ok = cli(
        "keys", "add", "--role", "provider", "--provider-id", P1, "--name", "a", "--db", str(store)
    )
    assert ok.exit_code == 0, ok.output
    refused = cli(
        "keys", "add", "--role", "provider", "--provider-id", P2, "--name", "b", "--db", str(store)
    )
    assert refused.exit_code == 2
    assert "not registered" in refused.output
    assert len(KeyStore(tmp_path / "keys.json").listed()) == 1  # nothing added
    forced = cli(
        "keys",
        "add",
        "--role",
        "provider",
        "--provider-id",
        P2,
        "--name",
        "b",
        "--force",
        "--db",
        str(store),
    )
    assert forced.exit_code == 0
    assert "warning" in forced.output
    assert len(KeyStore(tmp_path / "keys.json").listed()) == 2


def test_keys_list_shows_no_secret_and_revoke_stops_the_key_at_once(
    store: Path, tmp_path: Path
) -> None:
    keys = KeyStore(tmp_path / "keys.json")
    token = keys.add("clerk", "kassa")
    other = keys.add("auditor", "revisor")
    listed = cli("keys", "list", "--db", str(store))
    assert listed.exit_code == 0
    out = listed.output
    assert "kassa" in out and "revisor" in out and "clerk" in out
    assert token not in out and other not in out
    from services.platform.auth import hash_token

    assert hash_token(token) not in out  # only a short id of the hash
    clerk = next(k for k in keys.listed() if k.name == "kassa")
    assert keys.authenticate(token) is not None
    revoked = cli("keys", "revoke", clerk.key_id, "--db", str(store))
    assert revoked.exit_code == 0, revoked.output
    assert keys.authenticate(token) is None
    assert keys.authenticate(other) is not None


@pytest.mark.parametrize("key_id", ["nope", "0" * 12])
def test_revoking_an_unknown_key_is_refused_without_a_traceback(store: Path, key_id: str) -> None:
    result = cli("keys", "revoke", key_id, "--db", str(store))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
