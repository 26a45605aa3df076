"""Who runs the service: the municipality's name and organisation number (configuration).

`INSATS_MUNICIPALITY_NAME` and `INSATS_MUNICIPALITY_ORG_NO` name the municipality on the web
pages, the statistics report and, unless `INSATS_PAYOUT_ORGANISATION` / `_ORGANISATION_NO`
say otherwise, the payout files (SIE `#FNAMN` / `#ORGNR`, "Utfärdare" on the compensation
basis). A closed payout run keeps the names it was closed with (its files never change).
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def municipality_name(env: Mapping[str, str] | None = None) -> str:
    source = os.environ if env is None else env
    return (
        source.get("INSATS_MUNICIPALITY_NAME") or source.get("INSATS_PAYOUT_ORGANISATION") or ""
    ).strip()


def municipality_org_no(env: Mapping[str, str] | None = None) -> str:
    source = os.environ if env is None else env
    return (
        source.get("INSATS_MUNICIPALITY_ORG_NO")
        or source.get("INSATS_PAYOUT_ORGANISATION_NO")
        or ""
    ).strip()
