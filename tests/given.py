"""Given past events → when a command → then these events: the one way tests state facts.

`EventLog` builds the public events (contracts/events.py) of journeys, providers and rate tables
with domain-named methods and sensible defaults, in log order, and checks every payload against
its checked-in JSON Schema (contracts/events/v1/); an event the contract would not carry fails
the test where it is built. `raw(...)` is the one escape hatch, for deliberately invalid or
legacy events.

`when(given)` runs a command through the real lifecycle application (`LifecycleApp`, in memory)
after importing the given events, and returns the NEW public events as `(type, payload)` pairs —
or, when the command is refused, a `Refused(code, field, kind)`, after checking that nothing was
recorded:

    given = EventLog()
    journey = given.decision(insats="grund", decided_on="2026-01-10")
    given.provider_authorised(P1)
    then = when(given).choose_provider(journey, provider_id=P1, starts_on=d("2026-01-20"))
    assert then == [("ProviderChosen", {"provider_id": P1, "starts_on": "2026-01-20"})]

Payments, alerts and statistics feed the same log (`EventLog.events`) to their projections.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from stdnum import luhn

from contracts.events import STREAM_TYPE_OF, PublicEvent
from contracts.rates import default_rates
from contracts.schemas import validation_errors
from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.domain.base import event_id
from services.lifecycle.domain.journey import journey_id_for
from services.lifecycle.domain.personnummer import parse_person_id
from services.lifecycle.domain.provider import provider_stream_id
from services.lifecycle.domain.rates import RATES_STREAM_ID
from services.lifecycle.transfer import import_events
from services.platform.refusal import Refusal

# The day every test lives on (tests/conftest.py sets INSATS_TODAY to it) and the person key.
TODAY = "2026-11-23"
PERSON_KEY = "ab" * 32

# Providers (valid Swedish organisation numbers).
P1 = "5560360793"
P2 = "5565475489"
P3 = "2120000142"

ALL_INSATS = ("grund", "forstarkt", "sai")


def d(text: str) -> date:
    return date.fromisoformat(text)


def personnummer(birth: str = "1990-01-01", serial: str = "001") -> str:
    """A valid personnummer YYYYMMDD-NNNC for a birth date, with the Luhn digit computed."""
    digits = birth.replace("-", "")[2:] + serial
    return f"{birth.replace('-', '')}-{serial}{luhn.calc_check_digit(digits)}"


def person_ref_of(person_id: str) -> str:
    """The pseudonym the application derives for a personnummer under the tests' key."""
    number = parse_person_id(person_id, d(TODAY)).number
    return PersonRefKey(bytes.fromhex(PERSON_KEY)).ref(number)


def exit_payload(exited_on: str, reason: str = "work", **details: Any) -> dict[str, Any]:
    """A JourneyExited payload (also an `exit` correction's old/new) with every field; an exit
    to work is a 12-month fixed-term job without subsidy unless the details say otherwise."""
    payload: dict[str, Any] = {
        "exited_on": exited_on,
        "reason": reason,
        "employment_form": None,
        "contract_months": None,
        "subsidy": None,
        "csn_eligible": None,
        "next_journey_id": None,
    }
    if reason == "work":
        payload.update(employment_form="fixed_term", contract_months=12, subsidy="none")
    payload.update(details)
    return payload


class InvalidGivenEvent(AssertionError):
    """A given event that the public contract would not carry."""


def check_against_schema(event: PublicEvent) -> None:
    problems = validation_errors(event.to_dict())
    if problems:
        raise InvalidGivenEvent(
            f"{event.type} does not match its JSON Schema: {'; '.join(problems)} — "
            "use EventLog.raw(...) for a deliberately invalid or legacy event"
        )


