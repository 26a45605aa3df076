"""Replay-and-verify for auditors: every event into fresh read models, compared row by row with
the stored ones; services add their own checks (e.g. payments: every closed run's files)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from insats.bootstrap import Container
from services.platform.db import Database, SQLiteDatabase, Tx
from services.platform.feed import FEED_TABLES, FeedRunner, ListEventSource, Projection


def _tables(tx: Tx, db: Database) -> set[str]:
    if db.dialect == "sqlite":
        rows = tx.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    else:
        rows = tx.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


def _normalise(value: Any) -> Any:
    # SQLite and PostgreSQL return the same data as slightly different Python types.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _dump(db: Database, table: str) -> list[tuple[Any, ...]]:
    with db.transaction() as tx:
        rows = tx.execute(f"SELECT * FROM {table}").fetchall()
    return sorted((tuple(_normalise(v) for v in r) for r in rows), key=repr)


def verify_read_models(
    container: Container, fresh_projections: Callable[[], list[Projection]]
) -> list[str]:
    """Catch the stored read models up to the head of the log, replay the same log into a new
    database with fresh projections, and list every table that differs."""
    problems: list[str] = []
    container.feed.catch_up()
    head = container.feed.positions()
    for failure in container.feed.failures().values():
        problems.append(failure.describe())
    events = list(container.lifecycle.iter_public_events())
    with tempfile.TemporaryDirectory() as tmp:
        fresh_db = SQLiteDatabase(Path(tmp) / "replay.db")
        try:
            projections = fresh_projections()
            runner = FeedRunner(ListEventSource(events), fresh_db, projections)
            runner.catch_up()
            with fresh_db.transaction() as tx:
                fresh_tables = _tables(tx, fresh_db)
            for failure in runner.failures().values():
                problems.append(f"replay: {failure.describe()}")
            for p in projections:
                if runner.position(p.name) != head.get(p.name, 0):
                    problems.append(
                        f"{p.name}: stored read model is at position {head.get(p.name, 0)}, "
                        f"replay reached {runner.position(p.name)}"
                    )
            # Tables that record when something was processed (e.g. the alert change feed and
            # the daily scan log) legitimately differ on a replay; their facts do not.
            volatile = {t for p in projections for t in getattr(p, "volatile_tables", ())}
            for table in sorted(fresh_tables - FEED_TABLES - volatile):
                stored = _dump(container.readmodel_db, table)
                replayed = _dump(fresh_db, table)
                if stored != replayed:
                    only_stored = len(set(stored) - set(replayed))
                    only_replayed = len(set(replayed) - set(stored))
                    problems.append(
                        f"read model table {table}: {only_stored} stored rows not reproduced, "
                        f"{only_replayed} replayed rows not stored"
                    )
        finally:
            fresh_db.close()
    return problems
