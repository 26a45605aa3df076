"""Replay-and-verify for auditors: every event into fresh read models, compared row by row with
the stored ones; services add their own checks (e.g. payments: every closed run's files)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from typing import Any

from insats.bootstrap import Container
from services.platform.db import Database, SQLiteDatabase, Tx
from services.platform.feed import FEED_TABLES, REBUILD_PAGE, FeedRunner, Projection, UpTo


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


# Types `_normalise` leaves as they are (exact types: a bool is an int to isinstance).
_AS_IS = frozenset({str, int, type(None), bytes})


def _row_hash(row: tuple[Any, ...]) -> int:
    # Most rows hold only text, integers and nulls: hashed as they are, without a call per value.
    if type(row) is not tuple or not all(type(v) in _AS_IS for v in row):
        row = tuple(_normalise(v) for v in row)
    text = repr(row).encode()
    return int.from_bytes(blake2b(text, digest_size=16).digest(), "big")


_MOD = 1 << 128


@dataclass(frozen=True)
class TableDigest:
    """A table's rows as a multiset digest: the count and the sum of the rows' hashes. The same
    rows in any order give the same digest, so a stored table and its replay compare in one
    streaming pass each, in constant memory, whatever the database's sort order."""

    rows: int
    total: int


def digest(db: Database, table: str) -> TableDigest:
    rows, total = 0, 0
    with db.transaction() as tx:
        for row in tx.iterate(f"SELECT * FROM {table}"):
            rows += 1
            total = (total + _row_hash(row)) % _MOD
    return TableDigest(rows, total)


def _difference(stored: Database, replayed: Database, table: str) -> tuple[int, int]:
    """How many rows only one side holds (only asked when the digests differ: it holds one
    hash per row, 16 bytes and a counter, in memory)."""
    counts: Counter[int] = Counter()
    with stored.transaction() as tx:
        for row in tx.iterate(f"SELECT * FROM {table}"):
            counts[_row_hash(row)] += 1
    with replayed.transaction() as tx:
        for row in tx.iterate(f"SELECT * FROM {table}"):
            counts[_row_hash(row)] -= 1
    only_stored = sum(n for n in counts.values() if n > 0)
    only_replayed = -sum(n for n in counts.values() if n < 0)
    return only_stored, only_replayed


def verify_read_models(
    container: Container,
    fresh_projections: Callable[[], list[Projection]],
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Catch the stored read models up to the head of the log, replay the same log (up to
    that head, page by page from the store: never all of it in memory) into a new database
    with fresh projections in one pass, and list every table that differs."""
    problems: list[str] = []
    container.feed.catch_up()
    head = container.feed.positions()
    for failure in container.feed.failures().values():
        problems.append(failure.describe())
    bound = max(head.values(), default=0)
    with tempfile.TemporaryDirectory() as tmp:
        fresh_db = SQLiteDatabase(Path(tmp) / "replay.db")
        try:
            projections = fresh_projections()
            runner = FeedRunner(
                UpTo(container.source, bound), fresh_db, projections, batch_size=REBUILD_PAGE
            )
            runner.catch_up(progress=progress)
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
                if digest(container.readmodel_db, table) != digest(fresh_db, table):
                    only_stored, only_replayed = _difference(
                        container.readmodel_db, fresh_db, table
                    )
                    problems.append(
                        f"read model table {table}: {only_stored} stored rows not reproduced, "
                        f"{only_replayed} replayed rows not stored"
                    )
        finally:
            fresh_db.close()
    return problems
