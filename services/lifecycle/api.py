"""HTTP API v1 of the lifecycle service (API.md): providers, rates, decisions, journey commands,
journey reads and the auditors' global event feed."""

from __future__ import annotations

import hashlib
import json
import uuid
from abc import abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
    model_validator,
)

from contracts import bounds
from contracts.bounds import AmountText, Day, Position, Timestamp
from contracts.events import (
    INSATS_TYPES,
    EmploymentForm,
    ExitReason,
    FollowUpOutcome,
    Insats,
    ReviewDecision,
    Subsidy,
    TargetGroup,
)
from contracts.journey import Evidence, Exit, Plan, ProviderFacts
from contracts.permissions import journey_command as journey_command_operation
from services.lifecycle.application import CommandResult, Idempotency, LifecycleApp
from services.lifecycle.domain.base import CommandContext, event_id
from services.lifecycle.domain.journey import (
    MAX_CONTRACT_MONTHS,
    Correction,
    ExitCorrection,
    ExternalRef,
    Journey,
    ProviderStart,
    Transfer,
)
from services.lifecycle.domain.personnummer import contains_person_number, parse_person_id
from services.lifecycle.domain.provider import DETAIL_FIELDS
from services.lifecycle.journey_list import (
    JourneyListProjection,
    decode_cursor,
    encode_cursor,
    search,
)
from services.lifecycle.view import journey_view
from services.platform.api import COMMON_REFUSALS, permitted, refusals
from services.platform.auth import Principal
from services.platform.clock import today
from services.platform.db import Database
from services.platform.feed import require_running
from services.platform.identifiers import optional_org_number
from services.platform.refusal import Forbidden, Invalid, NotFound

router = APIRouter(responses=COMMON_REFUSALS)

MAX_HEADER_TEXT = 100  # X-Source-System, X-Correlation-Id


def _no_person_number(text: str) -> str:
    # The system clock, not the service's: it only settles the century of a 10-digit number.
    if contains_person_number(text, today()):
        raise ValueError(
            "must not contain a personnummer or samordningsnummer: free text is published to "
            "the event feed; identify the person only by the decision's person_id"
        )
    return text


# Free text that reaches events and logs: bounded, and never a personnummer.
_NoPersonNumber = AfterValidator(_no_person_number)
Label = Annotated[str, Field(min_length=1, max_length=100), _NoPersonNumber]
Name = Annotated[str, Field(min_length=1, max_length=bounds.MAX_NAME), _NoPersonNumber]
Reason = Annotated[str, Field(min_length=1, max_length=bounds.MAX_REASON), _NoPersonNumber]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExternalRefIn(Body):
    system: Label
    decision_id: Name


class TransferIn(Body):
    journey_id: str = Field(max_length=36)
    exited_on: Day

    def transfer(self) -> Transfer:
        return Transfer(self.journey_id, self.exited_on)


class DecisionIn(Body):
    external_ref: ExternalRefIn
    person_id: str = Field(min_length=10, max_length=13)
    insats: Insats
    decided_on: Day
    decided_by: Name
    target_group: TargetGroup
    transfer_from: TransferIn | None = None
    counsellor: Name | None = None  # who follows the customer: their worklist filters by it

    def send(
        self, app: LifecycleApp, ctx: CommandContext, idem: Idempotency | None
    ) -> CommandResult:
        """Runs the use case (`LifecycleApp.register_decision`) with this body."""
        return app.register_decision(
            ctx,
            external_ref=ExternalRef(self.external_ref.system, self.external_ref.decision_id),
            person_id=self.person_id,
            insats=self.insats,
            decided_on=self.decided_on,
            decided_by=self.decided_by,
            target_group=self.target_group,
            transfer_from=self.transfer_from.transfer() if self.transfer_from else None,
            counsellor=self.counsellor,
            idem=idem,
        )


