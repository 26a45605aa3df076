"""Browser tests: `insats serve` as a real process, Debian's chromium driven by Playwright.

- The browser is `/usr/bin/chromium` (or `INSATS_TEST_CHROMIUM`); Playwright's own browser
  download is never used. Without a browser these tests skip locally and FAIL under CI=true
  (`.ci/run` installs chromium and `npm ci`s axe-core in tests/ui).
- Every request the pages make is intercepted: anything not to the server on 127.0.0.1 is
  aborted and recorded, and the test fails.
- Every page is checked with axe-core (WCAG 2.1 A/AA rules): no serious or critical violation.
- Console errors and uncaught page errors fail the test.
- Screenshots go to the test's output dir, and to docs/screenshots/ with
  INSATS_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.platform.auth import KeyStore
from tests.conftest import unavailable
from tests.serving import Served, insats_serve

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE_SOURCE = AXE.read_text(encoding="utf-8") + "\n;true" if AXE.exists() else ""
TODAY = "2026-11-23"
PERSON_KEY = "cd" * 32
P1, P2 = "5560360793", "5565475489"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def _unavailable(why: str) -> None:
    unavailable(f"browser tests need {why} (.ci/run installs it)")


def chromium_path() -> str:
    configured = os.environ.get("INSATS_TEST_CHROMIUM")
    found = configured or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        _unavailable("Debian's chromium (apt-get install chromium)")
    return found


@dataclass
class Site:
    served: Served
    tokens: dict[str, str]
    out: Path
    journeys: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.served.base

    def api(self, role: str, method: str, path: str, body: Any = None) -> httpx.Response:
        response = httpx.request(
            method,
            f"{self.base}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )
        return response


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("ui")
    keys = KeyStore(tmp / "api-keys.json")
    tokens = {
        "admin": keys.add("admin", "Anna Admin"),
        "counsellor": keys.add("counsellor", "Karin Karriärvägledare"),
        "clerk": keys.add("clerk", "Kalle Kassa"),
        "auditor": keys.add("auditor", "Greta Granskare"),
        "publisher": keys.add("publisher", "Ecos integration"),
        "provider1": keys.add("provider", "Per på Jobbstart", P1),
        "provider2": keys.add("provider", "Sara på Språkbron", P2),
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INSATS_")},
        "INSATS_TODAY": TODAY,
        "INSATS_PERSON_KEY": PERSON_KEY,
        "INSATS_API_KEYS_FILE": str(tmp / "api-keys.json"),
        "INSATS_MUNICIPALITY_NAME": "Nacka kommun",
        "INSATS_MUNICIPALITY_ORG_NO": "212000-0167",
        "PYTHONPATH": str(ROOT),
    }
    with insats_serve(["--db", str(tmp / "var" / "insats.db")], env, tmp / "server.log") as s:
        yield Site(s, tokens, tmp / "screens")


@dataclass
class Checks:
    """What every page of a test must pass: no request off the machine, no console error."""

    base: str
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked == [], f"requests that would have left 127.0.0.1: {self.blocked}"
        assert self.errors == [], f"console or page errors: {self.errors}"
        assert self.violations == [], "axe-core (WCAG 2.1 AA):\n" + "\n".join(self.violations)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python (pip install playwright)")
    if not AXE.exists():
        _unavailable(f"axe-core ({AXE}; npm ci --prefix tests/ui)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Visitor:
    """One signed-in browser context (its own cookies), checking every page it opens."""

    def __init__(self, browser: Any, site: Site, checks: Checks, role: str | None) -> None:
        self.site, self.checks, self.role = site, checks, role
        self.context = browser.new_context(
            base_url=site.base, viewport={"width": 1280, "height": 900}, locale="sv-SE"
        )
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: checks.errors.append(f"pageerror: {exc}"))
        if role is not None:
            self.sign_in(site.tokens[role])

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.site.base + "/") or url == self.site.base:
            route.continue_()
        else:
            self.checks.blocked.append(url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            text = message.text
            # A refused request the test made on purpose (403/404/409/422 pages) is logged by
            # Chromium as "Failed to load resource"; those statuses are asserted by the tests.
            if "Failed to load resource: the server responded with a status of 4" in text:
                return
            self.checks.errors.append(f"{self.page.url}: {text}")

    def sign_in(self, token: str) -> None:
        self.page.goto("/ui/login")
        self.page.get_by_label("API-nyckel").fill(token)
        self.page.get_by_role("button", name="Logga in").click()
        self.page.wait_for_url("**/ui/**")

    def goto(self, path: str, status: int = 200) -> Any:
        response = self.page.goto(path)
        assert response is not None and response.status == status, (
            f"{path}: {response.status if response else None}"
        )
        return response

    def check(self, name: str | None = None) -> None:
        """axe-core on the page as it is now; a screenshot when named."""
        # Evaluated through the DevTools protocol: the pages' CSP (script-src 'self', which
        # refuses injected <script> tags) stays in force for everything the pages do.
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE_SOURCE)
        result = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {
                  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                  resultTypes: ['violations'],
                });
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
            }"""
        )
        self.checks.pages.append(self.page.url)
        for v in result:
            if v["impact"] in ("serious", "critical"):
                self.checks.violations.append(
                    f"{self.page.url}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
                )
        if name:
            self.screenshot(name)

    def screenshot(self, name: str) -> None:
        self.site.out.mkdir(parents=True, exist_ok=True)
        target = self.site.out / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        if os.environ.get("INSATS_UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, SCREENSHOTS / f"{name}.png")

    def visit(self, path: str, name: str | None = None, status: int = 200) -> Any:
        response = self.goto(path, status)
        self.check(name)
        return response

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def checks(site: Site) -> Iterator[Checks]:
    c = Checks(site.base)
    yield c
    c.assert_clean()
    print(json.dumps({"pages_checked": len(c.pages)}), file=sys.stderr)
