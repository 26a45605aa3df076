"""Signing in with an API key and out again (API.md "Web pages")."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from insats.ui.pages import SECURITY_HEADERS, page, same_origin, session_of, ui_state
from insats.ui.sessions import COOKIE, LOGIN_COOKIE

router = APIRouter(include_in_schema=False)

LOGIN_NONCE_SECONDS = 30 * 60


def _safe_next(target: str | None) -> str:
    """Only a path of these pages (never another site: //host or a scheme)."""
    if not target or not target.startswith("/ui") or target.startswith("//") or "\\" in target:
        return "/ui/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or ui_state(request).sessions.settings.secure_cookies


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    next_path: str = "/ui/",
    signed_out: bool = False,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    settings = ui_state(request).sessions.settings
    response = page(
        request,
        "login.html",
        status=status,
        title="Logga in",
        error=error,
        next=next_path,
        login_csrf=nonce,
        signed_out=signed_out,
        session=None,
        idle_minutes=settings.idle_seconds // 60,
        lifetime_hours=settings.lifetime_seconds // 3600,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path="/ui/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, out: str | None = None) -> Response:
    if session_of(request) is not None and not out:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_path=_safe_next(next), signed_out=bool(out))


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token") or "").strip()
    nonce = str(form.get("login_csrf") or "")
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    next_path = _safe_next(str(form.get("next") or ""))
    if not same_origin(request) or not cookie or not hmac.compare_digest(nonce, cookie):
        return _login_page(
            request,
            status=403,
            next_path=next_path,
            error="Inloggningsformuläret hade gått ut eller kom från en annan webbplats. "
            "Försök igen.",
        )
    if not token or len(token) > 500:
        return _login_page(request, status=422, next_path=next_path, error="Ange din API-nyckel.")
    from starlette.concurrency import run_in_threadpool

    created = await run_in_threadpool(ui_state(request).sessions.create, token)
    if created is None:
        return _login_page(
            request,
            status=401,
            next_path=next_path,
            error="Nyckeln är okänd eller återkallad. Kontrollera att du klistrat in hela nyckeln.",
        )
    session_id, _ = created
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=ui_state(request).sessions.settings.lifetime_seconds,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@router.api_route("/ui/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    """Ends the session (the row is deleted: the cookie is worthless afterwards, on every
    instance). GET works too, so a bookmark or a typed address signs out as API.md says."""
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(ui_state(request).sessions.end, request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/login?out=1", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
