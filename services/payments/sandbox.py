"""Payout runs replayed under other rates and rules (the policy sandbox, docs/sandbox.md).

The recorded events are replayed into a throwaway payments read model (in-memory SQLite, every
part of the journey facts stored) and each month's run is computed with the code that closes
real runs (`compute.compute_lines`, `service.settled_by`), once per policy: the baseline (the
real rates and SPEC's rules) and each scenario (`RateSchedule.under`).

What each month is computed from: the facts known when its real run closed (the position it
records), so the baseline reproduces every closed run line for line; a month closed after the
known-at cut-off, or not closed yet, from what was known at the cut-off. A month that was
never closed although a later one was is not run: its amounts were folded into the later run,
in the sandbox as in reality.

Nothing here writes anywhere but its own in-memory database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.bounds import LATEST_DATE
from contracts.journey import PARTS as ALL_PARTS
from contracts.journey import JourneyFacts, Providers
from services.payments.compute import compute_lines
from services.payments.model import Booking, ProviderInfo, Run, RunLine
from services.payments.projection import JourneyRow, PaymentsProjection, decode_rows
from services.payments.rules import Policy, RateMissing
from services.payments.service import settled_by
from services.platform.collector import collector_paused
from services.platform.db import SQLiteDatabase
from services.platform.feed import EventSource, FeedRunner, UpTo

BASELINE = "baseline"
PAGE = 2000  # events per read when looking for the known-at cut-off


class SandboxRefused(ValueError):
    """A replay that cannot be computed (no rate for a month under a policy, a cut-off before
    the runs the months build on); `field` names the parameter to change."""

    def __init__(self, code: str, message: str, field: str):
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class MonthBasis:
    """What a simulated month was computed from."""

    month: str
    position: int
    closed: Run | None  # the real run closed from that very position, else None
    folded: bool = False  # never closed, folded into a later real run: not run


@dataclass
class Simulation:
    months: list[MonthBasis]
    runs: dict[str, dict[str, Run]]  # policy name → month → the simulated run
    position: int  # the known-at cut-off's position
    facts: list[JourneyFacts] = field(default_factory=list)  # as known at the cut-off
    providers: Providers = field(default_factory=dict)


def position_known_at(source: EventSource, moment: datetime) -> int:
    """The last position recorded at or before `moment` (the log is in recording order)."""
    found, after = 0, 0
    while True:
        events = source.read(after, PAGE)
        if not events:
            return found
        for e in events:
            if datetime.fromisoformat(e.recorded_at.replace("Z", "+00:00")) > moment:
                return found
            found = e.position
        after = events[-1].position


def month_bases(
    months: Sequence[str], closed: Mapping[str, Run], known_at: int
) -> list[MonthBasis]:
    last_closed = max(closed, default="")
    out = []
    for month in months:
        run = closed.get(month)
        if run is not None and run.position <= known_at:
            out.append(MonthBasis(month, run.position, run))
        elif run is None and month < last_closed:
            out.append(MonthBasis(month, 0, None, folded=True))
        else:
            out.append(MonthBasis(month, known_at, None))
    return out


# Millions of small objects and no cycles: the cyclic collector would walk them all again and
# again (half the time of a year over 100 000 journeys, measured).
@collector_paused()
def simulate(
    source: EventSource,
    closed: Mapping[str, Run],
    months: Sequence[str],
    policies: Mapping[str, Policy | None],
    *,
    known_at: int,
    progress: Callable[[str], None] = lambda month: None,
) -> Simulation:
    """Every month's run under every policy (`None`: the baseline), as described above.

    Runs before the first month are the real closed ones, for every policy: a scenario
    answers what these months would have paid, given what was really paid before."""
    bases = month_bases(months, closed, known_at)
    first = months[0] if months else ""
    before = [run for m, run in sorted(closed.items()) if m < first]
    if before and before[-1].position > known_at:
        raise SandboxRefused(
            "known_at_too_early",
            f"the cut-off (position {known_at}) is before the close of {before[-1].month} "
            f"(position {before[-1].position}), which the months from {first} build on; "
            "choose a later known_at or an earlier from",
            "known_at",
        )
    paid: dict[str, list[Run]] = {name: list(before) for name in policies}
    runs: dict[str, dict[str, Run]] = {name: {} for name in policies}
    database = SQLiteDatabase(":memory:")
    projection = PaymentsProjection(parts=ALL_PARTS)
    bounded = UpTo(source)
    runner = FeedRunner(bounded, database, [projection])
    booking = Booking()
    try:
        for basis in bases:
            if basis.folded:
                continue
            progress(basis.month)
            bounded.bound = basis.position
            runner.catch_up()
            with database.transaction() as tx:
                snapshot = projection.snapshot(tx)
            providers = {p: row.facts for p, row in snapshot.providers.items()}
            # The rows each policy's run reads, read once for all policies that read the same
            # (after the first month every policy settles on the same position).
            read: dict[tuple[int, str] | None, list[JourneyRow]] = {}
            for name, policy in policies.items():
                earlier = paid[name]
                last = earlier[-1] if earlier else None
                settled, slow = settled_by(last, snapshot)
                if policy is not None and last is not None and last.month < first:
                    settled, slow = None, frozenset()  # the real run was paid under the baseline
                rates = snapshot.rates if policy is None else snapshot.rates.under(policy)
                which = None if settled is None or slow else (settled.position, settled.month)
                rows = read.get(which)
                if rows is None:
                    with database.transaction() as tx:
                        rows = read[which] = (
                            projection.journey_rows(tx)
                            if which is None
                            else projection.journey_rows(
                                tx, changed_after=which[0], earning_after=which[1]
                            )
                        )
                try:
                    lines = compute_lines(
                        basis.month, rows, rates, providers, earlier, settled, slow
                    )
                except RateMissing as missing:
                    what = "the baseline" if policy is None else f"scenario {name!r}"
                    raise SandboxRefused(
                        "rate_missing", f"{basis.month} under {what}: {missing}", "scenario"
                    ) from None
                run = _run(basis.month, lines, basis.position, providers, booking)
                earlier.append(run)
                runs[name][basis.month] = run
        bounded.bound = known_at
        runner.catch_up()
        with database.transaction() as tx:
            snapshot = projection.snapshot(tx)
            facts = decode_rows(projection.journey_rows(tx))
        return Simulation(
            months=bases,
            runs=runs,
            position=known_at,
            facts=list(facts),
            providers={p: row.facts for p, row in snapshot.providers.items()},
        )
    finally:
        database.close()


def _run(
    month: str, lines: list[RunLine], position: int, providers: Providers, booking: Booking
) -> Run:
    infos = {}
    for line in lines:
        pid = line.provider_id
        if pid not in infos:
            facts = providers.get(pid)
            details = None if facts is None else facts.details_on(LATEST_DATE)
            infos[pid] = ProviderInfo(pid, "" if details is None else details.name)
    return Run(
        month=month,
        status="preview",
        lines=tuple(lines),
        position=position,
        providers=infos,
        booking=booking,
    )
