"""The Kafka contract, version 1 (API.md "Kafka"): topics, and a JSON Schema per message kind.

Journey, provider and rate-table messages carry one public event exactly as one item of
`GET /v1/events`; their schema is that event type's schema in `contracts/events/v1/`. Alert
changes and closed payout runs have their own schemas here (`contracts/kafka/v1/`), generated
from the models below (`insats contracts write`; a test fails when they drift).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TOPIC_VERSION = 1
SCHEMA_BASE = "https://insats.example/contracts"
SCHEMA_DIR = Path(__file__).parent / f"v{TOPIC_VERSION}"

# Topic suffixes (after INSATS_KAFKA_TOPIC_PREFIX, default "insats.").
JOURNEYS = f"journeys.v{TOPIC_VERSION}"
PROVIDERS = f"providers.v{TOPIC_VERSION}"
RATES = f"rates.v{TOPIC_VERSION}"
ALERTS = f"alerts.v{TOPIC_VERSION}"
PAYOUT_RUNS = f"payout-runs.v{TOPIC_VERSION}"
CHECKPOINTS = f"checkpoints.v{TOPIC_VERSION}"
TOPIC_BY_STREAM_TYPE = {"journey": JOURNEYS, "provider": PROVIDERS, "rates": RATES}
EVENT_TOPICS: tuple[str, ...] = (JOURNEYS, PROVIDERS, RATES)
ALL_TOPICS: tuple[str, ...] = (JOURNEYS, PROVIDERS, RATES, ALERTS, PAYOUT_RUNS, CHECKPOINTS)
RATES_KEY = "rates"

HEADERS: tuple[str, ...] = ("event_id", "type", "position", "schema")


def event_schema_id(event_type: str) -> str:
    return f"{SCHEMA_BASE}/events/v1/{event_type}.json"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertChange(_Message):
    """One alert change on `insats.alerts.v1`, exactly as one item of `GET /v1/alerts/changes`
    (key: journey_id). `seq` is its place in the change feed (also the `position` header)."""

    seq: int
    type: Literal["AlertRaised", "AlertCleared"]
    journey_id: str
    kind: str
    level: Literal["green", "yellow", "red"] | None
    since: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    provider_id: str | None


class PayoutRunClosed(_Message):
    """A closed payout run on `insats.payout-runs.v1`, without its lines (key: YYYY-MM).
    `position` is the event-log position the run was computed from (replay the log up to it to
    recompute the run); the lines are in the files, whose SHA-256 are listed. `checkpoint` is
    the id of the event log's signed checkpoint written at the close (`GET /v1/audit/
    checkpoints`); runs closed before checkpoints existed have none."""

    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    position: int
    totals: dict[str, str]
    total: str = Field(pattern=r"^-?\d+\.\d{2}$")
    files: dict[str, str]
    closed_at: str | None
    checkpoint: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")


class Checkpoint(_Message):
    """A signed checkpoint of the event log on `insats.checkpoints.v1`, exactly as one item of
    `GET /v1/audit/checkpoints` (key: the checkpoint's id). `seq` is its place in the order
    checkpoints were written (also the `position` header); `note` is the C2SP signed note
    (docs/audit.md) a witness verifies and cosigns."""

    id: str = Field(pattern=r"^[0-9a-f]{16}$")
    seq: int = Field(ge=1)
    tree_size: int = Field(ge=0)
    root_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    time: str
    reason: Literal["payout_run", "daily", "on_demand"]
    key: str
    note: str


MESSAGE_MODELS: dict[str, type[_Message]] = {
    "AlertChange": AlertChange,
    "PayoutRunClosed": PayoutRunClosed,
    "Checkpoint": Checkpoint,
}


def message_schema_id(kind: str) -> str:
    return f"{SCHEMA_BASE}/kafka/v{TOPIC_VERSION}/{kind}.json"


def message_schema(kind: str) -> dict[str, Any]:
    schema = MESSAGE_MODELS[kind].model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": message_schema_id(kind),
        **schema,
    }


def render_schema(kind: str) -> str:
    return json.dumps(message_schema(kind), indent=2, ensure_ascii=False) + "\n"


def write_all() -> list[Path]:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in MESSAGE_MODELS:
        path = SCHEMA_DIR / f"{kind}.json"
        path.write_text(render_schema(kind), encoding="utf-8")
        written.append(path)
    return written