class ProviderIn(Body):
    provider_id: str = Field(max_length=20)
    name: Name
    insats_types: list[Insats] = Field(min_length=1, max_length=len(INSATS_TYPES))
    authorised_from: Day
    # Shape only; the account rules (check digits, Swedish IBAN) are the provider domain's.
    bankgiro: str | None = Field(
        default=None, max_length=20, description="NNN-NNNN or NNNN-NNNN, the dash optional"
    )
    iban: str | None = Field(
        default=None, max_length=50, description="Swedish IBAN (SE…), spaces allowed"
    )


class DeauthorisationIn(Body):
    effective_on: Day
    reason: Reason


class ProviderDetailsIn(Body):
    """Fields left out keep the value in force on effective_from; null removes an account."""

    effective_from: Day
    name: Name | None = None
    bankgiro: str | None = Field(
        default=None, max_length=20, description="NNN-NNNN or NNNN-NNNN; null removes it"
    )
    iban: str | None = Field(
        default=None, max_length=50, description="Swedish IBAN (SE…); null removes it"
    )
    reason: Reason

    @model_serializer(mode="wrap")
    def _as_sent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out and null mean different things, so the request's fingerprint
        # (Idempotency-Key) must tell them apart: dump only the fields that were sent.
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}

    def changes(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in DETAIL_FIELDS if f in self.model_fields_set}


class PerInsatsIn(Body):
    grund: AmountText | None = None
    forstarkt: AmountText | None = None
    sai: AmountText | None = None


class RatesIn(Body):
    effective_from: Day
    monthly: PerInsatsIn
    bonus: PerInsatsIn
    voucher_min: AmountText
    voucher_max: AmountText
    min_days_before_payment: int = Field(ge=0, le=366)


@dataclass(frozen=True, slots=True)
class JourneyCall:
    """What every journey command is sent with besides its body: who, which journey, the
    version the caller saw (If-Match) and the Idempotency-Key."""

    ctx: CommandContext
    journey_id: str
    expected_version: int | None = None
    idem: Idempotency | None = None

    def options(self) -> dict[str, Any]:
        return {"expected_version": self.expected_version, "idem": self.idem}


class JourneyCommandIn(Body):
    """The body of `POST /v1/journeys/{journey_id}/<command>`: `send` runs the command's use
    case (`LifecycleApp`) with it — the one way in, for the API and the web pages alike."""

    @abstractmethod  # pydantic's model metaclass is an ABCMeta: every command body has one
    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult: ...


class ProviderChoiceIn(JourneyCommandIn):
    provider_id: str = Field(max_length=20)
    starts_on: Day

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.choose_provider(
            call.ctx,
            call.journey_id,
            provider_id=self.provider_id,
            starts_on=self.starts_on,
            **call.options(),
        )


class PlanIn(JourneyCommandIn):
    established_on: Day
    planned_internship_start: Day | None = None
    planned_internship_share_percent: int | None = Field(default=None, ge=0, le=100)

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        plan = Plan(
            self.established_on,
            self.planned_internship_start,
            self.planned_internship_share_percent,
        )
        return app.register_plan(call.ctx, call.journey_id, plan, **call.options())


class InternshipStartIn(JourneyCommandIn):
    employer: Name
    started_on: Day
    share_percent: int = Field(ge=0, le=100)

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.start_internship(
            call.ctx,
            call.journey_id,
            employer=self.employer,
            started_on=self.started_on,
            share_percent=self.share_percent,
            **call.options(),
        )


class InternshipEndIn(JourneyCommandIn):
    ended_on: Day

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.end_internship(
            call.ctx, call.journey_id, ended_on=self.ended_on, **call.options()
        )


class VoucherIn(JourneyCommandIn):
    amount: AmountText
    purpose: Name
    granted_on: Day

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.grant_voucher(
            call.ctx,
            call.journey_id,
            amount=self.amount,
            purpose=self.purpose,
            granted_on=self.granted_on,
            **call.options(),
        )


