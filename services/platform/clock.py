"""The service's notion of today and now. `INSATS_TODAY` replaces the system clock's date
(demos, tests). The composition root builds one `Clock` and hands it to everything that asks
what day it is, so a test or a replay can set the time for the whole service at once."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.platform.settings import SettingError

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def today() -> date:
    """Today's calendar date in Europe/Stockholm, or INSATS_TODAY when set."""
    override = os.environ.get("INSATS_TODAY", "").strip()
    if override:
        try:
            if len(override) == 10:
                return date.fromisoformat(override)
        except ValueError:
            pass
        raise SettingError(f"INSATS_TODAY must be a date YYYY-MM-DD, not {override!r}")
    return datetime.now(STOCKHOLM).date()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """Today's date (Europe/Stockholm: the day rules and due dates are counted in) and now (UTC:
    the time stamps recorded)."""

    today: Callable[[], date] = today
    now: Callable[[], datetime] = utcnow

    @classmethod
    def fixed(cls, day: date, moment: datetime | None = None) -> Clock:
        """A clock that always says `day` (and `moment`, default: midnight UTC of `day`)."""
        at = moment or datetime(day.year, day.month, day.day, tzinfo=UTC)
        return cls(today=lambda: day, now=lambda: at)


SYSTEM_CLOCK = Clock()
