"""Read models fed from Kafka as a consumer group equal the embedded ones (issue 10).

Store A feeds its read models with the embedded feed. Store B holds the same events (a copy of
A's file) and feeds its read models from the topics only: a relay publishes B's log and workers
consume it in one group. Then payout previews, alerts, statistics and the journey list of A and
B are identical, and a month closed in both gives byte-identical files — after two workers split
the partitions, a rebalance, a worker killed with SIGKILL mid-batch, and a poison message."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from insats.bootstrap import Container, build
from services.lifecycle.journey_list import search
from services.lifecycle.store import StoreConfig
from services.platform.kafka.commands import status_lines
from services.platform.kafka.consumer import KafkaFeed, quarantined, setup_consumer_tables
from services.platform.kafka.relay import Relay, ensure_topics
from services.platform.kafka.wiring import container_relay, kafka_feed_for
from tests.conftest import PERSON_KEY, TODAY
from tests.system.kafka.conftest import Broker
from tests.system.kafka.kafkatools import kafka_settings, record_history

pytestmark = pytest.mark.kafka

MONTHS = [
    f"{y}-{m:02d}"
    for y, m in [(2025, mm) for mm in range(6, 13)] + [(2026, mm) for mm in range(1, 12)]
]
CLOSED_AT = datetime(2026, 11, 23, 9, 30)
FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "max_poll_interval_ms": 20000}


class Stores:
    """A: the embedded feed. B: the same events, read models from Kafka."""

    def __init__(self, tmp: Path, broker: Broker, prefix: str, journeys: int, seed: int):
        self.a_config = StoreConfig(sqlite_file=tmp / "a" / "var" / "insats.db")
        self.b_config = StoreConfig(sqlite_file=tmp / "b" / "var" / "insats.db")
        a = build(self.a_config)
        record_history(a, seed=seed, journeys=journeys)
        a.close()
        self.b_config.sqlite_file.parent.mkdir(parents=True)  # type: ignore[union-attr]
        shutil.copy(self.a_config.sqlite_file, self.b_config.sqlite_file)  # type: ignore[arg-type]
        self.a = build(self.a_config)
        self.a.feed.catch_up()
        self.b = build(self.b_config)
        self.settings = kafka_settings(broker.bootstrap, prefix, max_poll_records=60)
        self.relay: Relay = container_relay(self.b, self.settings)
        self.others: list[Container] = []

    def worker(self, name: str) -> KafkaFeed:
        """A worker of B's group (its own container, as another process would have)."""
        c = build(self.b_config)
        self.others.append(c)
        return kafka_feed_for(c, self.settings, consumer_options=FAST, name=name)

    def close(self) -> None:
        self.relay.stop()
        for c in [self.a, self.b, *self.others]:
            c.close()


@pytest.fixture
def stores(tmp_path: Path, broker: Broker, prefix: str) -> Iterator[Stores]:
    s = Stores(tmp_path, broker, prefix, journeys=60, seed=21)
    yield s
    s.close()


def wait_caught_up(c: Container, timeout: float = 90.0, *, below: int = 0) -> None:
    """Until every read model of `c` has applied the whole log (its feed position)."""
    head = c.lifecycle.max_position() - below
    deadline = time.monotonic() + timeout
    while True:
        positions = c.feed.positions()
        if all(p >= head for p in positions.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"read models at {positions}, log at {head}")
        time.sleep(0.2)


