"""The tamper-evident log as one service: the Merkle log's feed, its checkpoints, proofs,
audit bundles and the whole-log check `insats audit verify` runs."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from contracts.audit_verify import (
    BUNDLE_FORMAT,
    VerificationError,
    VerifierKey,
    verify_consistency,
)
from contracts.events import PublicEvent
from services.platform.daily import DailyTask
from services.platform.db import Database
from services.platform.feed import EventSource, FeedRunner, ReadModelStopped
from services.transparency import tree
from services.transparency.checkpoints import Checkpoints, Keys, StoredCheckpoint
from services.transparency.cosignatures import Cosignatures
from services.transparency.log import MerkleLog, TreeReader, event_leaf

# How many differences `verify` names one by one before it only counts them.
NAMED_DIFFERENCES = 10


class RecordSource(EventSource, Protocol):
    def record_digests(self, positions: Sequence[int]) -> dict[int, str]: ...


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


class Transparency:
    def __init__(
        self,
        source: RecordSource,
        db: Database,
        keys: Keys,
        origin: str,
        *,
        now: Callable[[], dt.datetime],
        today: Callable[[], dt.date],
        witnesses: Sequence[VerifierKey] = (),
    ):
        self.source = source
        self.log = MerkleLog(source.record_digests)
        self.feed = FeedRunner(source, db, [self.log])
        self.feed.name = "merkle-log"  # as a background task
        self.tree = TreeReader(db)
        self.keys = keys
        self.checkpoints = Checkpoints(
            db, self.tree, keys, origin, catch_up=self.catch_up, now=now, today=today
        )
        self.daily = DailyCheckpoint(self.checkpoints, now=now)
        self.cosignatures = Cosignatures(db, self.checkpoints, witnesses)

    def catch_up(self) -> None:
        """Append the leaves of every event recorded so far; a stopped Merkle log says so."""
        self.feed.catch_up()
        self.require_running()

    def require_running(self) -> None:
        """Refuse (503) to answer from a stopped Merkle log: it would be silently stale."""
        failure = self.feed.failures().get(self.log.name)
        if failure is not None:
            raise ReadModelStopped(failure)

    def tree_size(self) -> int:
        self.require_running()
        return self.tree.size()

    # --- proofs ------------------------------------------------------------------------------

    def inclusion(self, position: int, tree_size: int) -> dict[str, Any]:
        leaf = self.tree.leaf(position)
        if leaf is None or leaf.index >= tree_size:
            raise LookupError(f"no public event at position {position} in tree size {tree_size}")
        path = self.tree.inclusion(leaf.index, tree_size)
        return {
            "position": position,
            "leaf_index": leaf.index,
            "tree_size": tree_size,
            "leaf_hash": _b64(leaf.hash),
            "inclusion": [_b64(h) for h in path],
        }

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        return {
            "from": size1,
            "to": size2,
            "proof": [_b64(h) for h in self.tree.consistency(size1, size2)],
        }

    def bundle(self, journey_id: str, events: Sequence[PublicEvent]) -> dict[str, Any]:
        """A self-contained proof that `events` (a journey's history, in order) are in the log
        the latest checkpoint commits to (one is written if none covers them yet)."""
        if not events:
            raise LookupError(f"journey {journey_id} has no events")
        self.catch_up()
        last = self.tree.leaf(events[-1].position)
        # A checkpoint a witness cosigned, when one covers the events: the auditor can then
        # require the witness's cosignature (`audit check --witness-key`).
        checkpoint = (
            self.cosignatures.latest_cosigned(last.index + 1) if last is not None else None
        ) or self.checkpoints.latest()
        if checkpoint is None or last is None or last.index >= checkpoint.tree_size:
            checkpoint = self.checkpoints.write("on_demand")
        records = self.source.record_digests([e.position for e in events])
        items = []
        for event in events:
            proof = self.inclusion(event.position, checkpoint.tree_size)
            items.append(
                {
                    "leaf_index": proof["leaf_index"],
                    "record": records[event.position],
                    "event": event.to_dict(),
                    "inclusion": proof["inclusion"],
                }
            )
        return {
            "format": BUNDLE_FORMAT,
            "journey_id": journey_id,
            "checkpoint": self.cosignatures.cosigned_note(checkpoint),
            "public_key": str(self.keys.verifier_for(checkpoint.note)),
            "events": items,
        }

    # --- the whole-log check -----------------------------------------------------------------

    def live_leaves(self, batch: int = 1000) -> Iterator[tuple[PublicEvent, bytes]]:
        """Every public event of the log as it is now, with its leaf hash recomputed."""
        after = 0
        while True:
            page = self.source.read(after, batch)
            if not page:
                return
            records = self.source.record_digests([e.position for e in page])
            for event in page:
                yield event, event_leaf(event, records[event.position])
            after = page[-1].position

    def live_leaf_page(self, after: int, limit: int) -> list[dict[str, Any]]:
        """One page of `live_leaves` as `GET /v1/audit/leaves` items."""
        page = self.source.read(after, limit)
        records = self.source.record_digests([e.position for e in page])
        return [
            {
                "position": e.position,
                "record": records[e.position],
                "leaf_hash": _b64(event_leaf(e, records[e.position])),
            }
            for e in page
        ]

    def verify(self) -> list[str]:
        """Recompute the tree from the log and compare it with the stored Merkle log and every
        signed checkpoint; the problems found, each naming positions, or []."""
        problems: list[str] = []
        self.catch_up()
        checkpoints: list[StoredCheckpoint] = []
        for stored in self.checkpoints.all():
            try:
                self.checkpoints.check(stored)
                checkpoints.append(stored)
            except VerificationError as error:
                problems.append(f"checkpoint {stored.id}: {error}")
        pending = sorted(checkpoints, key=lambda c: c.tree_size)
        stored_leaves = self.tree.leaves()
        edge = tree.CompactRange()
        differences = 0
        last_position = 0
        for event, leaf in self.live_leaves():
            index = edge.size
            recorded = next(stored_leaves, None)
            if recorded is None:
                pass  # recorded after the catch-up began: not yet in the Merkle log
            elif recorded.position != event.position or recorded.hash != leaf:
                differences += 1
                if differences <= NAMED_DIFFERENCES:
                    problems.append(describe_difference(index, event.position, recorded.position))
            edge.append(leaf)
            last_position = event.position
            while pending and pending[0].tree_size == edge.size:
                cp = pending.pop(0)
                if edge.root().hex() != cp.root_hash:
                    problems.append(
                        f"the log's first {cp.tree_size} events (up to position "
                        f"{event.position}) do not match signed checkpoint {cp.id} of {cp.time}"
                    )
        extra = list(stored_leaves)
        if extra:
            problems.append(
                f"the log ends at position {last_position}, but the Merkle log recorded "
                f"{len(extra)} more events, from position {extra[0].position}: they are "
                "missing from the log"
            )
        for cp in pending:
            if cp.tree_size > edge.size:
                problems.append(
                    f"signed checkpoint {cp.id} covers {cp.tree_size} events, the log holds "
                    f"only {edge.size}: events after position {last_position} are missing"
                )
        if differences > NAMED_DIFFERENCES:
            problems.append(f"{differences - NAMED_DIFFERENCES} more events differ")
        problems.extend(self._stored_tree_against(checkpoints))
        return problems

    def _stored_tree_against(self, checkpoints: list[StoredCheckpoint]) -> list[str]:
        """The stored tree's roots and consistency proofs against every checkpoint."""
        problems = []
        size = self.tree.size()
        previous: StoredCheckpoint | None = None
        for cp in sorted(checkpoints, key=lambda c: c.tree_size):
            if cp.tree_size > size:
                continue
            try:
                if self.tree.root(cp.tree_size).hex() != cp.root_hash:
                    problems.append(f"the stored Merkle log disagrees with checkpoint {cp.id}")
                if previous is not None:
                    verify_consistency(
                        previous.tree_size,
                        cp.tree_size,
                        bytes.fromhex(previous.root_hash),
                        bytes.fromhex(cp.root_hash),
                        self.tree.consistency(previous.tree_size, cp.tree_size),
                    )
            except (VerificationError, LookupError) as error:
                problems.append(f"checkpoints {previous and previous.id} → {cp.id}: {error}")
            previous = cp
        return problems


class DailyCheckpoint(DailyTask):
    """Signs the tree once a day (a background task; the table's `daily` column, unique, keeps
    several instances from writing two for one day)."""

    name = "daily-checkpoint"

    def __init__(self, checkpoints: Checkpoints, *, now: Callable[[], dt.datetime]):
        super().__init__(now=now)
        self.checkpoints = checkpoints

    def run_pending(self) -> StoredCheckpoint | None:
        return self.checkpoints.daily()


def describe_difference(index: int, position: int, recorded_position: int) -> str:
    if position == recorded_position:
        return (
            f"the event at position {position} (leaf {index}) is not the one recorded: its "
            "content or stored record was changed"
        )
    if position > recorded_position:
        return (
            f"leaf {index}: the event at position {recorded_position} is missing from the log "
            f"(position {position} stands in its place)"
        )
    return f"leaf {index}: position {position} stands where position {recorded_position} was"
