"""Load and check the checked-in JSON Schemas of the public event contract."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from contracts.events import CONTRACT_VERSION, PAYLOAD_MODELS, envelope_schema

SCHEMA_DIR = Path(__file__).parent / "events" / f"v{CONTRACT_VERSION}"


def schema_path(event_type: str) -> Path:
    return SCHEMA_DIR / f"{event_type}.json"


def render_schema(event_type: str) -> str:
    return json.dumps(envelope_schema(event_type), indent=2, ensure_ascii=False) + "\n"


def write_all() -> list[Path]:
    """(Re)generate every event schema file from the models in contracts.events."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in PAYLOAD_MODELS:
        path = schema_path(event_type)
        path.write_text(render_schema(event_type), encoding="utf-8")
        written.append(path)
    return written


@cache
def validator(event_type: str) -> Draft202012Validator:
    schema = json.loads(schema_path(event_type).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validation_errors(envelope: dict[str, Any]) -> list[str]:
    """Errors of one event envelope (as JSON data) against its type's schema; [] when valid."""
    event_type = envelope.get("type")
    if event_type not in PAYLOAD_MODELS:
        return [f"unknown event type {event_type!r}"]
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(str(event_type)).iter_errors(envelope)
    ]


if __name__ == "__main__":
    for p in write_all():
        print(p)
