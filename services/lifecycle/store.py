"""Where events and read models live: an SQLite file (embedded default) or PostgreSQL."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import PoolClosed, PoolTimeout, TooManyRequests

from services.platform.db import (
    Database,
    PgTimeouts,
    PostgresDatabase,
    SQLiteDatabase,
    check_if_idle,
)

# How long an instance starting waits for another that is creating the tables.
STARTUP_LOCK_WAIT_SECONDS = 60


@dataclass(frozen=True)
class StoreConfig:
    """`sqlite_file` is the event store file (read models and keys live beside it);
    `postgres_url` a libpq URL/DSN."""

    sqlite_file: Path | None = None
    postgres_url: str | None = None
    schema: str = "public"
    cipher_key: str | None = None
    timeouts: PgTimeouts = field(default_factory=PgTimeouts.from_env)

    @property
    def kind(self) -> str:
        return "postgresql" if self.postgres_url else "sqlite"

    def eventsourcing_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.postgres_url:
            params = conninfo_to_dict(self.postgres_url)
            env.update(
                PERSISTENCE_MODULE=f"{__name__}:{FailFastPostgresFactory.__qualname__}",
                POSTGRES_DBNAME=str(params.get("dbname", "postgres")),
                POSTGRES_HOST=str(params.get("host", "127.0.0.1")),
                POSTGRES_PORT=str(params.get("port", "5432")),
                POSTGRES_USER=str(params.get("user", "postgres")),
                POSTGRES_PASSWORD=str(params.get("password", "")),
                POSTGRES_SCHEMA=self.schema,
                # Connections kept open per instance, and how many more it may open under load:
                # PostgreSQL's max_connections (100 by default) is shared by every replica.
                POSTGRES_POOL_SIZE="4",
                POSTGRES_MAX_OVERFLOW="12",
                POSTGRES_LOCK_TIMEOUT="5",
                # The library's name for the wait for a pooled connection (not libpq's).
                POSTGRES_CONNECT_TIMEOUT=str(self.timeouts.pool),
                # A pooled connection that broke while idle is replaced before use.
                POSTGRES_PRE_PING="n",  # `check_if_idle` instead, set by the factory
                POSTGRES_ENABLE_DB_FUNCTIONS="n",  # SPEC §10: functions collide across apps
                **self.timeouts.as_env(),  # read by FailFastPostgresFactory
            )
        else:
            assert self.sqlite_file is not None
            self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=str(self.sqlite_file),
                SQLITE_LOCK_TIMEOUT="30",
            )
        if self.cipher_key:
            env.update(
                CIPHER_TOPIC="eventsourcing.cryptography:AESCipher", CIPHER_KEY=self.cipher_key
            )
        return env

    @contextmanager
    def startup_lock(self) -> Iterator[None]:
        """One instance at a time creates and checks its tables (PostgreSQL: an advisory lock
        on a connection of its own). Concurrent `CREATE ... IF NOT EXISTS` of the same objects
        fails in PostgreSQL ("tuple concurrently updated"), so instances started together
        would otherwise fail at random. SQLite serialises its writers anyway."""
        if not self.postgres_url:
            yield
            return
        with psycopg.connect(
            self.postgres_url, autocommit=True, **self.timeouts.connect_kwargs()
        ) as conn:
            # Another instance may be setting up; it holds the lock for about a second.
            conn.execute(f"SET statement_timeout = '{STARTUP_LOCK_WAIT_SECONDS}s'")
            key = f"insats:setup:{self.schema}"
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def create_schema(self) -> None:
        if self.postgres_url:
            with psycopg.connect(
                self.postgres_url, autocommit=True, **self.timeouts.connect_kwargs()
            ) as conn:
                conn.execute(
                    psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        psycopg.sql.Identifier(self.schema)
                    )
                )

    def readmodel_db(self) -> Database:
        if self.postgres_url:
            return PostgresDatabase(self.postgres_url, schema=self.schema, timeouts=self.timeouts)
        return SQLiteDatabase(self.beside("readmodels.db"))

    def probe(self) -> None:
        """Raises unless the stores answer a trivial query within `timeouts.readiness`.

        A connection of its own, never one of the request pools: it must not wait behind
        requests that are blocked on an unreachable database."""
        if self.postgres_url:
            # Events and read models share the database (and schema).
            with psycopg.connect(
                self.postgres_url, autocommit=True, **self.timeouts.probe_kwargs()
            ) as pg:
                pg.execute("SELECT 1")
            return
        assert self.sqlite_file is not None
        for path in (self.sqlite_file, self.beside("readmodels.db")):
            # mode=rw: a missing file is not ready (and is not created by the probe).
            uri = path.resolve().as_uri() + "?mode=rw"
            lite = sqlite3.connect(uri, uri=True, timeout=self.timeouts.readiness)
            try:
                lite.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                lite.close()

    def beside(self, suffix: str) -> Path:
        """A file next to the SQLite event store: `var/insats.db` → `var/insats.<suffix>`."""
        assert self.sqlite_file is not None
        return self.sqlite_file.with_name(f"{self.sqlite_file.stem}.{suffix}")

    def person_key(self) -> bytes:
        """INSATS_PERSON_KEY (hex), or for the embedded default a key file made on first start."""
        key = self.configured_person_key()
        if key is not None:
            return key
        if self.postgres_url:
            raise RuntimeError(
                "INSATS_PERSON_KEY (64 hex characters) must be set when using PostgreSQL: "
                "every instance must derive the same person references"
            )
        with contextlib.suppress(FileExistsError):  # another process made it first
            self.install_person_key(secrets.token_bytes(32))
        key = self.configured_person_key()
        assert key is not None
        return key

    def configured_person_key(self) -> bytes | None:
        """The person key if one is configured or was made already (nothing is created)."""
        configured = os.environ.get("INSATS_PERSON_KEY", "").strip()
        if configured:
            return bytes.fromhex(configured)
        if self.postgres_url:
            return None
        path = self.beside("person-ref.key")
        if not path.exists():
            return None
        return bytes.fromhex(path.read_text(encoding="utf-8").strip())

    def install_person_key(self, key: bytes) -> None:
        """Keep the embedded default's person key in its file (readable by the owner only)."""
        path = self.beside("person-ref.key")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=False)
        path.write_text(key.hex() + "\n", encoding="utf-8")


