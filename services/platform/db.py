"""A small database adapter for read models: SQLite (embedded default) or PostgreSQL (psycopg 3).

Read models write portable SQL with `%s` placeholders (or `%(name)s` with a mapping); for SQLite
they are rewritten to `?` (`:name`).
Both dialects support `INSERT ... ON CONFLICT (...) DO UPDATE SET col = excluded.col`.
One `transaction()` is one atomic unit: a read model's update and its tracked position commit in
the same one (see `feed.py`).
"""

from __future__ import annotations

import itertools
import math
import re
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import psycopg
from psycopg_pool import ConnectionPool

from services.platform.settings import numbers_from_env

Dialect = Literal["sqlite", "postgresql"]
# Positional (`%s`) or named (`%(name)s`, with a mapping) parameters.
Params = Sequence[Any] | Mapping[str, Any]

_PLACEHOLDER = re.compile(r"%s")
_NAMED = re.compile(r"%\((\w+)\)s")


class Tx(ABC):
    """A cursor inside one transaction."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Tx: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def fetchone(self) -> tuple[Any, ...] | None: ...

    @abstractmethod
    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    @abstractmethod
    def iterate(self, sql: str, size: int = 5000) -> Iterator[tuple[Any, ...]]:
        """The rows of a query `size` at a time, never all in memory (a PostgreSQL server-side
        cursor): for reading whole tables, as an auditor's verification does."""


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Tx]: ...

    @abstractmethod
    def close(self) -> None: ...


# --- SQLite -----------------------------------------------------------------------------------


