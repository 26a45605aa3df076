"""A customer journey: one insats decision, from decision to final follow-up (SPEC §3).

The journey's state is the public journey model (`contracts.journey.JourneyFacts`), folded from
its own events exactly as every read model folds them, so what the rules check and what readers
see cannot differ. Each command method checks the rules against those facts and either raises
a refusal (`services.platform.refusal`; recording nothing) or triggers exactly the events that
state the new facts.
Collaborators the journey cannot know by itself (providers, rates, today's date) are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from contracts import journey as model
from contracts.bounds import add_days
from contracts.events import EXIT_REASONS
from contracts.journey import Evidence, Exit, JourneyFacts, Plan
from services.lifecycle.domain.base import CommandContext, Fact, stable_id
from services.lifecycle.domain.personnummer import PersonId
from services.lifecycle.domain.provider import Provider
from services.lifecycle.domain.rates import RateTable, parse_money
from services.platform.refusal import Conflict, Forbidden, Invalid, NotFound

EMPLOYMENT_FORMS = ("permanent", "fixed_term", "full_time_hourly")
SUBSIDIES = ("none", "extratjanst", "nystartsjobb", "instegsjobb", "other")
MIN_SAI_INTERNSHIP_SHARE = 50
MIN_AGE, MAX_AGE, YOUTH_MAX_AGE = 18, 65, 24
# How far ahead a fact may be dated when it is recorded in advance (a provider choice or
# change, a planned internship): a municipality plans months ahead, never years.
MAX_DAYS_AHEAD = 366
# The insats starts (the first provider's starts_on) within a year of the decision.
MAX_DAYS_FROM_DECISION_TO_START = 366
# A planned language internship starts within two years of the insats.
MAX_DAYS_FROM_START_TO_INTERNSHIP = 731
# A fixed-term contract longer than ten years is a typing error, not a contract.
MAX_CONTRACT_MONTHS = 120
CORRECTABLE = ("starts_on", "exited_on", "exit", "provider_starts_on")


class ExternalRef(NamedTuple):
    """The decision's reference in the system that made it (the journey's natural key)."""

    system: str
    decision_id: str


class Transfer(NamedTuple):
    """A decision that moves the customer from an open journey to a new insats."""

    journey_id: str
    exited_on: date


class ExitCorrection(NamedTuple):
    """The corrected exit (`field: exit`); `exited_on` stays unless corrected with it."""

    reason: str
    exited_on: date | None = None
    employment_form: str | None = None
    contract_months: int | None = None
    subsidy: str | None = None
    csn_eligible: bool | None = None


class ProviderStart(NamedTuple):
    """`field: provider_starts_on` for one provider's assignment (the latest change if None)."""

    starts_on: date
    provider_id: str | None = None


Correction = date | ExitCorrection | ProviderStart


def journey_id_for(system: str, decision_id: str) -> UUID:
    """The same decision (external reference) always maps to the same journey."""
    return stable_id("decision", system, decision_id)