# --- PostgreSQL event store: eventsourcing's factory with the service's timeouts ---------------


def _broken_connection(exc: BaseException) -> bool:
    """Whether another attempt may succeed: the connection broke (the server restarted or
    dropped it), so a fresh one may work. Not when no connection came within the pool timeout
    (the database is away or saturated: trying again only multiplies the wait), nor for a
    statement or lock timeout (the server is there but busy)."""
    cause = exc.__cause__
    if isinstance(cause, PoolTimeout | TooManyRequests | PoolClosed):
        return False
    if isinstance(cause, psycopg.Error):
        state = cause.sqlstate
        # No SQLSTATE: the client lost the connection. 08: connection exception.
        # 57P01-57P03: the server is shutting down or restarting.
        return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    return False


_ATTEMPTS = 3
# Statements of up to this many rows are composed (and prepared) once (`FailFastRecorder`).
_CACHED_ROWS = 64


def _retried_on_broken_connection(method: Callable[..., Any]) -> Callable[..., Any]:
    """The library retries these calls up to 10 times on any OperationalError; during an
    outage each attempt waits the pool timeout, so one request hung for ~30 s. This retries
    only a broken connection, at most `_ATTEMPTS` times in all."""
    call = inspect.unwrap(method)  # the library's function without its @retry

    @functools.wraps(call)
    def retried(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return call(*args, **kwargs)
            except (InterfaceError, OperationalError) as exc:
                if attempt == _ATTEMPTS or not _broken_connection(exc):
                    raise
                time.sleep(0.2)  # the library's wait between attempts
        raise AssertionError("unreachable")

    return retried


class _Command:
    """One command's records waiting for a group commit, and how it went."""

    __slots__ = ("done", "error", "events", "ids")

    def __init__(self, events: Sequence[StoredEvent]):
        self.events = events
        self.ids: Sequence[int] = ()
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> Sequence[int]:
        if self.error is not None:
            raise self.error
        return self.ids


class GroupCommit:
    """Concurrent commands of one process recorded in one transaction (group commit).

    A command's records join a queue. If no transaction is being written, the command writes
    the queue, its own records and those of every command that joined meanwhile, in one
    transaction; otherwise it waits: for the writer to have written its records, or to take
    over the queue when the writer is done. A command alone is written at once, as before; under
    load, one transaction — one table lock, one INSERT, one commit — carries many commands.

    Each command stays all or nothing, and optimistic concurrency is unchanged: if the
    transaction fails on a unique key (some command's stream version is stale, or an
    idempotency or person-lock record exists already), nothing of it is kept, and the commands
    are written again one transaction each, so only the stale one fails, with the error it
    would have had alone. Any other failure (the database away) is every command's of the
    transaction, as if each had been written alone at that moment."""

    # Records per transaction at most (a few hundred commands): the statement stays small.
    MAX_EVENTS = 512

    def __init__(
        self,
        write_one: Callable[[Sequence[StoredEvent]], Sequence[int]],
        write_many: Callable[[Sequence[Sequence[StoredEvent]]], list[list[int]]],
    ):
        self._write_one, self._write_many = write_one, write_many
        self._queue: list[_Command] = []
        self._writing = False
        self._changed = threading.Condition(threading.Lock())

    def record(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        command = _Command(events)
        with self._changed:
            self._queue.append(command)
        while True:
            with self._changed:
                while self._writing and not command.done:
                    self._changed.wait()
                if command.done:
                    return command.outcome()
                self._writing = True
                group = self._take()
            try:
                self._write(group)
            finally:
                with self._changed:
                    for member in group:
                        member.done = True
                    self._writing = False
                    self._changed.notify_all()

    def _take(self) -> list[_Command]:
        """The queue's first commands, up to `MAX_EVENTS` records (at least one command)."""
        group: list[_Command] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].events) <= self.MAX_EVENTS):
            group.append(self._queue.pop(0))
            size += len(group[-1].events)
        return group

    def _write(self, group: list[_Command]) -> None:
        if len(group) > 1:
            try:
                for member, ids in zip(
                    group, self._write_many([m.events for m in group]), strict=True
                ):
                    member.ids = ids
                return
            except IntegrityError:
                pass  # one of them is stale: each alone, so only that one fails
            except BaseException as error:
                for member in group:
                    member.error = error
                return
        for member in group:
            try:
                member.ids = self._write_one(member.events)
            except BaseException as error:
                member.error = error


class FailFastRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder whose calls fail fast when the database is away.

    Two calls are its own, for the write path (what the library does in several round trips,
    each holding the table lock across the network):
      - `insert_events` sends the whole transaction — BEGIN, the lock timeout, the table
        lock, NOTIFY, the INSERT, COMMIT — as one simple-query message (parameters bound on
        the client): one round trip, the table lock held only while the server runs it, and
        about half the client CPU of the library's pipeline. The same statements as the
        library's, so the same guarantees: commit order is notification order, a stale
        version fails the unique key (IntegrityError: the rest is skipped, the transaction
        rolled back, nothing of it kept);
      - `select_streams` reads what is new in several streams in one query."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        # The statements but for their rows of values (one per event or stream), composed
        # per number of rows by `_statement`.
        self._insert_head = SQL("; ").join(
            [
                SQL("BEGIN"),
                *self.lock_table_statements,
                SQL("NOTIFY {0}").format(Identifier(self.channel_name)),
                SQL(
                    "INSERT INTO {0} (originator_id, originator_version, topic, state) VALUES "
                ).format(table),
            ]
        )
        self._select_streams_tail = SQL(
            ") AS q(id, after) JOIN {0} e "
            "ON e.originator_id = q.id AND e.originator_version > q.after "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(table)
        self._statements: dict[tuple[str, int, str], bytes] = {}
        self._group = GroupCommit(self._insert_now, self._insert_together)

    def _statement(self, kind: str, conn: psycopg.Connection[Any], rows: int) -> bytes:
        """The statement `kind` ("insert" or "select") for `rows` rows of values, composed once
        per number of rows (a command saves a few events, reads a few streams): a row of
        scalars per event or stream binds in a fraction of the time arrays take, and the
        planner knows how many rows there are."""
        key = (kind, rows, conn.info.encoding)
        statement = self._statements.get(key)
        if statement is None:
            head: Composable
            tail: Composable
            if kind == "insert":
                row = SQL("(%s::uuid, %s::bigint, %s::text, %s::bytea)")
                head, tail = self._insert_head, SQL(" RETURNING notification_id; COMMIT")
            else:
                row = SQL("(%s::uuid, %s::bigint)")
                head = SQL(
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM (VALUES "
                )
                tail = self._select_streams_tail
            statement = (head + SQL(", ").join([row] * rows) + tail).as_bytes(conn)
            if rows <= _CACHED_ROWS:
                self._statements[key] = statement
        return statement

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if (
            not stored_events
            or any(v is not None for v in kwargs.values())  # tracking: the library's way
            or self.datastore.enable_db_functions
        ):
            return _library_insert_events(self, stored_events, **kwargs)
        return self._group.record(stored_events)

    def _insert_together(self, commands: Sequence[Sequence[StoredEvent]]) -> list[list[int]]:
        """Several commands' records in one transaction, each command's positions apart."""
        ids = self._insert_now([e for events in commands for e in events])
        out, start = [], 0
        for events in commands:
            out.append(list(ids[start : start + len(events)]))
            start += len(events)
        return out

    @_retried_on_broken_connection
    def _insert_now(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        params = [
            value
            for e in stored_events
            for value in (e.originator_id, e.originator_version, e.topic, e.state)
        ]
        with self.datastore.get_connection() as conn:
            try:
                # Bound on the client: one simple-query message holds all the statements.
                with psycopg.ClientCursor(conn, row_factory=tuple_row) as curs:
                    curs.execute(self._statement("insert", conn, len(stored_events)), params)
                    while not (curs.statusmessage or "").startswith("INSERT"):
                        if not curs.nextset():
                            raise AssertionError("no INSERT result")
                    return [notification_id for (notification_id,) in curs.fetchall()]
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):  # a broken one is discarded
                        conn.rollback()  # the failed transaction: nothing of it is kept
                raise

    @_retried_on_broken_connection
    def select_streams(self, after: Sequence[tuple[UUID, int]]) -> list[StoredEvent]:
        """The events of each stream `id` after version `after`, in stream and version order,
        in one query (one snapshot of the table)."""
        if not after:
            return []
        # Rows as tuples: the pool's dict rows cost a dict per row and their names per query.
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            rows = len(after)
            curs.execute(
                self._statement("select", conn, rows),
                [value for stream in after for value in stream],
                prepare=rows <= _CACHED_ROWS or None,  # a prepared statement per common size
            )
            return [
                StoredEvent(
                    originator_id=stream_id,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state),
                )
                for stream_id, version, topic, state in curs.fetchall()
            ]

    select_events = _retried_on_broken_connection(PostgresApplicationRecorder.select_events)

    @_retried_on_broken_connection
    def stream_positions(self, originator_id: UUID) -> list[int]:
        """The log positions of one stream's records in version order, by the table's key."""
        statement = SQL(
            "SELECT notification_id FROM {schema}.{table} WHERE originator_id = %s "
            "ORDER BY originator_version"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (originator_id,))
            return [int(row["notification_id"]) for row in curs.fetchall()]

    select_notifications = _retried_on_broken_connection(
        PostgresApplicationRecorder.select_notifications
    )
    max_notification_id = _retried_on_broken_connection(
        PostgresApplicationRecorder.max_notification_id
    )


_library_insert_events = _retried_on_broken_connection(PostgresApplicationRecorder.insert_events)


class FailFastPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory (all its POSTGRES_* settings apply) with a libpq
    connect timeout and a statement timeout on every connection of its pool, a short
    reconnect back-off, and `FailFastRecorder`.

    Why a subclass: the library builds its pool with fixed `kwargs` (no `connect_timeout`, no
    `options`) and no `reconnect_timeout`; it has no setting for either. The pool is built
    closed (it opens on first use), so setting them here, before any connection is made,
    applies them to every connection it will ever make, without copying the library's
    configuration code."""

    application_recorder_class = FailFastRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        timeouts = PgTimeouts.from_env(self.env)
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)
        pool.kwargs.update(timeouts.connect_kwargs())
        pool.reconnect_timeout = timeouts.reconnect
        pool._check = check_if_idle  # no setting for it either (PRE_PING checks every checkout)


def stream_positions(recorder: Any, originator_id: UUID) -> list[int]:
    """The log positions of one stream's records in version order, read by the events table's
    primary key (originator, version) on either store: no scan of the log."""
    if isinstance(recorder, FailFastRecorder):
        return recorder.stream_positions(originator_id)
    with recorder.datastore.transaction(commit=False) as c:  # eventsourcing's SQLite recorder
        c.execute(
            f"SELECT rowid FROM {recorder.events_table_name} WHERE originator_id = ? "
            "ORDER BY originator_version",
            (originator_id.hex,),
        )
        return [int(row["rowid"]) for row in c.fetchall()]
