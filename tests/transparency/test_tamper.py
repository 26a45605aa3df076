"""Tampering with the stored log is detected, and says where; clean stores and bundles verify.

Given a few journeys and a signed checkpoint, when someone with database access rewrites an
event, deletes one, swaps two or cuts the log short, then `audit verify`'s log check names the
position, and an audit bundle with a forged event no longer verifies."""

from __future__ import annotations

import copy
from collections.abc import Callable

import psycopg
import pytest

from contracts.audit_verify import VerifierKey, check_bundle
from insats.bootstrap import Container
from services.lifecycle.store import StoreConfig
from tests.builders import decide
from tests.given import personnummer

TABLE: dict[str, str] = {}  # the PostgreSQL recorder's table name, set by the fixture
Tamper = Callable[[str, tuple[object, ...]], None]


def given_journeys(container: Container) -> list[str]:
    app = container.lifecycle
    return [decide(app, f"d-{i}", personnummer("1990-01-01", f"00{i}")) for i in range(1, 4)]


def tamperer(config: StoreConfig) -> Tamper:
    if config.sqlite_file is not None:
        import sqlite3

        def run(sql: str, params: tuple[object, ...]) -> None:
            with sqlite3.connect(config.sqlite_file) as conn:
                conn.execute(sql.replace("%s", "?").replace("notification_id", "rowid"), params)

        return run

    def run_pg(sql: str, params: tuple[object, ...]) -> None:
        assert config.postgres_url is not None
        with psycopg.connect(config.postgres_url, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {config.schema}")
            table = TABLE.get("name", "stored_events")
            conn.execute(sql.replace("stored_events", table), params)  # type: ignore[arg-type]

    return run_pg


def positions(container: Container) -> list[int]:
    return [e.position for e in container.lifecycle.public_events(0, 1000)]


def state_at(config: StoreConfig, position: int) -> tuple[str, bytes]:
    if config.sqlite_file is not None:
        import sqlite3

        with sqlite3.connect(config.sqlite_file) as conn:
            row = conn.execute(
                "SELECT topic, state FROM stored_events WHERE rowid = ?", (position,)
            ).fetchone()
    else:
        assert config.postgres_url is not None
        with psycopg.connect(config.postgres_url) as conn:
            conn.execute(f"SET search_path TO {config.schema}")
            table = TABLE.get("name", "stored_events")
            row = conn.execute(
                f"SELECT topic, state FROM {table} WHERE notification_id = %s",  # type: ignore[arg-type]
                (position,),
            ).fetchone()
    assert row is not None
    return str(row[0]), bytes(row[1])


@pytest.fixture
def signed(container: Container) -> Container:
    TABLE["name"] = str(getattr(container.lifecycle.recorder, "events_table_name", ""))
    given_journeys(container)
    container.transparency.checkpoints.write("on_demand")
    assert container.transparency.verify() == []
    return container


def test_a_clean_store_verifies_and_its_bundle_checks(signed: Container) -> None:
    journey = positions(signed)  # the last journey's decision is the last public event
    event = signed.lifecycle.public_events(journey[-2], 1)[0]
    bundle = signed.transparency.bundle(
        event.stream_id, signed.lifecycle.public_stream(event.stream_id)
    )
    key = VerifierKey(bundle["public_key"])
    assert check_bundle(bundle, key) == []

    forged = copy.deepcopy(bundle)
    forged["events"][0]["event"]["payload"]["insats"] = "forstarkt"
    assert any("not in the tree" in p for p in check_bundle(forged, key))
    other = signed.transparency.keys.signer.generate("someone-else").verifier
    assert check_bundle(bundle, other) != []


def test_a_rewritten_payload_is_named_by_position(
    signed: Container, store_config: StoreConfig
) -> None:
    target = positions(signed)[-2]
    _, state = state_at(store_config, target)
    assert b'"kv"' in state
    tamperer(store_config)(
        "UPDATE stored_events SET state = %s WHERE notification_id = %s",
        (state.replace(b'"kv"', b'"kx"'), target),
    )
    problems = signed.transparency.verify()
    assert any(f"position {target} " in p and "not the one recorded" in p for p in problems)
    assert any("do not match signed checkpoint" in p for p in problems)


def test_a_deleted_event_is_named_by_position(signed: Container, store_config: StoreConfig) -> None:
    target = positions(signed)[-2]
    tamperer(store_config)("DELETE FROM stored_events WHERE notification_id = %s", (target,))
    problems = signed.transparency.verify()
    assert any(f"event at position {target} is missing" in p for p in problems), problems


def test_two_swapped_events_are_both_named(signed: Container, store_config: StoreConfig) -> None:
    a, b = positions(signed)[-3], positions(signed)[-2]
    (topic_a, state_a), (topic_b, state_b) = state_at(store_config, a), state_at(store_config, b)
    run = tamperer(store_config)
    run(
        "UPDATE stored_events SET topic = %s, state = %s WHERE notification_id = %s",
        (topic_b, state_b, a),
    )
    run(
        "UPDATE stored_events SET topic = %s, state = %s WHERE notification_id = %s",
        (topic_a, state_a, b),
    )
    problems = signed.transparency.verify()
    for target in (a, b):
        assert any(f"position {target} " in p for p in problems), problems


def test_a_truncated_log_is_detected(signed: Container, store_config: StoreConfig) -> None:
    cut = positions(signed)[-3]
    tamperer(store_config)("DELETE FROM stored_events WHERE notification_id > %s", (cut,))
    problems = signed.transparency.verify()
    assert any("missing from the log" in p for p in problems), problems
    assert any("covers" in p and f"after position {cut}" in p for p in problems), problems


def test_a_rewritten_merkle_log_is_named(signed: Container) -> None:
    with signed.readmodel_db.transaction() as tx:
        tx.execute("UPDATE merkle_leaves SET leaf_hash = %s WHERE leaf_index = 0", ("00" * 32,))
        tx.execute("UPDATE merkle_nodes SET hash = %s", ("00" * 32,))
    problems = signed.transparency.verify()
    assert any("leaf 0" in p for p in problems), problems
    assert any("disagrees with checkpoint" in p for p in problems), problems