class Journey(Aggregate):
    # --- events (the public contract's journey events; `contracts.events`) --------------------

    class DecisionRegistered(Fact, Aggregate.Created):
        external_ref: dict[str, str]
        person_id: str
        person_ref: str
        person_id_kind: str
        insats: str
        decided_on: date
        decided_by: str
        target_group: str
        transfer_from: str | None
        counsellor: str | None = None  # added in v1.1; events recorded before have none

    class ProviderChosen(Fact):
        provider_id: str
        starts_on: date

    class ProviderChanged(Fact):
        provider_id: str
        starts_on: date
        previous_provider_id: str

    class PlanRegistered(Fact):
        established_on: date
        due_on: date
        late: bool
        planned_internship_start: date | None
        planned_internship_share_percent: int | None

    class LanguageInternshipStarted(Fact):
        employer: str
        started_on: date
        share_percent: int

    class LanguageInternshipEnded(Fact):
        ended_on: date

    class VoucherGranted(Fact):
        voucher_id: str
        amount: Decimal
        purpose: str
        granted_on: date

    class JourneyExited(Fact):
        exited_on: date
        reason: str
        employment_form: str | None
        contract_months: int | None
        subsidy: str | None
        csn_eligible: bool | None
        next_journey_id: str | None

    class FollowUpRecorded(Fact):
        followed_up_on: date
        outcome: str
        evidence: list[dict[str, str]]
        due_on: date
        bonus_claim: bool

    class BonusClaimReviewed(Fact):
        reviewed_on: date
        decision: str
        reason: str | None

    class DecisionWithdrawn(Fact):
        withdrawn_on: date
        reason: str

    class Corrected(Fact):
        what: str
        old: Any
        new: Any
        reason: str
        provider_id: str | None

    def __init__(self, id: UUID) -> None:
        self.facts = JourneyFacts(journey_id=str(id))
        self.person_id = ""  # the personnummer: private, never in the public facts

    def when(self, event: Fact) -> None:
        """Every event, one fold: the public model's (the same as every reader's)."""
        if isinstance(event, Journey.DecisionRegistered):
            self.person_id = event.person_id
        self.facts = model.apply_payload(
            self.facts,
            str(event.originator_id),
            type(event).__name__,
            event.originator_version,
            event.payload(),
        )

    # --- reading -----------------------------------------------------------------------------

    @property
    def starts_on(self) -> date | None:
        return self.facts.starts_on

    @property
    def is_open(self) -> bool:
        """Counts against "one open journey per person": not exited, not withdrawn."""
        return self.facts.is_open

    @property
    def person_ref(self) -> str:
        assert self.facts.decision is not None
        return self.facts.decision.person_ref

    @property
    def current_provider_id(self) -> str | None:
        return self.facts.assignments[-1].provider_id if self.facts.assignments else None

    def check_scope(self, provider_id: str | None, *, acting: bool) -> None:
        """A provider (`provider_id`; None for the municipality's roles) sees the journeys it
        holds or held — others are unknown to it (404, not to reveal them) — and acts only on
        one it holds now, or — for follow-ups — held at the exit (API.md "Roles")."""
        if provider_id is None:
            return
        if provider_id not in self.facts.providers_ever:
            raise NotFound("journey_not_found", "unknown journey", "journey_id")
        if acting and self.current_provider_id != provider_id:
            raise Forbidden(
                "not_your_customer", "only the provider holding the journey may do this", None
            )

    # --- commands ----------------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        ctx: CommandContext,
        *,
        journey_id: UUID,
        external_ref: ExternalRef,
        person: PersonId,
        person_ref: str,
        insats: str,
        decided_on: date,
        decided_by: str,
        target_group: str,
        transfer_from: str | None,
        counsellor: str | None = None,
    ) -> Journey:
        """Rules on the person's other journeys (one open journey) are checked by the caller,
        which alone can see them."""
        if decided_on > ctx.today:
            raise Invalid("date_in_future", "decided_on must not be in the future", "decided_on")
        if not decided_by.strip():
            raise Invalid("decided_by_required", "decided_by is required", "decided_by")
        age = person.age_on(decided_on)
        if not MIN_AGE <= age <= MAX_AGE:
            raise Invalid(
                "age_out_of_range",
                f"the customer is {age} on decided_on; an insats is for ages {MIN_AGE}–{MAX_AGE}",
                "person_id",
            )
        if target_group == "youth" and age > YOUTH_MAX_AGE:
            raise Invalid(
                "age_out_of_range",
                f"the customer is {age}; target group youth is for ages {MIN_AGE}–{YOUTH_MAX_AGE}",
                "target_group",
            )
        return cls._create(
            cls.DecisionRegistered,
            id=journey_id,
            external_ref=external_ref._asdict(),
            person_id=person.number,
            person_ref=person_ref,
            person_id_kind=person.kind,
            insats=insats,
            decided_on=decided_on,
            decided_by=decided_by.strip(),
            target_group=target_group,
            transfer_from=transfer_from,
            counsellor=counsellor.strip() if counsellor and counsellor.strip() else None,
            **ctx.meta(decided_on),
        )

    def same_decision(
        self,
        *,
        person_id: str,
        insats: str,
        decided_on: date,
        decided_by: str,
        target_group: str,
        transfer_from: str | None,
        counsellor: str | None = None,
    ) -> bool:
        d = self.facts.decision
        return (
            d is not None
            and self.person_id == person_id
            and self.facts.insats == insats
            and d.decided_on == decided_on
            and d.decided_by == decided_by.strip()
            and d.target_group == target_group
            and d.transfer_from == transfer_from
            and d.counsellor == (counsellor.strip() if counsellor and counsellor.strip() else None)
        )

    def _require_not_withdrawn(self) -> None:
        if self.facts.withdrawal is not None:
            raise Conflict("journey_withdrawn", "the decision has been withdrawn")

    def _require_started(self) -> date:
        self._require_not_withdrawn()
        if self.starts_on is None:
            raise Conflict("journey_not_started", "no provider has been chosen yet")
        return self.starts_on

    def _require_active(self) -> date:
        starts_on = self._require_started()
        if self.facts.exit is not None:
            raise Conflict("journey_exited", "the journey has ended")
        return starts_on

    def _require_exit(self) -> Exit:
        if self.facts.exit is None:
            raise Conflict("journey_not_exited", "the journey has not ended", "field")
        return self.facts.exit

    @staticmethod
    def _not_future(day: date, ctx: CommandContext, name: str) -> None:
        if day > ctx.today:
            raise Invalid("date_in_future", f"{name} must not be in the future", name)

    @staticmethod
    def _not_far_ahead(day: date, ctx: CommandContext, name: str) -> None:
        limit = add_days(ctx.today, MAX_DAYS_AHEAD)
        if day > limit:
            raise Invalid(
                "date_too_far_ahead",
                f"{name} may be at most {MAX_DAYS_AHEAD} days after today (until "
                f"{limit.isoformat()}), got {day.isoformat()}",
                name,
            )

    def _decided_on(self) -> date:
        assert self.facts.decision is not None
        return self.facts.decision.decided_on

    def _not_long_after_decision(self, starts_on: date, name: str) -> None:
        limit = add_days(self._decided_on(), MAX_DAYS_FROM_DECISION_TO_START)
        if starts_on > limit:
            raise Invalid(
                "date_too_far_ahead",
                f"the insats must start within {MAX_DAYS_FROM_DECISION_TO_START} days of the "
                f"decision (by {limit.isoformat()}); register a new decision otherwise",
                name,
            )

    def choose_provider(self, ctx: CommandContext, *, provider: Provider, starts_on: date) -> None:
        """First call: the customer's provider choice (the insats starts). Later: a change."""
        self._require_not_withdrawn()
        if self.facts.exit is not None:
            raise Conflict("journey_exited", "the journey has ended")
        self._not_far_ahead(starts_on, ctx, "starts_on")
        insats = self.facts.insats or ""
        if not provider.is_authorised_for(insats, starts_on):
            raise Invalid(
                "provider_not_authorised",
                f"provider {provider.provider_id} is not authorised for {insats} on {starts_on}",
                "provider_id",
            )
        if not self.facts.assignments:
            if starts_on < self._decided_on():
                raise Invalid(
                    "invalid_date", "starts_on must not be before decided_on", "starts_on"
                )
            self._not_long_after_decision(starts_on, "starts_on")
            self.trigger_event(
                self.ProviderChosen,
                provider_id=provider.provider_id,
                starts_on=starts_on,
                **ctx.meta(starts_on),
            )
            return
        current = self.facts.assignments[-1]
        if starts_on <= current.starts_on:
            raise Invalid(
                "invalid_date",
                f"a provider change must start after the current assignment ({current.starts_on})",
                "starts_on",
            )
        if current.provider_id == provider.provider_id and provider.deauthorised_on is None:
            raise Conflict(
                "already_assigned", "the customer already has this provider", "provider_id"
            )
        self.trigger_event(
            self.ProviderChanged,
            provider_id=provider.provider_id,
            starts_on=starts_on,
            previous_provider_id=current.provider_id,
            **ctx.meta(starts_on),
        )

    def register_plan(self, ctx: CommandContext, plan: Plan) -> None:
        established_on, planned_internship_start, planned_internship_share_percent = plan
        starts_on = self._require_active()
        if self.facts.plan is not None:
            raise Conflict("plan_exists", "a genomförandeplan is already registered")
        if established_on < starts_on:
            raise Invalid(
                "invalid_date",
                "established_on must not be before the insats started",
                "established_on",
            )
        self._not_future(established_on, ctx, "established_on")
        if self.facts.insats == "sai":
            if planned_internship_start is None:
                raise Invalid(
                    "internship_start_required",
                    "an SAI plan must give the planned start of the language internship",
                    "planned_internship_start",
                )
            if (
                planned_internship_share_percent is None
                or not MIN_SAI_INTERNSHIP_SHARE <= planned_internship_share_percent <= 100
            ):
                raise Invalid(
                    "internship_share_too_low",
                    "the language internship must cover at least 50 % of the planned insats",
                    "planned_internship_share_percent",
                )
            if planned_internship_start < starts_on:
                raise Invalid(
                    "invalid_date",
                    "the planned internship cannot start before the insats",
                    "planned_internship_start",
                )
            latest = add_days(starts_on, MAX_DAYS_FROM_START_TO_INTERNSHIP)
            if planned_internship_start > latest:
                raise Invalid(
                    "date_too_far_ahead",
                    "the language internship must be planned to start within "
                    f"{MAX_DAYS_FROM_START_TO_INTERNSHIP} days of the insats (by "
                    f"{latest.isoformat()})",
                    "planned_internship_start",
                )
        elif planned_internship_start is not None or planned_internship_share_percent is not None:
            raise Invalid(
                "not_sai",
                "a language internship is planned only for Språk- och arbetsintroduktion",
                "planned_internship_start",
            )
        due = self.facts.plan_due_on
        assert due is not None
        self.trigger_event(
            self.PlanRegistered,
            established_on=established_on,
            due_on=due,
            late=established_on > due,
            planned_internship_start=planned_internship_start,
            planned_internship_share_percent=planned_internship_share_percent,
            **ctx.meta(established_on),
        )

    def start_internship(
        self, ctx: CommandContext, *, employer: str, started_on: date, share_percent: int
    ) -> None:
        starts_on = self._require_active()
        internships = self.facts.internships
        if self.facts.insats != "sai":
            raise Invalid(
                "not_sai", "language internships belong to Språk- och arbetsintroduktion", None
            )
        if internships and internships[-1].ended_on is None:
            raise Conflict("internship_running", "a language internship is already running")
        if not employer.strip():
            raise Invalid("employer_required", "employer is required", "employer")
        if not 1 <= share_percent <= 100:
            raise Invalid("invalid_share", "share_percent must be 1–100", "share_percent")
        if started_on < starts_on:
            raise Invalid(
                "invalid_date", "the internship cannot start before the insats", "started_on"
            )
        if internships and started_on <= (internships[-1].ended_on or date.min):
            raise Invalid(
                "invalid_date", "must start after the previous internship ended", "started_on"
            )
        self._not_future(started_on, ctx, "started_on")
        self.trigger_event(
            self.LanguageInternshipStarted,
            employer=employer.strip(),
            started_on=started_on,
            share_percent=share_percent,
            **ctx.meta(started_on),
        )

    def end_internship(self, ctx: CommandContext, *, ended_on: date) -> None:
        self._require_started()
        internships = self.facts.internships
        if not internships or internships[-1].ended_on is not None:
            raise Conflict("no_internship_running", "no language internship is running")
        if ended_on < internships[-1].started_on:
            raise Invalid("invalid_date", "ended_on is before the internship started", "ended_on")
        self._not_future(ended_on, ctx, "ended_on")
        self.trigger_event(self.LanguageInternshipEnded, ended_on=ended_on, **ctx.meta(ended_on))

    def grant_voucher(
        self,
        ctx: CommandContext,
        *,
        amount: Any,
        purpose: str,
        granted_on: date,
        rates: RateTable | None,
    ) -> str:
        """A tilläggscheck within the rate table's bounds in force on `granted_on`."""
        starts_on = self._require_active()
        if granted_on < starts_on:
            raise Invalid(
                "journey_not_active", "the journey was not active on granted_on", "granted_on"
            )
        self._not_future(granted_on, ctx, "granted_on")
        value = parse_money(amount, "amount")
        if rates is None:
            raise Invalid(
                "rate_missing", f"no rate table is in force on {granted_on}", "granted_on"
            )
        if not rates.voucher_min <= value <= rates.voucher_max:
            raise Invalid(
                "amount_out_of_range",
                f"a tilläggscheck is {rates.voucher_min:.2f}–{rates.voucher_max:.2f} SEK",
                "amount",
            )
        if not purpose.strip():
            raise Invalid("purpose_required", "purpose is required", "purpose")
        voucher_id = str(uuid4())
        self.trigger_event(
            self.VoucherGranted,
            voucher_id=voucher_id,
            amount=value,
            purpose=purpose.strip(),
            granted_on=granted_on,
            **ctx.meta(granted_on),
        )
        return voucher_id

    def exit(self, ctx: CommandContext, reported: Exit) -> None:
        """The journey ends (`reported.next_journey_id` only for a transfer to another insats,
        which the new decision records)."""
        self._require_active()
        exit_ = validate_exit(self, reported, ctx)
        self.trigger_event(self.JourneyExited, **exit_._asdict(), **ctx.meta(exit_.exited_on))

    def record_follow_up(
        self,
        ctx: CommandContext,
        *,
        followed_up_on: date,
        outcome: str,
        evidence: Sequence[Evidence],
    ) -> None:
        self._require_not_withdrawn()
        exit_ = self.facts.exit
        if exit_ is None or not exit_.self_sufficient:
            raise Conflict(
                "not_self_sufficient_exit",
                "follow-ups are recorded for exits to work, studies or own business",
            )
        if outcome not in ("sustained", "deviation"):
            raise Invalid("invalid_outcome", "outcome is sustained or deviation", "outcome")
        if followed_up_on < exit_.exited_on:
            raise Invalid(
                "invalid_date", "followed_up_on must not be before the exit", "followed_up_on"
            )
        self._not_future(followed_up_on, ctx, "followed_up_on")
        due = self.facts.follow_up_due_on
        assert due is not None
        claim = (
            outcome == "sustained"
            and bool(evidence)
            and followed_up_on >= due
            and exit_.qualifies_for_bonus
        )
        if outcome == "sustained" and followed_up_on >= due and not evidence:
            raise Invalid(
                "evidence_required",
                "a sustained follow-up after six months needs evidence "
                "(employment or study certificate)",
                "evidence",
            )
        if claim:
            status = self.facts.bonus_status
            if status == "claimed":
                raise Conflict("claim_pending", "a bonus claim is already waiting for review")
            if status == "approved":
                raise Conflict("bonus_approved", "the bonus claim has already been approved")
        self.trigger_event(
            self.FollowUpRecorded,
            followed_up_on=followed_up_on,
            outcome=outcome,
            evidence=[{"type": e.type, "id": e.id, "date": e.date.isoformat()} for e in evidence],
            due_on=due,
            bonus_claim=claim,
            **ctx.meta(followed_up_on),
        )

    def review_bonus_claim(
        self, ctx: CommandContext, *, reviewed_on: date, decision: str, reason: str | None
    ) -> None:
        self._require_not_withdrawn()
        if self.facts.bonus_status != "claimed":
            raise Conflict("no_claim_pending", "there is no bonus claim waiting for review")
        if decision not in ("approved", "returned"):
            raise Invalid("invalid_decision", "decision is approved or returned", "decision")
        if decision == "returned" and not (reason or "").strip():
            raise Invalid("reason_required", "say why the claim is returned", "reason")
        claim = self.facts.claims[-1]
        if reviewed_on < claim.claimed_on:
            raise Invalid("invalid_date", "reviewed_on is before the claim was made", "reviewed_on")
        self._not_future(reviewed_on, ctx, "reviewed_on")
        self.trigger_event(
            self.BonusClaimReviewed,
            reviewed_on=reviewed_on,
            decision=decision,
            reason=(reason or "").strip() or None,
            **ctx.meta(reviewed_on),
        )

    def withdraw(self, ctx: CommandContext, *, withdrawn_on: date, reason: str) -> None:
        self._require_not_withdrawn()
        if self.facts.exit is not None:
            raise Conflict("journey_exited", "the journey has ended")
        if self.starts_on is not None and self.starts_on <= withdrawn_on:
            raise Conflict(
                "journey_started",
                "a decision can be withdrawn only before the insats started",
                "withdrawn_on",
            )
        if withdrawn_on < self._decided_on():
            raise Invalid("invalid_date", "withdrawn_on is before decided_on", "withdrawn_on")
        self._not_future(withdrawn_on, ctx, "withdrawn_on")
        if not reason.strip():
            raise Invalid("reason_required", "a reason is required", "reason")
        self.trigger_event(
            self.DecisionWithdrawn,
            withdrawn_on=withdrawn_on,
            reason=reason.strip(),
            **ctx.meta(withdrawn_on),
        )

    # --- corrections (SPEC §4.4: payments and statistics follow the corrected facts) ----------

    def correct(self, ctx: CommandContext, *, what: str, value: Correction, reason: str) -> None:
        """A correction of the fact named by `what` (one of CORRECTABLE), with its value."""
        if what == "exit" and isinstance(value, ExitCorrection):
            self.correct_exit(ctx, value=value, reason=reason)
        elif what == "provider_starts_on" and isinstance(value, date | ProviderStart):
            self.correct_provider_starts_on(ctx, value=value, reason=reason)
        elif what == "starts_on" and isinstance(value, date):
            self.correct_starts_on(ctx, value=value, reason=reason)
        elif what == "exited_on" and isinstance(value, date):
            self.correct_exited_on(ctx, value=value, reason=reason)
        elif what not in CORRECTABLE:
            raise Invalid("invalid_field", f"field is one of {', '.join(CORRECTABLE)}", "field")
        else:
            raise Invalid(
                "invalid_value",
                "value must be an exit object for field exit, a date (or {provider_id, "
                "starts_on}) for provider_starts_on, else a date",
                "value",
            )

    def correct_starts_on(self, ctx: CommandContext, *, value: date, reason: str) -> None:
        """The insats started on another day than recorded: between the decision and the next
        fact (the next provider's start, or the exit)."""
        self._require_correctable(reason)
        f = self.facts
        new, old = value, f.assignments[0].starts_on
        upper = (
            f.assignments[1].starts_on - timedelta(days=1)
            if len(f.assignments) > 1
            else f.exited_on
        )
        if new < self._decided_on() or (upper is not None and new > upper):
            raise Invalid(
                "invalid_date",
                "the corrected start must lie between the decision and the next fact",
                "value",
            )
        self._not_long_after_decision(new, "value")
        self._not_far_ahead(new, ctx, "value")
        self._corrected(ctx, "starts_on", old.isoformat(), new.isoformat(), min(old, new), reason)

    def correct_exited_on(self, ctx: CommandContext, *, value: date, reason: str) -> None:
        """The journey ended on another day than recorded (not before the last assignment)."""
        self._require_correctable(reason)
        old = self._require_exit().exited_on
        new = value
        if new < self.facts.assignments[-1].starts_on:
            raise Invalid(
                "invalid_date", "exited_on must not be before the last assignment started", "value"
            )
        self._not_future(new, ctx, "value")
        self._corrected(ctx, "exited_on", old.isoformat(), new.isoformat(), min(old, new), reason)

    def correct_exit(self, ctx: CommandContext, *, value: ExitCorrection, reason: str) -> None:
        """The exit's reason or details (and, with them, its date) were recorded wrongly. A
        transfer to another insats is not corrected this way: it is a decision of its own."""
        self._require_correctable(reason)
        old = self._require_exit()
        if old.reason == "other_insats" or value.reason == "other_insats":
            raise Invalid(
                "invalid_value",
                "a transfer to another insats cannot be corrected; register a new decision",
                "value",
            )
        reported = Exit(
            value.exited_on or old.exited_on,
            value.reason,
            value.employment_form,
            value.contract_months,
            value.subsidy,
            value.csn_eligible,
        )
        new = validate_exit(self, reported, ctx)
        self._corrected(
            ctx, "exit", old.to_json(), new.to_json(), min(old.exited_on, new.exited_on), reason
        )

    def correct_provider_starts_on(
        self, ctx: CommandContext, *, value: date | ProviderStart, reason: str
    ) -> None:
        """A provider change took effect on another day: after the previous assignment's
        start and before the next fact. `value` is the date (of the latest change) or the
        provider whose change it was with the date."""
        self._require_correctable(reason)
        f = self.facts
        if len(f.assignments) < 2:
            raise Conflict("no_provider_change", "there is no provider change to correct", "field")
        start = value if isinstance(value, ProviderStart) else ProviderStart(value)
        new, provider_id = start.starts_on, start.provider_id
        if provider_id is None:
            provider_id = f.assignments[-1].provider_id
        idx = _change_index(f, provider_id)
        old = f.assignments[idx].starts_on
        lower = f.assignments[idx - 1].starts_on
        upper = (
            f.assignments[idx + 1].starts_on - timedelta(days=1)
            if idx + 1 < len(f.assignments)
            else f.exited_on
        )
        if new <= lower or (upper is not None and new > upper):
            raise Invalid(
                "invalid_date",
                "the corrected change date must lie after the previous assignment's start "
                "and before the next fact",
                "value",
            )
        self._not_far_ahead(new, ctx, "value")
        self._corrected(
            ctx,
            "provider_starts_on",
            old.isoformat(),
            new.isoformat(),
            min(old, new),
            reason,
            provider_id=provider_id,
        )

    def _require_correctable(self, reason: str) -> None:
        self._require_started()
        if not reason.strip():
            raise Invalid("reason_required", "a correction needs a reason", "reason")

    def _corrected(
        self,
        ctx: CommandContext,
        what: str,
        old: Any,
        new: Any,
        effective: date,
        reason: str,
        *,
        provider_id: str | None = None,
    ) -> None:
        if old == new:
            raise Invalid("nothing_to_correct", "the value is already recorded", "value")
        self.trigger_event(
            self.Corrected,
            what=what,
            old=old,
            new=new,
            reason=reason.strip(),
            provider_id=provider_id,
            **ctx.meta(effective),
        )


