"""Closed payout runs, recorded as events (SPEC §4.3) in a small `eventsourcing` application.

One `PayoutRun` aggregate per month, its id a uuid5 of the month, created by one
`PayoutRunClosed` event that holds the run: month, the feed position it was computed from, its
lines, totals, total, closed_at, the SHA-256 of each file, and the provider details and booking
accounts the files are rendered from. Runs are never changed after that: closing is final.

The application's persistence settings (`env`) come from the composition root, e.g.
`{"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": "var/payout-runs.db"}` or the
PostgreSQL settings. All values in the event are JSON primitives (money and dates as strings),
so no extra transcodings are needed.

Closing exactly once and in order is guaranteed by the store, across processes: every close
also appends `MonthClosed` to one `PayoutLedger` stream, in the same transaction as its run, at
the ledger version read before the run was computed. Two closes computed from the same state
(the same month twice, or May and June at once) race for the same next ledger version, and the
store's unique (stream, version) key lets only one of them be saved; the other is decided again
on what the winner recorded (`CloseRaced`).
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from services.payments.model import Run
from services.platform.collector import collector_paused

RUN_NAMESPACE = UUID("6f1d2c1e-4b8a-5d7e-9a43-1c0b2e5f7a90")
LEDGER_ID = uuid5(RUN_NAMESPACE, "payout-ledger")


def run_id(month: str) -> UUID:
    return uuid5(RUN_NAMESPACE, f"payout-run/{month}")


class CloseRaced(Exception):
    """Another close was recorded after this one read the ledger: decide again."""


class PayoutRunClosed(Aggregate.Created):
    """A payout run was closed. Stored topic: services.payments.runs:PayoutRunClosed."""

    month: str
    position: int
    lines: list[list[Any]]
    totals: dict[str, str]
    total: str
    closed_at: str
    files: dict[str, str]
    providers: dict[str, dict[str, Any]]
    booking: dict[str, Any]
    # From layout 2 on (services.payments.model.CURRENT_LAYOUT); absent in earlier runs.
    layout: int = 1
    references: dict[str, list[str]] | None = None
    # The id of the event log's signed checkpoint written at the close; absent in earlier runs.
    checkpoint: str | None = None


class PayoutRun(Aggregate):
    @staticmethod
    def create_id(month: str) -> UUID:
        return run_id(month)

    @event(PayoutRunClosed)
    def __init__(
        self,
        month: str,
        position: int,
        lines: list[list[Any]],
        totals: dict[str, str],
        total: str,
        closed_at: str,
        files: dict[str, str],
        providers: dict[str, dict[str, Any]],
        booking: dict[str, Any],
        layout: int = 1,
        references: dict[str, list[str]] | None = None,
        checkpoint: str | None = None,
    ) -> None:
        self.month = month
        self.position = position
        self.lines = lines
        self.totals = totals
        self.total = total
        self.closed_at = closed_at
        self.files = files
        self.providers = providers
        self.booking = booking
        self.layout = layout
        self.references = references or {}
        self.checkpoint = checkpoint

    def to_run(self) -> Run:
        return Run.from_event_fields(self.__dict__)


class PayoutLedger(Aggregate):
    """The order in which months were closed; its version is what concurrent closes race for.
    (Stores from before the ledger have runs without ledger entries; the first close after
    the upgrade opens it.)"""

    class Opened(Aggregate.Created):
        pass

    class MonthClosed(Aggregate.Event):
        month: str

        def apply(self, ledger: PayoutLedger) -> None:
            ledger.months.append(self.month)

    def __init__(self) -> None:
        self.months: list[str] = []

    @classmethod
    def open(cls) -> PayoutLedger:
        return cls._create(cls.Opened, id=LEDGER_ID)

    def month_closed(self, month: str) -> None:
        self.trigger_event(self.MonthClosed, month=month)


class PayoutRuns(Application[UUID]):
    """The store of closed runs. Keeps decoded runs in memory: they never change."""

    name = "PayoutRuns"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._lock = threading.Lock()
        self._seen = 0
        self._runs: dict[str, Run] = {}

    def ledger(self) -> PayoutLedger:
        """The ledger as it is now; read it before computing a run to close, and pass it to
        `record` (a new, unsaved one when no month was closed since the ledger exists)."""
        try:
            ledger: Any = self.repository.get(LEDGER_ID)
        except AggregateNotFoundError:
            return PayoutLedger.open()
        assert isinstance(ledger, PayoutLedger)
        return ledger

    def record(self, run: Run, ledger: PayoutLedger) -> Run:
        """Store a closed run and its ledger entry in one transaction, unless any close was
        recorded since `ledger` was read (`CloseRaced`: nothing stored)."""
        aggregate = PayoutRun(**run.event_fields())
        ledger.month_closed(run.month)
        try:
            recordings = self.save(aggregate, ledger)
        except IntegrityError:
            raise CloseRaced(run.month) from None
        else:
            with self._lock:
                self._runs[run.month] = run  # what was stored, without decoding it again
                ids = [r.notification.id for r in recordings]
                if ids and self._seen == ids[0] - 1:  # nobody else recorded in between
                    self._seen = ids[-1]
        stored = self.get(run.month)
        assert stored is not None
        return stored

    def get(self, month: str) -> Run | None:
        """One closed run (read alone: a download need not decode every other run)."""
        with self._lock:
            cached = self._runs.get(month)
        if cached is not None:
            return cached
        try:
            with collector_paused():
                aggregate: PayoutRun = self.repository.get(run_id(month))
        except AggregateNotFoundError:
            return None
        assert isinstance(aggregate, PayoutRun)
        with collector_paused():
            run = aggregate.to_run()
        with self._lock:
            self._runs.setdefault(month, run)
        return run

    def closed(self) -> dict[str, Run]:
        """Every closed run by month, oldest first (read once, then only the new ones)."""
        with self._lock:
            latest = self.recorder.max_notification_id() or 0
            while self._seen < latest:
                batch = self.recorder.select_notifications(
                    start=self._seen, limit=100, inclusive_of_start=False
                )
                if not batch:
                    break
                known = {run_id(month) for month in self._runs}
                for notification in batch:
                    if notification.originator_id in known:
                        self._seen = notification.id
                        continue
                    with collector_paused():  # decoding a run builds millions of small objects
                        domain_event = self.mapper.to_domain_event(notification)
                    if isinstance(domain_event, PayoutRunClosed):
                        fields = {  # earlier runs lack the later fields
                            k: getattr(domain_event, k, None)
                            for k in PayoutRunClosed.__annotations__
                        }
                        self._runs[domain_event.month] = Run.from_event_fields(fields)
                    self._seen = notification.id
            return dict(sorted(self._runs.items()))
