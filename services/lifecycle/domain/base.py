"""What every recorded fact carries, and how a fact becomes public-contract JSON.

Event classes are stored by topic (`module:QualName`). Moving or renaming one breaks replay of
stored events unless the old topic is registered with `eventsourcing.utils.register_topic`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from hashlib import sha1
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

# Namespace for deterministic ids (journey from external ref, provider from org. number, ...).
INSATS_NS = uuid5(NAMESPACE_URL, "https://insats.example/ids")

# Fields of the library's base events and of our metadata: not part of a public payload.
ENVELOPE_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "effective_date",
        "actor",
        "source_system",
        "correlation_id",
    }
)


def stable_id(*parts: str) -> UUID:
    return uuid5(INSATS_NS, ":".join(parts))


def event_id(stream_id: UUID | str, version: int) -> str:
    """A public event's id: the same for the same fact forever (consumers de-duplicate by it).

    It is `str(uuid5(INSATS_NS, f"event:{stream_id}:{version}"))`, written out (RFC 4122 §4.3:
    SHA-1 of namespace and name, version and variant bits set) because every event read from
    the log needs one and the UUID objects cost more than the hash."""
    digest = bytearray(sha1(_NS_BYTES + f"event:{stream_id}:{version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NS_BYTES = INSATS_NS.bytes


@dataclass(frozen=True)
class CommandContext:
    """Who records a fact, from which system, under which correlation id, on which day — and,
    for a provider's key, the provider it acts for (what it may see and do is scoped to it)."""

    actor: str
    source_system: str
    correlation_id: str
    today: date
    provider_id: str | None = None

    def meta(self, effective_date: date) -> dict[str, Any]:
        return {
            "effective_date": effective_date,
            "actor": self.actor,
            "source_system": self.source_system,
            "correlation_id": self.correlation_id,
        }


class Event(Aggregate.Event):
    """Base of every event of our aggregates: each aggregate has one `when(event)` that
    applies all of its events (one place per aggregate, matching on the event's class)."""

    def apply(self, aggregate: Any) -> None:
        aggregate.when(self)


class Fact(Event):
    """Base of every public event: the effective date of the fact and who recorded it."""

    effective_date: date
    actor: str
    source_system: str
    correlation_id: str

    def payload(self, *, include_person_id: bool = False) -> dict[str, Any]:
        """The public-contract payload: JSON data (dates ISO, money two-decimal strings)."""
        return {
            f.name: to_json_data(getattr(self, f.name, None))
            for f in dataclasses.fields(self)
            if f.name not in ENVELOPE_FIELDS
            and (include_person_id or f.name not in PRIVATE_FIELDS)
            and not (f.name in ADDED_IN_V1 and getattr(self, f.name, None) is None)
        }


# Personal data kept in the store (encrypted at rest when a cipher is configured) but never
# published.
PRIVATE_FIELDS = frozenset({"person_id"})

# Optional fields added to the v1 contract later: left out while unset, so every event recorded
# before reads exactly as it did (and exports stay byte-identical).
ADDED_IN_V1 = frozenset({"counsellor"})


def to_json_data(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: to_json_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_data(v) for v in value]
    return value
