"""The Merkle log: the RFC 9162 tree over the public events, kept by the read-model feed.

Leaf i is the i-th public event in log order (positions may have gaps; leaf indexes have none).
It is a feed projection, so its leaves and their position commit in one transaction: a crash
neither loses nor repeats a leaf. Unlike a read model it is evidence, not derived state: it is
never reset, never rebuilt and never replayed (`evidence = True`); `insats audit verify`
recomputes it from the log and compares it with the stored tree and the signed checkpoints.

Tables: `merkle_leaves` (leaf index, log position, leaf hash) and `merkle_nodes`, the perfect
subtrees above the leaves (see tree.py). Hashes are stored as hex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from contracts.audit_verify import leaf_data, leaf_hash
from contracts.events import PublicEvent
from services.platform.db import Database, Tx
from services.transparency import tree

LEAVES_DDL = (
    "CREATE TABLE IF NOT EXISTS merkle_leaves (leaf_index BIGINT PRIMARY KEY, "
    "position BIGINT NOT NULL UNIQUE, leaf_hash TEXT NOT NULL)"
)
NODES_DDL = (
    "CREATE TABLE IF NOT EXISTS merkle_nodes (level INTEGER NOT NULL, node_index BIGINT NOT NULL, "
    "hash TEXT NOT NULL, PRIMARY KEY (level, node_index))"
)

# position -> SHA-256 (hex) of the stored record at that position
RecordDigests = Callable[[Sequence[int]], Mapping[int, str]]


def leaf_bytes(event: dict[str, Any], record_sha256: str) -> bytes:
    """`contracts.audit_verify.leaf_data`, at orjson's speed (tested to give the same bytes)."""
    try:
        return orjson.dumps({"event": event, "record": record_sha256}, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits (earlier releases accepted some): the stdlib
        return leaf_data(event, record_sha256)


def event_leaf(event: PublicEvent, record_sha256: str) -> bytes:
    return leaf_hash(leaf_bytes(event.to_dict(), record_sha256))


def node_reader(tx: Tx) -> tree.NodeReader:
    def node(level: int, index: int) -> bytes:
        if level == 0:
            value = tx.scalar("SELECT leaf_hash FROM merkle_leaves WHERE leaf_index = %s", (index,))
        else:
            value = tx.scalar(
                "SELECT hash FROM merkle_nodes WHERE level = %s AND node_index = %s",
                (level, index),
            )
        if value is None:
            raise LookupError(f"the Merkle log has no node ({level}, {index})")
        return bytes.fromhex(value)

    return node


def tree_size(tx: Tx) -> int:
    return int(tx.scalar("SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM merkle_leaves"))


class MerkleLog:
    """The feed projection that appends each public event's leaf."""

    name = "merkle_log"
    evidence = True  # never reset, rebuilt or replayed: see the module docstring

    def __init__(self, records: RecordDigests):
        self._records = records
        self._edge: tree.CompactRange | None = None  # cached right edge, checked by size

    def setup(self, tx: Tx) -> None:
        tx.execute(LEAVES_DDL)
        tx.execute(NODES_DDL)

    def reset(self, tx: Tx) -> None:
        raise RuntimeError(
            "the Merkle log is evidence and is never rebuilt; `insats audit verify` checks it"
        )

    def _right_edge(self, tx: Tx) -> tree.CompactRange:
        size = tree_size(tx)
        edge = self._edge
        if edge is not None and edge.size == size:
            return tree.CompactRange(edge.size, edge.peaks)
        node = node_reader(tx)
        peaks = [node(level, i) for level, i in tree.CompactRange.peak_positions(size)]
        return tree.CompactRange(size, peaks)

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        records = self._records([e.position for e in events])
        edge = self._right_edge(tx)
        leaves: list[tuple[int, int, str]] = []
        nodes: list[tuple[int, int, str]] = []
        for event in events:
            made = edge.append(event_leaf(event, records[event.position]))
            leaves.append((made[0][1], event.position, made[0][2].hex()))
            nodes.extend((level, i, h.hex()) for level, i, h in made[1:])
        tx.executemany(
            "INSERT INTO merkle_leaves (leaf_index, position, leaf_hash) VALUES (%s, %s, %s)",
            leaves,
        )
        if nodes:
            tx.executemany(
                "INSERT INTO merkle_nodes (level, node_index, hash) VALUES (%s, %s, %s)",
                nodes,
            )
        # Kept only if this transaction commits; a rolled-back one is caught by the size.
        self._edge = edge


@dataclass(frozen=True)
class Leaf:
    index: int
    position: int
    hash: bytes


class TreeReader:
    """Roots and proofs from the stored tree (read-only)."""

    def __init__(self, db: Database):
        self.db = db

    def size(self) -> int:
        with self.db.transaction() as tx:
            return tree_size(tx)

    def size_at(self, position: int) -> int:
        """The tree size that covers the public events up to log `position`."""
        with self.db.transaction() as tx:
            value = tx.scalar(
                "SELECT MAX(leaf_index) FROM merkle_leaves WHERE position <= %s", (position,)
            )
            return 0 if value is None else int(value) + 1

    def root(self, size: int) -> bytes:
        with self.db.transaction() as tx:
            self._check_size(tx, size)
            return tree.root(node_reader(tx), size)

    def leaf(self, position: int) -> Leaf | None:
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT leaf_index, position, leaf_hash FROM merkle_leaves WHERE position = %s",
                (position,),
            ).fetchone()
        return None if row is None else Leaf(int(row[0]), int(row[1]), bytes.fromhex(row[2]))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        with self.db.transaction() as tx:
            self._check_size(tx, size)
            return tree.inclusion_path(node_reader(tx), index, size)

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        with self.db.transaction() as tx:
            self._check_size(tx, size2)
            return tree.consistency_proof(node_reader(tx), size1, size2)

    def leaves(self, batch: int = 5000) -> Iterator[Leaf]:
        """Every stored leaf in index order, page by page."""
        after = -1
        while True:
            with self.db.transaction() as tx:
                rows = tx.execute(
                    "SELECT leaf_index, position, leaf_hash FROM merkle_leaves "
                    "WHERE leaf_index > %s ORDER BY leaf_index LIMIT %s",
                    (after, batch),
                ).fetchall()
            if not rows:
                return
            for i, position, h in rows:
                yield Leaf(int(i), int(position), bytes.fromhex(h))
            after = int(rows[-1][0])

    @staticmethod
    def _check_size(tx: Tx, size: int) -> None:
        if size > tree_size(tx):
            raise ValueError(f"the Merkle log has fewer than {size} leaves")
