"""Run every benchmark and assemble docs/benchmarks.md from their sections.

    python bench/all.py            # commands (PostgreSQL), payout run, sandbox, statistics, relay,
                                   # rebuild, the Merkle log's cost
    python bench/all.py --only commands
    python bench/all.py --json     # then print every figure and its baseline as one JSON object
    python bench/all.py --json --no-run   # the last recorded figures, without running anything

Each benchmark prints its figures beside a baseline measured in the same run and writes its
section to docs/bench/<name>.md; this script then joins the sections into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import load_all  # noqa: E402

SECTIONS = ROOT / "docs" / "bench"
BENCHMARKS = {
    "commands": ["bench/commands.py", "--write", "docs/bench/commands.md"],
    "payments": ["bench/payout_run.py"],
    "statistics": ["bench/statistics.py"],
    "relay": ["bench/relay.py"],  # kafka (issue 10)
    "rebuild": ["bench/rebuild.py"],  # reading the whole log (issue 13)
    # the policy sandbox: a year under a scenario (issue 15)
    "sandbox": [
        "bench/sandbox.py",
        "--journeys",
        "20000",
        "--journeys",
        "100000",
        "--write",
        "docs/bench/sandbox.md",
    ],
    "transparency": ["bench/transparency.py"],  # the Merkle log's cost (issue 14)
}
ORDER = ("commands", "payments", "sandbox", "rebuild", "statistics", "relay", "transparency")
# Sections in docs/benchmarks.md: each benchmark's, then how the figures grow (written by hand
# from the recorded runs: docs/bench/scale.md).
SECTION_ORDER = (*ORDER, "scale")


def assemble() -> Path:
    parts = [
        "# Benchmarks\n",
        "Latest results of `python bench/all.py` (one command: `make bench`). Each figure stands "
        "beside a baseline measured in the same run on the same machine. The machine is the "
        "project's standard workplace machine (2 cores, 24 GiB); other work on it adds noise, "
        "noted in each section. `python bench/all.py --json` prints every figure with its "
        "baseline as one JSON object (from docs/bench/*.json, which each benchmark writes), so "
        "a run can be compared with an earlier one.\n",
    ]
    for name in SECTION_ORDER:
        section = SECTIONS / f"{name}.md"
        if section.exists():
            text = section.read_text(encoding="utf-8").strip()
            # Sections are written as documents of their own: demote their headings one level.
            lines = [("#" + line) if line.startswith("#") else line for line in text.splitlines()]
            parts.append("\n".join(lines) + "\n")
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument("--json", action="store_true", help="print every figure as one object")
    parser.add_argument("--no-run", action="store_true", help="only assemble what is recorded")
    args = parser.parse_args()
    for name in [] if args.no_run else args.only or ORDER:
        started = time.perf_counter()
        # progress to stderr, so that --json leaves standard output to the one object
        print(f"== {name}", file=sys.stderr, flush=True)
        subprocess.run(
            [sys.executable, *BENCHMARKS[name]],
            cwd=ROOT,
            check=True,
            stdout=sys.stderr if args.json else None,
        )
        print(f"== {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    written = assemble()
    if args.json:
        print(json.dumps(load_all(), indent=2, ensure_ascii=False))
    else:
        print(written)


if __name__ == "__main__":
    main()
