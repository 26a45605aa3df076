"""The baseline against the scenario: totals and differences per month, provider, insats and
line type, the journeys whose outcome changes, and the self-sufficiency figures under both.

Pure: from a `Simulation` (services.payments.sandbox) to the comparison's JSON shape
(docs/sandbox.md), which the CSV, the HTML page and the API all render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.events import INSATS_TYPES
from contracts.journey import SPEC_RULES, JourneyFacts, Providers
from contracts.scenario import Scenario
from services.payments.model import Run, RunLine
from services.payments.rules import LINE_TYPES, first_day, last_day
from services.payments.sandbox import BASELINE, Simulation
from services.statistics.facts import figure_row
from services.statistics.figures import compute_figures

SCENARIO = "scenario"
ZERO = Decimal("0.00")
# The figures shown under both rules (the rest of GET /v1/statistics does not depend on them).
FIGURES = ("journeys", "exits_total", "self_sufficient", "rate_of_journeys", "rate_of_exits")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _row(key: str, baseline: Decimal, scenario: Decimal, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        **extra,
        "baseline": _money(baseline),
        "scenario": _money(scenario),
        "difference": _money(scenario - baseline),
    }


# (provider, insats, line type, period) → amount; (journey, line type) → amount
_DimensionSums = dict[tuple[str, str, str, str], Decimal]
_JourneySums = dict[tuple[str, str], Decimal]


def _summed(runs: Iterable[Run]) -> tuple[_DimensionSums, _JourneySums, dict[str, Decimal]]:
    """One pass over a policy's lines: the sums every dimension, every journey and every
    month read (a year over 100 000 journeys is millions of lines)."""
    dims: _DimensionSums = {}
    journeys: _JourneySums = {}
    months: dict[str, Decimal] = {}
    for run in runs:
        total = ZERO
        for period, provider, jid, insats, kind, _, _, _, amount in run.lines:
            k = (provider, insats, kind, period)
            dims[k] = dims.get(k, ZERO) + amount
            j = (jid, kind)
            journeys[j] = journeys.get(j, ZERO) + amount
            total += amount
        months[run.month] = total
    return dims, journeys, months


def sum_amounts(lines: Iterable[RunLine]) -> Decimal:
    return sum((line.amount for line in lines), ZERO)


def _dimension(
    baseline: _DimensionSums, scenario: _DimensionSums, part: int, order: Iterable[str] = ()
) -> list[tuple[str, Decimal, Decimal]]:
    """The sums by one part of the key (0 provider, 1 insats, 2 line type, 3 period)."""
    b: dict[str, Decimal] = {}
    s: dict[str, Decimal] = {}
    for sums, out in ((baseline, b), (scenario, s)):
        for key, amount in sums.items():
            out[key[part]] = out.get(key[part], ZERO) + amount
    keys = list(dict.fromkeys([*order, *sorted(b.keys() | s.keys())]))
    return [(k, b.get(k, ZERO), s.get(k, ZERO)) for k in keys if k in b or k in s]


def _journey_outcomes(
    baseline: _JourneySums,
    scenario: _JourneySums,
    runs: Iterable[Run],
) -> tuple[list[dict[str, Any]], int]:
    """Every journey paid differently, and how many of them change outcome: a line type paid
    under one and nothing under the other (fell under a new threshold, lost or gained the
    bonus, …)."""
    per: dict[str, dict[str, list[Decimal]]] = {}
    for key in baseline.keys() | scenario.keys():
        b, s = baseline.get(key, ZERO), scenario.get(key, ZERO)
        if b != s:
            per.setdefault(key[0], {})[key[1]] = [b, s]
    about: dict[str, tuple[str, set[str]]] = {}
    for run in runs:  # insats and providers, for the journeys that differ only
        for line in run.lines:
            if line.journey_id in per:
                about.setdefault(line.journey_id, (line.insats, set()))[1].add(line.provider_id)
    rows = []
    changed_outcomes = 0
    for jid in sorted(per):
        differing = per[jid]
        b = sum((baseline.get((jid, k), ZERO) for k in LINE_TYPES), ZERO)
        s = sum((scenario.get((jid, k), ZERO) for k in LINE_TYPES), ZERO)
        outcome = []
        for kind in LINE_TYPES:
            paid = differing.get(kind)
            if paid is None:
                continue
            if paid[0] != 0 and paid[1] == 0:
                outcome.append(f"{kind}_lost")
            elif paid[0] == 0 and paid[1] != 0:
                outcome.append(f"{kind}_gained")
        changed_outcomes += bool(outcome)
        insats, providers = about[jid]
        rows.append(
            {
                "journey_id": jid,
                "insats": insats,
                "providers": sorted(providers),
                "baseline": _money(b),
                "scenario": _money(s),
                "difference": _money(s - b),
                "by_line_type": {k: _money(p[1] - p[0]) for k, p in differing.items()},
                "outcome": outcome,
            }
        )
    return rows, changed_outcomes


def _statistics(
    facts: list[JourneyFacts],
    providers: Providers,
    scenario: Scenario,
    period_from: date,
    period_to: date,
    as_of: date,
) -> dict[str, Any]:
    """The self-sufficiency figures of the period per insats, under SPEC's rules and the
    scenario's, with the exits that qualify for the bonus under each."""
    counted = [f for f in facts if f.counts]
    rows = [figure_row(f, providers) for f in counted]
    demoted = frozenset(
        n
        for n, f in enumerate(counted)
        if f.exit is not None and f.exit.self_sufficient and not scenario.self_sufficient(f.exit)
    )
    out: dict[str, Any] = {"from": period_from.isoformat(), "to": period_to.isoformat()}
    for name, excluded in ((BASELINE, frozenset[int]()), (SCENARIO, demoted)):
        figures = compute_figures(
            rows, period_from, period_to, "insats", as_of=as_of, not_self_sufficient=excluded
        )["groups"]
        groups = {}
        for group, values in figures.items():
            groups[group] = {k: values[k] for k in FIGURES}
        for group in groups:
            groups[group]["bonus_qualifying"] = 0
        for f in counted:
            exit_ = f.exit
            if exit_ is None or not period_from <= exit_.exited_on <= period_to:
                continue
            rules = SPEC_RULES if name == BASELINE else scenario.rules_on(exit_.exited_on)
            if rules.qualifies_for_bonus(exit_):
                for group in (f.insats or "", "total"):
                    if group in groups:
                        groups[group]["bonus_qualifying"] += 1
        out[name] = groups
    return out


