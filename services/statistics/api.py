"""HTTP API of the statistics (API.md): figures as JSON, the HTML report and a CSV export.

The service is `request.app.state.statistics` (a `StatisticsService`). Readers
(`contracts.permissions`): counsellor, auditor and admin; every other role gets 403.
"""

from __future__ import annotations

import re
from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from contracts.bounds import OutOfBounds, check_date
from services.platform.api import COMMON_REFUSALS, permitted
from services.platform.auth import Principal
from services.platform.refusal import Invalid
from services.statistics.service import StatisticsService

router = APIRouter(tags=["statistics"], responses=COMMON_REFUSALS)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _service(request: Request) -> StatisticsService:
    service: StatisticsService = request.app.state.statistics
    return service


def parse_date(value: str | None, field: str) -> date:
    """A `YYYY-MM-DD` query parameter, or 422 naming the field."""
    if value is None or not value.strip():
        raise Invalid("invalid_input", f"{field} is required (YYYY-MM-DD)", field)
    text = value.strip()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        return check_date(date.fromisoformat(text), field)
    except OutOfBounds as refused:
        raise Invalid("invalid_input", str(refused), field) from None
    except ValueError:
        raise Invalid(
            "invalid_input", f"{field} must be a date YYYY-MM-DD, got {value!r}", field
        ) from None


def period(from_: str | None, to: str | None) -> tuple[date, date]:
    """The `from` and `to` parameters as dates (the service judges the period itself)."""
    return parse_date(from_, "from"), parse_date(to, "to")


@router.get("/v1/statistics")
def get_statistics(
    request: Request,
    from_: str | None = Query(None, alias="from", description="first day, YYYY-MM-DD"),
    to: str | None = Query(None, description="last day (inclusive), YYYY-MM-DD"),
    group_by: str = Query("insats", description="insats (default), provider or target_group"),
    _: Principal = Depends(permitted),
) -> dict[str, object]:
    """`{from, to, group_by, groups: {<group>: figures, ..., "total": figures}}`."""
    period_from, period_to = period(from_, to)
    return _service(request).figures(period_from, period_to, group_by)


@router.get("/v1/statistics/report.html", response_class=HTMLResponse)
def get_report_html(
    request: Request,
    from_: str | None = Query(None, alias="from"),
    to: str | None = Query(None),
    _: Principal = Depends(permitted),
) -> HTMLResponse:
    """The printable report (Swedish) with figures 1, 5 and 7 as inline SVG."""
    period_from, period_to = period(from_, to)
    body = _service(request).report_html(period_from, period_to)
    return HTMLResponse(body)


@router.get("/v1/statistics/report.csv")
def get_report_csv(
    request: Request,
    from_: str | None = Query(None, alias="from"),
    to: str | None = Query(None),
    group_by: str = Query("insats"),
    _: Principal = Depends(permitted),
) -> Response:
    """The figures as CSV: UTF-8 with BOM, `;`, decimal comma, Swedish headers."""
    period_from, period_to = period(from_, to)
    body = _service(request).csv(period_from, period_to, group_by)
    name = f"statistik-{period_from.isoformat()}-{period_to.isoformat()}-{group_by}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
