"""A faithful backup of an installation's records, and its restore into an empty store.

Unlike the sharing export (`insats events export`: the public contract, re-recorded on import),
a backup copies the *stored records* themselves: every stream of every event store (public
streams, idempotency records, one-open-journey locks, closed payout runs and their ledger) with
its notification id, stream, version, topic and state bytes exactly as stored (encrypted ones
stay encrypted), plus the read-model tables that are records rather than derivations (what was
published, e.g. the alert change feed), plus small files (the API keys' hashes). A restore
writes them back under the same notification ids, so recorded-at times, actors, sources,
correlation ids, person references and every position a closed run names are unchanged, and
`backup → restore → backup` gives the same bytes.

The file is JSON Lines (UTF-8, one canonical JSON object per line: sorted keys, no spaces):

    {"kind":"header","format":"insats-backup","version":1,...fingerprints...}
    {"kind":"event","store":"lifecycle","id":1,"stream":"…","version":1,"topic":"…","state":"…"}
    {"kind":"row","table":"alerts_changes","values":[…]}
    {"kind":"file","name":"api-keys.json","text":"…"}
    {"kind":"end","counts":{…},"sha256":"…"}

`state` is base64. The last line holds the SHA-256 of every byte before it and the count of
each kind of record, so a truncated or altered file is refused before anything is written.
There is no time stamp in the file (its name and the file system say when it was made), so
equal contents give equal bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql

from services.platform.db import Database

FORMAT = "insats-backup"
VERSION = 1
PAGE = 1000  # records read or written per statement


class BackupError(Exception):
    """A backup that cannot be restored here (nothing was written), or a store that is not
    empty."""


def fingerprint(key: bytes | None, purpose: str) -> str | None:
    """A short, one-way name for a secret key, to tell two keys apart without revealing either
    (domain-separated: the same key gives different fingerprints for different purposes)."""
    if key is None:
        return None
    return hashlib.sha256(f"insats:{purpose}:".encode() + key).hexdigest()[:32]


def _line(record: dict[str, Any]) -> bytes:
    return (
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode("utf-8")


# --- event stores ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRecord:
    id: int
    stream: str
    version: int
    topic: str
    state: bytes


class EventTable:
    """One eventsourcing application's stored events, read and written as stored (SQLite or
    PostgreSQL recorder), under a name of the installation's (`lifecycle`, `payout-runs`)."""

    def __init__(self, name: str, recorder: ApplicationRecorder, decode: Callable[..., Any]):
        self.name = name
        self.recorder = recorder
        self.decode = decode  # the application's mapper: proves a state is readable here

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def records(self, stop: int) -> Iterator[StoredRecord]:
        after = 0
        while after < stop:
            page = self.recorder.select_notifications(
                start=after, limit=PAGE, stop=stop, inclusive_of_start=False
            )
            if not page:
                return
            for n in page:
                yield StoredRecord(
                    n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state)
                )
            after = page[-1].id

    def insert(self, records: Iterable[StoredRecord]) -> int:
        """Write records with their own notification ids, in one transaction."""
        recorder = self.recorder
        count = 0
        if isinstance(recorder, PostgresApplicationRecorder):
            store = recorder.datastore
            table = sql.Identifier(store.schema, recorder.events_table_name)
            as_uuid = store.originator_id_type == "uuid"
            insert = sql.SQL(
                "INSERT INTO {} (notification_id, originator_id, originator_version, topic, "
                "state) VALUES (%s, %s, %s, %s, %s)"
            ).format(table)
            with store.transaction(commit=True) as cur:
                # As the recorder does: no other writer may take ids while these are written.
                cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
                for batch in _batches(records):
                    cur.executemany(
                        insert,
                        [
                            (
                                r.id,
                                UUID(r.stream) if as_uuid else r.stream,
                                r.version,
                                r.topic,
                                r.state,
                            )
                            for r in batch
                        ],
                    )
                    count += len(batch)
                if count:  # the next id the recorder takes follows the last one restored
                    qualified = f'"{store.schema}"."{recorder.events_table_name}"'
                    cur.execute(
                        sql.SQL(
                            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
                            "(SELECT MAX(notification_id) FROM {}))"
                        ).format(table),
                        (qualified,),
                    )
            return count
        assert isinstance(recorder, SQLiteApplicationRecorder)
        as_hex = recorder.datastore.originator_id_type == "uuid"
        statement = (
            f"INSERT INTO {recorder.events_table_name} "
            "(rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)"
        )
        with recorder.datastore.transaction(commit=True) as c:
            for batch in _batches(records):
                c.executemany(
                    statement,
                    [
                        (
                            r.id,
                            UUID(r.stream).hex if as_hex else r.stream,
                            r.version,
                            r.topic,
                            r.state,
                        )
                        for r in batch
                    ],
                )
                count += len(batch)
        return count

    def delete_all(self) -> None:
        """Empty the table again (undoing a restore that failed part-way into an empty store)."""
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
            with recorder.datastore.transaction(commit=True) as cur:
                cur.execute(sql.SQL("DELETE FROM {}").format(table))
            return
        assert isinstance(recorder, SQLiteApplicationRecorder)
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {recorder.events_table_name}")


def _batches(records: Iterable[StoredRecord]) -> Iterator[list[StoredRecord]]:
    batch: list[StoredRecord] = []
    for r in records:
        batch.append(r)
        if len(batch) == PAGE:
            yield batch
            batch = []
    if batch:
        yield batch


# --- read-model tables that are records ------------------------------------------------------


