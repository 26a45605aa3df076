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
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, Notification
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
    # lacks it (the class default, as getattr on the decoded event would give)
    fields: tuple[tuple[str, Any], ...]


class PublicDecoder:
    """Stored record → public envelope, without building the domain event."""

    def __init__(self, mapper: Mapper[Any], stream_types: Mapping[type[Fact], str]):
        self._cipher = mapper.cipher
        self._compressor = mapper.compressor
        self._shapes: dict[str, _Shape] = {}
        for cls, stream_type in stream_types.items():
            fields = tuple(
                (f.name, to_json_data(getattr(cls, f.name, None)))
                for f in dataclasses.fields(cls)
                if f.name not in ENVELOPE_FIELDS
            )
            self._shapes[get_topic(cls)] = _Shape(cls.__name__, stream_type, fields)

    def is_public(self, topic: str) -> bool:
        return topic in self._shapes

    def decode(self, n: Notification, *, include_person_id: bool = False) -> PublicEvent | None:
        shape = self._shapes.get(n.topic)
        if shape is None:
            return None
        state = n.state
        if self._cipher is not None:
            state = self._cipher.decrypt(state)
        if self._compressor is not None:
            state = self._compressor.decompress(state)
        data: dict[str, Any] = read_stored_json(state)
        missing = object()
        payload: dict[str, Any] = {}
        for name, default in shape.fields:
            value = data.get(name, missing)
            if value is missing:
                value = default
            if name in PRIVATE_FIELDS and not include_person_id:
                continue
            if value is None and name in ADDED_IN_V1:
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


def record_digest(n: Notification) -> str:
    """SHA-256 (hex) of a stored record as stored (encrypted, when the store encrypts): the
    part of a Merkle leaf that binds the public form to the bytes in the database."""
    head = f"insats-record/v1\n{n.id}\n{n.originator_id}\n{n.originator_version}\n{n.topic}\n"
    return hashlib.sha256(head.encode() + n.state).hexdigest()
