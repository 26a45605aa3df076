"""Per-journey rows for the figures, derived from the public journey model.

The journey's facts are the shared model's (`contracts.journey`: the one fold, corrections, the
spans that say who holds it on a day); `row_of` derives from them the columns a period's figures
read — one row per journey in the projection. `FactsRow` (and its named twin `FigureRow`) is the
row as loaded for a period, the input of the pure figure functions in `figures.py`.

Dates are kept as ISO strings in the rows: ISO dates order like the dates themselves, so the
figures compare strings and never parse a date per row (that is what keeps a million journeys
fast).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Final, NamedTuple

from contracts import journey as model
from contracts.events import PublicEvent
from contracts.journey import JourneyFacts, Providers

NOT_EXITED = "9999-12-31"  # `last_relevant_on` of a journey that has not exited
# The parts of the journey facts statistics read (`contracts.journey.encode`).
STATISTICS_PARTS: frozenset[str] = frozenset({"decision", "plan", "follow_ups"})

_encode_json: Final = json.JSONEncoder(separators=(",", ":")).encode


# One journey as the figures read it: the columns `projection.load_facts` selects, in order.
FactsRow = tuple[
    str,  # insats
    str,  # target_group
    str,  # person_ref
    str | None,  # starts_on
    str | None,  # exited_on
    str | None,  # exit_reason
    int | None,  # exit_days
    str | None,  # plan_established_on
    str | None,  # plan_due_on
    str | None,  # follow_ups_json
    str,  # providers_json: the spans [[starts_on, ends_on or null, provider_id], ...]
    bool,  # withdrawn
]


class FigureRow(NamedTuple):
    """A `FactsRow` with names (what tests and the naive path build; the figures read rows
    positionally, so plain database rows serve as well)."""

    insats: str
    target_group: str
    person_ref: str
    starts_on: str | None
    exited_on: str | None
    exit_reason: str | None
    exit_days: int | None
    plan_established_on: str | None
    plan_due_on: str | None
    follow_ups_json: str | None
    providers_json: str  # the spans [[starts_on, ends_on or null, provider_id], ...]
    withdrawn: bool


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def last_relevant_on(f: JourneyFacts) -> str | None:
    """The last date on which this journey can contribute to any figure: a period starting
    after it can ignore the journey; null when it counts nowhere. Lets one indexed condition
    select the rows a period needs."""
    if not f.counts:
        return None
    if f.exit is None:
        return NOT_EXITED
    dates = [f.exit.exited_on, f.plan.established_on if f.plan else date.min]
    dates.extend(u.followed_up_on for u in f.follow_ups)
    return max(dates).isoformat()


def spans_json(f: JourneyFacts, providers: Providers) -> str:
    """Who holds the journey when (`JourneyFacts.spans`), as the figures read it."""
    return _encode_json(
        [[s.starts_on.isoformat(), _iso(s.ends_on), s.provider_id] for s in f.spans(providers)]
    )


def row_of(f: JourneyFacts, providers: Providers) -> tuple[Any, ...]:
    """The stored row, in the order of `ROW_COLUMNS`."""
    d = f.decision
    starts_on, exited_on = f.starts_on, f.exited_on
    return (
        f.journey_id,
        f.version,
        f.insats,
        None if d is None else d.target_group,
        None if d is None else d.person_ref,
        None if d is None else d.decided_on.isoformat(),
        _iso(starts_on),
        _iso(exited_on),
        None if f.exit is None else f.exit.reason,
        None if starts_on is None or exited_on is None else (exited_on - starts_on).days,
        spans_json(f, providers),
        None if f.plan is None else f.plan.established_on.isoformat(),
        _iso(f.plan_due_on),
        _encode_json([[u.followed_up_on.isoformat(), u.outcome] for u in f.follow_ups])
        if f.follow_ups
        else None,
        1 if f.withdrawal is not None else 0,
        last_relevant_on(f),
        model.encode(f, STATISTICS_PARTS),
    )


ROW_COLUMNS: tuple[str, ...] = (
    "journey_id",
    "version",
    "insats",
    "target_group",
    "person_ref",
    "decided_on",
    "starts_on",
    "exited_on",
    "exit_reason",
    "exit_days",
    "providers",
    "plan_established_on",
    "plan_due_on",
    "follow_ups",
    "withdrawn",
    "last_relevant_on",
    "facts",
)


def fold(journey_id: str, events: list[PublicEvent]) -> JourneyFacts:
    """A journey's facts from its events in log order, as the projection folds them."""
    facts = JourneyFacts(journey_id)
    for event in events:
        facts = model.apply(facts, event, STATISTICS_PARTS)
    return facts


def figure_row(f: JourneyFacts, providers: Providers) -> FigureRow:
    """The row the figures read, as the projection would store and load it."""
    row = dict(zip(ROW_COLUMNS, row_of(f, providers), strict=True))
    return FigureRow(
        insats=row["insats"] or "",
        target_group=row["target_group"] or "",
        person_ref=row["person_ref"] or "",
        starts_on=row["starts_on"],
        exited_on=row["exited_on"],
        exit_reason=row["exit_reason"],
        exit_days=row["exit_days"],
        plan_established_on=row["plan_established_on"],
        plan_due_on=row["plan_due_on"],
        follow_ups_json=row["follow_ups"],
        providers_json=row["providers"],
        withdrawn=bool(row["withdrawn"]),
    )
