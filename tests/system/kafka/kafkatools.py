"""Helpers of the Kafka tests: settings for a test broker, reading a topic back, histories."""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from insats.bootstrap import Container
from services.platform.kafka.settings import KafkaSettings
from tests.builders import ctx_of
from tests.system.test_journey_agreement import EXITS, PROVIDERS, record


def kafka_settings(bootstrap: str, prefix: str, **overrides: Any) -> KafkaSettings:
    values: dict[str, Any] = {
        "bootstrap": (bootstrap,),
        "prefix": prefix,
        "delivery_timeout_ms": 6000,
        "request_timeout_ms": 3000,
        "max_block_ms": 3000,
        "poll_interval": 0.1,
        "partitions": 4,
    }
    values.update(overrides)
    return KafkaSettings(**values)


def read_topic(
    bootstrap: str, topic: str, *, expect: int = 0, timeout: float = 30.0, quiet: float = 1.0
) -> list[Any]:
    return read_topics(bootstrap, [topic], expect=expect, timeout=timeout, quiet=quiet)


def read_events(bootstrap: str, prefix: str, *, expect: int = 0) -> list[Any]:
    """Every record of the three event topics."""
    from contracts import kafka as contract

    return read_topics(bootstrap, [prefix + t for t in contract.EVENT_TOPICS], expect=expect)


def read_topics(
    bootstrap: str,
    topics: list[str],
    *,
    expect: int = 0,
    timeout: float = 30.0,
    quiet: float = 1.0,
) -> list[Any]:
    """Every record of `topics` (all partitions, from the start), ordered by (topic, partition,
    offset); waits until at least `expect` records are there and nothing new came for `quiet`
    seconds."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout
        tps: list[Any] = []
        for topic in topics:
            parts: set[int] = set()
            while not parts and time.monotonic() < deadline:
                parts = consumer.partitions_for_topic(topic) or set()
                if not parts:
                    time.sleep(0.2)
            tps.extend(TopicPartition(topic, p) for p in sorted(parts))
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            got = consumer.poll(timeout_ms=300)
            for batch in got.values():
                records.extend(batch)
                last_new = time.monotonic()
            if len(records) >= expect and time.monotonic() - last_new >= quiet:
                break
        return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        consumer.close()


def first_occurrences(records: list[Any]) -> list[Any]:
    """The records without repeats (by event_id), keeping the first of each, per partition."""
    seen: set[bytes] = set()
    out = []
    for r in records:
        eid = dict(r.headers)["event_id"]
        if eid not in seen:
            seen.add(eid)
            out.append(r)
    return out


def assert_ordered_per_key(records: list[Any]) -> None:
    """In log order per key: the first occurrences of each key's messages have increasing
    positions, and every repeat is byte-identical to the first."""
    first: dict[bytes, Any] = {}
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in records:
        headers = dict(r.headers)
        eid = headers["event_id"]
        if eid in first:
            f = first[eid]
            assert (r.key, r.value, r.headers) == (f.key, f.value, f.headers), eid
            continue
        first[eid] = r
        by_key[r.key].append(int(headers["position"]))
    for key, positions in by_key.items():
        assert positions == sorted(positions), key


def plans(seed: int, journeys: int) -> tuple[list[Any], list[tuple[str, int]]]:
    """Journey plans in the shape of the agreement test's (`record`), from a seeded random."""
    rng = random.Random(seed)
    out = []
    for _ in range(journeys):
        pre: list[Any] = []
        for _ in range(rng.randint(0, 2)):
            kind = rng.choice(["change", "correct_start", "correct_change", "withdraw"])
            if kind == "change":
                pre.append(("change", rng.choice(PROVIDERS), rng.randint(1, 200)))
            elif kind == "withdraw":
                if rng.random() < 0.3:
                    pre.append(("withdraw", None, 0))
            else:
                pre.append((kind, rng.randint(-5, 5), 0))
        end: Any = rng.choice(
            [None, ("exit", rng.choice(EXITS), rng.randint(1, 300)), ("transfer", 30, 0)]
        )
        post: list[Any] = []
        if end and end[0] == "exit":
            post = [("correct_exit_date", rng.randint(-5, 5), 0)] if rng.random() < 0.3 else []
            if rng.random() < 0.5:
                post.append(("bonus", rng.choice(["approved", "returned"]), 0))
        out.append(
            (
                rng.randint(0, 380),
                rng.randint(0, 30),
                rng.choice(PROVIDERS),
                [*pre, *([end] if end else []), *post],
            )
        )
    return out, [(PROVIDERS[2], rng.randint(200, 400))]


def record_history(c: Container, seed: int = 1, journeys: int = 30) -> None:
    journey_plans, deauths = plans(seed, journeys)
    record(c, journey_plans, deauths)


_SERIALS = itertools.count()


def more_facts(c: Container, tag: str, n: int = 5) -> None:
    """A few more journeys (decisions and provider choices), e.g. while the broker is away."""
    from tests.builders import decide
    from tests.conftest import person

    app = c.lifecycle
    for i in range(n):
        serial = next(_SERIALS)
        pnr = person(f"19{60 + serial // 900}-03-03", f"{serial % 900 + 100:03d}")
        jid = decide(app, f"{tag}-{i}", pnr)
        app.choose_provider(
            ctx_of(app), jid, provider_id=PROVIDERS[0], starts_on=date(2026, 11, 1) + timedelta(i)
        )
