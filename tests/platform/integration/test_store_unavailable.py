"""Store errors through the app, and every PostgreSQL connection against a hung server.

The errors are real ones (a locked SQLite file, a pool that gets no connection, a missing
table), raised inside routes of the real app. The hung server is a socket that accepts
connections and never answers, as a partitioned or frozen database does: no PostgreSQL needed.
"""

from __future__ import annotations

import gc
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing import persistence
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from insats.bootstrap import Container
from insats.web import create_app
from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.store import StoreConfig, _broken_connection
from services.platform.db import PgTimeouts, PostgresDatabase
from services.platform.outage import is_store_unavailable


@pytest.fixture
def hung_url() -> Iterator[str]:
    """A PostgreSQL URL whose server accepts TCP connections and never says a word."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        yield f"postgresql://postgres@127.0.0.1:{hole.getsockname()[1]}/insats"


def hung_pool(url: str) -> ConnectionPool[Any]:
    """A pool that never gets a connection; its own connect attempts end within 2 s, so that
    closing it does not wait for them long."""
    return ConnectionPool(url, min_size=1, timeout=0.5, kwargs={"connect_timeout": 2}, open=True)


def locked_sqlite(path: Path) -> sqlite3.OperationalError:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        waiter = sqlite3.connect(path, timeout=0)
        try:
            waiter.execute("INSERT INTO t VALUES (1)")
        except sqlite3.OperationalError as exc:
            return exc
        finally:
            waiter.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    raise AssertionError("the file was not locked")


def test_store_errors_answer_503_with_retry_after_and_others_do_not(
    tmp_path: Path, hung_url: str
) -> None:
    container = _sqlite_container(tmp_path)
    app = create_app(container, run_feed=False)
    locked = locked_sqlite(tmp_path / "locked.db")
    pool = hung_pool(hung_url)

    def raising(make: Callable[[], BaseException]) -> Callable[[], None]:
        def route() -> None:
            raise make()

        return route

    def pool_timeout() -> BaseException:
        try:
            with pool.connection():
                pass
        except psycopg.Error as exc:
            return exc
        raise AssertionError("a connection from a hung server")

    def eventsourcing_locked() -> BaseException:
        # What eventsourcing's SQLite datastore raises for it (the driver's error as its cause).
        try:
            raise persistence.OperationalError(str(locked)) from locked
        except persistence.OperationalError as exc:
            return exc

    def missing_table() -> BaseException:
        try:
            sqlite3.connect(":memory:").execute("SELECT * FROM nowhere")
        except sqlite3.OperationalError as exc:
            return exc
        raise AssertionError

    def stale_version() -> BaseException:
        return persistence.IntegrityError("duplicate key value violates unique constraint")

    routes = {
        "/test/sqlite-locked": (lambda: locked, 503),
        "/test/eventsourcing-locked": (eventsourcing_locked, 503),
        "/test/pool-timeout": (pool_timeout, 503),
        "/test/missing-table": (missing_table, 500),
        "/test/integrity": (stale_version, 500),
    }
    for path, (make, _) in routes.items():
        app.add_api_route(path, raising(make))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for path, (_, status) in routes.items():
                r = client.get(path)
                assert r.status_code == status, (path, r.text)
                if status == 503:
                    assert r.headers["Retry-After"] == "5"
                    assert r.json()["error"] == "store_unavailable"
                    assert set(r.json()) == {"error", "message", "field"}
    finally:
        pool.close()
        container.close()


def _sqlite_container(tmp_path: Path) -> Container:
    from insats.bootstrap import build

    return build(StoreConfig(sqlite_file=tmp_path / "var" / "insats.db"))


def test_every_postgres_connection_gives_up_on_a_hung_server(hung_url: str) -> None:
    """Schema creation, the read-model pool, the readiness probe and the event store: each fails
    within its timeout (a few seconds), where before it waited for as long as TCP lets it."""
    timeouts = PgTimeouts(connect=2, pool=2, readiness=2)
    config = StoreConfig(postgres_url=hung_url, schema="s", timeouts=timeouts)

    def event_store() -> None:
        LifecycleApp(
            config.eventsourcing_env(), person_key=PersonRefKey(b"k" * 32), today=date.today
        )

    attempts: dict[str, Callable[[], Any]] = {
        "create_schema": config.create_schema,
        "read models": lambda: PostgresDatabase(hung_url, "s", timeouts=timeouts),
        "probe": config.probe,
        "event store": event_store,
    }

    def timed(attempt: Callable[[], Any]) -> tuple[float, BaseException | None]:
        started = time.monotonic()
        try:
            attempt()
        except Exception as exc:
            return time.monotonic() - started, exc
        return time.monotonic() - started, None

    with ThreadPoolExecutor(len(attempts)) as pool:
        outcomes = dict(zip(attempts, pool.map(timed, attempts.values()), strict=True))
    for name, (seconds, error) in outcomes.items():
        assert error is not None, f"{name} connected to a server that never answers"
        assert is_store_unavailable(error), (name, repr(error))
        assert seconds < 8, (name, seconds)  # 2 s timeouts; it hung before
    # The half-built event store hangs off a traceback: collect it here, in this thread (its
    # pool cannot be closed from one of the pool's own threads, where a later GC might run).
    del outcomes
    gc.collect()


@pytest.mark.parametrize(
    ("cause", "retried"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg.errors.AdminShutdown(), True),
        (psycopg.errors.QueryCanceled(), False),  # statement_timeout: the server is busy
        (psycopg.errors.LockNotAvailable(), False),  # lock_timeout
        (psycopg.errors.UndefinedTable(), False),
    ],
)
def test_the_event_store_retries_only_a_broken_connection(
    cause: psycopg.Error, retried: bool
) -> None:
    try:
        raise persistence.OperationalError(str(cause)) from cause
    except persistence.OperationalError as exc:
        assert _broken_connection(exc) is retried


def test_the_event_store_does_not_retry_when_no_connection_came(hung_url: str) -> None:
    pool = hung_pool(hung_url)
    try:
        with pool.connection():
            pass
    except psycopg.Error as cause:
        try:
            raise persistence.OperationalError(str(cause)) from cause
        except persistence.OperationalError as exc:
            assert not _broken_connection(exc)
    finally:
        pool.close()
