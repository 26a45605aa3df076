"""Witnesses' cosignatures, collected by the log (docs/audit.md "Witnessing").

A witness (`insats audit witness --submit`) sends the checkpoint note it cosigned back to the log
(`POST /v1/audit/cosignatures`). The log keeps each cosignature of a configured witness
(`INSATS_WITNESS_KEYS`) that verifies (C2SP tlog-cosignature, cosignature/v1) on one of its own
stored checkpoints, and from then on serves that checkpoint with the cosignature lines appended,
as a C2SP signed note with several signatures. Audit bundles carry the cosigned note, so an
auditor can require that the municipality's internal audit vouched for the very tree head the
proofs lead to (`insats audit check --witness-key`): a log that showed one history to the
witness and another to the auditor would be caught.

A cosignature is evidence like the checkpoint it signs: never changed, copied by backups.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contracts.audit_verify import (
    COSIGNATURE_V1,
    DASH,
    Checkpoint,
    VerificationError,
    VerifierKey,
    split_note,
    verify_cosignature,
)
from services.platform.backup import RecordTable
from services.platform.db import Database, Tx
from services.platform.refusal import Invalid, NotFound
from services.transparency.checkpoints import Checkpoints, StoredCheckpoint

MAX_NOTE = 16 * 1024  # a checkpoint and a handful of signature lines
MAX_WITNESSES = 20

COSIGNATURES_DDL = (
    "CREATE TABLE IF NOT EXISTS audit_cosignatures ("
    " checkpoint_id TEXT NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,"
    " cosigned_at BIGINT NOT NULL, PRIMARY KEY (checkpoint_id, witness))"
)
COSIGNATURE_RECORDS = RecordTable(
    "audit_cosignatures",
    ("checkpoint_id", "witness", "line", "cosigned_at"),
    ("checkpoint_id", "witness"),
)


def witness_keys_from_env(env: Mapping[str, str] | None = None) -> list[VerifierKey]:
    """`INSATS_WITNESS_KEYS`: the verifier keys of the witnesses whose cosignatures the log
    collects, separated by whitespace or commas. A malformed key stops the start."""
    text = (env if env is not None else os.environ).get("INSATS_WITNESS_KEYS", "")
    keys = []
    for part in text.replace(",", " ").split():
        try:
            key = VerifierKey(part)
        except VerificationError as error:
            raise ValueError(f"INSATS_WITNESS_KEYS: {error}") from None
        if key.alg != COSIGNATURE_V1:
            raise ValueError(
                f"INSATS_WITNESS_KEYS: {key.name!r} is not a witness key (cosignature/v1); "
                "make one with `insats audit keygen NAME --witness`"
            )
        keys.append(key)
    if len(keys) > MAX_WITNESSES:
        raise ValueError(f"INSATS_WITNESS_KEYS: at most {MAX_WITNESSES} witnesses")
    return keys


@dataclass(frozen=True)
class Accepted:
    checkpoint_id: str
    tree_size: int
    witnesses: list[str]


class Cosignatures:
    def __init__(self, db: Database, checkpoints: Checkpoints, witnesses: Sequence[VerifierKey]):
        self.db = db
        self.checkpoints = checkpoints
        self.witnesses = {k.name: k for k in witnesses}
        with db.transaction() as tx:
            tx.execute(COSIGNATURES_DDL)

    def add(self, note: str, now: int) -> Accepted:
        """Keep every cosignature in `note` of a configured witness on a checkpoint the log
        signed; Invalid when there is none, NotFound for a checkpoint the log never signed."""
        if len(note.encode()) > MAX_NOTE:
            raise Invalid(
                "invalid_input", f"a cosigned checkpoint is at most {MAX_NOTE} bytes", "note"
            )
        try:
            body, signatures = split_note(note)
            checkpoint = Checkpoint(body)
        except VerificationError as error:
            raise Invalid(
                "invalid_note", f"not a signed checkpoint note: {error}", "note"
            ) from None
        stored = self._stored(body, checkpoint)
        lines = _lines(note)
        accepted: dict[str, tuple[str, int]] = {}
        for (name, _), line in zip(signatures, lines, strict=True):
            key = self.witnesses.get(name)
            if key is None:
                continue  # the log's own signature, or a witness this log does not know
            try:
                timestamp = verify_cosignature(body + "\n" + line + "\n", key)
            except VerificationError as error:
                raise Invalid("invalid_cosignature", str(error), "note") from None
            if timestamp > now + 300:
                raise Invalid(
                    "invalid_cosignature",
                    f"the cosignature of {name!r} is dated in the future ({timestamp})",
                    "note",
                )
            accepted[name] = (line, timestamp)
        if not accepted:
            known = ", ".join(sorted(self.witnesses)) or "none are configured (INSATS_WITNESS_KEYS)"
            raise Invalid(
                "no_cosignature",
                f"the note carries no cosignature of a witness this log knows ({known})",
                "note",
            )
        with self.db.transaction() as tx:
            # The first cosignature of a witness stays (evidence is not rewritten), decided by
            # the key in the database: instances receiving the same one at once keep one.
            tx.executemany(
                "INSERT INTO audit_cosignatures (checkpoint_id, witness, line, cosigned_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (checkpoint_id, witness) DO NOTHING",
                [(stored.id, name, line, ts) for name, (line, ts) in sorted(accepted.items())],
            )
        return Accepted(stored.id, stored.tree_size, sorted(accepted))

    def _stored(self, body: str, checkpoint: Checkpoint) -> StoredCheckpoint:
        for stored in self.checkpoints.with_size(checkpoint.size):
            if split_note(stored.note)[0] == body:
                return stored
        raise NotFound(
            "checkpoint_not_found",
            f"this log signed no checkpoint with that body (tree size {checkpoint.size})",
            "note",
        )

    def lines(self, tx: Tx, checkpoint_id: str) -> list[str]:
        rows = tx.execute(
            "SELECT line FROM audit_cosignatures WHERE checkpoint_id = %s ORDER BY witness",
            (checkpoint_id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def cosigned_note(self, stored: StoredCheckpoint) -> str:
        """The checkpoint's note with every collected cosignature line appended."""
        with self.db.transaction() as tx:
            lines = self.lines(tx, stored.id)
        return stored.note + "".join(line + "\n" for line in lines)

    def latest_cosigned(self, min_size: int) -> StoredCheckpoint | None:
        """The latest checkpoint of at least `min_size` leaves that a witness cosigned."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT c.id FROM audit_checkpoints c WHERE c.tree_size >= %s AND EXISTS"
                " (SELECT 1 FROM audit_cosignatures s WHERE s.checkpoint_id = c.id)"
                " ORDER BY c.tree_size DESC, c.time DESC, c.id LIMIT 1",
                (min_size,),
            ).fetchone()
        return None if row is None else self.checkpoints.get(str(row[0]))


def _lines(note: str) -> list[str]:
    """The signature lines of a note, as they are written."""
    _, _, sigs = note.rpartition("\n\n")
    return [line for line in sigs[:-1].split("\n") if line.startswith(DASH + " ")]
