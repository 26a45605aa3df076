"""`insats audit witness`: an independent witness of the event log (docs/audit.md "Witnessing").

Run by someone other than the log's operators (the municipality's internal audit), on another
machine, with a key of its own. Each run:

1. fetches the latest signed checkpoint and verifies the log's signature on it;
2. verifies it is consistent with the last checkpoint this witness cosigned (RFC 9162
   consistency proof): the log only grew, nothing seen before was changed;
3. re-reads the log's leaves as the log holds them now, recomputed from the stored events, and
   checks that their tree has the checkpoint's root, comparing every leaf with the one it kept
   from its previous run, so that a rewritten, deleted, reordered or cut-off event is named by
   its position;
4. only if all of that holds, cosigns the checkpoint (C2SP tlog-cosignature, cosignature/v1),
   and with `--submit` gives the cosigned note back to the log, which keeps it with the
   checkpoint and in audit bundles (`services/transparency/cosignatures.py`).

Its state is a directory: `witness.db` (the leaves it has seen, the last checkpoint it cosigned)
and `cosigned/`, one file per cosigned checkpoint note. Memory stays flat: leaves stream through.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from contracts.audit_verify import (
    Checkpoint,
    VerificationError,
    VerifierKey,
    verify_consistency,
    verify_note,
)
from services.transparency.checkpoints import Signer
from services.transparency.service import NAMED_DIFFERENCES, describe_difference
from services.transparency.tree import CompactRange

PAGE = 10_000


class AuditLog(Protocol):
    """The log's audit API as the witness reads it (over HTTP: `HttpAuditLog`)."""

    def checkpoint(self) -> str: ...

    def consistency(self, size1: int, size2: int) -> list[bytes]: ...

    def leaves(self, after: int, limit: int) -> list[dict[str, Any]]: ...


