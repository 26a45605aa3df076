"""Auditors' check of every closed payout run (SPEC §2 auditors, API.md `insats audit verify`).

Replays the public event log into a fresh payments read model, up to each run's position, and
recomputes the run the long way (every journey's whole entitlement minus what the earlier
stored runs paid — not the incremental path the service takes), then renders its files and
compares lines and SHA-256 digests with what is stored. Also re-renders each stored run and
compares with its own recorded digests. Returns the problems found; empty means every run and
every file was reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from contracts.journey import ProviderFacts
from services.payments.compute import compute_lines
from services.payments.files import file_hashes, render_files
from services.payments.model import FIRST_LAYOUT, ProviderInfo, Run, RunLine
from services.payments.projection import PaymentsProjection
from services.payments.references import DecisionReferences
from services.payments.rules import RateMissing, last_day
from services.payments.runs import PayoutRuns
from services.platform.clock import STOCKHOLM
from services.platform.db import Database, SQLiteDatabase
from services.platform.feed import EventSource, FeedRunner, UpTo

MAX_LINE_DIFFS = 5  # per run, so one systematic error does not drown the report


def _line_text(line: RunLine) -> str:
    voucher = f" {line.voucher_id}" if line.voucher_id else ""
    return (
        f"{line.period} {line.provider_id} {line.journey_id} {line.insats} {line.type}{voucher} "
        f"days={line.days} rate={line.rate} amount={line.amount:.2f}"
    )


def _comparable(line: RunLine) -> tuple[object, ...]:
    rate = None if line.rate is None else f"{line.rate:.2f}"
    return (*line[:7], rate, f"{line.amount:.2f}")


def _closed_on(run: Run) -> date | None:
    """The Europe/Stockholm day of the run's `closed_at`."""
    try:
        moment = datetime.fromisoformat((run.closed_at or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(STOCKHOLM).date() if moment.tzinfo else None


def _details_at_closing(run: Run, facts: ProviderFacts) -> ProviderInfo:
    """The provider's name and account as the run should carry them: the version in force on
    the day it closed (SPEC §4.3: files use the details known and in force at closing).

    The run was computed on the service's `today()` moments before `closed_at` was stamped,
    and `today()` may be replaced (INSATS_TODAY), so the stored version is accepted when it was
    in force on some day from the day after the month to the closing day (any day after the
    month, when the stamp lies before the month's end: the clock was replaced). Otherwise the
    version in force on the closing day is used, and the files' digests then report it."""
    first = last_day(run.month) + timedelta(days=1)
    closed_on = _closed_on(run)
    last = closed_on if closed_on is not None and closed_on >= first else None
    candidates = facts.details_between(first, last)
    stored = run.providers.get(facts.provider_id)
    chosen = next(
        (
            c
            for c in candidates
            if stored is not None
            and (c.name, c.bankgiro, c.iban) == (stored.name, stored.bankgiro, stored.iban)
        ),
        facts.details_on(last or first),
    )
    if chosen is None:
        return ProviderInfo(facts.provider_id, "")
    return ProviderInfo(facts.provider_id, chosen.name, chosen.bankgiro, chosen.iban)


def _references(
    db: Database, references: DecisionReferences, lines: Sequence[RunLine], layout: int
) -> dict[str, tuple[str, str]]:
    """The decision references of the lines' journeys, as the replay knows them."""
    if layout == FIRST_LAYOUT:
        return {}
    with db.transaction() as tx:
        return references.load(tx, {line.journey_id for line in lines})


def verify_runs(
    source: EventSource,
    runs: PayoutRuns | Iterable[Run],
    db: Database | None = None,
) -> list[str]:
    """Replay `source` and recompute every closed run; the differences, or []."""
    stored = list(runs.closed().values()) if isinstance(runs, PayoutRuns) else list(runs)
    stored.sort(key=lambda r: r.month)
    problems: list[str] = []
    database = db or SQLiteDatabase(":memory:")
    projection = PaymentsProjection()
    references = DecisionReferences()
    bounded = UpTo(source)
    runner = FeedRunner(bounded, database, [projection, references])
    log_end = source.max_position()

    for index, run in enumerate(stored):
        where = f"run {run.month}"
        # 1. the stored run and its own digests
        rendered = file_hashes(render_files(run))
        if rendered != dict(run.files):
            for name in sorted(set(rendered) | set(run.files)):
                if rendered.get(name) != run.files.get(name):
                    problems.append(
                        f"{where}: stored file digest for {name} does not match "
                        f"the file rendered from the stored run"
                    )
        # 2. replay up to the run's position
        if run.position > log_end:
            problems.append(
                f"{where}: position {run.position} is beyond the event log "
                f"(last position {log_end})"
            )
        if run.position < bounded.bound:
            problems.append(
                f"{where}: position {run.position} is before the previous run's "
                f"({bounded.bound}); replaying from scratch"
            )
            bounded.bound = run.position
            runner.rebuild(projection.name)
        bounded.bound = run.position
        runner.catch_up()
        with database.transaction() as tx:
            snapshot = projection.snapshot(tx)
            rows = projection.journey_rows(tx)
        providers_facts = {p: row.facts for p, row in snapshot.providers.items()}
        try:
            lines = compute_lines(
                run.month, rows, snapshot.rates, providers_facts, stored[:index], None, full=True
            )
        except RateMissing as missing:
            problems.append(f"{where}: cannot be recomputed: {missing}")
            continue
        # 3. the lines
        expected = {_comparable(line): line for line in lines}
        actual = {_comparable(line): line for line in run.lines}
        missing_lines = [expected[k] for k in expected if k not in actual]
        extra_lines = [actual[k] for k in actual if k not in expected]
        for line in missing_lines[:MAX_LINE_DIFFS]:
            problems.append(f"{where}: recomputed line not in the stored run: {_line_text(line)}")
        for line in extra_lines[:MAX_LINE_DIFFS]:
            problems.append(f"{where}: stored line not reproduced: {_line_text(line)}")
        hidden = len(missing_lines) + len(extra_lines) - 2 * MAX_LINE_DIFFS
        if hidden > 0:
            problems.append(f"{where}: … and up to {hidden} more differing lines")
        # 4. the files, from the recomputed run with the facts known at its position
        providers = {}
        for line in lines:
            pid = line.provider_id
            row = snapshot.providers.get(pid)
            providers[pid] = (
                _details_at_closing(run, row.facts) if row is not None else ProviderInfo(pid, "")
            )
        recomputed = Run(
            month=run.month,
            status="closed",
            lines=tuple(lines),
            position=run.position,
            providers=providers,
            booking=run.booking,
            closed_at=run.closed_at,
            layout=run.layout,
            references=_references(database, references, lines, run.layout),
        )
        digests = file_hashes(render_files(recomputed))
        for name in sorted(set(digests) | set(run.files)):
            if digests.get(name) != run.files.get(name):
                problems.append(f"{where}: file {name} is not reproduced by the replay")
    return problems
