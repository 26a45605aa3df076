"""The journey as everyone reads it: one fold of the public events, and SPEC's answers on it.

Every consumer of the journey — the journey's own aggregate, the API's journey view, the journey
list, payments, alerts, statistics, audit as-of, and any other system reading the event feed or
Kafka — folds the public events of the contract (`contracts.events`) with `apply` into the same
immutable `JourneyFacts`, and asks the same questions of it. What a correction changes, who holds
a journey on a day after a de-authorisation, when a plan or a follow-up is due, which exit
qualifies for the bonus: each is written here, once.

SPEC's definitions (§3, §4.2, §5):

- **starts_on**: the insats starts on the first provider's `starts_on` (corrected).
- **assignment** (one provider's span of a journey): from its `starts_on` to the day before the
  next provider's `starts_on`, or to `exited_on` (inclusive), or to the day before its
  provider's de-authorisation (`effective_on`), whichever comes first; empty if that is before
  it starts. A journey whose provider was de-authorised waits for a new provider: nobody holds
  it until then.
- **holder on a day**: the provider whose assignment covers the day, or nobody.
- **responsible provider on a day**: the holder on that day — after the exit, the holder on the
  exit day (who answers for the follow-up and earns the bonus).
- **status on a day**: `withdrawn` (withdrawn on or before it), `exited` (exited on or before
  it), `active` (started on or before it), else `decided`.
- **day N** counts from `starts_on` (day 0).
- **plan due**: `starts_on` + 60 days; a plan established after it is late.
- **self-sufficient**: an exit to work, studies or own business.
- **qualifies for the bonus**: an exit to work with a permanent, a fixed-term ≥ 6 months or a
  full-time hourly contract (any subsidy), or to CSN-eligible studies.
- **follow-up due**: `exited_on` + 6 calendar months, for a self-sufficient exit.
- **bonus claim**: a follow-up recorded as one (`bonus_claim`); each review answers the claim
  before it; the bonus is approved once at most.
- **is open** (one open journey per person): neither exited nor withdrawn.

Corrections (`Corrected`) change the facts they name and nothing else; `old` tells which
provider change a `provider_starts_on` correction moves. Events already folded (a version at or
below the facts' version, e.g. a message delivered twice) change nothing.

Dates are `datetime.date`, money `Decimal`. The compact JSON form (`encode`/`decode`) is what
read models store to fold the next event onto.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from contracts.bounds import add_days, add_months
from contracts.events import SELF_SUFFICIENT_REASONS

PLAN_DUE_DAYS = 60
FOLLOW_UP_MONTHS = 6
BONUS_CONTRACT_MONTHS = 6  # a fixed-term contract of at least this many months qualifies

STATUSES: tuple[str, ...] = ("decided", "active", "exited", "withdrawn")


@lru_cache(maxsize=65536)  # journeys share a few thousand dates: parse each once
def day_of(iso: str) -> date:
    return date.fromisoformat(iso)


def _day_or_none(value: Any) -> date | None:
    return None if value is None else day_of(str(value))


# --- the facts ----------------------------------------------------------------------------------


class Decision(NamedTuple):
    system: str
    decision_id: str
    person_ref: str
    person_id_kind: str
    decided_on: date
    decided_by: str
    target_group: str
    transfer_from: str | None
    counsellor: str | None = None


class Assignment(NamedTuple):
    """A provider choice or change as recorded (its span follows from the others)."""

    provider_id: str
    starts_on: date


class Span(NamedTuple):
    """The days one provider holds the journey; `ends_on` None while it runs."""

    provider_id: str
    starts_on: date
    ends_on: date | None

    def holds(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


class Plan(NamedTuple):
    established_on: date
    planned_internship_start: date | None
    planned_internship_share_percent: int | None


class Internship(NamedTuple):
    employer: str
    started_on: date
    share_percent: int
    ended_on: date | None


class Voucher(NamedTuple):
    voucher_id: str
    amount: Decimal
    purpose: str
    granted_on: date


class Rules(NamedTuple):
    """The named rule parameters of SPEC §4.2 (which exit qualifies for the bonus) and §6 (which
    exit is self-sufficient). SPEC's values are the defaults and the only ones real runs and
    figures use; a policy scenario (`contracts.scenario`) changes them from a date on."""

    bonus_fixed_term_min_months: int = BONUS_CONTRACT_MONTHS
    bonus_full_time_hourly_counts: bool = True
    bonus_subsidised_work_counts: bool = True
    bonus_csn_studies_count: bool = True
    self_sufficiency_subsidised_work_counts: bool = True

    def qualifies_for_bonus(self, exit_: Exit) -> bool:
        if exit_.reason == "work":
            if exit_.subsidised and not self.bonus_subsidised_work_counts:
                return False
            form = exit_.employment_form
            if form == "permanent":
                return True
            if form == "full_time_hourly":
                return self.bonus_full_time_hourly_counts
            return (
                form == "fixed_term"
                and (exit_.contract_months or 0) >= self.bonus_fixed_term_min_months
            )
        return (
            exit_.reason == "studies"
            and exit_.csn_eligible is True
            and self.bonus_csn_studies_count
        )

    def self_sufficient(self, exit_: Exit) -> bool:
        if exit_.reason == "work" and exit_.subsidised:
            return self.self_sufficiency_subsidised_work_counts
        return exit_.reason in SELF_SUFFICIENT_REASONS


class Exit(NamedTuple):
    exited_on: date
    reason: str
    employment_form: str | None = None
    contract_months: int | None = None
    subsidy: str | None = None
    csn_eligible: bool | None = None
    next_journey_id: str | None = None

    @property
    def self_sufficient(self) -> bool:
        return SPEC_RULES.self_sufficient(self)

    @property
    def subsidised(self) -> bool:
        return self.subsidy not in (None, "none")

    @property
    def qualifies_for_bonus(self) -> bool:
        return SPEC_RULES.qualifies_for_bonus(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "exited_on": self.exited_on.isoformat(),
            "reason": self.reason,
            "employment_form": self.employment_form,
            "contract_months": self.contract_months,
            "subsidy": self.subsidy,
            "csn_eligible": self.csn_eligible,
            "next_journey_id": self.next_journey_id,
        }

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Exit:
        months = p.get("contract_months")
        return cls(
            day_of(str(p["exited_on"])),
            str(p["reason"]),
            p.get("employment_form"),
            None if months is None else int(months),
            p.get("subsidy"),
            p.get("csn_eligible"),
            p.get("next_journey_id"),
        )


SPEC_RULES = Rules()


class Evidence(NamedTuple):
    type: str
    id: str
    date: date


class FollowUp(NamedTuple):
    followed_up_on: date
    outcome: str  # sustained | deviation
    evidence: tuple[Evidence, ...]
    due_on: date
    bonus_claim: bool


class Review(NamedTuple):
    reviewed_on: date
    decision: str  # approved | returned
    reason: str | None


class Claim(NamedTuple):
    """A bonus claim and the review that answered it (None while it waits)."""

    claimed_on: date
    reviewed_on: date | None
    decision: str | None


class Withdrawal(NamedTuple):
    withdrawn_on: date
    reason: str


class JourneyFacts(NamedTuple):
    """Everything recorded about one journey, corrections folded in."""

    journey_id: str
    version: int = 0
    insats: str | None = None
    decision: Decision | None = None
    assignments: tuple[Assignment, ...] = ()  # in order of starts_on (same day: recording order)
    plan: Plan | None = None
    internships: tuple[Internship, ...] = ()
    vouchers: tuple[Voucher, ...] = ()
    exit: Exit | None = None
    follow_ups: tuple[FollowUp, ...] = ()
    reviews: tuple[Review, ...] = ()
    withdrawal: Withdrawal | None = None

    # --- what SPEC defines ----------------------------------------------------------------------

    @property
    def starts_on(self) -> date | None:
        """None for a withdrawn decision: it was withdrawn before the insats started (§3)."""
        if self.withdrawal is not None or not self.assignments:
            return None
        return self.assignments[0].starts_on

    @property
    def exited_on(self) -> date | None:
        return self.exit.exited_on if self.exit is not None else None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawal is not None

    @property
    def is_open(self) -> bool:
        return self.exit is None and self.withdrawal is None

    @property
    def counts(self) -> bool:
        """Withdrawn decisions and decisions never started count nowhere (§3, §6)."""
        return self.withdrawal is None and bool(self.assignments) and self.insats is not None

    def status_on(self, day: date) -> str:
        if self.withdrawal is not None and self.withdrawal.withdrawn_on <= day:
            return "withdrawn"
        if self.exit is not None and self.exit.exited_on <= day:
            return "exited"
        starts_on = self.starts_on
        if starts_on is not None and starts_on <= day:
            return "active"
        return "decided"

    @property
    def status(self) -> str:
        """As known now, whatever the date."""
        return self.status_on(date.max)

    def active_on(self, day: date) -> bool:
        return self.status_on(day) == "active"

    def day_n(self, day: date) -> int | None:
        starts_on = self.starts_on
        return None if starts_on is None else (day - starts_on).days

    @property
    def plan_due_on(self) -> date | None:
        starts_on = self.starts_on
        return None if starts_on is None else add_days(starts_on, PLAN_DUE_DAYS)

    @property
    def plan_late(self) -> bool | None:
        due = self.plan_due_on
        if self.plan is None or due is None:
            return None
        return self.plan.established_on > due

    @property
    def self_sufficient(self) -> bool:
        return self.exit is not None and self.exit.self_sufficient

    @property
    def qualifies_for_bonus(self) -> bool:
        return self.exit is not None and self.exit.qualifies_for_bonus

    @property
    def follow_up_due_on(self) -> date | None:
        if self.exit is None or not self.exit.self_sufficient:
            return None
        return add_months(self.exit.exited_on, FOLLOW_UP_MONTHS)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """Each bonus claim with the review that answered it: claims and reviews alternate
        (a review answers the one claim waiting; a returned claim is made anew)."""
        claims = [u for u in self.follow_ups if u.bonus_claim]
        out = []
        for i, claim in enumerate(claims):
            review = self.reviews[i] if i < len(self.reviews) else None
            out.append(
                Claim(
                    claim.followed_up_on,
                    None if review is None else review.reviewed_on,
                    None if review is None else review.decision,
                )
            )
        return tuple(out)

    @property
    def bonus_approved_on(self) -> date | None:
        for review in self.reviews:
            if review.decision == "approved":
                return review.reviewed_on
        return None

    @property
    def bonus_claimable_on(self) -> date | None:
        """The first sustained follow-up with evidence on or after its due date: the day a
        provider could have claimed the bonus, had the exit qualified (only read models that
        store follow-ups know it)."""
        for u in self.follow_ups:
            if u.outcome == "sustained" and u.evidence and u.followed_up_on >= u.due_on:
                return u.followed_up_on
        return None

    def bonus_earned_on(self, rules: Rules) -> date | None:
        """The day the bonus is earned under `rules`, for an exit that qualifies under them:
        its approval; for one that qualifies under `rules` but not under SPEC's (no claim could
        be made, so none was approved), the day it could have been claimed — the claim taken
        as approved that day. None when nothing is earned."""
        exit_ = self.exit
        if exit_ is None or not rules.qualifies_for_bonus(exit_):
            return None
        if rules is SPEC_RULES or exit_.qualifies_for_bonus:
            return self.bonus_approved_on
        return self.bonus_claimable_on

    def bonus_status_on(self, day: date) -> str:
        """none | not_qualified | awaiting_claim | claimed | returned | approved"""
        exit_ = self.exit
        if exit_ is None or exit_.exited_on > day or not exit_.self_sufficient:
            return "none"
        if not exit_.qualifies_for_bonus:
            return "not_qualified"
        reviews = [r for r in self.reviews if r.reviewed_on <= day]
        if any(r.decision == "approved" for r in reviews):
            return "approved"
        claims = sum(1 for u in self.follow_ups if u.bonus_claim and u.followed_up_on <= day)
        if not claims:
            return "awaiting_claim"
        return "claimed" if claims > len(reviews) else "returned"

    @property
    def bonus_status(self) -> str:
        return self.bonus_status_on(date.max)

    # --- who holds it ---------------------------------------------------------------------------

    def spans(self, providers: Providers | None = None) -> tuple[Span, ...]:
        """Each provider's span (see the module docstring); `providers` (provider id → its
        facts) tells where de-authorisations cut them (a provider not in it cuts nothing)."""
        return spans_of(self.assignments, self.exited_on, providers or {})

    def holder_on(self, day: date, providers: Providers | None = None) -> str | None:
        if self.withdrawal is not None:
            return None
        for span in self.spans(providers):
            if span.holds(day):
                return span.provider_id
        return None

    def responsible_provider_on(self, day: date, providers: Providers | None = None) -> str | None:
        exited_on = self.exited_on
        if exited_on is not None and exited_on < day:
            day = exited_on
        return self.holder_on(day, providers)

    def waiting_since(self, day: date, providers: Providers) -> date | None:
        """The day the journey, active on `day`, began waiting for a new provider because its
        provider was de-authorised (None if it is held, or not active)."""
        if not self.active_on(day):
            return None
        current = None
        for a in self.assignments:
            if a.starts_on <= day:
                current = a
        if current is None:
            return None
        provider = providers.get(current.provider_id)
        cut = None if provider is None else provider.cut_from(current.starts_on)
        return cut if cut is not None and cut <= day else None

    @property
    def providers_ever(self) -> frozenset[str]:
        """Every provider that held or was chosen for the journey (they may read it)."""
        return frozenset(a.provider_id for a in self.assignments)

    # --- on a date ------------------------------------------------------------------------------

    def on(self, day: date) -> JourneyFacts | None:
        """The facts effective on or before `day` (what the journey was on that day, as known
        now); None when the decision was taken later."""
        if self.decision is None or self.decision.decided_on > day:
            return None
        withdrawal = (
            self.withdrawal if self.withdrawal and self.withdrawal.withdrawn_on <= day else None
        )
        exit_ = self.exit if self.exit and self.exit.exited_on <= day else None
        return self._replace(
            assignments=()
            if withdrawal
            else tuple(a for a in self.assignments if a.starts_on <= day),
            plan=self.plan if self.plan and self.plan.established_on <= day else None,
            internships=tuple(
                i._replace(ended_on=i.ended_on if i.ended_on and i.ended_on <= day else None)
                for i in self.internships
                if i.started_on <= day
            ),
            vouchers=tuple(v for v in self.vouchers if v.granted_on <= day),
            exit=exit_,
            follow_ups=tuple(u for u in self.follow_ups if u.followed_up_on <= day),
            reviews=tuple(r for r in self.reviews if r.reviewed_on <= day),
            withdrawal=withdrawal,
        )


def spans_of(
    assignments: Iterable[Assignment],
    exited_on: date | None,
    providers: Providers,
    *,
    keep_empty: bool = False,
) -> tuple[Span, ...]:
    """The spans of `assignments` (in order of starts_on); one that never held is left out, or
    with `keep_empty` kept with `ends_on` the day before it starts."""
    ordered = list(assignments)
    out: list[Span] = []
    for i, a in enumerate(ordered):
        lo = a.starts_on.toordinal()
        hi: int | None = ordered[i + 1].starts_on.toordinal() - 1 if i + 1 < len(ordered) else None
        if exited_on is not None:
            end = exited_on.toordinal()
            hi = end if hi is None or end < hi else hi
        provider = providers.get(a.provider_id)
        gone = None if provider is None else provider.cut_from(a.starts_on)
        if gone is not None:
            cut = gone.toordinal() - 1
            hi = cut if hi is None or cut < hi else hi
        if hi is not None and hi < lo:
            if keep_empty:
                out.append(Span(a.provider_id, a.starts_on, date.fromordinal(lo - 1)))
            continue  # never held: de-authorised (or followed) before it started
        out.append(Span(a.provider_id, a.starts_on, None if hi is None else date.fromordinal(hi)))
    return tuple(out)


# --- the fold -----------------------------------------------------------------------------------

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


def _sorted(assignments: Iterable[Assignment]) -> tuple[Assignment, ...]:
    return tuple(sorted(assignments, key=lambda a: a.starts_on))  # stable: same day, log order


def apply(
    facts: JourneyFacts | None, event: Any, parts: frozenset[str] | None = None
) -> JourneyFacts:
    """The facts after one public journey event (a `contracts.events.PublicEvent` or anything
    with `stream_id`, `type`, `version` and `payload`)."""
    return apply_payload(facts, event.stream_id, event.type, event.version, event.payload, parts)


# The part of the facts each event type changes (see `PARTS`): folding onto facts that leave the
# part out only moves the version.
_PART_OF = {
    "PlanRegistered": "plan",
    "LanguageInternshipStarted": "internships",
    "LanguageInternshipEnded": "internships",
    "VoucherGranted": "vouchers",
    "FollowUpRecorded": "follow_ups",
    "BonusClaimReviewed": "reviews",
}


def events_outside(parts: Iterable[str]) -> frozenset[str]:
    """The journey event types that change only a part of the facts outside `parts`: a read
    model storing just those parts may skip them (folded, they would move only the version)."""
    wanted = set(parts)
    return frozenset(kind for kind, part in _PART_OF.items() if part not in wanted)


def apply_payload(
    facts: JourneyFacts | None,
    journey_id: str,
    kind: str,
    version: int,
    p: Mapping[str, Any],
    parts: frozenset[str] | None = None,
) -> JourneyFacts:
    """The fold. With `parts` (see `PARTS`), events that change only a part left out are
    skipped, as a read model storing only those parts would drop them anyway."""
    f = facts if facts is not None else JourneyFacts(journey_id=journey_id)
    if version <= f.version:
        return f  # folded already (delivered twice)
    if parts is not None and _PART_OF.get(kind, "") not in parts and kind in _PART_OF:
        return f._replace(version=version)
    if kind == "DecisionRegistered":
        ref = p["external_ref"]
        return f._replace(
            version=version,
            insats=str(p["insats"]),
            decision=Decision(
                str(ref["system"]),
                str(ref["decision_id"]),
                str(p["person_ref"]),
                str(p.get("person_id_kind", "personnummer")),
                day_of(str(p["decided_on"])),
                str(p.get("decided_by", "")),
                str(p.get("target_group", "other")),
                p.get("transfer_from"),
                p.get("counsellor"),
            ),
        )
    if kind in ("ProviderChosen", "ProviderChanged"):
        new = Assignment(str(p["provider_id"]), day_of(str(p["starts_on"])))
        return f._replace(version=version, assignments=_sorted((*f.assignments, new)))
    if kind == "PlanRegistered":
        if f.plan is not None:
            return f._replace(version=version)  # one plan per journey: a second is refused
        share = p.get("planned_internship_share_percent")
        return f._replace(
            version=version,
            plan=Plan(
                day_of(str(p["established_on"])),
                _day_or_none(p.get("planned_internship_start")),
                None if share is None else int(share),
            ),
        )
    if kind == "LanguageInternshipStarted":
        started = Internship(
            str(p["employer"]), day_of(str(p["started_on"])), int(p["share_percent"]), None
        )
        return f._replace(version=version, internships=(*f.internships, started))
    if kind == "LanguageInternshipEnded":
        if not f.internships:
            return f._replace(version=version)
        last = f.internships[-1]._replace(ended_on=day_of(str(p["ended_on"])))
        return f._replace(version=version, internships=(*f.internships[:-1], last))
    if kind == "VoucherGranted":
        voucher = Voucher(
            str(p["voucher_id"]),
            Decimal(str(p["amount"])),
            str(p.get("purpose", "")),
            day_of(str(p["granted_on"])),
        )
        others = tuple(v for v in f.vouchers if v.voucher_id != voucher.voucher_id)
        return f._replace(version=version, vouchers=(*others, voucher))
    if kind == "JourneyExited":
        return f._replace(version=version, exit=Exit.from_payload(p))
    if kind == "FollowUpRecorded":
        follow_up = FollowUp(
            day_of(str(p["followed_up_on"])),
            str(p["outcome"]),
            tuple(
                Evidence(str(e["type"]), str(e["id"]), day_of(str(e["date"])))
                for e in p.get("evidence", ())
            ),
            day_of(str(p["due_on"])),
            bool(p.get("bonus_claim")),
        )
        return f._replace(version=version, follow_ups=(*f.follow_ups, follow_up))
    if kind == "BonusClaimReviewed":
        review = Review(day_of(str(p["reviewed_on"])), str(p["decision"]), p.get("reason"))
        return f._replace(version=version, reviews=(*f.reviews, review))
    if kind == "DecisionWithdrawn":
        return f._replace(
            version=version,
            withdrawal=Withdrawal(day_of(str(p["withdrawn_on"])), str(p.get("reason", ""))),
        )
    if kind == "Corrected":
        return _corrected(f._replace(version=version), p)
    return f._replace(version=version)


def _corrected(f: JourneyFacts, p: Mapping[str, Any]) -> JourneyFacts:
    what = p["what"]
    if what == "starts_on":
        if not f.assignments:
            return f
        first = f.assignments[0]._replace(starts_on=day_of(str(p["new"])))
        return f._replace(assignments=_sorted((first, *f.assignments[1:])))
    if what == "provider_starts_on":
        index = _changed_assignment(f, p.get("provider_id"), _day_or_none(p.get("old")))
        if index is None:
            return f
        moved = list(f.assignments)
        moved[index] = moved[index]._replace(starts_on=day_of(str(p["new"])))
        return f._replace(assignments=_sorted(moved))
    if what == "exited_on":
        if f.exit is None or p.get("new") is None:
            return f
        return f._replace(exit=f.exit._replace(exited_on=day_of(str(p["new"]))))
    if what == "exit":
        new = p.get("new")
        return f._replace(exit=None if not new else Exit.from_payload(new))
    return f


def _changed_assignment(f: JourneyFacts, provider_id: str | None, old: date | None) -> int | None:
    """The provider change a `provider_starts_on` correction moves: that provider's latest
    change (never the first choice: its date is `starts_on`) that started on `old`, else its
    latest change; with no provider named, the latest change."""
    candidates = [
        i
        for i in range(1, len(f.assignments))
        if provider_id is None or f.assignments[i].provider_id == provider_id
    ]
    if not candidates:
        return None
    exact = [i for i in candidates if f.assignments[i].starts_on == old]
    return (exact or candidates)[-1]


def fold(events: Iterable[Any]) -> dict[str, JourneyFacts]:
    """Every journey's facts from a log of public events (other streams are skipped)."""
    journeys: dict[str, JourneyFacts] = {}
    for e in events:
        if e.type in JOURNEY_EVENT_TYPES:
            journeys[e.stream_id] = apply(journeys.get(e.stream_id), e)
    return journeys


