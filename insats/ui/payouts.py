"""Payouts for the payment clerk (preview, close, closed runs, downloads) and the provider's
own compensation bases — all through `PaymentsService` (`preview`, `close`, `get`, `file`,
`list_runs`), as `/v1/payouts` answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from insats.ui.journeys import journey_refs, provider_names
from insats.ui.pages import SECURITY_HEADERS, form_dict, message_page, page, signed_in, today
from insats.ui.refusals import Shown, refusal_of
from insats.ui.sessions import Session
from services.payments.api import MEDIA_TYPES
from services.payments.files import basis_name
from services.payments.model import Run, money_text
from services.payments.rules import LINE_TYPES, ZERO, last_day, month_of
from services.payments.service import PaymentsService, check_month
from services.platform.refusal import NotFound, Refusal

router = APIRouter(include_in_schema=False)

LINES_SHOWN = 300  # lines listed on the page; the files hold all of them


def payments(request: Request) -> PaymentsService:
    service: PaymentsService = request.app.state.payments
    return service


@dataclass(frozen=True)
class ProviderRow:
    provider_id: str
    name: str
    by_type: dict[str, Decimal]
    amount: Decimal
    previous: Decimal | None
    lines: int

    @property
    def difference(self) -> Decimal | None:
        return None if self.previous is None else self.amount - self.previous


def provider_rows(run: Run, previous: Run | None) -> list[ProviderRow]:
    counts: dict[str, int] = {}
    by_type: dict[str, dict[str, Decimal]] = {}
    for line in run.lines:
        counts[line.provider_id] = counts.get(line.provider_id, 0) + 1
        sums = by_type.setdefault(line.provider_id, {})
        sums[line.type] = sums.get(line.type, ZERO) + line.amount
    ids = sorted(set(run.totals) | set(previous.totals if previous else {}))
    return [
        ProviderRow(
            pid,
            run.provider(pid).name or (previous.provider(pid).name if previous else ""),
            by_type.get(pid, {}),
            run.totals.get(pid, ZERO),
            None if previous is None else previous.totals.get(pid, ZERO),
            counts.get(pid, 0),
        )
        for pid in ids
    ]


def _previous(service: PaymentsService, month: str) -> Run | None:
    earlier = [run for run in service.list_runs() if run.month < month]
    return earlier[-1] if earlier else None


def _default_month(day: date) -> str:
    return month_of(day.replace(day=1) - timedelta(days=1))


@router.get("/ui/payouts", response_class=HTMLResponse)
def payouts_page(
    request: Request, month: str | None = None, session: Session = Depends(signed_in("payouts"))
) -> Response:
    if month:
        return RedirectResponse(f"/ui/payouts/{month.strip()}", status_code=303)
    runs = list(reversed(payments(request).list_runs()))
    return page(
        request,
        "payouts.html",
        title="Utbetalningar",
        runs=runs,
        default_month=_default_month(today(request)),
    )


def _run_page(
    request: Request,
    session: Session,
    month: str,
    *,
    refusal: Shown | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    service = payments(request)
    run: Run | None = None
    try:
        check_month(month)
        run = service.preview(month)
    except Refusal as exc:
        refusal = refusal or refusal_of(exc)
        status = status if status != 200 else exc.status
    previous = _previous(service, month) if run is not None else None
    rows = provider_rows(run, previous) if run is not None else []
    shown = list(run.lines[:LINES_SHOWN]) if run is not None else []
    refs = journey_refs(
        request.app.state.readmodel_db, [line.journey_id for line in shown], today(request)
    )
    can_close_from = last_day(month) + timedelta(days=1) if refusal is None or run else None
    return page(
        request,
        "payout_run.html",
        status=status,
        title=f"Utbetalning {month}",
        month=month,
        run=run,
        previous=previous,
        rows=rows,
        lines=shown,
        more_lines=(len(run.lines) - len(shown)) if run is not None else 0,
        refs=refs,
        names=provider_names(request, [line.provider_id for line in shown]),
        refusal=refusal,
        notice=notice,
        can_close_from=can_close_from,
        closable=run is not None and run.status == "preview" and today(request) > last_day(month),
        line_types=LINE_TYPES,
        files=service.file_names(month) if run is not None and run.status == "closed" else [],
        basis_name=basis_name,
    )


@router.get("/ui/payouts/{month}", response_class=HTMLResponse)
def run_page(
    month: str,
    request: Request,
    closed: str | None = None,
    session: Session = Depends(signed_in("payouts")),
) -> HTMLResponse:
    notice = "Månaden är stängd. Filerna kan laddas ner nedan." if closed else None
    if closed == "changed":
        notice = (
            "Månaden är stängd, men med ett annat belopp än det du bekräftade: nya uppgifter "
            "registrerades medan du bekräftade. Kontrollera beloppen nedan."
        )
    return _run_page(request, session, month, notice=notice)


def _confirm_page(
    request: Request,
    session: Session,
    month: str,
    *,
    notice: str | None = None,
    refusal: Shown | None = None,
    status: int = 200,
) -> HTMLResponse:
    service = payments(request)
    run: Run | None = None
    try:
        run = service.preview(month)
    except Refusal as exc:
        refusal = refusal or refusal_of(exc)
        status = exc.status
    if run is not None and run.status == "closed":
        return _run_page(request, session, month, notice="Månaden är redan stängd.")
    return page(
        request,
        "payout_close.html",
        status=status,
        title=f"Stäng utbetalning {month}",
        month=month,
        run=run,
        notice=notice,
        refusal=refusal,
        total_text=money_text(run.total) if run else "",
        ended=today(request) > last_day(month),
        opens_on=last_day(month) + timedelta(days=1),
    )


@router.get("/ui/payouts/{month}/close", response_class=HTMLResponse)
def confirm_close(
    month: str, request: Request, session: Session = Depends(signed_in("payouts.close"))
) -> HTMLResponse:
    return _confirm_page(request, session, month)


@router.post("/ui/payouts/{month}/close")
def close(
    month: str, request: Request, session: Session = Depends(signed_in("payouts.close"))
) -> Response:
    """Close the month the clerk confirmed: refused (shown again) when what closing would pay
    has changed since the confirmation page named its total."""
    form = form_dict(request)
    service = payments(request)
    expected_total = (form.get("expected_total") or "").strip()
    expected_position = (form.get("expected_position") or "").strip()
    try:
        preview = service.preview(month)
        if preview.status == "closed":
            return RedirectResponse(f"/ui/payouts/{month}?closed=1", status_code=303)
        if money_text(preview.total) != expected_total or str(preview.position) != (
            expected_position
        ):
            return _confirm_page(
                request,
                session,
                month,
                status=409,
                notice="Uppgifterna har ändrats sedan du öppnade bekräftelsen. Kontrollera det "
                "nya beloppet och bekräfta igen.",
            )
        run = service.close(month)
    except Refusal as exc:
        return _confirm_page(request, session, month, refusal=refusal_of(exc), status=exc.status)
    changed = money_text(run.total) != expected_total
    return RedirectResponse(
        f"/ui/payouts/{month}?closed={'changed' if changed else '1'}", status_code=303
    )


# --- files --------------------------------------------------------------------------------------


def _pdf_of(html: bytes) -> bytes:
    from insats.ui.pdf import html_to_pdf

    return html_to_pdf(html)


@router.get("/ui/payouts/{month}/files/{name}")
def download(
    month: str,
    name: str,
    request: Request,
    view: str | None = None,
    session: Session = Depends(signed_in("payouts.files")),
) -> Response:
    """A closed run's file, as `GET /v1/payouts/{month}/files/{name}` gives it (a provider:
    only its own compensation basis); `underlag-….pdf` is that basis as PDF."""
    principal = session.principal
    pdf = name.endswith(".pdf")
    source = name[: -len(".pdf")] + ".html" if pdf else name
    try:
        check_month(month)
        if pdf and not source.startswith("underlag-"):
            raise NotFound("file_not_found", f"run {month} has no file {name!r}", "name")
        provider_id = principal.provider_id if principal.role == "provider" else None
        data = payments(request).file(month, source, provider_id=provider_id)
    except Refusal as exc:
        refusal = refusal_of(exc)
        assert refusal is not None
        return message_page(
            request,
            refusal.status,
            refusal.heading,
            refusal.explanation or refusal.message,
            detail=f"{refusal.code}: {refusal.message}",
        )
    if pdf:
        try:
            data = _pdf_of(data)
        except OSError as exc:  # WeasyPrint's system libraries (Pango) missing
            return message_page(
                request,
                503,
                "PDF kan inte skapas här",
                "Servern saknar det som behövs för PDF (WeasyPrint och Pango). Öppna underlaget "
                "som HTML och skriv ut det som PDF från webbläsaren.",
                detail=str(exc),
            )
        media = "application/pdf"
    else:
        suffix = source[source.rfind(".") :] if "." in source else ""
        media = MEDIA_TYPES.get(suffix, "application/octet-stream")
    inline = view is not None and (pdf or source.endswith(".html"))
    disposition = "inline" if inline else "attachment"
    headers: dict[str, str] = {
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if source.endswith(".html") and not pdf:
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        )
    return Response(content=data, media_type=media, headers=headers)


# --- the provider's own bases -------------------------------------------------------------------


@router.get("/ui/underlag", response_class=HTMLResponse)
def bases(request: Request, session: Session = Depends(signed_in("basis"))) -> HTMLResponse:
    provider_id = session.principal.provider_id or ""
    rows: list[dict[str, Any]] = []
    for run in reversed(payments(request).list_runs()):
        if provider_id in run.totals:
            rows.append(
                {
                    "month": run.month,
                    "closed_at": run.closed_at,
                    "amount": run.totals[provider_id],
                    "lines": sum(1 for line in run.lines if line.provider_id == provider_id),
                    "name": basis_name(provider_id, run.month),
                }
            )
    return page(
        request, "bases.html", title="Ersättningsunderlag", rows=rows, provider_id=provider_id
    )


__all__ = ["SECURITY_HEADERS", "router"]
