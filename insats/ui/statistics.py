"""The yearly report as a page: the figures of SPEC §6 for a period and a grouping, figures
1, 5 and 7 as charts, and the printable report and CSV — from `StatisticsService.report_data`
and the report's own chart functions, as `/v1/statistics[/report.*]` answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from contracts.events import EXIT_REASONS
from insats.ui.pages import SECURITY_HEADERS, page, signed_in, svg, today
from insats.ui.refusals import Shown, refusal_of
from insats.ui.sessions import Session
from services.platform.refusal import Refusal
from services.statistics.api import period
from services.statistics.figures import GROUP_BYS
from services.statistics.labels import FIGURE_NAMES, GROUP_BY_NAMES, group_label
from services.statistics.service import StatisticsService

router = APIRouter(include_in_schema=False)


def statistics(request: Request) -> StatisticsService:
    service: StatisticsService = request.app.state.statistics
    return service


def _defaults(from_: str | None, to: str | None, day: date) -> tuple[str, str]:
    return from_ or date(day.year, 1, 1).isoformat(), to or date(day.year, 12, 31).isoformat()


def _accessible(chart: str, label_id: str) -> str:
    """The chart's <svg> labelled by its caption (the table beside it holds the numbers)."""
    return chart.replace("<svg ", f'<svg role="img" aria-labelledby="{label_id}" ', 1)


@router.get("/ui/statistics", response_class=HTMLResponse)
def statistics_page(
    request: Request,
    from_: str | None = None,
    to: str | None = None,
    group_by: str = "insats",
    session: Session = Depends(signed_in("statistics")),
) -> HTMLResponse:
    from services.statistics.report import (
        chart_customers,
        chart_days_per_year,
        chart_exit_reasons,
    )

    params = request.query_params
    from_text, to_text = _defaults(params.get("from") or from_, to, today(request))
    group_by = group_by if group_by in GROUP_BYS else "insats"
    refusal: Shown | None = None
    data = None
    try:
        period_from, period_to = period(from_text, to_text)
        data = statistics(request).report_data(period_from, period_to)
    except Refusal as error:
        refusal = refusal_of(error)
    groups: dict[str, Any] = {}
    charts: dict[str, Any] = {}
    if data is not None:
        groups = {
            "insats": data.by_insats,
            "provider": data.by_provider,
            "target_group": data.by_target_group,
        }[group_by]["groups"]
        charts = {
            "fig1": svg(_accessible(chart_customers(data.by_insats), "fig1-cap")),
            "fig5": svg(_accessible(chart_exit_reasons(data.by_insats), "fig5-cap")),
            "fig7": svg(_accessible(chart_days_per_year(data.yearly), "fig7-cap"))
            if data.yearly
            else None,
        }
    names = data.provider_names if data else {}
    return page(
        request,
        "statistics.html",
        status=refusal.status if refusal else 200,
        title="Statistik",
        from_text=from_text,
        to_text=to_text,
        group_by=group_by,
        group_bys=GROUP_BYS,
        group_by_names=GROUP_BY_NAMES,
        groups=groups,
        group_name=lambda key: group_label(group_by, key, names),
        data=data,
        charts=charts,
        figure_names=FIGURE_NAMES,
        exit_reasons=EXIT_REASONS,
        refusal=refusal,
    )


@router.get("/ui/statistics/report.html")
def report_html(
    request: Request,
    to: str | None = None,
    session: Session = Depends(signed_in("statistics")),
) -> Response:
    from_text, to_text = _defaults(request.query_params.get("from"), to, today(request))
    period_from, period_to = period(from_text, to_text)
    body = statistics(request).report_html(period_from, period_to)
    headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'none'",
    }
    if request.query_params.get("format") == "pdf":
        from insats.ui.pdf import html_to_pdf

        name = f"statistik-{from_text}-{to_text}.pdf"
        return Response(
            html_to_pdf(body.encode("utf-8")),
            media_type="application/pdf",
            headers={**headers, "Content-Disposition": f'inline; filename="{name}"'},
        )
    return HTMLResponse(body, headers=headers)


@router.get("/ui/statistics/report.csv")
def report_csv(
    request: Request,
    to: str | None = None,
    group_by: str = "insats",
    session: Session = Depends(signed_in("statistics")),
) -> Response:
    from_text, to_text = _defaults(request.query_params.get("from"), to, today(request))
    period_from, period_to = period(from_text, to_text)
    body = statistics(request).csv(period_from, period_to, group_by)
    name = f"statistik-{from_text}-{to_text}-{group_by}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