# --- providers ----------------------------------------------------------------------------------

PROVIDER_EVENT_TYPES: frozenset[str] = frozenset(
    {"ProviderAuthorised", "ProviderDeauthorised", "ProviderDetailsChanged"}
)


class ProviderDetails(NamedTuple):
    effective_from: date
    name: str
    bankgiro: str | None
    iban: str | None


class ProviderFacts(NamedTuple):
    provider_id: str
    insats_types: tuple[str, ...] = ()
    authorised_from: date | None = None  # the (first) authorisation
    deauthorisation_reason: str | None = None
    details: tuple[ProviderDetails, ...] = ()  # by effective_from
    # Every authorisation (True) and de-authorisation (False) from its day, in recording order.
    changes: tuple[tuple[date, bool], ...] = ()

    def status_on(self, day: date) -> bool | None:
        """Authorised on `day` (the latest change dated on or before it), or None before any."""
        status = None
        latest = date.min
        for on, authorised in self.changes:
            if on <= day and on >= latest:
                status, latest = authorised, on
        return status

    @property
    def deauthorised_on(self) -> date | None:
        """The de-authorisation in force at the end (None: authorised, or never)."""
        if self.status_on(date.max) is not False:
            return None
        return max(on for on, authorised in self.changes if not authorised)

    def authorised_on(self, day: date, insats: str | None = None) -> bool:
        return self.status_on(day) is True and (insats is None or insats in self.insats_types)

    def cut_from(self, starts_on: date) -> date | None:
        """The first day an assignment that starts on `starts_on` is no longer held because the
        provider is not authorised: `starts_on` itself when it was not authorised then, else
        its next de-authorisation; None if none. (A re-authorisation does not resume an
        assignment that a de-authorisation ended: the customer chooses again.)"""
        if self.status_on(starts_on) is False:
            return starts_on
        later = [on for on, authorised in self.changes if not authorised and on > starts_on]
        return min(later) if later else None

    def on(self, day: date) -> ProviderFacts:
        """The authorisations in force by `day` (later ones left out)."""
        return self._replace(changes=tuple(c for c in self.changes if c[0] <= day))

    def details_on(self, day: date) -> ProviderDetails | None:
        """The name and account in force on `day` (before the first: the first)."""
        current = self.details[0] if self.details else None
        for version in self.details[1:]:
            if version.effective_from > day:
                break
            current = version
        return current

    def details_between(self, first: date, last: date | None) -> list[ProviderDetails]:
        """Every version in force on some day of [first, last] (`last` None: no end)."""
        versions = [v for v in (self.details_on(first),) if v is not None]
        versions.extend(
            d
            for d in self.details
            if first < d.effective_from and (last is None or d.effective_from <= last)
        )
        return versions


