"""Signed checkpoints of the Merkle log (C2SP tlog-checkpoint in a C2SP signed note, Ed25519).

A checkpoint commits to the first `size` leaves. One is written at every payout-run close (its
id goes into `PayoutRunClosed`), once a day, and on demand (`insats audit checkpoint`,
`POST /v1/audit/checkpoints`). Before signing, the writer proves the new tree consistent with
the latest stored checkpoint, so the key never signs a history that forks from an earlier one.

The id of a checkpoint is the first 16 hex digits of the SHA-256 of its signed note.

Keys: `INSATS_CHECKPOINT_KEY` is the signing key (`insats audit keygen`); earlier keys stay
verifiable through `INSATS_CHECKPOINT_PREVIOUS_KEYS` (their verifier keys, comma-separated).
Without a configured key the installation signs with a key derived from its person key (HKDF,
a separate key for a separate purpose), so every instance signs alike with no new secret.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contracts.audit_verify import (
    COSIGNATURE_V1,
    DASH,
    ED25519,
    Checkpoint,
    VerificationError,
    VerifierKey,
    checkpoint_body,
    cosigned_message,
    key_id,
    split_note,
    verify_consistency,
    verify_note,
)
from services.platform.backup import RecordTable
from services.platform.db import Database, Tx
from services.platform.refusal import NotFound
from services.transparency.log import TreeReader

log = logging.getLogger(__name__)

# `seq` numbers checkpoints in the order they were written (and committed: writers take a lock),
# so the Kafka relay can publish them as an ordered log; `daily` is the date of a daily one.
CHECKPOINTS_DDL = (
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (id TEXT PRIMARY KEY, tree_size BIGINT NOT "
    "NULL, root_hash TEXT NOT NULL, time TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL, "
    "note TEXT NOT NULL, seq BIGINT UNIQUE, daily TEXT UNIQUE)"
)
REASONS = ("payout_run", "daily", "on_demand")


class Signer:
    """A C2SP note signer: `PRIVATE+KEY+<name>+<key id hex>+<base64(type || seed)>`."""

    def __init__(self, name: str, seed: bytes, alg: int = ED25519):
        if not name or any(c in name for c in "+ \n") or len(seed) != 32:
            raise ValueError("a key name without '+', spaces or newlines and a 32-byte seed")
        self.name, self.alg = name, alg
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.id = key_id(name, alg, public)
        self.verifier = VerifierKey(
            f"{name}+{self.id.hex()}+{base64.b64encode(bytes([alg]) + public).decode()}"
        )
        self._seed = seed

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("a signing key looks like PRIVATE+KEY+<name>+<id>+<key>")
        raw = base64.b64decode(parts[4], validate=True)
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise ValueError("not an Ed25519 signing key")
        signer = cls(parts[2], raw[1:], raw[0])
        if signer.id.hex() != parts[3].lower():
            raise ValueError("the signing key's id does not match the key")
        return signer

    @classmethod
    def generate(cls, name: str, *, witness: bool = False) -> Signer:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed, COSIGNATURE_V1 if witness else ED25519)

    def __str__(self) -> str:
        raw = base64.b64encode(bytes([self.alg]) + self._seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.id.hex()}+{raw}"

    def sign(self, body: str) -> str:
        """The signed note of `body` (which ends in a newline)."""
        signature = self.id + self._key.sign(body.encode())
        return f"{body}\n{DASH} {self.name} {base64.b64encode(signature).decode()}\n"

    def cosign(self, note: str, timestamp: int) -> str:
        """A witness's cosignature/v1 line added to a checkpoint note."""
        body, _ = split_note(note)
        signature = (
            self.id
            + timestamp.to_bytes(8, "big")
            + self._key.sign(cosigned_message(body, timestamp))
        )
        return f"{note}{DASH} {self.name} {base64.b64encode(signature).decode()}\n"


def derived_signer(person_key: bytes, origin: str) -> Signer:
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"insats checkpoint signing key v1"
    ).derive(person_key)
    return Signer(origin.replace(" ", "_"), seed)


