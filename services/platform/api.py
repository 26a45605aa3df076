"""HTTP plumbing shared by every service's router: errors as API.md says, and who may call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from services.platform.auth import KeyStore, Principal

# Declares the scheme in the OpenAPI document (and "Authorize" in /docs); the token itself is
# checked by `current_principal`, which answers API.md's error body rather than FastAPI's.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key made with `insats keys add`: `Authorization: Bearer <token>`.",
)


class ErrorBody(BaseModel):
    """Every refusal (API.md "Conventions")."""

    error: str
    message: str
    field: str | None


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


class ApiError(Exception):
    """A refused request: `{"error": code, "message": text, "field": name-or-null}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.field)


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: Any = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": code, "message": message, "field": field},
        headers=headers,
    )


def current_principal(request: Request) -> Principal:
    """The authenticated caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "Authorization: Bearer <token> is required")
    keys: KeyStore = request.app.state.keys
    principal = keys.authenticate(token.strip())
    if principal is None:
        raise ApiError(401, "unauthenticated", "unknown or revoked API key")
    request.state.principal = principal
    return principal


def require(*roles: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller must hold one of `roles` (403 otherwise)."""

    allowed = frozenset(roles)

    def dependency(
        request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal:
        principal = current_principal(request)
        if principal.role not in allowed:
            raise ApiError(
                403,
                "forbidden",
                f"role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}",
            )
        return principal

    return dependency
