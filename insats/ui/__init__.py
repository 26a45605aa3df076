"""The web pages (`/ui`, API.md "Web pages") and the offline `/docs`.

Server-rendered Swedish HTML (Jinja2) with htmx for the few partial updates, every asset served
by the app. `mount(app, container)` adds them to the API's FastAPI app; each page is built from
the same Python functions the `/v1` routers call, so a page shows exactly what the API answers.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from insats.ui import auth, docs, journeys, worklist
from insats.ui.pages import HERE, UiError, UiState, message_page
from insats.ui.refusals import refusal_of
from insats.ui.sessions import Sessions
from services.platform.municipality import municipality_name

log = logging.getLogger(__name__)

__all__ = ["mount"]


def _is_page(request: Request) -> bool:
    path = request.url.path
    return (path == "/ui" or path.startswith("/ui/")) and not path.startswith("/ui/static/")


def _refusal_page(request: Request, exc: Exception) -> Response | None:
    refusal = refusal_of(exc)
    if refusal is None:
        return None
    if refusal.status == 404 and refusal.code in ("not_found", "journey_not_found"):
        text = refusal.explanation or "Sidan finns inte."
    else:
        text = refusal.explanation or refusal.message
    response = message_page(
        request,
        refusal.status,
        refusal.heading,
        text,
        detail=f"{refusal.code}: {refusal.message}",
    )
    if refusal.status == 503:
        response.headers["Retry-After"] = "5"
    return response


def _pages_answer_in_html(app: FastAPI) -> None:
    """The app's exception handlers answer API.md's JSON; on the pages the same refusals
    answer as a page (the JSON handlers stay in force everywhere else)."""
    for exc_type, original in list(app.exception_handlers.items()):
        if not isinstance(exc_type, type) or exc_type is UiError:
            continue

        async def handler(
            request: Request,
            exc: Exception,
            original: Callable[[Request, Exception], Any] = original,
        ) -> Response:
            if _is_page(request):
                answer = _refusal_page(request, exc)
                if answer is not None:
                    return answer
            result = original(request, exc)
            if inspect.isawaitable(result):
                result = await result
            response: Response = result
            return response

        app.exception_handlers[exc_type] = handler


async def _ui_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, UiError)
    return exc.response


def mount(app: FastAPI, container: Any) -> None:
    """Add the pages, their static files and `/docs` to `app` (call it last in create_app)."""
    import fastapi_offline

    from insats.ui import audit, payouts, sandbox, statistics

    app.state.ui = UiState(
        sessions=Sessions(container.readmodel_db, app.state.keys),
        municipality=municipality_name() or "Kommunen",
    )
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    swagger = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI 5 (MIT)
    app.mount("/docs/assets", StaticFiles(directory=swagger), name="docs-assets")
    for module in (auth, worklist, journeys, payouts, audit, statistics, sandbox, docs):
        app.include_router(module.router)
    app.add_exception_handler(UiError, _ui_error)
    _pages_answer_in_html(app)
    if not municipality_name():
        log.warning(
            "INSATS_MUNICIPALITY_NAME is not set: pages, reports and payout files say "
            "'Kommunen'; set the municipality's name (deploy/README.md)"
        )
