"""Alerts (SPEC §5): traffic lights, plan, internship, follow-up, bonus-claim and provider alerts.

- `rules.evaluate(facts, as_of, providers)`: the pure rules; `dates`: every date rule, once.
- `AlertsProjection` ('alerts'): stored facts + the change feed, fed by the FeedRunner.
- `AlertsService(db)`: `alerts(as_of, ...)`, `changes(after, limit)`, `daily_scan(as_of)`.
- `DailyScheduler(service)`: the daily scan thread (a background task of the composition root).
- `api.router`, `cli.show_alerts` (the root CLI's `insats alerts`).
"""

from services.alerts.projection import AlertsProjection
from services.alerts.rules import KINDS, LEVELS, Alert, evaluate
from services.alerts.scheduler import DailyScheduler
from services.alerts.service import AlertsService, ScanResult
from services.alerts.store import AlertChange, JourneyAlert

__all__ = [
    "KINDS",
    "LEVELS",
    "Alert",
    "AlertChange",
    "AlertsProjection",
    "AlertsService",
    "DailyScheduler",
    "JourneyAlert",
    "ScanResult",
    "evaluate",
]
