"""Benchmark: a year's statistics (SPEC §6) over N journeys (default 1 000 000).

    python bench/statistics.py [--journeys N] [--year 2024] [--db PATH] [--no-write]

1. Generates a deterministic public event log for N journeys (2016–2025) and feeds it through
   the 'statistics' projection's `handle` in batches of 20 000 journeys (each journey's events
   within one batch: a bulk load, one insert per journey), in SQLite (the embedded default).
2. Times the year's figures (grouped by insats, provider, target group), a ten-year period
   (every row loaded) and the HTML report, beside two baselines measured in the same run:
   - naive fold: no read model; every query replays every journey's events in Python
     (`contracts.journey.apply`) and then computes the figures. It is fed the same generated
     batches as the projection; its cost is generating the log (standing in for reading it
     from the store, which would only be slower) + folding + figures;
   - SQL GROUP BY: one portable aggregate query over the compact table. It can only give the
     simple counts (no medians, no provider on a date, no plan rules, no follow-ups).
3. Prints a table and writes it, with the machine, to docs/bench/statistics.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `statistics`: keep its folder off the path so
# `import statistics` anywhere means the standard library.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import random  # noqa: E402
import statistics as pystats  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from bench import figures  # noqa: E402
from bench.machine import machine_facts  # noqa: E402
from contracts import journey as model  # noqa: E402
from contracts.events import TARGET_GROUPS as CONTRACT_TARGET_GROUPS  # noqa: E402
from contracts.events import PublicEvent  # noqa: E402
from contracts.journey import JourneyFacts, ProviderFacts  # noqa: E402
from services.platform.db import SQLiteDatabase  # noqa: E402
from services.statistics.facts import STATISTICS_PARTS, figure_row  # noqa: E402
from services.statistics.figures import compute_figures  # noqa: E402
from services.statistics.projection import StatisticsProjection  # noqa: E402
from services.statistics.service import StatisticsService  # noqa: E402

FIRST_DAY = date(2016, 1, 1)
LAST_DAY = date(2025, 12, 31)
DAYS = (LAST_DAY - FIRST_DAY).days + 1
ISO = [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(DAYS + 800)]
PROVIDERS = [f"55600{n:05d}" for n in range(1, 41)]
INSATS = ["grund"] * 5 + ["forstarkt"] * 2 + ["sai"] * 3
TARGET_GROUPS = list(CONTRACT_TARGET_GROUPS)
REASONS = (
    ["work"] * 35
    + ["studies"] * 10
    + ["own_business"] * 2
    + ["other_insats"] * 5
    + ["moved"] * 8
    + ["illness"] * 10
    + ["other_authority"] * 8
    + ["dropped_out"] * 12
    + ["other"] * 10
)
SELF_SUFFICIENT = {"work", "studies", "own_business"}
CHUNK = 20_000  # journeys per batch (~50 000 events)


class LogWriter:
    """Builds PublicEvents with increasing positions."""

    def __init__(self) -> None:
        self.position = 0

    def event(
        self,
        stream: str,
        version: int,
        kind: str,
        effective: str,
        payload: dict[str, Any],
        stream_type: str = "journey",
    ) -> PublicEvent:
        self.position += 1
        return PublicEvent(
            self.position,
            f"{stream}/{version}",
            stream,
            stream_type,
            kind,
            version,
            effective,
            "2026-01-01T00:00:00Z",
            "bench",
            "bench",
            "bench",
            payload,
        )


def _pick(rng: random.Random, items: list[str]) -> str:
    return items[int(rng.random() * len(items))]


def journey_events(rng: random.Random, log: LogWriter, index: int) -> list[PublicEvent]:
    """The events of journey `index`, in recording order."""
    r = rng.random
    jid = f"00000000-0000-4000-8000-{index:012d}"
    reuse = index > 1000 and r() < 0.07  # a person with an earlier journey (e.g. a transfer)
    person = f"p{index - 1 - int(r() * 1000) if reuse else index}"
    insats = _pick(rng, INSATS)
    decided = int(r() * DAYS)
    out: list[PublicEvent] = []
    event = log.event
    out.append(
        event(
            jid,
            1,
            "DecisionRegistered",
            ISO[decided],
            {
                "external_ref": {"system": "bench", "decision_id": jid},
                "person_ref": person,
                "person_id_kind": "personnummer",
                "insats": insats,
                "decided_on": ISO[decided],
                "decided_by": "bench",
                "target_group": _pick(rng, TARGET_GROUPS),
                "transfer_from": None,
            },
        )
    )
    fate = r()
    if fate < 0.02:
        out.append(
            event(
                jid,
                2,
                "DecisionWithdrawn",
                ISO[decided + 3],
                {"withdrawn_on": ISO[decided + 3], "reason": "bench"},
            )
        )
        return out
    if fate < 0.04 or decided + 30 >= DAYS:
        return out  # decided, never started
    version = 2
    start = decided + int(r() * 31)
    provider = _pick(rng, PROVIDERS)
    out.append(
        event(
            jid,
            version,
            "ProviderChosen",
            ISO[start],
            {"provider_id": provider, "starts_on": ISO[start]},
        )
    )
    if r() < 0.92:
        version += 1
        established = start + 5 + int(r() * 86)
        out.append(
            event(
                jid,
                version,
                "PlanRegistered",
                ISO[established],
                {
                    "established_on": ISO[established],
                    "due_on": ISO[start + 60],
                    "late": established > start + 60,
                },
            )
        )
    duration = int(rng.expovariate(1 / 300)) + 14
    end = start + duration
    if r() < 0.2 and duration > 60:
        change = start + 30 + int(r() * (duration - 30))
        if change < DAYS:
            version += 1
            out.append(
                event(
                    jid,
                    version,
                    "ProviderChanged",
                    ISO[change],
                    {
                        "provider_id": _pick(rng, PROVIDERS),
                        "starts_on": ISO[change],
                        "previous_provider_id": provider,
                    },
                )
            )
    if r() < 0.1:
        version += 1
        granted = min(start + int(r() * 60), DAYS - 1)
        out.append(
            event(
                jid,
                version,
                "VoucherGranted",
                ISO[granted],
                {
                    "voucher_id": f"{jid}-v",
                    "amount": "5000.00",
                    "purpose": "B-körkort",
                    "granted_on": ISO[granted],
                },
            )
        )
    if end >= DAYS:
        return out  # still in insats at the end of the data
    reason = _pick(rng, REASONS)
    version += 1
    out.append(
        event(jid, version, "JourneyExited", ISO[end], {"exited_on": ISO[end], "reason": reason})
    )
    if r() < 0.01:
        moved = max(start, min(DAYS - 1, end - 20 + int(r() * 41)))
        version += 1
        out.append(
            event(
                jid,
                version,
                "Corrected",
                ISO[moved],
                {"what": "exited_on", "old": ISO[end], "new": ISO[moved], "reason": "bench"},
            )
        )
    if insats == "forstarkt" and reason in SELF_SUFFICIENT and end + 183 < DAYS:
        version += 1
        out.append(
            event(
                jid,
                version,
                "FollowUpRecorded",
                ISO[end + 183],
                {
                    "followed_up_on": ISO[end + 183],
                    "outcome": "sustained" if r() < 0.8 else "deviation",
                    "evidence": [{"type": "anställningsbevis", "id": "x", "date": ISO[end + 183]}],
                    "due_on": ISO[end + 183],
                    "bonus_claim": True,
                },
            )
        )
    return out


def provider_events(log: LogWriter) -> list[PublicEvent]:
    events = []
    for n, provider in enumerate(PROVIDERS):
        stream = f"provider-{provider}"
        events.append(
            log.event(
                stream,
                1,
                "ProviderAuthorised",
                "2016-01-01",
                {
                    "provider_id": provider,
                    "name": f"Anordnare {n + 1} AB",
                    "insats_types": ["grund", "forstarkt", "sai"],
                    "authorised_from": "2016-01-01",
                },
                stream_type="provider",
            )
        )
    for provider, on in ((PROVIDERS[0], "2020-03-01"), (PROVIDERS[1], "2024-06-01")):
        events.append(
            log.event(
                f"provider-{provider}",
                2,
                "ProviderDeauthorised",
                on,
                {"provider_id": provider, "effective_on": on, "reason": "bench"},
                stream_type="provider",
            )
        )
    return events


def batches(journeys: int, seed: int = 2016) -> Iterator[list[PublicEvent]]:
    """The log in batches of CHUNK journeys (each journey's events within one batch)."""
    rng = random.Random(seed)
    log = LogWriter()
    yield provider_events(log)
    for first in range(0, journeys, CHUNK):
        batch: list[PublicEvent] = []
        for index in range(first, min(journeys, first + CHUNK)):
            batch.extend(journey_events(rng, log, index))
        yield batch


# --- measurements -----------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


class NaiveFold:
    """Baseline without a read model: every query folds every event of the log in Python.

    It is fed the same generated batches as the projection (so the log is produced once per
    run); its cost per query is generating the log (standing in for reading it from the store,
    which would only be slower) + folding it + computing the figures."""

    def __init__(self) -> None:
        self.states: dict[str, JourneyFacts] = {}
        self.providers: dict[str, ProviderFacts] = {}
        self.fold_s = 0.0

    def fold(self, batch: list[PublicEvent]) -> None:
        t0 = time.perf_counter()
        states = self.states
        for event in batch:
            if event.stream_type == "provider":
                pid = event.payload["provider_id"]
                self.providers[pid] = model.apply_provider(self.providers.get(pid), event)
            elif event.stream_type == "journey":
                states[event.stream_id] = model.apply(
                    states.get(event.stream_id), event, STATISTICS_PARTS
                )
        self.fold_s += time.perf_counter() - t0

    def figures(self, period_from: date, period_to: date) -> dict[str, Any]:
        facts = [figure_row(s, self.providers) for s in self.states.values()]
        return compute_figures(facts, period_from, period_to, "insats", as_of=period_to)


SQL_BASELINE = """
SELECT insats,
       COUNT(*) AS journeys,
       COUNT(DISTINCT person_ref) AS customers,
       SUM(CASE WHEN starts_on >= %s THEN 1 ELSE 0 END) AS starts,
       SUM(CASE WHEN exited_on <= %s THEN 1 ELSE 0 END) AS exits,
       SUM(CASE WHEN exited_on <= %s AND exit_reason IN ('work', 'studies', 'own_business')
                THEN 1 ELSE 0 END) AS self_sufficient,
       AVG(CASE WHEN exited_on <= %s AND exit_reason IN ('work', 'studies', 'own_business')
                THEN exit_days END) AS avg_days
FROM statistics_journeys
WHERE withdrawn = 0 AND starts_on IS NOT NULL AND starts_on <= %s
  AND (exited_on IS NULL OR exited_on >= %s)
GROUP BY insats
"""


def sql_group_by(db: SQLiteDatabase, f_: str, t_: str) -> list[tuple[Any, ...]]:
    with db.transaction() as tx:
        return tx.execute(SQL_BASELINE, (f_, t_, t_, t_, t_, f_)).fetchall()


machine = machine_facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: temporary)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/bench")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive-fold baseline")
    args = parser.parse_args()

    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="insats-bench-")
    db_path = args.db or Path(tmp.name) / "statistics.sqlite"
    if db_path.exists():
        db_path.unlink()
    db = SQLiteDatabase(db_path)
    projection = StatisticsProjection()
    with db.transaction() as tx:
        projection.setup(tx)

    # 1. load through the projection's batch path
    events = 0
    generate_s = handle_s = 0.0
    iterator = batches(args.journeys)
    naive = None if args.skip_naive else NaiveFold()
    while True:
        g0 = time.perf_counter()
        batch = next(iterator, None)
        generate_s += time.perf_counter() - g0
        if batch is None:
            break
        h0 = time.perf_counter()
        with db.transaction() as tx:
            projection.handle(tx, batch)
        handle_s += time.perf_counter() - h0
        events += len(batch)
        if naive is not None:
            naive.fold(batch)
    load_s = generate_s + handle_s  # the naive baseline's folding is timed on its own
    with db.transaction() as tx:
        rows = int(tx.scalar("SELECT COUNT(*) FROM statistics_journeys"))
    print(
        f"loaded {args.journeys:,} journeys ({events:,} events, {rows:,} rows) in {load_s:.1f} s "
        f"(generating {generate_s:.1f} s, projection.handle {handle_s:.1f} s = "
        f"{events / handle_s:,.0f} events/s)",
        flush=True,
    )

    service = StatisticsService(db, today=lambda: date(2026, 1, 1))
    y_from, y_to = date(args.year, 1, 1), date(args.year, 12, 31)
    all_from, all_to = FIRST_DAY, LAST_DAY
    with db.transaction() as tx:
        year_rows = int(
            tx.scalar(
                "SELECT COUNT(*) FROM statistics_journeys WHERE last_relevant_on >= %s "
                "AND starts_on <= %s",
                (y_from.isoformat(), y_to.isoformat()),
            )
        )

    results: list[tuple[str, list[float], str]] = []

    def measure(
        label: str, fn: Callable[[], Any], note: str = "", repeat: int = args.repeat
    ) -> Any:
        times, result = timed(fn, repeat)
        results.append((label, times, note))
        print(
            f"{label:<58} median {pystats.median(times):7.2f} s  (runs: "
            f"{', '.join(f'{t:.2f}' for t in times)})",
            flush=True,
        )
        return result

    year = measure(
        f"figures {args.year}, group_by insats",
        lambda: service.figures(y_from, y_to, "insats"),
        f"{year_rows:,} rows loaded",
    )
    measure(
        f"figures {args.year}, group_by provider", lambda: service.figures(y_from, y_to, "provider")
    )
    measure(
        f"figures {args.year}, group_by target_group",
        lambda: service.figures(y_from, y_to, "target_group"),
    )
    measure(
        "figures 2016–2025 (every row), group_by insats",
        lambda: service.figures(all_from, all_to, "insats"),
        f"{rows:,} rows",
        repeat=1,
    )
    html = measure(
        f"HTML report {args.year} (3 groupings, figures 1/5/7)",
        lambda: service.report_html(y_from, y_to),
        repeat=1,
    )
    measure(
        f"baseline: SQL GROUP BY {args.year} (simple counts only)",
        lambda: sql_group_by(db, y_from.isoformat(), y_to.isoformat()),
    )
    if naive is not None:
        times, naive_figures = timed(lambda: naive.figures(y_from, y_to), 1)
        per_query = generate_s + naive.fold_s + times[0]
        results.append(
            (
                f"baseline: naive fold of every event, {args.year}",
                [per_query],
                f"generating {events:,} events {generate_s:.1f} s + folding {naive.fold_s:.1f} s "
                f"+ figures {times[0]:.1f} s",
            )
        )
        print(f"{results[-1][0]:<58} {per_query:7.2f} s  ({results[-1][2]})", flush=True)
        served = service.figures(y_from, y_to, "insats", as_of=y_to)
        assert naive_figures["groups"] == served["groups"], "read model and naive fold disagree"
        print("naive fold and read model agree on every figure", flush=True)

    total = year["groups"]["total"]
    print(
        f"year {args.year}: journeys {total['journeys']:,}, customers {total['customers']:,}, "
        f"self-sufficient {total['self_sufficient']:,}, report {len(html):,} characters"
    )

    if not args.no_write:
        write_markdown(
            args,
            machine(),
            events,
            rows,
            load_s,
            generate_s,
            handle_s,
            results,
            year_rows,
            time.perf_counter() - started,
        )
    db.close()
    tmp.cleanup()


