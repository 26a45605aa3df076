"""Kafka configuration from the environment (API.md "Kafka", deploy/README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: tuple[str, ...]
    prefix: str = "insats."
    # How long one send may stay unacknowledged before the relay counts it as failed and
    # starts the batch again from it (kafka-python `delivery_timeout_ms`).
    delivery_timeout_ms: int = 30_000
    request_timeout_ms: int = 10_000
    # How long `send` may block on metadata while the broker is away.
    max_block_ms: int = 10_000
    batch_size: int = 2000  # log entries read and sent per relay batch
    poll_interval: float = 0.5  # seconds between looks at the logs when idle
    partitions: int = 6  # when the relay creates a topic itself (production: deploy/)
    # Consumers: a dead member is noticed after the session timeout (then its partitions move).
    session_timeout_ms: int = 10_000
    max_poll_records: int = 2000

    @classmethod
    def from_env(cls) -> KafkaSettings | None:
        """None when `INSATS_KAFKA_BOOTSTRAP` is unset: Kafka is off (the embedded feed)."""
        raw = os.environ.get("INSATS_KAFKA_BOOTSTRAP", "").strip()
        if not raw:
            return None
        servers = tuple(s.strip() for s in raw.split(",") if s.strip())
        return cls(
            bootstrap=servers,
            prefix=os.environ.get("INSATS_KAFKA_TOPIC_PREFIX", "insats."),
            delivery_timeout_ms=int(os.environ.get("INSATS_KAFKA_DELIVERY_TIMEOUT_MS", "30000")),
            partitions=int(os.environ.get("INSATS_KAFKA_PARTITIONS", "6")),
            batch_size=int(os.environ.get("INSATS_KAFKA_BATCH_SIZE", "2000")),
            session_timeout_ms=int(os.environ.get("INSATS_KAFKA_SESSION_TIMEOUT_MS", "10000")),
            max_poll_records=int(os.environ.get("INSATS_KAFKA_MAX_POLL_RECORDS", "2000")),
        )
