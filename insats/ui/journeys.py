"""Journeys: the list with filters and traffic lights, one journey's page (facts, history,
"as of" and "as known at"), its commands, and registering a decision.

Every read goes through the same functions as `GET /v1/journeys[/{id}[/events]]` and every
command through the same application method, rules, roles and provider scope as
`POST /v1/journeys/{id}/<command>` (the API's `JOURNEY_COMMANDS`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from contracts import bounds
from contracts.events import EXIT_REASONS, INSATS_TYPES, TARGET_GROUPS
from insats.ui import labels
from insats.ui.pages import UiError, form_dict, new_form_id, page, signed_in, today
from insats.ui.permissions import may_command
from insats.ui.refusals import REFUSED, Shown, refusal_of
from insats.ui.sessions import Session
from services.alerts.service import AlertsService
from services.alerts.store import JourneyAlert
from services.lifecycle.api import (
    JOURNEY_COMMANDS,
    DecisionIn,
    JourneyCall,
    command_context,
    get_journey,
    journey_history,
    list_journeys,
)
from services.lifecycle.application import Idempotency, LifecycleApp
from services.lifecycle.domain.base import CommandContext
from services.lifecycle.domain.journey import journey_id_for
from services.lifecycle.journey_list import JourneyListProjection, references
from services.platform.auth import Principal
from services.platform.clock import STOCKHOLM
from services.platform.db import Database
from services.platform.feed import require_running
from services.platform.refusal import Invalid, NotFound

router = APIRouter(include_in_schema=False)

UI_SOURCE = "insats-webb"  # the source system the pages' facts carry
PAGE_SIZE = 50
EVIDENCE_ROWS = 3
STATUSES = ("decided", "active", "exited", "withdrawn")


def lifecycle(request: Request) -> LifecycleApp:
    app: LifecycleApp = request.app.state.lifecycle
    return app


def alerts_service(request: Request) -> AlertsService:
    service: AlertsService = request.app.state.alerts
    return service


def ui_context(request: Request, principal: Principal) -> CommandContext:
    """The API's context (actor, correlation id, the header rules), from the web pages."""
    return replace(command_context(request, principal), source_system=UI_SOURCE)


def provider_names(request: Request, ids: Iterable[str | None]) -> dict[str, str]:
    app, day, names = lifecycle(request), today(request), {}
    for pid in {i for i in ids if i}:
        try:
            names[pid] = str(app.provider(pid).view(day).get("name") or pid)
        except NotFound:
            names[pid] = pid
    return names


def all_providers(request: Request) -> list[dict[str, Any]]:
    app, day = lifecycle(request), today(request)
    return [app.provider(pid).view(day) for pid in app.provider_ids()]


def journey_refs(db: Database, ids: Iterable[str], day: date) -> dict[str, dict[str, str]]:
    """Decision reference and insats of journeys, from the journey list read model."""
    with db.transaction() as tx:
        require_running(tx, JourneyListProjection.name)
        return references(tx, ids, day)


def alerts_by_journey(
    request: Request, principal: Principal, as_of: date
) -> dict[str, list[JourneyAlert]]:
    """Today's alerts per journey, scoped as `GET /v1/alerts` scopes a provider's key."""
    provider = principal.role == "provider"
    found = alerts_service(request).alerts(
        as_of, provider_id=principal.provider_id if provider else None, held_only=provider
    )
    out: dict[str, list[JourneyAlert]] = {}
    for alert in found:
        out.setdefault(alert.journey_id, []).append(alert)
    return out


# --- the list -----------------------------------------------------------------------------------


