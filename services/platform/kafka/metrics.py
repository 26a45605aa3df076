"""`/metrics` for Kafka: the relay's position and lag per lane, each consumer's lag per partition
and its quarantined records. Read from the database at each scrape, so every instance reports
the same figures whichever process relays or consumes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.platform.kafka.consumer import consumer_lags, quarantined, setup_consumer_tables
from services.platform.kafka.relay import Lane, relay_positions, setup_relay_tables
from services.platform.kafka.settings import KafkaSettings


class KafkaCollector(Collector):
    def __init__(self, container: Any):
        self.db = container.readmodel_db
        from services.platform.kafka.wiring import lanes_for

        self.lanes: list[Lane] = lanes_for(
            container.lifecycle, self.db, container.services["payments"].runs
        )
        with self.db.transaction() as tx:
            setup_relay_tables(tx)
            setup_consumer_tables(tx)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        position = GaugeMetricFamily(
            "insats_kafka_relay_position",
            "Last position of the lane's ordered log the broker has acknowledged",
            labels=["lane"],
        )
        lag = GaugeMetricFamily(
            "insats_kafka_relay_lag", "Log entries not yet published", labels=["lane"]
        )
        positions = relay_positions(self.db)
        # Without Kafka (and no relay ever ran here) there is no lag to report.
        relaying = bool(positions) or KafkaSettings.from_env() is not None
        for lane in self.lanes if relaying else []:
            at = positions.get(lane.name, 0)
            position.add_metric([lane.name], at)
            lag.add_metric([lane.name], max(0, lane.head() - at))
        consumer = GaugeMetricFamily(
            "insats_kafka_consumer_lag",
            "Records the relay published to the partition that the read model has not consumed",
            labels=["consumer", "topic", "partition"],
        )
        for row in consumer_lags(self.db):
            consumer.add_metric([row.consumer, row.topic, str(row.part)], row.lag)
        stuck = GaugeMetricFamily(
            "insats_kafka_quarantined",
            "Records a read model could not apply (kafka_quarantine)",
            labels=["consumer"],
        )
        counts: dict[str, int] = {}
        for q in quarantined(self.db):
            counts[q.consumer] = counts.get(q.consumer, 0) + 1
        for name, n in sorted(counts.items()):
            stuck.add_metric([name], n)
        yield from (position, lag, consumer, stuck)
