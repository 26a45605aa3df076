"""The facts the alert rules need, folded from public events (pure; no I/O).

A journey's facts keep every dated fact, not a status, because alerts are evaluated for any
`as_of`: the rules decide which facts were effective by then. Corrections are folded in as
they arrive (latest fact wins), so the facts are always "as known now".
Providers keep their authorisation history (authorised / de-authorised, with dates).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from contracts.events import PublicEvent

JOURNEY_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "DecisionRegistered",
        "ProviderChosen",
        "ProviderChanged",
        "PlanRegistered",
        "LanguageInternshipStarted",
        "LanguageInternshipEnded",
        "VoucherGranted",
        "JourneyExited",
        "FollowUpRecorded",
        "BonusClaimReviewed",
        "DecisionWithdrawn",
        "Corrected",
    }
)
PROVIDER_EVENT_TYPES: frozenset[str] = frozenset({"ProviderAuthorised", "ProviderDeauthorised"})


@dataclass(frozen=True, slots=True)
class Assignment:
    provider_id: str
    starts_on: date


@dataclass(frozen=True, slots=True)
class Plan:
    established_on: date
    planned_internship_start: date | None = None


@dataclass(frozen=True, slots=True)
class Exit:
    exited_on: date
    reason: str


@dataclass(frozen=True, slots=True)
class FollowUp:
    followed_up_on: date
    outcome: str  # sustained | deviation


@dataclass(frozen=True, slots=True)
class Claim:
    """A bonus claim (FollowUpRecorded with bonus_claim) and the review that answered it."""

    claimed_on: date
    reviewed_on: date | None = None


@dataclass(frozen=True, slots=True)
class JourneyFacts:
    journey_id: str
    insats: str | None = None
    assignments: tuple[Assignment, ...] = ()  # recording order; [0] is the first provider
    plans: tuple[Plan, ...] = ()
    internships_started: tuple[date, ...] = ()
    exit: Exit | None = None
    withdrawn_on: date | None = None
    follow_ups: tuple[FollowUp, ...] = ()
    claims: tuple[Claim, ...] = ()

    @property
    def starts_on(self) -> date | None:
        """The insats starts on the first provider's starts_on."""
        return self.assignments[0].starts_on if self.assignments else None

    @property
    def status(self) -> str:
        """As known now, whatever the date: decided | active | exited | withdrawn."""
        if self.withdrawn_on is not None:
            return "withdrawn"
        if self.exit is not None:
            return "exited"
        return "active" if self.assignments else "decided"

    @property
    def latest_provider_id(self) -> str | None:
        if not self.assignments:
            return None
        return max(enumerate(self.assignments), key=lambda ia: (ia[1].starts_on, ia[0]))[
            1
        ].provider_id

    # --- storage -------------------------------------------------------------------------------

    def to_json(self) -> str:
        doc: dict[str, Any] = {"insats": self.insats}
        if self.assignments:
            doc["assignments"] = [
                [a.provider_id, a.starts_on.isoformat()] for a in self.assignments
            ]
        if self.plans:
            doc["plans"] = [
                [p.established_on.isoformat(), _iso(p.planned_internship_start)] for p in self.plans
            ]
        if self.internships_started:
            doc["internships_started"] = [d.isoformat() for d in self.internships_started]
        if self.exit is not None:
            doc["exit"] = [self.exit.exited_on.isoformat(), self.exit.reason]
        if self.withdrawn_on is not None:
            doc["withdrawn_on"] = self.withdrawn_on.isoformat()
        if self.follow_ups:
            doc["follow_ups"] = [[u.followed_up_on.isoformat(), u.outcome] for u in self.follow_ups]
        if self.claims:
            doc["claims"] = [[c.claimed_on.isoformat(), _iso(c.reviewed_on)] for c in self.claims]
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, journey_id: str, text: str) -> JourneyFacts:
        doc = json.loads(text)
        exit_ = doc.get("exit")
        return cls(
            journey_id=journey_id,
            insats=doc.get("insats"),
            assignments=tuple(
                Assignment(p, date.fromisoformat(d)) for p, d in doc.get("assignments", [])
            ),
            plans=tuple(
                Plan(date.fromisoformat(e), _date_or_none(s)) for e, s in doc.get("plans", [])
            ),
            internships_started=tuple(
                date.fromisoformat(d) for d in doc.get("internships_started", [])
            ),
            exit=Exit(date.fromisoformat(exit_[0]), exit_[1]) if exit_ else None,
            withdrawn_on=_date_or_none(doc.get("withdrawn_on")),
            follow_ups=tuple(
                FollowUp(date.fromisoformat(d), o) for d, o in doc.get("follow_ups", [])
            ),
            claims=tuple(
                Claim(date.fromisoformat(c), _date_or_none(r)) for c, r in doc.get("claims", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A provider became authorised (True) or de-authorised (False) from `on`."""

    on: date
    authorised: bool


ProviderHistory = tuple[StatusChange, ...]  # recording order


def provider_history_to_json(history: ProviderHistory) -> str:
    return json.dumps([[c.on.isoformat(), c.authorised] for c in history], separators=(",", ":"))


def provider_history_from_json(text: str) -> ProviderHistory:
    return tuple(StatusChange(date.fromisoformat(d), bool(a)) for d, a in json.loads(text))


# --- folding ---------------------------------------------------------------------------------


def apply_journey_event(facts: JourneyFacts | None, event: PublicEvent) -> JourneyFacts:
    """The journey's facts after one of its events (unknown types leave them unchanged)."""
    f = facts if facts is not None else JourneyFacts(journey_id=event.stream_id)
    p = event.payload
    t = event.type
    if t == "DecisionRegistered":
        return replace(f, insats=p["insats"])
    if t in ("ProviderChosen", "ProviderChanged"):
        assignment = Assignment(p["provider_id"], _date(p["starts_on"]))
        return replace(f, assignments=(*f.assignments, assignment))
    if t == "PlanRegistered":
        plan = Plan(_date(p["established_on"]), _date_or_none(p.get("planned_internship_start")))
        return replace(f, plans=(*f.plans, plan))
    if t == "LanguageInternshipStarted":
        return replace(f, internships_started=(*f.internships_started, _date(p["started_on"])))
    if t == "JourneyExited":
        return replace(f, exit=Exit(_date(p["exited_on"]), p["reason"]))
    if t == "DecisionWithdrawn":
        return replace(f, withdrawn_on=_date(p["withdrawn_on"]))
    if t == "FollowUpRecorded":
        on = _date(p["followed_up_on"])
        f = replace(f, follow_ups=(*f.follow_ups, FollowUp(on, p["outcome"])))
        if p.get("bonus_claim"):
            f = replace(f, claims=(*f.claims, Claim(on)))
        return f
    if t == "BonusClaimReviewed":
        return _review_latest_open_claim(f, _date(p["reviewed_on"]))
    if t == "Corrected":
        return _apply_correction(f, p)
    return f  # LanguageInternshipEnded, VoucherGranted: no alert depends on them


def _review_latest_open_claim(f: JourneyFacts, reviewed_on: date) -> JourneyFacts:
    # A review answers the claim before it in the log (a returned claim is resubmitted anew).
    claims = list(f.claims)
    for i in range(len(claims) - 1, -1, -1):
        if claims[i].reviewed_on is None:
            claims[i] = replace(claims[i], reviewed_on=reviewed_on)
            break
    return replace(f, claims=tuple(claims))


def _apply_correction(f: JourneyFacts, p: Mapping[str, Any]) -> JourneyFacts:
    what = p["what"]
    if what == "starts_on" and f.assignments:
        first = replace(f.assignments[0], starts_on=_date(p["new"]))
        return replace(f, assignments=(first, *f.assignments[1:]))
    if what == "exited_on" and f.exit is not None:
        return replace(f, exit=replace(f.exit, exited_on=_date(p["new"])))
    if what == "exit":
        new = p.get("new")
        exit_ = Exit(_date(new["exited_on"]), new["reason"]) if new else None
        return replace(f, exit=exit_)
    if what == "provider_starts_on" and f.assignments:
        index = _assignment_index(f, p.get("provider_id"), _date_or_none(p.get("old")))
        if index is None:
            return f
        assignments = list(f.assignments)
        assignments[index] = replace(assignments[index], starts_on=_date(p["new"]))
        return replace(f, assignments=tuple(assignments))
    return f


def _assignment_index(f: JourneyFacts, provider_id: str | None, old: date | None) -> int | None:
    """The assignment a provider_starts_on correction names: that provider's assignment that
    started on `old`, else that provider's latest, else (no provider named) the latest."""
    candidates = [
        i
        for i, a in enumerate(f.assignments)
        if i > 0 and (provider_id is None or a.provider_id == provider_id)
    ]
    if not candidates:
        return None
    exact = [i for i in candidates if f.assignments[i].starts_on == old]
    return (exact or candidates)[-1]


def apply_provider_event(history: ProviderHistory, event: PublicEvent) -> ProviderHistory:
    p = event.payload
    if event.type == "ProviderAuthorised":
        return (*history, StatusChange(_date(p["authorised_from"]), True))
    if event.type == "ProviderDeauthorised":
        return (*history, StatusChange(_date(p["effective_on"]), False))
    return history


def fold(
    events: Iterable[PublicEvent],
) -> tuple[dict[str, JourneyFacts], dict[str, ProviderHistory]]:
    """All journeys' and providers' facts from a log (what the projection stores, in memory)."""
    journeys: dict[str, JourneyFacts] = {}
    providers: dict[str, ProviderHistory] = {}
    for event in events:
        if event.type in JOURNEY_EVENT_TYPES:
            journeys[event.stream_id] = apply_journey_event(journeys.get(event.stream_id), event)
        elif event.type in PROVIDER_EVENT_TYPES:
            pid = event.payload["provider_id"]
            providers[pid] = apply_provider_event(providers.get(pid, ()), event)
    return journeys, providers


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _date_or_none(value: Any) -> date | None:
    return None if value in (None, "") else _date(value)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
