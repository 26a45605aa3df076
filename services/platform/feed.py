"""The read-model feed: one mechanism that keeps read models up to date from an ordered event log.

A `Projection` consumes public events (the contract in `contracts.events`) in batches. For each
batch, the runner applies the projection's changes and records the projection's new position in
`feed_tracking` **in the same database transaction**, so a crash neither loses nor repeats an
effect: on restart the projection resumes after the last committed position.

Sources: the lifecycle event store (polled; on PostgreSQL woken by LISTEN/NOTIFY as well, with a
timer as fallback, because a NOTIFY can be lost) or, in production, a Kafka topic. The runner does
not care which, it only needs `EventSource.read(after, limit)`.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from contracts.events import PublicEvent
from services.platform.db import Database, Tx

log = logging.getLogger(__name__)

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS feed_tracking ("
    "name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT NOT NULL)"
)


class Projection(Protocol):
    """A read model fed by the feed.

    `setup` creates its tables if missing (idempotent); `reset` removes all its rows (for a
    rebuild from scratch); `handle` applies one batch of events in order. All three run inside
    the transaction they are given and must not commit."""

    name: str

    def setup(self, tx: Tx) -> None: ...

    def reset(self, tx: Tx) -> None: ...

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None: ...


class EventSource(Protocol):
    def read(self, after: int, limit: int) -> Sequence[PublicEvent]:
        """Events with position > after, in order, at most `limit`."""
        ...

    def max_position(self) -> int: ...

    def wait_for_new(self, timeout: float) -> None:
        """Return when new events may be there, or after `timeout` seconds."""
        ...


def tracked_position(tx: Tx, name: str) -> int:
    pos = tx.scalar("SELECT position FROM feed_tracking WHERE name = %s", (name,))
    return int(pos) if pos is not None else 0


def claim_position(tx: Tx, name: str) -> int:
    """The projection's position, locked until the transaction ends, so two feeders of one
    database (two workers, a worker and a CLI command) never apply the same events twice.
    SQLite needs no row lock: its write transactions already run one at a time."""
    if tx.dialect == "sqlite":
        return tracked_position(tx, name)
    tx.execute(
        "INSERT INTO feed_tracking (name, position, updated_at) VALUES (%s, 0, '') "
        "ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    pos = tx.scalar("SELECT position FROM feed_tracking WHERE name = %s FOR UPDATE", (name,))
    return int(pos)


def _record_position(tx: Tx, name: str, position: int) -> None:
    tx.execute(
        "INSERT INTO feed_tracking (name, position, updated_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
        "updated_at = excluded.updated_at",
        (name, position, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
    )


class FeedRunner:
    """Feeds a set of projections from one source; each projection tracks its own position."""

    def __init__(
        self,
        source: EventSource,
        db: Database,
        projections: Iterable[Projection],
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        on_batch: Callable[[Projection, Sequence[PublicEvent]], None] | None = None,
    ):
        self.source = source
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_batch = on_batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._lock = threading.Lock()  # one catch-up at a time per runner
        with db.transaction() as tx:
            tx.execute(TRACKING_DDL)
            for p in self.projections.values():
                p.setup(tx)

    # --- positions ---------------------------------------------------------------------------

    def position(self, name: str) -> int:
        with self.db.transaction() as tx:
            return tracked_position(tx, name)

    def positions(self) -> dict[str, int]:
        with self.db.transaction() as tx:
            return {name: tracked_position(tx, name) for name in self.projections}

    # --- processing --------------------------------------------------------------------------

    def catch_up(self, names: Iterable[str] | None = None) -> int:
        """Apply every event not yet applied; returns how many events were applied in total."""
        selected = [self.projections[n] for n in names] if names else self.projections.values()
        applied = 0
        with self._lock:
            for projection in selected:
                applied += self._catch_up_one(projection)
        if applied:
            with self._progress:
                self._progress.notify_all()
        return applied

    def _catch_up_one(self, projection: Projection) -> int:
        applied = 0
        while True:
            with self.db.transaction() as tx:
                after = claim_position(tx, projection.name)
                events = self.source.read(after, self.batch_size)
                if not events:
                    return applied
                projection.handle(tx, events)
                _record_position(tx, projection.name, events[-1].position)
            applied += len(events)
            if self.on_batch is not None:
                self.on_batch(projection, events)
            if len(events) < self.batch_size:
                return applied

    def rebuild(self, name: str) -> int:
        """Forget a projection's state and position, then replay the whole log into it."""
        projection = self.projections[name]
        with self._lock:
            with self.db.transaction() as tx:
                projection.reset(tx)
                projection.setup(tx)
                tx.execute("DELETE FROM feed_tracking WHERE name = %s", (name,))
            return self._catch_up_one(projection)

    def wait_until(self, position: int, timeout: float = 10.0) -> None:
        """Block until every projection has applied the log up to `position` (read your writes).

        Catches up inline when no background thread runs, so callers never depend on timing."""
        if self._thread is None:
            self.catch_up()
            return
        deadline = time.monotonic() + timeout
        with self._progress:
            while min(self.positions().values(), default=position) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"read models did not reach position {position}")
                self._progress.wait(min(remaining, 0.05))

    # --- background --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="feed-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.catch_up() == 0:
                    self.source.wait_for_new(self.poll_interval)
            except Exception:  # keep feeding; the error is logged and retried
                log.exception("read-model feed failed; retrying")
                self._stop.wait(self.poll_interval)


class ListEventSource:
    """An in-memory log: a real `EventSource` over a list, for tests, benchmarks and replays
    up to a position (auditors' verification)."""

    def __init__(self, events: Iterable[PublicEvent] = ()):
        self.events: list[PublicEvent] = list(events)

    def append(self, *events: PublicEvent) -> None:
        self.events.extend(events)

    def read(self, after: int, limit: int) -> Sequence[PublicEvent]:
        # Positions increase along the list (appended in log order).
        start = bisect.bisect_right(self.events, after, key=lambda e: e.position)
        return self.events[start : start + limit]

    def max_position(self) -> int:
        return self.events[-1].position if self.events else 0

    def wait_for_new(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.05))
