"""The API keys file (API.md "CLI"): a malformed file stops the server from starting with a clear
message; one that becomes malformed while serving leaves the keys read before in force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.platform.auth import KeysFileError, KeyStore, hash_token

GOOD = {"keys": [{"token_sha256": hash_token("t-admin"), "role": "admin", "name": "Anna"}]}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not JSON"),
        ('["keys"]', 'expected {"keys": [...]}'),
        ('{"keys": [1]}', "keys[0] is not an object"),
        ('{"keys": [{"token_sha256": "abc", "role": "admin"}]}', "64 hex characters"),
        (json.dumps({"keys": [{"token_sha256": "a" * 64, "role": "root"}]}), "role must be one of"),
        (
            json.dumps({"keys": [{"token_sha256": "a" * 64, "role": "provider"}]}),
            "provider_id is required",
        ),
    ],
)
def test_a_malformed_keys_file_is_refused_naming_what_is_wrong(
    tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KeysFileError) as refused:
        KeyStore(path).check()
    assert says in str(refused.value) and str(path) in str(refused.value)


def test_a_file_broken_while_serving_keeps_the_keys_read_before(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    keys = KeyStore(path)
    assert keys.check() == 1
    assert keys.authenticate("t-admin") is not None
    path.write_text("{half an edit", encoding="utf-8")
    os.utime(path, (1, 1))  # a new modification time, as an editor would leave
    assert keys.authenticate("t-admin") is not None  # not a 500, not locked out
    assert keys.authenticate("unknown") is None
    with pytest.raises(KeysFileError):
        KeyStore(path).check()


def test_keys_are_not_added_to_a_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [{"role": "admin"}]}', encoding="utf-8")
    with pytest.raises(KeysFileError):
        KeyStore(path).add("admin", "Bertil")
    assert path.read_text(encoding="utf-8") == '{"keys": [{"role": "admin"}]}'


def test_the_server_refuses_to_start_on_a_malformed_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"keys": [{"token_sha256": "x", "role": "admin"}]}', encoding="utf-8")
    env = {**os.environ, "INSATS_API_KEYS_FILE": str(keys)}
    started = subprocess.run(
        [sys.executable, "-m", "insats", "serve", "--port", "1", "--db", str(tmp_path / "i.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 2
    assert "cannot start" in started.stderr and "token_sha256" in started.stderr
    assert "Traceback" not in started.stderr


def test_the_server_says_at_start_which_keys_file_it_reads(tmp_path: Path) -> None:
    from tests.serving import insats_serve

    # given a keys file somewhere else than beside the store (INSATS_API_KEYS_FILE)
    keys = tmp_path / "elsewhere" / "keys.json"
    keys.parent.mkdir()
    keys.write_text(json.dumps(GOOD), encoding="utf-8")
    env = {**os.environ, "INSATS_API_KEYS_FILE": str(keys)}
    db = tmp_path / "var" / "insats.db"
    # when the server starts, then its first words name the store and that file
    with insats_serve(["--db", str(db)], env, tmp_path / "serve.log") as served:
        started = served.output()
    assert f"API keys in {keys}" in started
    assert str(db) in started
