"""The policy sandbox: replay past months under a scenario's rates and rules and compare with the
baseline (docs/sandbox.md). `insats sandbox run`, `POST /v1/sandbox/runs` and `/ui/sandbox`
all call `run_sandbox`; the comparison is rendered by `insats.sandbox.report`.

Read-only: it reads the event log and the closed runs, and replays into its own in-memory
read model (`services.payments.sandbox`). The real store and read models are not touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from contracts.bounds import EARLIEST_MONTH, check_timestamp
from contracts.scenario import Scenario
from insats.sandbox.compare import SCENARIO, compare
from services.payments.model import Run
from services.payments.rules import month_of, next_month, parse_month
from services.payments.sandbox import (
    BASELINE,
    SandboxRefused,
    position_known_at,
    simulate,
)
from services.platform.collector import collector_paused
from services.platform.feed import EventSource
from services.platform.refusal import Invalid, Unavailable

MAX_MONTHS = 60  # five years of runs in one comparison
RETRY_BUSY_SECONDS = 30


class _Runs(Protocol):
    def closed(self) -> dict[str, Run]: ...


@dataclass(frozen=True)
class SandboxRequest:
    scenario: Scenario
    month_from: str
    month_to: str
    known_at: datetime | None = None  # None: what is known now, each closed run as it closed


def month_of_text(text: str, field: str) -> str:
    """A payout month given as YYYY-MM, or as a date YYYY-MM-DD within it (`--from 2025-01-01
    --to 2025-12-31` names the months January to December); Invalid otherwise."""
    value = text.strip()
    if len(value) == 10:
        try:
            return month_of(date.fromisoformat(value))
        except ValueError:
            pass
    elif len(value) == 7:
        return value  # checked with the other bounds in `check_request`
    raise Invalid(
        "invalid_month", f"{field} must be a month YYYY-MM or a date, got {value[:20]!r}", field
    )


def months_between(month_from: str, month_to: str) -> list[str]:
    out, month = [], month_from
    while month <= month_to:
        out.append(month)
        month = next_month(month)
    return out


def check_request(request: SandboxRequest, today: date) -> list[str]:
    """The months to replay; Invalid naming the offending parameter."""
    for field, month in (("from", request.month_from), ("to", request.month_to)):
        try:
            parse_month(month)
        except ValueError:
            raise Invalid(
                "invalid_month", f"{field} must be a month YYYY-MM, got {month[:20]!r}", field
            ) from None
        if month < EARLIEST_MONTH:
            raise Invalid(
                "invalid_month",
                f"{field} must be {EARLIEST_MONTH} or later (customer choice under LOV began)",
                field,
            )
    if request.month_from > request.month_to:
        raise Invalid("invalid_month", "from must be on or before to", "from")
    current = month_of(today)
    if request.month_to > current:
        raise Invalid(
            "invalid_month",
            f"to must not be after the current month ({current}): nothing is known of it yet",
            "to",
        )
    months = months_between(request.month_from, request.month_to)
    if len(months) > MAX_MONTHS:
        raise Invalid("too_many_months", f"a sandbox run covers at most {MAX_MONTHS} months", "to")
    if request.known_at is not None:
        try:
            check_timestamp(request.known_at, "known_at")
        except ValueError as error:
            raise Invalid("invalid_input", str(error), "known_at") from None
    return months


# One replay at a time per process: a sandbox run holds a whole read model in memory and keeps
# a core busy for seconds; a second caller is told to come back rather than queue behind it.
_BUSY = threading.Lock()


@contextmanager
def _one_at_a_time() -> Iterator[None]:
    if not _BUSY.acquire(blocking=False):
        raise Unavailable(
            "sandbox_busy",
            "another sandbox run is being computed in this process; try again shortly",
            retry_after=RETRY_BUSY_SECONDS,
        )
    try:
        yield
    finally:
        _BUSY.release()


def run_sandbox(
    source: EventSource,
    runs: _Runs,
    request: SandboxRequest,
    *,
    today: date,
    progress: Callable[[str], None] = lambda month: None,
) -> dict[str, Any]:
    """The comparison (docs/sandbox.md) of the baseline and the scenario over the months."""
    months = check_request(request, today)
    # Replaying and comparing build millions of small objects and no cycles: without the
    # pause, full collections walk them all again (half of a large run's time, measured).
    with _one_at_a_time(), collector_paused():
        known_at = (
            source.max_position()
            if request.known_at is None
            else position_known_at(source, request.known_at)
        )
        try:
            simulation = simulate(
                source,
                runs.closed(),
                months,
                {BASELINE: None, SCENARIO: request.scenario},
                known_at=known_at,
                progress=progress,
            )
        except SandboxRefused as refused:
            raise Invalid(refused.code, str(refused), refused.field) from None
        return compare(
            simulation,
            request.scenario,
            month_from=request.month_from,
            month_to=request.month_to,
            known_at=request.known_at,
            as_of=today,
        )
