"""Who may open which page and post which form — from the one permission table.

A page shows exactly what its `/v1` endpoint answers, so it may be opened by exactly the roles
that endpoint accepts: each page names the endpoint it mirrors and takes that endpoint's roles
from `contracts.permissions` (a journey command's form: its `POST /v1/journeys/{id}/<command>`).
The few pages without an endpoint of their own are the table's `PAGE_ONLY` entries.
"""

from __future__ import annotations

from typing import Final

from contracts.permissions import PAGE_ONLY, PERMISSIONS, journey_command

# page (or action) → the endpoint it mirrors.
MIRRORS: Final[dict[str, str]] = {
    # GET /v1/journeys, /v1/journeys/{id}, /v1/journeys/{id}/events (a provider: its own)
    "journeys": "GET /v1/journeys",
    "decisions": "POST /v1/decisions",
    "alerts": "GET /v1/alerts",
    "payouts": "GET /v1/payouts",  # and /v1/payouts/{m}[/preview]
    "payouts.close": "POST /v1/payouts/{month}/close",
    # a provider: only its own compensation basis
    "payouts.files": "GET /v1/payouts/{month}/files/{name}",
    "statistics": "GET /v1/statistics",  # and /v1/statistics/report.*
    "sandbox": "POST /v1/sandbox/runs",  # the page runs it, and gives its files
    "audit": "GET /v1/events",
    "providers": "GET /v1/providers",  # names on the pages
}

PAGES: Final[dict[str, frozenset[str]]] = {
    **{page: PERMISSIONS[operation] for page, operation in MIRRORS.items()},
    **PAGE_ONLY,
}

# The navigation: (page, path, label), shown to the roles that may open the page.
NAVIGATION: Final[tuple[tuple[str, str, str], ...]] = (
    ("start", "/ui/", "Start"),
    ("alerts", "/ui/alerts", "Bevakning"),
    ("journeys", "/ui/journeys", "Insatser"),
    ("payouts", "/ui/payouts", "Utbetalningar"),
    ("basis", "/ui/underlag", "Ersättningsunderlag"),
    ("statistics", "/ui/statistics", "Statistik"),
    ("sandbox", "/ui/sandbox", "Sandlåda"),
    ("audit", "/ui/audit", "Granskning"),
)


def may_command(command: str, role: str) -> bool:
    """May `role` post the journey command `command` (its path, e.g. "plan")?"""
    return role in PERMISSIONS.get(journey_command(command), frozenset())


def allowed(page: str, role: str) -> bool:
    roles = PAGES.get(page)
    if roles is None:
        return may_command(page, role)
    return role in roles


def navigation(role: str) -> list[tuple[str, str, str]]:
    return [(page, path, label) for page, path, label in NAVIGATION if allowed(page, role)]
