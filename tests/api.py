"""An API client over HTTP semantics (FastAPI TestClient) on both stores, with a key per role:
the `client` and `api` fixtures of every e2e folder (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insats.bootstrap import Container
from insats.web import create_app
from services.platform.auth import KeyStore
from tests.conftest import P1, P2, P3, decision_body, person

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


Post = Callable[[str, str, Any], Any]  # (role, path, body) → the response


def record_the_worked_example(post: Post, closing: Callable[[str], Any] | None = None) -> str:
    """SPEC §4.2's worked example through the API:
    an SAI journey at P1 from 2026-01-20, at P2 from 2026-03-16, out to a 12-month job on
    2026-04-10, followed up and its bonus approved in October; January to October closed."""

    def ok(role: str, path: str, body: Any) -> Any:
        r = post(role, path, body)
        assert r.status_code in (200, 201), r.text
        return r

    r = ok("publisher", "/v1/decisions", decision_body("w-001", person("1990-01-01", "001")))
    jid = str(r.json()["journey_id"])
    ok("publisher", f"/v1/journeys/{jid}/provider", {"provider_id": P1, "starts_on": "2026-01-20"})
    ok("publisher", f"/v1/journeys/{jid}/provider", {"provider_id": P2, "starts_on": "2026-03-16"})
    ok(
        "provider2",
        f"/v1/journeys/{jid}/exit",
        {
            "exited_on": "2026-04-10",
            "reason": "work",
            "employment_form": "fixed_term",
            "contract_months": 12,
        },
    )
    ok(
        "provider2",
        f"/v1/journeys/{jid}/follow-up",
        {
            "followed_up_on": "2026-10-12",
            "outcome": "sustained",
            "evidence": [{"type": "anstallningsbevis", "id": "A-1", "date": "2026-10-01"}],
        },
    )
    ok(
        "counsellor",
        f"/v1/journeys/{jid}/bonus-review",
        {"reviewed_on": "2026-10-14", "decision": "approved"},
    )
    for month in [f"2026-{m:02d}" for m in range(1, 11)]:
        (closing or (lambda m: ok("clerk", f"/v1/payouts/{m}/close", None)))(month)
    return jid
