"""HTTP: GET /v1/alerts and GET /v1/alerts/changes (API.md). The service is
`request.app.state.alerts`."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from contracts import bounds
from contracts.bounds import OutOfBounds, check_date
from services.alerts.service import MAX_CHANGES_PAGE, AlertsService
from services.platform.api import COMMON_REFUSALS, permitted
from services.platform.auth import Principal
from services.platform.identifiers import optional_org_number
from services.platform.refusal import Forbidden, Invalid

router = APIRouter(tags=["alerts"], responses=COMMON_REFUSALS)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^\d{1,18}$")
MAX_ALERTS_PAGE = 5000


def _service(request: Request) -> AlertsService:
    service: AlertsService = request.app.state.alerts
    return service


def _date(value: str, field: str) -> date:
    if _ISO_DATE.match(value):
        try:
            return check_date(date.fromisoformat(value), field)
        except OutOfBounds as refused:
            raise Invalid("invalid_date", str(refused), field) from None
        except ValueError:
            pass
    raise Invalid("invalid_date", f"{field} must be a date YYYY-MM-DD", field)


def _integer(value: str, field: str, lowest: int, highest: int) -> int:
    number = int(value) if _INTEGER.match(value.strip()) else None
    if number is None or not lowest <= number <= highest:
        raise Invalid("invalid_parameter", f"{field} must be an integer {lowest}–{highest}", field)
    return number


def _scope(principal: Principal, provider_id: str | None) -> str | None:
    """A provider sees its own journeys only; asking for another provider's is refused."""
    provider_id = optional_org_number(provider_id)  # 556123-4567 as well as 5561234567
    if principal.role != "provider":
        return provider_id
    if provider_id is not None and provider_id != principal.provider_id:
        raise Forbidden("forbidden", "a provider sees its own journeys only", "provider_id")
    return principal.provider_id


@router.get("/v1/alerts")
def list_alerts(
    request: Request,
    as_of: str | None = None,
    kind: str | None = None,
    level: str | None = None,
    provider_id: Annotated[str | None, Query(max_length=20)] = None,
    counsellor: Annotated[str | None, Query(max_length=bounds.MAX_NAME)] = None,
    due_from: str | None = None,
    due_to: str | None = None,
    limit: str | None = None,
    offset: str = "0",
    principal: Principal = Depends(permitted),
) -> dict[str, Any]:
    """Alerts on a date, in the order of docs/alerts.md. Without `limit` every alert comes in
    one answer (as API v1.0 did); with it a page, and `next_offset` for the next one."""
    service = _service(request)
    day = _date(as_of, "as_of") if as_of is not None else service.today()
    scoped = _scope(principal, provider_id)
    size = _integer(limit, "limit", 1, MAX_ALERTS_PAGE) if limit is not None else None
    start = _integer(offset, "offset", 0, 10**9)
    alerts = service.alerts(
        day,
        kind=kind,
        level=level,
        provider_id=scoped,
        held_only=principal.role == "provider",
        counsellor=counsellor,
        due_from=_date(due_from, "due_from") if due_from is not None else None,
        due_to=_date(due_to, "due_to") if due_to is not None else None,
    )
    page = alerts[start:] if size is None else alerts[start : start + size]
    more = size is not None and start + size < len(alerts)
    return {
        "as_of": day.isoformat(),
        "alerts": [a.to_dict() for a in page],
        "total": len(alerts),
        "next_offset": start + len(page) if more else None,
    }


@router.get("/v1/alerts/changes")
def list_changes(
    request: Request,
    after: str = "0",
    limit: str = "100",
    principal: Principal = Depends(permitted),
) -> dict[str, Any]:
    """The ordered feed of raised and cleared alerts; `next` is the `after` of the next page."""
    start = _integer(after, "after", 0, 10**18)
    size = _integer(limit, "limit", 1, MAX_CHANGES_PAGE)
    changes = _service(request).changes(start, size, provider_id=_scope(principal, None))
    return {
        "changes": [c.to_dict() for c in changes],
        "next": changes[-1].seq if changes else start,
    }
