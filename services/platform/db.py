"""A small database adapter for read models: SQLite (embedded default) or PostgreSQL (psycopg 3).

Read models write portable SQL with `%s` placeholders; for SQLite they are rewritten to `?`.
Both dialects support `INSERT ... ON CONFLICT (...) DO UPDATE SET col = excluded.col`.
One `transaction()` is one atomic unit: a read model's update and its tracked position commit in
the same one (see `feed.py`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg_pool import ConnectionPool

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]

_PLACEHOLDER = re.compile(r"%s")


class Tx(ABC):
    """A cursor inside one transaction."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Tx: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    @abstractmethod
    def fetchone(self) -> tuple[Any, ...] | None: ...

    @abstractmethod
    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Tx]: ...

    @abstractmethod
    def close(self) -> None: ...

    def table_exists(self, name: str) -> bool:
        with self.transaction() as tx:
            if self.dialect == "sqlite":
                sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=%s"
            else:
                sql = (
                    "SELECT 1 FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_name=%s"
                )
            return tx.execute(sql, (name,)).fetchone() is not None


# --- SQLite -----------------------------------------------------------------------------------


class _SQLiteTx(Tx):
    dialect: Dialect = "sqlite"

    def __init__(self, cur: sqlite3.Cursor):
        self._cur = cur

    def execute(self, sql: str, params: Params = ()) -> Tx:
        self._cur.execute(_PLACEHOLDER.sub("?", sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._cur.executemany(_PLACEHOLDER.sub("?", sql), [tuple(r) for r in rows])

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]


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


class _PgTx(Tx):
    dialect: Dialect = "postgresql"

    def __init__(self, cur: psycopg.Cursor[Any]):
        self._cur = cur

    def execute(self, sql: str, params: Params = ()) -> Tx:
        self._cur.execute(sql.encode(), tuple(params))  # bytes: no psycopg literal parsing
        return self

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._cur.executemany(sql.encode(), [tuple(r) for r in rows])

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]


class PostgresDatabase(Database):
    """A psycopg 3 pool whose connections use `schema` as their search path."""

    dialect: Dialect = "postgresql"

    def __init__(self, conninfo: str, schema: str = "public", max_size: int = 8):
        self.schema = schema
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    psycopg.sql.Identifier(schema)
                )
            )
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={"options": f"-c search_path={schema}"},
            open=True,
        )

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PgTx(cur)

    def close(self) -> None:
        self._pool.close()