Providers = Mapping[str, ProviderFacts]


def _with_details(facts: ProviderFacts, version: ProviderDetails) -> ProviderFacts:
    # Of two versions with the same effective_from, the later recorded holds.
    kept = [d for d in facts.details if d.effective_from != version.effective_from]
    return facts._replace(details=tuple(sorted((*kept, version), key=lambda d: d.effective_from)))


def apply_provider(facts: ProviderFacts | None, event: Any) -> ProviderFacts:
    """The provider's facts after one of its public events."""
    return apply_provider_payload(facts, event.type, event.payload)


def apply_provider_payload(
    facts: ProviderFacts | None, kind: str, p: Mapping[str, Any]
) -> ProviderFacts:
    f = facts if facts is not None and facts.provider_id else ProviderFacts(str(p["provider_id"]))
    if kind == "ProviderAuthorised":
        authorised_from = day_of(str(p["authorised_from"]))
        f = f._replace(
            insats_types=tuple(p.get("insats_types", ())),
            authorised_from=f.authorised_from or authorised_from,
            changes=(*f.changes, (authorised_from, True)),
        )
        return _with_details(
            f, ProviderDetails(authorised_from, str(p["name"]), p.get("bankgiro"), p.get("iban"))
        )
    if kind == "ProviderDetailsChanged":
        return _with_details(
            f,
            ProviderDetails(
                day_of(str(p["effective_from"])), str(p["name"]), p.get("bankgiro"), p.get("iban")
            ),
        )
    if kind == "ProviderDeauthorised":
        day = day_of(str(p["effective_on"]))
        return f._replace(
            changes=(*f.changes, (day, False)), deauthorisation_reason=p.get("reason")
        )
    return f