class ExitIn(JourneyCommandIn):
    exited_on: Day
    reason: ExitReason
    employment_form: EmploymentForm | None = None
    contract_months: int | None = Field(default=None, ge=0, le=MAX_CONTRACT_MONTHS)
    subsidy: Subsidy | None = None
    csn_eligible: bool | None = None

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        reported = Exit(
            self.exited_on,
            self.reason,
            self.employment_form,
            self.contract_months,
            self.subsidy,
            self.csn_eligible,
        )
        return app.exit_journey(call.ctx, call.journey_id, reported, **call.options())


class EvidenceIn(Body):
    type: Label
    id: Name
    date: Day


class FollowUpIn(JourneyCommandIn):
    followed_up_on: Day
    outcome: FollowUpOutcome
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=bounds.MAX_EVIDENCE)

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.record_follow_up(
            call.ctx,
            call.journey_id,
            followed_up_on=self.followed_up_on,
            outcome=self.outcome,
            evidence=[Evidence(e.type, e.id, e.date) for e in self.evidence],
            **call.options(),
        )


class BonusReviewIn(JourneyCommandIn):
    reviewed_on: Day
    decision: ReviewDecision
    reason: Reason | None = None

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.review_bonus_claim(
            call.ctx,
            call.journey_id,
            reviewed_on=self.reviewed_on,
            decision=self.decision,
            reason=self.reason,
            **call.options(),
        )


class WithdrawalIn(JourneyCommandIn):
    withdrawn_on: Day
    reason: Reason

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.withdraw_decision(
            call.ctx,
            call.journey_id,
            withdrawn_on=self.withdrawn_on,
            reason=self.reason,
            **call.options(),
        )


class ExitCorrectionIn(Body):
    """The corrected exit (`field: exit`); exited_on stays unless corrected with it."""

    exited_on: Day | None = None
    reason: ExitReason
    employment_form: EmploymentForm | None = None
    contract_months: int | None = Field(default=None, ge=0, le=MAX_CONTRACT_MONTHS)
    subsidy: Subsidy | None = None
    csn_eligible: bool | None = None


class ProviderStartCorrectionIn(Body):
    """`field: provider_starts_on` for one provider's assignment (the latest change if left out)."""

    provider_id: str = Field(max_length=20)
    starts_on: Day


class CorrectionIn(JourneyCommandIn):
    field: Literal["starts_on", "exited_on", "exit", "provider_starts_on"]
    value: Day | ExitCorrectionIn | ProviderStartCorrectionIn
    reason: Reason

    @model_validator(mode="after")
    def _value_fits_field(self) -> CorrectionIn:
        wanted: Any = {
            "exit": ExitCorrectionIn,
            "provider_starts_on": (date, ProviderStartCorrectionIn),
        }.get(self.field, date)
        if not isinstance(self.value, wanted):
            raise ValueError(
                "value must be an exit object for field exit, a date YYYY-MM-DD (or "
                "{provider_id, starts_on}) for provider_starts_on, else a date YYYY-MM-DD"
            )
        return self

    def correction(self) -> Correction:
        value = self.value
        if isinstance(value, ExitCorrectionIn):
            return ExitCorrection(
                value.reason,
                value.exited_on,
                value.employment_form,
                value.contract_months,
                value.subsidy,
                value.csn_eligible,
            )
        if isinstance(value, ProviderStartCorrectionIn):
            return ProviderStart(value.starts_on, value.provider_id)
        return value

    def send(self, app: LifecycleApp, call: JourneyCall) -> CommandResult:
        return app.correct_journey(
            call.ctx,
            call.journey_id,
            field=self.field,
            value=self.correction(),
            reason=self.reason,
            **call.options(),
        )


# --- plumbing ---------------------------------------------------------------------------------


def lifecycle(request: Request) -> LifecycleApp:
    app: LifecycleApp = request.app.state.lifecycle
    return app