class EventLog:
    """An ordered log of public events, named as SPEC §3 names the facts.

    `start` and `step` place the events in the log (the first is at start + step; gaps are
    allowed). `recorded_at(effective_date)` gives each event's recording time (by default noon
    UTC on its effective date). Journeys are identified by their journey id: by default the
    one the application derives from the decision's external reference."""

    def __init__(
        self,
        *,
        start: int = 0,
        step: int = 1,
        recorded_at: Callable[[str], str] | str | None = None,
        actor: str = "test",
        source_system: str = "test",
    ) -> None:
        self.events: list[PublicEvent] = []
        self.position = start
        self.step = step
        self._recorded_at = recorded_at
        self.actor = actor
        self.source_system = source_system
        self.versions: dict[str, int] = {}
        self.holder: dict[str, str] = {}  # journey -> current provider
        self.person_ids: dict[str, str] = {}  # journey -> personnummer (never in the payload)
        self._persons = 0
        self._decisions = 0

    # --- plumbing ------------------------------------------------------------------------------

    def raw(
        self,
        stream_id: str,
        type_: str,
        payload: dict[str, Any],
        effective: str,
        stream_type: str | None = None,
        *,
        version: int | None = None,
    ) -> PublicEvent:
        """An event exactly as given, NOT checked against the schema: for deliberately invalid
        or legacy events (and for the builder's own use after its check)."""
        self.position += self.step
        if version is None:
            version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        if callable(self._recorded_at):
            recorded = self._recorded_at(effective)
        else:
            recorded = self._recorded_at or f"{effective}T12:00:00Z"
        event = PublicEvent(
            position=self.position,
            event_id=event_id(stream_id, version),
            stream_id=stream_id,
            stream_type=stream_type or STREAM_TYPE_OF.get(type_, "journey"),
            type=type_,
            version=version,
            effective_date=effective,
            recorded_at=recorded,
            actor=self.actor,
            source_system=self.source_system,
            correlation_id=str(uuid.uuid4()),
            payload=payload,
        )
        self.events.append(event)
        return event

    def add(
        self,
        stream_id: str,
        type_: str,
        payload: dict[str, Any],
        effective: str,
        stream_type: str | None = None,
    ) -> PublicEvent:
        """An event of the contract, checked against its JSON Schema."""
        before = (self.position, dict(self.versions))
        event = self.raw(stream_id, type_, payload, effective, stream_type)
        try:
            check_against_schema(event)
        except InvalidGivenEvent:
            self.events.pop()
            self.position, self.versions = before
            raise
        return event

    def of(self, journey: str) -> list[PublicEvent]:
        return [e for e in self.events if e.stream_id == journey]

    def new_person(self) -> str:
        """A personnummer not used before in this log."""
        self._persons += 1
        year, serial = divmod(self._persons, 900)
        return personnummer(f"{1970 + year % 40}-01-01", f"{100 + serial:03d}")

    # --- journey facts -------------------------------------------------------------------------

    def decision(
        self,
        journey: str | None = None,
        *,
        insats: str = "grund",
        decided_on: str = "2026-01-10",
        decided_by: str = "kv-anna",
        target_group: str = "other",
        person_id: str | None = None,
        person_ref: str | None = None,
        person_id_kind: str = "personnummer",
        external_ref: tuple[str, str] | None = None,
        transfer_from: str | None = None,
    ) -> str:
        """DecisionRegistered; returns the journey id. The person is a fresh personnummer
        unless given; its pseudonym is the application's unless `person_ref` is given."""
        if external_ref is None:
            if journey is None:
                self._decisions += 1
                external_ref = ("ecos", f"d-{self._decisions}")
            else:
                external_ref = ("test", journey)
        system, decision_id = external_ref
        journey = journey or str(journey_id_for(system, decision_id))
        person_id = person_id or self.new_person()
        self.person_ids[journey] = person_id
        self.add(
            journey,
            "DecisionRegistered",
            {
                "external_ref": {"system": system, "decision_id": decision_id},
                "person_ref": person_ref or person_ref_of(person_id),
                "person_id_kind": person_id_kind,
                "insats": insats,
                "decided_on": decided_on,
                "decided_by": decided_by,
                "target_group": target_group,
                "transfer_from": transfer_from,
            },
            decided_on,
        )
        return journey

    def provider_chosen(self, journey: str, provider_id: str = P1, starts_on: str = "") -> None:
        """ProviderChosen: the customer's choice; the insats starts."""
        starts_on = starts_on or "2026-01-20"
        self.add(
            journey,
            "ProviderChosen",
            {"provider_id": provider_id, "starts_on": starts_on},
            starts_on,
        )
        self.holder[journey] = provider_id

    def provider_changed(
        self, journey: str, provider_id: str, starts_on: str, previous: str | None = None
    ) -> None:
        """ProviderChanged from the current holder (or `previous`)."""
        self.add(
            journey,
            "ProviderChanged",
            {
                "provider_id": provider_id,
                "starts_on": starts_on,
                "previous_provider_id": previous or self.holder[journey],
            },
            starts_on,
        )
        self.holder[journey] = provider_id

    def provider(self, journey: str, provider_id: str, starts_on: str) -> None:
        """The first choice, or a change when the journey already has a provider."""
        if journey in self.holder:
            self.provider_changed(journey, provider_id, starts_on)
        else:
            self.provider_chosen(journey, provider_id, starts_on)

    def started(
        self,
        journey: str | None = None,
        *,
        starts_on: str = "2026-01-20",
        provider_id: str = P1,
        **decision: Any,
    ) -> str:
        """A decision (decided on the start unless given) and its first provider."""
        decision.setdefault("decided_on", min(starts_on, "2026-01-10"))
        journey = self.decision(journey, **decision)
        self.provider_chosen(journey, provider_id, starts_on)
        return journey

    def plan(
        self,
        journey: str,
        established_on: str,
        *,
        due_on: str = "2099-01-01",
        late: bool = False,
        planned_internship_start: str | None = None,
        planned_internship_share_percent: int | None = None,
    ) -> None:
        self.add(
            journey,
            "PlanRegistered",
            {
                "established_on": established_on,
                "due_on": due_on,
                "late": late,
                "planned_internship_start": planned_internship_start,
                "planned_internship_share_percent": planned_internship_share_percent,
            },
            established_on,
        )

    def internship_started(
        self,
        journey: str,
        started_on: str,
        *,
        employer: str = "Bageriet AB",
        share_percent: int = 60,
    ) -> None:
        self.add(
            journey,
            "LanguageInternshipStarted",
            {"employer": employer, "started_on": started_on, "share_percent": share_percent},
            started_on,
        )

    def internship_ended(self, journey: str, ended_on: str) -> None:
        self.add(journey, "LanguageInternshipEnded", {"ended_on": ended_on}, ended_on)

    def voucher(
        self,
        journey: str,
        granted_on: str,
        amount: str = "5000.00",
        *,
        purpose: str = "körkort B",
        voucher_id: str | None = None,
    ) -> None:
        self.add(
            journey,
            "VoucherGranted",
            {
                "voucher_id": voucher_id or str(uuid.uuid4()),
                "amount": amount,
                "purpose": purpose,
                "granted_on": granted_on,
            },
            granted_on,
        )

    def exited(
        self, journey: str, exited_on: str, reason: str = "work", **details: Any
    ) -> dict[str, Any]:
        """JourneyExited with every field (see `exit_payload`); returns the payload."""
        payload = exit_payload(exited_on, reason, **details)
        self.add(journey, "JourneyExited", payload, exited_on)
        return payload

    def follow_up(
        self,
        journey: str,
        followed_up_on: str,
        outcome: str = "sustained",
        *,
        due_on: str = "2099-01-01",
        bonus_claim: bool | None = None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> None:
        """FollowUpRecorded; sustained is the bonus claim unless `bonus_claim` says otherwise."""
        if evidence is None:
            evidence = [{"type": "anställningsbevis", "id": "doc-1", "date": followed_up_on}]
        self.add(
            journey,
            "FollowUpRecorded",
            {
                "followed_up_on": followed_up_on,
                "outcome": outcome,
                "evidence": evidence,
                "due_on": due_on,
                "bonus_claim": outcome == "sustained" if bonus_claim is None else bonus_claim,
            },
            followed_up_on,
        )

    def bonus_reviewed(
        self,
        journey: str,
        reviewed_on: str,
        decision: str = "approved",
        reason: str | None = None,
    ) -> None:
        if reason is None and decision != "approved":
            reason = "intyg saknas"
        self.add(
            journey,
            "BonusClaimReviewed",
            {"reviewed_on": reviewed_on, "decision": decision, "reason": reason},
            reviewed_on,
        )

    def withdrawn(self, journey: str, withdrawn_on: str, reason: str = "avböjt") -> None:
        self.add(
            journey,
            "DecisionWithdrawn",
            {"withdrawn_on": withdrawn_on, "reason": reason},
            withdrawn_on,
        )

    def corrected(
        self,
        journey: str,
        what: str,
        old: Any,
        new: Any,
        *,
        provider_id: str | None = None,
        reason: str = "fel datum",
        effective: str | None = None,
    ) -> None:
        """Corrected: effective on the earlier of the two dates (as the application records
        it) unless `effective` is given."""
        if effective is None:
            if isinstance(old, dict) and isinstance(new, dict):
                effective = min(old["exited_on"], new["exited_on"])
            else:
                effective = min(str(old), str(new))
        self.add(
            journey,
            "Corrected",
            {"what": what, "old": old, "new": new, "reason": reason, "provider_id": provider_id},
            effective,
        )

    # --- provider facts ------------------------------------------------------------------------

    def provider_authorised(
        self,
        provider_id: str = P1,
        name: str | None = None,
        *,
        insats_types: Iterable[str] = ALL_INSATS,
        authorised_from: str = "2020-01-01",
        bankgiro: str | None = "5050-1055",
        iban: str | None = None,
        effective: str | None = None,
    ) -> None:
        self.add(
            str(provider_stream_id(provider_id)),
            "ProviderAuthorised",
            {
                "provider_id": provider_id,
                "name": name or f"Anordnare {provider_id}",
                "insats_types": list(insats_types),
                "authorised_from": authorised_from,
                "bankgiro": bankgiro,
                "iban": iban,
            },
            effective or authorised_from,
        )

    def provider_deauthorised(
        self, provider_id: str, effective_on: str, reason: str = "avtal upphört"
    ) -> None:
        self.add(
            str(provider_stream_id(provider_id)),
            "ProviderDeauthorised",
            {"provider_id": provider_id, "effective_on": effective_on, "reason": reason},
            effective_on,
        )

    def provider_details_changed(
        self,
        provider_id: str,
        effective_from: str,
        name: str,
        *,
        bankgiro: str | None = None,
        iban: str | None = None,
        reason: str = "fusion",
    ) -> None:
        """ProviderDetailsChanged: the whole version in force from effective_from."""
        self.add(
            str(provider_stream_id(provider_id)),
            "ProviderDetailsChanged",
            {
                "provider_id": provider_id,
                "effective_from": effective_from,
                "name": name,
                "bankgiro": bankgiro,
                "iban": iban,
                "reason": reason,
            },
            effective_from,
        )

    # --- rate tables ---------------------------------------------------------------------------

    def rates_published(
        self,
        effective_from: str = "2016-01-01",
        *,
        sai: str | None = "7293.00",
        grund: str | None = "3686.00",
        forstarkt: str | None = "4823.00",
        bonus: str = "18000.00",
        voucher_min: str = "5000.00",
        voucher_max: str = "15000.00",
        min_days: int = 14,
    ) -> None:
        """RatesSet (the rate stream's first version is its opening, so RatesSet starts at 2)."""
        stream = str(RATES_STREAM_ID)
        self.versions.setdefault(stream, 1)
        self.add(
            stream,
            "RatesSet",
            {
                "effective_from": effective_from,
                "monthly": {"grund": grund, "forstarkt": forstarkt, "sai": sai},
                "bonus": {"grund": bonus, "forstarkt": bonus, "sai": bonus},
                "voucher_min": voucher_min,
                "voucher_max": voucher_max,
                "min_days_before_payment": min_days,
            },
            effective_from,
        )

    def default_rates(self) -> None:
        """The shipped default rate table (contracts/rates)."""
        stream = str(RATES_STREAM_ID)
        self.versions.setdefault(stream, 1)
        table = default_rates()
        self.add(stream, "RatesSet", table, table["effective_from"])


# --- when: a command through the real application ---------------------------------------------

Then = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Refused:
    """A refusal as a value: its code, the field at fault and its kind (the Refusal class)."""

    code: str
    field: str | None
    kind: str = "Invalid"

    @classmethod
    def of(cls, refusal: Refusal) -> Refused:
        return cls(refusal.code, refusal.field, type(refusal).__name__)


USE_CASES = frozenset(
    {
        "register_decision",
        "choose_provider",
        "register_plan",
        "start_internship",
        "end_internship",
        "grant_voucher",
        "exit_journey",
        "record_follow_up",
        "review_bonus_claim",
        "withdraw_decision",
        "correct_journey",
        "authorise_provider",
        "deauthorise_provider",
        "change_provider_details",
        "set_rates",
    }
)


class When:
    """The lifecycle application (in memory) that has recorded the given events. Each use case
    of `LifecycleApp` is a method here taking the same arguments without the context; it
    returns the events the command recorded, or `Refused` (and then checks that it recorded
    nothing)."""

    def __init__(
        self,
        given: EventLog,
        *,
        today: str = TODAY,
        actor: str = "counsellor:anna",
        provider_id: str | None = None,
    ) -> None:
        self.today = d(today)
        self.app = LifecycleApp(
            {"PERSISTENCE_MODULE": "eventsourcing.popo"},
            person_key=PersonRefKey(bytes.fromhex(PERSON_KEY)),
            today=lambda: self.today,
        )
        self.actor, self.provider_id = actor, provider_id
        import_events(self.app, (json.dumps(line) for line in _with_person_ids(given)))
        self.result: Any = None
        self.recorded: list[PublicEvent] = []  # the whole events of the last command
        self.refusal: Refusal | None = None  # the last refusal (its message, for people)

    def as_provider(self, provider_id: str) -> When:
        """Later commands act for this provider (a provider's API key)."""
        self.actor, self.provider_id = f"provider:{provider_id}", provider_id
        return self

    def __getattr__(self, name: str) -> Callable[..., Then | Refused]:
        if name not in USE_CASES:
            raise AttributeError(name)
        use_case = getattr(self.app, name)

        def run(*args: Any, **kwargs: Any) -> Then | Refused:
            ctx = self.app.context(self.actor, "ecos", "corr-1")
            if self.provider_id is not None:
                ctx = replace(ctx, provider_id=self.provider_id)
            before = self.app.max_position()
            try:
                self.result = use_case(ctx, *args, **kwargs)
            except Refusal as refusal:
                assert self.app.max_position() == before, "a refusal must record nothing"
                self.refusal = refusal
                return Refused.of(refusal)
            self.recorded = self.app.public_events(before, 1000)
            return [(e.type, e.payload) for e in self.recorded]

        return run

    def journey(self, journey_id: str) -> Any:
        """The journey as recorded now (its facts, for derived answers)."""
        return self.app.journey(journey_id)


def when(given: EventLog, **options: Any) -> When:
    return When(given, **options)


def _with_person_ids(given: EventLog) -> Iterable[dict[str, Any]]:
    """The log as an export with --include-person-ids (what the application imports)."""
    for event in given.events:
        line = event.to_dict()
        if event.type == "DecisionRegistered":
            line["payload"] = {**event.payload, "person_id": given.person_ids[event.stream_id]}
        yield line
