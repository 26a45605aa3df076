"""Each benchmark's figures as JSON beside its Markdown section (docs/bench/<name>.json), so
`python bench/all.py --json` can print every figure and its baseline as one object and a run
can be compared with an earlier one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.machine import machine_facts

SECTIONS = Path(__file__).resolve().parent.parent / "docs" / "bench"


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write `figures` (numbers with their baselines, as the benchmark names them)."""
    SECTIONS.mkdir(parents=True, exist_ok=True)
    out = SECTIONS / f"{name}.json"
    document = {"date": time.strftime("%Y-%m-%d"), "machine": machine_facts(), **figures}
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def load_all() -> dict[str, Any]:
    """Every benchmark's last figures, by name."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SECTIONS.glob("*.json"))
    }
