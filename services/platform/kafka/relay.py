"""The relay: the event store is the outbox; this tails its ordered logs and publishes to Kafka.

Three ordered logs, each a `Lane` with its own tracked position (table `kafka_relay`):
- `events`: the lifecycle store's log (public events only) → journeys/providers/rates topics;
- `alerts`: the alert change feed (`alerts_changes`, numbered by `seq`) → alerts topic;
- `payout-runs`: the closed payout runs' log → payout-runs topic;
- `checkpoints`: the event log's signed checkpoints (`audit_checkpoints`, numbered by `seq`) →
  checkpoints topic, for witnesses (docs/audit.md).

Per batch: read the next entries after the lane's position, send them all through an idempotent
producer with `acks=all`, wait for the broker, and only then record the new position — up to the
last entry before the first one that was not acknowledged. On a failure the batch stops there:
the producer is closed at once (aborting what it still holds, so nothing later can overtake the
failed entry), and after a pause a fresh producer starts again from the recorded position. So
an entry is published at least once, in log order per key; a repeat is byte-identical (the
message is a pure function of the stored entry) and carries the same `event_id`.

Besides the positions, the relay records per (topic, partition) the last position and offset the
broker acknowledged (`kafka_relay_partitions`): consumers compare their own offsets with it to
know, from the database alone, up to which log position their read model is complete.

Only one relay per store publishes (`leadership`); positions are moved with compare-and-set, so
even an instance that wrongly believes it leads cannot move a position backwards.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from contracts import kafka as contract
from services.lifecycle.application import PUBLIC_TOPICS, LifecycleApp
from services.platform.db import Database, Tx
from services.platform.feed import TRANSIENT_ERRORS
from services.platform.kafka.leadership import Leadership
from services.platform.kafka.messages import (
    Message,
    alert_message,
    checkpoint_message,
    event_message,
    run_message,
)
from services.platform.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)

RELAY_DDL = (
    "CREATE TABLE IF NOT EXISTS kafka_relay ("
    "lane TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS kafka_relay_partitions ("
    "topic TEXT NOT NULL, part INTEGER NOT NULL, position BIGINT NOT NULL, "
    "next_offset BIGINT NOT NULL, PRIMARY KEY (topic, part))",
)

EVENTS, ALERTS, PAYOUT_RUNS, CHECKPOINTS = "events", "alerts", "payout-runs", "checkpoints"
MAX_BACKOFF_SECONDS = 10.0


def setup_relay_tables(tx: Tx) -> None:
    for statement in RELAY_DDL:
        tx.execute(statement)


class Lane(Protocol):
    name: str

    def head(self) -> int:
        """The last position of the lane's log."""
        ...

    def read(self, after: int, limit: int) -> tuple[list[Message], int]:
        """The messages of the entries after `after` (at most `limit` entries) and the position
        the log has been read up to (beyond the last message when entries without a message,
        such as private events, follow it)."""
        ...


class EventLane:
    """The lifecycle store's ordered log: every public event, rendered as `GET /v1/events`."""

    name = EVENTS

    def __init__(self, app: LifecycleApp):
        self.app = app

    def head(self) -> int:
        return self.app.max_position()

    def read(self, after: int, limit: int) -> tuple[list[Message], int]:
        # The head first: the store commits positions in order (SQLite serialises writers, the
        # PostgreSQL recorder locks its table), so reading up to it skips nothing for good.
        stop = self.app.max_position()
        if stop <= after:
            return [], after
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, stop=stop, topics=PUBLIC_TOPICS, inclusive_of_start=False
        )
        messages = []
        for n in notifications:
            event = self.app.to_public(n)  # the same rendering as the auditors' feed
            if event is not None:
                messages.append(event_message(event))
        upto = notifications[-1].id if len(notifications) == limit else stop
        return messages, upto


class AlertLane:
    """The alert change feed (its `seq` is its position), rendered as `GET /v1/alerts/changes`."""

    name = ALERTS

    def __init__(self, db: Database):
        self.db = db

    def head(self) -> int:
        with self.db.transaction() as tx:
            return int(tx.scalar("SELECT COALESCE(MAX(seq), 0) FROM alerts_changes") or 0)

    def read(self, after: int, limit: int) -> tuple[list[Message], int]:
        from services.alerts import store

        # Changes are numbered under a row lock (alerts_sequence), so they commit in seq order.
        with self.db.transaction() as tx:
            changes = store.read_changes(tx, after, limit)
        messages = [alert_message(c.to_dict()) for c in changes]
        return messages, (changes[-1].seq if changes else after)


class CheckpointLane:
    """The signed checkpoints (their `seq` is their position; writers commit in `seq` order)."""

    name = CHECKPOINTS

    def __init__(self, db: Database):
        self.db = db

    def head(self) -> int:
        from services.transparency.checkpoints import last_seq

        with self.db.transaction() as tx:
            return last_seq(tx)

    def read(self, after: int, limit: int) -> tuple[list[Message], int]:
        from services.transparency.checkpoints import written_after

        with self.db.transaction() as tx:
            written = written_after(tx, after, limit)
        messages = [checkpoint_message(c.to_json()) for c in written]
        return messages, (written[-1].seq if written else after)


