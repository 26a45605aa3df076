"""HTTP plumbing shared by every service's router: refusals as API.md says, and who may call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from contracts.permissions import PERMISSIONS, roles_for
from services.platform.auth import KeyStore, Principal
from services.platform.refusal import Forbidden, Invalid, Refusal, Unauthenticated


class _DeclaredBearer(HTTPBearer):
    """The bearer scheme, declared; the header is read once, by `current_principal`."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return None  # what HTTPBearer(auto_error=False) may answer; `permitted` never reads it


# Declares the scheme in the OpenAPI document (and "Authorize" in /docs); the token itself is
# checked by `current_principal`, which answers API.md's error body rather than FastAPI's.
bearer = _DeclaredBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key made with `insats keys add`: `Authorization: Bearer <token>`.",
)


class FieldError(BaseModel):
    field: str | None
    message: str


class ErrorBody(BaseModel):
    """Every refusal (API.md "Conventions"). Invalid input also lists every field at fault in
    `errors` (`field` names the first)."""

    error: str
    message: str
    field: str | None
    errors: list[FieldError] | None = None


_MEANINGS = {
    400: "Malformed request",
    401: "No valid API key",
    403: "The key's role may not do this",
    404: "Unknown id (or a journey the provider may not see)",
    408: "The request body did not arrive in time",
    409: "Conflicts with what is recorded (stale version, duplicate, closed run)",
    413: "Request body too large",
    414: "Request URL too long",
    422: "Invalid input: nothing was recorded",
    431: "Request headers too large",
    503: "A store or read model is unavailable: nothing was recorded; see Retry-After",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals an endpoint can answer."""
    return {s: {"model": ErrorBody, "description": _MEANINGS[s]} for s in statuses}


# What every authenticated endpoint can answer (414 and 431 come from the request limits).
COMMON_REFUSALS = refusals(401, 403, 414, 422, 431, 503)


def refusal_response(refusal: Refusal) -> JSONResponse:
    """A refusal as API.md's error body, with Retry-After for what is unavailable a while."""
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after is not None else None
    return JSONResponse(status_code=refusal.status, content=refusal.body(), headers=headers)


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: Any = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": code, "message": message, "field": field},
        headers=headers,
    )


# Messages that name the expected form, where pydantic's own would not ("invalid character in
# year" for a date written 01/02/2026).
_EXPECTED = {
    "date_parsing": "expected a date YYYY-MM-DD",
    "date_from_datetime_parsing": "expected a date YYYY-MM-DD",
    "date_from_datetime_inexact": "expected a date YYYY-MM-DD",
    "date_type": "expected a date YYYY-MM-DD",
    "datetime_parsing": "expected a time stamp YYYY-MM-DDTHH:MM:SSZ",
    "datetime_from_date_parsing": "expected a time stamp YYYY-MM-DDTHH:MM:SSZ",
    "datetime_type": "expected a time stamp YYYY-MM-DDTHH:MM:SSZ",
    "timezone_aware": "expected a time stamp with a time zone, e.g. 2026-05-01T12:00:00Z",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "decimal_parsing": "expected an amount such as 1234.50",
    "decimal_type": "expected an amount such as 1234.50",
    "missing": "required",
    "extra_forbidden": "not a field of this request",
}
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def field_errors(errors: Iterable[Any]) -> list[FieldError]:
    """pydantic's validation errors as API.md's fields and human messages, every one of them."""
    found = []
    for error in errors:
        kind = str(error.get("type", ""))
        if kind == "json_invalid":  # its location is a character offset, not a field
            where = next((p for p in error.get("loc", ()) if isinstance(p, int)), None)
            at = f" (at character {where})" if where is not None else ""
            found.append(FieldError(field=None, message=f"the body is not valid JSON{at}"))
            continue
        loc = [str(p) for p in error.get("loc", ()) if p not in _LOCATIONS]
        message = _EXPECTED.get(kind) or str(error.get("msg", "invalid value"))
        found.append(FieldError(field=".".join(loc) or None, message=message))
    return found


def invalid_input_response(errors: Iterable[Any]) -> JSONResponse:
    """422 invalid_input naming every field at fault."""
    fields = field_errors(errors) or [FieldError(field=None, message="invalid input")]
    message = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in fields)
    return JSONResponse(
        status_code=422,
        content={
            "error": "invalid_input",
            "message": message,
            "field": fields[0].field,
            "errors": [e.model_dump() for e in fields],
        },
    )


