"""Who may call what (API.md "Roles"): the one permission table.

Every endpoint of the HTTP API is named here by method and path template, with the roles that
may call it; the routers look their endpoint up (`services.platform.api.permitted`), the web
pages take the roles of the endpoint they mirror, and the role × endpoint test matrix is
generated from this table. An endpoint missing here cannot be served (the app refuses to start),
and an entry no route serves fails the tests.

A provider's *scope* — journeys it holds or held, acting only on those it holds — is a rule of
the data, not of the endpoint, and lives with the journey (`Journey.check_scope` in
`services.lifecycle.domain.journey`, over the facts' `contracts.journey` holder rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

Role = Literal["admin", "publisher", "counsellor", "provider", "clerk", "auditor"]
ROLES: Final[tuple[Role, ...]] = (
    "admin",
    "publisher",
    "counsellor",
    "provider",
    "clerk",
    "auditor",
)

# Roles that may see person_id (API.md "Privacy").
SEES_PERSON_ID: Final = frozenset({"admin", "publisher", "counsellor", "auditor"})

EVERYONE: Final = frozenset(ROLES)
JOURNEY_READERS: Final = frozenset({"admin", "publisher", "counsellor", "auditor", "provider"})
FACT_WRITERS: Final = frozenset({"publisher", "counsellor"})
# Facts the provider holding the journey reports itself (SPEC §3: plan, internship, exit,
# follow-up).
PROVIDER_FACT_WRITERS: Final = FACT_WRITERS | {"provider"}
PAYOUT_READERS: Final = frozenset({"clerk", "auditor", "counsellor"})
ALERT_READERS: Final = frozenset({"counsellor", "auditor", "admin", "provider"})
STATISTICS_READERS: Final = frozenset({"counsellor", "auditor", "admin"})
AUDITORS: Final = frozenset({"auditor", "admin"})
# The policy sandbox (docs/sandbox.md): the clerks who pay and those who read the statistics.
SANDBOX_USERS: Final = PAYOUT_READERS | STATISTICS_READERS

_JOURNEY = "/v1/journeys/{journey_id}"

# "METHOD /path/template" → the roles that may call it.
PERMISSIONS: Final[Mapping[str, frozenset[str]]] = {
    # providers and rates
    "POST /v1/providers": frozenset({"admin"}),
    "POST /v1/providers/{provider_id}/deauthorisation": frozenset({"admin"}),
    "POST /v1/providers/{provider_id}/details": frozenset({"admin"}),
    "GET /v1/providers": EVERYONE,
    "GET /v1/providers/{provider_id}": EVERYONE,
    "POST /v1/rates": frozenset({"admin"}),
    "GET /v1/rates": EVERYONE,
    # decisions and journey facts
    "POST /v1/decisions": FACT_WRITERS,
    f"POST {_JOURNEY}/provider": FACT_WRITERS,
    f"POST {_JOURNEY}/plan": PROVIDER_FACT_WRITERS,
    f"POST {_JOURNEY}/internship/start": PROVIDER_FACT_WRITERS,
    f"POST {_JOURNEY}/internship/end": PROVIDER_FACT_WRITERS,
    f"POST {_JOURNEY}/vouchers": FACT_WRITERS,
    f"POST {_JOURNEY}/exit": PROVIDER_FACT_WRITERS,
    f"POST {_JOURNEY}/follow-up": PROVIDER_FACT_WRITERS,
    f"POST {_JOURNEY}/bonus-review": frozenset({"counsellor"}),
    f"POST {_JOURNEY}/withdrawal": FACT_WRITERS,
    f"POST {_JOURNEY}/corrections": FACT_WRITERS,
    # journey reads (a provider: journeys it holds or held)
    f"GET {_JOURNEY}": JOURNEY_READERS,
    f"GET {_JOURNEY}/events": JOURNEY_READERS,
    "GET /v1/journeys": JOURNEY_READERS,
    # payouts (a provider: only its own compensation basis)
    "GET /v1/payouts": PAYOUT_READERS,
    "GET /v1/payouts/{month}/preview": PAYOUT_READERS,
    "POST /v1/payouts/{month}/close": frozenset({"clerk"}),
    "GET /v1/payouts/{month}": PAYOUT_READERS,
    "GET /v1/payouts/{month}/files/{name}": PAYOUT_READERS | {"provider"},
    # alerts (a provider: its own journeys) and statistics
    "GET /v1/alerts": ALERT_READERS,
    "GET /v1/alerts/changes": ALERT_READERS,
    "GET /v1/statistics": STATISTICS_READERS,
    "GET /v1/statistics/report.html": STATISTICS_READERS,
    "GET /v1/statistics/report.csv": STATISTICS_READERS,
    # the policy sandbox: past months under another rate table or rule (writes nothing)
    "POST /v1/sandbox/runs": SANDBOX_USERS,
    # audit and operations
    "GET /v1/events": AUDITORS,
    # the tamper-evident log (docs/audit.md): hashes and signed tree heads, no personal data
    "GET /v1/audit/checkpoints": EVERYONE,
    "GET /v1/audit/checkpoint": EVERYONE,
    "POST /v1/audit/checkpoints": AUDITORS,
    "GET /v1/audit/proofs/inclusion": EVERYONE,
    "GET /v1/audit/proofs/consistency": EVERYONE,
    "GET /v1/audit/leaves": AUDITORS,
    "GET /v1/audit/checkpoints/{checkpoint_id}/note": EVERYONE,
    "POST /v1/audit/cosignatures": AUDITORS,  # a witness's token (docs/audit.md)
    "GET /metrics": frozenset({"admin", "auditor", "clerk", "counsellor"}),
}

# What the web pages offer beyond the endpoints they mirror (they take those endpoints' roles).
PAGE_ONLY: Final[Mapping[str, frozenset[str]]] = {
    "start": EVERYONE,  # /ui/: each role's own start page
    "basis": frozenset({"provider"}),  # a provider's own compensation bases, month by month
    "audit.verify": AUDITORS,  # `insats audit verify` from the audit page
}


def roles_for(operation: str) -> frozenset[str]:
    """The roles that may call `operation` ("METHOD /path/template"); KeyError if unknown."""
    return PERMISSIONS[operation]


def journey_command(path: str) -> str:
    """The operation of `POST /v1/journeys/{journey_id}/<path>`."""
    return f"POST {_JOURNEY}/{path}"
