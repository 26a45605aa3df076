"""Kafka distribution (API.md "Kafka", SPEC §7–§8).

The event store is the outbox: `relay.Relay` tails the store's ordered log (and the alert change
feed and the closed payout runs, each an ordered log of its own) and publishes every entry to its
topic, recording in the database how far the broker has acknowledged. `consumer.KafkaFeed` feeds
the read models from the topics as consumer groups, each read model committing its consumed
(topic, partition, offset) together with its rows. Nothing here is on a command's path: the API
never waits for Kafka.
"""