class PayoutRunLane:
    """The closed payout runs' log (its own `eventsourcing` application)."""

    name = PAYOUT_RUNS

    def __init__(self, runs: Any):  # services.payments.runs.PayoutRuns
        self.runs = runs

    def head(self) -> int:
        return int(self.runs.recorder.max_notification_id() or 0)

    def read(self, after: int, limit: int) -> tuple[list[Message], int]:
        from services.payments.model import Run
        from services.payments.runs import PayoutRunClosed
        from services.platform.collector import collector_paused

        stop = self.head()
        if stop <= after:
            return [], after
        notifications = self.runs.recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )
        messages = []
        for n in notifications:
            with collector_paused():
                domain_event = self.runs.mapper.to_domain_event(n)
            if not isinstance(domain_event, PayoutRunClosed):
                continue  # the ledger's entries: the order of closes, not a run
            fields = {k: getattr(domain_event, k, None) for k in PayoutRunClosed.__annotations__}
            run = Run.from_event_fields(fields)
            rendered = {**run.to_json_head(), **run.to_json_tail(), "checkpoint": run.checkpoint}
            messages.append(run_message(rendered, str(n.originator_id), n.id))
        upto = notifications[-1].id if len(notifications) == limit else stop
        return messages, upto


class RelayFailure(Exception):
    """A send was not acknowledged; the batch stopped at it."""


class Superseded(Exception):
    """Another relay moved this lane's position: this one is not (or no longer) the leader."""


@dataclass(frozen=True)
class LaneStatus:
    lane: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def lane_position(tx: Tx, lane: str, *, lock: bool = False) -> int:
    if lock and tx.dialect == "postgresql":
        tx.execute(
            "INSERT INTO kafka_relay (lane, position, updated_at) VALUES (%s, 0, '') "
            "ON CONFLICT (lane) DO NOTHING",
            (lane,),
        )
        value = tx.scalar("SELECT position FROM kafka_relay WHERE lane = %s FOR UPDATE", (lane,))
    else:
        value = tx.scalar("SELECT position FROM kafka_relay WHERE lane = %s", (lane,))
    return int(value) if value is not None else 0


def relay_positions(db: Database) -> dict[str, int]:
    with db.transaction() as tx:
        setup_relay_tables(tx)
        rows = tx.execute("SELECT lane, position FROM kafka_relay").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def default_producer(settings: KafkaSettings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=list(settings.bootstrap),
        client_id="insats-relay",
        acks="all",
        enable_idempotence=True,  # broker-side dedupe of the producer's own retries
        linger_ms=5,
        batch_size=256 * 1024,
        delivery_timeout_ms=settings.delivery_timeout_ms,
        request_timeout_ms=settings.request_timeout_ms,
        max_block_ms=settings.max_block_ms,
    )


