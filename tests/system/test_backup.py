"""Backup and restore (issue 12): a restored copy is indistinguishable from the original
through every API read, `audit verify` passes on it, and a second backup has the same bytes.

Given a history recorded through the API (idempotent commands, corrections, a de-authorisation,
a closed payout run, a daily alert scan), when it is backed up and restored into an empty
store of the other kind, then every read answers the same, including `known_at`."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insats import backup
from insats.audit import verify_read_models
from insats.bootstrap import Container, build, fresh_projections, keys_path, service_verifications
from insats.web import create_app
from services.lifecycle.store import StoreConfig
from services.platform.auth import KeyStore
from tests.api import Api
from tests.conftest import P1, P2, P3, d, decision_body, make_config, person


def record_history(api: Api, container: Container, monkeypatch: pytest.MonkeyPatch) -> str:
    """Facts of every kind; returns a moment between the first and the later ones. The first
    ones are recorded (and their alerts published) on an earlier day: what was published then
    cannot be derived from the log again, so the copy must carry it."""
    monkeypatch.setenv("INSATS_TODAY", "2026-04-01")
    pub = api.as_("publisher")
    first = pub.post(
        "/v1/decisions",
        decision_body("D1", person("1990-01-01"), "sai"),
        headers={"Idempotency-Key": "ecos-D1"},
    ).json()["journey_id"]
    pub.post(f"/v1/journeys/{first}/provider", {"provider_id": P1, "starts_on": "2026-01-20"})
    container.feed.catch_up()
    container.alerts.daily_scan(d("2026-04-01"))
    monkeypatch.setenv("INSATS_TODAY", "2026-11-23")
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    second = pub.post("/v1/decisions", decision_body("D2", person("1985-05-05"), "grund")).json()[
        "journey_id"
    ]
    pub.post(f"/v1/journeys/{second}/provider", {"provider_id": P3, "starts_on": "2026-01-15"})
    third = pub.post(
        "/v1/decisions", decision_body("D3", person("1970-03-03"), "forstarkt")
    ).json()["journey_id"]
    pub.post(f"/v1/journeys/{third}/provider", {"provider_id": P2, "starts_on": "2026-02-01"})
    r = pub.post(
        f"/v1/journeys/{third}/exit",
        {
            "exited_on": "2026-06-10",
            "reason": "work",
            "employment_form": "permanent",
            "subsidy": "none",
        },
    )
    assert r.status_code == 200, r.text
    r = pub.post(
        f"/v1/journeys/{third}/corrections",
        {"field": "exited_on", "value": "2026-06-12", "reason": "fel datum"},
    )
    assert r.status_code == 200, r.text
    withdrawn = pub.post("/v1/decisions", decision_body("D4", person("1999-09-09"))).json()[
        "journey_id"
    ]
    pub.post(
        f"/v1/journeys/{withdrawn}/withdrawal", {"withdrawn_on": "2026-01-12", "reason": "flyttat"}
    )
    r = api.post(
        f"/v1/providers/{P3}/deauthorisation",
        {"effective_on": "2026-08-01", "reason": "avtal upphört"},
    )
    assert r.status_code == 200, r.text
    r = api.as_("clerk").post("/v1/payouts/2026-06/close", {})
    assert r.status_code == 200, r.text
    container.feed.catch_up()
    container.alerts.daily_scan(d("2026-11-20"))
    container.alerts.daily_scan(d("2026-11-23"))
    return between


def reads(client: TestClient, token: str, between: str) -> dict[str, Any]:
    """Every read of the API, by path."""
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str, **params: Any) -> Any:
        r = client.get(path, params=params, headers=headers)
        assert r.status_code == 200, (path, r.text)
        return r.json() if "json" in r.headers["content-type"] else r.text

    answers: dict[str, Any] = {}
    journeys = get("/v1/journeys", limit=500)
    answers["/v1/journeys"] = journeys
    for j in journeys["journeys"]:
        jid = j["journey_id"]
        answers[f"/v1/journeys/{jid}"] = get(f"/v1/journeys/{jid}")
        answers[f"/v1/journeys/{jid}?as_of"] = get(f"/v1/journeys/{jid}", as_of="2026-03-01")
        answers[f"/v1/journeys/{jid}/events"] = get(f"/v1/journeys/{jid}/events")
        r = client.get(f"/v1/journeys/{jid}", params={"known_at": between}, headers=headers)
        answers[f"/v1/journeys/{jid}?known_at"] = (r.status_code, r.json())
    for path in (
        "/v1/providers",
        f"/v1/providers/{P1}",
        "/v1/rates",
        "/v1/payouts",
        "/v1/payouts/2026-06",
        "/v1/alerts",
        "/v1/alerts/changes",
        "/v1/audit/checkpoints",  # the signed checkpoints are records: copied, not re-signed
    ):
        answers[path] = get(path)
    answers["/v1/events"] = get("/v1/events", limit=1000)
    answers["/v1/payouts/2026-07/preview"] = get("/v1/payouts/2026-07/preview")
    for name in answers["/v1/payouts/2026-06"]["files"]:
        answers[f"/v1/payouts/2026-06/files/{name}"] = get(f"/v1/payouts/2026-06/files/{name}")
    for group_by in ("insats", "provider", "target_group"):
        answers[f"/v1/statistics?{group_by}"] = get(
            "/v1/statistics", **{"from": "2026-01-01", "to": "2026-10-31", "group_by": group_by}
        )
    return answers


def backup_bytes(c: Container) -> bytes:
    out = io.BytesIO()
    backup.create(c, out)
    return out.getvalue()


def verify(c: Container) -> list[str]:
    problems = verify_read_models(c, lambda: fresh_projections(c))
    for check in service_verifications(c):
        problems.extend(check())
    return problems


def other_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreConfig:
    """The other kind of store: SQLite → PostgreSQL, PostgreSQL → SQLite."""
    return make_config("postgres" if kind == "sqlite" else "sqlite", tmp_path / "copy", request)


def test_a_restored_copy_answers_every_read_like_the_original(
    api: Api,
    container: Container,
    store_kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    between = record_history(api, container, monkeypatch)
    original = reads(api.client, api.tokens["auditor"], between)
    assert {c["as_of"] for c in original["/v1/alerts/changes"]["changes"]} == {
        "2026-04-01",
        "2026-11-20",
        "2026-11-23",
    }
    known_then = [v[0] for k, v in original.items() if k.endswith("?known_at")]
    assert sorted(known_then) == [200, 404, 404, 404]  # only the first was known then
    made = backup_bytes(container)
    file = tmp_path / "insats.backup"
    file.write_bytes(made)

    target = other_store(store_kind, tmp_path, request)
    monkeypatch.setenv("INSATS_API_KEYS_FILE", str(tmp_path / "copy-keys.json"))
    restored = backup.restore(target, backup.Backup.open(file))
    assert (
        restored.counts["lifecycle"] > 0 and restored.counts["payout-runs"] == 3
    )  # the run, the ledger opened, the month

    copy = build(target, record_default_rates=False)
    try:
        copy.keys = KeyStore(keys_path(target))  # the keys restored from the backup
        with TestClient(create_app(copy, run_feed=False)) as client:
            assert reads(client, api.tokens["auditor"], between) == original
        assert verify(copy) == []
        assert backup_bytes(copy) == made  # backup → restore → backup: the same bytes

        # The copy goes on where the original stood: one open journey per person, the same
        # person references, and the next month pays only that month.
        pub = {"Authorization": f"Bearer {api.tokens['publisher']}"}
        again = client_post(copy, "/v1/decisions", decision_body("D9", person("1990-01-01")), pub)
        assert again.status_code == 409, again.text
        clerk = {"Authorization": f"Bearer {api.tokens['clerk']}"}
        july = client_post(copy, "/v1/payouts/2026-07/close", {}, clerk)
        assert july.status_code == 200, july.text
        assert july.json()["total"] == original["/v1/payouts/2026-07/preview"]["total"]
    finally:
        copy.close()


def client_post(c: Container, path: str, body: Any, headers: dict[str, str]) -> Any:
    with TestClient(create_app(c, run_feed=False)) as client:
        return client.post(path, json=body, headers=headers)


def populated(config: StoreConfig) -> Container:
    c = build(config)
    app = c.lifecycle
    from tests.builders import authorise, decide, start

    authorise(app)
    start(app, decide(app, "1"))
    c.feed.catch_up()
    c.payments.close("2026-02")
    return c


def test_a_backup_is_refused_into_a_store_that_is_not_empty(tmp_path: Path) -> None:
    source = populated(StoreConfig(sqlite_file=tmp_path / "a" / "insats.db"))
    file = tmp_path / "b.backup"
    file.write_bytes(backup_bytes(source))
    source.close()
    busy = populated(StoreConfig(sqlite_file=tmp_path / "b" / "insats.db"))
    head = busy.lifecycle.max_position()
    busy.close()
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(
            StoreConfig(sqlite_file=tmp_path / "b" / "insats.db"), backup.Backup.open(file)
        )
    again = build(StoreConfig(sqlite_file=tmp_path / "b" / "insats.db"))
    assert again.lifecycle.max_position() == head
    again.close()


def test_a_damaged_or_truncated_backup_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    source = populated(StoreConfig(sqlite_file=tmp_path / "a" / "insats.db"))
    made = backup_bytes(source)
    source.close()
    lines = made.splitlines(keepends=True)
    altered = b"".join([lines[0], lines[1].replace(b'"version":1}', b'"version":2}'), *lines[2:]])
    assert altered != made
    for name, data, reason in (
        ("truncated", b"".join(lines[:-3]), "incomplete"),
        ("altered", altered, "checksum"),
        ("sharing-export", b'{"type":"DecisionRegistered"}\n', "not an insats backup"),
    ):
        file = tmp_path / name
        file.write_bytes(data)
        with pytest.raises(backup.BackupError, match=reason):
            backup.Backup.open(file)


def test_another_person_key_or_cipher_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.cryptography import AESCipher

    key = AESCipher.create_key(32)
    source = populated(StoreConfig(sqlite_file=tmp_path / "a" / "insats.db", cipher_key=key))
    file = tmp_path / "a.backup"
    file.write_bytes(backup_bytes(source))
    source.close()
    checked = backup.Backup.open(file)
    assert checked.header["encrypted"] is True

    plain = StoreConfig(sqlite_file=tmp_path / "plain" / "insats.db")
    with pytest.raises(backup.BackupError, match="INSATS_CIPHER_KEY"):
        backup.restore(plain, checked)
    other_cipher = StoreConfig(
        sqlite_file=tmp_path / "other" / "insats.db", cipher_key=AESCipher.create_key(32)
    )
    with pytest.raises(backup.BackupError, match="INSATS_CIPHER_KEY"):
        backup.restore(other_cipher, checked)
    monkeypatch.setenv("INSATS_PERSON_KEY", "0f" * 32)
    with pytest.raises(backup.BackupError, match="person key"):
        backup.restore(
            StoreConfig(sqlite_file=tmp_path / "c" / "insats.db", cipher_key=key), checked
        )
    for refused in ("plain", "other", "c"):  # nothing was written anywhere
        assert (
            not (tmp_path / refused / "insats.db").exists()
            or _events(tmp_path / refused / "insats.db") == 0
        )


def _events(path: Path) -> int:
    with sqlite3.connect(path) as lite:
        return int(lite.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def test_the_embedded_default_restores_with_the_person_key_in_the_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INSATS_PERSON_KEY")
    source = populated(StoreConfig(sqlite_file=tmp_path / "a" / "insats.db"))
    without, with_key = io.BytesIO(), io.BytesIO()
    backup.create(source, without)
    backup.create(source, with_key, include_person_key=True)
    key = source.config.person_key()
    source.close()
    (tmp_path / "without").write_bytes(without.getvalue())
    (tmp_path / "with").write_bytes(with_key.getvalue())
    assert key.hex().encode() not in without.getvalue()

    target = StoreConfig(sqlite_file=tmp_path / "b" / "insats.db")
    with pytest.raises(backup.BackupError, match="include-person-key"):
        backup.restore(target, backup.Backup.open(tmp_path / "without"))
    assert target.configured_person_key() is None  # no key file was made by the refusal
    backup.restore(target, backup.Backup.open(tmp_path / "with"))
    assert target.configured_person_key() == key
    assert oct(target.beside("person-ref.key").stat().st_mode & 0o777) == "0o600"


def test_backup_and_restore_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from insats.cli import app

    source = populated(StoreConfig(sqlite_file=tmp_path / "a" / "insats.db"))
    source.close()
    runner = CliRunner()
    file = tmp_path / "out" / "insats.backup"
    a, b = str(tmp_path / "a" / "insats.db"), str(tmp_path / "b" / "insats.db")
    made = runner.invoke(app, ["backup", "create", str(file), "--db", a])
    assert made.exit_code == 0, made.output
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(app, ["backup", "create", str(file), "--db", a])
    assert again.exit_code == 2 and "never written over" in again.output
    done = runner.invoke(app, ["backup", "restore", str(file), "--db", b])
    assert done.exit_code == 0, done.output
    assert "restored:" in done.output
    twice = runner.invoke(app, ["backup", "restore", str(file), "--db", b])
    assert twice.exit_code == 1 and "nothing restored" in twice.output
    assert "not empty" in twice.output
    first = json.loads(file.read_bytes().splitlines()[0])
    assert first["format"] == "insats-backup" and "person_key" not in first


def resealed(lines: list[bytes]) -> bytes:
    """A backup's lines with a fresh end record (a file whose checksum is right but whose
    content this installation cannot read)."""
    body = b"".join(lines[:-1])
    end = json.loads(lines[-1])
    end["sha256"] = hashlib.sha256(body).hexdigest()
    return body + (json.dumps(end, sort_keys=True, separators=(",", ":")) + "\n").encode()


def test_a_restore_that_fails_part_way_leaves_the_store_empty(tmp_path: Path) -> None:
    """The last record is the payout ledger's: the lifecycle store is written by then, and
    emptied again."""
    source = populated(StoreConfig(sqlite_file=tmp_path / "a" / "insats.db"))
    lines = backup_bytes(source).splitlines(keepends=True)
    source.close()
    last_event = max(i for i, line in enumerate(lines) if b'"kind":"event"' in line)
    record = json.loads(lines[last_event])
    assert record["store"] == "payout-runs"
    record["state"] = "bm90IGpzb24="  # "not json": the application cannot decode it
    lines[last_event] = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    file = tmp_path / "unreadable.backup"
    file.write_bytes(resealed(lines))

    target = StoreConfig(sqlite_file=tmp_path / "b" / "insats.db")
    with pytest.raises(backup.BackupError, match=f"position {record['id']} cannot be read"):
        backup.restore(target, backup.Backup.open(file))
    assert _events(tmp_path / "b" / "insats.db") == 0
    assert _events(tmp_path / "b" / "insats.payout-runs.db") == 0
