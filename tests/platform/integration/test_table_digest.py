"""Auditors compare a stored read model with its replay by a multiset digest of its rows, in
one streaming pass per table: order does not matter, every row and every repeat does."""

from __future__ import annotations

from pathlib import Path

from insats.audit import _difference, digest
from services.platform.db import SQLiteDatabase


def table(tmp_path: Path, name: str, rows: list[tuple[object, ...]]) -> SQLiteDatabase:
    db = SQLiteDatabase(tmp_path / f"{name}.db")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (a TEXT, b INTEGER, c REAL)")
        tx.executemany("INSERT INTO t VALUES (%s, %s, %s)", rows)
    return db


def test_the_same_rows_in_another_order_give_the_same_digest(tmp_path: Path) -> None:
    rows = [("x", i, i / 2) for i in range(12_000)]  # more than one fetch page
    one, other = table(tmp_path, "one", rows), table(tmp_path, "other", rows[::-1])
    assert digest(one, "t") == digest(other, "t")
    assert digest(one, "t").rows == 12_000


def test_a_changed_a_missing_or_a_repeated_row_changes_it(tmp_path: Path) -> None:
    rows = [("x", 1, 1.0), ("y", 2, 2.5)]
    stored = table(tmp_path, "stored", rows)
    for i, other in enumerate(
        [[("x", 1, 1.0), ("y", 2, 2.6)], rows[:1], [*rows, rows[0]], [("y", 1, 1.0), ("x", 2, 2.5)]]
    ):
        assert digest(stored, "t") != digest(table(tmp_path, f"o{i}", other), "t")
    changed = table(tmp_path, "changed", [("x", 1, 1.0), ("y", 2, 2.6), ("z", 3, 0.0)])
    assert _difference(stored, changed, "t") == (1, 2)
