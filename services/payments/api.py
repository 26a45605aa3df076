"""HTTP API v1 for payouts (API.md): preview, close, read and download monthly runs.

Roles (`contracts.permissions`): the clerk previews, closes and downloads; auditors and
counsellors read (preview, run, files); a provider may download only its own compensation basis
(`underlag-{its provider_id}-YYYY-MM.html`). The service is `request.app.state.payments`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from services.payments.files import run_json
from services.payments.model import Run
from services.payments.service import PaymentsService
from services.platform.api import COMMON_REFUSALS, permitted, refusals
from services.platform.auth import Principal

router = APIRouter(tags=["payouts"], responses=COMMON_REFUSALS)

MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".si": "text/plain; charset=IBM437",
    ".html": "text/html; charset=utf-8",
}


def _service(request: Request) -> PaymentsService:
    service: PaymentsService = request.app.state.payments
    return service


def _run_json(run: Run) -> Response:
    """API.md "A run", written directly (a run may hold hundreds of thousands of lines)."""
    document = run_json(run, extra={"checkpoint": run.checkpoint})
    return Response(content=document.encode("utf-8"), media_type="application/json")


@router.get("/v1/payouts")
def list_runs(request: Request, _: Principal = Depends(permitted)) -> dict[str, Any]:
    """Every closed run, oldest first, without its lines."""
    runs = _service(request).list_runs()
    return {
        "runs": [
            {
                "month": run.month,
                "status": run.status,
                "position": run.position,
                "closed_at": run.closed_at,
                "checkpoint": run.checkpoint,
                "lines": len(run.lines),
                "total": f"{run.total:.2f}",
                "files": dict(sorted(run.files.items())),
            }
            for run in runs
        ]
    }


@router.get("/v1/payouts/{month}/preview", responses=refusals(409))
def preview_run(month: str, request: Request, _: Principal = Depends(permitted)) -> Response:
    """What closing the month now would pay (not stored); a closed month's stored run."""
    return _run_json(_service(request).preview(month))


@router.post("/v1/payouts/{month}/close", responses=refusals(408, 409, 413))
def close_run(month: str, request: Request, _: Principal = Depends(permitted)) -> Response:
    """Close the month (it must have ended; months close in order). Idempotent and final."""
    return _run_json(_service(request).close(month))


@router.get("/v1/payouts/{month}", responses=refusals(404))
def get_run(month: str, request: Request, _: Principal = Depends(permitted)) -> Response:
    return _run_json(_service(request).get(month))


@router.get("/v1/payouts/{month}/files/{name}", responses=refusals(404))
def download_file(
    month: str,
    name: str,
    request: Request,
    principal: Principal = Depends(permitted),
) -> Response:
    provider_id = principal.provider_id if principal.role == "provider" else None
    data = _service(request).file(month, name, provider_id=provider_id)
    suffix = name[name.rfind(".") :] if "." in name else ""
    return Response(
        content=data,
        media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