def write_markdown(
    args: argparse.Namespace,
    mach: dict[str, str],
    events: int,
    rows: int,
    load_s: float,
    generate_s: float,
    handle_s: float,
    results: list[tuple[str, list[float], str]],
    year_rows: int,
    wall_s: float,
) -> None:
    medians = {label: pystats.median(times) for label, times, _ in results}
    year = max(v for k, v in medians.items() if k.startswith("figures ") and "–" not in k)
    naive = next((v for k, v in medians.items() if "naive" in k), None)
    figures.save(
        "statistics",
        {
            "journeys": args.journeys,
            "events": events,
            "seconds (median per query)": medians,
            "slowest year figures s": year,
            "baseline: naive fold s": naive,
        },
    )
    lines = [
        "# Statistics benchmark (SPEC §6)",
        "",
        "Produced by `python bench/statistics.py"
        + (f" --journeys {args.journeys}" if args.journeys != 1_000_000 else "")
        + f"` on {time.strftime('%Y-%m-%d')} (whole run {wall_s:.0f} s); rerun it to refresh "
        "this file. The machine's 2 cores are shared with other work, so expect some noise.",
        "",
        f"**A year's figures over {args.journeys:,} journeys: at most {year:.2f} s** (slowest "
        "grouping; goal ≤ 10 s for 1 000 000 journeys)"
        + (f", {naive / year:.0f}× faster than folding every event per query." if naive else "."),
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in mach.items()],
        "",
        "## Data",
        "",
        f"- {args.journeys:,} journeys decided 2016–2025 ({events:,} public events, "
        f"{rows:,} rows in `statistics_journeys`), SQLite file (embedded default).",
        "- About 2 % withdrawn, 2 % never started, 7 % of journeys belong to a person with an "
        "earlier journey, 20 % change provider, 1 % have a corrected exit date, 40 providers "
        "(two de-authorised).",
        f"- Loaded through `StatisticsProjection.handle` in batches of ~{CHUNK:,} journeys: "
        f"{load_s:.1f} s in total, of which generating events {generate_s:.1f} s and "
        f"`handle` {handle_s:.1f} s ({events / handle_s:,.0f} events/s).",
        f"- The year {args.year} needs {year_rows:,} rows, read with one query "
        "(`last_relevant_on >= from AND starts_on <= to`; a table scan in SQLite, which beats "
        "the index for a year of ten years' data) and aggregated in Python.",
        "",
        "## Results",
        "",
        "Median of the runs (all runs in seconds). Goal: a year's figures over 1 000 000 "
        "journeys in ≤ 10 s.",
        "",
        "| measurement | median s | runs | note |",
        "|---|---:|---|---|",
    ]
    for label, times, note in results:
        lines.append(
            f"| {label} | {pystats.median(times):.2f} | "
            f"{', '.join(f'{t:.2f}' for t in times)} | {note} |"
        )
    lines += [
        "",
        "Baselines: *SQL GROUP BY* is one portable aggregate over the same compact table; it "
        "yields only journeys, customers, starts, exits, self-sufficient exits and their mean "
        "(no medians, no counts per exit reason, follow-ups, plan rules or provider on a date). "
        "*Naive fold* keeps no read model: per query it reads the whole log (here: the time "
        "taken to generate it in memory, standing in for reading the store, which would only be "
        "slower), folds every event with the same `contracts.journey.apply` and computes the "
        "figures; its result is checked to equal the read model's.",
        "",
    ]
    out = ROOT / "docs" / "bench" / "statistics.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
