"""The read-model feed: one mechanism that keeps read models up to date from an ordered event log.

A `Projection` consumes public events (the contract in `contracts.events`) in batches. For each
batch, the runner applies the projection's changes and records the projection's new position in
`feed_tracking` **in the same database transaction**, so a crash neither loses nor repeats an
effect: on restart the projection resumes after the last committed position.

A projection that cannot apply an event stops alone, loudly: the runner applies the batch again
one event at a time, commits what it can, and records the event it failed on and the error in
`feed_failures` (in the database, so every instance sees it). The other projections go on; the
failed one is skipped until a new process starts (a fixed release) or `insats readmodels rebuild
NAME`; what it backs answers 503 (`ReadModelStopped`), never stale figures presented as current.
An unreachable database is not a projection failure: the batch is retried until it is back.

Sources: the lifecycle event store (polled; on PostgreSQL woken by LISTEN/NOTIFY as well, with a
timer as fallback, because a NOTIFY can be lost) or, in production, a Kafka topic. The runner does
not care which, it only needs `EventSource.read(after, limit)`.
"""

from __future__ import annotations

import bisect
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import psycopg
import psycopg_pool
from eventsourcing import persistence

from contracts.events import PublicEvent
from services.platform.db import Database, Tx
from services.platform.refusal import Unavailable

log = logging.getLogger(__name__)

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS feed_tracking ("
    "name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT NOT NULL)"
)
FAILURES_DDL = (
    "CREATE TABLE IF NOT EXISTS feed_failures ("
    "name TEXT PRIMARY KEY, position BIGINT NOT NULL, event_id TEXT NOT NULL, "
    "event_type TEXT NOT NULL, error TEXT NOT NULL, failed_at TEXT NOT NULL)"
)
SCHEMA_DDL = (
    "CREATE TABLE IF NOT EXISTS feed_schema (name TEXT PRIMARY KEY, version BIGINT NOT NULL)"
)
# Which feed owns a read model: absent or 'store' (this runner), or 'kafka' (a consumer group,
# services.platform.kafka.consumer). In the database, so every process agrees.
SOURCES_DDL = (
    "CREATE TABLE IF NOT EXISTS feed_sources (name TEXT PRIMARY KEY, source TEXT NOT NULL)"
)

# Events per page (and transaction) of a replay of the whole log: a rebuild, or a verify's
# replay into a new database. Larger pages mean fewer commits, each rewriting the pages of every
# read model it touched; memory is still bounded by the page.
REBUILD_PAGE = 5000

# The longest pause between attempts while the database is away.
MAX_BACKOFF_SECONDS = 15.0

# Tables of the feed itself, not of any read model (replay-and-verify leaves them out).
FEED_TABLES = frozenset({"feed_tracking", "feed_failures", "feed_schema", "feed_sources"})

# Errors that mean "the database is not reachable (now)", not "this event cannot be applied".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    sqlite3.OperationalError,
    persistence.OperationalError,
    persistence.InterfaceError,
)


@dataclass(frozen=True)
class Failure:
    """Where a projection stopped: the event it could not apply and why."""

    name: str
    position: int  # the event's position in the log (the projection has applied all before)
    event_id: str
    event_type: str
    error: str
    failed_at: str

    def describe(self) -> str:
        return (
            f"read model {self.name!r} stopped at event {self.position} ({self.event_type}) "
            f"since {self.failed_at}: {self.error}"
        )


# What a client is told to wait before asking again for what a stopped read model backs.
READ_MODEL_RETRY_AFTER_SECONDS = 60


class ReadModelStopped(Unavailable):
    """What a stopped read model backs cannot be answered (503 naming the read model)."""

    def __init__(self, failure: Failure):
        super().__init__(
            "read_model_unavailable",
            f"read model {failure.name!r} is stopped at event {failure.position} "
            f"({failure.event_type}) and cannot answer until an operator has fixed it "
            f"(insats readmodels status / rebuild {failure.name})",
            retry_after=READ_MODEL_RETRY_AFTER_SECONDS,
        )
        self.failure = failure
        self.name = failure.name


