"""HTTP plumbing shared by every service's router: errors as API.md says, and who may call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from services.platform.auth import KeyStore, Principal


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

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal.role not in allowed:
            raise ApiError(
                403,
                "forbidden",
                f"role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}",
            )
        return principal

    return dependency
