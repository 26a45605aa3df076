"""Swedish names for what the statistics show to municipal staff (reports, CSV, CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from services.statistics.figures import NO_PROVIDER, TOTAL

INSATS_NAMES: Final[dict[str, str]] = {
    "grund": "Jobbpeng grund",
    "forstarkt": "Jobbpeng förstärkt",
    "sai": "Språk- och arbetsintroduktion",
}

EXIT_REASON_NAMES: Final[dict[str, str]] = {
    "work": "arbete",
    "studies": "studier",
    "own_business": "eget företag",
    "other_insats": "annan insats",
    "moved": "flytt",
    "illness": "sjukdom",
    "other_authority": "byte av myndighet",
    "dropped_out": "avbrott",
    "other": "övrigt",
}

TARGET_GROUP_NAMES: Final[dict[str, str]] = {
    "youth": "Unga 18–24 år",
    "income_support": "Ekonomiskt bistånd",
    "newly_arrived_establishment": "Nyanlända i etableringen",
    "newly_arrived_own_housing": "Nyanlända i eget boende (EBO)",
    "family_reunification": "Anhöriginvandrare",
    "after_establishment": "Efter etableringen",
    "other": "Övriga",
}

GROUP_BY_NAMES: Final[dict[str, str]] = {
    "insats": "Insats",
    "provider": "Anordnare",
    "target_group": "Målgrupp",
}

TOTAL_NAME: Final = "Totalt"
NO_PROVIDER_NAME: Final = "Utan anordnare"

# Column headings for the figures (CSV and CLI), in output order.
FIGURE_NAMES: Final[dict[str, str]] = {
    "journeys": "Inskrivna i insats",
    "customers": "Kunder",
    "starts": "Påbörjade",
    "exits_total": "Avslut totalt",
    "self_sufficient": "Egen försörjning",
    "rate_of_journeys": "Andel egen försörjning av inskrivna",
    "rate_of_exits": "Andel egen försörjning av avslut",
    "avg_days": "Medelantal dagar till egen försörjning",
    "median_days": "Median dagar till egen försörjning",
    "sustained": "Uppföljning: kvarstår",
    "deviation": "Uppföljning: avvikelse",
    "plans_counted": "Planer att bedöma",
    "plans_on_time": "Planer i tid",
    "plans_on_time_share": "Andel planer i tid",
}


def group_label(group_by: str, key: str, provider_names: Mapping[str, str]) -> str:
    """A group's Swedish name; a provider as "Name (org. no.)" when its name is known."""
    if key == TOTAL:
        return TOTAL_NAME
    if group_by == "insats":
        return INSATS_NAMES.get(key, key)
    if group_by == "target_group":
        return TARGET_GROUP_NAMES.get(key, key)
    if key == NO_PROVIDER:
        return NO_PROVIDER_NAME
    name = provider_names.get(key)
    return f"{name} ({key})" if name else key


def decimal_comma(value: float | None, decimals: int) -> str:
    """Swedish decimal comma; empty for a missing value."""
    if value is None:
        return ""
    return f"{value:.{decimals}f}".replace(".", ",")
