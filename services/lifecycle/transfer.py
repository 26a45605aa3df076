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

import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from types import UnionType
from typing import IO, Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from contracts.schemas import surely_valid, validation_errors
from services.lifecycle.application import PUBLIC_EVENT_CLASSES, LifecycleApp
from services.lifecycle.domain.base import Fact
from services.lifecycle.domain.journey import Journey
from services.lifecycle.domain.person import PersonJourneys
from services.lifecycle.domain.personnummer import parse_person_id
from services.lifecycle.domain.provider import Provider
from services.lifecycle.domain.rates import Rates
from services.platform.collector import collector_paused

IMPORT_SOURCE = "import"
# How many lines or events make one `progress` report.
PROGRESS_EVERY = 1000


class ImportError_(Exception):
    """A file that cannot be imported; nothing was recorded."""


def export_line(data: dict[str, Any]) -> str:
    """One line of the sharing format: compact JSON, UTF-8 as is, keys in the envelope's order.
    orjson writes exactly what `json.dumps(data, ensure_ascii=False, separators=(",", ":"))`
    writes for this data (strings, integers, booleans, nulls: no floats in the contract) at a
    fifth of the cost (tests/lifecycle/unit/test_export_line.py)."""
    return orjson.dumps(data).decode() + "\n"


def export_events(
    app: LifecycleApp,
    out: IO[str],
    *,
    include_person_ids: bool,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every public event as one JSON line; the number written. `progress`, when given,
    hears the log position reached after each batch of events written, and at the end."""
    count = 0
    position = 0
    for event in app.iter_public_events(include_person_id=include_person_ids):
        out.write(export_line(event.to_dict()))
        count += 1
        position = event.position
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(position)
    if progress is not None:
        progress(position)
    return count


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How a JSON value (never None) becomes a field of type `hint`; None: as it is."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _converter(options[0]) if len(options) == 1 else None
    if hint is date:
        return date.fromisoformat
    if hint is Decimal:
        return Decimal
    if origin is dict:
        _, value_hint = typing.get_args(hint)
        inner = _converter(value_hint)
        if inner is None:
            return lambda value: {k: v for k, v in value.items()}
        return lambda value: {k: None if v is None else inner(v) for k, v in value.items()}
    return None


# The envelope's fields, which _domain_event sets from the envelope rather than the payload.
_FROM_ENVELOPE = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "effective_date",
        "actor",
        "source_system",
        "correlation_id",
        "originator_topic",
    }
)


@dataclass(frozen=True, slots=True)
class _EventShape:
    """What building one public event class from a line needs, worked out once per class."""

    cls: type[Fact]
    # payload fields in the dataclass's order, each with its converter (None: taken as is)
    fields: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    originator_topic: str | None


@cache
def _shape(event_type: str) -> _EventShape:
    cls, _ = PUBLIC_EVENT_CLASSES[event_type]
    hints = typing.get_type_hints(cls)
    topic = None
    if issubclass(cls, Aggregate.Created):
        topic = get_topic(Journey if cls is Journey.DecisionRegistered else Provider)
    return _EventShape(
        cls=cls,
        fields=tuple(
            (f.name, _converter(hints[f.name]))
            for f in dataclass_fields(cls)
            if f.name not in _FROM_ENVELOPE
        ),
        originator_topic=topic,
    )


def _domain_event(line: dict[str, Any], now: datetime, stream_id: UUID | None = None) -> Fact:
    shape = _shape(line["type"])
    payload = line["payload"]
    kwargs: dict[str, Any] = {
        "originator_id": UUID(line["stream_id"]) if stream_id is None else stream_id,
        "originator_version": int(line["version"]),
        "timestamp": now,
        "effective_date": date.fromisoformat(line["effective_date"]),
        "actor": line["actor"],
        "source_system": IMPORT_SOURCE,
        "correlation_id": line["correlation_id"],
    }
    for name, convert in shape.fields:
        value = payload.get(name)
        kwargs[name] = value if value is None or convert is None else convert(value)
    if shape.originator_topic is not None:
        kwargs["originator_topic"] = shape.originator_topic
    return shape.cls(**kwargs)


def read_lines(
    lines: Iterable[str], progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Each non-blank line as checked JSON data (with its line number under "_line");
    `progress(n)` hears of each batch of lines read."""
    # orjson reads the same JSON as json.loads at a third of the cost; it refuses what no
    # UTF-8 store can hold (lone surrogates) and numbers beyond 64 bits, with a clear message.
    loads = orjson.loads
    batch = 0
    for number, text in enumerate(lines, start=1):
        if progress is not None:
            batch += 1
            if batch == PROGRESS_EVERY:
                progress(batch)
                batch = 0
        if not text.strip():
            continue
        try:
            data = loads(text)
        except orjson.JSONDecodeError as exc:
            raise ImportError_(f"line {number}: not JSON ({exc.msg})") from None
        # The fast check only ever says "valid" of a valid envelope; otherwise the schema
        # validator decides and words the problem.
        if not surely_valid(data):
            problems = validation_errors(data)
            if problems:
                raise ImportError_(f"line {number}: {problems[0]}")
        data["_line"] = number
        yield data
    if progress is not None and batch:
        progress(batch)


@collector_paused()
def import_events(
    app: LifecycleApp,
    lines: Iterable[str],
    *,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Check and record a file's lines (all or nothing); the number of facts recorded.

    `progress`, when given, hears `("read", n)` for each batch of n lines read and checked, then
    `("save", n)` once before the n recordings are saved in one transaction."""
    if app.public_events(0, 1):
        raise ImportError_("the store is not empty; import only into an empty store")
    now = datetime.now(UTC)
    events: list[Any] = []
    open_journeys: dict[str, str | None] = {}  # person_ref -> open journey
    journey_person: dict[str, str] = {}
    rates_opened = False
    expected_version: dict[str, int] = {}
    stream_ids: dict[str, UUID] = {}
    read_progress = None if progress is None else lambda n: progress("read", n)
    for line in read_lines(lines, read_progress):
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
        stream_id = stream_ids.get(stream)
        if stream_id is None:
            stream_id = stream_ids[stream] = UUID(stream)
        events.append(_domain_event(line, now, stream_id))
    for ref, journey_id in open_journeys.items():
        if journey_id is None:
            continue
        lock = PersonJourneys.open_for(ref)
        lock.journey_opened(journey_id)
        events.extend(lock.collect_events())
    if progress is not None:
        progress("save", len(events))
    if events:
        app.record(events)
    return sum(1 for e in events if isinstance(e, Fact))
