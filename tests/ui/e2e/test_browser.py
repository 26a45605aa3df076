"""A counsellor, a provider, a clerk and an auditor do their whole job in a real browser, against
`insats serve` — and every page they see passes axe-core, logs no error and asks nothing of any
host but the server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import person
from tests.ui.conftest import P1, P2, Checks, Site, Visitor

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def authorise_providers(site: Site) -> None:
    """P1 and P2, authorised for every insats, as the admin records them."""
    for pid, name in ((P1, "Jobbstart AB"), (P2, "Språkbron AB")):
        r = site.api(
            "admin",
            "POST",
            "/v1/providers",
            {
                "provider_id": pid,
                "name": name,
                "insats_types": ["grund", "forstarkt", "sai"],
                "authorised_from": "2020-01-01",
                "bankgiro": "5050-1055",
            },
        )
        assert r.status_code in (200, 201), r.text


def seed(site: Site) -> None:
    """Providers and a few journeys in every state, as the case system and admin would send
    them through the API (idempotent: a second call changes nothing)."""
    if site.journeys:
        return
    authorise_providers(site)

    def journey(
        ref: str,
        birth: str,
        insats: str,
        decided: str,
        provider: str | None,
        starts: str | None,
        group: str = "other",
    ) -> str:
        r = site.api(
            "publisher",
            "POST",
            "/v1/decisions",
            {
                "external_ref": {"system": "ecos", "decision_id": ref},
                "person_id": person(birth),
                "insats": insats,
                "decided_on": decided,
                "decided_by": "kv-anna",
                "target_group": group,
            },
        )
        assert r.status_code in (200, 201), r.text
        jid = str(r.json()["journey_id"])
        if provider and starts:
            r = site.api(
                "publisher",
                "POST",
                f"/v1/journeys/{jid}/provider",
                {"provider_id": provider, "starts_on": starts},
            )
            assert r.status_code == 200, r.text
        site.journeys[ref] = jid
        return jid

    def post(jid: str, command: str, body: dict[str, Any]) -> None:
        r = site.api("publisher", "POST", f"/v1/journeys/{jid}/{command}", body)
        assert r.status_code in (200, 201), r.text

    journey("2026-0412", "1990-03-04", "grund", "2026-05-02", P1, "2026-05-04", "income_support")
    f1 = journey("2025-0901", "1975-06-07", "forstarkt", "2025-09-01", P2, "2025-10-01")
    post(f1, "plan", {"established_on": "2025-11-01"})
    s2 = journey(
        "2026-0340",
        "1988-08-09",
        "sai",
        "2026-04-01",
        P2,
        "2026-04-10",
        "newly_arrived_own_housing",
    )
    post(
        s2,
        "plan",
        {
            "established_on": "2026-04-20",
            "planned_internship_start": "2026-05-01",
            "planned_internship_share_percent": 60,
        },
    )
    journey("2026-0930", "2004-01-02", "grund", "2026-09-28", P1, "2026-10-01", "youth")
    g3 = journey("2026-0105", "1982-12-13", "grund", "2026-01-02", P1, "2026-01-05")
    post(g3, "plan", {"established_on": "2026-02-01"})
    post(
        g3,
        "exit",
        {
            "exited_on": "2026-05-10",
            "reason": "work",
            "employment_form": "permanent",
            "subsidy": "none",
        },
    )
    journey("2026-1101", "1995-05-05", "grund", "2026-11-02", None, None)


def wait_for(visitor: Visitor, path: str, text: str, tries: int = 40) -> None:
    """Reload until the read models (fed asynchronously) show `text`."""
    for _ in range(tries):
        visitor.goto(path)
        if text in visitor.page.content():
            return
        visitor.page.wait_for_timeout(250)
    raise AssertionError(f"{path} never showed {text!r}")


def test_every_role_signs_in_to_its_own_start_page_and_out_again(
    browser: Any, site: Site, checks: Checks
) -> None:
    seed(site)
    starts = {
        "counsellor": "Att göra",
        "provider1": "Att göra",
        "clerk": "Utbetalningar",
        "auditor": "Granskning",
        "admin": "Att göra",
        "publisher": "Välkommen",
    }
    anonymous = Visitor(browser, site, checks, None)
    anonymous.goto("/ui/journeys")  # redirected to the sign-in page
    assert "/ui/login" in anonymous.page.url
    anonymous.check("login")
    anonymous.page.get_by_label("API-nyckel").fill("not-a-key")
    anonymous.page.get_by_role("button", name="Logga in").click()
    assert "okänd eller återkallad" in anonymous.page.content()
    anonymous.close()

    for role, heading in starts.items():
        v = Visitor(browser, site, checks, role)
        assert heading in v.page.locator("h1").inner_text(), role
        cookie = next(c for c in v.context.cookies() if c["name"] == "insats_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
        v.check(f"start-{role}")
        v.page.get_by_role("button", name="Logga ut").click()
        v.page.wait_for_url("**/ui/login?out=1")
        assert "Du är utloggad" in v.page.content()
        # The old session cookie is worth nothing now.
        v.context.add_cookies([{**cookie}])
        v.goto("/ui/")
        assert "/ui/login" in v.page.url
        v.close()


def test_counsellor_provider_clerk_and_auditor_do_their_whole_job(
    browser: Any, site: Site, checks: Checks
) -> None:
    seed(site)
    # --- the counsellor registers a decision and the customer's provider choice ---------------
    kv = Visitor(browser, site, checks, "counsellor")
    kv.check("worklist-counsellor")
    kv.visit("/ui/journeys", "journeys-counsellor")
    kv.page.get_by_role("link", name="Registrera nytt beslut").click()
    kv.check("decision-new")
    kv.page.get_by_label("Beslutsnummer").fill("2026-0110")
    kv.page.get_by_label("Personnummer eller samordningsnummer").fill(person("1986-02-03"))
    kv.page.locator("#d-insats").select_option("sai")
    kv.page.get_by_label("Målgrupp").select_option("after_establishment")
    kv.page.get_by_label("Beslutsdatum").fill("2026-01-10")
    kv.page.get_by_role("button", name="Registrera beslut").click()
    assert "Beslutet registrerades" in kv.page.content()
    journey_url = kv.page.url.split("?")[0]
    jid = journey_url.rsplit("/", 1)[1]
    kv.page.locator("#form-provider summary").click()
    kv.page.locator("#provider-provider_id").select_option(P1)
    kv.page.locator("#provider-starts_on").fill("2026-01-20")
    kv.page.get_by_role("button", name="Registrera anordnare").click()
    assert "Anordnaren registrerades" in kv.page.content()
    kv.close()

    # --- the provider reports plan, internship, exit and the follow-up (its bonus claim) ------
    pv = Visitor(browser, site, checks, "provider1")
    pv.check("worklist-provider")
    wait_for(pv, "/ui/journeys", "2026-0110")
    pv.check("journeys-provider")
    assert "Personnummer" not in pv.page.content()
    pv.page.get_by_role("link", name="2026-0110").click()
    assert person("1986-02-03") not in pv.page.content()
    pv.page.locator("#form-plan summary").click()
    pv.page.locator("#plan-established_on").fill("2026-02-15")
    pv.page.locator("#plan-planned_internship_start").fill("2026-03-01")
    pv.page.locator("#plan-planned_internship_share_percent").fill("60")
    pv.page.get_by_role("button", name="Registrera plan").click()
    assert "Genomförandeplanen registrerades" in pv.page.content()
    pv.page.locator("#form-internship-start summary").click()
    pv.page.locator("#is-employer").fill("Nacka Bygg AB")
    pv.page.locator("#is-started_on").fill("2026-03-02")
    pv.page.locator("#is-share_percent").fill("60")
    pv.page.get_by_role("button", name="Registrera start").click()
    assert "Språkpraktiken registrerades som påbörjad" in pv.page.content()
    pv.page.locator("#form-exit summary").click()
    pv.page.locator("#ex-exited_on").fill("2026-04-10")
    pv.page.locator("#ex-reason").select_option("work")
    pv.page.locator("#ex-employment_form").select_option("fixed_term")
    pv.page.locator("#ex-contract_months").fill("12")
    pv.page.get_by_role("button", name="Registrera avslut").click()
    assert "Avslutet registrerades" in pv.page.content()
    pv.page.locator("#form-follow-up summary").click()
    pv.page.locator("#fu-followed_up_on").fill("2026-10-12")
    pv.page.locator("#fu-outcome").select_option("sustained")
    pv.page.get_by_label("Typ av underlag, rad 1").fill("anställningsintyg")
    pv.page.get_by_label("Dokumentets id, rad 1").fill("AI-2026-0457")
    pv.page.get_by_label("Datum, rad 1").fill("2026-10-09")
    pv.page.get_by_role("button", name="Registrera uppföljning").click()
    assert "Uppföljningen registrerades" in pv.page.content()
    assert "Anspråk inkommet" in pv.page.content()
    pv.check("journey-provider")
    pv.close()

    # --- the counsellor finds the claim in the worklist and approves it ----------------------
    kv = Visitor(browser, site, checks, "counsellor")
    wait_for(kv, "/ui/", "2026-0110")
    kv.check("worklist-with-claim")
    kv.page.locator("#claims").get_by_role("link", name="2026-0110").click()
    kv.page.get_by_label("Godkänn – resultatbonus betalas").check()
    kv.page.locator("#br-reviewed_on").fill("2026-10-14")
    kv.page.locator("#br-reason").fill("Anställningsintyget visar anställning till 2027-04-10.")
    kv.check("bonus-review")
    kv.page.get_by_role("button", name="Registrera granskning").click()
    assert "Granskningen av resultatbonusen registrerades" in kv.page.content()
    assert "Godkänd – betalas" in kv.page.content()
    kv.check("journey-counsellor")
    # as of a date and as known at a time
    kv.goto(f"/ui/journeys/{jid}?as_of=2026-03-01")
    assert "Du ser insatsen per" in kv.page.content() and "Registrera plan" not in kv.page.content()
    kv.check("journey-as-of")
    kv.visit("/ui/alerts?kind=duration", "alerts")
    kv.visit("/ui/statistics?from=2026-01-01&to=2026-12-31", "statistics")
    kv.page.get_by_label("Gruppering", exact=True).select_option("provider")
    kv.page.get_by_role("button", name="Visa").click()
    assert "Jobbstart AB" in kv.page.content()
    kv.check()
    kv.visit("/ui/statistics/report.html?from=2026-01-01&to=2026-12-31", "report")
    assert "Nacka kommun" in kv.page.content()
    kv.close()

    # --- the clerk previews, sees what closing would pay, closes and downloads ---------------
    cl = Visitor(browser, site, checks, "clerk")
    cl.check("payouts")
    cl.page.get_by_label("Månad", exact=True).fill("2026-10")
    cl.page.get_by_role("button", name="Förhandsgranska").click()
    wait_for(cl, "/ui/payouts/2026-10", "Resultatbonus")
    cl.check("payout-preview")
    body = cl.page.locator("main").inner_text()
    assert "18\u00a0000,00\u00a0kr" in body  # the approved bonus
    cl.page.get_by_role("link", name="Stäng 2026-10…").click()
    confirm = cl.page.get_by_role("button", name=re.compile(r"Stäng 2026-10 och betala .* kr"))
    total = re.search(r"betala (.*)\skr", confirm.inner_text())
    assert total is not None
    cl.check("payout-confirm")
    confirm.click()
    assert "Månaden är stängd" in cl.page.content()
    cl.check("payout-closed")
    names = ["payout-2026-10.csv", "payout-2026-10.si", "payout-2026-10.json"]
    for name in names:
        with cl.page.expect_download() as download:
            cl.page.get_by_role("link", name=name).click()
        data = Path(download.value.path()).read_bytes()
        api = site.api("clerk", "GET", f"/v1/payouts/2026-10/files/{name}")
        assert data == api.content, name  # the same bytes as the API gives
    basis = f"/ui/payouts/2026-10/files/underlag-{P1}-2026-10.html?view=1"
    cl.visit(basis, "basis")
    html = cl.page.content()
    assert "2026-0110" in html and "Nacka kommun" in html
    pdf = cl.context.request.get(f"/ui/payouts/2026-10/files/underlag-{P1}-2026-10.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    (site.out / "underlag.pdf").write_bytes(pdf.body())
    cl.visit("/ui/payouts/2026-09", status=409)  # after a later close: a refusal, explained
    assert "En senare månad är redan stängd" in cl.page.content()
    cl.close()

    # --- the provider sees its compensation basis ---------------------------------------------
    pv = Visitor(browser, site, checks, "provider1")
    pv.visit("/ui/underlag", "bases-provider")
    assert "2026-10" in pv.page.content()
    other = pv.context.request.get(f"/ui/payouts/2026-10/files/underlag-{P2}-2026-10.html")
    assert other.status == 403
    csv = pv.context.request.get("/ui/payouts/2026-10/files/payout-2026-10.csv")
    assert csv.status == 403
    pv.close()

    # --- the auditor reads the feed and the history, and verifies everything ----------------
    au = Visitor(browser, site, checks, "auditor")
    au.check("audit")
    au.page.get_by_label("Insats-id").fill(jid)
    au.page.get_by_role("button", name="Öppna insatsen").click()
    assert "Resultatbonus granskad" in au.page.content()
    assert "counsellor:Karin Karriärvägledare" in au.page.content()
    stamp = au.page.locator("#handelser .when .muted").nth(3).inner_text().split(" ", 1)[1]
    au.goto(f"/ui/journeys/{jid}?known_at={stamp.replace(' ', 'T')}")
    assert "så som den var känd" in au.page.content()
    au.check("journey-known-at")
    au.goto("/ui/audit")
    au.page.get_by_role("button", name="Kör verifiering nu").click()
    au.page.wait_for_selector("text=Inga avvikelser", timeout=120_000)
    au.check("audit-verified")
    au.close()


def test_a_provider_sees_only_its_own_customers(browser: Any, site: Site, checks: Checks) -> None:
    seed(site)
    theirs = site.journeys["2026-0412"]  # held by P1
    v = Visitor(browser, site, checks, "provider2")
    wait_for(v, "/ui/journeys", "2026-0340")
    assert "2026-0412" not in v.page.content()
    v.visit(f"/ui/journeys/{theirs}", status=404)
    assert "Hittades inte" in v.page.content()
    csrf = v.page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = v.context.request.post(
        f"/ui/journeys/{theirs}/plan",
        form={"csrf_token": csrf or "", "established_on": "2026-06-01"},
        headers={"Origin": site.base},
    )
    assert refused.status == 404
    assert site.api("counsellor", "GET", f"/v1/journeys/{theirs}").json()["plan"] is None
    v.close()


def test_a_post_without_the_sessions_csrf_token_is_refused(
    browser: Any, site: Site, checks: Checks
) -> None:
    seed(site)
    jid = site.journeys["2026-0412"]
    v = Visitor(browser, site, checks, "counsellor")
    before = site.api("counsellor", "GET", f"/v1/journeys/{jid}").json()["version"]
    for form in (
        {"established_on": "2026-06-01"},
        {"established_on": "2026-06-01", "csrf_token": "forged"},
    ):
        refused = v.context.request.post(
            f"/ui/journeys/{jid}/plan", form=form, headers={"Origin": site.base}
        )
        assert refused.status == 403, refused.text()
        assert "säkerhetstoken" in refused.text()
    # the right token from another site (Origin) is refused too
    v.goto(f"/ui/journeys/{jid}")
    csrf = v.page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    cross = v.context.request.post(
        f"/ui/journeys/{jid}/plan",
        headers={"Origin": "http://evil.example"},
        form={"csrf_token": csrf, "established_on": "2026-06-01"},
    )
    assert cross.status == 403
    assert site.api("counsellor", "GET", f"/v1/journeys/{jid}").json()["version"] == before
    v.close()


def test_docs_work_offline_and_authorize_takes_an_api_key(
    browser: Any, site: Site, checks: Checks
) -> None:
    v = Visitor(browser, site, checks, None)
    v.goto("/docs")
    v.page.wait_for_selector(".swagger-ui .info", timeout=30_000)
    v.screenshot("docs-start")
    v.page.locator("button.authorize").first.click()
    v.page.locator(".modal-ux input").first.fill(site.tokens["auditor"])
    v.page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
    v.page.locator(".modal-ux button.btn-done").click()
    v.screenshot("docs")
    # the token reaches the API: Swagger UI's request to /v1/rates with "Try it out"
    v.page.locator("#operations-rates-list_rates_v1_rates_get").click()
    v.page.get_by_role("button", name="Try it out").click()
    with v.page.expect_response(lambda r: "/v1/rates" in r.url) as answered:
        v.page.get_by_role("button", name="Execute").click()
    assert answered.value.status == 200
    assert checks.blocked == []
    v.close()
    assert httpx.get(f"{site.base}/docs", timeout=10).status_code == 200
