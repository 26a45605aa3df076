"""The payments service: preview, close and read monthly payout runs (SPEC §4.3).

The composition root (`insats.bootstrap`) makes the payments projection and the decision
references, gives them to the feed, and then this service with `catch_up=feed_catch_up(feed)`.

`catch_up` brings the payments read model up to the end of the event log before a run is
computed; the run's position is then read in the same transaction as the facts it uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from operator import itemgetter

from contracts.bounds import EARLIEST_MONTH, LATEST_MONTH
from services.payments.compute import Settled, compute_lines
from services.payments.files import basis_name, file_hashes, render_files
from services.payments.model import (
    CURRENT_LAYOUT,
    Booking,
    ProviderInfo,
    Run,
    changed,
)
from services.payments.projection import PaymentsProjection, Snapshot
from services.payments.references import DecisionReferences
from services.payments.rules import RateMissing, RateOutOfBounds, last_day, parse_month
from services.payments.runs import CloseRaced, PayoutRuns
from services.platform import clock
from services.platform.collector import collector_paused
from services.platform.db import Database, Tx
from services.platform.feed import (
    EventSource,
    FeedRunner,
    require_running,
    setup_tables,
    tracked_position,
)
from services.platform.refusal import Conflict, Forbidden, Invalid, NotFound, Unavailable

# What a caller is told to wait while the read models catch up with the log.
RETRY_BEHIND_SECONDS = 5

# A close that loses the race to another close is decided again this many times.
CLOSE_ATTEMPTS = 5


def rate_refusal(missing: RateMissing) -> Invalid:
    """No usable rate for an insats in a month: the run cannot be computed (field `rates`)."""
    code = "rate_out_of_bounds" if isinstance(missing, RateOutOfBounds) else "rate_missing"
    return Invalid(code, str(missing), "rates")


def feed_catch_up(
    runner: FeedRunner,
    name: str = PaymentsProjection.name,
    *also: str,
) -> Callable[[], None]:
    """A `catch_up` for `PaymentsService`: apply every event not yet applied to the payments
    read models (the facts, and the decision references the files name customers by)."""
    names = (
        [name, *also]
        if also or name != PaymentsProjection.name
        else [name, DecisionReferences.name]
    )
    wanted = [n for n in names if n in runner.projections]

    def catch_up() -> None:
        runner.catch_up(wanted)

    return catch_up


def check_month(month: str) -> str:
    try:
        parse_month(month)
    except ValueError:
        raise Invalid(
            "invalid_month", f"month must be YYYY-MM, got {month[:20]!r}", "month"
        ) from None
    if not EARLIEST_MONTH <= month <= LATEST_MONTH:
        raise Invalid(
            "invalid_month",
            f"month must lie between {EARLIEST_MONTH} (customer choice under LOV began) and "
            f"{LATEST_MONTH}, got {month}",
            "month",
        )
    return month


_JOURNEY_OF_LINE = itemgetter(2)  # RunLine.journey_id
_PROVIDER_OF_LINE = itemgetter(1)  # RunLine.provider_id


def _stored_references(journeys: set[str], last: Run | None) -> dict[str, tuple[str, str]]:
    """The decision references the last closed run stored for `journeys` (a reference never
    changes: the read model only ever inserts them)."""
    if last is None or not last.references:
        return {}
    # in the stored (sorted) order: the run's event lists its references sorted
    return {jid: ref for jid, ref in last.references.items() if jid in journeys}


def settled_by(last: Run | None, snapshot: Snapshot) -> tuple[Settled | None, frozenset[str]]:
    """What the last closed run settled for the next one computed from `snapshot`, and the
    providers whose journeys must be computed in full (a de-authorisation recorded since):
    nothing is settled before the first run, or when rates for settled months changed."""
    if last is None:
        return None, frozenset()
    settled_end = last_day(last.month)
    if any(
        r.recorded_at > last.position and r.effective_from <= settled_end
        for r in snapshot.rate_rows
    ):
        return None, frozenset()  # rates for settled months changed: recompute everything
    slow = frozenset(
        p for p, row in snapshot.providers.items() if row.deauth_changed_at > last.position
    )
    return Settled(last.month, last.position), slow


def format_timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class PaymentsService:
    def __init__(
        self,
        db: Database,
        runs: PayoutRuns,
        catch_up: Callable[[], object] = lambda: None,
        *,
        projection: PaymentsProjection | None = None,
        references: DecisionReferences | None = None,
        booking: Booking | None = None,
        source: EventSource | None = None,
        today: Callable[[], date] = clock.today,
        now: Callable[[], datetime] = clock.utcnow,
        layout: int = CURRENT_LAYOUT,
        checkpoint: Callable[[int], str] | None = None,
    ):
        self.layout = layout  # the file layout new runs are closed with (`model.CURRENT_LAYOUT`)
        # Signs the event log up to a position and returns the checkpoint's id (the composition
        # root's Merkle log, docs/audit.md); every closed run names the one written for it.
        self.checkpoint = checkpoint
        self.db = db
        self.runs = runs
        self.catch_up = catch_up
        self.projection = projection or PaymentsProjection()
        self.references = references or DecisionReferences()  # fed beside `projection`
        self.booking = booking or Booking()
        self.source = source
        self.today = today
        self.now = now
        self._close_lock = threading.Lock()  # saves work in one process; the store decides
        self._files_lock = threading.Lock()
        self._files: dict[str, dict[str, bytes]] = {}  # month → rendered files (runs are final)
        # The last computed run and what it was computed from: a run is a pure function of the
        # month, the read model's position, the closed runs and the booking, so a close right
        # after a preview (nothing new in between) need not compute it again.
        self._computed: tuple[tuple[object, ...], Run] | None = None
        with db.transaction() as tx:
            setup_tables(tx)
            self.references.setup(tx)

    # --- runs ---------------------------------------------------------------------------------

    def preview(self, month: str) -> Run:
        """What closing `month` now would pay; a closed month's stored run."""
        check_month(month)
        closed = self.runs.closed()
        if month in closed:
            return closed[month]
        self._refuse_if_later_closed(month, closed)
        return self._compute(month, closed)

    def close(self, month: str) -> Run:
        """Close `month` (after it ended; in month order); closing again returns the stored run.

        Exactly once and in order across processes: the run is recorded only if no other close
        was recorded since this one read the ledger (see `runs.py`); otherwise it is decided
        again on what the other close recorded."""
        check_month(month)
        with self._close_lock:
            for _ in range(CLOSE_ATTEMPTS):
                ledger = self.runs.ledger()  # before reading what was closed
                closed = self.runs.closed()
                if month in closed:
                    return closed[month]
                self._refuse_if_later_closed(month, closed)
                today = self.today()
                if today <= last_day(month):
                    opens = last_day(month) + timedelta(days=1)
                    raise Conflict(
                        "month_not_ended",
                        f"{month} has not ended (today is {today.isoformat()}); "
                        f"it can be closed from {opens.isoformat()}",
                        "month",
                    )
                # One pause of the collector for computing, rendering and storing: the lines
                # and files are built once, and examined once afterwards.
                with collector_paused():
                    preview = self._compute(month, closed, closing=True)
                    closed_at = format_timestamp(self.now())
                    signed = self.checkpoint(preview.position) if self.checkpoint else None
                    run = changed(preview, status="closed", closed_at=closed_at, checkpoint=signed)
                    files = render_files(run)
                    run = changed(run, files=file_hashes(files))
                    try:
                        stored = self.runs.record(run, ledger)
                    except CloseRaced:
                        continue
                with self._files_lock:
                    self._files[month] = files
                return stored
        raise Conflict(
            "concurrent_close",
            f"{month} could not be closed: other closes kept being recorded meanwhile; try again",
            "month",
        )

    def get(self, month: str) -> Run:
        check_month(month)
        run = self.runs.get(month)
        if run is None:
            raise NotFound("run_not_found", f"no closed payout run for {month}", "month")
        return run

    def list_runs(self) -> list[Run]:
        return list(self.runs.closed().values())

    def file_names(self, month: str) -> list[str]:
        return sorted(self._rendered(self.get(month)))

    def file(self, month: str, name: str, *, provider_id: str | None = None) -> bytes:
        """A closed run's file; a caller acting for a provider (`provider_id`) gets only its
        own compensation basis (`underlag-{provider_id}-YYYY-MM.html`)."""
        check_month(month)
        if provider_id is not None and name != basis_name(provider_id, month):
            raise Forbidden(
                "forbidden",
                "a provider may download only its own compensation basis "
                f"({basis_name(provider_id, month)})",
                "name",
            )
        files = self._rendered(self.get(month))
        if name not in files:
            raise NotFound("file_not_found", f"run {month} has no file {name!r}", "name")
        return files[name]

    def verify(self) -> list[str]:
        """Auditors: replay the event log and reproduce every closed run and its files
        (`services.payments.verify.verify_runs`); the problems found, or []."""
        if self.source is None:
            return ["payments: no event source configured, closed runs cannot be verified"]
        from services.payments.verify import verify_runs  # replay machinery only when asked

        return [f"payments: {problem}" for problem in verify_runs(self.source, self.runs)]

    def shutdown(self) -> None:
        """Release the runs store (named so a container's generic close() is not mistaken for
        closing a month)."""
        self.runs.close()

    # --- internals ----------------------------------------------------------------------------

    def _references_ready(self, tx: Tx, position: int) -> bool:
        """The decision references have been fed at least as far as the facts (and run)."""
        require_running(tx, self.references.name)
        return tracked_position(tx, self.references.name) >= position

    @staticmethod
    def _refuse_if_later_closed(month: str, closed: dict[str, Run]) -> None:
        later = [m for m in closed if m > month]
        if later:
            raise Conflict(
                "later_month_closed",
                f"{month} can no longer be run: {max(later)} is already closed "
                f"(its amounts were folded into the later run)",
                "month",
            )

    def _rendered(self, run: Run) -> dict[str, bytes]:
        with self._files_lock:
            files = self._files.get(run.month)
            if files is None:
                with collector_paused():
                    files = render_files(run)
                self._files = {run.month: files, **dict(list(self._files.items())[-3:])}
            return files

    def _compute(self, month: str, closed: dict[str, Run], *, closing: bool = False) -> Run:
        self.catch_up()
        with collector_paused():  # reading and computing build hundreds of thousands of objects
            return self._compute_paused(month, closed, closing)

    def _compute_paused(self, month: str, closed: dict[str, Run], closing: bool) -> Run:
        earlier = [run for m, run in closed.items() if m < month]
        last = earlier[-1] if earlier else None
        # The providers' names and accounts are those in force on the closing day (a preview:
        # today), so the day is part of what the run is computed from.
        day = self.today()
        with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":  # one snapshot for position and facts
                tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            require_running(tx, self.projection.name)
            snapshot = self.projection.snapshot(tx)
            if closing and self.source is not None and self.source.read(snapshot.position, 1):
                # A run records the position it was computed from: it must be the log's end.
                raise Unavailable(
                    "read_model_behind",
                    f"the payments read model is at position {snapshot.position}, behind the "
                    "event log; a run is closed only from the whole log — try again shortly",
                    retry_after=RETRY_BEHIND_SECONDS,
                )
            key = (
                month,
                snapshot.position,
                tuple((r.month, r.position) for r in earlier),
                self.booking,
                day,
            )
            computed = self._computed
            if computed is not None and computed[0] == key:
                return computed[1]
            if last is not None and snapshot.position < last.position:
                raise Unavailable(
                    "read_model_behind",
                    f"the payments read model is at position {snapshot.position}, behind "
                    f"the last closed run ({last.month}, position {last.position})",
                    retry_after=RETRY_BEHIND_SECONDS,
                )
            settled, slow_providers = settled_by(last, snapshot)
            if settled is None or slow_providers:
                rows = self.projection.journey_rows(tx)
            else:
                rows = self.projection.journey_rows(
                    tx, changed_after=settled.position, earning_after=settled.month
                )
            refs_ready = self._references_ready(tx, snapshot.position)
        providers_facts = {p: row.facts for p, row in snapshot.providers.items()}
        try:
            lines = compute_lines(
                month, rows, snapshot.rates, providers_facts, earlier, settled, slow_providers
            )
        except RateMissing as missing:
            raise rate_refusal(missing) from None
        journeys = set(map(_JOURNEY_OF_LINE, lines))
        references = _stored_references(journeys, last)
        not_stored = journeys.difference(references) if references else journeys
        if not_stored:
            with self.db.transaction() as tx:  # immutable facts: any later snapshot will do
                references.update(self.references.load(tx, not_stored))
        if closing and (not refs_ready or len(references) < len(journeys)):
            raise Unavailable(
                "read_model_behind",
                "the decision references read model is behind the payments read model; "
                "a run is closed only with every customer's reference — try again shortly",
                retry_after=RETRY_BEHIND_SECONDS,
            )
        providers = {}
        for pid in dict.fromkeys(map(_PROVIDER_OF_LINE, lines)):  # in order of first line
            row = snapshot.providers.get(pid)
            if row is None:
                providers[pid] = ProviderInfo(pid, "")
                continue
            details = row.facts.details_on(day)
            providers[pid] = (
                ProviderInfo(pid, details.name, details.bankgiro, details.iban)
                if details is not None
                else ProviderInfo(pid, "")
            )
        run = Run(
            month=month,
            status="preview",
            lines=tuple(lines),
            position=snapshot.position,
            providers=providers,
            booking=self.booking,
            layout=self.layout,
            references=references,
        )
        self._computed = (key, run)
        return run