@dataclass(frozen=True)
class Keys:
    """The active signing key and every verifier key a stored checkpoint may be signed with."""

    signer: Signer
    verifiers: tuple[VerifierKey, ...]

    @classmethod
    def from_env(cls, person_key: bytes, origin: str, env: Mapping[str, str] | None = None) -> Keys:
        env = os.environ if env is None else env
        derived = derived_signer(person_key, origin)
        configured = env.get("INSATS_CHECKPOINT_KEY", "").strip()
        signer = Signer.parse(configured) if configured else derived
        previous = [
            VerifierKey(k)
            for k in env.get("INSATS_CHECKPOINT_PREVIOUS_KEYS", "").split(",")
            if k.strip()
        ]
        verifiers = [signer.verifier, *previous]
        if str(derived.verifier) not in {str(v) for v in verifiers}:
            verifiers.append(derived.verifier)  # checkpoints signed before a key was configured
        return cls(signer, tuple(verifiers))

    def verifier_for(self, note: str) -> VerifierKey:
        _, signatures = split_note(note)
        for name, sig in signatures:
            for key in self.verifiers:
                if key.name == name and key.id == sig[:4]:
                    return key
        raise VerificationError("the checkpoint is signed by none of the log's keys")


def origin_from_env(org_no: str | None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    configured = env.get("INSATS_CHECKPOINT_ORIGIN", "").strip()
    if configured:
        return configured
    return f"insats/{(org_no or 'kommunen').replace(' ', '')}/events"


@dataclass(frozen=True)
class StoredCheckpoint:
    id: str
    tree_size: int
    root_hash: str  # hex
    time: str
    reason: str
    key: str  # the signing key's name
    note: str
    seq: int = 0  # its place in the order checkpoints were written

    def to_json(self) -> dict[str, Any]:
        """API.md "A checkpoint": one item of `GET /v1/audit/checkpoints`, one Kafka message."""
        return {
            "id": self.id,
            "seq": self.seq,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "time": self.time,
            "reason": self.reason,
            "key": self.key,
            "note": self.note,
        }


_COLUMNS = "id, tree_size, root_hash, time, reason, key, note, seq"

# What was signed and when cannot be derived from the log again: backups copy it row by row.
CHECKPOINT_RECORDS = RecordTable(
    "audit_checkpoints",
    ("id", "tree_size", "root_hash", "time", "reason", "key", "note", "seq", "daily"),
    ("id",),
)


def _row(row: tuple[Any, ...]) -> StoredCheckpoint:
    return StoredCheckpoint(
        str(row[0]),
        int(row[1]),
        str(row[2]),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        str(row[6]),
        int(row[7] or 0),
    )


def setup(tx: Tx) -> None:
    tx.execute(CHECKPOINTS_DDL)
    if not _has_seq(tx):  # a table from before `seq`: number its rows in the order written
        tx.execute("ALTER TABLE audit_checkpoints ADD COLUMN seq BIGINT")
        rows = tx.execute("SELECT id FROM audit_checkpoints ORDER BY time, id").fetchall()
        ids = [r[0] for r in rows]
        tx.executemany(
            "UPDATE audit_checkpoints SET seq = %s WHERE id = %s",
            [(n, i) for n, i in enumerate(ids, 1)],
        )


def _has_seq(tx: Tx) -> bool:
    if tx.dialect == "sqlite":
        columns = tx.execute("PRAGMA table_info(audit_checkpoints)").fetchall()
        return any(r[1] == "seq" for r in columns)
    return bool(
        tx.scalar(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'audit_checkpoints' AND column_name = 'seq'"
        )
    )


def written_after(tx: Tx, after: int, limit: int) -> list[StoredCheckpoint]:
    """The checkpoints written after `seq` `after`, in the order they were written."""
    rows = tx.execute(
        f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE seq > %s ORDER BY seq LIMIT %s",
        (after, limit),
    ).fetchall()
    return [_row(r) for r in rows]


def last_seq(tx: Tx) -> int:
    return int(tx.scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints") or 0)


class Checkpoints:
    """Writes, lists and checks the signed checkpoints."""

    def __init__(
        self,
        db: Database,
        tree: TreeReader,
        keys: Keys,
        origin: str,
        *,
        catch_up: Callable[[], object],
        now: Callable[[], dt.datetime],
        today: Callable[[], dt.date],
        on_write: Callable[[StoredCheckpoint], None] | None = None,
    ):
        self.db, self.tree, self.keys, self.origin = db, tree, keys, origin
        self._catch_up, self._now, self._today = catch_up, now, today
        self.on_write = on_write
        with db.transaction() as tx:
            setup(tx)

    def write(self, reason: str, *, upto_position: int | None = None) -> StoredCheckpoint:
        """Sign the tree as it stands (or as it stood at log `upto_position`)."""
        stored = self._write(reason, upto_position)
        assert stored is not None
        return stored

    def _write(self, reason: str, upto_position: int | None) -> StoredCheckpoint | None:
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}")
        self._catch_up()  # the Merkle log has every event recorded so far
        size = self.tree.size() if upto_position is None else self.tree.size_at(upto_position)
        root = self.tree.root(size)
        latest = self.latest()
        if latest is not None:  # the older of the two sizes must be a prefix of the newer
            (small, small_root), (large, large_root) = sorted(
                [(latest.tree_size, bytes.fromhex(latest.root_hash)), (size, root)]
            )
            proof = self.tree.consistency(small, large)
            verify_consistency(small, large, small_root, large_root, proof)
        now = self._now().astimezone(dt.UTC).replace(microsecond=0)
        time = now.isoformat().replace("+00:00", "Z")
        note = self.keys.signer.sign(checkpoint_body(self.origin, size, root, time))
        stored = StoredCheckpoint(
            hashlib.sha256(note.encode()).hexdigest()[:16],
            size,
            root.hex(),
            time,
            reason,
            self.keys.signer.name,
            note,
        )
        daily = self._today().isoformat() if reason == "daily" else None
        with self.db.transaction() as tx:
            if tx.dialect == "postgresql":  # writers in turn: they commit in `seq` order
                tx.execute("LOCK TABLE audit_checkpoints IN SHARE ROW EXCLUSIVE MODE")
            stored = dataclasses.replace(stored, seq=last_seq(tx) + 1)
            tx.execute(
                f"INSERT INTO audit_checkpoints ({_COLUMNS}, daily) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (*dataclasses.astuple(stored), daily),
            )
            if tx.scalar("SELECT id FROM audit_checkpoints WHERE id = %s", (stored.id,)) is None:
                return None  # another instance wrote today's daily checkpoint first
        log.info("checkpoint %s: tree size %d (%s)", stored.id, size, reason)
        if self.on_write is not None:
            self.on_write(stored)
        return stored

    def daily(self) -> StoredCheckpoint | None:
        """Today's daily checkpoint, written if no instance has written it yet."""
        today = self._today().isoformat()
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE daily = %s", (today,)
            ).fetchone()
        if row is not None:
            return None
        return self._write("daily", None)

    def all(self) -> list[StoredCheckpoint]:
        with self.db.transaction() as tx:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM audit_checkpoints ORDER BY tree_size, time, id"
            ).fetchall()
        return [_row(r) for r in rows]

    def written_after(self, after: int, limit: int) -> list[StoredCheckpoint]:
        with self.db.transaction() as tx:
            return written_after(tx, after, limit)

    def latest(self) -> StoredCheckpoint | None:
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM audit_checkpoints ORDER BY tree_size DESC, time DESC, "
                "id LIMIT 1"
            ).fetchone()
        return None if row is None else _row(row)

    def with_size(self, tree_size: int) -> list[StoredCheckpoint]:
        with self.db.transaction() as tx:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE tree_size = %s ORDER BY seq",
                (tree_size,),
            ).fetchall()
        return [_row(r) for r in rows]

    def get(self, checkpoint_id: str) -> StoredCheckpoint:
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE id = %s", (checkpoint_id,)
            ).fetchone()
        if row is None:
            raise NotFound("checkpoint_not_found", f"no checkpoint {checkpoint_id}", "id")
        return _row(row)

    def check(self, stored: StoredCheckpoint) -> Checkpoint:
        """The checkpoint of a stored row, if its note is signed by one of the log's keys and
        says what the row says; raises VerificationError otherwise."""
        body = verify_note(stored.note, self.keys.verifier_for(stored.note))
        checkpoint = Checkpoint(body)
        if (
            checkpoint.size != stored.tree_size
            or checkpoint.root.hex() != stored.root_hash
            or hashlib.sha256(stored.note.encode()).hexdigest()[:16] != stored.id
        ):
            raise VerificationError(f"checkpoint {stored.id}: the row does not match its note")
        if checkpoint.origin != self.origin:
            raise VerificationError(f"checkpoint {stored.id}: origin {checkpoint.origin!r}")
        return checkpoint