def readmodels(request: Request) -> Database:
    db: Database = request.app.state.readmodel_db
    return db


def command_context(request: Request, principal: Principal) -> CommandContext:
    """Who records the facts, from which system, under which correlation id: the headers
    travel with every event into the public feed, so they are held to the free-text rules."""
    day = lifecycle(request).today()
    values = {}
    for header, default in (
        ("X-Source-System", principal.name),
        ("X-Correlation-Id", str(uuid.uuid4())),
    ):
        value = request.headers.get(header.lower())
        if value is None or not value.strip():
            values[header] = default
            continue
        if len(value) > MAX_HEADER_TEXT:
            raise Invalid(
                "invalid_header", f"{header} is at most {MAX_HEADER_TEXT} characters", header
            )
        if contains_person_number(value, day):
            raise Invalid(
                "personal_data_in_header",
                f"{header} must not contain a personnummer or samordningsnummer: it is "
                "published with every event",
                header,
            )
        values[header] = value.strip()
    return CommandContext(
        principal.actor,
        values["X-Source-System"],
        values["X-Correlation-Id"],
        day,
        provider_of(principal),
    )


def provider_of(principal: Principal) -> str | None:
    """The provider a caller acts for (what it may see and do is scoped to it), or None."""
    return principal.provider_id if principal.role == "provider" else None


def idempotency(request: Request, body: BaseModel | None) -> Idempotency | None:
    key = request.headers.get("idempotency-key")
    if not key:
        return None
    if len(key) > 200:
        raise Invalid("invalid_idempotency_key", "at most 200 characters", "Idempotency-Key")
    content = body.model_dump(mode="json") if body is not None else None
    fingerprint = hashlib.sha256(
        json.dumps(
            [request.method, request.url.path, content], sort_keys=True, separators=(",", ":")
        ).encode()
    ).hexdigest()
    return Idempotency(key, fingerprint)


def if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().strip('"').removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise Invalid(
            "invalid_if_match", "If-Match must be a journey version", "If-Match"
        ) from None


def render_journey(
    app: LifecycleApp,
    journey: Journey,
    principal: Principal,
    as_of: date | None = None,
    *,
    providers: dict[str, ProviderFacts] | None = None,
) -> dict[str, Any]:
    """The journey view; `providers`: its providers' facts when the caller read them already
    (a command reads them with the journey), else they are read here."""
    view = journey_view(
        journey.facts,
        as_of=as_of or app.today(),
        providers=app.provider_facts(journey.facts.providers_ever)
        if providers is None
        else providers,
        person_id=journey.person_id if principal.sees_person_id else None,
    )
    if view is None:
        raise NotFound("journey_not_found", "the journey did not exist on as_of", "as_of")
    if principal.role == "provider":
        # A provider needs neither the person nor a key linking the person's other journeys.
        view.pop("person_ref", None)
    return view


def respond(app: LifecycleApp, result: CommandResult, principal: Principal) -> Response:
    """The response of a command, rebuilt from the resource at the version it produced, so a
    replayed Idempotency-Key gets the same answer."""
    headers: list[tuple[str, str]] = []
    if result.position is not None:
        headers.append(("X-Insats-Position", str(result.position)))
    if result.replayed:
        headers.append(("Idempotent-Replayed", "true"))
    return answer(result.status, _resource(app, result, principal, headers), headers)


