"""Refusals. Every refused command raises one of these before anything is recorded."""

from __future__ import annotations


class DomainError(Exception):
    """A command that breaks a rule: HTTP 422 unless a subclass says otherwise."""

    status = 422

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Conflict(DomainError):
    """The command clashes with what is already recorded (HTTP 409)."""

    status = 409


class NotFound(DomainError):
    status = 404
