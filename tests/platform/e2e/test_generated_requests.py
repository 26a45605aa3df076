"""Generated requests against the running app's own OpenAPI document (issue 8): schemathesis
derives thousands of requests — valid, boundary and invalid values for every parameter and
body field of every operation — and each is sent over HTTP to a real server by every role and
without a key. None may answer 5xx, and a refused request (4xx) must record nothing: neither
the event log nor the payout runs may move."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from insats.bootstrap import Container, build
from insats.openapi import OPENAPI_PATH
from insats.web import create_app
from services.lifecycle.store import StoreConfig
from services.platform.auth import KeyStore
from tests.builders import authorise, decide, start
from tests.conftest import P1, P2, person
from tests.serving import free_port, wait_until_serving

ROLES = ("admin", "publisher", "counsellor", "clerk", "auditor", "provider")
EXAMPLES_PER_OPERATION = 20  # ~12 000 requests in all (7 callers each), about a minute


@dataclass
class Running:
    base_url: str
    headers: dict[str, dict[str, str]]  # role → headers ("none": no key)
    container: Container

    def state(self) -> tuple[int, int]:
        """Where the event log and the payout-runs store stand."""
        runs = self.container.services["payments"].runs
        return (
            self.container.lifecycle.max_position(),
            int(runs.recorder.max_notification_id() or 0),
        )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp: Path = tmp_path_factory.mktemp("generated")
    container = build(StoreConfig(sqlite_file=tmp / "var" / "insats.db"))
    container.keys = KeyStore(tmp / "keys.json")
    headers: dict[str, dict[str, str]] = {"none": {}}
    for role in ROLES:
        token = container.keys.add(role, f"gen-{role}", P1 if role == "provider" else None)
        headers[role] = {"Authorization": f"Bearer {token}"}
    app = container.lifecycle
    authorise(app, P1, ("grund", "sai", "forstarkt"))
    authorise(app, P2, ("grund", "sai"))
    for i in range(3):
        start(app, decide(app, f"gen-{i}", person("1980-01-01", f"{i:03d}"), insats="sai"))
    container.feed.catch_up()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container, run_feed=False), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base)
    yield Running(base, headers, container)
    server.should_exit = True
    thread.join(timeout=10)
    container.close()


# The contract checked in: a test (test_openapi_document_matches_the_running_app) keeps it
# identical to what the running app serves.
schema = schemathesis.openapi.from_path(str(OPENAPI_PATH))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests every run: a regression suite, not a lottery
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_5xx_or_changes_state_when_refused(
    case: Any, running: Running
) -> None:
    for role, headers in running.headers.items():
        before = running.state()
        response = case.call(base_url=running.base_url, headers=headers)
        status = response.status_code
        assert status < 500, (
            f"{role}: {case.method} {case.formatted_path} → {status}: {response.text[:300]}"
        )
        if status >= 400:
            assert running.state() == before, (
                f"{role}: refused {case.method} {case.formatted_path} ({status}) recorded something"
            )
