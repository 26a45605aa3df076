"""`insats audit witness` as the internal audit runs it: another process, its own key, the log
over HTTP from a running `insats serve`. It cosigns an honest log and, after an event is
rewritten in the database, exits 1 naming the position and cosigns nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.serving import add_key, insats_serve

ROOT = Path(__file__).resolve().parents[2]
P1 = "5560360793"


def insats(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "insats", *args], env=env, capture_output=True, text=True
    )


def test_the_witness_cosigns_an_honest_log_and_names_a_rewritten_event(tmp_path: Path) -> None:
    db = tmp_path / "var" / "insats.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INSATS_")},
        "INSATS_PERSON_KEY": "ab" * 32,
        "INSATS_API_KEYS_FILE": str(tmp_path / "api-keys.json"),
        "PYTHONPATH": str(ROOT),
    }
    tokens = {r: add_key(db, env, r, r) for r in ("admin", "publisher", "auditor")}
    log_key = insats("audit", "keys", "--db", str(db), env=env).stdout.splitlines()[0]
    made = insats("audit", "keygen", "internrevisionen", "--witness", env=env)
    key_file = tmp_path / "witness.key"
    key_file.write_text(made.stdout, encoding="utf-8")
    witness_key = made.stderr.split("verifier key: ", 1)[1].strip()
    witness_env = {**env, "INSATS_WITNESS_TOKEN": tokens["auditor"]}
    env["INSATS_WITNESS_KEYS"] = witness_key  # the log collects this witness's cosignatures

    with insats_serve(["--db", str(db)], env, tmp_path / "server.log") as served:

        def call(role: str, path: str, body: object = None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            return httpx.post(f"{served.base}{path}", json=body, headers=headers, timeout=30)

        provider = {
            "provider_id": P1,
            "name": "Jobbstart AB",
            "insats_types": ["grund"],
            "authorised_from": "2026-01-01",
            "bankgiro": "5050-1055",
        }
        assert call("admin", "/v1/providers", provider).status_code == 201
        decision = {
            "external_ref": {"system": "ecos", "decision_id": "w-1"},
            "person_id": "19900101-0017",
            "insats": "grund",
            "decided_on": "2026-01-10",
            "decided_by": "kv",
            "target_group": "other",
        }
        decided = call("publisher", "/v1/decisions", decision)
        assert decided.status_code == 201
        assert call("auditor", "/v1/audit/checkpoints").status_code == 201

        def witness(*extra: str) -> subprocess.CompletedProcess[str]:
            args = ["--url", served.base, "--log-key", log_key, "--key-file", str(key_file)]
            return insats(
                "audit", "witness", *args, *extra, "--state", str(tmp_path / "w"), env=witness_env
            )

        honest = witness("--submit")
        assert honest.returncode == 0, honest.stdout + honest.stderr
        assert "OK: cosigned the checkpoint of 3 events" in honest.stdout
        assert "the log keeps the cosignature" in honest.stdout
        (cosigned,) = (tmp_path / "w" / "cosigned").glob("*.checkpoint")

        # An auditor's bundle now carries the witness's cosignature, and can require it.
        bundle = tmp_path / "bundle.json"
        jid = decided.json()["journey_id"]
        proved = insats("audit", "prove", jid, "--out", str(bundle), "--db", str(db), env=env)
        assert proved.returncode == 0, proved.stdout + proved.stderr
        key_args = ["--public-key", log_key, "--witness-key", witness_key]
        checked = insats("audit", "check", str(bundle), *key_args, env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        standalone = subprocess.run(
            [sys.executable, str(ROOT / "contracts" / "audit_verify.py"), str(bundle), *key_args],
            capture_output=True,
            text=True,
        )
        assert standalone.returncode == 0 and standalone.stdout.startswith("OK"), standalone
        other = insats("audit", "keygen", "annan", "--witness", env=env).stderr
        other_key = other.split("verifier key: ", 1)[1].strip()
        unvouched = insats(
            "audit",
            "check",
            str(bundle),
            "--public-key",
            log_key,
            "--witness-key",
            other_key,
            env=env,
        )
        assert unvouched.returncode == 1 and "no cosignature of 'annan'" in unvouched.stdout

        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT rowid, state FROM stored_events").fetchall()
            rowid, state = next((r, bytes(s)) for r, s in rows if b'"kv"' in bytes(s))
            conn.execute(
                "UPDATE stored_events SET state = ? WHERE rowid = ?",
                (state.replace(b'"kv"', b'"kx"'), rowid),
            )
        assert call("auditor", "/v1/audit/checkpoints").status_code == 201
        found = witness()
        assert found.returncode == 1, found.stdout + found.stderr
        assert f"position {rowid} " in found.stdout and "not cosigned" in found.stdout
        assert list((tmp_path / "w" / "cosigned").glob("*.checkpoint")) == [cosigned]

    refused = insats(
        "audit",
        "witness",
        "--url",
        "http://127.0.0.1:9",
        "--log-key",
        log_key,
        "--key-file",
        str(key_file),
        env=env,
    )
    assert refused.returncode == 2 and "INSATS_WITNESS_TOKEN" in refused.stderr + refused.stdout
