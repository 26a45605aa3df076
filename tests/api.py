"""An API client over HTTP semantics (FastAPI TestClient) on both stores, with a key per role:
the `client` and `api` fixtures of every e2e folder (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insats.bootstrap import Container
from insats.web import create_app
from services.platform.auth import KeyStore
from tests.conftest import P1, P2, P3

ROLES = ("admin", "publisher", "counsellor", "clerk", "auditor")


class Api:
    """Calls the API as one role; `as_(role)` switches."""

    def __init__(self, client: TestClient, tokens: dict[str, str], role: str = "admin"):
        self.client, self.tokens, self.role = client, tokens, role

    def as_(self, role: str) -> Api:
        return Api(self.client, self.tokens, role)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[self.role]}"}
        headers.update(extra or {})
        return headers

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self._headers(headers))

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(path, json=body, headers=self._headers(headers))


@pytest.fixture
def client(container: Container, tmp_path: Path) -> Iterator[TestClient]:
    container.keys = KeyStore(tmp_path / "keys.json")
    with TestClient(create_app(container, run_feed=False)) as c:
        yield c


@pytest.fixture
def api(client: TestClient, container: Container) -> Api:
    tokens = {role: container.keys.add(role, f"test-{role}") for role in ROLES}
    tokens["provider1"] = container.keys.add("provider", "p1-staff", P1)
    tokens["provider2"] = container.keys.add("provider", "p2-staff", P2)
    a = Api(client, tokens)
    for pid, name, types in (
        (P1, "Jobbstart AB", ["grund", "forstarkt", "sai"]),
        (P2, "Språkbron AB", ["grund", "forstarkt", "sai"]),
        (P3, "Grund Endast AB", ["grund"]),
    ):
        r = a.post(
            "/v1/providers",
            {
                "provider_id": pid,
                "name": name,
                "insats_types": types,
                "authorised_from": "2020-01-01",
                "bankgiro": "5050-1055",
            },
        )
        assert r.status_code == 201, r.text
    return a
