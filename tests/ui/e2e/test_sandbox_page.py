"""The policy sandbox's page (`/ui/sandbox`, issue 15): given SPEC's worked example recorded and
closed month by month, when a clerk asks "30 days, a 20 000 bonus, förstärkt at 5 000" on the
page, then it shows what was paid, the scenario and the bonus's 2 000 of difference, gives the
API's files, and refuses a bad scenario or bad months on the page, naming the field.

Over HTTP (TestClient, both stores) and in a real browser against `insats serve` (axe-core on
every page, a screenshot of the comparison)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.permissions import ROLES
from insats import sandbox
from insats.ui.permissions import PAGES
from tests.api import Api, record_the_worked_example
from tests.payments.paybuild import QUESTION
from tests.ui.conftest import Checks, Site, Visitor
from tests.ui.e2e.test_browser import authorise_providers
from tests.ui.e2e.test_ui_pages import sign_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# The question of the issue as the page's fields (the API's QUESTION in
# tests/system/test_sandbox_end_to_end.py).
FIELDS = {
    "name": "30 dagar, 20 000 kr bonus, förstärkt 5 000 kr",
    "effective_from": "2026-01-01",
    "min_days_before_payment": "30",
    "bonus_grund": "20000",
    "bonus_forstarkt": "20 000,00",
    "bonus_sai": "20000.00",
    "monthly_forstarkt": "5000",
    "from": "2026-01",
    "to": "2026-10",
}
BASELINE, DIFFERENCE = "37\u00a0840,10", "2\u00a0000,00"  # SPEC's worked example, in kronor
UNKNOWN = '{"name": "Stavfel", "changes": [{"effective_from": "2026-01-01", "min_dayz": 3}]}'


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def closed_year(api: Api) -> str:
    return record_the_worked_example(lambda role, path, body: api.as_(role).post(path, body))


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [*(r for r in ROLES if r != "provider"), "provider1"])
def test_the_page_is_for_the_roles_of_post_v1_sandbox_runs(
    client: TestClient, api: Api, role: str
) -> None:
    csrf = sign_in(client, api.tokens[role])
    allowed = ("provider" if role == "provider1" else role) in PAGES["sandbox"]
    answer = client.get("/ui/sandbox")
    assert answer.status_code == (200 if allowed else 403), role
    start = client.get("/ui/").text
    assert ('href="/ui/sandbox"' in start) == allowed, role
    if allowed:
        assert 'for="sb-min_days_before_payment">Dagar innan ersättning' in answer.text
        # the defaults: last year's January to December, changes from its first day
        assert 'id="sb-from" name="from" type="month" value="2025-01"' in answer.text
        assert 'id="sb-to" name="to" type="month" value="2025-12"' in answer.text
        assert 'value="2025-01-01"' in answer.text and 'max="2026-11"' in answer.text
    else:
        assert "Ingen behörighet" in answer.text
        refused = client.post("/ui/sandbox", data={"csrf_token": csrf, **FIELDS})
        assert refused.status_code == 403


def test_the_question_of_the_issue_on_the_page_and_as_the_apis_files(
    client: TestClient, api: Api, closed_year: str
) -> None:
    csrf = sign_in(client, api.tokens["clerk"])
    answer = client.post("/ui/sandbox", data={"csrf_token": csrf, **FIELDS})
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert f"Baslinje {BASELINE} kr" in page and f"skillnad <strong>{DIFFERENCE} kr" in page
    assert "återger exakt det som betalades ut" in page
    assert 'role="img" aria-labelledby="sandbox-fig1"' in page
    kept = 'id="sb-min_days_before_payment" name="min_days_before_payment" type="number" value="30"'
    assert kept in page  # the form is kept filled
    api_json = api.as_("clerk").post("/v1/sandbox/runs?from=2026-01&to=2026-10", QUESTION).json()
    assert api_json["scenario"]["changes"] == QUESTION["changes"]

    files = {}
    for format in ("csv", "journeys.csv", "html", "json"):
        got = client.post("/ui/sandbox", data={"csrf_token": csrf, **FIELDS, "format": format})
        assert got.status_code == 200, (format, got.text)
        assert got.headers["content-disposition"].startswith("attachment; filename=")
        files[format] = got
    assert files["csv"].content.startswith("\ufeff".encode())
    assert "Totalt;;;37840,10;37840,10;39840,10;2000,00" in files["csv"].text
    assert closed_year in files["journeys.csv"].text
    assert "<svg" in files["html"].text and 'lang="sv"' in files["html"].text
    assert json.loads(files["json"].content) == api_json  # the API's answer, exactly


def test_a_bad_scenario_or_bad_months_are_refused_naming_the_field_and_the_form_kept(
    client: TestClient, api: Api
) -> None:
    csrf = sign_in(client, api.tokens["auditor"])

    def post(**changed: str) -> Any:
        return client.post("/ui/sandbox", data={"csrf_token": csrf, **FIELDS, **changed})

    unknown = post(scenario_json=UNKNOWN)
    assert unknown.status_code == 422
    assert "Scenariot kunde inte användas" in unknown.text
    assert "min_dayz: okänd parameter" in unknown.text
    assert 'aria-invalid="true"' in unknown.text and "&#34;min_dayz&#34;: 3" in unknown.text
    not_json = post(scenario_json="{name: x")
    assert not_json.status_code == 422 and "not valid JSON" in not_json.text

    amount = post(monthly_grund="fem tusen")
    assert amount.status_code == 422
    assert re.search(
        r'id="sb-monthly_grund"[^>]*aria-describedby="[^"]*sb-monthly_grund-error"'
        r'[^>]*aria-invalid="true"',
        amount.text,
    )
    assert "ange ett belopp i kronor" in amount.text and 'value="fem tusen"' in amount.text
    days = post(min_days_before_payment="0")
    assert days.status_code == 422 and "Dagar innan ersättning</a>: minst 1" in days.text
    bounds = post(voucher_min="9000", voucher_max="6000")
    assert bounds.status_code == 422 and "lägsta tilläggschecken är högre" in bounds.text
    nothing = post(**{k: "" for k in FIELDS if k not in ("name", "effective_from", "from", "to")})
    assert nothing.status_code == 422 and "Scenariot ändrar ingenting" in nothing.text

    future = post(to="2099-12")
    assert future.status_code == 422 and "Ogiltig månad" in future.text
    assert 'id="sb-to-error"' in future.text and "Till och med månad</strong>" in future.text
    known = post(known_at="i går")
    assert known.status_code == 422 and 'id="sb-known_at-error"' in known.text

    without_token = client.post("/ui/sandbox", data=FIELDS)
    assert without_token.status_code == 403 and "säkerhetstoken" in without_token.text


def test_a_second_run_while_one_is_computed_is_asked_to_come_back(
    client: TestClient, api: Api
) -> None:
    csrf = sign_in(client, api.tokens["counsellor"])
    with sandbox._one_at_a_time():
        busy = client.post("/ui/sandbox", data={"csrf_token": csrf, **FIELDS})
    assert busy.status_code == 503 and busy.headers["retry-after"] == "30"
    assert "Sandlådan räknar redan" in busy.text and 'value="30"' in busy.text


# --- in the browser ------------------------------------------------------------------------------


def set_up(site: Site) -> None:
    authorise_providers(site)

    def close(month: str) -> None:
        # the server's read models follow the log on their own: a close may come before them
        for _ in range(100):
            r = site.api("clerk", "POST", f"/v1/payouts/{month}/close")
            if r.status_code in (200, 201):
                return
            assert r.status_code in (409, 503), r.text
            time.sleep(0.1)
        raise AssertionError(f"{month} never closed: {r.text}")

    record_the_worked_example(lambda role, path, body: site.api(role, "POST", path, body), close)


def test_a_clerk_asks_the_sandbox_the_question_of_the_issue(
    browser: Any, site: Site, checks: Checks
) -> None:
    set_up(site)
    cl = Visitor(browser, site, checks, "clerk")
    cl.page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Sandlåda").click()
    cl.page.wait_for_url("**/ui/sandbox")
    cl.check("sandbox-form")
    cl.page.get_by_label("Scenariots namn").fill(FIELDS["name"])
    cl.page.get_by_label("Ändringarna gäller från").fill("2026-01-01")
    cl.page.get_by_label("Dagar innan ersättning").fill("30")
    for insats in ("grund", "forstarkt", "sai"):
        cl.page.locator(f"#sb-bonus_{insats}").fill("20000")
    cl.page.locator("#sb-monthly_forstarkt").fill("5000")
    cl.page.get_by_label("Från och med månad").fill("2026-01")
    cl.page.get_by_label("Till och med månad").fill("2026-10")
    cl.page.get_by_role("button", name="Räkna om").click()
    cl.page.wait_for_selector("#result-h")
    result = cl.page.locator("main").inner_text()
    assert f"Baslinje {BASELINE} kr" in result, result[:2000]
    assert f"skillnad {DIFFERENCE} kr" in result
    assert "39\u00a0840,10" in result  # the scenario
    cl.check("sandbox")

    with cl.page.expect_download() as download:
        cl.page.get_by_role("button", name="CSV per månad, anordnare och insats").click()
    assert download.value.suggested_filename == "sandbox-2026-01-2026-10.csv"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    assert "Totalt;;;37840,10;37840,10;39840,10;2000,00" in data.decode("utf-8")

    # a misspelt parameter in the advanced box: refused, naming it, and the page still works
    cl.page.get_by_text("Avancerat: hela scenariot som JSON").click()
    cl.page.get_by_label("Hela scenariot som JSON").fill(UNKNOWN)
    with cl.page.expect_response(lambda r: r.url.endswith("/ui/sandbox")) as answered:
        cl.page.get_by_role("button", name="Räkna om").click()
    assert answered.value.status == 422
    refusal = cl.page.locator("#refusal").inner_text()
    assert "Scenariot kunde inte användas" in refusal and "min_dayz" in refusal
    assert "min_dayz: okänd parameter" in cl.page.locator("#sb-scenario_json-error").inner_text()
    assert cl.page.get_by_label("Hela scenariot som JSON").input_value() == UNKNOWN
    cl.check("sandbox-refused")
    cl.page.get_by_label("Hela scenariot som JSON").fill("")
    cl.page.get_by_role("button", name="Räkna om").click()
    cl.page.wait_for_selector("#result-h")
    assert DIFFERENCE in cl.page.locator("main").inner_text()
    cl.close()

    pv = Visitor(browser, site, checks, "provider1")
    assert pv.page.get_by_role("link", name="Sandlåda").count() == 0
    pv.visit("/ui/sandbox", status=403)
    assert "Ingen behörighet" in pv.page.content()
    pv.close()
