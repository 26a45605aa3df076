"""The payout endpoints of API.md, end to end through FastAPI: roles, errors, files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.payments.api import router
from services.platform.api import refusal_response
from services.platform.auth import KeyStore
from services.platform.refusal import Refusal
from tests.payments.paybuild import P1, P2, Log, Wired, wire


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str], wired: Wired):
        self.client = client
        self.tokens = tokens
        self.wired = wired

    def get(self, path: str, as_: str) -> object:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[as_]}"})

    def post(self, path: str, as_: str) -> object:
        return self.client.post(path, headers={"Authorization": f"Bearer {self.tokens[as_]}"})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    log = Log()
    log.default_rates()
    log.provider(P1, "Jobbhjälpen AB", bankgiro="5050-1055")
    log.provider(P2, "Framtidsvägen AB", iban="SE4550000000058398257466")
    log.decision("j1", "sai", "2026-01-12")
    log.chosen("j1", P1, "2026-01-20")
    log.decision("j2", "grund", "2026-01-12")
    log.chosen("j2", P2, "2026-01-01")
    wired = wire(tmp_path, log, today="2026-02-15")
    keys = KeyStore(tmp_path / "keys.json")
    tokens = {
        "clerk": keys.add("clerk", "ekonom"),
        "auditor": keys.add("auditor", "revisor"),
        "counsellor": keys.add("counsellor", "kv"),
        "publisher": keys.add("publisher", "system"),
        "admin": keys.add("admin", "admin"),
        "p1": keys.add("provider", "p1", provider_id=P1),
        "p2": keys.add("provider", "p2", provider_id=P2),
    }
    app = FastAPI()
    app.add_exception_handler(Refusal, lambda r, e: refusal_response(e))  # type: ignore[arg-type, return-value]
    app.state.keys = keys
    app.state.payments = wired.service
    app.include_router(router)
    with TestClient(app) as client:
        yield Api(client, tokens, wired)


def test_a_clerk_previews_a_month_with_money_as_strings(api: Api) -> None:
    r = api.get("/v1/payouts/2026-02/preview", "clerk")
    assert r.status_code == 200
    run = r.json()
    assert run["month"] == "2026-02" and run["status"] == "preview"
    assert run["closed_at"] is None and run["files"] is None
    assert run["lines"][0] == {
        "period": "2026-01",
        "provider_id": P1,
        "journey_id": "j1",
        "insats": "sai",
        "type": "monthly",
        "voucher_id": None,
        "days": 12,
        "rate": "7293.00",
        "amount": "2823.10",
    }
    assert run["totals"] == {P1: "10116.10", P2: "7372.00"}
    assert run["total"] == "17488.10"
    assert run["position"] == api.wired.log.position


def test_a_clerk_closes_a_month_and_gets_the_same_run_again(api: Api) -> None:
    closed = api.post("/v1/payouts/2026-01/close", "clerk")
    assert closed.status_code == 200
    body = closed.json()
    assert body["status"] == "closed" and body["closed_at"].endswith("Z")
    assert set(body["files"]) == {
        "payout-2026-01.csv",
        "payout-2026-01.json",
        "payout-2026-01.si",
        f"underlag-{P2}-2026-01.html",
    }
    assert api.post("/v1/payouts/2026-01/close", "clerk").json() == body
    assert api.get("/v1/payouts/2026-01", "auditor").json() == body
    listed = api.get("/v1/payouts", "counsellor").json()["runs"]
    assert [(r["month"], r["total"]) for r in listed] == [("2026-01", body["total"])]


def test_closing_a_month_that_has_not_ended_is_a_conflict(api: Api) -> None:
    r = api.post("/v1/payouts/2026-02/close", "clerk")
    assert r.status_code == 409
    assert r.json()["error"] == "month_not_ended"


def test_closing_before_a_later_closed_month_is_a_conflict(api: Api) -> None:
    assert api.post("/v1/payouts/2026-01/close", "clerk").status_code == 200
    api.wired.clock.day = api.wired.clock.day.replace(month=12)
    assert api.post("/v1/payouts/2026-03/close", "clerk").status_code == 200
    r = api.post("/v1/payouts/2026-02/close", "clerk")
    assert r.status_code == 409 and r.json()["error"] == "later_month_closed"


def test_a_malformed_month_is_invalid_input(api: Api) -> None:
    for path in ("/v1/payouts/2026-13/preview", "/v1/payouts/202601", "/v1/payouts/x/files/a"):
        r = api.get(path, "clerk")
        assert r.status_code == 422, path
        assert r.json() == {
            "error": "invalid_month",
            "message": r.json()["message"],
            "field": "month",
        }


def test_unknown_runs_and_files_are_not_found(api: Api) -> None:
    assert api.get("/v1/payouts/2026-01", "clerk").json()["error"] == "run_not_found"
    assert api.get("/v1/payouts/2026-01", "clerk").status_code == 404
    api.post("/v1/payouts/2026-01/close", "clerk")
    r = api.get("/v1/payouts/2026-01/files/payout-2026-01.xlsx", "clerk")
    assert r.status_code == 404 and r.json()["error"] == "file_not_found"


def test_a_missing_rate_is_refused_naming_insats_and_month(api: Api) -> None:
    api.wired.log.rates("2026-02-01", grund=None)
    api.wired.publish()
    r = api.get("/v1/payouts/2026-02/preview", "clerk")
    assert r.status_code == 422
    assert r.json()["error"] == "rate_missing"
    assert "grund" in r.json()["message"] and "2026-02" in r.json()["message"]


def test_roles(api: Api) -> None:
    assert api.get("/v1/payouts/2026-01/preview", "auditor").status_code == 200
    assert api.get("/v1/payouts/2026-01/preview", "counsellor").status_code == 200
    for role in ("p1", "publisher", "admin"):
        assert api.get("/v1/payouts/2026-01/preview", role).status_code == 403
    for role in ("auditor", "counsellor", "p1", "publisher"):
        r = api.post("/v1/payouts/2026-01/close", role)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert api.client.get("/v1/payouts/2026-01/preview").status_code == 401


def test_downloads_are_the_files_whose_hashes_the_run_holds(api: Api) -> None:
    run = api.post("/v1/payouts/2026-01/close", "clerk").json()
    for name, digest in run["files"].items():
        r = api.get(f"/v1/payouts/2026-01/files/{name}", "auditor")
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == digest
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
    r = api.get("/v1/payouts/2026-01/files/payout-2026-01.csv", "clerk")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Period", "Anordnare org.nr", "Anordnare"]
    assert rows[1] == [
        "2026-01",
        P2,
        "Framtidsvägen AB",
        "j2",
        "Jobbpeng grund",
        "Löpande ersättning",
        "",
        "31",
        "3686,00",
        "3686,00",
    ]
    assert rows[-1][0] == "Summa totalt" and rows[-1][-1] == "3686,00"
    document = json.loads(api.get("/v1/payouts/2026-01/files/payout-2026-01.json", "clerk").content)
    assert document["total"] == "3686.00"


def test_a_provider_downloads_only_its_own_basis(api: Api) -> None:
    api.wired.clock.day = api.wired.clock.day.replace(month=3, day=1)
    api.post("/v1/payouts/2026-02/close", "clerk")
    own = api.get(f"/v1/payouts/2026-02/files/underlag-{P1}-2026-02.html", "p1")
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/html")
    assert "Jobbhjälpen AB" in own.text and "5050-1055" in own.text
    other = api.get(f"/v1/payouts/2026-02/files/underlag-{P2}-2026-02.html", "p1")
    assert other.status_code == 403
    for name in ("payout-2026-02.csv", "payout-2026-02.json", "payout-2026-02.si"):
        assert api.get(f"/v1/payouts/2026-02/files/{name}", "p1").status_code == 403
    assert api.get("/v1/payouts/2026-02", "p1").status_code == 403
