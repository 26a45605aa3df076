"""Refusals: the one vocabulary every service, the API, the CLI and the pages speak.

A refused request or command raises one of these before anything is recorded. Each carries
what API.md's error body says — a machine-readable `code`, a `message` for people and the
`field` at fault — and its kind (the HTTP status it is answered with). No framework here: the
domain raises them, `insats.web` turns them into responses, the CLI into exit codes and the pages
into Swedish explanations.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Refusal(Exception):
    """A request that breaks a rule; nothing was recorded."""

    status: ClassVar[int] = 422

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, for what is unavailable for a while

    def body(self) -> dict[str, Any]:
        """API.md's error body."""
        return {"error": self.code, "message": self.message, "field": self.field}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {self.field!r})"


class Invalid(Refusal):
    """The input breaks a rule of the domain (422)."""

    status = 422


class Unauthenticated(Refusal):
    """No valid API key (401)."""

    status = 401


class Forbidden(Refusal):
    """The caller's role, or the provider it acts for, may not do this (403)."""

    status = 403


class NotFound(Refusal):
    """Unknown id, or one the caller may not see (404)."""

    status = 404


class Conflict(Refusal):
    """Clashes with what is recorded: a stale version, a duplicate, a closed run (409)."""

    status = 409


class Unavailable(Refusal):
    """A store or read model cannot answer now; ask again after `retry_after` seconds (503)."""

    status = 503