@router.get("/ui/journeys", response_class=HTMLResponse)
def journeys_page(
    request: Request,
    status: str | None = None,
    insats: str | None = None,
    provider_id: str | None = None,
    person_id: str | None = None,
    cursor: str | None = None,
    session: Session = Depends(signed_in("journeys")),
) -> HTMLResponse:
    principal = session.principal
    status = status if status in STATUSES else None
    insats = insats if insats in INSATS_TYPES else None
    provider_id = (provider_id or "").strip() or None
    person_id = (person_id or "").strip() or None
    if principal.role == "provider":
        provider_id = person_id = None
    refusal: Shown | None = None
    result: dict[str, Any] = {"journeys": [], "next_cursor": None}
    try:
        result = list_journeys(
            request,
            provider_id=provider_id,
            status=status,  # type: ignore[arg-type]
            insats=insats,  # type: ignore[arg-type]
            person_id=person_id,
            limit=PAGE_SIZE,
            cursor=cursor or None,
            principal=principal,
        )
    except REFUSED as exc:
        refusal = refusal_of(exc)
        if refusal is None or refusal.status >= 500:
            raise
    rows = result["journeys"]
    lights = alerts_by_journey(request, principal, today(request))
    names = provider_names(request, [r["provider_id"] for r in rows])
    providers = [] if principal.role == "provider" else all_providers(request)
    filters = {
        "status": status,
        "insats": insats,
        "provider_id": provider_id,
        "person_id": person_id,
    }
    return page(
        request,
        "journeys.html",
        title="Insatser",
        rows=rows,
        lights=lights,
        names=names,
        providers=providers,
        filters=filters,
        next_cursor=result.get("next_cursor"),
        next_query=urlencode(
            {k: v for k, v in {**filters, "cursor": result.get("next_cursor")}.items() if v}
        ),
        first_page=not cursor,
        refusal=refusal,
        status=refusal.status if refusal else 200,
        statuses=STATUSES,
        insats_types=INSATS_TYPES,
        target_groups=TARGET_GROUPS,
        form_id=new_form_id(),
        values={},
    )


@router.get("/ui/journeys/find")
def find_journey(
    request: Request,
    system: str = "",
    decision_id: str = "",
    journey_id: str = "",
    session: Session = Depends(signed_in("journeys")),
) -> RedirectResponse:
    """By journey id, or by the case system's decision reference (the journey id is derived
    from it)."""
    target = journey_id.strip()
    if not target and system.strip() and decision_id.strip():
        target = str(journey_id_for(system.strip(), decision_id.strip()))
    if not target:
        return RedirectResponse("/ui/journeys", status_code=303)
    return RedirectResponse(f"/ui/journeys/{target}", status_code=303)


# --- one journey --------------------------------------------------------------------------------


def _known_at(value: str | None) -> datetime | None:
    """A `datetime-local` value (Stockholm time) as the UTC timestamp the API takes."""
    if not value:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_input", "ange tidpunkt som ÅÅÅÅ-MM-DD TT:MM", "known_at") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=STOCKHOLM)
    return local.astimezone(UTC)


def _as_of(value: str | None) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_input", "ange datum som ÅÅÅÅ-MM-DD", "as_of") from None
    try:
        return bounds.check_date(day, "as_of")
    except bounds.OutOfBounds as exc:
        raise Invalid("invalid_input", str(exc), "as_of") from None


