"""Who may open which page and post which form: the web pages' one permission table.

The roles are API.md's ("Roles") and equal what the JSON API allows for the same data: a page
shows exactly what its `/v1` endpoint answers, so it may be opened by exactly the roles that
endpoint accepts (`tests/e2e/test_ui_pages.py` checks every entry against the API). Journey
commands take their roles from the API's own registry (`JOURNEY_COMMANDS`), so the pages cannot
drift from the API there.
"""

from __future__ import annotations

from typing import Final

from services.lifecycle.api import JOURNEY_COMMANDS
from services.platform.auth import ROLES

EVERYONE: Final = frozenset(ROLES)

# page (or action) → the roles that may use it; the API endpoint it mirrors in the comment.
PAGES: Final[dict[str, frozenset[str]]] = {
    "start": EVERYONE,  # /ui/: each role's own start page
    "journeys": frozenset({"admin", "publisher", "counsellor", "auditor", "provider"}),
    # ↑ GET /v1/journeys, /v1/journeys/{id}, /v1/journeys/{id}/events (a provider: its own)
    "decisions": frozenset({"publisher", "counsellor"}),  # POST /v1/decisions
    "alerts": frozenset({"counsellor", "auditor", "admin", "provider"}),  # GET /v1/alerts
    "payouts": frozenset({"clerk", "auditor", "counsellor"}),  # GET /v1/payouts[/{m}[/preview]]
    "payouts.close": frozenset({"clerk"}),  # POST /v1/payouts/{m}/close
    # GET /v1/payouts/{m}/files/{name} (a provider: only its own compensation basis)
    "payouts.files": frozenset({"clerk", "auditor", "counsellor", "provider"}),
    "basis": frozenset({"provider"}),  # its own compensation bases, month by month
    "statistics": frozenset({"counsellor", "auditor", "admin"}),  # GET /v1/statistics[/report.*]
    "audit": frozenset({"auditor", "admin"}),  # GET /v1/events
    "audit.verify": frozenset({"auditor", "admin"}),  # insats audit verify
    "providers": EVERYONE,  # GET /v1/providers (names on the pages)
}

# POST /ui/journeys/{id}/<command>: the API's own roles for POST /v1/journeys/{id}/<command>.
COMMANDS: Final[dict[str, frozenset[str]]] = {
    path: frozenset(command.roles) for path, command in JOURNEY_COMMANDS.items()
}

# The navigation: (page, path, label), shown to the roles that may open the page.
NAVIGATION: Final[tuple[tuple[str, str, str], ...]] = (
    ("start", "/ui/", "Start"),
    ("alerts", "/ui/alerts", "Bevakning"),
    ("journeys", "/ui/journeys", "Insatser"),
    ("payouts", "/ui/payouts", "Utbetalningar"),
    ("basis", "/ui/underlag", "Ersättningsunderlag"),
    ("statistics", "/ui/statistics", "Statistik"),
    ("audit", "/ui/audit", "Granskning"),
)


def allowed(page: str, role: str) -> bool:
    roles = PAGES.get(page)
    if roles is None:
        roles = COMMANDS.get(page, frozenset())
    return role in roles


def may_command(command: str, role: str) -> bool:
    return role in COMMANDS.get(command, frozenset())


def navigation(role: str) -> list[tuple[str, str, str]]:
    return [(page, path, label) for page, path, label in NAVIGATION if allowed(page, role)]
