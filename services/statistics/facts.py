"""Compact per-journey facts: the fold of a journey's public events into what statistics need.

`JourneyState` is the write side (a pure fold, `apply(state, event)`), stored as one row per
journey by the projection. `FactsRow` (and its named twin `JourneyFacts`) is the read side: the
row as loaded for a period, the input of the pure figure functions in `figures.py`.

Dates are kept as ISO strings: ISO dates order like the dates themselves, so the figures compare
strings and never parse a date per row (that is what keeps a million journeys fast).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Final, NamedTuple

from contracts.bounds import add_days
from contracts.events import PublicEvent

PLAN_DUE_DAYS = 60  # SPEC §1: a genomförandeplan within 60 days of the start
NOT_EXITED = "9999-12-31"  # `last_relevant_on` of a journey that has not exited

_encode_json: Final = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=65536)
def _ordinal(iso: str) -> int:
    # Journeys share a few thousand distinct dates: parsing each once keeps replays fast.
    return date.fromisoformat(iso).toordinal()


@lru_cache(maxsize=65536)
def _plus_days(iso: str, days: int) -> str:
    return add_days(date.fromisoformat(iso), days).isoformat()


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
    str,  # providers_json
    bool,  # withdrawn
]


class JourneyFacts(NamedTuple):
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
    providers_json: str  # [[starts_on, provider_id], ...] sorted by start
    withdrawn: bool


@dataclass(slots=True)
class JourneyState:
    """Everything statistics keep about one journey, after every event so far (corrections
    included: the latest fact wins)."""

    journey_id: str
    version: int = -1  # the last applied stream version; none yet
    insats: str | None = None
    target_group: str | None = None
    person_ref: str | None = None
    decided_on: str | None = None
    # (starts_on, provider_id), sorted by start; a stable sort keeps a later-recorded change
    # that starts the same day after the earlier one, so it is the one holding the journey.
    providers: list[tuple[str, str]] = field(default_factory=list)
    exited_on: str | None = None
    exit_reason: str | None = None
    plan_established_on: str | None = None
    follow_ups: list[tuple[str, str]] = field(default_factory=list)
    withdrawn: bool = False

    # --- derived ------------------------------------------------------------------------------

    @property
    def starts_on(self) -> str | None:
        """The insats starts on the first provider's starts_on (SPEC §3)."""
        return self.providers[0][0] if self.providers else None

    @property
    def exit_days(self) -> int | None:
        starts_on = self.starts_on
        if starts_on is None or self.exited_on is None:
            return None
        return _ordinal(self.exited_on) - _ordinal(starts_on)

    @property
    def plan_due_on(self) -> str | None:
        # Follows a corrected start, so not the due_on recorded with the plan.
        starts_on = self.starts_on
        return None if starts_on is None else _plus_days(starts_on, PLAN_DUE_DAYS)

    @property
    def counts(self) -> bool:
        """Withdrawn decisions and decisions never started count nowhere."""
        return not self.withdrawn and self.starts_on is not None and self.insats is not None

    @property
    def last_relevant_on(self) -> str | None:
        """The last date on which this journey can contribute to any figure: a period starting
        after it can ignore the journey; null when it counts nowhere. Lets one indexed condition
        select the rows a period needs."""
        if not self.counts:
            return None
        if self.exited_on is None:
            return NOT_EXITED
        dates = [self.exited_on, self.plan_established_on or ""]
        dates.extend(d for d, _ in self.follow_ups)
        return max(dates)

    # --- storage ------------------------------------------------------------------------------

    def to_row(self) -> tuple[Any, ...]:
        """In the order of `ROW_COLUMNS`."""
        return (
            self.journey_id,
            self.version,
            self.insats,
            self.target_group,
            self.person_ref,
            self.decided_on,
            self.starts_on,
            self.exited_on,
            self.exit_reason,
            self.exit_days,
            _encode_json(self.providers),  # tuples encode as JSON arrays
            self.plan_established_on,
            self.plan_due_on,
            _encode_json(self.follow_ups) if self.follow_ups else None,
            1 if self.withdrawn else 0,
            self.last_relevant_on,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> JourneyState:
        """From the columns in `STATE_COLUMNS` order."""
        (
            journey_id,
            version,
            insats,
            target_group,
            person_ref,
            decided_on,
            exited_on,
            exit_reason,
            providers,
            plan_established_on,
            follow_ups,
            withdrawn,
        ) = row
        return cls(
            journey_id=journey_id,
            version=int(version),
            insats=insats,
            target_group=target_group,
            person_ref=person_ref,
            decided_on=decided_on,
            providers=[(s, p) for s, p in json.loads(providers)],
            exited_on=exited_on,
            exit_reason=exit_reason,
            plan_established_on=plan_established_on,
            follow_ups=[(d, o) for d, o in json.loads(follow_ups)] if follow_ups else [],
            withdrawn=bool(withdrawn),
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
)

STATE_COLUMNS: tuple[str, ...] = (
    "journey_id",
    "version",
    "insats",
    "target_group",
    "person_ref",
    "decided_on",
    "exited_on",
    "exit_reason",
    "providers",
    "plan_established_on",
    "follow_ups",
    "withdrawn",
)


# --- the fold ---------------------------------------------------------------------------------


def _start(assignment: tuple[str, str]) -> str:
    return assignment[0]


def _sort_providers(state: JourneyState) -> None:
    p = state.providers
    if len(p) > 1 and any(p[i][0] > p[i + 1][0] for i in range(len(p) - 1)):
        p.sort(key=_start)  # stable: same-day assignments keep their recording order


def _set_exit(state: JourneyState, exit_: Any) -> None:
    if exit_ is None:  # an exit corrected away: the journey is active again
        state.exited_on = None
        state.exit_reason = None
    else:
        state.exited_on = str(exit_["exited_on"])
        state.exit_reason = str(exit_["reason"])


def _apply_correction(state: JourneyState, p: dict[str, Any]) -> None:
    what = p["what"]
    if what == "starts_on":
        if state.providers:
            state.providers[0] = (str(p["new"]), state.providers[0][1])
            _sort_providers(state)
    elif what == "exited_on":
        state.exited_on = None if p["new"] is None else str(p["new"])
        if state.exited_on is None:
            state.exit_reason = None
    elif what == "exit":
        _set_exit(state, p["new"])
    elif what == "provider_starts_on":
        provider_id, old, new = p.get("provider_id"), p["old"], str(p["new"])
        candidates = [i for i, (_, pid) in enumerate(state.providers) if pid == provider_id]
        exact = [i for i in candidates if state.providers[i][0] == old]
        index = exact[0] if exact else (candidates[-1] if candidates else None)
        if index is not None:
            state.providers[index] = (new, state.providers[index][1])
            _sort_providers(state)


def apply(state: JourneyState, event: PublicEvent) -> None:
    """Fold one journey event into the state. Events already applied (same or lower stream
    version, e.g. re-delivered by Kafka) are ignored, so the fold is idempotent."""
    if event.version <= state.version:
        return
    state.version = event.version
    p = event.payload
    kind = event.type
    if kind == "DecisionRegistered":
        state.insats = p["insats"]
        state.target_group = p["target_group"]
        state.person_ref = p["person_ref"]
        state.decided_on = p["decided_on"]
    elif kind in ("ProviderChosen", "ProviderChanged"):
        state.providers.append((str(p["starts_on"]), str(p["provider_id"])))
        _sort_providers(state)
    elif kind == "JourneyExited":
        _set_exit(state, p)
    elif kind == "PlanRegistered":
        # A revised plan does not make the first one later: the earliest establishment counts.
        established = str(p["established_on"])
        if state.plan_established_on is None or established < state.plan_established_on:
            state.plan_established_on = established
    elif kind == "FollowUpRecorded":
        state.follow_ups.append((str(p["followed_up_on"]), str(p["outcome"])))
    elif kind == "DecisionWithdrawn":
        state.withdrawn = True
    elif kind == "Corrected":
        _apply_correction(state, p)
    # Vouchers, internships and bonus reviews do not enter the statistics of §6.


def fold(journey_id: str, events: list[PublicEvent]) -> JourneyState:
    """A journey's state from its events in log order (the naive path; tests and baselines)."""
    state = JourneyState(journey_id)
    for event in events:
        apply(state, event)
    return state


def facts_of(state: JourneyState) -> JourneyFacts:
    """The read-side facts of a state, as the projection would store and load them."""
    row = dict(zip(ROW_COLUMNS, state.to_row(), strict=True))
    return JourneyFacts(
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
