"""The Kafka contract files, the leadership lock, and the relay inside `insats serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts import kafka as contract
from insats.bootstrap import build
from services.lifecycle.store import StoreConfig
from services.platform.kafka.leadership import FileLeadership
from services.platform.kafka.relay import relay_positions
from services.platform.kafka.settings import KafkaSettings
from tests.conftest import PERSON_KEY, TODAY
from tests.system.kafka.conftest import Broker, free_port
from tests.system.kafka.kafkatools import read_events, record_history


def test_the_message_schemas_are_generated_from_the_models() -> None:
    for kind in contract.MESSAGE_MODELS:
        path = contract.SCHEMA_DIR / f"{kind}.json"
        assert path.read_text(encoding="utf-8") == contract.render_schema(kind), (
            f"{path} drifted: run `insats contracts write`"
        )
    assert list(contract.EVENT_TOPICS) == [contract.JOURNEYS, contract.PROVIDERS, contract.RATES]
    assert {"insats." + t for t in contract.ALL_TOPICS} == {
        "insats.journeys.v1",
        "insats.providers.v1",
        "insats.rates.v1",
        "insats.alerts.v1",
        "insats.payout-runs.v1",
        "insats.checkpoints.v1",
    }


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INSATS_KAFKA_BOOTSTRAP", raising=False)
    assert KafkaSettings.from_env() is None
    monkeypatch.setenv("INSATS_KAFKA_BOOTSTRAP", "a:9092, b:9092")
    monkeypatch.setenv("INSATS_KAFKA_TOPIC_PREFIX", "x.")
    settings = KafkaSettings.from_env()
    assert settings is not None
    assert settings.bootstrap == ("a:9092", "b:9092") and settings.prefix == "x."


def test_one_file_leader_at_a_time(tmp_path: Path) -> None:
    one, two = FileLeadership(tmp_path / "lock"), FileLeadership(tmp_path / "lock")
    assert one.acquire()
    assert not two.acquire()
    one.release()
    assert two.acquire()
    two.release()


def test_serve_runs_the_relay_when_kafka_is_configured(
    tmp_path: Path, broker: Broker, prefix: str
) -> None:
    config = StoreConfig(sqlite_file=tmp_path / "var" / "insats.db")
    c = build(config)
    try:
        record_history(c, seed=17, journeys=5)
        head = c.lifecycle.max_position()
        env = {
            **os.environ,
            "INSATS_TODAY": TODAY,
            "INSATS_PERSON_KEY": PERSON_KEY,
            "INSATS_DB": str(config.sqlite_file),
            "INSATS_KAFKA_BOOTSTRAP": broker.bootstrap,
            "INSATS_KAFKA_TOPIC_PREFIX": prefix,
        }

        def serve(*flags: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "insats", "serve", "--port", str(free_port()), *flags],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        # --no-projections (a scaled-out API replica): no relay.
        replica = serve("--no-projections")
        time.sleep(4)
        replica.send_signal(signal.SIGTERM)
        replica.wait(timeout=30)
        assert relay_positions(c.readmodel_db).get("events", 0) == 0

        server = serve()
        try:
            deadline = time.monotonic() + 60
            while relay_positions(c.readmodel_db).get("events", 0) < head:
                assert time.monotonic() < deadline, "the serving process did not relay"
                time.sleep(0.2)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        events = list(c.lifecycle.iter_public_events())
        records = read_events(broker.bootstrap, prefix, expect=len(events))
        assert {dict(r.headers)["event_id"].decode() for r in records} == {
            e.event_id for e in events
        }
    finally:
        c.close()
