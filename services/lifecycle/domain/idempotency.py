"""Idempotency-Key records, saved in the same transaction as the command's own events, so a
repeated request can never record its facts twice, even after a crash between the two."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.lifecycle.domain.base import stable_id


def idempotency_stream_id(actor: str, key: str) -> UUID:
    return stable_id("idempotency", actor, key)


class IdempotentRequest(Aggregate):
    class Recorded(Aggregate.Created):
        fingerprint: str
        status_code: int
        resource: dict[str, Any]

    def __init__(self, fingerprint: str, status_code: int, resource: dict[str, Any]) -> None:
        self.fingerprint = fingerprint
        self.status_code = status_code
        self.resource = dict(resource)

    @classmethod
    def record(
        cls, actor: str, key: str, fingerprint: str, status_code: int, resource: dict[str, Any]
    ) -> IdempotentRequest:
        return cls._create(
            cls.Recorded,
            id=idempotency_stream_id(actor, key),
            fingerprint=fingerprint,
            status_code=status_code,
            resource=resource,
        )