def setup_tables(tx: Tx) -> None:
    """The feed's own tables (idempotent); services that read a read model call it too, so
    `require_running` works before any feed ran."""
    tx.execute(TRACKING_DDL)
    tx.execute(FAILURES_DDL)
    tx.execute(SCHEMA_DDL)
    tx.execute(SOURCES_DDL)


def fed_elsewhere(tx: Tx, name: str) -> bool:
    """True while a Kafka consumer group feeds read model `name`: this runner leaves it alone
    (applying store events to it as well would apply them twice)."""
    source = tx.scalar("SELECT source FROM feed_sources WHERE name = %s", (name,))
    return source is not None and source != "store"


def _check_schema(tx: Tx, projection: Projection) -> None:
    """A read model whose stored form changed (its `schema_version`) is rebuilt from the log:
    its tables are reset here and the feed applies every event again."""
    declared = int(getattr(projection, "schema_version", 1))
    stored = tx.scalar("SELECT version FROM feed_schema WHERE name = %s", (projection.name,))
    if stored is None:
        # Read models from before versions were recorded are version 1.
        stored = 1 if tracked_position(tx, projection.name) else declared
    if int(stored) != declared:
        log.warning(
            "read model %r changed its stored form (version %s to %s): rebuilding it from the log",
            projection.name,
            stored,
            declared,
        )
        projection.reset(tx)
        tx.execute("DELETE FROM feed_tracking WHERE name = %s", (projection.name,))
        tx.execute("DELETE FROM feed_failures WHERE name = %s", (projection.name,))
    tx.execute(
        "INSERT INTO feed_schema (name, version) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
        (projection.name, declared),
    )


def failure_of(tx: Tx, name: str) -> Failure | None:
    row = tx.execute(
        "SELECT name, position, event_id, event_type, error, failed_at FROM feed_failures "
        "WHERE name = %s",
        (name,),
    ).fetchone()
    return None if row is None else Failure(row[0], int(row[1]), *row[2:])


def failures(tx: Tx) -> dict[str, Failure]:
    rows = tx.execute(
        "SELECT name, position, event_id, event_type, error, failed_at FROM feed_failures"
    ).fetchall()
    return {r[0]: Failure(r[0], int(r[1]), *r[2:]) for r in rows}


def require_running(tx: Tx, name: str) -> None:
    """Refuse to answer from read model `name` while it is stopped (call inside the read's
    transaction, so the answer and the check see the same state)."""
    failure = failure_of(tx, name)
    if failure is not None:
        raise ReadModelStopped(failure)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Projection(Protocol):
    """A read model fed by the feed.

    `setup` creates its tables if missing (idempotent); `reset` removes all its rows (for a
    rebuild from scratch); `handle` applies one batch of events in order. All three run inside
    the transaction they are given and must not commit."""

    name: str
    # Optional `schema_version: int` (1 when absent): raise it when the stored form changes,
    # and the feed rebuilds the read model from the log once.

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
        (name, position, _now()),
    )


def _record_failure(tx: Tx, name: str, event: PublicEvent, error: BaseException) -> Failure:
    text = f"{type(error).__name__}: {error}"[:1000]
    failure = Failure(name, event.position, event.event_id, event.type, text, _now())
    tx.execute("DELETE FROM feed_failures WHERE name = %s", (name,))
    tx.execute(
        "INSERT INTO feed_failures (name, position, event_id, event_type, error, failed_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (name, event.position, event.event_id, event.type, failure.error, failure.failed_at),
    )
    return failure


