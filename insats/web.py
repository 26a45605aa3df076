"""The FastAPI application: every service's router, errors as API.md says, health and metrics."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from insats.bootstrap import Container
from insats.ui import mount as mount_ui
from services.lifecycle.api import router as lifecycle_router
from services.platform.api import (
    error_response,
    invalid_input_response,
    permitted,
    refusal_response,
    unlisted_routes,
)
from services.platform.auth import Principal
from services.platform.limits import RequestLimits, bounded
from services.platform.outage import UNAVAILABLE_TYPES, store_unavailable_handler
from services.platform.refusal import Refusal

API_TITLE = "insats"
API_VERSION = "1.0.0"


def create_app(
    container: Container, *, run_feed: bool = True, limits: RequestLimits | None = None
) -> FastAPI:
    limits = limits or RequestLimits.from_env()
    # Readiness probes get threads of their own: the default pool (~40 threads) runs the sync
    # endpoints, and during an outage all of them may be waiting on the database.
    probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The container's background tasks (feed, daily alert scan) run in this process unless
        # a separate `insats worker` runs them (`insats serve --no-projections`).
        if run_feed:
            container.start()
        try:
            yield
        finally:
            container.stop()

    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description="Insatser under kundval: journeys, payouts, alerts and statistics (API v1).",
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline by insats.ui (no CDN)
    )
    app.state.container = container
    app.state.lifecycle = container.lifecycle
    app.state.readmodel_db = container.readmodel_db
    app.state.keys = container.keys
    app.state.feed = container.feed
    for name, service in container.services.items():
        setattr(app.state, name, service)

    registry = CollectorRegistry()
    requests = Counter(
        "insats_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "insats_http_request_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
    )
    positions = Gauge(
        "insats_readmodel_position",
        "Last event position applied",
        ["readmodel"],
        registry=registry,
    )
    head = Gauge(
        "insats_event_log_position",
        "Position of the last public event in the log (a caught-up read model is there)",
        registry=registry,
    )
    stopped = Gauge(
        "insats_readmodel_stopped",
        "1 while a read model is stopped on an event it cannot apply",
        ["readmodel"],
        registry=registry,
    )
    from services.platform.kafka.metrics import KafkaCollector  # kafka (issue 10)

    registry.register(KafkaCollector(container))

    def measured(inner: ASGIApp) -> ASGIApp:
        """Counts and times requests per route template (never per raw path: no ids, no
        personnummer in label values)."""
        # The labelled children by label values, so a request does not look them up (and
        # validate and lock) in the metric again; the same children `labels()` returns.
        counted: dict[tuple[str, str, str], Any] = {}
        timed: dict[tuple[str, str], Any] = {}
        clock = time.perf_counter

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            started = clock()
            code = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal code
                if message["type"] == "http.response.start":
                    code = message["status"]
                await send(message)

            try:
                await inner(scope, receive, send_wrapper)
            finally:
                elapsed = clock() - started
                method = scope["method"]
                path = getattr(scope.get("route"), "path", "unmatched")
                key = (method, path, str(code))
                counter = counted.get(key)
                if counter is None:
                    counter = counted[key] = requests.labels(*key)
                counter.inc()
                timer = timed.get(key[:2])
                if timer is None:
                    timer = timed[key[:2]] = latency.labels(method, path)
                timer.observe(elapsed)

        return middleware

    # Added first, so it runs inside `measured` (refusals are counted) and before any route,
    # authentication or body parsing.
    app.add_middleware(_wrapped, wrap=functools.partial(bounded, limits=limits))
    app.add_middleware(_wrapped, wrap=measured)

    @app.exception_handler(Refusal)
    async def refused(_: Request, exc: Refusal) -> JSONResponse:
        return refusal_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_input_response(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    for unavailable in UNAVAILABLE_TYPES:
        app.add_exception_handler(unavailable, store_unavailable_handler)

    # Liveness: async and without dependencies, so it runs on the event loop and answers even
    # when every worker thread waits on the database (a sync endpoint would queue behind them).
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        loop = asyncio.get_running_loop()
        deadline = container.config.timeouts.readiness + 1.0  # the probe's own timeouts + slack
        try:
            status, body = await asyncio.wait_for(
                loop.run_in_executor(probes, readiness, container), timeout=deadline
            )
        except TimeoutError:
            status, body = 503, {"status": "unavailable", "detail": "the store did not answer"}
        return JSONResponse(status_code=status, content=body)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics(
        _: Principal = Depends(permitted),
    ) -> Response:
        failed = container.failures()
        for name, pos in container.positions().items():
            positions.labels(name).set(pos)
            stopped.labels(name).set(1 if name in failed else 0)
        head.set(container.source.max_position())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(lifecycle_router)
    for router in _service_routers(container):
        app.include_router(router)
    mount_ui(app, container)  # the web pages (/ui) and /docs; after the handlers above
    unlisted = unlisted_routes(app.routes)
    if unlisted:
        raise RuntimeError(
            f"endpoints missing from the permission table (contracts.permissions): {unlisted}"
        )
    return app


def readiness(container: Container) -> tuple[int, dict[str, Any]]:
    """`/readyz`'s answer: ready when the stores answer a short probe of their own; degraded
    (still 200: the API and the other read models serve) while a read model is stopped."""
    try:
        container.config.probe()
        stopped = container.failures()
    except Exception as exc:  # any store failure means not ready
        return 503, {"status": "unavailable", "detail": f"{type(exc).__name__}: {exc}"}
    if stopped:
        return 200, {
            "status": "degraded",
            "read_models": {name: failure.describe() for name, failure in sorted(stopped.items())},
        }
    return 200, {"status": "ready"}


def _wrapped(app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> ASGIApp:
    """Adapts a function that wraps an ASGI app to Starlette's middleware signature (a factory
    called with the app inside); the wrapped app is the middleware itself, no layer between."""
    return wrap(app)


def _service_routers(container: Container) -> list[Any]:
    from insats.sandbox.api import router as sandbox_router
    from services.alerts.api import router as alerts_router
    from services.payments.api import router as payments_router
    from services.statistics.api import router as statistics_router
    from services.transparency.api import router as transparency_router

    return [payments_router, alerts_router, statistics_router, transparency_router, sandbox_router]
