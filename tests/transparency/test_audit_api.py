"""The audit API and the checkpoints written for payout runs and once a day.

Given journeys and a closed payout run, the run names the checkpoint signed for the events it
was computed from; the API publishes the checkpoints and proofs an auditor verifies with the
standalone verifier alone; bad input is refused and changes nothing; a stopped Merkle log
answers 503 instead of a stale proof."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence

import pytest

from contracts.audit_verify import (
    Checkpoint,
    VerifierKey,
    verify_consistency,
    verify_inclusion,
    verify_note,
)
from contracts.events import PublicEvent
from insats.bootstrap import Container
from services.platform.db import Tx
from services.transparency.checkpoints import setup
from services.transparency.log import MerkleLog
from tests.api import Api
from tests.builders import decide, start
from tests.given import personnummer


def b64(items: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in items]


@pytest.fixture
def closed(container: Container, api: Api) -> Container:
    """Two journeys with a provider (the providers `api` authorised), February closed."""
    app = container.lifecycle
    for i in (1, 2):
        start(app, decide(app, f"d-{i}", personnummer("1990-01-01", f"00{i}")))
    container.feed.catch_up()
    container.payments.close("2026-02")
    return container


def test_a_closed_run_names_the_checkpoint_of_the_events_it_was_computed_from(
    closed: Container, api: Api
) -> None:
    run = closed.payments.get("2026-02")
    assert run.checkpoint is not None
    checkpoint = closed.transparency.checkpoints.get(run.checkpoint)
    assert checkpoint.reason == "payout_run"
    assert checkpoint.tree_size == closed.transparency.tree.size_at(run.position)
    assert api.as_("clerk").get("/v1/payouts/2026-02").json()["checkpoint"] == run.checkpoint
    listed = api.as_("clerk").get("/v1/payouts").json()["runs"]
    assert [r["checkpoint"] for r in listed] == [run.checkpoint]
    # Published as the run's event stored it: a closed run and its checkpoint never change.
    assert closed.payments.runs.closed()["2026-02"].checkpoint == run.checkpoint


def test_checkpoints_and_proofs_verify_with_the_public_key_alone(
    closed: Container, api: Api
) -> None:
    auditor = api.as_("auditor")
    first = auditor.get("/v1/audit/checkpoints").json()["checkpoints"]
    app = closed.lifecycle
    decide(app, "d-3", personnummer("1990-01-01", "003"))
    made = auditor.post("/v1/audit/checkpoints", None)
    assert made.status_code == 201 and made.json()["reason"] == "on_demand"
    listed = auditor.get("/v1/audit/checkpoints").json()["checkpoints"]
    assert [c["seq"] for c in listed] == list(range(1, len(first) + 2))
    assert auditor.get("/v1/audit/checkpoints", after=len(first)).json()["checkpoints"] == [
        made.json()
    ]

    latest = auditor.get("/v1/audit/checkpoint")
    assert latest.headers["content-type"].startswith("text/plain")
    assert latest.headers["x-checkpoint-id"] == made.json()["id"]
    key = VerifierKey(str(closed.transparency.keys.signer.verifier))
    new = Checkpoint(verify_note(latest.text, key))
    old = Checkpoint(verify_note(first[0]["note"], key))

    # Every public event is in the latest tree, at its leaf index.
    for event in app.public_events(0, 1000):
        proof = auditor.get(
            "/v1/audit/proofs/inclusion", position=event.position, tree_size=new.size
        ).json()
        leaf = base64.b64decode(proof["leaf_hash"])
        verify_inclusion(proof["leaf_index"], new.size, leaf, b64(proof["inclusion"]), new.root)
    proof = auditor.get("/v1/audit/proofs/consistency", **{"from": old.size, "to": new.size})
    verify_consistency(old.size, new.size, old.root, new.root, b64(proof.json()["proof"]))

    # The live leaves are the tree's leaves, recomputed from the stored events.
    leaves = auditor.get("/v1/audit/leaves", limit=2).json()
    assert len(leaves["leaves"]) == 2 and leaves["next"] == leaves["leaves"][-1]["position"]
    everything = auditor.get("/v1/audit/leaves", limit=10_000).json()
    assert everything["next"] is None
    assert (
        [b64([x["leaf_hash"]])[0] for x in everything["leaves"]][: new.size]
        == [
            closed.transparency.tree.leaf(e.position).hash  # type: ignore[union-attr]
            for e in app.public_events(0, 1000)
        ][: new.size]
    )


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/audit/proofs/inclusion", {"position": 1, "tree_size": 10**6}, 422),
        ("/v1/audit/proofs/inclusion", {"position": 0, "tree_size": 1}, 422),
        ("/v1/audit/proofs/inclusion", {"position": 10**6, "tree_size": 1}, 404),
        ("/v1/audit/proofs/inclusion", {"position": 1}, 422),
        ("/v1/audit/proofs/inclusion", {"position": "x", "tree_size": 1}, 422),
        ("/v1/audit/proofs/consistency", {"from": 2, "to": 1}, 422),
        ("/v1/audit/proofs/consistency", {"from": -1, "to": 1}, 422),
        ("/v1/audit/proofs/consistency", {"from": 0, "to": 10**6}, 422),
        ("/v1/audit/proofs/consistency", {"from": 0, "to": 2**63}, 422),
        ("/v1/audit/leaves", {"limit": 10_001}, 422),
        ("/v1/audit/leaves", {"after": -1}, 422),
        ("/v1/audit/checkpoints", {"limit": 0}, 422),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    closed: Container, api: Api, path: str, params: dict[str, object], status: int
) -> None:
    before = closed.transparency.checkpoints.all()
    r = api.as_("auditor").get(path, **params)
    assert r.status_code == status, r.text
    assert r.json()["error"] in {"invalid_input", "leaf_not_found"}
    assert closed.transparency.checkpoints.all() == before


def test_a_stopped_merkle_log_answers_503_and_says_so(
    closed: Container, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: MerkleLog, tx: Tx, events: Sequence[PublicEvent]) -> None:
        raise RuntimeError("cannot append")

    monkeypatch.setattr(MerkleLog, "handle", broken)
    decide(closed.lifecycle, "d-9", personnummer("1990-01-01", "009"))
    closed.transparency.feed.catch_up()
    assert "merkle_log" in closed.failures()
    auditor = api.as_("auditor")
    r = auditor.get("/v1/audit/proofs/inclusion", position=1, tree_size=1)
    assert r.status_code == 503 and "retry-after" in {k.lower() for k in r.headers}
    assert auditor.post("/v1/audit/checkpoints", None).status_code == 503
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "degraded" and "merkle_log" in ready["read_models"]
    # A close needs its checkpoint: it is refused, not closed without one.
    r = api.as_("clerk").post("/v1/payouts/2026-03/close", None)
    assert r.status_code == 503, r.text
    assert "2026-03" not in closed.payments.runs.closed()


def test_one_daily_checkpoint_per_day_whoever_runs_the_schedule(container: Container) -> None:
    daily = container.transparency.daily
    first = daily.run_pending()
    assert first is not None and first.reason == "daily"
    assert daily.run_pending() is None
    assert [c.reason for c in container.transparency.checkpoints.all()] == ["daily"]


def test_a_checkpoint_table_from_before_seq_is_numbered_in_writing_order(
    container: Container,
) -> None:
    db = container.readmodel_db
    container.transparency.checkpoints.write("on_demand")
    decide(container.lifecycle, "d-1", personnummer("1990-01-01", "001"))
    container.transparency.checkpoints.write("on_demand")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE old_copy AS SELECT * FROM audit_checkpoints")
        tx.execute("DROP TABLE audit_checkpoints")
        tx.execute(
            "CREATE TABLE audit_checkpoints (id TEXT PRIMARY KEY, tree_size BIGINT NOT NULL, "
            "root_hash TEXT NOT NULL, time TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT "
            "NULL, note TEXT NOT NULL, daily TEXT UNIQUE)"
        )
        tx.execute(
            "INSERT INTO audit_checkpoints SELECT id, tree_size, root_hash, time, reason, key, "
            "note, daily FROM old_copy"
        )
        setup(tx)
    written = container.transparency.checkpoints.all()
    assert sorted(c.seq for c in written) == [1, 2]
    assert container.transparency.checkpoints.write("on_demand").seq == 3
    assert container.transparency.verify() == []


def test_the_daily_task_runs_in_the_background(container: Container) -> None:
    container.start()  # today's checkpoint is written at start, then after each midnight
    try:
        deadline = time.monotonic() + 30
        while not container.transparency.checkpoints.all() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        container.stop()
    assert [c.reason for c in container.transparency.checkpoints.all()] == ["daily"]
