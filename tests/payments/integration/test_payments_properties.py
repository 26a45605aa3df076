"""Properties of runs (SPEC §4.3, §4.4) over random histories and closing sequences:
whatever arrives late or gets corrected, the runs together pay exactly the entitlement of the
final history, and no run pays a period after its own month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.journey import Assignment, Exit, JourneyFacts, ProviderFacts, Review, Voucher
from services.payments.compute import Settled, compute_lines
from services.payments.projection import PaymentsProjection, row_of
from services.payments.references import DecisionReferences
from services.payments.rules import (
    RateSchedule,
    RateTable,
    journey_entitlement,
    last_day,
    replay,
)
from services.payments.runs import PayoutRuns
from services.payments.service import PaymentsService, feed_catch_up
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from tests.payments.paybuild import P1, P2, P3, Clock, Log, exit_payload

PROVIDERS = (P1, P2, P3)
JOURNEYS = ("j1", "j2", "j3")
MONTHS = [f"2026-{m:02d}" for m in range(1, 10)]
DAY0 = date(2025, 12, 20)
# P1 authorised in 2020 and de-authorised from 2026-03-03.
DEAUTHORISED_P1 = ProviderFacts(P1, changes=((date(2020, 1, 1), True), (date(2026, 3, 3), False)))


def day(n: int) -> str:
    return (DAY0 + timedelta(days=n)).isoformat()


# Any day of the nine months, or one close to a month's start: where the 14-day rule and the
# months already settled meet.
MONTH_STARTS = [(date(2026, m, 1) - DAY0).days for m in range(1, 10)]
days = st.one_of(
    st.integers(min_value=0, max_value=260),
    st.builds(lambda s, k: s + k, st.sampled_from(MONTH_STARTS), st.integers(-16, 2)),
)
journeys = st.sampled_from(JOURNEYS)
providers = st.sampled_from(PROVIDERS)
exits = st.sampled_from(
    [
        ("work", {"employment_form": "permanent"}),
        ("work", {"employment_form": "fixed_term", "contract_months": 3}),
        ("studies", {"csn_eligible": True}),
        ("moved", {}),
    ]
)

action = st.one_of(
    st.tuples(st.just("start"), journeys, providers, days, st.sampled_from(["sai", "grund"])),
    st.tuples(st.just("change"), journeys, providers, days),
    st.tuples(st.just("exit"), journeys, days, exits),
    st.tuples(st.just("correct_exit"), journeys, days),
    st.tuples(st.just("correct_exit_details"), journeys, days, exits),
    st.tuples(st.just("correct_start"), journeys, days),
    st.tuples(st.just("correct_provider_start"), journeys, days),
    st.tuples(st.just("voucher"), journeys, days),
    st.tuples(st.just("review"), journeys, days, st.booleans()),
    st.tuples(st.just("withdraw"), journeys),
    st.tuples(st.just("deauthorise"), providers, days),
    st.tuples(
        st.just("rates"),
        st.integers(min_value=0, max_value=8),
        st.integers(min_value=7000, max_value=7600),
    ),
    st.tuples(st.just("close")),
    st.tuples(st.just("close")),
    st.tuples(st.just("close")),
    st.tuples(st.just("skip_month")),
)


class Story:
    """Turns random actions into a plausible event log (facts in the order they are learnt)."""

    def __init__(self) -> None:
        self.log = Log()
        self.log.default_rates()
        for p in PROVIDERS:
            self.log.provider(p)
        self.started: dict[str, tuple[str, str]] = {}  # journey → (provider, start)
        self.holder: dict[str, str] = {}
        self.changes: dict[str, list[tuple[str, str]]] = {}
        self.exited: dict[str, str] = {}
        self.vouchers = 0

    def apply(self, a: tuple[Any, ...]) -> None:
        kind, log = a[0], self.log
        if kind == "start" and a[1] not in self.started:
            _, j, p, n, insats = a
            log.decision(j, insats, day(max(0, n - 5)))
            log.chosen(j, p, day(n))
            self.started[j], self.holder[j] = (p, day(n)), p
        elif kind == "change" and a[1] in self.started:
            _, j, p, n = a
            start = max(date.fromisoformat(self.started[j][1]), DAY0 + timedelta(days=n))
            log.changed(j, p, start.isoformat(), self.holder[j])
            self.changes.setdefault(j, []).append((p, start.isoformat()))
            self.holder[j] = p
        elif kind == "exit" and a[1] in self.started:
            _, j, n, (reason, details) = a
            log.exited(j, day(n), reason, **details)
            self.exited[j] = day(n)
        elif kind == "correct_exit" and a[1] in self.exited:
            _, j, n = a
            log.corrected(j, "exited_on", self.exited[j], day(n))
            self.exited[j] = day(n)
        elif kind == "correct_exit_details" and a[1] in self.exited:
            _, j, n, (reason, details) = a
            log.corrected(j, "exit", None, exit_payload(day(n), reason, **details))
            self.exited[j] = day(n)
        elif kind == "correct_start" and a[1] in self.started:
            _, j, n = a
            p, old = self.started[j]
            log.corrected(j, "starts_on", old, day(n))
            self.started[j] = (p, day(n))
        elif kind == "correct_provider_start" and self.changes.get(a[1]):
            _, j, n = a
            p, old = self.changes[j][-1]
            log.corrected(j, "provider_starts_on", old, day(n), provider_id=p)
            self.changes[j][-1] = (p, day(n))
        elif kind == "voucher" and a[1] in self.started:
            self.vouchers += 1
            log.voucher(a[1], f"v{self.vouchers}", "5000.00", day(a[2]))
        elif kind == "review" and a[1] in self.exited:
            _, j, n, approved = a
            log.follow_up(j, day(n), due_on=day(n))
            log.review(j, day(n), "approved" if approved else "returned")
        elif kind == "withdraw" and a[1] not in self.started:
            log.decision(a[1], "sai", day(0))
            log.withdrawn(a[1], day(1))
        elif kind == "deauthorise":
            log.deauthorised(a[1], day(a[2]))
        elif kind == "rates":
            log.rates(f"2026-{a[1] + 1:02d}-01", sai=f"{a[2]}.00")


churn = st.one_of(
    st.tuples(st.just("start"), journeys, providers, days, st.sampled_from(["sai", "grund"])),
    st.tuples(st.just("change"), journeys, providers, days),
    st.tuples(st.just("change"), journeys, providers, days),
    st.tuples(st.just("deauthorise"), providers, days),
    st.tuples(st.just("exit"), journeys, days, exits),
    st.tuples(st.just("close")),
    st.tuples(st.just("close")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(action, min_size=1, max_size=40))
def test_runs_together_pay_the_entitlement_of_the_final_history(steps: list[Any]) -> None:
    check_runs(steps)


@settings(max_examples=150, deadline=None)
@given(st.lists(churn, min_size=1, max_size=30))
@example(  # an earlier provider de-authorised, backdated, after its months were paid
    [
        ("start", "j1", P1, 12, "sai"),
        ("change", "j1", P2, 71),
        ("close",),
        ("close",),
        ("close",),
        ("deauthorise", P1, 57),
        ("close",),
    ]
)
def test_runs_follow_provider_changes_and_deauthorisations(steps: list[Any]) -> None:
    check_runs(steps)


@dataclass
class Closed:
    """A story told and its months closed along it."""

    story: Story
    source: ListEventSource
    runs: PayoutRuns
    months: list[str]  # every month the story reached, closed or skipped


def close_along(steps: list[Any]) -> Closed:
    """Apply the story's steps, closing (or skipping) the next month at each close step; the
    last month reached is closed in any case. Facts told after the last close stay out of the
    source."""
    story = Story()
    source = ListEventSource()
    db = SQLiteDatabase(":memory:")
    projection = PaymentsProjection()
    runner = FeedRunner(source, db, [projection, DecisionReferences()], batch_size=7)
    runs = PayoutRuns(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
    )
    clock = Clock(date(2026, 1, 1))
    service = PaymentsService(
        db, runs, feed_catch_up(runner), projection=projection, today=clock.today
    )

    def close(month: str) -> None:
        source.append(*story.log.events[len(source.events) :])
        clock.day = last_day(month) + timedelta(days=1)
        service.close(month)

    month = 0
    for step in [*steps, ("close",)]:
        if step[0] in ("close", "skip_month"):
            if month >= len(MONTHS):
                continue
            if step[0] == "close":
                close(MONTHS[month])
            month += 1
        else:
            story.apply(step)
    final = MONTHS[month - 1]
    if final not in runs.closed():  # the last step skipped: close it now
        close(final)
    return Closed(story, source, runs, MONTHS[:month])


def check_runs(steps: list[Any]) -> None:
    """Close months along the story; then every run's lines, summed per key, must equal the
    entitlement of the history known at the last closing, and no line's period may be after
    its run's month."""
    told = close_along(steps)
    story, source, runs, final = told.story, told.source, told.runs, told.months[-1]

    paid: dict[tuple[str, str, str, str, str], Decimal] = {}
    for closed_month, run in runs.closed().items():
        for ln in run.lines:
            assert ln.period <= closed_month
            key = (ln.journey_id, ln.provider_id, ln.period, ln.type, ln.voucher_id)
            paid[key] = paid.get(key, Decimal(0)) + ln.amount
    known = replay(story.log.events[: len(source.events)])
    expected = {k: v.amount for k, v in known.entitlement(final).items()}
    assert {k: v for k, v in paid.items() if v != 0} == expected


