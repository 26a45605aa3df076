"""HTTP API v1 of the lifecycle service (API.md): providers, rates, decisions, journey commands,
journey reads and the auditors' global event feed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
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
from services.lifecycle.application import CommandResult, Idempotency, LifecycleApp
from services.lifecycle.domain.base import CommandContext, event_id
from services.lifecycle.domain.journey import MAX_CONTRACT_MONTHS, Journey
from services.lifecycle.domain.personnummer import contains_person_number, parse_person_id
from services.lifecycle.domain.provider import DETAIL_FIELDS
from services.lifecycle.journey_list import (
    JourneyListProjection,
    decode_cursor,
    encode_cursor,
    search,
)
from services.lifecycle.view import journey_view
from services.platform.api import COMMON_REFUSALS, ApiError, refusals, require
from services.platform.auth import Principal
from services.platform.clock import today
from services.platform.db import Database
from services.platform.feed import require_running

router = APIRouter(responses=COMMON_REFUSALS)

MAX_HEADER_TEXT = 100  # X-Source-System, X-Correlation-Id

ALL_ROLES = ("admin", "publisher", "counsellor", "provider", "clerk", "auditor")
JOURNEY_READERS = ("admin", "publisher", "counsellor", "auditor", "provider")
FACT_WRITERS = ("publisher", "counsellor")
PROVIDER_FACT_WRITERS = ("publisher", "counsellor", "provider")


def _no_person_number(text: str) -> str:
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


class DecisionIn(Body):
    external_ref: ExternalRefIn
    person_id: str = Field(min_length=10, max_length=13)
    insats: Insats
    decided_on: Day
    decided_by: Name
    target_group: TargetGroup
    transfer_from: TransferIn | None = None


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


class ProviderChoiceIn(Body):
    provider_id: str = Field(max_length=20)
    starts_on: Day


class PlanIn(Body):
    established_on: Day
    planned_internship_start: Day | None = None
    planned_internship_share_percent: int | None = Field(default=None, ge=0, le=100)


class InternshipStartIn(Body):
    employer: Name
    started_on: Day
    share_percent: int = Field(ge=0, le=100)


class InternshipEndIn(Body):
    ended_on: Day


class VoucherIn(Body):
    amount: AmountText
    purpose: Name
    granted_on: Day


class ExitIn(Body):
    exited_on: Day
    reason: ExitReason
    employment_form: EmploymentForm | None = None
    contract_months: int | None = Field(default=None, ge=0, le=MAX_CONTRACT_MONTHS)
    subsidy: Subsidy | None = None
    csn_eligible: bool | None = None


class EvidenceIn(Body):
    type: Label
    id: Name
    date: Day


class FollowUpIn(Body):
    followed_up_on: Day
    outcome: FollowUpOutcome
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=bounds.MAX_EVIDENCE)


class BonusReviewIn(Body):
    reviewed_on: Day
    decision: ReviewDecision
    reason: Reason | None = None


class WithdrawalIn(Body):
    withdrawn_on: Day
    reason: Reason


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


class CorrectionIn(Body):
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

    def domain_value(self) -> Any:
        if isinstance(self.value, BaseModel):
            return self.value.model_dump(exclude_none=self.field == "exit")
        return self.value


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
    day = today()
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
            raise ApiError(
                422, "invalid_header", f"{header} is at most {MAX_HEADER_TEXT} characters", header
            )
        if contains_person_number(value, day):
            raise ApiError(
                422,
                "personal_data_in_header",
                f"{header} must not contain a personnummer or samordningsnummer: it is "
                "published with every event",
                header,
            )
        values[header] = value.strip()
    return CommandContext(
        principal.actor, values["X-Source-System"], values["X-Correlation-Id"], day
    )


def idempotency(request: Request, body: BaseModel | None) -> Idempotency | None:
    key = request.headers.get("idempotency-key")
    if not key:
        return None
    if len(key) > 200:
        raise ApiError(422, "invalid_idempotency_key", "at most 200 characters", "Idempotency-Key")
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
        raise ApiError(
            422, "invalid_if_match", "If-Match must be a journey version", "If-Match"
        ) from None


def render_journey(
    app: LifecycleApp, journey: Journey, principal: Principal, as_of: date | None = None
) -> dict[str, Any]:
    view = journey_view(
        journey.facts,
        as_of=as_of or today(),
        providers=app.provider_facts(journey.facts.providers_ever),
        person_id=journey.person_id if principal.sees_person_id else None,
    )
    if view is None:
        raise ApiError(404, "journey_not_found", "the journey did not exist on as_of", "as_of")
    if principal.role == "provider":
        # A provider needs neither the person nor a key linking the person's other journeys.
        view.pop("person_ref", None)
    return view


def check_provider_scope(principal: Principal, journey: Journey, *, acting: bool) -> None:
    """A provider sees journeys it holds or held (404 otherwise, not to reveal them) and acts
    only on those it holds now, or — for follow-ups — held at the exit."""
    if principal.role != "provider":
        return
    if principal.provider_id not in journey.facts.providers_ever:
        raise ApiError(404, "journey_not_found", "unknown journey", "journey_id")
    if not acting:
        return
    current = journey.current_provider_id
    if current != principal.provider_id:
        raise ApiError(
            403, "not_your_customer", "only the provider holding the journey may do this", None
        )


def respond(
    app: LifecycleApp,
    result: CommandResult,
    principal: Principal,
    response: Response,
) -> dict[str, Any]:
    """The response of a command, rebuilt from the resource at the version it produced, so a
    replayed Idempotency-Key gets the same answer."""
    response.status_code = result.status
    if result.position is not None:
        response.headers["X-Insats-Position"] = str(result.position)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    r = result.resource
    if r["kind"] == "journey":
        journey = (
            result.aggregate
            if isinstance(result.aggregate, Journey)
            else app.journey(r["journey_id"], version=r.get("version"))
        )
        view = render_journey(app, journey, principal)
        response.headers["ETag"] = f'"{journey.version}"'
        if "voucher_id" in r:
            voucher = next(v for v in view["vouchers"] if v["voucher_id"] == r["voucher_id"])
            return {**voucher, "journey_id": view["journey_id"], "version": view["version"]}
        return view
    if r["kind"] == "provider":
        return app.provider(r["provider_id"]).view(today())
    if r["kind"] == "rates":
        rates = app.rates()
        assert rates is not None
        table = next(t for t in rates.tables if t.version == r["version"])
        return table.view()
    raise AssertionError(f"unknown resource {r}")


# --- providers and rates ------------------------------------------------------------------------


@router.post(
    "/v1/providers", status_code=201, tags=["providers"], responses=refusals(408, 409, 413)
)
def authorise_provider(
    body: ProviderIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(require("admin")),
) -> dict[str, Any]:
    app = lifecycle(request)
    result = app.authorise_provider(
        command_context(request, principal), idempotency(request, body), **body.model_dump()
    )
    return respond(app, result, principal, response)


@router.post(
    "/v1/providers/{provider_id}/deauthorisation",
    tags=["providers"],
    responses=refusals(404, 408, 409, 413),
)
def deauthorise_provider(
    provider_id: str,
    body: DeauthorisationIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(require("admin")),
) -> dict[str, Any]:
    app = lifecycle(request)
    result = app.deauthorise_provider(
        command_context(request, principal),
        provider_id,
        effective_on=body.effective_on,
        reason=body.reason,
        idem=idempotency(request, body),
    )
    return respond(app, result, principal, response)


@router.post(
    "/v1/providers/{provider_id}/details",
    tags=["providers"],
    responses=refusals(404, 408, 409, 413),
)
def change_provider_details(
    provider_id: str,
    body: ProviderDetailsIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(require("admin")),
) -> dict[str, Any]:
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
    return respond(app, result, principal, response)


@router.get("/v1/providers", tags=["providers"])
def list_providers(
    request: Request, principal: Principal = Depends(require(*ALL_ROLES))
) -> dict[str, Any]:
    app = lifecycle(request)
    day = today()
    return {"providers": [app.provider(pid).view(day) for pid in app.provider_ids()]}


@router.get("/v1/providers/{provider_id}", tags=["providers"], responses=refusals(404))
def get_provider(
    provider_id: str, request: Request, principal: Principal = Depends(require(*ALL_ROLES))
) -> dict[str, Any]:
    return lifecycle(request).provider(provider_id).view(today())


@router.post("/v1/rates", status_code=201, tags=["rates"], responses=refusals(408, 413))
def set_rates(
    body: RatesIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(require("admin")),
) -> dict[str, Any]:
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
    return respond(app, result, principal, response)


@router.get("/v1/rates", tags=["rates"])
def list_rates(
    request: Request, principal: Principal = Depends(require(*ALL_ROLES))
) -> dict[str, Any]:
    rates = lifecycle(request).rates()
    tables = sorted(rates.tables, key=lambda t: (t.effective_from, t.version)) if rates else []
    return {"rates": [t.view() for t in tables]}


# --- decisions and journey commands -------------------------------------------------------------


@router.post(
    "/v1/decisions", status_code=201, tags=["journeys"], responses=refusals(404, 408, 409, 413)
)
def register_decision(
    body: DecisionIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(require(*FACT_WRITERS)),
) -> dict[str, Any]:
    app = lifecycle(request)
    result = app.register_decision(
        command_context(request, principal),
        external_ref=body.external_ref.model_dump(),
        person_id=body.person_id,
        insats=body.insats,
        decided_on=body.decided_on,
        decided_by=body.decided_by,
        target_group=body.target_group,
        transfer_from=body.transfer_from.model_dump() if body.transfer_from else None,
        idem=idempotency(request, body),
    )
    return respond(app, result, principal, response)


def _journey_command(
    request: Request,
    response: Response,
    principal: Principal,
    journey_id: str,
    body: BaseModel,
    act: Any,
    *,
    expected: str | None,
    provider_acting: bool = False,
    status: int = 200,
) -> dict[str, Any]:
    app = lifecycle(request)
    ctx = command_context(request, principal)

    result = app.journey_command(
        ctx,
        journey_id,
        lambda journey: act(journey, ctx, app),
        scope=lambda journey: check_provider_scope(principal, journey, acting=provider_acting),
        expected_version=if_match(expected),
        idem=idempotency(request, body),
        status=status,
    )
    return respond(app, result, principal, response)


IfMatch = Annotated[str | None, Header(alias="If-Match")]


Act = Callable[[Journey, CommandContext, LifecycleApp, Any], dict[str, Any] | None]


@dataclass(frozen=True)
class JourneyCommand:
    """One journey command as `journey_endpoint` registers it (the web pages post the same)."""

    name: str
    path: str
    body_model: type[BaseModel]
    roles: tuple[str, ...]
    act: Act
    provider_acting: bool
    status: int


# `POST /v1/journeys/{journey_id}/<path>` by path, for other entry points (insats.ui).
JOURNEY_COMMANDS: dict[str, JourneyCommand] = {}


def journey_endpoint(
    name: str,
    path: str,
    body_model: type[BaseModel],
    roles: tuple[str, ...],
    act: Act,
    *,
    provider_acting: bool = False,
    status: int = 200,
    summary: str,
) -> None:
    """Registers `POST /v1/journeys/{journey_id}/<path>`: the same plumbing (roles, provider
    scope, If-Match, Idempotency-Key, response) for every journey command."""

    def endpoint(
        journey_id: str,
        body: Any,
        request: Request,
        response: Response,
        if_match_header: IfMatch = None,
        principal: Principal = Depends(require(*roles)),
    ) -> dict[str, Any]:
        return _journey_command(
            request,
            response,
            principal,
            journey_id,
            body,
            lambda j, ctx, app: act(j, ctx, app, body),
            expected=if_match_header,
            provider_acting=provider_acting,
            status=status,
        )

    JOURNEY_COMMANDS[path] = JourneyCommand(
        name, path, body_model, roles, act, provider_acting, status
    )
    endpoint.__name__ = name
    endpoint.__annotations__ = {**endpoint.__annotations__, "body": body_model}
    router.post(
        f"/v1/journeys/{{journey_id}}/{path}",
        status_code=status,
        tags=["journeys"],
        summary=summary,
        responses=refusals(404, 408, 409, 413),
    )(endpoint)


def _grant_voucher(j: Journey, ctx: CommandContext, app: LifecycleApp, b: Any) -> dict[str, Any]:
    rates = app.rate_table_on(b.granted_on)
    voucher_id = j.grant_voucher(
        ctx, amount=b.amount, purpose=b.purpose, granted_on=b.granted_on, rates=rates
    )
    return {"voucher_id": voucher_id}


journey_endpoint(
    "choose_provider",
    "provider",
    ProviderChoiceIn,
    FACT_WRITERS,
    lambda j, ctx, app, b: j.choose_provider(
        ctx, provider=app.provider(b.provider_id), starts_on=b.starts_on
    ),
    summary="Provider chosen (first call) or changed",
)
journey_endpoint(
    "register_plan",
    "plan",
    PlanIn,
    PROVIDER_FACT_WRITERS,
    lambda j, ctx, app, b: j.register_plan(
        ctx,
        established_on=b.established_on,
        planned_internship_start=b.planned_internship_start,
        planned_internship_share_percent=b.planned_internship_share_percent,
    ),
    provider_acting=True,
    summary="Genomförandeplan registered",
)
journey_endpoint(
    "start_internship",
    "internship/start",
    InternshipStartIn,
    PROVIDER_FACT_WRITERS,
    lambda j, ctx, app, b: j.start_internship(
        ctx, employer=b.employer, started_on=b.started_on, share_percent=b.share_percent
    ),
    provider_acting=True,
    summary="Language internship started (SAI)",
)
journey_endpoint(
    "end_internship",
    "internship/end",
    InternshipEndIn,
    PROVIDER_FACT_WRITERS,
    lambda j, ctx, app, b: j.end_internship(ctx, ended_on=b.ended_on),
    provider_acting=True,
    summary="Language internship ended (SAI)",
)
journey_endpoint(
    "grant_voucher",
    "vouchers",
    VoucherIn,
    FACT_WRITERS,
    _grant_voucher,
    status=201,
    summary="Tilläggscheck granted",
)
journey_endpoint(
    "exit_journey",
    "exit",
    ExitIn,
    PROVIDER_FACT_WRITERS,
    lambda j, ctx, app, b: j.exit(ctx, details=b.model_dump()),
    provider_acting=True,
    summary="Journey exited",
)
journey_endpoint(
    "record_follow_up",
    "follow-up",
    FollowUpIn,
    PROVIDER_FACT_WRITERS,
    lambda j, ctx, app, b: j.record_follow_up(
        ctx,
        followed_up_on=b.followed_up_on,
        outcome=b.outcome,
        evidence=[e.model_dump() for e in b.evidence],
    ),
    provider_acting=True,
    summary="Follow-up recorded (sustained with evidence after 6 months = bonus claim)",
)
journey_endpoint(
    "review_bonus_claim",
    "bonus-review",
    BonusReviewIn,
    ("counsellor",),
    lambda j, ctx, app, b: j.review_bonus_claim(
        ctx, reviewed_on=b.reviewed_on, decision=b.decision, reason=b.reason
    ),
    summary="Bonus claim approved or returned",
)
journey_endpoint(
    "withdraw_decision",
    "withdrawal",
    WithdrawalIn,
    FACT_WRITERS,
    lambda j, ctx, app, b: j.withdraw(ctx, withdrawn_on=b.withdrawn_on, reason=b.reason),
    summary="Decision withdrawn (before the insats started)",
)
journey_endpoint(
    "correct_journey",
    "corrections",
    CorrectionIn,
    FACT_WRITERS,
    lambda j, ctx, app, b: j.correct(ctx, what=b.field, value=b.domain_value(), reason=b.reason),
    summary="An earlier fact corrected",
)


# --- reads --------------------------------------------------------------------------------------


@router.get("/v1/journeys/{journey_id}", tags=["journeys"], responses=refusals(404))
def get_journey(
    journey_id: str,
    request: Request,
    response: Response,
    as_of: Day | None = None,
    known_at: Timestamp | None = None,
    principal: Principal = Depends(require(*JOURNEY_READERS)),
) -> dict[str, Any]:
    app = lifecycle(request)
    if known_at is not None:
        current = app.journey(journey_id)
        check_provider_scope(principal, current, acting=False)
        journey = app.journey_known_at(journey_id, known_at)
    else:
        journey = app.journey(journey_id)
    check_provider_scope(principal, journey, acting=False)
    response.headers["ETag"] = f'"{journey.version}"'
    return render_journey(app, journey, principal, as_of)


@router.get("/v1/journeys/{journey_id}/events", tags=["journeys"], responses=refusals(404))
def journey_history(
    journey_id: str,
    request: Request,
    principal: Principal = Depends(require(*JOURNEY_READERS)),
) -> list[dict[str, Any]]:
    app = lifecycle(request)
    journey = app.journey(journey_id)
    check_provider_scope(principal, journey, acting=False)

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
    principal: Principal = Depends(require(*JOURNEY_READERS)),
) -> dict[str, Any]:
    app = lifecycle(request)
    person_ref = None
    if person_id is not None:
        if not principal.sees_person_id:
            raise ApiError(403, "forbidden", "this role may not search by person_id", "person_id")
        person_ref = app.person_key.ref(parse_person_id(person_id, today()).number)
    try:
        after = decode_cursor(cursor) if cursor else 0
    except ValueError:
        raise ApiError(
            422, "invalid_cursor", "cursor is not one this API gave out", "cursor"
        ) from None
    held_by = principal.provider_id if principal.role == "provider" else None
    with readmodels(request).transaction() as tx:
        require_running(tx, JourneyListProjection.name)
        rows, last = search(
            tx,
            today=today(),
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
    principal: Principal = Depends(require("auditor", "admin")),
) -> dict[str, Any]:
    events = lifecycle(request).public_events(after, limit)
    return {
        "events": [e.to_dict() for e in events],
        "next": events[-1].position if events else after,
    }
