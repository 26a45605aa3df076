"""Building the Kafka background tasks from a composition-root `Container`.

Kept apart from `insats.bootstrap` so the composition root only lists the tasks: `relay_for`
gives the relay (inside `insats serve` when INSATS_KAFKA_BOOTSTRAP is set, and `insats relay`),
`kafka_feed_for` the consumer-group feed of `insats worker --source kafka`.
"""

from __future__ import annotations

from typing import Any

from services.platform.kafka.leadership import FileLeadership, Leadership, PostgresLeadership
from services.platform.kafka.relay import AlertLane, EventLane, Lane, PayoutRunLane, Relay
from services.platform.kafka.settings import KafkaSettings


def leadership_for(container: Any) -> Leadership:
    config = container.config
    if config.postgres_url:
        return PostgresLeadership(
            config.postgres_url,
            f"insats:kafka-relay:{config.schema}",
            dict(config.timeouts.connect_kwargs()),
        )
    return FileLeadership(config.beside("kafka-relay.lock"))


def relay_for(container: Any, settings: KafkaSettings) -> Relay:
    lanes: list[Lane] = [
        EventLane(container.lifecycle),
        AlertLane(container.readmodel_db),
        PayoutRunLane(container.services["payments"].runs),
    ]
    return Relay(
        settings,
        container.readmodel_db,
        lanes,
        leadership_for(container),
        wait_for_new=container.lifecycle.wait_for_save,
    )


def background_tasks(container: Any, *, serving: bool = True) -> list[Any]:
    """The Kafka tasks a serving process runs: the relay when INSATS_KAFKA_BOOTSTRAP is set."""
    settings = KafkaSettings.from_env()
    if settings is None or not serving:
        return []
    return [relay_for(container, settings)]


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
    alerts = container.services.get("alerts")
    if alerts is not None and "alerts" in projections:
        projections["alerts"] = alerts.projection(head=feed.head)
    feed.projections = projections
    return feed