# --- the incremental entitlement agrees with the full one ---------------------------------------

BONUS = {"sai": Decimal("18000.00"), "grund": Decimal("18000.00")}
RATES = RateSchedule(
    [
        RateTable(
            date(2016, 1, 1), {"sai": Decimal("7293.00"), "grund": Decimal("3686.00")}, BONUS
        ),
        RateTable(
            date(2026, 4, 1),
            {"sai": Decimal("7400.00"), "grund": Decimal("3700.00")},
            BONUS,
            min_days_before_payment=10,
        ),
    ]
)


@st.composite
def settled_facts(draw: st.DrawFn) -> tuple[JourneyFacts, str, str]:
    """A journey, a settled month and a later month; half the time the journey starts so that
    its 14th (or 10th) day falls right around the end of the settled month."""
    i = draw(st.integers(min_value=0, max_value=len(MONTHS) - 2))
    settled, through = MONTHS[i], MONTHS[draw(st.integers(min_value=i, max_value=len(MONTHS) - 1))]
    next_start = date.fromisoformat(f"{MONTHS[i + 1]}-01")
    start = draw(
        st.one_of(
            st.builds(lambda k: next_start + timedelta(days=k), st.integers(-16, 2)),
            st.builds(lambda n: DAY0 + timedelta(days=n), st.integers(0, 260)),
        )
    )
    after = st.integers(min_value=0, max_value=120).map(lambda n: start + timedelta(days=n))
    assignments = [Assignment(P1, start)]
    if draw(st.booleans()):
        assignments.append(Assignment(P2, draw(after)))
    exit_ = None
    if draw(st.booleans()):
        exit_ = Exit(draw(after), "work", "permanent")
    vouchers = tuple(
        Voucher(f"v{n}", Decimal("5000.00"), "Körkort B", day_)
        for n, day_ in enumerate(draw(st.lists(after, max_size=2)))
    )
    approved = draw(st.one_of(st.none(), after)) if exit_ is not None else None
    insats = draw(st.sampled_from(["sai", "grund"]))
    f = JourneyFacts(
        "j1",
        insats=insats,
        assignments=tuple(sorted(assignments, key=lambda a: a.starts_on)),
        exit=exit_,
        vouchers=vouchers,
        reviews=() if approved is None else (Review(approved, "approved", None),),
    )
    return f, settled, through


