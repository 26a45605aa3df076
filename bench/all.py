"""Run every benchmark and assemble docs/benchmarks.md from their sections.

    python bench/all.py            # commands (PostgreSQL), payout run, statistics
    python bench/all.py --only commands

Each benchmark prints its figures beside a baseline measured in the same run and writes its
section to docs/bench/<name>.md; this script then joins the sections into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ROOT / "docs" / "bench"
BENCHMARKS = {
    "commands": ["bench/commands.py", "--write", "docs/bench/commands.md"],
    "payments": ["bench/payout_run.py"],
    "statistics": ["bench/statistics.py"],
    "relay": ["bench/relay.py"],  # kafka (issue 10)
}
ORDER = ("commands", "payments", "statistics", "relay")


def assemble() -> Path:
    parts = [
        "# Benchmarks\n",
        "Latest results of `python bench/all.py` (one command: `make bench`). Each figure stands "
        "beside a baseline measured in the same run on the same machine. The machine is the "
        "project's standard workplace machine (2 cores, 24 GiB); other work on it adds noise, "
        "noted in each section.\n",
    ]
    for name in ORDER:
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
    args = parser.parse_args()
    for name in args.only or ORDER:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        subprocess.run([sys.executable, *BENCHMARKS[name]], cwd=ROOT, check=True)
        print(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    print(assemble())


if __name__ == "__main__":
    main()
