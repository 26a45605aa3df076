"""What the relay publishes: one `Message` per log entry, rendered by the functions that serve the
same thing over HTTP (`PublicEvent.to_dict` for `GET /v1/events`, `AlertChange.to_dict` for
`GET /v1/alerts/changes`, `Run.to_json_head/tail` for a run), so Kafka and the API never differ.

A message is a pure function of the stored entry: sending it twice yields byte-identical key,
value and headers (the same `event_id`), which is what lets consumers drop repeats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import uuid5

from contracts import kafka as contract
from contracts.events import PublicEvent
from services.lifecycle.domain.base import INSATS_NS, event_id


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # without the prefix (contracts.kafka), e.g. "journeys.v1"
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    position: int  # the entry's place in its own ordered log
    event_id: str


def dumps(data: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON in the renderer's key order: deterministic, so repeats are identical."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _headers(eid: str, type_: str, position: int, schema: str) -> tuple[tuple[str, bytes], ...]:
    return (
        ("event_id", eid.encode()),
        ("type", type_.encode()),
        ("position", str(position).encode()),
        ("schema", schema.encode()),
    )


def event_message(event: PublicEvent) -> Message:
    """A journey, provider or rate-table event: the auditors' feed item, keyed by its stream
    (the rate table by the constant key `rates`)."""
    topic = contract.TOPIC_BY_STREAM_TYPE[event.stream_type]
    key = contract.RATES_KEY if topic == contract.RATES else event.stream_id
    return Message(
        topic=topic,
        key=key.encode(),
        value=dumps(event.to_dict()),
        headers=_headers(
            event.event_id, event.type, event.position, contract.event_schema_id(event.type)
        ),
        position=event.position,
        event_id=event.event_id,
    )


def alert_change_id(seq: int) -> str:
    """An alert change's stable id: its place in the change feed, which a rebuild keeps."""
    return str(uuid5(INSATS_NS, f"alert-change:{seq}"))


def alert_message(change: dict[str, Any]) -> Message:
    """`change` is `AlertChange.to_dict()` (one item of `GET /v1/alerts/changes`)."""
    seq = int(change["seq"])
    eid = alert_change_id(seq)
    return Message(
        topic=contract.ALERTS,
        key=str(change["journey_id"]).encode(),
        value=dumps(change),
        headers=_headers(eid, str(change["type"]), seq, contract.message_schema_id("AlertChange")),
        position=seq,
        event_id=eid,
    )


def checkpoint_message(checkpoint: dict[str, Any]) -> Message:
    """`checkpoint` is `StoredCheckpoint.to_json()` (one item of `GET /v1/audit/checkpoints`)."""
    seq = int(checkpoint["seq"])
    eid = str(uuid5(INSATS_NS, f"checkpoint:{checkpoint['id']}"))
    return Message(
        topic=contract.CHECKPOINTS,
        key=str(checkpoint["id"]).encode(),
        value=dumps(checkpoint),
        headers=_headers(eid, "Checkpoint", seq, contract.message_schema_id("Checkpoint")),
        position=seq,
        event_id=eid,
    )


def run_message(run_json: dict[str, Any], run_stream_id: str, position: int) -> Message:
    """A closed run without its lines. `run_json` is `Run.to_json()`'s head and tail; `position`
    is the run's place in the payout-run log (not the event-log position it was computed from,
    which is in the value)."""
    value = {
        "month": run_json["month"],
        "position": run_json["position"],
        "totals": run_json["totals"],
        "total": run_json["total"],
        "files": run_json["files"],
        "closed_at": run_json["closed_at"],
    }
    if run_json.get("checkpoint"):  # absent, not null, for earlier runs: their messages stay
        value["checkpoint"] = run_json["checkpoint"]  # byte-identical when sent again
    eid = event_id(run_stream_id, 1)  # the run's one event: PayoutRunClosed, version 1
    return Message(
        topic=contract.PAYOUT_RUNS,
        key=str(value["month"]).encode(),
        value=dumps(value),
        headers=_headers(
            eid, "PayoutRunClosed", position, contract.message_schema_id("PayoutRunClosed")
        ),
        position=position,
        event_id=eid,
    )