def current_principal(request: Request) -> Principal:
    """The authenticated caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("unauthenticated", "Authorization: Bearer <token> is required")
    keys: KeyStore = request.app.state.keys
    principal = keys.authenticate(token.strip())
    if principal is None:
        raise Unauthenticated("unauthenticated", "unknown or revoked API key")
    request.state.principal = principal
    return principal


def operation_of(request: Request) -> str:
    """The permission table's name of the endpoint serving `request`: "METHOD /path/template"."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


class _RouteEntry:
    """What `permitted` needs of a route, worked out on its first request: the roles by method
    (from the permission table) and the query parameters it declares."""

    __slots__ = ("declared", "known", "roles")

    def __init__(self, route: Any) -> None:
        self.declared = frozenset(_declared_query(getattr(route, "dependant", None)))
        self.known = ", ".join(sorted(self.declared)) or "none"
        self.roles: dict[str, frozenset[str]] = {}


# The entry is kept on the route object itself (so it lives and dies with the route; a route
# defines __eq__ and so cannot be a dict key, and an id() could be reused).
_ENTRY = "_insats_permission_entry"


def _route_entry(route: Any) -> _RouteEntry | None:
    if route is None:
        return None
    entry: _RouteEntry | None = getattr(route, _ENTRY, None)
    if entry is None:
        entry = _RouteEntry(route)
        with contextlib.suppress(AttributeError):  # without a __dict__: worked out each time
            setattr(route, _ENTRY, entry)
    return entry


def _allowed(request: Request, entry: _RouteEntry | None) -> frozenset[str]:
    if entry is None:
        return roles_for(operation_of(request))
    method = request.method
    allowed = entry.roles.get(method)
    if allowed is None:
        allowed = entry.roles[method] = roles_for(operation_of(request))  # KeyError: not cached
    return allowed


async def permitted(
    request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Principal:
    """A FastAPI dependency: the caller, if its role may call this endpoint by the permission
    table (`contracts.permissions`); 401 without a valid key, 403 for another role.

    Async, so it runs on the event loop rather than taking a worker thread per request: it does
    no I/O but a look at the keys file at most once a second (`KeyStore`)."""
    principal = current_principal(request)
    entry = _route_entry(request.scope.get("route"))
    allowed = _allowed(request, entry)
    if principal.role not in allowed:
        raise Forbidden(
            "forbidden",
            f"role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}",
        )
    _check_query(request, entry)
    return principal


def check_query(request: Request) -> None:
    """A query parameter the endpoint does not take is refused (422 naming it), never ignored:
    a misspelt filter would otherwise return the whole list as if it had matched."""
    _check_query(request, _route_entry(request.scope.get("route")))


def _check_query(request: Request, entry: _RouteEntry | None) -> None:
    if not request.scope.get("query_string"):
        return  # no parameters at all: none unknown
    if entry is None:
        declared: frozenset[str] = frozenset(_declared_query(None))
        known = ", ".join(sorted(declared)) or "none"
    else:
        declared, known = entry.declared, entry.known
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise Invalid(
            "unknown_parameter",
            f"unknown query parameter {', '.join(unknown)}; this endpoint takes: {known}",
            unknown[0],
        )


def _declared_query(dependant: Any) -> Iterator[str]:
    """The query parameters an endpoint and its dependencies declare (by alias)."""
    for param in getattr(dependant, "query_params", ()):
        yield param.alias
    for sub in getattr(dependant, "dependencies", ()):
        yield from _declared_query(sub)


def unlisted_routes(routes: Iterable[Any]) -> list[str]:
    """Endpoints guarded by `permitted` that the permission table does not name (a bug: the app
    refuses to start rather than answer 500 on the first call)."""
    missing = []
    for route in _flattened(routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or not _uses_permitted(dependant):
            continue
        for method in sorted(getattr(route, "methods", ()) or ()):
            operation = f"{method} {route.path}"
            if operation not in PERMISSIONS:
                missing.append(operation)
    return missing


def _flattened(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes, with those of included routers (FastAPI ≥ 0.16x keeps an included router as
    one route; ours are included without a prefix, so their paths are the served ones)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _flattened(included.routes)
        else:
            yield route


def _uses_permitted(dependant: Any) -> bool:
    return any(
        d.call is permitted or _uses_permitted(d) for d in getattr(dependant, "dependencies", ())
    )
