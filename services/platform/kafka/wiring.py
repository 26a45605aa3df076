"""Building the Kafka background tasks.

`relay_for` makes a store's relay: the composition root (`insats.bootstrap`) calls it when
INSATS_KAFKA_BOOTSTRAP is set and lists the relay among the background tasks that `insats serve`
runs (and `insats relay` alone); `container_relay` makes one for other settings (tests,
benchmarks). `kafka_feed_for` is the consumer-group feed of `insats worker --source kafka`.
"""

from __future__ import annotations

from typing import Any

from services.lifecycle.application import LifecycleApp
from services.payments.runs import PayoutRuns
from services.platform.db import Database
from services.platform.kafka.leadership import FileLeadership, Leadership, PostgresLeadership
from services.platform.kafka.relay import (
    AlertLane,
    CheckpointLane,
    EventLane,
    Lane,
    PayoutRunLane,
    Relay,
)
from services.platform.kafka.settings import KafkaSettings


def leadership_for(config: Any) -> Leadership:
    """One active relay per store: a PostgreSQL advisory lock, or a file lock beside SQLite."""
    if config.postgres_url:
        return PostgresLeadership(
            config.postgres_url,
            f"insats:kafka-relay:{config.schema}",
            dict(config.timeouts.connect_kwargs()),
        )
    return FileLeadership(config.beside("kafka-relay.lock"))


def lanes_for(
    lifecycle: LifecycleApp, readmodel_db: Database, payout_runs: PayoutRuns
) -> list[Lane]:
    """The ordered logs a relay publishes, each with its own position."""
    return [
        EventLane(lifecycle),
        AlertLane(readmodel_db),
        PayoutRunLane(payout_runs),
        CheckpointLane(readmodel_db),
    ]


def relay_for(
    settings: KafkaSettings,
    *,
    config: Any,
    lifecycle: LifecycleApp,
    readmodel_db: Database,
    payout_runs: PayoutRuns,
) -> Relay:
    """The relay of a store (the composition root makes it when INSATS_KAFKA_BOOTSTRAP is set
    and lists it among the background tasks)."""
    return Relay(
        settings,
        readmodel_db,
        lanes_for(lifecycle, readmodel_db, payout_runs),
        leadership_for(config),
        wait_for_new=lifecycle.wait_for_save,
    )


def container_relay(container: Any, settings: KafkaSettings) -> Relay:
    """A relay of `container`'s store with these settings (another broker or topic prefix)."""
    return relay_for(
        settings,
        config=container.config,
        lifecycle=container.lifecycle,
        readmodel_db=container.readmodel_db,
        payout_runs=container.payments.runs,
    )


def kafka_feed_for(
    container: Any,
    settings: KafkaSettings,
    *,
    consumer_options: dict[str, Any] | None = None,
    name: str = "kafka-feed",
) -> Any:
    """The worker's member of the read models' consumer group, feeding the container's read
    models (their tables are the ones the services read)."""
    from services.platform.kafka.consumer import KafkaFeed

    projections = dict(container.feed.projections)
    feed = KafkaFeed(
        settings,
        container.readmodel_db,
        [],
        consumer_options=consumer_options,
        name=name,
    )
    # The alerts read model evaluates alerts once a batch reaches what was published (the
    # embedded feed asks the store's log head instead).
    projections["alerts"] = container.alerts.projection(head=feed.head)
    feed.projections = projections
    return feed