def fold_providers(events: Iterable[Any]) -> dict[str, ProviderFacts]:
    providers: dict[str, ProviderFacts] = {}
    for e in events:
        if e.type in PROVIDER_EVENT_TYPES:
            pid = str(e.payload["provider_id"])
            providers[pid] = apply_provider(providers.get(pid), e)
    return providers


# --- the stored form ----------------------------------------------------------------------------


def _ord(d: date | None) -> int | None:
    return None if d is None else d.toordinal()


# The parts of the facts a read model may leave out of what it stores, when none of the answers
# it asks for depend on them (version, insats, assignments, exit and withdrawal are always kept:
# the fold of a correction needs them). Folding onto facts without a part leaves it out again.
PARTS: frozenset[str] = frozenset(
    {"decision", "plan", "internships", "vouchers", "follow_ups", "reviews"}
)


def encode(f: JourneyFacts, parts: frozenset[str] = PARTS) -> str:
    """Compact JSON of the facts (what read models store to fold the next event onto), with
    only `parts` of the optional ones. Dates are day ordinals (`date.toordinal`): half the size
    of ISO text, and parsed as integers — runs decode a hundred thousand journeys at a time."""
    d = f.decision if "decision" in parts else None
    x = f.exit
    return json.dumps(
        [
            f.version,
            f.insats,
            None
            if d is None
            else [
                d.system,
                d.decision_id,
                d.person_ref,
                d.person_id_kind,
                d.decided_on.toordinal(),
                d.decided_by,
                d.target_group,
                d.transfer_from,
                d.counsellor,
            ],
            [[a.provider_id, a.starts_on.toordinal()] for a in f.assignments],
            None
            if f.plan is None or "plan" not in parts
            else [
                f.plan.established_on.toordinal(),
                _ord(f.plan.planned_internship_start),
                f.plan.planned_internship_share_percent,
            ],
            [
                [i.employer, i.started_on.toordinal(), i.share_percent, _ord(i.ended_on)]
                for i in (f.internships if "internships" in parts else ())
            ],
            [
                [v.voucher_id, f"{v.amount:.2f}", v.purpose, v.granted_on.toordinal()]
                for v in (f.vouchers if "vouchers" in parts else ())
            ],
            None
            if x is None
            else [
                x.exited_on.toordinal(),
                x.reason,
                x.employment_form,
                x.contract_months,
                x.subsidy,
                x.csn_eligible,
                x.next_journey_id,
            ],
            [
                [
                    u.followed_up_on.toordinal(),
                    u.outcome,
                    [[e.type, e.id, e.date.toordinal()] for e in u.evidence],
                    u.due_on.toordinal(),
                    1 if u.bonus_claim else 0,
                ]
                for u in (f.follow_ups if "follow_ups" in parts else ())
            ],
            [
                [r.reviewed_on.toordinal(), r.decision, r.reason]
                for r in (f.reviews if "reviews" in parts else ())
            ],
            None
            if f.withdrawal is None
            else [f.withdrawal.withdrawn_on.toordinal(), f.withdrawal.reason],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode(journey_id: str, text: str) -> JourneyFacts:
    return from_value(journey_id, json.loads(text))


_new = tuple.__new__  # NamedTuple construction without the Python-level __new__: runs decode
# a hundred thousand journeys at a time
_day = date.fromordinal


def from_value(journey_id: str, value: list[Any]) -> JourneyFacts:
    """`decode` of an already parsed document (many rows can be parsed in one `json.loads`)."""
    version, insats, d, assignments, plan, internships, vouchers, x, follow_ups, reviews, w = value
    day = _day
    return _new(
        JourneyFacts,
        (
            journey_id,
            version,
            insats,
            None
            if d is None
            else _new(
                Decision,
                (d[0], d[1], d[2], d[3], day(d[4]), d[5], d[6], d[7], d[8] if len(d) > 8 else None),
            ),
            tuple([_new(Assignment, (pid, day(s))) for pid, s in assignments]),
            None
            if plan is None
            else _new(Plan, (day(plan[0]), None if plan[1] is None else day(plan[1]), plan[2])),
            tuple(
                [
                    _new(Internship, (e, day(s), share, None if end is None else day(end)))
                    for e, s, share, end in internships
                ]
            )
            if internships
            else (),
            tuple(
                [_new(Voucher, (v, Decimal(a), purpose, day(g))) for v, a, purpose, g in vouchers]
            )
            if vouchers
            else (),
            None if x is None else _new(Exit, (day(x[0]), x[1], x[2], x[3], x[4], x[5], x[6])),
            tuple(
                [
                    _new(
                        FollowUp,
                        (
                            day(on),
                            outcome,
                            tuple([_new(Evidence, (t, i, day(dd))) for t, i, dd in evidence]),
                            day(due),
                            bool(claim),
                        ),
                    )
                    for on, outcome, evidence, due, claim in follow_ups
                ]
            )
            if follow_ups
            else (),
            tuple([_new(Review, (day(on), dec, reason)) for on, dec, reason in reviews])
            if reviews
            else (),
            None if w is None else _new(Withdrawal, (day(w[0]), w[1])),
        ),
    )


def encode_provider(p: ProviderFacts) -> str:
    return json.dumps(
        [
            p.provider_id,
            list(p.insats_types),
            _ord(p.authorised_from),
            p.deauthorisation_reason,
            [[d.effective_from.toordinal(), d.name, d.bankgiro, d.iban] for d in p.details],
            [[on.toordinal(), 1 if authorised else 0] for on, authorised in p.changes],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode_provider(text: str) -> ProviderFacts:
    pid, types, authorised, reason, details, changes = json.loads(text)
    return ProviderFacts(
        pid,
        tuple(types),
        None if authorised is None else _day(authorised),
        reason,
        tuple(ProviderDetails(_day(e), n, b, i) for e, n, b, i in details),
        tuple((_day(on), bool(ok)) for on, ok in changes),
    )
