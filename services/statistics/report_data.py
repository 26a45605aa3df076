"""What the HTML report shows, as read by the service in one transaction (shared by the service,
which reads it, and the report, which renders it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class YearlyDays:
    """Figure 7: average days to self-sufficiency per insats for one calendar year."""

    year: int
    avg_days: dict[str, float | None]  # insats → average (1 decimal, half-up), None: no exits
    self_sufficient: dict[str, int]


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML report shows, read in one transaction."""

    period_from: date
    period_to: date
    by_insats: dict[str, Any]
    by_provider: dict[str, Any]
    by_target_group: dict[str, Any]
    yearly: list[YearlyDays]
    provider_names: dict[str, str]
    municipality: str = ""  # who publishes the report (INSATS_MUNICIPALITY_NAME)
    produced_on: date | None = None  # the day the figures were read