class FeedRunner:
    """Feeds a set of projections from one source; each projection tracks its own position."""

    name = "feed"  # as a background task (services.platform.tasks)

    def __init__(
        self,
        source: EventSource,
        db: Database,
        projections: Iterable[Projection],
        *,
        batch_size: int = 1000,
        rebuild_batch_size: int = REBUILD_PAGE,
        poll_interval: float = 1.0,
        on_batch: Callable[[Projection, Sequence[PublicEvent]], None] | None = None,
    ):
        self.source = source
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.rebuild_batch_size = rebuild_batch_size
        self.poll_interval = poll_interval
        self.on_batch = on_batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._lock = threading.Lock()  # one catch-up at a time per runner
        with db.transaction() as tx:
            setup_tables(tx)
            for p in self.projections.values():
                _check_schema(tx, p)
                p.setup(tx)

    # --- positions ---------------------------------------------------------------------------

    def position(self, name: str) -> int:
        with self.db.transaction() as tx:
            return tracked_position(tx, name)

    def positions(self) -> dict[str, int]:
        with self.db.transaction() as tx:
            return {name: tracked_position(tx, name) for name in self.projections}

    def failures(self) -> dict[str, Failure]:
        """The stopped projections (of this runner) and where they stopped."""
        with self.db.transaction() as tx:
            return {n: f for n, f in failures(tx).items() if n in self.projections}

    # --- processing --------------------------------------------------------------------------

    def catch_up(
        self,
        names: Iterable[str] | None = None,
        *,
        retry_stopped: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Apply every event not yet applied; returns how many events were applied in total
        (an event applied to three read models counts three times).

        Stopped projections are skipped, unless `retry_stopped` (a process starting, perhaps
        with a fixed release): then each is tried once more from where it stopped.
        `progress(position)` is called after each page with the log position reached."""
        selected = [self.projections[n] for n in names] if names else self.projections.values()
        with self._lock:
            stopped = self.failures()
            if retry_stopped and stopped:
                with self.db.transaction() as tx:
                    for name in stopped:
                        tx.execute("DELETE FROM feed_failures WHERE name = %s", (name,))
                stopped = {}
            applied = self._catch_up_together(
                [p for p in selected if p.name not in stopped], progress
            )
        if applied:
            with self._progress:
                self._progress.notify_all()
        return applied

    def _catch_up_together(
        self,
        projections: Sequence[Projection],
        progress: Callable[[int], None] | None = None,
        batch_size: int | None = None,
    ) -> int:
        """One pass over the log for all `projections`: each page is read (and decoded) once
        and applied to every projection that has not yet applied it, in one transaction per
        page. If a page fails, the projections go on one at a time from where they are, so
        the one that cannot apply an event stops alone (`_catch_up_one`)."""
        applied = 0
        pending = list(projections)
        size = batch_size or self.batch_size
        while pending:
            try:
                with self.db.transaction() as tx:
                    positions = {}
                    for projection in pending:
                        position = claim_position(tx, projection.name)
                        if not fed_elsewhere(tx, projection.name):
                            positions[projection.name] = position
                    pending = [p for p in pending if p.name in positions]
                    if not pending:
                        return applied
                    events = self.source.read(min(positions.values()), size)
                    if not events:
                        return applied
                    done = []
                    for projection in pending:
                        after = positions[projection.name]
                        mine = _after(events, after)
                        if mine:
                            projection.handle(tx, mine)
                            _record_position(tx, projection.name, mine[-1].position)
                            done.append((projection, mine))
            except TRANSIENT_ERRORS:
                raise  # the database is away: retried by the caller, nothing was applied
            except Exception:
                return applied + sum(self._catch_up_one(p) for p in pending)
            for projection, mine in done:
                applied += len(mine)
                if self.on_batch is not None:
                    self.on_batch(projection, mine)
            if progress is not None:
                progress(events[-1].position)
            if len(events) < size:
                return applied
        return applied

    def _catch_up_one(self, projection: Projection) -> int:
        applied = 0
        while True:
            try:
                with self.db.transaction() as tx:
                    after = claim_position(tx, projection.name)
                    if fed_elsewhere(tx, projection.name):
                        return applied
                    events = self.source.read(after, self.batch_size)
                    if not events:
                        return applied
                    projection.handle(tx, events)
                    _record_position(tx, projection.name, events[-1].position)
            except TRANSIENT_ERRORS:
                raise  # the database is away: retried by the caller, nothing was applied
            except Exception:
                # Find the event it cannot apply: the same events again, one per transaction.
                return applied + self._apply_one_by_one(projection)
            applied += len(events)
            if self.on_batch is not None:
                self.on_batch(projection, events)
            if len(events) < self.batch_size:
                return applied

    def _apply_one_by_one(self, projection: Projection) -> int:
        """Apply a batch that failed event by event; stop the projection at the first event it
        cannot apply (the events before it are committed). Returns how many were applied."""
        applied = 0
        for _ in range(self.batch_size):
            event: PublicEvent | None = None
            try:
                with self.db.transaction() as tx:
                    after = claim_position(tx, projection.name)
                    events = self.source.read(after, 1)
                    if not events:
                        return applied
                    event = events[0]
                    projection.handle(tx, events)
                    _record_position(tx, projection.name, event.position)
            except TRANSIENT_ERRORS:
                raise
            except Exception as error:
                if event is None:
                    raise  # the log itself cannot be read: not this projection's failure
                with self.db.transaction() as tx:
                    failure = _record_failure(tx, projection.name, event, error)
                log.exception("read model stopped: %s", failure.describe())
                return applied
            applied += 1
            if self.on_batch is not None:
                self.on_batch(projection, [event])
        return applied

    def rebuild(
        self,
        names: str | Iterable[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Forget the projections' state, positions and failures (all of this runner's when
        `names` is None), then replay the whole log into them in one pass (how a stopped read
        model is brought back after a fix). Returns the events applied, summed over them."""
        selected = (
            list(self.projections.values())
            if names is None
            else [self.projections[n] for n in ([names] if isinstance(names, str) else names)]
        )
        with self._lock:
            with self.db.transaction() as tx:
                for projection in selected:
                    projection.reset(tx)
                    projection.setup(tx)
                    tx.execute("DELETE FROM feed_tracking WHERE name = %s", (projection.name,))
                    tx.execute("DELETE FROM feed_failures WHERE name = %s", (projection.name,))
            return self._catch_up_together(selected, progress, self.rebuild_batch_size)

    def wait_until(self, position: int, timeout: float = 10.0) -> None:
        """Block until every projection has applied the log up to `position` (read your writes).

        Catches up inline when no background thread runs, so callers never depend on timing."""
        if self._thread is None:
            self.catch_up()
            return
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._lowest_running_position(position) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"read models did not reach position {position}")
                self._progress.wait(min(remaining, 0.05))

    def _lowest_running_position(self, default: int) -> int:
        with self.db.transaction() as tx:
            stopped = failures(tx)
            return min(
                (tracked_position(tx, n) for n in self.projections if n not in stopped),
                default=default,
            )

    # --- background --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        retry_stopped = True  # a new process may run a fixed release: try stopped ones once
        backoff = self.poll_interval
        away = False
        while not self._stop.is_set():
            try:
                applied = self.catch_up(retry_stopped=retry_stopped)
                retry_stopped = False
                if away:
                    log.warning("read-model feed: the database is back; feeding again")
                    away, backoff = False, self.poll_interval
                if applied == 0:
                    self.source.wait_for_new(self.poll_interval)
            except TRANSIENT_ERRORS as exc:
                # An outage: said once (not a traceback every few seconds), retried with a
                # growing pause, resumed by itself when the database is back.
                if not away:
                    log.warning("read-model feed: database unavailable (%s); retrying", exc)
                away = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # the log itself unreadable: loud, and retried
                log.exception("read-model feed failed; retrying")
                self._stop.wait(self.poll_interval)


def _after(events: Sequence[PublicEvent], position: int) -> Sequence[PublicEvent]:
    """The events of a page (in log order) after `position`."""
    return events[bisect.bisect_right(events, position, key=lambda e: e.position) :]


class UpTo:
    """An EventSource that shows only the events up to `bound` (a replay to a position: an
    auditor's verification, a payout run recomputed at its position)."""

    def __init__(self, source: EventSource, bound: int = 0):
        self.source = source
        self.bound = bound

    def read(self, after: int, limit: int) -> Sequence[PublicEvent]:
        if after >= self.bound:
            return []
        return [e for e in self.source.read(after, limit) if e.position <= self.bound]

    def max_position(self) -> int:
        return min(self.source.max_position(), self.bound)

    def wait_for_new(self, timeout: float) -> None:
        return None


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
