"""GET /v1/statistics and /v1/statistics/report.html (API.md): who may read, what comes back,
and which requests are refused with 422 naming the field."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.platform.api import refusal_response
from services.platform.auth import KeyStore
from services.platform.refusal import Refusal
from services.statistics.api import router
from tests.statistics.stats_given import P1, Given


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    given = Given()
    given.authorise(P1, "Ett AB")
    given.journey("2023-05-01", "2024-03-01", "work")
    given.journey("2024-02-01", insats="sai")
    application = FastAPI()
    application.add_exception_handler(Refusal, lambda r, e: refusal_response(e))
    application.include_router(router)
    keys = KeyStore(tmp_path_factory.mktemp("keys") / "keys.json")
    application.state.keys = keys
    application.state.statistics = given.service()
    application.state.tokens = {
        role: keys.add(role, f"test-{role}", P1 if role == "provider" else None)
        for role in ("admin", "publisher", "counsellor", "provider", "clerk", "auditor")
    }
    return application


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def get(client: TestClient, path: str, role: str | None = "counsellor", **params: Any) -> Any:
    tokens: dict[str, str] = client.app.state.tokens
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    return client.get(path, params=params, headers=headers)


YEAR = {"from": "2024-01-01", "to": "2024-12-31"}


@pytest.mark.parametrize("role", ["counsellor", "auditor", "admin"])
def test_counsellors_auditors_and_admins_read_the_figures(client: TestClient, role: str) -> None:
    response = get(client, "/v1/statistics", role, **YEAR)

    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"], body["group_by"]) == ("2024-01-01", "2024-12-31", "insats")
    assert list(body["groups"]) == ["grund", "forstarkt", "sai", "total"]
    total = body["groups"]["total"]
    assert total["journeys"] == 2 and total["customers"] == 2 and total["starts"] == 1
    assert total["exits"]["work"] == 1 and total["self_sufficient"] == 1
    assert total["rate_of_journeys"] == 0.5 and total["rate_of_exits"] == 1.0
    assert total["avg_days"] == 305.0 and total["median_days"] == 305.0
    assert total["follow_ups"] == {"sustained": 0, "deviation": 0}
    assert "plans_on_time_share" in total


@pytest.mark.parametrize("role", ["provider", "clerk", "publisher"])
def test_other_roles_may_not_read_statistics(client: TestClient, role: str) -> None:
    for path in ("/v1/statistics", "/v1/statistics/report.html", "/v1/statistics/report.csv"):
        response = get(client, path, role, **YEAR)
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"


def test_without_credentials_the_answer_is_401(client: TestClient) -> None:
    response = get(client, "/v1/statistics", None, **YEAR)

    assert response.status_code == 401


def test_figures_group_by_provider_and_target_group(client: TestClient) -> None:
    by_provider = get(client, "/v1/statistics", group_by="provider", **YEAR).json()
    by_target = get(client, "/v1/statistics", group_by="target_group", **YEAR).json()

    assert list(by_provider["groups"]) == [P1, "total"]
    assert by_provider["group_by"] == "provider"
    assert by_target["groups"]["income_support"]["journeys"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2024-12-31"}, "from"),
        ({"from": "2024-01-01"}, "to"),
        ({"from": "2024-13-01", "to": "2024-12-31"}, "from"),
        ({"from": "2024-01-01", "to": "31/12/2024"}, "to"),
        ({"from": "20240101", "to": "2024-12-31"}, "from"),
        ({"from": "2024-12-31", "to": "2024-01-01"}, "from"),
        ({**YEAR, "group_by": "municipality"}, "group_by"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = get(client, "/v1/statistics", **params)

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["error"] == "invalid_input"


def test_the_report_is_html_with_charts(client: TestClient) -> None:
    response = get(client, "/v1/statistics/report.html", "auditor", **YEAR)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.count("<svg") == 3
    assert "Figur 7." in response.text


def test_the_report_refuses_a_reversed_period(client: TestClient) -> None:
    response = get(
        client, "/v1/statistics/report.html", **{"from": "2025-01-01", "to": "2024-01-01"}
    )

    assert response.status_code == 422 and response.json()["field"] == "from"


def test_the_csv_export_is_a_semicolon_file_to_download(client: TestClient) -> None:
    response = get(client, "/v1/statistics/report.csv", group_by="provider", **YEAR)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "statistik-2024-01-01-2024-12-31-provider.csv" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert [row[3] for row in rows[1:]] == ["Ett AB (5560000001)", "Totalt"]
