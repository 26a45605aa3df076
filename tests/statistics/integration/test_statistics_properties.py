"""Property: for any small set of journeys (with corrections, transfers of persons, follow-ups,
provider changes, withdrawn and never-started decisions), any period and any `as_of`, the
service's figures equal a straightforward reference written from SPEC §6 with real dates.
Dates are drawn from a few months so that they often fall on the period's edges."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import median
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import EXIT_REASONS, INSATS_TYPES, SELF_SUFFICIENT_REASONS, TARGET_GROUPS
from tests.statistics.stats_given import P1, P2, P3, Given

BASE = date(2023, 6, 1)


@dataclass
class Journey:
    """The corrected facts of one journey, as the reference reads them."""

    insats: str
    target_group: str
    person: str
    started: bool
    withdrawn: bool
    start: date
    exit: date | None
    reason: str
    plan: date | None
    follow_ups: list[tuple[date, str]] = field(default_factory=list)
    providers: list[tuple[date, str]] = field(default_factory=list)


@st.composite
def journeys(draw: st.DrawFn) -> tuple[Journey, list[tuple[str, Any]]]:
    """A journey and how it is recorded (facts, then corrections), as (kind, data) steps."""
    start = BASE + timedelta(days=draw(st.integers(0, 40)))
    recorded_start = start
    steps: list[tuple[str, Any]] = []
    j = Journey(
        insats=draw(st.sampled_from(INSATS_TYPES)),
        target_group=draw(st.sampled_from(TARGET_GROUPS[:3])),
        person=f"person-{draw(st.integers(0, 5))}",
        started=draw(st.booleans()) or draw(st.booleans()),
        withdrawn=False,
        start=start,
        exit=None,
        reason="other",
        plan=None,
    )
    if not j.started:
        j.withdrawn = draw(st.booleans())
        return j, steps
    if draw(st.booleans()):  # the start was recorded wrongly and corrected later
        recorded_start = start + timedelta(days=draw(st.integers(-10, 10)))
    first = draw(st.sampled_from((P1, P2, P3)))
    j.providers.append((start, first))
    steps.append(("start", (recorded_start, first)))
    if draw(st.booleans()):  # a change never precedes the start, recorded or corrected
        change = max(start, recorded_start) + timedelta(days=draw(st.integers(0, 30)))
        second = draw(st.sampled_from((P1, P2, P3)))
        j.providers.append((change, second))
        steps.append(("change", (change, second)))
    if draw(st.booleans()):
        j.plan = start + timedelta(days=draw(st.integers(57, 63)))  # around the due day
        steps.append(("plan", j.plan))
    if recorded_start != start:
        steps.append(("correct_start", (recorded_start, start)))
    if draw(st.booleans()):
        j.exit = start + timedelta(days=draw(st.integers(0, 80)))
        j.reason = draw(st.sampled_from(EXIT_REASONS))
        recorded_exit = j.exit
        if draw(st.booleans()):
            recorded_exit = j.exit + timedelta(days=draw(st.integers(-10, 10)))
        steps.append(("exit", (recorded_exit, j.reason)))
        if recorded_exit != j.exit:
            steps.append(("correct_exit", (recorded_exit, j.exit)))
        if j.reason in SELF_SUFFICIENT_REASONS:
            for _ in range(draw(st.integers(0, 2))):
                on = j.exit + timedelta(days=draw(st.integers(0, 20)))
                outcome = draw(st.sampled_from(("sustained", "deviation")))
                j.follow_ups.append((on, outcome))
                steps.append(("follow_up", (on, outcome)))
    j.providers.sort(key=lambda a: a[0])  # stable: a same-day change stays after the first
    return j, steps


def record(given: Given, j: Journey, steps: list[tuple[str, Any]]) -> None:
    journey = given.decision(
        insats=j.insats, person=j.person, target_group=j.target_group, decided_on="2023-01-01"
    )
    if j.withdrawn:
        given.withdraw(journey, "2023-01-02")
    for kind, data in steps:
        if kind in ("start", "change"):
            given.provider(journey, data[1], data[0].isoformat())
        elif kind == "plan":
            given.plan(journey, data.isoformat())
        elif kind == "correct_start":
            given.correct(journey, "starts_on", data[0].isoformat(), data[1].isoformat())
        elif kind == "exit":
            given.exit(journey, data[0].isoformat(), data[1])
        elif kind == "correct_exit":
            given.correct(journey, "exited_on", data[0].isoformat(), data[1].isoformat())
        elif kind == "follow_up":
            given.follow_up(journey, data[0].isoformat(), data[1])


def _rate(n: int, d: int) -> float | None:
    if d == 0:
        return None
    return float((Decimal(n) / Decimal(d)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def reference(
    js: list[Journey], f: date, t: date, as_of: date, group_by: str
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "journeys": 0,
            "persons": set(),
            "starts": 0,
            "exits": dict.fromkeys(EXIT_REASONS, 0),
            "days": [],
            "ss": 0,
            "sustained": 0,
            "deviation": 0,
            "counted": 0,
            "on_time": 0,
        }
    )
    for j in js:
        if j.withdrawn or not j.started or j.start > t:
            continue
        in_insats = j.exit is None or j.exit >= f
        outcome = None
        if j.insats == "forstarkt":
            within = [(on, n, o) for n, (on, o) in enumerate(j.follow_ups) if f <= on <= t]
            if within:
                outcome = max(within)[2]
        if not in_insats and outcome is None:
            continue
        if group_by == "insats":
            key = j.insats
        elif group_by == "target_group":
            key = j.target_group
        else:
            on = t if j.exit is None or j.exit > t else j.exit
            key = [p for s, p in j.providers if s <= on][-1]
        g = rows[key]
        if outcome is not None:
            g[outcome] += 1
        if not in_insats:
            continue
        g["journeys"] += 1
        g["persons"].add(j.person)
        g["starts"] += f <= j.start
        if j.exit is not None and j.exit <= t:
            g["exits"][j.reason] += 1
            if j.reason in SELF_SUFFICIENT_REASONS:
                g["ss"] += 1
                g["days"].append((j.exit - j.start).days)
        due = j.start + timedelta(days=60)
        if j.plan is not None and f <= j.plan <= t:
            counted = True
        elif f <= due <= t:
            counted = j.plan is not None or (due < as_of and (j.exit is None or j.exit >= due))
        else:
            counted = False
        if counted:
            g["counted"] += 1
            g["on_time"] += j.plan is not None and j.plan <= due

    keys = {"insats": list(INSATS_TYPES), "target_group": list(TARGET_GROUPS)}.get(
        group_by, sorted(rows)
    )
    for key in keys:
        _ = rows[key]  # materialise every listed group, empty ones too
    total = rows["total"]
    for key in keys:
        g = rows[key]
        for name in ("journeys", "starts", "ss", "sustained", "deviation", "counted", "on_time"):
            total[name] += g[name]
        total["persons"] |= g["persons"]
        total["days"] += g["days"]
        for reason in EXIT_REASONS:
            total["exits"][reason] += g["exits"][reason]

    result = {}
    for key, g in rows.items():
        exits_total = sum(g["exits"].values())
        result[key] = {
            "journeys": g["journeys"],
            "customers": len(g["persons"]),
            "starts": g["starts"],
            "exits": g["exits"],
            "exits_total": exits_total,
            "self_sufficient": g["ss"],
            "rate_of_journeys": _rate(g["ss"], g["journeys"]),
            "rate_of_exits": _rate(g["ss"], exits_total),
            "avg_days": float(
                (Decimal(sum(g["days"])) / len(g["days"])).quantize(Decimal("0.1"), ROUND_HALF_UP)
            )
            if g["days"]
            else None,
            "median_days": float(median(g["days"])) if g["days"] else None,
            "follow_ups": {"sustained": g["sustained"], "deviation": g["deviation"]},
            "plans": {"counted": g["counted"], "on_time": g["on_time"]},
            "plans_on_time_share": _rate(g["on_time"], g["counted"]),
        }
    return result


@settings(max_examples=150, deadline=None)
@given(
    logs=st.lists(journeys(), max_size=12),
    first=st.integers(0, 130),
    length=st.integers(0, 60),
    as_of=st.integers(50, 150),
    group_by=st.sampled_from(("insats", "provider", "target_group")),
    batch_size=st.integers(1, 7),
)
def test_figures_equal_the_reference(
    logs: list[tuple[Journey, list[tuple[str, Any]]]],
    first: int,
    length: int,
    as_of: int,
    group_by: str,
    batch_size: int,
) -> None:
    log = Given()
    for j, steps in logs:
        record(log, j, steps)
    today = BASE + timedelta(days=as_of)
    service = log.service(today=today, batch_size=batch_size)
    span = timedelta(days=length)
    f = BASE + timedelta(days=first)
    periods = [(f, f + span)]
    for j, _ in logs[:4]:  # periods that start or end on a journey's dates: the edge cases
        edges = [j.start, j.exit, j.plan, j.start + timedelta(days=60)]
        for d in [*edges, *(on for on, _ in j.follow_ups)]:
            if d is not None:
                periods += [(d, d + span), (d - span, d)]

    for f, t in periods:
        served = service.figures(f, t, group_by)
        assert served["groups"] == reference([j for j, _ in logs], f, t, today, group_by), (f, t)
