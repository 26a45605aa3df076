"""`POST /v1/sandbox/runs`: the policy sandbox over HTTP (docs/sandbox.md).

The body is the scenario (contracts/scenario/v1/scenario.json); `from` and `to` name the payout
months, `known_at` an optional cut-off. The answer is the comparison, computed on the request
and not stored (nothing is written anywhere): JSON by default, or with `format` the CSV files or
the Swedish HTML page. One sandbox run at a time per instance: a second gets 503 with
Retry-After.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from contracts.bounds import Timestamp
from contracts.scenario import Scenario
from insats.sandbox import SandboxRequest, month_of_text, run_sandbox
from insats.sandbox.report import render_csv, render_html, render_journeys_csv
from services.platform.api import COMMON_REFUSALS, permitted
from services.platform.auth import Principal
from services.platform.municipality import municipality_name

router = APIRouter(tags=["sandbox"], responses=COMMON_REFUSALS)

Format = Literal["json", "csv", "journeys.csv", "html"]
MONTH = r"^\d{4}-\d{2}(-\d{2})?$"  # a month, or a date within it


@router.post("/v1/sandbox/runs", response_model=None)
def post_sandbox_run(
    request: Request,
    scenario: Scenario,
    from_: str = Query(
        ...,
        alias="from",
        pattern=MONTH,
        description="first payout month (YYYY-MM, or a date in it)",
    ),
    to: str = Query(
        ..., pattern=MONTH, description="last payout month, inclusive (YYYY-MM, or a date in it)"
    ),
    known_at: Timestamp | None = Query(
        None,
        description="only what was recorded by then (default: each closed run as it closed, "
        "the rest as known now)",
    ),
    format: Format = Query("json", description="json, csv, journeys.csv or html"),
    _: Principal = Depends(permitted),
) -> Response:
    """Replay the months under the real rates and rules and under the scenario, and compare:
    totals and differences per month, provider, insats and line type, the journeys whose
    outcome changes, and the self-sufficiency figures under both rules."""
    container = request.app.state.container
    moment: datetime | None = known_at
    request_ = SandboxRequest(
        scenario, month_of_text(from_, "from"), month_of_text(to, "to"), moment
    )
    comparison = run_sandbox(
        container.source, container.payments.runs, request_, today=container.clock.today()
    )
    name = f"sandbox-{request_.month_from}-{request_.month_to}"
    if format == "csv":
        return _file(render_csv(comparison), "text/csv; charset=utf-8", f"{name}.csv")
    if format == "journeys.csv":
        return _file(
            render_journeys_csv(comparison), "text/csv; charset=utf-8", f"{name}-insatser.csv"
        )
    if format == "html":
        return HTMLResponse(render_html(comparison, municipality_name()))
    return JSONResponse(comparison)


def _file(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