def _change_index(f: JourneyFacts, provider_id: str) -> int:
    """The latest provider change (never the first choice) to `provider_id`."""
    for i in range(len(f.assignments) - 1, 0, -1):
        if f.assignments[i].provider_id == provider_id:
            return i
    raise Invalid("unknown_assignment", "no provider change for that provider", "value")


def validate_exit(journey: Journey, reported: Exit, ctx: CommandContext) -> Exit:
    """The exit's facts, complete and consistent with its reason (SPEC §3 JourneyExited)."""
    assert journey.starts_on is not None
    exited_on, reason, form, months, subsidy, csn, next_journey_id = reported
    if exited_on < journey.facts.assignments[-1].starts_on:
        raise Invalid(
            "invalid_date",
            "exited_on must not be before the insats (assignment) started",
            "exited_on",
        )
    if exited_on > ctx.today:
        raise Invalid("date_in_future", "exited_on must not be in the future", "exited_on")
    if reason not in EXIT_REASONS:
        raise Invalid(
            "invalid_reason", f"reason must be one of {', '.join(EXIT_REASONS)}", "reason"
        )
    if reason == "work":
        if form not in EMPLOYMENT_FORMS:
            raise Invalid(
                "employment_form_required",
                f"an exit to work needs employment_form ({', '.join(EMPLOYMENT_FORMS)})",
                "employment_form",
            )
        if form == "fixed_term":
            if not isinstance(months, int) or months < 1:
                raise Invalid(
                    "contract_months_required",
                    "a fixed-term contract needs contract_months ≥ 1",
                    "contract_months",
                )
            if months > MAX_CONTRACT_MONTHS:
                raise Invalid(
                    "invalid_contract_months",
                    f"contract_months is at most {MAX_CONTRACT_MONTHS} (ten years)",
                    "contract_months",
                )
        elif months is not None:
            raise Invalid(
                "unexpected_field", "contract_months is only for fixed_term", "contract_months"
            )
        subsidy = subsidy or "none"
        if subsidy not in SUBSIDIES:
            raise Invalid(
                "invalid_subsidy", f"subsidy must be one of {', '.join(SUBSIDIES)}", "subsidy"
            )
    else:
        for name, v in (
            ("employment_form", form),
            ("contract_months", months),
            ("subsidy", subsidy),
        ):
            if v is not None:
                raise Invalid("unexpected_field", f"{name} is only for exits to work", name)
    if reason == "studies":
        if not isinstance(csn, bool):
            raise Invalid(
                "csn_eligible_required",
                "an exit to studies must say whether the studies are CSN-eligible",
                "csn_eligible",
            )
    elif csn is not None:
        raise Invalid(
            "unexpected_field", "csn_eligible is only for exits to studies", "csn_eligible"
        )
    if reason == "other_insats" and next_journey_id is None:
        raise Invalid(
            "transfer_required",
            "an exit to another insats is recorded by registering the new decision with "
            "transfer_from",
            "reason",
        )
    return Exit(exited_on, str(reason), form, months, subsidy, csn, next_journey_id)