def read_models(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for month in MONTHS:
        out[f"preview {month}"] = c.payments.preview(month).to_json()
    for day in ["2025-09-01", "2026-01-15", "2026-06-30", TODAY]:
        out[f"alerts {day}"] = [a.to_dict() for a in c.alerts.alerts(date.fromisoformat(day))]
    for group_by in ["insats", "provider", "target_group"]:
        out[f"statistics {group_by}"] = c.statistics.figures(
            date(2025, 1, 1), date(2026, 11, 23), group_by
        )
    with c.readmodel_db.transaction() as tx:
        out["journey list"] = search(tx, today=date.fromisoformat(TODAY), limit=10_000)[0]
    return out


def assert_equal_read_models(a: Container, b: Container) -> None:
    ra, rb = read_models(a), read_models(b)
    for key in ra:
        assert ra[key] == rb[key], key
    # A month closed in both: byte-identical files.
    for c in (a, b):
        c.payments.now = lambda: CLOSED_AT
    run_a, run_b = a.payments.close("2026-10"), b.payments.close("2026-10")
    assert run_a.position == run_b.position == a.lifecycle.max_position()
    names = a.payments.file_names("2026-10")
    assert names == b.payments.file_names("2026-10")
    for name in names:
        assert a.payments.file("2026-10", name) == b.payments.file("2026-10", name), name


def test_two_workers_split_the_partitions_and_equal_the_embedded_feed(stores: Stores) -> None:
    ensure_topics(stores.settings)
    one, two = stores.worker("w1"), stores.worker("w2")
    one.start()
    two.start()
    try:
        # Both members own partitions before anything is published, so both have work.
        deadline = time.monotonic() + 60
        while not (one.assignment and two.assignment) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert one.assignment and two.assignment, "both members own partitions"
        assert not one.assignment & two.assignment
        stores.relay.start()
        wait_caught_up(stores.b)
        assert one.applied and two.applied
        assert_equal_read_models(stores.a, stores.b)
        # Each event applied once per read model (a repeat would be a second kafka_seen row,
        # which its key forbids, or a difference above).
        with stores.b.readmodel_db.transaction() as tx:
            rows = tx.execute("SELECT consumer, COUNT(*) FROM kafka_seen GROUP BY consumer")
            seen = dict(rows.fetchall())
        total = sum(1 for _ in stores.b.lifecycle.iter_public_events())
        assert set(seen.values()) == {total}
    finally:
        one.stop()
        two.stop()


def test_a_rebalance_neither_loses_nor_repeats(stores: Stores) -> None:
    stores.relay.start()
    one = stores.worker("w1")
    batches: list[int] = []
    one.on_batch = batches.append
    one.start()
    two = stores.worker("w2")
    try:
        deadline = time.monotonic() + 60
        while len(batches) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        two.start()  # joins: the partitions are split again mid-stream
        deadline = time.monotonic() + 60
        while not two.assignment and time.monotonic() < deadline:
            time.sleep(0.05)
        assert two.assignment
        one.stop()  # leaves: its partitions move to the other member
        wait_caught_up(stores.b)
        assert_equal_read_models(stores.a, stores.b)
    finally:
        one.stop()
        two.stop()


def _worker_process(stores: Stores, prefix: str, broker: Broker) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INSATS_TODAY": TODAY,
        "INSATS_PERSON_KEY": PERSON_KEY,
        "INSATS_DB": str(stores.b_config.sqlite_file),
        "INSATS_KAFKA_BOOTSTRAP": broker.bootstrap,
        "INSATS_KAFKA_TOPIC_PREFIX": prefix,
        "INSATS_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "INSATS_KAFKA_MAX_POLL_RECORDS": "20",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "insats", "worker", "--source", "kafka"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def bigger(tmp_path: Path, broker: Broker, prefix: str) -> Iterator[Stores]:
    """Enough events that a worker consuming 20 at a time is still busy when it is killed."""
    s = Stores(tmp_path, broker, prefix, journeys=300, seed=23)
    yield s
    s.close()


def test_a_worker_killed_mid_batch_resumes_from_the_database(
    bigger: Stores, broker: Broker, prefix: str
) -> None:
    stores = bigger
    stores.relay.catch_up()
    with stores.b.readmodel_db.transaction() as tx:
        setup_consumer_tables(tx)
    proc = _worker_process(stores, prefix, broker)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with stores.b.readmodel_db.transaction() as tx:
                consumed = tx.scalar("SELECT COUNT(*) FROM kafka_seen")
            if consumed:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        head = stores.b.lifecycle.max_position()
        assert min(stores.b.feed.positions().values()) < head, "killed before the end"
    finally:
        if proc.poll() is None:
            proc.kill()
    again = _worker_process(stores, prefix, broker)
    try:
        wait_caught_up(stores.b, timeout=120)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
    assert_equal_read_models(stores.a, stores.b)


def test_a_poison_message_is_quarantined_and_the_group_goes_on(
    stores: Stores, broker: Broker, prefix: str
) -> None:
    events = list(stores.b.lifecycle.iter_public_events())
    journey = next(e for e in events if e.stream_type == "journey" and e.position > 5)
    producer = KafkaProducer(bootstrap_servers=[broker.bootstrap], acks="all")
    # The poison first, the relay's messages after it: a read model meets the broken event
    # before the real events of its partition, as it would meet a broken message in the log.
    ensure_topics(stores.settings)
    topic = prefix + "journeys.v1"
    producer.send(topic, key=b"garbage", value=b"\xff not json", partition=0)
    broken = {**journey.to_dict(), "event_id": "poison-1", "payload": {"nonsense": True}}
    broken.update(type="ProviderChosen", version=999)  # a later version: folded, and failing
    producer.send(topic, key=journey.stream_id.encode(), value=json.dumps(broken).encode())
    producer.flush()
    producer.close()
    stores.relay.catch_up()
    one = stores.worker("w1")
    one.start()
    try:
        # Everything else is applied; the read models that could not apply the broken event
        # stay below its position, so nothing (a payout run) is computed as if it were whole.
        wait_caught_up(stores.b, below=stores.b.lifecycle.max_position() - journey.position + 1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            q = quarantined(stores.b.readmodel_db)
            if {x.consumer for x in q if x.event_id is None} == set(one.projections) and any(
                x.event_id == "poison-1" for x in q
            ):
                break
            time.sleep(0.1)
        q = quarantined(stores.b.readmodel_db)
        assert {x.consumer for x in q if x.event_id is None} == set(one.projections)
        failed_on_broken = {x.consumer for x in q if x.event_id == "poison-1"}
        assert "payments" in failed_on_broken
        positions = stores.b.feed.positions()
        assert positions["payments"] == journey.position - 1
        lines = "\n".join(status_lines(stores.b))
        assert "QUARANTINED payments" in lines and "poison-1" in lines
        from fastapi.testclient import TestClient

        from insats.web import create_app

        app = create_app(stores.b, run_feed=False)
        token = stores.b.keys.add("admin", name="ops")
        with TestClient(app) as client:
            text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
        assert 'insats_kafka_quarantined{consumer="payments"} 2.0' in text
        assert "insats_kafka_relay_lag" in text and "insats_kafka_consumer_lag" in text
    finally:
        one.stop()
