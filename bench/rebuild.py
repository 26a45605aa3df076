"""Benchmark: reading the whole log — rebuild, verify, export, import (issue 13), each beside
baselines measured in the same run on the same store.

    python bench/rebuild.py [--journeys 5000,20000,50000] [--postgres URL] [--no-write]

For each size, a SQLite store of journeys × 4 public events (decision, provider choice, plan,
exit; generated as in bench/relay.py and recorded by `events import`) is read as:
  - raw rows: the event table read with sqlite3/psycopg, no decoding (the floor);
  - a plain eventsourcing read + decode: `recorder.select_notifications` pages turned into
    domain events by the mapper (what a team without insats would do);
  - the public log: the same pages as public envelopes (`LifecycleApp.public_events`);
  - a full rebuild of every read model in one pass (`FeedRunner.rebuild()`), and the same read
    models rebuilt one after another (one pass each: how it was done before);
  - `insats audit verify` in a process of its own, with its peak RSS, beside the RSS of a
    process that holds the decoded log in a list (how verify worked before);
  - `events export` and `events import` of the same log.
With --postgres, the middle size is also copied into PostgreSQL (event store and read models)
and its reads and rebuild are measured there. Writes docs/bench/rebuild.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path, and bench/statistics.py would shadow the
# standard library's statistics module that the service imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import date  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("INSATS_TODAY", "2026-11-23")
os.environ.setdefault("INSATS_PERSON_KEY", "cd" * 32)

from bench.figures import save as save_figures  # noqa: E402
from bench.machine import machine_facts  # noqa: E402
from bench.relay import generate, template  # noqa: E402
from insats.bootstrap import Container, build  # noqa: E402
from services.lifecycle.application import PUBLIC_TOPICS  # noqa: E402
from services.lifecycle.store import StoreConfig  # noqa: E402
from services.lifecycle.transfer import export_events, import_events  # noqa: E402

PAGE = 1000
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - started


def raw_rows(c: Container) -> int:
    """The event table's rows as stored: no decoding (the floor any reader stands on)."""
    if c.config.sqlite_file is not None:
        with sqlite3.connect(c.config.sqlite_file) as conn:
            rows = 0
            cur = conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
            )
            while page := cur.fetchmany(PAGE):
                rows += len(page)
            return rows
    import psycopg

    with (
        psycopg.connect(c.config.postgres_url or "") as conn,
        conn.cursor(name="bench_raw") as cur,
    ):
        cur.itersize = PAGE
        cur.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {c.config.schema}.lifecycle_events"
        )
        return sum(1 for _ in cur)


def plain_decode(c: Container) -> int:
    """A plain eventsourcing reader: notification pages decoded to domain events."""
    app, after, n = c.lifecycle, 0, 0
    while True:
        page = app.recorder.select_notifications(
            start=after, limit=PAGE, topics=PUBLIC_TOPICS, inclusive_of_start=False
        )
        if not page:
            return n
        for notification in page:
            app.mapper.to_domain_event(notification)
        n += len(page)
        after = page[-1].id


def public_log(c: Container) -> int:
    return sum(1 for _ in c.lifecycle.iter_public_events())


def rebuild_all(c: Container) -> int:
    c.feed.rebuild()
    return c.lifecycle.public_head()


def rebuild_each(c: Container) -> int:
    for name in sorted(c.feed.projections):
        c.feed.rebuild(name)
    return c.lifecycle.public_head()


# Peak RSS is read in the measured process itself, from /proc/self/status (VmHWM): the
# resource module's ru_maxrss of a child counts the parent's size at fork time on Linux, and
# this process holds the generated log.
PEAK = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            print("PEAK_KB", line.split()[1], file=sys.stderr)
atexit.register(peak)
"""

RUN_CLI = (
    PEAK
    + """
