"""Benchmark: the cost of the Merkle log (issue 14), beside the rebuild it rides along with.

    python bench/transparency.py [--journeys 5000,20000]

For each size, a SQLite store of journeys × 4 public events (generated as in bench/relay.py,
recorded by `events import`) is measured in one process:
  - the baseline: a full rebuild of every read model in one pass (`FeedRunner.rebuild()`);
  - the Merkle log appending every leaf of the same log from empty (its own feed: one record
    digest and one canonical-JSON hash per event, a leaf row and the new node rows per page);
  - the overhead: the Merkle log's time as a share of the rebuild's.
Commands do no Merkle work: the log is appended by its own feed after the command's
transaction, so a command's latency does not include it. Writes docs/bench/transparency.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("INSATS_TODAY", "2026-11-23")
os.environ.setdefault("INSATS_PERSON_KEY", "cd" * 32)

from bench.machine import machine_facts  # noqa: E402
from bench.relay import generate, template  # noqa: E402
from insats.bootstrap import build  # noqa: E402
from services.lifecycle.store import StoreConfig  # noqa: E402
from services.lifecycle.transfer import import_events  # noqa: E402


def run_size(tmp: Path, journeys: int, lines: list[str]) -> dict[str, Any]:
    c = build(
        StoreConfig(sqlite_file=tmp / f"s{journeys}" / "var" / "insats.db"),
        record_default_rates=False,
    )
    try:
        import_events(c.lifecycle, lines)
        events = c.lifecycle.public_head()
        start = time.perf_counter()
        c.feed.rebuild()
        rebuild = time.perf_counter() - start
        start = time.perf_counter()
        c.transparency.feed.catch_up()
        merkle = time.perf_counter() - start
        assert c.transparency.tree.size() > 0 and c.transparency.verify() == []
        return {
            "journeys": journeys,
            "events": events,
            "baseline: rebuild of every read model, events/s": events / rebuild,
            "the Merkle log from empty, events/s": events / merkle,
            "overhead: Merkle log time / rebuild time": merkle / rebuild,
            "rebuild s": rebuild,
            "merkle s": merkle,
        }
    finally:
        c.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journeys", default="5000,20000")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = template(tmp)
        for n in (int(x) for x in args.journeys.split(",")):
            r = run_size(tmp, n, generate(base, n))
            print(
                f"{n:,} journeys, {r['events']:,} events: rebuild {r['rebuild s']:.2f} s "
                f"({r['baseline: rebuild of every read model, events/s']:,.0f}/s), Merkle log "
                f"{r['merkle s']:.2f} s ({r['the Merkle log from empty, events/s']:,.0f}/s), "
                f"overhead {r['overhead: Merkle log time / rebuild time']:.0%}",
                flush=True,
            )
            results.append(r)
    out = ROOT / "docs" / "bench" / "transparency.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(
        f"| {r['journeys']:,} | {r['events']:,} | {r['rebuild s']:.2f} "
        f"({r['baseline: rebuild of every read model, events/s']:,.0f}/s) | {r['merkle s']:.2f} "
        f"({r['the Merkle log from empty, events/s']:,.0f}/s) | "
        f"{r['overhead: Merkle log time / rebuild time']:.0%} |"
        for r in results
    )
    out.write_text(
        "# The Merkle log's cost (bench/transparency.py)\n\n"
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine_facts().items()) + "\n\n"
        "| journeys | events | baseline: rebuild of every read model, s | the Merkle log "
        "from empty, s | overhead |\n|---|---|---|---|---|\n" + rows + "\n",
        encoding="utf-8",
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
