"""The service's notion of today. `INSATS_TODAY` replaces the system clock's date (demos, tests)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def today() -> date:
    """Today's calendar date in Europe/Stockholm, or INSATS_TODAY when set."""
    override = os.environ.get("INSATS_TODAY", "").strip()
    if override:
        return date.fromisoformat(override)
    return datetime.now(STOCKHOLM).date()


def utcnow() -> datetime:
    return datetime.now(UTC)