@dataclass(frozen=True)
class RecordTable:
    """A read-model table whose rows cannot be derived from the log again (what was published
    and when): copied row by row, in primary-key order."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    def rows(self, db: Database) -> list[list[Any]]:
        with db.transaction() as tx:
            tx.execute(
                f"SELECT {', '.join(self.columns)} FROM {self.name} ORDER BY {', '.join(self.key)}"
            )
            return [list(row) for row in tx.fetchall()]

    def replace(self, db: Database, rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join(["%s"] * len(self.columns))
        with db.transaction() as tx:
            tx.execute(f"DELETE FROM {self.name}")
            if rows:
                tx.executemany(
                    f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})", rows
                )


# --- the file ----------------------------------------------------------------------------------


def write_backup(
    out: IO[bytes],
    header: dict[str, Any],
    events: Sequence[tuple[EventTable, int]],
    rows: Sequence[tuple[RecordTable, list[list[Any]]]],
    files: dict[str, str],
    progress: Callable[[int], None] = lambda n: None,
) -> Counter[str]:
    """Write a backup: `events` are the tables and the head each is read up to; `rows` the
    record tables' rows (read before the heads, so no row describes a later event)."""
    digest = hashlib.sha256()
    counts: Counter[str] = Counter()

    def emit(record: dict[str, Any]) -> None:
        data = _line(record)
        digest.update(data)
        out.write(data)

    emit({"kind": "header", "format": FORMAT, "version": VERSION, **header})
    for table, head in events:
        counts[table.name] += 0
        for r in table.records(head):
            emit(
                {
                    "kind": "event",
                    "store": table.name,
                    "id": r.id,
                    "stream": r.stream,
                    "version": r.version,
                    "topic": r.topic,
                    "state": base64.b64encode(r.state).decode("ascii"),
                }
            )
            counts[table.name] += 1
            progress(1)
    for record_table, values in rows:
        counts[record_table.name] += 0
        for row in values:
            emit({"kind": "row", "table": record_table.name, "values": row})
            counts[record_table.name] += 1
    for name, text in sorted(files.items()):
        emit({"kind": "file", "name": name, "text": text})
        counts[f"file:{name}"] += 1
    out.write(_line({"kind": "end", "counts": dict(counts), "sha256": digest.hexdigest()}))
    return counts


@dataclass(frozen=True)
class Backup:
    """A backup file that has been checked whole: its header, counts and digest."""

    path: Path
    header: dict[str, Any]
    counts: dict[str, int]

    @classmethod
    def open(cls, path: Path) -> Backup:
        """Read the file once and check it: the header's format and version, every line is one
        JSON object of a known kind, and the last line's digest and counts match."""
        digest = hashlib.sha256()
        header: dict[str, Any] | None = None
        end: dict[str, Any] | None = None
        seen: Counter[str] = Counter()
        with path.open("rb") as lines:
            for number, data in enumerate(lines, start=1):
                if end is not None:
                    raise BackupError(f"line {number}: data after the end record")
                try:
                    record = json.loads(data)
                except (ValueError, UnicodeDecodeError):
                    raise BackupError(f"line {number}: not a JSON object") from None
                if not isinstance(record, dict):
                    raise BackupError(f"line {number}: not a JSON object")
                kind = record.get("kind")
                if number == 1:
                    if kind != "header" or record.get("format") != FORMAT:
                        raise BackupError(
                            "not an insats backup (made by `insats backup create`); a sharing "
                            "export is loaded with `insats events import`"
                        )
                    if record.get("version") != VERSION:
                        raise BackupError(
                            f"backup format version {record.get('version')!r}; this release "
                            f"reads version {VERSION}"
                        )
                    header = record
                elif kind == "end":
                    end = record
                    continue
                elif kind == "event":
                    seen[str(record.get("store"))] += 1
                elif kind == "row":
                    seen[str(record.get("table"))] += 1
                elif kind == "file":
                    seen[f"file:{record.get('name')}"] += 1
                else:
                    raise BackupError(f"line {number}: unknown record kind {kind!r}")
                digest.update(data)
        if header is None:
            raise BackupError("the file is empty")
        if end is None:
            raise BackupError("the file ends before its end record: it is incomplete")
        if end.get("sha256") != digest.hexdigest():
            raise BackupError("the file's checksum does not match: it was altered or damaged")
        counts = {k: int(v) for k, v in dict(end.get("counts") or {}).items()}
        if {k: v for k, v in counts.items() if v} != dict(+seen):
            raise BackupError("the record counts do not match the end record")
        return cls(path, header, counts)

    def records(self, kind: str) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as lines:
            for data in lines:
                record = json.loads(data)
                if record.get("kind") == kind:
                    yield record

    def events(self, store: str) -> Iterator[StoredRecord]:
        last = 0
        for r in self.records("event"):
            if r["store"] != store:
                continue
            try:
                record = StoredRecord(
                    int(r["id"]),
                    str(r["stream"]),
                    int(r["version"]),
                    str(r["topic"]),
                    base64.b64decode(r["state"], validate=True),
                )
                UUID(record.stream)
            except (KeyError, ValueError, TypeError):
                raise BackupError(f"{store}: a malformed record after position {last}") from None
            if record.id <= last:
                raise BackupError(f"{store}: positions out of order at {record.id}")
            last = record.id
            yield record

    def rows(self, table: str) -> list[list[Any]]:
        return [list(r["values"]) for r in self.records("row") if r["table"] == table]

    def files(self) -> dict[str, str]:
        return {str(r["name"]): str(r["text"]) for r in self.records("file")}
