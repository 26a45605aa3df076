"""The stored log read as the public contract, at the log's speed.

`LifecycleApp.to_public` turns a stored record into a domain event (eventsourcing's mapper) and
that into the public envelope (`public_event`). Read models, exports, relays and audits read the
whole log that way, and most of the time went into building domain objects only to turn them
back into JSON data. `PublicDecoder` goes from the stored bytes straight to the envelope: one
`orjson.loads`, then each transcoded value (`{"_type_": .., "_data_": ..}`) turned into its
public JSON form. The result is the same envelope, key for key and byte for byte (checked
against the mapper's way for every event type in tests/lifecycle/integration/test_public_log.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from contracts.events import PublicEvent
from services.lifecycle.domain.base import (
    ADDED_IN_V1,
    ENVELOPE_FIELDS,
    PRIVATE_FIELDS,
    Fact,
    event_id,
    to_json_data,
)

# The public JSON form of each transcoded type (application.py registers these transcodings:
# eventsourcing's UUIDAsHex, DecimalAsStr, DatetimeAsISO and our DateAsISO).
_PUBLIC_FORM: dict[str, Callable[[Any], Any]] = {
    "date_iso": lambda data: data,  # date.isoformat() round-trips exactly
    "datetime_iso": lambda data: data,  # likewise datetime.isoformat()
    "decimal_str": lambda data: f"{Decimal(data):.2f}",
    "uuid_hex": lambda data: str(UUID(data)),
}


def _public(value: Any) -> Any:
    """A decoded JSON value with each transcoded value in its public form."""
    kind = type(value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _PUBLIC_FORM[value["_type_"]](value["_data_"])
        return {key: _public(item) for key, item in value.items()}
    if kind is list:
        return [_public(item) for item in value]
    return value


def read_stored_json(state: bytes) -> Any:
    """A record's (decrypted, decompressed) state as public JSON data. orjson reads the bytes
    (a third of json's time); a state is one flat object, so its scalars are taken as they are
    and only objects and lists are walked."""
    try:
        data = orjson.loads(state)
    except orjson.JSONDecodeError:  # what orjson does not read (an integer beyond 64 bits)
        data = json.loads(state)
    if type(data) is not dict:
        return _public(data)
    return {
        key: _public(item) if type(item) is dict or type(item) is list else item
        for key, item in data.items()
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """What the envelope needs of one public event class, worked out once."""

    type: str
    stream_type: str
    # payload fields in the dataclass's order, each with its public form when the stored state
    # lacks it (the class default, as getattr on the decoded event would give) and whether it
    # is left out when null (added in v1); `public` without the private fields (person_id)
    fields: tuple[tuple[str, Any, bool], ...]
    public: tuple[tuple[str, Any, bool], ...]


_MISSING = object()


class PublicDecoder:
    """Stored record → public envelope, without building the domain event."""

    def __init__(self, mapper: Mapper[Any], stream_types: Mapping[type[Fact], str]):
        self._cipher = mapper.cipher
        self._compressor = mapper.compressor
        self._shapes: dict[str, _Shape] = {}
        for cls, stream_type in stream_types.items():
            fields = tuple(
                (f.name, to_json_data(getattr(cls, f.name, None)), f.name in ADDED_IN_V1)
                for f in dataclasses.fields(cls)
                if f.name not in ENVELOPE_FIELDS
            )
            public = tuple(f for f in fields if f[0] not in PRIVATE_FIELDS)
            self._shapes[get_topic(cls)] = _Shape(cls.__name__, stream_type, fields, public)

    def is_public(self, topic: str) -> bool:
        return topic in self._shapes

    def decode(
        self, n: Notification | StoredRecord, *, include_person_id: bool = False
    ) -> PublicEvent | None:
        shape = self._shapes.get(n.topic)
        if shape is None:
            return None
        state = n.state
        if self._cipher is not None:
            state = self._cipher.decrypt(state)
        if self._compressor is not None:
            state = self._compressor.decompress(state)
        data: dict[str, Any] = read_stored_json(state)
        get = data.get
        payload: dict[str, Any] = {}
        for name, default, optional in shape.fields if include_person_id else shape.public:
            value = get(name, _MISSING)
            if value is _MISSING:
                value = default
            if value is None and optional:
                continue
            payload[name] = value
        stream_id = str(n.originator_id)
        return PublicEvent(
            position=n.id,
            event_id=event_id(stream_id, n.originator_version),
            stream_id=stream_id,
            stream_type=shape.stream_type,
            type=shape.type,
            version=n.originator_version,
            effective_date=data["effective_date"],
            recorded_at=data["timestamp"].replace("+00:00", "Z"),
            actor=data["actor"],
            source_system=data["source_system"],
            correlation_id=data["correlation_id"],
            payload=payload,
        )


class StoredRecord(NamedTuple):
    """A stored record as read from the SQLite log for the public contract (`read_records`):
    what a `Notification` holds, the stream id kept as the UUID's text."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def _uuid_text(stored: str) -> str:
    # The SQLite recorder stores a UUID's 32 hex digits; the public form has the dashes.
    if len(stored) == 32:
        h = stored.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(UUID(stored))


def read_records(recorder: Any, after: int, limit: int, topics: Sequence[str]) -> list[Any]:
    """The log's records of `topics` after position `after`, at most `limit`: the recorder's
    `select_notifications`, read straight from the SQLite table there (the same statement, rows
    as `StoredRecord`: no UUID object per row, a fifth of the log's read)."""
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return list(
            recorder.select_notifications(
                start=after, limit=limit, topics=topics, inclusive_of_start=False
            )
        )
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE rowid>? "
        f"AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid LIMIT ?"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, (after, *topics, limit))
        return [
            StoredRecord(rowid, _uuid_text(stream), version, topic, state)
            for rowid, stream, version, topic, state in c.fetchall()
        ]


def record_digest(n: Notification | StoredRecord) -> str:
    """SHA-256 (hex) of a stored record as stored (encrypted, when the store encrypts): the
    part of a Merkle leaf that binds the public form to the bytes in the database."""
    head = f"insats-record/v1\n{n.id}\n{n.originator_id}\n{n.originator_version}\n{n.topic}\n"
    return hashlib.sha256(head.encode() + n.state).hexdigest()