import runpy
sys.argv = ["insats", *sys.argv[1:]]
runpy.run_module("insats", run_name="__main__")
"""
)


def _peak_mb(stderr: str) -> float:
    return (
        next(int(line.split()[1]) for line in stderr.splitlines() if line.startswith("PEAK_KB"))
        / 1024
    )


def verify_in_a_process(config: StoreConfig) -> tuple[float, float, str]:
    """`insats audit verify` as an operator runs it: seconds, peak RSS in MB, last line."""
    args = [sys.executable, "-c", RUN_CLI, "audit", "verify"]
    if config.sqlite_file is not None:
        args += ["--db", str(config.sqlite_file)]
    else:
        args += ["--postgres", config.postgres_url or ""]
    env = {**os.environ, "INSATS_POSTGRES_SCHEMA": config.schema}
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"audit verify failed:\n{done.stdout}\n{done.stderr}")
    return took, _peak_mb(done.stderr), done.stdout.strip().splitlines()[-1]


HOLD_THE_LOG = (
    PEAK
    + """
from pathlib import Path
sys.path.insert(0, {root!r})
from insats.bootstrap import build
from services.lifecycle.store import StoreConfig
c = build(StoreConfig(sqlite_file=Path({db!r})), record_default_rates=False)
events = list(c.lifecycle.iter_public_events())
"""
)


def rss_holding_the_log(db: Path) -> float:
    """Peak RSS (MB) of a process that holds the decoded log in a list (the old verify)."""
    code = HOLD_THE_LOG.format(root=str(ROOT), db=str(db))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    return _peak_mb(done.stderr)


def plain_save(tmp: Path, journeys: int) -> tuple[int, float]:
    """Baseline for the import: a plain eventsourcing Application (SQLite) saving the same
    number of events — one aggregate of four events per journey — in one transaction."""
    from bench.baseline_service import Case, Cases

    app = Cases(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "plain.db")}
    )
    cases = []
    for n in range(journeys):
        case = Case(person_id=f"p{n}", insats="grund", decided_on="2026-01-10")
        case.choose(provider_id="5560360793", starts_on="2026-01-20")
        case.plan(established_on="2026-02-10")
        case.exit(exited_on="2026-06-30", reason="work")
        cases.append(case)
    started = time.perf_counter()
    app.save(*cases)
    return journeys * 4, time.perf_counter() - started


def export_lines(c: Container) -> list[str]:
    out = io.StringIO()
    export_events(c.lifecycle, out, include_person_ids=True)
    return out.getvalue().splitlines()


def measure(c: Container, label: str, rows: list[list[Any]], events: int) -> dict[str, float]:
    figures: dict[str, float] = {}

    def add(what: str, fn: Callable[[], int], *, baseline: str = "") -> float:
        _, took = timed(fn)
        rate = events / took
        figures[what] = rate
        rows.append([label, what, f"{events:,}", f"{took:.2f}", f"{rate:,.0f}", baseline])
        print(f"  {what:55} {took:7.2f} s {rate:>10,.0f} events/s", flush=True)
        return rate

    add("raw rows (no decoding)", lambda: raw_rows(c), baseline="floor")
    add("plain eventsourcing read + decode", lambda: plain_decode(c), baseline="baseline")
    add("public log (insats)", lambda: public_log(c))
    add("rebuild, each read model in a pass of its own", lambda: rebuild_each(c), baseline="before")
    add("rebuild of every read model in one pass (insats)", lambda: rebuild_all(c))
    return figures


def run_size(tmp: Path, journeys: int, lines: list[str], pg: str | None) -> dict[str, Any]:
    rows: list[list[Any]] = []
    result: dict[str, Any] = {"journeys": journeys}
    config = StoreConfig(sqlite_file=tmp / f"s{journeys}" / "var" / "insats.db")
    c = build(config, record_default_rates=False)
    imported, took = timed(lambda: import_events(c.lifecycle, lines))
    events = c.lifecycle.public_head()
    result["events"] = events
    print(f"{journeys:,} journeys, {events:,} log positions (SQLite)", flush=True)
    rows.append(
        ["SQLite", "events import", f"{imported:,}", f"{took:.2f}", f"{imported / took:,.0f}", ""]
    )
    result["import"] = imported / took
    saved, took = plain_save(tmp / f"s{journeys}", journeys)
    rows.append(
        [
            "SQLite",
            "baseline: plain eventsourcing save of as many events, one transaction",
            f"{saved:,}",
            f"{took:.2f}",
            f"{saved / took:,.0f}",
            "baseline",
        ]
    )
    result["baseline: plain save"] = saved / took
    exported, took = timed(lambda: len(export_lines(c)))
    rows.append(
        ["SQLite", "events export", f"{exported:,}", f"{took:.2f}", f"{exported / took:,.0f}", ""]
    )
    result["export"] = exported / took
    result["sqlite"] = measure(c, "SQLite", rows, events)
    c.close()
    verify_s, verify_mb, said = verify_in_a_process(config)
    held_mb = rss_holding_the_log(config.sqlite_file)  # type: ignore[arg-type]
    rows.append(
        [
            "SQLite",
            "audit verify (own process)",
            f"{events:,}",
            f"{verify_s:.2f}",
            f"{events / verify_s:,.0f}",
            f"peak RSS {verify_mb:.0f} MB",
        ]
    )
    rows.append(
        [
            "SQLite",
            "a process holding the decoded log (the old verify's way)",
            f"{events:,}",
            "",
            "",
            f"peak RSS {held_mb:.0f} MB",
        ]
    )
    result["verify"] = {
        "events_per_s": events / verify_s,
        "rss_mb": verify_mb,
        "held_log_rss_mb": held_mb,
    }
    print(
        f"  audit verify {verify_s:.2f} s, peak RSS {verify_mb:.0f} MB ({said}); "
        f"holding the log: {held_mb:.0f} MB",
        flush=True,
    )
    if pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        pg_config = StoreConfig(postgres_url=pg, schema=schema)
        import psycopg

        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            p = build(pg_config, record_default_rates=False)
            imported, took = timed(lambda: import_events(p.lifecycle, lines))
            rows.append(
                [
                    "PostgreSQL",
                    "events import",
                    f"{imported:,}",
                    f"{took:.2f}",
                    f"{imported / took:,.0f}",
                    "",
                ]
            )
            print(f"{journeys:,} journeys (PostgreSQL)", flush=True)
            result["postgresql"] = measure(p, "PostgreSQL", rows, p.lifecycle.public_head())
            p.close()
        finally:
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    result["rows"] = rows
    return result


def write(results: list[dict[str, Any]]) -> None:
    facts = machine_facts()
    out = [
        "# Reading the whole log: rebuild, verify, export, import (issue 13)",
        "",
        f"Produced by `python bench/rebuild.py` on {date.today().isoformat()}. Machine: "
        + ", ".join(f"{k} {v}" for k, v in facts.items())
        + ". The machine's two cores are shared with other work; each figure stands beside "
        "baselines read from the same store in the same run.",
        "",
        "Workload: journeys × 4 public events (decision, provider choice, plan, exit) plus the "
        "providers and the rate table, recorded by `events import` of generated JSON Lines "
        "(bench/relay.py's generator). Rates are log events per second (for a rebuild: log "
        "events read and applied to all five read models).",
        "",
    ]
    for r in results:
        out += [
            f"## {r['journeys']:,} journeys, {r['events']:,} log positions",
            "",
            "| store | what | events | seconds | events/s | note |",
            "|---|---|---:|---:|---:|---|",
        ]
        out += ["| " + " | ".join(str(x) for x in row) + " |" for row in r["rows"]]
        out.append("")
    (ROOT / "docs" / "bench").mkdir(parents=True, exist_ok=True)
    (ROOT / "docs" / "bench" / "rebuild.md").write_text("\n".join(out) + "\n", encoding="utf-8")
    save_figures(
        "rebuild", {"sizes": [{k: v for k, v in r.items() if k != "rows"} for r in results]}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", default="5000,20000,50000")
    parser.add_argument("--postgres", nargs="?", const=PG_DEFAULT, default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.journeys.split(",")]
    middle = sizes[len(sizes) // 2]
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = template(tmp)
        for journeys in sizes:
            lines = generate(base, journeys)
            pg = None if args.no_postgres or journeys != middle else args.postgres
            results.append(run_size(tmp, journeys, lines, pg))
    if not args.no_write:
        write(results)
    print(json.dumps([{k: v for k, v in r.items() if k != "rows"} for r in results]))


if __name__ == "__main__":
    main()
