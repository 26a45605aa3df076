"""The pages' permission table (insats/ui/permissions.py) against the one permission table of the
API (contracts/permissions.py). Pure: no HTTP."""

from __future__ import annotations

from contracts.permissions import PERMISSIONS, ROLES, journey_command
from insats.ui.permissions import MIRRORS, PAGES, may_command
from services.lifecycle.api import JOURNEY_COMMANDS


def test_every_page_mirrors_an_endpoint_of_the_permission_table() -> None:
    # The API side of each entry is checked by tests/platform/e2e/test_roles.py's generated matrix.
    assert sorted(set(MIRRORS.values()) - set(PERMISSIONS)) == []
    for page, operation in MIRRORS.items():
        assert PAGES[page] == PERMISSIONS[operation]
    for path in JOURNEY_COMMANDS:
        for role in ROLES:
            assert may_command(path, role) == (role in PERMISSIONS[journey_command(path)])