class _SQLiteTx(Tx):
    dialect: Dialect = "sqlite"

    def __init__(self, cur: sqlite3.Cursor):
        self._cur = cur

    def execute(self, sql: str, params: Params = ()) -> Tx:
        if isinstance(params, Mapping):
            self._cur.execute(_NAMED.sub(r":\1", sql), dict(params))
        else:
            self._cur.execute(_PLACEHOLDER.sub("?", sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cur.executemany(_PLACEHOLDER.sub("?", sql), [tuple(r) for r in rows])

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]

    def iterate(self, sql: str, size: int = 5000) -> Iterator[tuple[Any, ...]]:
        cur = self._cur.connection.cursor()
        try:
            cur.execute(sql)
            while rows := cur.fetchmany(size):
                yield from rows
        finally:
            cur.close()


class SQLiteDatabase(Database):
    """One connection shared by the process's threads, serialised by a lock.

    SQLite allows one writer at a time anyway; `BEGIN IMMEDIATE` takes the write lock up front
    so a read-then-write transaction never fails half way with SQLITE_BUSY."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(cur)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                cur.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgTimeouts:
    """How long any PostgreSQL connection of the service may wait, so an outage answers within
    seconds instead of hanging requests (and worker threads) for half a minute.

    `connect`: libpq `connect_timeout` of every new connection (libpq rounds up to 2 s at least).
    `pool`: how long a caller waits for a pooled connection before `PoolTimeout`.
    `statement`: the server's `statement_timeout` of every session (0 = off).
    `reconnect`: how long a pool keeps retrying one failed connection in the background before
    it gives the slot up; psycopg_pool backs off exponentially (1, 2, 4, ... s) up to that, so a
    long value delays recovery after an outage — a given-up slot is reconnected at once on the
    next request.
    `readiness`: the `/readyz` probe's own connect and query."""

    connect: int = 3
    pool: int = 3
    statement: float = 5.0
    reconnect: float = 10.0
    readiness: float = 2.0

    ENV: ClassVar[dict[str, str]] = {
        "connect": "INSATS_POSTGRES_CONNECT_TIMEOUT",
        "pool": "INSATS_POSTGRES_POOL_TIMEOUT",
        "statement": "INSATS_POSTGRES_STATEMENT_TIMEOUT",
        "reconnect": "INSATS_POSTGRES_RECONNECT_TIMEOUT",
        "readiness": "INSATS_READINESS_TIMEOUT",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PgTimeouts:
        """Seconds from `INSATS_POSTGRES_*_TIMEOUT` / `INSATS_READINESS_TIMEOUT`; unset or empty
        keeps the default. `connect` and `pool` are whole seconds (libpq and eventsourcing take
        integers)."""
        # 0 would mean "wait forever" to libpq and "never wait" to the pool; only the statement
        # timeout may be switched off.
        return cls(
            **numbers_from_env(cls.ENV, env, whole=("connect", "pool"), zero_allowed=("statement",))
        )

    def as_env(self) -> dict[str, str]:
        return {key: str(getattr(self, name)) for name, key in self.ENV.items()}

    def connect_kwargs(self, search_path: str | None = None) -> dict[str, Any]:
        """libpq parameters for `psycopg.connect` or a pool's `kwargs`. The statement timeout
        goes in the startup packet (`options`), so it holds from the first statement on and
        costs no extra round trip."""
        options = f"-c statement_timeout={round(self.statement * 1000)}"
        if search_path is not None:
            options = f"-c search_path={search_path} {options}"
        return {"connect_timeout": self.connect, "options": options}

    def probe_kwargs(self) -> dict[str, Any]:
        """A readiness probe's connection: `readiness` as its connect and statement timeout."""
        probe = replace(self, connect=math.ceil(self.readiness), statement=self.readiness)
        return probe.connect_kwargs()


class _PgTx(Tx):
    dialect: Dialect = "postgresql"

    def __init__(self, cur: psycopg.Cursor[Any]):
        self._cur = cur

    def execute(self, sql: str, params: Params = ()) -> Tx:
        # bytes: no psycopg literal parsing
        self._cur.execute(
            sql.encode(), dict(params) if isinstance(params, Mapping) else tuple(params)
        )
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cur.executemany(sql.encode(), [tuple(r) for r in rows])

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]

    def iterate(self, sql: str, size: int = 5000) -> Iterator[tuple[Any, ...]]:
        with self._cur.connection.cursor(name=f"insats_iterate_{next(_cursor_names)}") as cur:
            cur.itersize = size
            cur.execute(sql.encode())
            for row in cur:
                yield tuple(row)


_cursor_names = itertools.count(1)


# A pooled connection idle longer than this is checked (one round trip) before it is handed out.
IDLE_CHECK_SECONDS = 2.0
_handed_out: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def check_if_idle(conn: psycopg.Connection[Any]) -> None:
    """A pool `check`: a connection that lay idle may have been broken by an outage, so it is
    pinged before use (a broken one is replaced, the request never sees it). One in steady use
    is not: pinging on every checkout added two round trips to every store call (about 15 % of
    a command's time). A break during the short gap is left to the recorder's retry of a
    broken connection."""
    now = time.monotonic()
    last = _handed_out.get(conn)
    _handed_out[conn] = now
    if last is None or now - last > IDLE_CHECK_SECONDS:
        ConnectionPool.check_connection(conn)


class PostgresDatabase(Database):
    """A psycopg 3 pool whose connections use `schema` as their search path.

    Every connection has the `timeouts`; a connection that broke while idle in the pool (the
    server restarted) is found by a check before it is handed out and replaced, so the first
    requests after an outage do not fail on dead connections."""

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        conninfo: str,
        schema: str = "public",
        max_size: int = 8,
        timeouts: PgTimeouts | None = None,
    ):
        self.schema = schema
        self.timeouts = timeouts or PgTimeouts()
        with psycopg.connect(conninfo, autocommit=True, **self.timeouts.connect_kwargs()) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    psycopg.sql.Identifier(schema)
                )
            )
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs=self.timeouts.connect_kwargs(search_path=schema),
            timeout=self.timeouts.pool,
            reconnect_timeout=self.timeouts.reconnect,
            check=check_if_idle,
            open=True,
        )

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PgTx(cur)

    def close(self) -> None:
        self._pool.close()
