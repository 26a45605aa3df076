"""A database that cannot answer now: 503 with Retry-After (API.md's error body), never a hang or
a 500. The exceptions are the ones psycopg, psycopg_pool, sqlite3 and eventsourcing raise for it.

Never IntegrityError: a stale stream version is how the application detects a concurrent write
(it decides again or answers 409)."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
from eventsourcing import persistence
from fastapi import Request
from fastapi.responses import JSONResponse

from services.platform.api import error_response

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# Every exception class an unavailable store surfaces as; `is_store_unavailable` decides for
# each instance (an OperationalError of SQLite also means "no such table", a programming error).
# psycopg_pool's PoolTimeout, TooManyRequests and PoolClosed are psycopg.OperationalErrors, as
# are the server's statement and lock timeouts (QueryCanceled, LockNotAvailable).
UNAVAILABLE_TYPES: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    sqlite3.OperationalError,
)


def _sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def is_store_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return _sqlite_busy(exc)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(exc, persistence.OperationalError | persistence.InterfaceError):
        # eventsourcing re-raises the driver's error as its own, `from` the original.
        cause = exc.__cause__
        if isinstance(cause, sqlite3.OperationalError):
            return _sqlite_busy(cause)
        return isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError)
    return False


def unavailable_response() -> JSONResponse:
    return error_response(
        503,
        "store_unavailable",
        "the database cannot be reached or did not answer in time; try again later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def store_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI exception handler for `UNAVAILABLE_TYPES`; other errors of those types are
    re-raised (500, logged with their traceback)."""
    if not is_store_unavailable(exc):
        raise exc
    # One line, no traceback: an outage would otherwise flood the log with identical stacks.
    log.warning("store unavailable (%s %s): %s", request.method, request.url.path, exc)
    return unavailable_response()
