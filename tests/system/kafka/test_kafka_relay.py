"""The relay on a real broker (Tansu over the wire): the contract of API.md "Kafka", repeats,
a paused broker, a failing send, a relay killed mid-batch, and failover between two relays."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts import kafka as contract
from contracts.schemas import validation_errors
from insats.bootstrap import Container, build
from services.lifecycle.store import StoreConfig
from services.platform.kafka.relay import relay_positions
from services.platform.kafka.wiring import container_relay
from tests.conftest import PERSON_KEY, PG_URL, TODAY
from tests.system.kafka.conftest import Broker
from tests.system.kafka.kafkatools import (
    assert_ordered_per_key,
    first_occurrences,
    kafka_settings,
    more_facts,
    read_events,
    read_topic,
    record_history,
)

pytestmark = pytest.mark.kafka

PNR = re.compile(rb"(19|20)?\d{6}[-+]?\d{4}")


def _no_personnummer(records: list[Any], people: list[str]) -> None:
    """No personnummer in any key, value or header: none of the recorded ones, in any form."""
    forms = set()
    for p in people:
        digits = p.replace("-", "")
        forms.update({p.encode(), digits.encode(), digits[2:].encode(), p[2:].encode()})
    for r in records:
        blob = b"|".join([r.key or b"", r.value or b"", *(v for _, v in r.headers)])
        for form in forms:
            assert form not in blob, "a personnummer in a Kafka message"


def _people(c: Container) -> list[str]:
    """The personnummer of every decision, read back from the store (exports with ids)."""
    return [
        e.payload["person_id"]
        for e in c.lifecycle.iter_public_events(include_person_id=True)
        if e.type == "DecisionRegistered"
    ]


def _published(c: Container, broker: Broker, prefix: str) -> dict[str, list[Any]]:
    counts = {
        contract.JOURNEYS: 0,
        contract.PROVIDERS: 0,
        contract.RATES: 0,
    }
    for e in c.lifecycle.iter_public_events():
        counts[contract.TOPIC_BY_STREAM_TYPE[e.stream_type]] += 1
    return {
        t: read_topic(broker.bootstrap, prefix + t, expect=counts.get(t, 0))
        for t in contract.ALL_TOPICS
    }


def test_every_message_is_the_contract(container: Container, broker: Broker, prefix: str) -> None:
    record_history(container, seed=7, journeys=25)
    container.feed.catch_up()  # the alerts change feed
    container.payments.now = lambda: datetime(2026, 11, 23, 9, 0)
    run = container.payments.close("2026-10")
    changes = container.alerts.changes(0, 10_000)
    assert changes, "the history raises alerts"
    relay = container_relay(container, kafka_settings(broker.bootstrap, prefix))
    assert relay.leadership.acquire()
    try:
        _check_the_contract(container, broker, prefix, relay, run, changes)
    finally:
        relay.stop()  # closes its producer and releases the leadership


def _check_the_contract(
    container: Container, broker: Broker, prefix: str, relay: Any, run: Any, changes: Any
) -> None:
    relay.catch_up()
    topics = _published(container, broker, prefix)

    # Events: exactly the auditors' feed items, keyed by stream, headers as API.md says.
    events = list(container.lifecycle.iter_public_events())
    by_id = {e.event_id: e for e in events}
    seen = 0
    for topic in contract.EVENT_TOPICS:
        for r in topics[topic]:
            headers = dict(r.headers)
            assert [k for k, _ in r.headers] == list(contract.HEADERS)
            e = by_id[headers["event_id"].decode()]
            assert json.loads(r.value) == e.to_dict()
            assert validation_errors(json.loads(r.value)) == []
            assert headers["type"].decode() == e.type
            assert int(headers["position"]) == e.position
            assert headers["schema"].decode() == contract.event_schema_id(e.type)
            assert Path(
                "contracts/events/v1", headers["schema"].decode().rsplit("/", 1)[1]
            ).exists()
            assert contract.TOPIC_BY_STREAM_TYPE[e.stream_type] == topic
            expected_key = "rates" if topic == contract.RATES else e.stream_id
            assert r.key.decode() == expected_key
            seen += 1
    assert seen == len(events)  # every public event, once (no failure: no repeats)
    assert_ordered_per_key([r for t in contract.EVENT_TOPICS for r in topics[t]])

    # Alert changes: exactly the items of GET /v1/alerts/changes.
    alerts = topics[contract.ALERTS]
    in_order = sorted(alerts, key=lambda r: int(dict(r.headers)["position"]))
    assert [json.loads(r.value) for r in in_order] == [c.to_dict() for c in changes]
    schema = json.loads(Path("contracts/kafka/v1/AlertChange.json").read_text())
    for r in alerts:
        Draft202012Validator(schema).validate(json.loads(r.value))
        assert r.key == json.loads(r.value)["journey_id"].encode()
        assert dict(r.headers)["schema"].decode() == contract.message_schema_id("AlertChange")

    # The closed run, without its lines.
    (closed,) = topics[contract.PAYOUT_RUNS]
    value = json.loads(closed.value)
    assert closed.key == b"2026-10"
    assert value == {
        "month": "2026-10",
        "position": run.position,
        "totals": {p: f"{v:.2f}" for p, v in run.totals.items()},
        "total": f"{run.total:.2f}",
        "files": dict(sorted(run.files.items())),
        "closed_at": run.closed_at,
        "checkpoint": run.checkpoint,
    }
    schema = json.loads(Path("contracts/kafka/v1/PayoutRunClosed.json").read_text())
    Draft202012Validator(schema).validate(value)

    # The signed checkpoints, the run's among them: exactly the items of the audit API.
    checkpoints = topics[contract.CHECKPOINTS]
    written = container.transparency.checkpoints.all()
    assert run.checkpoint in {c.id for c in written}
    in_order = sorted(checkpoints, key=lambda r: int(dict(r.headers)["position"]))
    assert [json.loads(r.value) for r in in_order] == [
        c.to_json() for c in sorted(written, key=lambda c: c.seq)
    ]
    schema = json.loads(Path("contracts/kafka/v1/Checkpoint.json").read_text())
    for r in checkpoints:
        Draft202012Validator(schema).validate(json.loads(r.value))
        assert r.key == json.loads(r.value)["id"].encode()

    _no_personnummer([r for rs in topics.values() for r in rs], _people(container))

    # Published again from the start (a relay that lost its position): identical repeats.
    with container.readmodel_db.transaction() as tx:
        tx.execute("UPDATE kafka_relay SET position = 0")
    relay.catch_up()
    again = _published(container, broker, prefix)
    for topic in contract.ALL_TOPICS:
        assert len(again[topic]) == 2 * len(topics[topic])
        assert_ordered_per_key(again[topic])
        assert len(first_occurrences(again[topic])) == len(topics[topic])


def test_commands_go_on_while_the_broker_is_paused(
    tmp_path: Path, own_broker: Broker, prefix: str
) -> None:
    """SIGSTOP (a broker that hangs, the worst case: no connection refused) for PAUSE seconds
    while commands keep succeeding, then SIGCONT: everything arrives, repeats identical."""
    pause = float(os.environ.get("INSATS_TEST_KAFKA_PAUSE", "30"))
    c = build(StoreConfig(sqlite_file=tmp_path / "var" / "insats.db"))
    relay = None
    try:
        record_history(c, seed=3, journeys=5)
        relay = container_relay(c, kafka_settings(own_broker.bootstrap, prefix))
        relay.start()
        _wait(lambda: relay.status()[0].lag == 0, 30)
        own_broker.pause()
        started = time.monotonic()
        recorded = 0
        head = c.lifecycle.max_position()
        while time.monotonic() - started < pause:
            # Commands never touch Kafka: each one is recorded while the broker hangs.
            more_facts(c, f"paused-{recorded}", 2)
            recorded += 1
            assert c.lifecycle.max_position() > head
            head = c.lifecycle.max_position()
            time.sleep(0.5)
        assert recorded > 1
        assert relay.status()[0].lag > 0  # nothing could be published meanwhile
        own_broker.resume()
        _wait(lambda: relay.status()[0].lag == 0, 90)
        relay.stop()
        events = list(c.lifecycle.iter_public_events())
        records = read_events(own_broker.bootstrap, prefix, expect=0)
        assert {dict(r.headers)["event_id"].decode() for r in records} == {
            e.event_id for e in events
        }
        assert_ordered_per_key(records)
    finally:
        if relay is not None:
            own_broker.resume()
            relay.stop()  # before the store closes, even when the test failed
        c.close()


class FailingProducer:
    """A real producer whose n-th send fails (as a broker refusing one record would)."""

    def __init__(self, inner: Any, fail_at: int):
        self.inner, self.fail_at, self.sent = inner, fail_at, 0

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        if self.sent == self.fail_at:
            from kafka.errors import KafkaTimeoutError

            raise KafkaTimeoutError("injected")
        return self.inner.send(*args, **kwargs)

    def flush(self, timeout: float | None = None) -> None:
        self.inner.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.inner.close(timeout=timeout)


def test_a_failed_send_stops_the_batch_and_is_resent(
    tmp_path: Path, broker: Broker, prefix: str
) -> None:
    from services.platform.kafka.relay import RelayFailure, default_producer

    c = build(StoreConfig(sqlite_file=tmp_path / "var" / "insats.db"))
    try:
        record_history(c, seed=5, journeys=10)
        events = list(c.lifecycle.iter_public_events())
        relay = container_relay(c, kafka_settings(broker.bootstrap, prefix))
        producers: list[FailingProducer] = []

        def factory(settings: Any) -> Any:
            p = FailingProducer(default_producer(settings), 11 if not producers else 0)
            producers.append(p)
            return p

        relay.producer_factory = factory
        with pytest.raises(RelayFailure):
            relay.publish_batch(relay.lanes[0])
        # Recorded up to the message before the failed one, and nothing after it was sent.
        assert relay_positions(c.readmodel_db)["events"] == events[9].position
        published = read_events(broker.bootstrap, prefix)
        assert sorted(int(dict(r.headers)["position"]) for r in published) == [
            e.position for e in events[:10]
        ]
        relay.catch_up()  # a fresh producer resends from the failed message on
        published = read_events(broker.bootstrap, prefix, expect=len(events))
        assert len(published) == len(events)  # no gap, no repeat
        assert_ordered_per_key(published)
        relay.stop()
    finally:
        c.close()


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _relayed(c: Container) -> bool:
    return relay_positions(c.readmodel_db).get("events", 0) == c.lifecycle.max_position()


def _relay_process(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "insats", "relay", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _env(config: StoreConfig, broker: Broker, prefix: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "INSATS_TODAY": TODAY,
        "INSATS_PERSON_KEY": PERSON_KEY,
        "INSATS_KAFKA_BOOTSTRAP": broker.bootstrap,
        "INSATS_KAFKA_TOPIC_PREFIX": prefix,
        "INSATS_KAFKA_PARTITIONS": "4",
        **extra,
    }
    if config.postgres_url:
        env.update(INSATS_POSTGRES_URL=config.postgres_url, INSATS_POSTGRES_SCHEMA=config.schema)
    else:
        env["INSATS_DB"] = str(config.sqlite_file)
    return env


def test_relay_killed_mid_batch_resumes_without_gaps(
    tmp_path: Path, broker: Broker, prefix: str
) -> None:
    config = StoreConfig(sqlite_file=tmp_path / "var" / "insats.db")
    c = build(config)
    try:
        record_history(c, seed=11, journeys=400)
        events = list(c.lifecycle.iter_public_events())
        env = _env(config, broker, prefix, INSATS_KAFKA_BATCH_SIZE="200")
        proc = _relay_process(env)
        # Killed once the first messages are on the broker, before it is done.
        _wait(lambda: relay_positions(c.readmodel_db).get("events", 0) > 0, 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = relay_positions(c.readmodel_db)["events"]
        assert killed_at < events[-1].position, "killed before the end"
        done = _relay_process(env, "--once")
        out, _ = done.communicate(timeout=120)
        assert done.returncode == 0, out.decode()
        records = read_events(broker.bootstrap, prefix, expect=len(events))
        assert {dict(r.headers)["event_id"].decode() for r in records} == {
            e.event_id for e in events
        }
        assert_ordered_per_key(records)  # repeats (the unrecorded tail) byte-identical
    finally:
        c.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_second_relay_takes_over_when_the_first_dies(
    kind: str, tmp_path: Path, broker: Broker, prefix: str, request: pytest.FixtureRequest
) -> None:
    from tests.conftest import make_config

    config = make_config(kind, tmp_path, request)
    c = build(config)
    try:
        record_history(c, seed=13, journeys=10)
        env = _env(config, broker, prefix)
        first = _relay_process(env)
        _wait(lambda: _relayed(c), 60)
        second = _relay_process(env)
        time.sleep(2)  # the second one waits: it does not lead
        more_facts(c, "failover-a", 3)
        _wait(lambda: _relayed(c), 30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        more_facts(c, "failover-b", 3)
        _wait(lambda: _relayed(c), 60)
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=30)
        first_out = first.stdout.read().decode() if first.stdout else ""
        assert "leadership taken" in first_out
        assert "leadership taken" in out.decode()
        events = list(c.lifecycle.iter_public_events())
        records = read_events(broker.bootstrap, prefix, expect=len(events))
        assert {dict(r.headers)["event_id"].decode() for r in records} == {
            e.event_id for e in events
        }
        assert_ordered_per_key(records)
    finally:
        c.close()


assert PG_URL  # the PostgreSQL variant uses the shared test server (tests/conftest.py)