def _resource(
    app: LifecycleApp, result: CommandResult, principal: Principal, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    r = result.resource
    if r["kind"] == "journey":
        if isinstance(result.aggregate, Journey):
            journey, providers = result.aggregate, result.providers
        else:
            journey, providers = app.journey(r["journey_id"], version=r.get("version")), None
        view = render_journey(app, journey, principal, providers=providers)
        headers.append(("ETag", f'"{journey.version}"'))
        if "voucher_id" in r:
            voucher = next(v for v in view["vouchers"] if v["voucher_id"] == r["voucher_id"])
            return {**voucher, "journey_id": view["journey_id"], "version": view["version"]}
        return view
    if r["kind"] == "provider":
        return app.provider(r["provider_id"]).view(app.today())
    if r["kind"] == "rates":
        rates = app.rates()
        assert rates is not None
        table = next(t for t in rates.tables if t.version == r["version"])
        return table.view()
    raise AssertionError(f"unknown resource {r}")


# What a command answers: FastAPI's rendering of an endpoint's `dict[str, Any]` (its
# response model), done here so that FastAPI neither validates the dict again nor sends it
# to its thread pool a second time to do so: the same bytes and headers.
_ANSWER = TypeAdapter(dict[str, Any])


def answer(status: int, body: dict[str, Any], headers: list[tuple[str, str]]) -> Response:
    response = Response(_ANSWER.dump_json(body), status, media_type="application/json")
    for name, value in headers:
        response.headers.append(name, value)
    return response


# --- providers and rates ------------------------------------------------------------------------


@router.post(
    "/v1/providers",
    response_model=dict[str, Any],
    status_code=201,
    tags=["providers"],
    responses=refusals(408, 409, 413),
)
def authorise_provider(
    body: ProviderIn,
    request: Request,
    principal: Principal = Depends(permitted),
) -> Response:
    app = lifecycle(request)
    result = app.authorise_provider(
        command_context(request, principal), idempotency(request, body), **body.model_dump()
    )
    return respond(app, result, principal)


@router.post(
    "/v1/providers/{provider_id}/deauthorisation",
    response_model=dict[str, Any],
    tags=["providers"],
    responses=refusals(404, 408, 409, 413),
)
def deauthorise_provider(
    provider_id: str,
    body: DeauthorisationIn,
    request: Request,
    principal: Principal = Depends(permitted),
) -> Response:
    app = lifecycle(request)
    result = app.deauthorise_provider(
        command_context(request, principal),
        provider_id,
        effective_on=body.effective_on,
        reason=body.reason,
        idem=idempotency(request, body),
    )
    return respond(app, result, principal)


@router.post(
    "/v1/providers/{provider_id}/details",
    response_model=dict[str, Any],
    tags=["providers"],
    responses=refusals(404, 408, 409, 413),
)
def change_provider_details(
    provider_id: str,
    body: ProviderDetailsIn,
    request: Request,
    principal: Principal = Depends(permitted),
) -> Response:
    """Name and/or payment account from effective_from (a dated new version; payout runs
    closed before keep the details they were closed with)."""
    app = lifecycle(request)
    result = app.change_provider_details(
        command_context(request, principal),
        provider_id,
        effective_from=body.effective_from,
        reason=body.reason,
        changes=body.changes(),
        idem=idempotency(request, body),
    )
    return respond(app, result, principal)


@router.get("/v1/providers", tags=["providers"])
def list_providers(request: Request, principal: Principal = Depends(permitted)) -> dict[str, Any]:
    app = lifecycle(request)
    day = lifecycle(request).today()
    return {"providers": [app.provider(pid).view(day) for pid in app.provider_ids()]}


@router.get("/v1/providers/{provider_id}", tags=["providers"], responses=refusals(404))
def get_provider(
    provider_id: str, request: Request, principal: Principal = Depends(permitted)
) -> dict[str, Any]:
    return lifecycle(request).provider(provider_id).view(lifecycle(request).today())


@router.post(
    "/v1/rates",
    response_model=dict[str, Any],
    status_code=201,
    tags=["rates"],
    responses=refusals(408, 413),
)
def set_rates(
    body: RatesIn,
    request: Request,
    principal: Principal = Depends(permitted),
) -> Response:
    app = lifecycle(request)
    result = app.set_rates(
        command_context(request, principal),
        idempotency(request, body),
        effective_from=body.effective_from,
        monthly=body.monthly.model_dump(),
        bonus=body.bonus.model_dump(),
        voucher_min=body.voucher_min,
        voucher_max=body.voucher_max,
        min_days_before_payment=body.min_days_before_payment,
    )
    return respond(app, result, principal)


@router.get("/v1/rates", tags=["rates"])
def list_rates(request: Request, principal: Principal = Depends(permitted)) -> dict[str, Any]:
    rates = lifecycle(request).rates()
    tables = sorted(rates.tables, key=lambda t: (t.effective_from, t.version)) if rates else []
    return {"rates": [t.view() for t in tables]}


# --- decisions and journey commands -------------------------------------------------------------


@router.post(
    "/v1/decisions",
    response_model=dict[str, Any],
    status_code=201,
    tags=["journeys"],
    responses=refusals(404, 408, 409, 413),
)
def register_decision(
    body: DecisionIn,
    request: Request,
    principal: Principal = Depends(permitted),
) -> Response:
    app = lifecycle(request)
    result = body.send(app, command_context(request, principal), idempotency(request, body))
    return respond(app, result, principal)


IfMatch = Annotated[str | None, Header(alias="If-Match")]


@dataclass(frozen=True)
class JourneyCommand:
    """One journey command: `POST /v1/journeys/{journey_id}/<path>` (the pages post the same;
    the roles are the permission table's)."""

    name: str
    path: str
    body_model: type[JourneyCommandIn]
    status: int
    summary: str

    @property
    def operation(self) -> str:
        return journey_command_operation(self.path)


# The journey commands by path, for other entry points (insats.ui).
JOURNEY_COMMANDS: dict[str, JourneyCommand] = {
    c.path: c
    for c in (
        JourneyCommand(
            "choose_provider",
            "provider",
            ProviderChoiceIn,
            200,
            "Provider chosen (first call) or changed",
        ),
        JourneyCommand("register_plan", "plan", PlanIn, 200, "Genomförandeplan registered"),
        JourneyCommand(
            "start_internship",
            "internship/start",
            InternshipStartIn,
            200,
            "Language internship started (SAI)",
        ),
        JourneyCommand(
            "end_internship",
            "internship/end",
            InternshipEndIn,
            200,
            "Language internship ended (SAI)",
        ),
        JourneyCommand("grant_voucher", "vouchers", VoucherIn, 201, "Tilläggscheck granted"),
        JourneyCommand("exit_journey", "exit", ExitIn, 200, "Journey exited"),
        JourneyCommand(
            "record_follow_up",
            "follow-up",
            FollowUpIn,
            200,
            "Follow-up recorded (sustained with evidence after 6 months = bonus claim)",
        ),
        JourneyCommand(
            "review_bonus_claim",
            "bonus-review",
            BonusReviewIn,
            200,
            "Bonus claim approved or returned",
        ),
        JourneyCommand(
            "withdraw_decision",
            "withdrawal",
            WithdrawalIn,
            200,
            "Decision withdrawn (before the insats started)",
        ),
        JourneyCommand(
            "correct_journey", "corrections", CorrectionIn, 200, "An earlier fact corrected"
        ),
    )
}


def _register(command: JourneyCommand) -> None:
    """`POST /v1/journeys/{journey_id}/<path>`: the same plumbing (roles, If-Match,
    Idempotency-Key, response) for every journey command; the rules are the use case's."""

    def endpoint(
        journey_id: str,
        body: Any,
        request: Request,
        if_match_header: IfMatch = None,
        principal: Principal = Depends(permitted),
    ) -> Response:
        app = lifecycle(request)
        call = JourneyCall(
            command_context(request, principal),
            journey_id,
            expected_version=if_match(if_match_header),
            idem=idempotency(request, body),
        )
        result = body.send(app, call)
        return respond(app, result, principal)

    endpoint.__name__ = command.name
    endpoint.__annotations__ = {**endpoint.__annotations__, "body": command.body_model}
    router.post(
        f"/v1/journeys/{{journey_id}}/{command.path}",
        response_model=dict[str, Any],
        status_code=command.status,
        tags=["journeys"],
        summary=command.summary,
        responses=refusals(404, 408, 409, 413),
    )(endpoint)


for _command in JOURNEY_COMMANDS.values():
    _register(_command)


# --- reads --------------------------------------------------------------------------------------


@router.get("/v1/journeys/{journey_id}", tags=["journeys"], responses=refusals(404))
def get_journey(
    journey_id: str,
    request: Request,
    response: Response,
    as_of: Day | None = None,
    known_at: Timestamp | None = None,
    principal: Principal = Depends(permitted),
) -> dict[str, Any]:
    app = lifecycle(request)
    journey = app.readable_journey(journey_id, provider_of(principal), known_at=known_at)
    response.headers["ETag"] = f'"{journey.version}"'
    return render_journey(app, journey, principal, as_of)


@router.get("/v1/journeys/{journey_id}/events", tags=["journeys"], responses=refusals(404))
def journey_history(
    journey_id: str,
    request: Request,
    principal: Principal = Depends(permitted),
) -> list[dict[str, Any]]:
    app = lifecycle(request)
    app.readable_journey(journey_id, provider_of(principal))
    return [
        {
            "event_id": event_id(e.originator_id, e.originator_version),
            "type": type(e).__name__,
            "version": e.originator_version,
            "effective_date": e.effective_date.isoformat(),
            "recorded_at": e.timestamp.isoformat().replace("+00:00", "Z"),
            "actor": e.actor,
            "source_system": e.source_system,
            "correlation_id": e.correlation_id,
            "payload": {
                k: v
                for k, v in e.payload(include_person_id=principal.sees_person_id).items()
                if not (principal.role == "provider" and k == "person_ref")
            },
        }
        for e in app.journey_events(journey_id)
    ]


@router.get("/v1/journeys", tags=["journeys"])
def list_journeys(
    request: Request,
    provider_id: Annotated[str | None, Query(max_length=20)] = None,
    status: Literal["decided", "active", "exited", "withdrawn"] | None = None,
    insats: Insats | None = None,
    person_id: Annotated[str | None, Query(max_length=13)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = Depends(permitted),
) -> dict[str, Any]:
    app = lifecycle(request)
    provider_id = optional_org_number(provider_id)  # 556123-4567 as well as 5561234567
    person_ref = None
    if person_id is not None:
        if not principal.sees_person_id:
            raise Forbidden("forbidden", "this role may not search by person_id", "person_id")
        person_ref = app.person_key.ref(
            parse_person_id(person_id, lifecycle(request).today()).number
        )
    try:
        after = decode_cursor(cursor) if cursor else 0
    except ValueError:
        raise Invalid("invalid_cursor", "cursor is not one this API gave out", "cursor") from None
    held_by = principal.provider_id if principal.role == "provider" else None
    with readmodels(request).transaction() as tx:
        require_running(tx, JourneyListProjection.name)
        rows, last = search(
            tx,
            today=lifecycle(request).today(),
            provider_id=provider_id,
            held_by=held_by,
            status=status,
            insats=insats,
            person_ref=person_ref,
            after_position=after,
            limit=limit,
        )
    items = [
        {k: v for k, v in r.items() if k not in ("created_position", "person_ref")}
        | ({"person_ref": r["person_ref"]} if principal.role != "provider" else {})
        for r in rows
    ]
    return {"journeys": items, "next_cursor": encode_cursor(last) if last is not None else None}


@router.get("/v1/events", tags=["audit"])
def event_feed(
    request: Request,
    after: Position = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    principal: Principal = Depends(permitted),
) -> dict[str, Any]:
    events = lifecycle(request).public_events(after, limit)
    return {
        "events": [e.to_dict() for e in events],
        "next": events[-1].position if events else after,
    }
