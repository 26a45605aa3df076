"""Rendering the pages: the Jinja2 environment, Swedish formatting, security headers, the
signed-in guard (session, role, CSRF) and refusals shown as pages."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from insats.ui import labels
from insats.ui.permissions import allowed, may_command, navigation
from insats.ui.sessions import COOKIE, Session, Sessions
from services.platform.clock import STOCKHOLM

HERE = Path(__file__).parent
STATIC_VERSION = "2"  # bump to make browsers fetch changed assets at once

# Every page: no script from anywhere but the app, no framing, no inline script. Inline style
# attributes are allowed for matplotlib's SVG charts (their <style> element).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages hold personal data: never kept in a shared cache
}


@dataclass
class UiState:
    """What the pages keep on `app.state.ui`."""

    sessions: Sessions
    municipality: str
    extras: dict[str, Any] = field(default_factory=dict)


class UiError(Exception):
    """A page-level answer other than the page (a redirect to sign in, 403, …)."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


# --- formatting ---------------------------------------------------------------------------------


def sv_money(value: Any) -> str:
    """'2823.10' → '2 823,10 kr' (non-breaking spaces), '−' for negatives."""
    if value is None or value == "":
        return "–"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{abs(amount):,.2f}".replace(",", "\u00a0").replace(".", ",")
    return ("\u2212" if amount < 0 else "") + text + "\u00a0kr"


def sv_number(value: Any, decimals: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{float(value):,.{decimals}f}" if decimals else f"{int(value):,}"
    return text.replace(",", "\u00a0").replace(".", ",")


def sv_percent(value: Any) -> str:
    return "–" if value is None else sv_number(float(value) * 100, 1) + "\u00a0%"


def local_time(value: Any) -> str:
    """An RFC 3339 UTC timestamp as Europe/Stockholm local time, '2026-02-01 11:00'."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return str(value)
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def local_time_seconds(value: Any) -> str:
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")


def sv_date(value: Any) -> str:
    if not value:
        return "–"
    return value.isoformat() if isinstance(value, date) else str(value)


def label(mapping_name: str, key: Any) -> str:
    mapping: dict[str, str] = getattr(labels, mapping_name)
    if key is None:
        return "–"
    return mapping.get(str(key), str(key))


def short_id(value: Any) -> str:
    text = str(value or "")
    return text[:8] if len(text) > 8 else text


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    money=sv_money,
    number=sv_number,
    percent=sv_percent,
    local_time=local_time,
    local_time_seconds=local_time_seconds,
    sv_date=sv_date,
    short_id=short_id,
    urlquote=lambda v: quote(str(v), safe=""),
)
_env.globals.update(label=label, labels=labels, static_version=STATIC_VERSION)


def render_template(name: str, **context: Any) -> str:
    return _env.get_template(name).render(**context)


def svg(markup: str) -> Markup:
    """Chart SVG from our own renderer (matplotlib, text escaped by it)."""
    return Markup(markup)  # produced by matplotlib from our own data (text escaped)


def today(request: Request) -> date:
    """The service's today (the container's clock), for what the page shows as due or ended."""
    day: date = request.app.state.container.clock.today()
    return day


def ui_state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    title: str,
    session: Session | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    session = session or getattr(request.state, "ui_session", None)
    role = session.principal.role if session else None
    body = render_template(
        template,
        request=request,
        title=title,
        session=session,
        principal=session.principal if session else None,
        nav=navigation(role) if role else [],
        current_path=request.url.path,
        may=(lambda page_name: allowed(page_name, role)) if role else (lambda _: False),
        may_command=(lambda c: may_command(c, role)) if role else (lambda _: False),
        municipality=ui_state(request).municipality,
        today=today(request),
        query=lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")}),
        **context,
    )
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def message_page(
    request: Request, status: int, heading: str, text: str, *, detail: str | None = None
) -> HTMLResponse:
    return page(
        request,
        "message.html",
        status=status,
        title=heading,
        heading=heading,
        text=text,
        detail=detail,
    )


# --- the guard: signed in, allowed, CSRF --------------------------------------------------------


def session_of(request: Request) -> Session | None:
    return ui_state(request).sessions.get(request.cookies.get(COOKIE))


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/ui/login?" + urlencode({"next": target})
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": location})
    if request.method != "GET":
        return message_page(
            request,
            401,
            "Du är inte inloggad",
            "Sessionen har gått ut eller så har du loggat ut. Logga in igen; det du skickade "
            "har inte sparats.",
        )
    return RedirectResponse(location, status_code=303)


def csrf_token_of(request: Request, form: Any) -> str | None:
    value = request.headers.get("x-csrf-token")
    if value:
        return value
    field_value = form.get("csrf_token") if form is not None else None
    return field_value if isinstance(field_value, str) else None


def same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) must be this site when it sends one."""
    origin = request.headers.get("origin") or ""
    if not origin:
        referer = request.headers.get("referer") or ""
        if not referer:
            return True
        origin = "/".join(referer.split("/")[:3])
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def signed_in(page_name: str) -> Callable[[Request], Awaitable[Session]]:
    """A dependency: the request's session; redirects to sign-in without one, 403 for a role
    the permission table does not allow, and 403 for a POST without the session's CSRF token
    (the form is parsed here and kept on `request.state.form`)."""

    async def dependency(request: Request) -> Session:
        session = session_of(request)
        if session is None:
            raise UiError(_to_login(request))
        request.state.ui_session = session
        if request.method == "POST":
            form = await request.form()
            request.state.form = form
            if not same_origin(request) or not session.csrf_ok(csrf_token_of(request, form)):
                raise UiError(
                    message_page(
                        request,
                        403,
                        "Formuläret kunde inte tas emot",
                        "Formuläret saknade en giltig säkerhetstoken (CSRF). Ingenting har "
                        "sparats. Ladda om sidan och försök igen.",
                    )
                )
        if not allowed(page_name, session.principal.role):
            raise UiError(forbidden(request, session))
        return session

    return dependency


def forbidden(request: Request, session: Session) -> HTMLResponse:
    role = labels.ROLE_NAMES.get(session.principal.role, session.principal.role)
    return message_page(
        request,
        403,
        "Ingen behörighet",
        f"Din roll ({role}) har inte tillgång till den här sidan eller åtgärden.",
    )


def new_form_id() -> str:
    """A fresh id for one rendered form: sent twice (double click, resent) it records once."""
    return secrets.token_urlsafe(16)


def form_dict(request: Request) -> dict[str, str]:
    form = getattr(request.state, "form", None)
    if form is None:
        return {}
    return {k: v for k, v in form.items() if isinstance(v, str)}