@settings(max_examples=300, deadline=None)
@given(settled_facts(), st.sampled_from([{}, {P1: DEAUTHORISED_P1}]))
def test_entitlement_after_a_settled_month_is_exactly_what_was_added(
    case: tuple[JourneyFacts, str, str], deauthorised: dict[str, ProviderFacts]
) -> None:
    f, settled, through = case
    before = journey_entitlement(f, RATES, deauthorised, settled)
    now = journey_entitlement(f, RATES, deauthorised, through)
    added = journey_entitlement(f, RATES, deauthorised, through, after=settled)
    assert all(now[k] == v for k, v in before.items())
    assert added == {k: v for k, v in now.items() if k not in before}


@settings(max_examples=400, deadline=None)
@given(settled_facts(), st.sampled_from([{}, {P1: DEAUTHORISED_P1}]))
def test_the_runs_shortcut_for_settled_journeys_equals_the_incremental_entitlement(
    case: tuple[JourneyFacts, str, str], deauthorised: dict[str, ProviderFacts]
) -> None:
    # Given a journey unchanged since the run that settled `settled` (its row read from store)
    f, settled, through = case
    if settled == through:
        return
    row = row_of(f, changed_at=5)
    # When the run for `through` is computed from the row
    lines = compute_lines(through, [row], RATES, deauthorised, [], Settled(settled, 10))
    # Then it pays what the journey earned since the settled month, no more, no less
    expected = journey_entitlement(f, RATES, deauthorised, through, after=settled)
    assert {
        (ln.journey_id, ln.provider_id, ln.period, ln.type, ln.voucher_id): (
            ln.days,
            ln.rate,
            ln.amount,
        )
        for ln in lines
    } == {k: tuple(v) for k, v in expected.items()}