def ensure_topics(settings: KafkaSettings) -> None:
    """Create the topics the relay writes when they are missing (production creates them with
    their configuration beforehand: deploy/README.md)."""
    admin = KafkaAdminClient(
        bootstrap_servers=list(settings.bootstrap),
        client_id="insats-relay-admin",
        request_timeout_ms=settings.request_timeout_ms,
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(settings.prefix + t, 1 if t == contract.RATES else settings.partitions, 1)
            for t in contract.ALL_TOPICS
            if settings.prefix + t not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another instance was quicker
                admin.create_topics(wanted)
    finally:
        admin.close()


class Relay:
    """A background task (`start`/`stop`, one thread) that publishes the lanes while it leads."""

    def __init__(
        self,
        settings: KafkaSettings,
        db: Database,
        lanes: Sequence[Lane],
        leadership: Leadership,
        *,
        producer_factory: Callable[[KafkaSettings], Any] = default_producer,
        wait_for_new: Callable[[float], None] | None = None,
        name: str = "kafka-relay",
    ):
        self.settings = settings
        self.db = db
        self.lanes = list(lanes)
        self.leadership = leadership
        self.producer_factory = producer_factory
        self.wait_for_new = wait_for_new
        self.name = name
        self._producer: Any = None
        self._topics_checked = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leading = False
        self.failures = 0  # sends that were not acknowledged (metrics)
        with db.transaction() as tx:
            setup_relay_tables(tx)

    # --- one batch ---------------------------------------------------------------------------

    def producer(self) -> Any:
        if self._producer is None:
            if not self._topics_checked:
                ensure_topics(self.settings)
                self._topics_checked = True
            self._producer = self.producer_factory(self.settings)
        return self._producer

    def reset_producer(self) -> None:
        """Drop the producer at once: what it still holds is aborted, never sent after a failed
        message (a fresh producer resends from the recorded position)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # closing a producer whose broker is away may raise
                log.debug("kafka relay: closing the producer failed", exc_info=True)

    def publish_batch(self, lane: Lane) -> int:
        """Publish the next batch of `lane`; returns how many messages the broker acknowledged.
        Raises `RelayFailure` after recording the acknowledged prefix when a send failed."""
        with self.db.transaction() as tx:
            after = lane_position(tx, lane.name)
        messages, upto = lane.read(after, self.settings.batch_size)
        if not messages:
            if upto > after:  # only private entries: move past them
                self._record(lane.name, after, upto, {})
            return 0
        producer = self.producer()
        futures = []
        failure: BaseException | None = None
        for m in messages:
            try:
                futures.append(
                    producer.send(
                        self.settings.prefix + m.topic,
                        key=m.key,
                        value=m.value,
                        headers=list(m.headers),
                    )
                )
            except Exception as exc:  # metadata unavailable, buffer full, too large...
                failure = exc
                break
        try:
            producer.flush(timeout=self.settings.delivery_timeout_ms / 1000 + 5)
        except KafkaError as exc:
            failure = failure or exc
        acked = 0
        partitions: dict[tuple[str, int], tuple[int, int]] = {}
        for m, future in zip(messages, futures, strict=False):
            if not future.is_done or future.failed():
                failure = failure or future.exception or RelayFailure("not acknowledged")
                break
            meta = future.value
            partitions[(meta.topic, meta.partition)] = (m.position, meta.offset)
            acked += 1
        if acked:
            complete = acked == len(messages) and failure is None
            self._record(
                lane.name, after, upto if complete else messages[acked - 1].position, partitions
            )
        if failure is not None:
            self.failures += 1
            self.reset_producer()
            stuck = messages[acked]
            raise RelayFailure(
                f"{lane.name}: {stuck.topic} message {stuck.event_id} at position "
                f"{stuck.position} not acknowledged ({type(failure).__name__}: {failure}); "
                f"{acked} before it recorded"
            )
        return acked

    def _record(
        self,
        lane: str,
        expected: int,
        position: int,
        partitions: dict[tuple[str, int], tuple[int, int]],
    ) -> None:
        with self.db.transaction() as tx:
            current = lane_position(tx, lane, lock=True)
            if current != expected:
                raise Superseded(f"{lane}: position {current}, expected {expected}")
            tx.execute(
                "INSERT INTO kafka_relay (lane, position, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (lane) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at",
                (lane, position, _now()),
            )
            if partitions:
                tx.executemany(
                    "INSERT INTO kafka_relay_partitions (topic, part, position, next_offset) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (topic, part) DO UPDATE SET "
                    "position = CASE WHEN excluded.position > kafka_relay_partitions.position "
                    "THEN excluded.position ELSE kafka_relay_partitions.position END, "
                    "next_offset = CASE WHEN excluded.next_offset > "
                    "kafka_relay_partitions.next_offset THEN excluded.next_offset "
                    "ELSE kafka_relay_partitions.next_offset END",
                    [(t, p, pos, off + 1) for (t, p), (pos, off) in sorted(partitions.items())],
                )

    def run_once(self) -> int:
        """One batch of every lane (the caller holds leadership)."""
        return sum(self.publish_batch(lane) for lane in self.lanes)

    def catch_up(self, timeout: float = 60.0) -> int:
        """Publish until every lane is at its head (tests, benchmarks, `insats relay --once`)."""
        deadline = time.monotonic() + timeout
        total = 0
        while True:
            moved = self.run_once()
            total += moved
            if moved == 0 and all(s.lag == 0 for s in self.status()):
                return total
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not catch up in time")

    def status(self) -> list[LaneStatus]:
        positions = relay_positions(self.db)
        return [
            LaneStatus(lane.name, positions.get(lane.name, 0), lane.head()) for lane in self.lanes
        ]

    # --- background --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.delivery_timeout_ms / 1000 + 15)
            self._thread = None
        self.reset_producer()
        self.leadership.release()
        self.leading = False

    def _run(self) -> None:
        backoff = self.settings.poll_interval
        failing = False
        while not self._stop.is_set():
            if not self.leadership.acquire():
                if self.leading:
                    log.warning("kafka relay: not the leader any more; waiting")
                    self.reset_producer()
                self.leading = False
                self._stop.wait(self.settings.poll_interval * 2)
                continue
            self.leading = True
            try:
                moved = self.run_once()
            except (RelayFailure, KafkaError, *TRANSIENT_ERRORS) as exc:
                # The broker (or the database) is away: said once per outage, retried with a
                # growing pause. Commands go on meanwhile; the relay catches up afterwards.
                if not failing:
                    log.warning("kafka relay: %s; retrying", exc)
                else:
                    log.debug("kafka relay: still failing: %s", exc)
                failing = True
                self.reset_producer()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            except Superseded as exc:
                log.warning("kafka relay: %s; another relay publishes", exc)
                self.leadership.release()
                self.leading = False
                self._stop.wait(self.settings.poll_interval)
                continue
            except Exception:
                log.exception("kafka relay failed; retrying")  # loud: a bug or a bad entry
                self.reset_producer()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if failing:
                log.warning("kafka relay: publishing again")
                failing, backoff = False, self.settings.poll_interval
            if moved == 0:
                if self.wait_for_new is not None:
                    self.wait_for_new(self.settings.poll_interval)
                else:
                    self._stop.wait(self.settings.poll_interval)
