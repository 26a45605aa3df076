"""Read models fed from Kafka (`insats worker --source kafka`): a consumer group over the
journeys, providers and rates topics.

The database, not Kafka, holds what was consumed. For every batch and read model, one database
transaction applies the read model's changes and records, per (topic, partition), the next
offset and the last log position it applied (`kafka_offsets`). After a rebalance or a kill -9 a
worker seeks its new partitions to the offsets stored there; a record below a stored offset is
skipped (the offset rows are locked in the transaction, so two workers briefly owning the same
partition during a rebalance cannot both apply it). A relay's repeat of an event (a new offset,
the same `event_id`) is dropped by its `event_id` (`kafka_seen`). Offsets are never committed to
Kafka as the source of truth.

A record a read model cannot apply is quarantined for that read model (`kafka_quarantine`: the
record, its place and the error), visible in `insats readmodels status` and `/metrics`; the
group goes on. A record that is not an event of the contract at all is quarantined for all.

Cross-partition order. Kafka orders per partition only, so journeys, providers and rates arrive
interleaved differently than in the store's log. The read models fold each stream on its own
and look up providers and rates when they compute (payout runs, statistics), so what they store
after a set of events does not depend on the order of different streams. What a payout run
depends on is made explicit instead: each read model's `feed_tracking` position is the log
position up to which it has applied *every* event — the relay's position, lowered to what a
partition has applied while that partition is behind what the relay has published to it
(`kafka_relay_partitions`), and below any quarantined event. A payout run closes only when the
payments read model's position is the end of the store's log (`read_model_behind` otherwise),
and records that position: replaying the log up to it reproduces the run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError

from contracts import kafka as contract
from contracts.events import PAYLOAD_MODELS, PublicEvent
from services.platform.db import Database, Tx
from services.platform.feed import TRANSIENT_ERRORS, Projection, setup_tables
from services.platform.kafka.relay import EVENTS, setup_relay_tables
from services.platform.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)

CONSUMER_DDL = (
    "CREATE TABLE IF NOT EXISTS kafka_offsets ("
    "consumer TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, "
    "next_offset BIGINT NOT NULL, position BIGINT NOT NULL, updated_at TEXT NOT NULL, "
    "PRIMARY KEY (consumer, topic, part))",
    "CREATE TABLE IF NOT EXISTS kafka_seen ("
    "consumer TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (consumer, event_id))",
    "CREATE TABLE IF NOT EXISTS kafka_quarantine ("
    "consumer TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, "
    "msg_offset BIGINT NOT NULL, position BIGINT, event_id TEXT, error TEXT NOT NULL, "
    "value TEXT NOT NULL, quarantined_at TEXT NOT NULL, "
    "PRIMARY KEY (consumer, topic, part, msg_offset))",
)
GROUP_SUFFIX = "readmodels.v1"
_CHUNK = 500


def setup_consumer_tables(tx: Tx) -> None:
    for statement in CONSUMER_DDL:
        tx.execute(statement)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True, slots=True)
class Item:
    """One consumed record, decoded (or why it could not be)."""

    topic: str
    part: int
    offset: int
    event: PublicEvent | None
    error: str | None
    raw: bytes


def decode(topic: str, part: int, offset: int, value: bytes | None) -> Item:
    raw = value or b""
    try:
        data = json.loads(raw)
        event = PublicEvent.from_dict(data)
        if event.type not in PAYLOAD_MODELS:
            raise ValueError(f"unknown event type {event.type!r}")
    except Exception as exc:  # anything that is not an event of the contract
        return Item(topic, part, offset, None, f"undecodable: {type(exc).__name__}: {exc}", raw)
    return Item(topic, part, offset, event, None, raw)


@dataclass(frozen=True)
class PartitionLag:
    consumer: str
    topic: str
    part: int
    next_offset: int  # the consumer's
    published: int  # the relay's next offset for the partition

    @property
    def lag(self) -> int:
        return max(0, self.published - self.next_offset)


@dataclass(frozen=True)
class Quarantined:
    consumer: str
    topic: str
    part: int
    offset: int
    position: int | None
    event_id: str | None
    error: str
    quarantined_at: str


def consumer_lags(db: Database) -> list[PartitionLag]:
    """Each consumer's lag per partition, against what the relay has published (database only:
    the same figures on every instance, and exact even where a broker's end offsets are not)."""
    with db.transaction() as tx:
        setup_relay_tables(tx)
        setup_consumer_tables(tx)
        published = {
            (str(t), int(p)): int(n)
            for t, p, n in tx.execute(
                "SELECT topic, part, next_offset FROM kafka_relay_partitions"
            ).fetchall()
        }
        rows = tx.execute("SELECT consumer, topic, part, next_offset FROM kafka_offsets").fetchall()
    consumers = sorted({str(r[0]) for r in rows})
    mine = {(str(c), str(t), int(p)): int(n) for c, t, p, n in rows}
    out = []
    for c in consumers:
        for (t, p), n in sorted(published.items()):
            if any(t.endswith(s) for s in contract.EVENT_TOPICS):
                out.append(PartitionLag(c, t, p, mine.get((c, t, p), 0), n))
    return out


