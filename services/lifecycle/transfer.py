"""`insats events export|import`: JSON Lines of the public event contract.

Export writes every public event in log order. Import loads such a file into an **empty** store:
each line is checked against its JSON Schema first, and the whole file is then saved in one
transaction, so a bad file changes nothing. Imported facts keep their effective dates, actors and
correlation ids; their source becomes `import`, and they are recorded now (the new store learnt
them at import). DecisionRegistered lines must carry `person_id` (export with
--include-person-ids): the new store derives its own person references and one-open-journey
locks from it.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal
from types import UnionType
from typing import IO, Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from contracts.schemas import validation_errors
from services.lifecycle.application import PUBLIC_EVENT_CLASSES, LifecycleApp
from services.lifecycle.domain.base import Fact
from services.lifecycle.domain.journey import Journey
from services.lifecycle.domain.person import PersonJourneys
from services.lifecycle.domain.personnummer import parse_person_id
from services.lifecycle.domain.provider import Provider
from services.lifecycle.domain.rates import Rates

IMPORT_SOURCE = "import"


class ImportError_(Exception):
    """A file that cannot be imported; nothing was recorded."""


def export_events(app: LifecycleApp, out: IO[str], *, include_person_ids: bool) -> int:
    count = 0
    for event in app.iter_public_events(include_person_id=include_person_ids):
        out.write(json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def _convert(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(value, options[0]) if len(options) == 1 else value
    if hint is date:
        return date.fromisoformat(value)
    if hint is Decimal:
        return Decimal(value)
    if origin is dict:
        _, value_hint = typing.get_args(hint)
        return {k: _convert(v, value_hint) for k, v in value.items()}
    return value


def _domain_event(line: dict[str, Any], now: datetime) -> Fact:
    cls, _ = PUBLIC_EVENT_CLASSES[line["type"]]
    hints = typing.get_type_hints(cls)
    payload = dict(line["payload"])
    kwargs: dict[str, Any] = {
        "originator_id": UUID(line["stream_id"]),
        "originator_version": int(line["version"]),
        "timestamp": now,
        "effective_date": date.fromisoformat(line["effective_date"]),
        "actor": line["actor"],
        "source_system": IMPORT_SOURCE,
        "correlation_id": line["correlation_id"],
    }
    for f in fields(cls):
        if f.name in kwargs or f.name == "originator_topic":
            continue
        kwargs[f.name] = _convert(payload.get(f.name), hints[f.name])
    if issubclass(cls, Aggregate.Created):
        kwargs["originator_topic"] = get_topic(
            Journey if cls is Journey.DecisionRegistered else Provider
        )
    return cls(**kwargs)


def read_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportError_(f"line {number}: not JSON ({exc.msg})") from None
        problems = validation_errors(data)
        if problems:
            raise ImportError_(f"line {number}: {problems[0]}")
        data["_line"] = number
        yield data


def import_events(app: LifecycleApp, lines: Iterable[str]) -> int:
    if app.public_events(0, 1):
        raise ImportError_("the store is not empty; import only into an empty store")
    now = datetime.now(UTC)
    events: list[Any] = []
    open_journeys: dict[str, str | None] = {}  # person_ref -> open journey
    journey_person: dict[str, str] = {}
    rates_opened = False
    expected_version: dict[str, int] = {}
    for line in read_lines(lines):
        stream = line["stream_id"]
        version = int(line["version"])
        previous = expected_version.get(stream)
        # The rates stream starts with an internal "opened" event (version 1).
        first = 2 if line["stream_type"] == "rates" else 1
        if version != (first if previous is None else previous + 1):
            raise ImportError_(
                f"line {line['_line']}: stream {stream} version {version} is out of sequence"
            )
        expected_version[stream] = version
        if line["type"] == "DecisionRegistered":
            raw = line["payload"].get("person_id")
            if not raw:
                raise ImportError_(
                    f"line {line['_line']}: DecisionRegistered without person_id; "
                    "export with --include-person-ids"
                )
            person = parse_person_id(raw, app.today())
            ref = app.person_key.ref(person.number)
            line["payload"]["person_ref"] = ref
            line["payload"]["person_id"] = person.number
            journey_person[stream] = ref
            open_journeys[ref] = stream
        elif line["type"] in ("JourneyExited", "DecisionWithdrawn"):
            ref = journey_person.get(stream, "")
            if open_journeys.get(ref) == stream:
                open_journeys[ref] = None
        if line["type"] == "RatesSet" and not rates_opened:
            opened = Rates.Opened(
                originator_id=UUID(stream),
                originator_version=1,
                timestamp=now,
                originator_topic=get_topic(Rates),
            )
            events.append(opened)
            rates_opened = True
        events.append(_domain_event(line, now))
    for ref, journey_id in open_journeys.items():
        if journey_id is None:
            continue
        lock = PersonJourneys.open_for(ref)
        lock.journey_opened(journey_id)
        events.extend(lock.collect_events())
    if events:
        app.save(*events)
    return sum(1 for e in events if isinstance(e, Fact))
