"""A witness cosigns only a log that grew honestly, and names the position where it did not.

Given a witness that has cosigned a checkpoint, when someone with database access rewrites,
deletes, swaps or cuts off events (and the log signs a new checkpoint from its untouched Merkle
log), or rebuilds the whole Merkle log and its checkpoints over a rewritten history, then the
witness's next run names what changed and cosigns nothing; on an honest log it cosigns, and its
cosignature verifies with its verifier key."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.audit_verify import VerifierKey, verify_cosignature, verify_note
from insats.bootstrap import Container
from insats.witness import HttpAuditLog, Witness, Witnessed
from services.lifecycle.store import StoreConfig
from services.transparency.checkpoints import Signer
from tests.api import Api
from tests.builders import decide
from tests.given import personnummer
from tests.transparency.test_tamper import TABLE, given_journeys, positions, state_at, tamperer

WITNESS = Signer.generate("internrevisionen.kommun.se", witness=True)


class Run:
    """The municipality's internal audit: its own key, its own state, the log over HTTP."""

    def __init__(self, container: Container, api: Api, state: Path):
        self.container = container
        client = api.client
        client.headers["Authorization"] = f"Bearer {api.tokens['auditor']}"
        self.log = HttpAuditLog(client)
        self.key = VerifierKey(str(container.transparency.keys.signer.verifier))
        self.state = state

    def __call__(self) -> Witnessed:
        witness = Witness(self.log, self.key, WITNESS, self.state, clock=lambda: 1_800_000_000)
        try:
            return witness.run()
        finally:
            witness.close()

    def cosigned_files(self) -> list[Path]:
        return sorted((self.state / "cosigned").glob("*.checkpoint"))


@pytest.fixture
def witnessed(container: Container, api: Api, tmp_path: Path) -> Run:
    TABLE["name"] = str(getattr(container.lifecycle.recorder, "events_table_name", ""))
    given_journeys(container)
    container.transparency.checkpoints.write("on_demand")
    run = Run(container, api, tmp_path / "witness")
    first = run()
    assert first.problems == [] and first.cosigned is not None
    return run


def test_an_honest_log_is_cosigned_run_after_run(witnessed: Run) -> None:
    c = witnessed.container
    decide(c.lifecycle, "d-7", personnummer("1990-01-01", "007"))
    c.transparency.checkpoints.write("on_demand")
    second = witnessed()
    assert second.problems == []
    assert second.checkpoint.size == len(positions(c))
    assert second.cosigned is not None
    assert verify_cosignature(second.cosigned, WITNESS.verifier) == 1_800_000_000
    verify_note(second.cosigned, witnessed.key)  # still the log's signed note
    assert len(witnessed.cosigned_files()) == 2


def assert_refused(run: Run, *fragments: str) -> None:
    before = run.cosigned_files()
    result = run()
    assert result.cosigned is None
    for fragment in fragments:
        assert any(fragment in p for p in result.problems), result.problems
    assert run.cosigned_files() == before


def test_a_rewritten_payload_is_named_by_position(
    witnessed: Run, store_config: StoreConfig
) -> None:
    c = witnessed.container
    target = positions(c)[-2]
    _, state = state_at(store_config, target)
    tamperer(store_config)(
        "UPDATE stored_events SET state = %s WHERE notification_id = %s",
        (state.replace(b'"kv"', b'"kx"'), target),
    )
    c.transparency.checkpoints.write("on_demand")  # from the untouched Merkle log
    assert_refused(witnessed, f"position {target} ", "not have the signed checkpoint's root")


def test_a_deleted_event_is_named_by_position(witnessed: Run, store_config: StoreConfig) -> None:
    c = witnessed.container
    target = positions(c)[-2]
    tamperer(store_config)("DELETE FROM stored_events WHERE notification_id = %s", (target,))
    assert_refused(witnessed, f"event at position {target} is missing")


def test_two_swapped_events_are_both_named(witnessed: Run, store_config: StoreConfig) -> None:
    c = witnessed.container
    a, b = positions(c)[-3], positions(c)[-2]
    (topic_a, state_a), (topic_b, state_b) = state_at(store_config, a), state_at(store_config, b)
    run = tamperer(store_config)
    sql = "UPDATE stored_events SET topic = %s, state = %s WHERE notification_id = %s"
    run(sql, (topic_b, state_b, a))
    run(sql, (topic_a, state_a, b))
    assert_refused(witnessed, f"position {a} ", f"position {b} ")


def test_a_truncated_log_is_detected(witnessed: Run, store_config: StoreConfig) -> None:
    c = witnessed.container
    cut = positions(c)[-3]
    tamperer(store_config)("DELETE FROM stored_events WHERE notification_id > %s", (cut,))
    assert_refused(witnessed, f"the log ends at position {cut}", "are missing")