def quarantined(db: Database) -> list[Quarantined]:
    with db.transaction() as tx:
        setup_consumer_tables(tx)
        rows = tx.execute(
            "SELECT consumer, topic, part, msg_offset, position, event_id, error, quarantined_at "
            "FROM kafka_quarantine ORDER BY consumer, topic, part, msg_offset"
        ).fetchall()
    return [
        Quarantined(
            str(r[0]), str(r[1]), int(r[2]), int(r[3]),
            None if r[4] is None else int(r[4]), r[5], str(r[6]), str(r[7]),
        )
        for r in rows
    ]


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, feed: KafkaFeed):
        self.feed = feed

    def on_partitions_revoked(self, revoked: Any) -> None:
        # Nothing to hand over: what was applied is committed with its offsets already.
        self.feed.assignment = self.feed.assignment - set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.feed.assignment = set(assigned)
        self.feed.seek_to_stored(assigned)


class KafkaFeed:
    """A background task (`start`/`stop`, one thread): one member of the read models' consumer
    group, feeding `projections` (the same instances the services read through)."""

    def __init__(
        self,
        settings: KafkaSettings,
        db: Database,
        projections: Iterable[Projection],
        *,
        group: str | None = None,
        consumer_options: dict[str, Any] | None = None,
        max_records: int | None = None,
        name: str = "kafka-feed",
    ):
        self.settings = settings
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.group = group or settings.prefix + GROUP_SUFFIX
        self.topics = [settings.prefix + t for t in contract.EVENT_TOPICS]
        self.consumer_options = {
            "session_timeout_ms": settings.session_timeout_ms,
            "heartbeat_interval_ms": max(500, settings.session_timeout_ms // 5),
            "max_poll_interval_ms": 120_000,
            **(consumer_options or {}),
        }
        self.max_records = max_records or settings.max_poll_records
        self.name = name
        self.assignment: set[Any] = set()
        self.consumer: Any = None
        self.on_batch: Callable[[int], None] | None = None  # tests: called after each batch
        self.applied = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._at_end = True
        with db.transaction() as tx:
            setup_tables(tx)
            setup_relay_tables(tx)
            setup_consumer_tables(tx)

    # --- what the alerts projection asks: are we at the end of what was published? ----------

    def head(self) -> int:
        """For `AlertsProjection(head=...)`: a batch "reaches the head" when it ends at what
        the relay has published to its partitions (so alerts are evaluated for current facts,
        not for every intermediate state while catching up)."""
        return 0 if self._at_end else 2**62

    # --- positions ---------------------------------------------------------------------------

    def _forget_if_reset(self, tx: Tx, name: str) -> None:
        """A read model whose rows were reset (a new stored form, a rebuild from scratch) has
        no feed position: start it from the beginning of the topics."""
        tracked = tx.scalar("SELECT position FROM feed_tracking WHERE name = %s", (name,))
        if tracked is None:
            for table in ("kafka_offsets", "kafka_seen", "kafka_quarantine"):
                tx.execute(f"DELETE FROM {table} WHERE consumer = %s", (name,))

    def stored_offsets(self) -> dict[tuple[str, str, int], int]:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT consumer, topic, part, next_offset FROM kafka_offsets")
            return {(str(c), str(t), int(p)): int(n) for c, t, p, n in rows.fetchall()}

    def seek_to_stored(self, partitions: Iterable[Any]) -> None:
        """Start each partition at the lowest offset any read model still needs."""
        stored = self.stored_offsets()
        for tp in partitions:
            offset = min(
                (stored.get((n, tp.topic, tp.partition), 0) for n in self.projections), default=0
            )
            self.consumer.seek(tp, offset)

    def _claim(
        self, tx: Tx, name: str, keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """The read model's next offsets of these partitions, locked until the transaction ends
        (PostgreSQL; SQLite write transactions run one at a time anyway)."""
        out: dict[tuple[str, int], int] = {}
        for topic, part in keys:
            if tx.dialect == "postgresql":
                tx.execute(
                    "INSERT INTO kafka_offsets (consumer, topic, part, next_offset, position, "
                    "updated_at) VALUES (%s, %s, %s, 0, 0, '') ON CONFLICT DO NOTHING",
                    (name, topic, part),
                )
                value = tx.scalar(
                    "SELECT next_offset FROM kafka_offsets WHERE consumer = %s AND topic = %s "
                    "AND part = %s FOR UPDATE",
                    (name, topic, part),
                )
            else:
                value = tx.scalar(
                    "SELECT next_offset FROM kafka_offsets WHERE consumer = %s AND topic = %s "
                    "AND part = %s",
                    (name, topic, part),
                )
            out[(topic, part)] = int(value) if value is not None else 0
        return out

    def _seen(self, tx: Tx, name: str, ids: Sequence[str]) -> set[str]:
        seen: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            rows = tx.execute(
                f"SELECT event_id FROM kafka_seen WHERE consumer = %s AND event_id IN ({marks})",
                (name, *chunk),
            ).fetchall()
            seen.update(str(r[0]) for r in rows)
        return seen

    def _advance(self, tx: Tx, name: str, items: Sequence[Item]) -> None:
        ends: dict[tuple[str, int], tuple[int, int]] = {}
        for it in items:
            nxt, pos = ends.get((it.topic, it.part), (0, 0))
            position = it.event.position if it.event is not None else 0
            ends[(it.topic, it.part)] = (max(nxt, it.offset + 1), max(pos, position))
        tx.executemany(
            "INSERT INTO kafka_offsets (consumer, topic, part, next_offset, position, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (consumer, topic, part) DO UPDATE SET "
            "next_offset = CASE WHEN excluded.next_offset > kafka_offsets.next_offset "
            "THEN excluded.next_offset ELSE kafka_offsets.next_offset END, "
            "position = CASE WHEN excluded.position > kafka_offsets.position "
            "THEN excluded.position ELSE kafka_offsets.position END, "
            "updated_at = excluded.updated_at",
            [(name, t, p, n, pos, _now()) for (t, p), (n, pos) in sorted(ends.items())],
        )

    def watermark(self, tx: Tx, name: str) -> int:
        """The log position up to which `name` has applied every event (module docstring)."""
        prefix = self.settings.prefix
        # One statement, one snapshot: the relay records its position and its partitions'
        # offsets together, and they must be read together.
        rows = tx.execute(
            "SELECT 'lane', '', 0, position, 0 FROM kafka_relay WHERE lane = %s "
            "UNION ALL SELECT 'part', topic, part, position, next_offset "
            "FROM kafka_relay_partitions WHERE topic IN (%s, %s, %s)",
            (EVENTS, *(prefix + t for t in contract.EVENT_TOPICS)),
        ).fetchall()
        relay = max((int(r[3]) for r in rows if r[0] == "lane"), default=0)
        mine = {
            (str(t), int(p)): (int(n), int(pos))
            for t, p, n, pos in tx.execute(
                "SELECT topic, part, next_offset, position FROM kafka_offsets WHERE consumer = %s",
                (name,),
            ).fetchall()
        }
        mark = relay
        for kind, topic, part, _position, published in rows:
            if kind != "part":
                continue
            nxt, applied = mine.get((str(topic), int(part)), (0, 0))
            if nxt < int(published):
                mark = min(mark, applied)
        stuck = tx.scalar(
            "SELECT MIN(position) FROM kafka_quarantine WHERE consumer = %s AND position "
            "IS NOT NULL",
            (name,),
        )
        if stuck is not None:
            mark = min(mark, int(stuck) - 1)
        return max(mark, 0)

    def _track(self, tx: Tx, name: str) -> None:
        tx.execute(
            "INSERT INTO feed_tracking (name, position, updated_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = CASE WHEN excluded.position > "
            "feed_tracking.position THEN excluded.position ELSE feed_tracking.position END, "
            "updated_at = excluded.updated_at",
            (name, self.watermark(tx, name), _now()),
        )

    def refresh_positions(self) -> None:
        """Move each read model's position when the relay has recorded more (idle polls)."""
        for name in self.projections:
            with self.db.transaction() as tx:
                self._track(tx, name)

    # --- applying ----------------------------------------------------------------------------

    def process(self, items: Sequence[Item]) -> int:
        """Apply one polled batch to every read model; returns the events applied (summed)."""
        if not items:
            return 0
        applied = 0
        for projection in self.projections.values():
            applied += self._apply(projection, items)
        self.applied += applied
        return applied

    def _fresh(self, tx: Tx, name: str, items: Sequence[Item]) -> list[Item]:
        keys = sorted({(it.topic, it.part) for it in items})
        offsets = self._claim(tx, name, keys)
        return [it for it in items if it.offset >= offsets[(it.topic, it.part)]]

    def _apply(self, projection: Projection, items: Sequence[Item]) -> int:
        name = projection.name
        try:
            with self.db.transaction() as tx:
                fresh = self._fresh(tx, name, items)
                if not fresh:
                    return 0
                events = self._new_events(tx, name, fresh)
                for it in fresh:
                    if it.event is None:
                        self._quarantine(tx, name, it, it.error or "undecodable")
                if events:
                    projection.handle(tx, events)
                    self._mark_seen(tx, name, events)
                self._advance(tx, name, fresh)
                self._track(tx, name)
                return len(events)
        except TRANSIENT_ERRORS:
            raise  # the database is away: nothing applied, the batch is polled again
        except Exception:
            # Find the record it cannot apply: the same records again, one per transaction.
            return self._apply_one_by_one(projection, items)

    def _new_events(self, tx: Tx, name: str, fresh: Sequence[Item]) -> list[PublicEvent]:
        """The batch's events not applied before, in log order (a relay's repeat is dropped
        by its event_id, also within one batch)."""
        candidates = [it.event for it in fresh if it.event is not None]
        seen = self._seen(tx, name, [e.event_id for e in candidates])
        out: dict[str, PublicEvent] = {}
        for e in candidates:
            if e.event_id not in seen:
                out.setdefault(e.event_id, e)
        return sorted(out.values(), key=lambda e: e.position)

    def _mark_seen(self, tx: Tx, name: str, events: Sequence[PublicEvent]) -> None:
        tx.executemany(
            "INSERT INTO kafka_seen (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(name, e.event_id) for e in events],
        )

    def _apply_one_by_one(self, projection: Projection, items: Sequence[Item]) -> int:
        name = projection.name
        applied = 0
        ordered = sorted(items, key=lambda it: (it.event.position if it.event else -1, it.offset))
        for it in ordered:
            try:
                with self.db.transaction() as tx:
                    if not self._fresh(tx, name, [it]):
                        continue
                    events = self._new_events(tx, name, [it])
                    if it.event is None:
                        self._quarantine(tx, name, it, it.error or "undecodable")
                    elif events:
                        projection.handle(tx, events)
                        self._mark_seen(tx, name, events)
                    self._advance(tx, name, [it])
                    self._track(tx, name)
                    applied += len(events)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                with self.db.transaction() as tx:
                    self._quarantine(tx, name, it, f"{type(exc).__name__}: {exc}"[:1000])
                    self._advance(tx, name, [it])
                    self._track(tx, name)
                log.error(
                    "read model %r quarantined %s[%s]@%s (%s): %s",
                    name, it.topic, it.part, it.offset,
                    it.event.event_id if it.event else "undecodable", exc,
                )
        return applied

    def _quarantine(self, tx: Tx, name: str, it: Item, error: str) -> None:
        tx.execute(
            "INSERT INTO kafka_quarantine (consumer, topic, part, msg_offset, position, event_id, "
            "error, value, quarantined_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (
                name, it.topic, it.part, it.offset,
                it.event.position if it.event else None,
                it.event.event_id if it.event else None,
                error[:1000],
                it.raw[:10_000].decode("utf-8", errors="replace"),
                _now(),
            ),
        )

    # --- the consumer ------------------------------------------------------------------------

    def open(self) -> None:
        with self.db.transaction() as tx:
            for name in self.projections:
                self._forget_if_reset(tx, name)
                # From now on the store-fed runner leaves these read models to the group.
                tx.execute(
                    "INSERT INTO feed_sources (name, source) VALUES (%s, 'kafka') "
                    "ON CONFLICT (name) DO UPDATE SET source = excluded.source",
                    (name,),
                )
        self.consumer = KafkaConsumer(
            bootstrap_servers=list(self.settings.bootstrap),
            group_id=self.group,
            client_id=f"insats-{self.name}",
            enable_auto_commit=False,  # the database holds the offsets
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            **self.consumer_options,
        )
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))

    def realign(self) -> None:
        """Seek back any assigned partition whose stored offsets (the lowest any read model
        needs) are behind the consumer's position: after a batch that failed part-way, or a
        read model whose Kafka bookkeeping was reset. The database, not the client, decides
        where to read."""
        if not self.assignment:
            return
        stored = self.stored_offsets()
        for tp in list(self.assignment):
            need = min(
                (stored.get((n, tp.topic, tp.partition), 0) for n in self.projections), default=0
            )
            try:
                at = self.consumer.position(tp)
            except Exception:  # no position yet (just assigned): the listener seeks it
                continue
            if at is not None and need < at:
                self.consumer.seek(tp, need)

    def poll_once(self, timeout_ms: int = 500) -> int:
        """One poll and its batch; returns how many records it held."""
        self.realign()
        records = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        items = [
            decode(tp.topic, tp.partition, r.offset, r.value)
            for tp, batch in records.items()
            for r in batch
        ]
        if not items:
            self._at_end = True
            self.refresh_positions()
            return 0
        self._at_end = self._reaches_published(items)
        self.process(items)
        if self.on_batch is not None:
            self.on_batch(len(items))
        return len(items)

    def _reaches_published(self, items: Sequence[Item]) -> bool:
        with self.db.transaction() as tx:
            published = {
                (str(t), int(p)): int(n)
                for t, p, n in tx.execute(
                    "SELECT topic, part, next_offset FROM kafka_relay_partitions"
                ).fetchall()
            }
        ends: dict[tuple[str, int], int] = {}
        for it in items:
            ends[(it.topic, it.part)] = max(ends.get((it.topic, it.part), 0), it.offset + 1)
        return all(n >= published.get(k, 0) for k, n in ends.items())

    def _rewind(self) -> None:
        """After a failed batch the consumer has moved past records some read model has not
        committed: go back to what the database says."""
        if self.consumer is None or not self.assignment:
            return
        try:
            self.seek_to_stored(self.assignment)
        except Exception:  # the database still away: drop the consumer, rejoin later
            log.debug("kafka feed: rewinding failed; reopening", exc_info=True)
            try:
                self.consumer.close()
            finally:
                self.consumer = None
                self.assignment = set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        backoff = 0.5
        failing = False
        while not self._stop.is_set():
            try:
                if self.consumer is None:
                    self.open()
                self.poll_once()
                if failing:
                    log.warning("kafka feed: consuming again")
                    failing, backoff = False, 0.5
            except (KafkaError, *TRANSIENT_ERRORS) as exc:
                if not failing:
                    log.warning("kafka feed: %s; retrying", exc)
                failing = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                self._rewind()
            except Exception:
                log.exception("kafka feed failed; retrying")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                self._rewind()
        if self.consumer is not None:
            try:
                self.consumer.close()  # leaves the group at once: a rebalance, not a timeout
            except Exception:
                log.debug("kafka feed: closing the consumer failed", exc_info=True)
            self.consumer = None