def compare(
    simulation: Simulation,
    scenario: Scenario,
    *,
    month_from: str,
    month_to: str,
    known_at: datetime | None,
    as_of: date,
    provider_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The comparison's JSON shape (docs/sandbox.md)."""
    base_runs = simulation.runs[BASELINE]
    scen_runs = simulation.runs[SCENARIO]
    names = dict(provider_names or {})
    for run in (*base_runs.values(), *scen_runs.values()):
        for pid, info in run.providers.items():
            if info.name:
                names.setdefault(pid, info.name)

    base_dims, base_journeys, base_months = _summed(base_runs.values())
    scen_dims, scen_journeys, scen_months = _summed(scen_runs.values())
    months: list[dict[str, Any]] = []
    paid_total = ZERO
    all_match = True
    for basis in simulation.months:
        if basis.folded:
            months.append(
                {
                    "month": basis.month,
                    "basis": "folded",
                    "position": None,
                    "paid": None,
                    "baseline": None,
                    "scenario": None,
                    "difference": None,
                    "baseline_matches_paid": None,
                }
            )
            continue
        paid = None
        matches = None
        if basis.closed is not None:
            closed_lines = basis.closed.lines
            matches = base_runs[basis.month].lines == closed_lines  # Decimals compare by value
            all_match = all_match and matches
            paid = base_months[basis.month] if matches else sum_amounts(closed_lines)
            paid_total += paid
        months.append(
            {
                "month": basis.month,
                "basis": "closed_run" if basis.closed is not None else "known_at",
                "position": basis.position,
                "paid": None if paid is None else _money(paid),
                "baseline": _money(base_months[basis.month]),
                "scenario": _money(scen_months[basis.month]),
                "difference": _money(scen_months[basis.month] - base_months[basis.month]),
                "baseline_matches_paid": matches,
            }
        )
    b_total = sum(base_months.values(), ZERO)
    s_total = sum(scen_months.values(), ZERO)
    bases = [m for m in simulation.months if not m.folded]
    journeys, outcome_changes = _journey_outcomes(
        base_journeys, scen_journeys, [*base_runs.values(), *scen_runs.values()]
    )

    return {
        "scenario": scenario.model_dump(mode="json", exclude_none=True),
        "from": month_from,
        "to": month_to,
        "known_at": None if known_at is None else known_at.isoformat(),
        "position": simulation.position,
        "months": months,
        "totals": {
            "baseline": _money(b_total),
            "scenario": _money(s_total),
            "difference": _money(s_total - b_total),
            "paid": _money(paid_total) if any(m.closed for m in bases) else None,
            "baseline_matches_paid": all_match if any(m.closed for m in bases) else None,
        },
        "by_provider": [
            _row(k, b, s, name=names.get(k, "")) for k, b, s in _dimension(base_dims, scen_dims, 0)
        ],
        "by_insats": [
            _row(k, b, s) for k, b, s in _dimension(base_dims, scen_dims, 1, INSATS_TYPES)
        ],
        "by_line_type": [
            _row(k, b, s) for k, b, s in _dimension(base_dims, scen_dims, 2, LINE_TYPES)
        ],
        "by_period": [_row(k, b, s) for k, b, s in _dimension(base_dims, scen_dims, 3)],
        "journeys": {
            "changed": len(journeys),
            "outcome_changed": outcome_changes,
            "rows": journeys,
        },
        "statistics": _statistics(
            simulation.facts,
            simulation.providers,
            scenario,
            first_day(month_from),
            last_day(month_to),
            as_of,
        ),
    }