def test_a_rebuilt_merkle_log_over_a_rewritten_history_is_a_fork(
    witnessed: Run, store_config: StoreConfig
) -> None:
    """The worst case: the operator rewrites an event, drops the Merkle log and every
    checkpoint, rebuilds the tree from the rewritten log and signs it with the log's key."""
    c = witnessed.container
    target = positions(c)[-2]
    _, state = state_at(store_config, target)
    assert b'"kv"' in state
    tamperer(store_config)(
        "UPDATE stored_events SET state = %s WHERE notification_id = %s",
        (state.replace(b'"kv"', b'"kx"'), target),
    )
    with c.readmodel_db.transaction() as tx:
        for table in ("audit_checkpoints", "merkle_leaves", "merkle_nodes"):
            tx.execute(f"DELETE FROM {table}")
        tx.execute("DELETE FROM feed_tracking WHERE name = 'merkle_log'")
    c.transparency.checkpoints.write("on_demand")
    assert c.transparency.verify() == []  # the store now agrees with itself
    assert_refused(witnessed, "not consistent", "history was changed")


# --- the log collects cosignatures --------------------------------------------------------------


@pytest.fixture(autouse=True)
def the_log_knows_the_witness(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log is configured with the internal audit's verifier key (INSATS_WITNESS_KEYS)."""
    monkeypatch.setenv("INSATS_WITNESS_KEYS", str(WITNESS.verifier))


def test_a_submitted_cosignature_is_kept_served_and_carried_in_bundles(
    witnessed: Run, api: Api, container: Container
) -> None:
    import time

    from contracts.audit_verify import check_bundle

    auditor = api.as_("auditor")
    note = auditor.get("/v1/audit/checkpoint").text
    cosigned = WITNESS.cosign(note, int(time.time()))
    accepted = witnessed.log.submit(cosigned)
    assert accepted["witnesses"] == [WITNESS.verifier.name]
    assert witnessed.log.submit(cosigned) == accepted  # again: kept once

    served = api.as_("clerk").get(f"/v1/audit/checkpoints/{accepted['checkpoint_id']}/note").text
    witness_key = VerifierKey(str(WITNESS.verifier))
    assert verify_cosignature(served, witness_key) > 0
    assert verify_note(served, witnessed.key)  # the log's own signature still verifies

    # A later checkpoint nobody cosigned yet: a bundle still carries the cosigned one.
    container.transparency.checkpoints.write("on_demand")
    events = [e for e in container.lifecycle.iter_public_events() if e.stream_type == "journey"]
    jid = events[0].stream_id
    bundle = container.transparency.bundle(jid, [e for e in events if e.stream_id == jid])
    assert check_bundle(bundle, witnessed.key, [witness_key]) == []
    other = VerifierKey(str(Signer.generate("annan.revisor.se", witness=True).verifier))
    assert check_bundle(bundle, witnessed.key, [other]) == [
        "checkpoint: the note carries no cosignature of 'annan.revisor.se'"
    ]


def test_a_cosignature_the_log_cannot_trust_is_refused(witnessed: Run, api: Api) -> None:
    import time

    auditor = api.as_("auditor")
    note = auditor.get("/v1/audit/checkpoint").text

    def post(text: str) -> tuple[int, str]:
        r = api.client.post(
            "/v1/audit/cosignatures",
            content=text.encode(),
            headers={"Authorization": f"Bearer {api.tokens['auditor']}"},
        )
        return r.status_code, r.json().get("error", "")

    stranger = Signer.generate("annan.revisor.se", witness=True)
    assert post(stranger.cosign(note, int(time.time()))) == (422, "no_cosignature")
    impostor = Signer.generate(WITNESS.verifier.name, witness=True)  # the name, not the key
    assert post(impostor.cosign(note, int(time.time())))[0] == 422
    assert post(WITNESS.cosign(note, int(time.time()) + 3600)) == (422, "invalid_cosignature")
    body = note.split("\n\n")[0].split("\n")
    body[1] = str(int(body[1]) + 1)  # a tree the log never signed
    forged = "\n".join(body) + "\n\n" + note.split("\n\n", 1)[1]
    assert post(WITNESS.cosign(forged, int(time.time()))) == (404, "checkpoint_not_found")
    assert post("not a note") == (422, "invalid_note")
    assert (
        api.as_("clerk")
        .client.post(
            "/v1/audit/cosignatures",
            content=WITNESS.cosign(note, int(time.time())).encode(),
            headers={"Authorization": f"Bearer {api.tokens['clerk']}"},
        )
        .status_code
        == 403
    )