class HttpAuditLog:
    """`GET /v1/audit/...` of an insats instance, with an API key (role auditor)."""

    def __init__(self, client: Any):  # an httpx.Client with base_url and Authorization
        self.client = client

    def _get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        if response.status_code != 200:
            raise WitnessError(f"GET {path}: {response.status_code} {response.text[:200]}")
        return response

    def checkpoint(self) -> str:
        return str(self._get("/v1/audit/checkpoint").text)

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        body = self._get("/v1/audit/proofs/consistency", **{"from": size1, "to": size2}).json()
        return [base64.b64decode(h) for h in body["proof"]]

    def leaves(self, after: int, limit: int) -> list[dict[str, Any]]:
        return list(self._get("/v1/audit/leaves", after=after, limit=limit).json()["leaves"])

    def submit(self, cosigned: str) -> dict[str, Any]:
        """Give the cosigned note back to the log (`POST /v1/audit/cosignatures`), which then
        serves it with the checkpoint and puts it in audit bundles."""
        response = self.client.post(
            "/v1/audit/cosignatures",
            content=cosigned.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if response.status_code != 201:
            raise WitnessError(
                f"POST /v1/audit/cosignatures: {response.status_code} {response.text[:200]}"
            )
        answer: dict[str, Any] = response.json()
        return answer


class WitnessError(Exception):
    """The log could not be read (not a finding about its content)."""


@dataclass
class Witnessed:
    """One run's outcome: the cosigned note, or the problems that kept the witness from it."""

    checkpoint: Checkpoint
    problems: list[str] = field(default_factory=list)
    cosigned: str | None = None
    path: Path | None = None


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS leaves (idx INTEGER PRIMARY KEY, position INTEGER NOT NULL, "
    "hash BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cosigned (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER "
    "NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL)",
)


class Witness:
    def __init__(
        self,
        log: AuditLog,
        log_key: VerifierKey,
        signer: Signer,
        state: Path,
        *,
        clock: Callable[[], float] = time.time,
        progress: Callable[[int], None] = lambda n: None,
    ):
        self.log, self.log_key, self.signer, self.state = log, log_key, signer, state
        self.clock, self.progress = clock, progress
        state.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state / "witness.db", isolation_level=None)
        for statement in _SCHEMA:
            self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    def last(self) -> tuple[int, bytes, str] | None:
        row = self.db.execute("SELECT size, root, note FROM cosigned").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))

    def run(self) -> Witnessed:
        note = self.log.checkpoint()
        try:
            checkpoint = Checkpoint(verify_note(note, self.log_key))
        except VerificationError as error:
            raise WitnessError(f"the latest checkpoint does not verify: {error}") from None
        result = Witnessed(checkpoint)
        last = self.last()
        if last is not None:
            origin = Checkpoint(verify_note(last[2], self.log_key)).origin
            if checkpoint.origin != origin:
                raise WitnessError(
                    f"the checkpoint is of log {checkpoint.origin!r}, not {origin!r}"
                )
        if last is not None:
            result.problems.extend(self._consistent(last, checkpoint))
        self.db.execute("BEGIN IMMEDIATE")  # the leaves are kept only if the run cosigns
        try:
            result.problems.extend(self._leaves(checkpoint, last[0] if last else 0))
            if not result.problems:
                self._cosign(result, note)
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return result

    def _consistent(self, last: tuple[int, bytes, str], checkpoint: Checkpoint) -> list[str]:
        size, root, _ = last
        if checkpoint.size < size:
            return [
                f"the latest checkpoint covers {checkpoint.size} events, fewer than the "
                f"{size} this witness already cosigned: the log was cut short or rolled back"
            ]
        try:
            proof = self.log.consistency(size, checkpoint.size)
            verify_consistency(size, checkpoint.size, root, checkpoint.root, proof)
        except VerificationError as error:
            return [
                f"the checkpoint of {checkpoint.size} events is not consistent with the one "
                f"of {size} events cosigned before ({error}): the log's history was changed"
            ]
        return []

    def _live(self) -> Iterator[tuple[int, bytes]]:
        after = 0
        while True:
            page = self.log.leaves(after, PAGE)
            for leaf in page:
                yield int(leaf["position"]), base64.b64decode(leaf["leaf_hash"])
            self.progress(len(page))
            if len(page) < PAGE:
                return
            after = int(page[-1]["position"])

    def _leaves(self, checkpoint: Checkpoint, kept: int) -> list[str]:
        """Recompute the checkpoint's tree from the live leaves, compare each with the leaf
        kept from earlier runs, and keep the new ones (in the open transaction)."""
        problems: list[str] = []
        seen = self.db.cursor().execute(
            "SELECT idx, position, hash FROM leaves WHERE idx < ? ORDER BY idx", (kept,)
        )
        edge = CompactRange()
        differences = 0
        last_position = 0
        for position, leaf in self._live():
            if edge.size == checkpoint.size:
                break  # recorded after the checkpoint: the next run will see them
            index = edge.size
            row = seen.fetchone() if index < kept else None
            if row is not None and (row[1] != position or bytes(row[2]) != leaf):
                differences += 1
                if differences <= NAMED_DIFFERENCES:
                    problems.append(describe_difference(index, position, int(row[1])))
            if index >= kept:
                self.db.execute(
                    "INSERT OR REPLACE INTO leaves (idx, position, hash) VALUES (?, ?, ?)",
                    (index, position, leaf),
                )
            edge.append(leaf)
            last_position = position
        if differences > NAMED_DIFFERENCES:
            problems.append(f"{differences - NAMED_DIFFERENCES} more events differ")
        if edge.size < kept:
            row = seen.fetchone()  # the first leaf kept that the log no longer holds
            start = f" from position {row[1]}" if row is not None else ""
            problems.append(
                f"the log ends at position {last_position} after {edge.size} events; this "
                f"witness saw {kept}: the events{start} on are missing from the log"
            )
        if edge.size < checkpoint.size:
            problems.append(
                f"the checkpoint covers {checkpoint.size} events, the log holds only "
                f"{edge.size}: events after position {last_position} are missing"
            )
        elif edge.root() != checkpoint.root:
            problems.append(
                f"the log's first {checkpoint.size} events (up to position {last_position}) do "
                "not have the signed checkpoint's root hash"
            )
        return problems

    def _cosign(self, result: Witnessed, note: str) -> None:
        checkpoint = result.checkpoint
        cosigned = self.signer.cosign(note, int(self.clock()))
        self.db.execute(
            "INSERT OR REPLACE INTO cosigned (id, size, root, note) VALUES (1, ?, ?, ?)",
            (checkpoint.size, checkpoint.root, cosigned),
        )
        directory = self.state / "cosigned"
        directory.mkdir(exist_ok=True)
        path = directory / f"{checkpoint.size:012d}-{checkpoint.root.hex()[:16]}.checkpoint"
        path.write_text(cosigned, encoding="utf-8")
        result.cosigned, result.path = cosigned, path