def journey_page_response(
    request: Request,
    session: Session,
    journey_id: str,
    *,
    as_of_text: str | None = None,
    known_at_text: str | None = None,
    ok: str | None = None,
    refusal: Shown | None = None,
    open_form: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    principal = session.principal
    as_of = _as_of(as_of_text)
    known_at = _known_at(known_at_text)
    view = get_journey(
        journey_id, request, Response(), as_of=as_of, known_at=known_at, principal=principal
    )
    history = journey_history(journey_id, request, principal=principal)
    if known_at is not None:
        stamp = known_at.isoformat().replace("+00:00", "Z")
        history = [e for e in history if e["recorded_at"] <= stamp]
    view_as_of = date.fromisoformat(view["as_of"])
    is_now = as_of is None and known_at is None
    journey_alerts: list[JourneyAlert] = []
    if known_at is None:  # alerts are evaluated on the facts known now
        scoped = principal.role == "provider"
        journey_alerts = [
            a
            for a in alerts_service(request).alerts(
                view_as_of,
                provider_id=principal.provider_id if scoped else view.get("provider_id"),
                held_only=scoped,
            )
            if a.journey_id == view["journey_id"]
        ]
    ids = [a["provider_id"] for a in view["assignments"]] + [view.get("provider_id")]
    providers = [] if principal.role == "provider" else all_providers(request)
    names = provider_names(request, [*ids, *(p["provider_id"] for p in providers)])
    return page(
        request,
        "journey.html",
        status=status,
        title=f"Insats {view['external_ref']['decision_id']}",
        view=view,
        history=history,
        alerts=journey_alerts,
        names=names,
        providers=[p for p in providers if p.get("deauthorised_on") is None] if providers else [],
        as_of_text=as_of_text or "",
        known_at_text=known_at_text or "",
        is_now=is_now,
        ok=ok,
        refusal=refusal,
        open_form=open_form,
        values=values or {},
        form_id=new_form_id(),
        exit_reasons=EXIT_REASONS,
        evidence_rows=range(EVIDENCE_ROWS),
        commands=[c for c in JOURNEY_COMMANDS if may_command(c, principal.role)],
        hide_person=not principal.sees_person_id,
    )


@router.get("/ui/journeys/{journey_id}", response_class=HTMLResponse)
def journey_page(
    journey_id: str,
    request: Request,
    as_of: str | None = None,
    known_at: str | None = None,
    ok: str | None = None,
    session: Session = Depends(signed_in("journeys")),
) -> HTMLResponse:
    try:
        return journey_page_response(
            request,
            session,
            journey_id,
            as_of_text=as_of,
            known_at_text=known_at,
            ok=labels.COMMAND_DONE.get(ok or ""),
        )
    except Invalid as refused:
        if refused.field in ("as_of", "known_at"):
            return journey_page_response(
                request, session, journey_id, refusal=refusal_of(refused), status=refused.status
            )
        raise


# --- commands -----------------------------------------------------------------------------------


def _opt(form: dict[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _money(text: str | None) -> str | None:
    """'5 000,50' or '5000.50' → '5000.50' (the API's money string)."""
    if text is None:
        return None
    return text.replace("\u00a0", "").replace(" ", "").replace(",", ".").removesuffix("kr")


def _bool(text: str | None) -> bool | None:
    return {"true": True, "false": False}.get(text or "")


def _exit_details(form: dict[str, str], reason: str | None) -> dict[str, Any]:
    """The exit's details; those that belong to another reason than the chosen one are left
    out (the form shows them under "only for work" / "only for studies")."""
    details: dict[str, Any] = {"reason": reason}
    if reason == "work":
        details["employment_form"] = _opt(form, "employment_form")
        details["subsidy"] = _opt(form, "subsidy")
        if details["employment_form"] == "fixed_term":
            details["contract_months"] = _opt(form, "contract_months")
    if reason == "studies":
        details["csn_eligible"] = _bool(_opt(form, "csn_eligible"))
    return details


def command_body(command: str, form: dict[str, str]) -> dict[str, Any]:
    """The API's request body for a journey command, from the page's form fields."""
    o = lambda name: _opt(form, name)  # noqa: E731
    if command == "provider":
        return {"provider_id": o("provider_id"), "starts_on": o("starts_on")}
    if command == "plan":
        return {
            "established_on": o("established_on"),
            "planned_internship_start": o("planned_internship_start"),
            "planned_internship_share_percent": o("planned_internship_share_percent"),
        }
    if command == "internship/start":
        return {
            "employer": o("employer"),
            "started_on": o("started_on"),
            "share_percent": o("share_percent"),
        }
    if command == "internship/end":
        return {"ended_on": o("ended_on")}
    if command == "vouchers":
        return {
            "amount": _money(o("amount")),
            "purpose": o("purpose"),
            "granted_on": o("granted_on"),
        }
    if command == "exit":
        return {"exited_on": o("exited_on"), **_exit_details(form, o("reason"))}
    if command == "follow-up":
        evidence = []
        for i in range(EVIDENCE_ROWS):
            row = {k: o(f"evidence_{k}_{i}") for k in ("type", "id", "date")}
            if any(row.values()):
                evidence.append(row)
        return {
            "followed_up_on": o("followed_up_on"),
            "outcome": o("outcome"),
            "evidence": evidence,
        }
    if command == "bonus-review":
        return {"reviewed_on": o("reviewed_on"), "decision": o("decision"), "reason": o("reason")}
    if command == "withdrawal":
        return {"withdrawn_on": o("withdrawn_on"), "reason": o("reason")}
    if command == "corrections":
        field = o("field")
        value: Any = o("value_date")
        if field == "exit":
            value = {"exited_on": o("value_date"), **_exit_details(form, o("exit_reason"))}
        elif field == "provider_starts_on":
            value = {"provider_id": o("value_provider_id"), "starts_on": o("value_date")}
        return {"field": field, "value": value, "reason": o("reason")}
    raise KeyError(command)


def _idempotency(form: dict[str, str], path: str, body: BaseModel) -> Idempotency | None:
    """The form's one-time id as the API's Idempotency-Key: a form sent twice records once."""
    key = (form.get("form_id") or "").strip()
    if not key or len(key) > 100:
        return None
    content = body.model_dump(mode="json")
    fingerprint = hashlib.sha256(
        json.dumps(["POST", path, content], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return Idempotency(f"ui:{key}", fingerprint)


def _version(form: dict[str, str]) -> int | None:
    text = (form.get("version") or "").strip()
    return int(text) if text.isdigit() else None


def run_command(
    request: Request, principal: Principal, journey_id: str, command: str, form: dict[str, str]
) -> None:
    """`POST /v1/journeys/{journey_id}/{command}` as the API runs it (same roles, scope, body
    model, use case and optimistic concurrency: the form's version is the If-Match)."""
    body = JOURNEY_COMMANDS[command].body_model.model_validate(command_body(command, form))
    call = JourneyCall(
        ui_context(request, principal),
        journey_id,
        expected_version=_version(form),
        idem=_idempotency(form, f"/v1/journeys/{journey_id}/{command}", body),
    )
    body.send(lifecycle(request), call)


def _command_endpoint(command: str) -> None:
    async def endpoint(
        journey_id: str,
        request: Request,
        session: Session = Depends(signed_in(command)),
    ) -> Response:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_handle_command, request, session, journey_id, command)

    endpoint.__name__ = f"ui_{command.replace('/', '_').replace('-', '_')}"
    router.post(f"/ui/journeys/{{journey_id}}/{command}")(endpoint)


def _handle_command(request: Request, session: Session, journey_id: str, command: str) -> Response:
    form = form_dict(request)
    try:
        run_command(request, session.principal, journey_id, command, form)
    except REFUSED as exc:
        refusal = refusal_of(exc)
        if refusal is None or refusal.status >= 500:
            raise
        if refusal.code == "journey_not_found":
            raise
        values = {k: v for k, v in form.items() if k not in ("csrf_token", "form_id", "version")}
        return journey_page_response(
            request,
            session,
            journey_id,
            refusal=refusal,
            open_form=command,
            values=values,
            status=refusal.status,
        )
    return RedirectResponse(
        f"/ui/journeys/{journey_id}?{urlencode({'ok': command})}#handelser", status_code=303
    )


for _command in JOURNEY_COMMANDS:
    _command_endpoint(_command)


# --- a new decision -----------------------------------------------------------------------------


@router.post("/ui/decisions")
def register_decision(
    request: Request, session: Session = Depends(signed_in("decisions"))
) -> Response:
    form = form_dict(request)
    principal = session.principal
    o = lambda name: _opt(form, name)  # noqa: E731
    data: dict[str, Any] = {
        "external_ref": {"system": o("system"), "decision_id": o("decision_id")},
        "person_id": o("person_id"),
        "insats": o("insats"),
        "decided_on": o("decided_on"),
        "decided_by": o("decided_by"),
        "target_group": o("target_group"),
    }
    if o("counsellor"):
        data["counsellor"] = o("counsellor")
    if o("transfer_journey_id"):
        data["transfer_from"] = {
            "journey_id": o("transfer_journey_id"),
            "exited_on": o("transfer_exited_on"),
        }
    try:
        body = DecisionIn.model_validate(data)
        result = body.send(
            lifecycle(request),
            ui_context(request, principal),
            _idempotency(form, "/v1/decisions", body),
        )
    except REFUSED as exc:
        refusal = refusal_of(exc)
        if refusal is None or refusal.status >= 500:
            raise
        values = {k: v for k, v in form.items() if k not in ("csrf_token", "form_id")}
        return page(
            request,
            "decision_new.html",
            status=refusal.status,
            title="Registrera beslut",
            refusal=refusal,
            values=values,
            form_id=new_form_id(),
            insats_types=INSATS_TYPES,
            target_groups=TARGET_GROUPS,
        )
    journey = result.resource["journey_id"]
    return RedirectResponse(f"/ui/journeys/{journey}?ok=decision", status_code=303)


@router.get("/ui/decisions/new", response_class=HTMLResponse)
def new_decision(
    request: Request, session: Session = Depends(signed_in("decisions"))
) -> HTMLResponse:
    return page(
        request,
        "decision_new.html",
        title="Registrera beslut",
        refusal=None,
        values={"decided_on": today(request).isoformat(), "decided_by": session.principal.name},
        form_id=new_form_id(),
        insats_types=INSATS_TYPES,
        target_groups=TARGET_GROUPS,
    )


__all__ = ["UiError", "router"]
