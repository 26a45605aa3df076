"""`insats backup create|restore`: what an installation's backup holds, and its restore.

The format and the copying are `services.platform.backup`; this module names what belongs in a
backup of insats (both event stores, the alerts service's published record, the signed
checkpoints, the API keys' hashes) and checks that the backup fits the installation it is
restored into (the person key that derives `person_ref`, the cipher key that encrypts stored
events), before anything is written. Read models are not in the backup: they are rebuilt from
the restored log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from insats.bootstrap import Container, build, keys_path
from services.alerts.store import PUBLISHED
from services.lifecycle.store import StoreConfig
from services.platform.backup import (
    Backup,
    BackupError,
    EventTable,
    StoredRecord,
    fingerprint,
    write_backup,
)
from services.transparency.checkpoints import CHECKPOINT_RECORDS
from services.transparency.cosignatures import COSIGNATURE_RECORDS

LIFECYCLE, PAYOUT_RUNS = "lifecycle", "payout-runs"
KEYS_FILE = "api-keys.json"
# The read-model tables that are records: what the alerts service published, the checkpoints
# the log's key signed.
RECORDS = (*PUBLISHED, CHECKPOINT_RECORDS, COSIGNATURE_RECORDS)
PERSON_KEY_PURPOSE, CIPHER_KEY_PURPOSE = "person-ref", "cipher"


def event_tables(c: Container) -> list[EventTable]:
    """The event stores, in the order they are written to a backup and restored."""
    runs = c.payments.runs
    return [
        EventTable(LIFECYCLE, c.lifecycle.recorder, c.lifecycle.mapper.to_domain_event),
        EventTable(PAYOUT_RUNS, runs.recorder, runs.mapper.to_domain_event),
    ]


def _cipher_fingerprint(config: StoreConfig) -> str | None:
    key = config.cipher_key.encode() if config.cipher_key else None
    return fingerprint(key, CIPHER_KEY_PURPOSE)


def create(
    c: Container,
    out: IO[bytes],
    *,
    include_person_key: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> Counter[str]:
    """Write a backup of the installation `c` to `out`.

    Read in this order so that the copy is consistent while the service runs: the payout runs'
    head first (every run it holds names a log position at most the lifecycle head read
    later), then the published alerts and the checkpoints (computed from events already
    recorded), then the lifecycle head. Later writes are simply not in this backup."""
    person_key = c.config.person_key()
    header = {
        "person_key_fingerprint": fingerprint(person_key, PERSON_KEY_PURPOSE),
        "cipher_key_fingerprint": _cipher_fingerprint(c.config),
        "encrypted": c.config.cipher_key is not None,
    }
    if include_person_key:
        header["person_key"] = person_key.hex()
    lifecycle, runs = event_tables(c)
    runs_head = runs.head()
    published = [(table, table.rows(c.readmodel_db)) for table in RECORDS]
    lifecycle_head = lifecycle.head()
    keys = c.keys.path  # the keys file this installation reads
    files = {KEYS_FILE: keys.read_text(encoding="utf-8")} if keys.exists() else {}
    return write_backup(
        out,
        header,
        [(lifecycle, lifecycle_head), (runs, runs_head)],
        published,
        files,
        progress,
    )


@dataclass
class Restored:
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)


def check_keys(config: StoreConfig, backup: Backup) -> bytes | None:
    """Refuse a backup made with another person key or cipher key than this installation's.
    Returns the person key to install (the embedded default without a key file yet, and a
    backup that carries its key), else None."""
    header = backup.header
    wanted = header.get("person_key_fingerprint")
    carried = bytes.fromhex(header["person_key"]) if header.get("person_key") else None
    if carried is not None and fingerprint(carried, PERSON_KEY_PURPOSE) != wanted:
        raise BackupError("the person key in the backup does not match its fingerprint")
    install: bytes | None = None
    have = config.configured_person_key()
    if have is None:
        if carried is None or config.postgres_url:
            raise BackupError(
                f"set INSATS_PERSON_KEY to the person key the backup was made with "
                f"(fingerprint {wanted}); without it new decisions would get other person "
                "references than the restored ones"
                + ("" if config.postgres_url else ", or make the backup with --include-person-key")
            )
        install = carried
    elif fingerprint(have, PERSON_KEY_PURPOSE) != wanted:
        raise BackupError(
            f"this installation's person key (fingerprint "
            f"{fingerprint(have, PERSON_KEY_PURPOSE)}) is not the one the backup was made with "
            f"({wanted}): the person references would not match"
        )
    cipher = _cipher_fingerprint(config)
    if cipher != header.get("cipher_key_fingerprint"):
        if header.get("cipher_key_fingerprint") is None:
            raise BackupError(
                "the backup's events are not encrypted but INSATS_CIPHER_KEY is set here; "
                "restore without it (and re-encrypt by other means) or use the store it came from"
            )
        raise BackupError(
            "set INSATS_CIPHER_KEY to the key the backup's events were encrypted with "
            f"(fingerprint {header.get('cipher_key_fingerprint')})"
        )
    return install


def restore(
    config: StoreConfig, backup: Backup, progress: Callable[[int], None] = lambda n: None
) -> Restored:
    """Restore `backup` into the empty installation `config`: all of it or, on any failure,
    nothing (stores written before the failure are emptied again)."""
    install = check_keys(config, backup)
    if install is not None:
        config.install_person_key(install)
    notes: list[str] = []
    c = build(config, record_default_rates=False)
    try:
        tables = event_tables(c)
        busy = [t.name for t in tables if t.head()]
        if busy:
            raise BackupError(
                f"the store is not empty ({', '.join(busy)}): restore into a new, empty store"
            )
        written: list[EventTable] = []
        try:
            for table in tables:
                written.append(table)
                table.insert(_decoded(table, backup, progress))
            for published in RECORDS:
                published.replace(c.readmodel_db, backup.rows(published.name))
        except Exception:
            for table in written:
                table.delete_all()
            for published in RECORDS:
                published.replace(c.readmodel_db, [])
            raise
        files = backup.files()
        if KEYS_FILE in files:
            keys = keys_path(config)
            if not keys.exists():
                keys.parent.mkdir(parents=True, exist_ok=True)
                keys.touch(mode=0o600)
                keys.write_text(files[KEYS_FILE], encoding="utf-8")
            elif keys.read_text(encoding="utf-8") != files[KEYS_FILE]:
                notes.append(f"kept the API keys already in {keys} (the backup's differ)")
    finally:
        c.close()
    # A new container: the one above cached the empty store. Its feeds rebuild the read models
    # and the Merkle log, which the restored checkpoints then check (`insats audit verify`).
    c = build(config, record_default_rates=False)
    try:
        for feed in c.feeds:
            feed.catch_up()
    finally:
        c.close()
    return Restored(dict(backup.counts), notes)


def _decoded(
    table: EventTable, backup: Backup, progress: Callable[[int], None]
) -> Iterator[StoredRecord]:
    """The backup's records of one store, each decoded by the application first: a record this
    installation cannot read (another cipher key, an unknown event type) stops the restore."""
    for r in backup.events(table.name):
        try:
            table.decode(StoredEvent(UUID(r.stream), r.version, r.topic, r.state))
        except Exception as exc:
            raise BackupError(
                f"{table.name} position {r.id} cannot be read here: {type(exc).__name__}: {exc}"
            ) from None
        progress(1)
        yield r


__all__ = ["Backup", "BackupError", "Restored", "StoredRecord", "create", "restore"]
