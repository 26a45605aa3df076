"""The alerts service: alerts for any date, the change feed and the daily scan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from contracts import journey as model
from services.alerts import store
from services.alerts.projection import AlertsProjection
from services.alerts.rules import KINDS, LEVELS
from services.alerts.store import AlertChange, JourneyAlert
from services.platform import clock
from services.platform.db import Database
from services.platform.feed import require_running, setup_tables
from services.platform.refusal import Invalid

MAX_CHANGES_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ScanResult:
    as_of: date
    journeys: int
    changes: list[AlertChange]


def sort_key(alert: JourneyAlert) -> tuple[int, int, str, str]:
    """Kind (in the order of docs/alerts.md), the reddest light first, then longest-standing
    first, then journey."""
    severity = -LEVELS.index(alert.level) if alert.level in LEVELS else 0
    return (KINDS.index(alert.kind), severity, alert.since.isoformat(), alert.journey_id)


class AlertsService:
    """Reads and records alerts in `db` (the same database the 'alerts' projection writes)."""

    def __init__(
        self,
        db: Database,
        *,
        today: Callable[[], date] = clock.today,
        now: Callable[[], datetime] = clock.utcnow,
    ):
        self.db = db
        self.today = today
        self.now = now
        with db.transaction() as tx:
            setup_tables(tx)
            store.setup(tx)

    def projection(self, head: Callable[[], int] | None = None) -> AlertsProjection:
        """The projection to give the FeedRunner; `head` = the source's `max_position`."""
        return AlertsProjection(today=self.today, head=head)

    # --- reading ---------------------------------------------------------------------------------

    def alerts(
        self,
        as_of: date,
        kind: str | None = None,
        level: str | None = None,
        provider_id: str | None = None,
        *,
        held_only: bool = False,
        counsellor: str | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
    ) -> list[JourneyAlert]:
        """Every journey's alerts on `as_of`, evaluated from the stored facts.

        `provider_id` keeps the journeys that provider is responsible for on `as_of`;
        `held_only` also drops journeys it no longer holds because it was de-authorised
        (a provider's own view). `counsellor` keeps the journeys of the counsellor the decision
        names; `due_from`/`due_to` keep alerts whose deadline (`due_on`) lies in the window."""
        if due_from is not None and due_to is not None and due_from > due_to:
            raise Invalid("invalid_period", "due_from must not be after due_to", "due_from")
        if kind is not None and kind not in KINDS:
            raise Invalid("invalid_kind", f"kind is one of {', '.join(KINDS)}", "kind")
        if level is not None and level not in LEVELS:
            raise Invalid("invalid_level", f"level is one of {', '.join(LEVELS)}", "level")
        with self.db.transaction() as tx:  # short: read, then evaluate outside it
            require_running(tx, AlertsProjection.name)
            providers = store.load_providers(tx)
            rows = store.alerting_facts(tx, as_of, provider_id)
        journeys = (model.decode(journey_id, text) for journey_id, text in rows)
        found: list[JourneyAlert] = []
        for alerts in store.evaluate_journeys(journeys, as_of, providers).values():
            if held_only and any(a.kind == "provider_deauthorised" for a in alerts):
                continue  # the provider no longer holds the journey
            found.extend(
                a
                for a in alerts
                if (kind is None or a.kind == kind)
                and (level is None or a.level == level)
                and (provider_id is None or a.provider_id == provider_id)
                and (counsellor is None or a.counsellor == counsellor)
                and (due_from is None or (a.due_on is not None and a.due_on >= due_from))
                and (due_to is None or (a.due_on is not None and a.due_on <= due_to))
            )
        return sorted(found, key=sort_key)

    def changes(
        self, after: int = 0, limit: int = 100, provider_id: str | None = None
    ) -> list[AlertChange]:
        """The change feed in order: changes with seq > after, at most `limit`."""
        limit = max(1, min(limit, MAX_CHANGES_PAGE))
        with self.db.transaction() as tx:
            require_running(tx, AlertsProjection.name)
            return store.read_changes(tx, after, limit, provider_id)

    # --- the daily scan --------------------------------------------------------------------------

    def daily_scan(self, as_of: date) -> ScanResult:
        """Evaluate every journey on `as_of` and record what changed (idempotent: a second run
        for the same date finds nothing new). One transaction, logged in alerts_scans."""
        with self.db.transaction() as tx:
            require_running(tx, AlertsProjection.name)  # stale facts would raise false alerts
            store.lock_sequence(tx)  # before reading the ids: a concurrent batch commits first
            ids = store.scan_ids(tx, as_of)
            changes = store.reconcile(tx, ids, as_of, store.load_providers(tx))
            tx.execute("DELETE FROM alerts_dirty")  # every journey was just evaluated
            store.record_scan(
                tx, as_of, self.now().strftime("%Y-%m-%dT%H:%M:%SZ"), len(ids), len(changes)
            )
        return ScanResult(as_of, len(ids), changes)

    def has_scanned(self, as_of: date) -> bool:
        with self.db.transaction() as tx:
            return store.has_scanned(tx, as_of)

    def last_scanned(self) -> date | None:
        with self.db.transaction() as tx:
            return store.last_scanned(tx)
