"""The start page (each role's own) and the alerts: the counsellor's and the provider's
worklist, built from `AlertsService.alerts` exactly as `GET /v1/alerts` answers it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from insats.ui.journeys import alerts_service, all_providers, journey_refs, provider_names
from insats.ui.pages import page, signed_in, today
from insats.ui.refusals import Shown
from insats.ui.sessions import Session
from services.alerts.api import _date, _scope
from services.alerts.rules import KINDS, LEVELS
from services.alerts.store import JourneyAlert

router = APIRouter(include_in_schema=False)

# A bonus claim raises `bonus_claim_pending` on its 15th day without review (docs/alerts.md:
# since = claimed_on + 15). Evaluated 15 days ahead, the same rule lists every claim waiting
# today, however new; since − 15 is the day it came in.
CLAIM_WAIT_DAYS = 15

# The worklist's sections: (key, heading, kind, level), in the order a counsellor works them.
SECTIONS: tuple[tuple[str, str, str, str | None], ...] = (
    ("plan_overdue", "Genomförandeplaner som är försenade", "plan_overdue", None),
    (
        "plan_due_soon",
        "Genomförandeplaner som snart ska vara klara (dag 50–60)",
        "plan_due_soon",
        None,
    ),
    ("internship_late", "Språkpraktik som inte påbörjats enligt planen", "internship_late", None),
    ("follow_up_overdue", "Uppföljningar som är försenade (förstärkt)", "follow_up_overdue", None),
    ("follow_up_due", "Uppföljningar som ska göras", "follow_up_due", None),
    (
        "provider_deauthorised",
        "Kunder vars anordnare avauktoriserats – nytt val krävs",
        "provider_deauthorised",
        None,
    ),
    ("red", "Mer än 12 månader i insats (röd)", "duration", "red"),
    ("yellow", "Mer än 6 månader i insats (gul)", "duration", "yellow"),
)


def _scoped_alerts(
    request: Request, session: Session, as_of: date, **filters: Any
) -> list[JourneyAlert]:
    principal = session.principal
    provider = principal.role == "provider"
    return alerts_service(request).alerts(
        as_of,
        provider_id=_scope(principal, filters.pop("provider_id", None)),
        held_only=provider,
        **filters,
    )


def worklist(request: Request, session: Session) -> dict[str, Any]:
    day = today(request)
    found = _scoped_alerts(request, session, day)
    sections = []
    for key, heading, kind, level in SECTIONS:
        rows = [a for a in found if a.kind == kind and (level is None or a.level == level)]
        sections.append({"key": key, "heading": heading, "alerts": rows})
    claims: list[dict[str, Any]] = [
        {
            "alert": a,
            "claimed_on": a.since - timedelta(days=CLAIM_WAIT_DAYS),
            "waited": (day - (a.since - timedelta(days=CLAIM_WAIT_DAYS))).days,
        }
        for a in _scoped_alerts(
            request, session, day + timedelta(days=CLAIM_WAIT_DAYS), kind="bonus_claim_pending"
        )
    ]
    ids = [a.journey_id for a in found] + [c["alert"].journey_id for c in claims]
    refs = journey_refs(request.app.state.readmodel_db, ids, today(request))
    names = provider_names(
        request, [a.provider_id for a in found] + [c["alert"].provider_id for c in claims]
    )
    return {"sections": sections, "claims": claims, "refs": refs, "names": names, "as_of_date": day}


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui", include_in_schema=False)
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/", response_class=HTMLResponse)
def start(request: Request, session: Session = Depends(signed_in("start"))) -> Response:
    role = session.principal.role
    if role == "clerk":
        return RedirectResponse("/ui/payouts", status_code=303)
    if role == "auditor":
        return RedirectResponse("/ui/audit", status_code=303)
    if role in ("counsellor", "provider", "admin"):
        return page(request, "start.html", title="Att göra", **worklist(request, session))
    return page(
        request,
        "start.html",
        title="Start",
        sections=None,
        claims=[],
        refs={},
        names={},
        as_of_date=today(request),
    )


@router.get("/ui/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    as_of: str | None = None,
    kind: str | None = None,
    level: str | None = None,
    provider_id: str | None = None,
    session: Session = Depends(signed_in("alerts")),
) -> HTMLResponse:
    principal = session.principal
    kind = kind if kind in KINDS else None
    level = level if level in LEVELS else None
    provider_id = (provider_id or "").strip() or None
    if principal.role == "provider":
        provider_id = None
    day = _date(as_of, "as_of") if as_of else today(request)
    found = _scoped_alerts(request, session, day, kind=kind, level=level, provider_id=provider_id)
    refs = journey_refs(
        request.app.state.readmodel_db, [a.journey_id for a in found], today(request)
    )
    return page(
        request,
        "alerts.html",
        title="Bevakning",
        alerts=found,
        refs=refs,
        names=provider_names(request, [a.provider_id for a in found]),
        as_of=day.isoformat(),
        as_of_date=day,
        kind=kind,
        level=level,
        provider_id=provider_id,
        kinds=KINDS,
        levels=LEVELS,
        providers=[] if principal.role == "provider" else all_providers(request),
        refusal=None,
    )


__all__ = ["Shown", "router"]