def _keyed(lines: Any) -> dict[Any, tuple[Any, ...]]:
    return {
        (ln.journey_id, ln.provider_id, ln.period, ln.type, ln.voucher_id): (
            ln.days,
            ln.rate,
            ln.amount,
        )
        for ln in lines
    }


@settings(max_examples=400, deadline=None)
@given(settled_facts(), st.sampled_from([{}, {P1: DEAUTHORISED_P1}]))
def test_the_runs_shortcut_for_journeys_nothing_was_paid_for_equals_their_entitlement(
    case: tuple[JourneyFacts, str, str], deauthorised: dict[str, ProviderFacts]
) -> None:
    # Given a journey nothing was paid for yet and no settled run (the first run ever)
    f, _, through = case
    row = row_of(f, changed_at=5)
    # When the run is computed from its row (ongoing, one provider: without decoding it)
    lines = compute_lines(through, [row], RATES, deauthorised, [], None)
    # Then it pays the journey's whole entitlement, as the full way does
    assert _keyed(lines) == {
        k: tuple(v) for k, v in journey_entitlement(f, RATES, deauthorised, through).items()
    }
    assert lines == compute_lines(through, [row], RATES, deauthorised, [], None, full=True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(settled_facts(), min_size=1, max_size=8),
    st.sampled_from([{}, {P1: DEAUTHORISED_P1}]),
)
def test_the_shortcuts_and_the_full_way_give_the_same_lines_in_the_same_order(
    cases: list[tuple[JourneyFacts, str, str]], deauthorised: dict[str, ProviderFacts]
) -> None:
    # Given several journeys (ids not in the order the rows come), some taking a shortcut
    facts = [f._replace(journey_id=f"j{(7 * i) % 10}") for i, (f, _, _) in enumerate(cases)]
    settled = min(s for _, s, _ in cases)
    through = max(t for _, _, t in cases)
    rows = [row_of(f, changed_at=5) for f in facts]
    # When the run is computed with nothing settled: the same lines as the full way, sorted
    fresh = compute_lines(through, rows, RATES, deauthorised, [], None)
    assert fresh == compute_lines(through, rows, RATES, deauthorised, [], None, full=True)
    assert fresh == sorted(fresh, key=lambda ln: (ln[1], ln[0], ln[2], ln[4], ln[5]))
    # And with `settled` settled: what each journey earned since, sorted the same way
    if settled < through:
        added = compute_lines(through, rows, RATES, deauthorised, [], Settled(settled, 10))
        expected: dict[Any, tuple[Any, ...]] = {}
        for f in facts:
            earned = journey_entitlement(f, RATES, deauthorised, through, after=settled)
            expected.update({k: tuple(v) for k, v in earned.items()})
        assert _keyed(added) == expected and len(added) == len(expected)
        assert added == sorted(added, key=lambda ln: (ln[1], ln[0], ln[2], ln[4], ln[5]))
