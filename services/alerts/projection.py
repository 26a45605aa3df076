"""The 'alerts' projection: folds journey and provider events into stored facts and records the
changed journeys' alert changes for today, in the feed's transaction (exactly once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from contracts import journey as model
from contracts.events import PublicEvent
from contracts.journey import JOURNEY_EVENT_TYPES, PROVIDER_EVENT_TYPES, JourneyFacts
from services.alerts import store
from services.platform import clock
from services.platform.db import Tx


class AlertsProjection:
    """A `services.platform.feed.Projection`.

    `head` (optional, e.g. the source's `max_position`): while a batch ends before the head of
    the log — a first start or a rebuild catching up — the changed journeys are only marked, and
    evaluated once the batch reaching the head arrives. Otherwise a journey whose events straddle
    two batches would have alerts raised and cleared for a state that never was current."""

    name = "alerts"
    schema_version = store.SCHEMA_VERSION
    # Tables that record when alerts were noticed (the change feed and its bookkeeping), not
    # facts: a replay of the log on another day cannot reproduce them, so replay-and-verify
    # compares only the fact tables.
    volatile_tables: tuple[str, ...] = store.VOLATILE_TABLES

    def __init__(
        self,
        *,
        today: Callable[[], date] = clock.today,
        head: Callable[[], int] | None = None,
    ):
        self._today = today
        self._head = head

    def setup(self, tx: Tx) -> None:
        store.setup(tx)

    def reset(self, tx: Tx) -> None:
        store.reset_facts(tx)

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        journey_ids = sorted({e.stream_id for e in events if e.type in JOURNEY_EVENT_TYPES})
        journeys: dict[str, JourneyFacts] = store.load_journeys(tx, journey_ids)
        providers = store.load_providers(tx)
        changed_providers: set[str] = set()
        for event in events:
            if event.type in JOURNEY_EVENT_TYPES:
                journeys[event.stream_id] = model.apply(
                    journeys.get(event.stream_id), event, store.ALERT_PARTS
                )
            elif event.type in PROVIDER_EVENT_TYPES:
                pid = event.payload["provider_id"]
                before = providers.get(pid)
                providers[pid] = model.apply_provider(before, event)
                if before is None or before.changes != providers[pid].changes:
                    changed_providers.add(pid)  # a name or account change moves no alert
                else:
                    store.save_provider(tx, pid, providers[pid])
        store.save_journeys(tx, journeys.values())
        touched = set(journeys)
        for pid in sorted(changed_providers):
            store.save_provider(tx, pid, providers[pid])
            touched.update(store.journeys_of_provider(tx, pid))
        if self._head is not None and events[-1].position < self._head():
            if touched:
                tx.executemany(
                    "INSERT INTO alerts_dirty (journey_id) VALUES (%s) "
                    "ON CONFLICT (journey_id) DO NOTHING",
                    [(j,) for j in sorted(touched)],
                )
            return
        dirty = [r[0] for r in tx.execute("SELECT journey_id FROM alerts_dirty").fetchall()]
        if touched or dirty:
            store.reconcile(tx, touched.union(dirty), self._today(), providers, keep=False)
        if dirty:
            tx.execute("DELETE FROM alerts_dirty")
