"""The `insats` command line on the embedded default, including a real server process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from insats.cli import app
from services.lifecycle.domain.journey import ExternalRef
from tests.builders import authorise, decide
from tests.conftest import P1, decision_body, person
from tests.serving import add_key, insats_serve

runner = CliRunner()


def test_serve_answers_over_real_http_on_the_embedded_default(tmp_path: Path) -> None:
    db = tmp_path / "var" / "insats.db"
    env = {**os.environ, "INSATS_API_KEYS_FILE": str(tmp_path / "keys.json")}
    env.pop("INSATS_PERSON_KEY", None)  # the embedded default makes its own key file
    token = add_key(db, env, "publisher", "ecos")
    admin = add_key(db, env, "admin", "it")
    with (
        insats_serve(["--db", str(db)], env, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.base) as http,
    ):
        r = http.post(
            "/v1/providers",
            headers={"Authorization": f"Bearer {admin}"},
            json={
                "provider_id": P1,
                "name": "Jobbstart AB",
                "insats_types": ["grund"],
                "authorised_from": "2020-01-01",
                "bankgiro": "5050-1055",
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/v1/decisions",
            headers={"Authorization": f"Bearer {token}"},
            json=decision_body("cli-1", person("1990-01-01"), "grund"),
        )
        assert r.status_code == 201, r.text
        jid = r.json()["journey_id"]
        # the in-process feed brings the list read model up to date by itself
        for _ in range(100):
            listed = http.get("/v1/journeys", headers={"Authorization": f"Bearer {token}"}).json()
            if listed["journeys"]:
                break
            time.sleep(0.05)
        assert [j["journey_id"] for j in listed["journeys"]] == [jid]
        pnr = person("1990-01-01")
        found = http.get(
            "/v1/journeys",
            params={"person_id": pnr},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["journeys"]
        assert [j["journey_id"] for j in found] == [jid]
        assert (tmp_path / "var" / "insats.db").exists()
        assert (tmp_path / "var" / "insats.readmodels.db").exists()
    log = server.output()
    assert "GET /v1/journeys?person_id=[redacted]" in log
    assert pnr not in log and pnr.replace("-", "") not in log


def test_history_export_import_rebuild_and_verify(tmp_path: Path) -> None:
    db, copy = tmp_path / "a" / "insats.db", tmp_path / "b" / "insats.db"
    from insats.bootstrap import build
    from services.lifecycle.store import StoreConfig

    c = build(StoreConfig(sqlite_file=db))
    authorise(c.lifecycle)
    jid = decide(c.lifecycle, "1")
    c.close()

    r = runner.invoke(app, ["audit", "history", jid, "--db", str(db)])
    assert r.exit_code == 0 and "DecisionRegistered" in r.output
    assert person("1990-01-01").replace("-", "") not in r.output

    out = tmp_path / "events.jsonl"
    r = runner.invoke(app, ["events", "export", str(out), "--include-person-ids", "--db", str(db)])
    assert r.exit_code == 0, r.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["type"] for x in lines] == [
        "RatesSet",
        "ProviderAuthorised",
        "DecisionRegistered",
    ]

    r = runner.invoke(app, ["events", "import", str(out), "--db", str(copy)])
    assert r.exit_code == 0 and "imported 3 events" in r.output, r.output
    r = runner.invoke(app, ["events", "import", str(out), "--db", str(copy)])
    assert r.exit_code == 1 and "not empty" in r.output

    r = runner.invoke(app, ["readmodels", "rebuild", "--db", str(copy)])
    assert r.exit_code == 0 and "journey_list: rebuilt" in r.output
    r = runner.invoke(app, ["audit", "verify", "--db", str(copy)])
    assert r.exit_code == 0 and "OK" in r.output, r.output


def test_audit_verify_fails_when_a_read_model_was_tampered_with(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "insats.db"
    r = runner.invoke(app, ["readmodels", "status", "--db", str(db)])
    assert r.exit_code == 0
    from insats.bootstrap import build
    from services.lifecycle.store import StoreConfig

    c = build(StoreConfig(sqlite_file=db))
    from datetime import date

    ctx = c.lifecycle.context("publisher:ecos", "ecos", "corr")
    c.lifecycle.register_decision(
        ctx,
        external_ref=ExternalRef("ecos", "1"),
        person_id=person("1990-01-01"),
        insats="grund",
        decided_on=date(2026, 1, 10),
        decided_by="kv",
        target_group="other",
    )
    c.feed.catch_up()
    c.close()
    with sqlite3.connect(tmp_path / "insats.readmodels.db") as conn:
        conn.execute("UPDATE journey_list SET insats = 'sai'")
    r = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 1 and "journey_list" in r.output


def test_keys_add_validates_role_and_provider(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["keys", "add", "--role", "wizard", "--name", "x", "--db", str(tmp_path / "i.db")]
    )
    assert r.exit_code == 2
    r = runner.invoke(
        app,
        [
            "keys",
            "add",
            "--role",
            "provider",
            "--name",
            "x",
            "--provider-id",
            "123",
            "--db",
            str(tmp_path / "i.db"),
        ],
    )
    assert r.exit_code == 2 and "organisation number" in r.output


def test_the_long_commands_show_their_progress_on_a_terminal(tmp_path: Path, monkeypatch) -> None:
    from insats.bootstrap import build
    from services.lifecycle.store import StoreConfig

    db = tmp_path / "insats.db"
    c = build(StoreConfig(sqlite_file=db))
    authorise(c.lifecycle)
    for n in range(3):
        decide(c.lifecycle, str(n), person("1990-01-01", f"{n + 1:03d}"))
    c.close()
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws as on a terminal
    out = tmp_path / "events.jsonl"
    for args, bar in [
        (["readmodels", "rebuild"], "rebuilding alerts"),
        (["audit", "verify"], "replaying the log"),
        (["events", "export", str(out)], "export: writing events"),
        (["backup", "create", str(tmp_path / "backup.jsonl")], "backup"),
    ]:
        r = runner.invoke(app, [*args, "--db", str(db)])
        assert r.exit_code == 0, r.output
        assert bar in r.stderr, (args, r.stderr)
    # without a terminal (the rest of this file): no bar, the results as before
    monkeypatch.delenv("FORCE_COLOR")
    r = runner.invoke(app, ["readmodels", "rebuild", "--db", str(db)])
    assert "rebuilding" not in r.stderr and "journey_list: rebuilt to log position" in r.stdout
