"""The default rate table shipped with the product (SPEC §4.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_RATES_PATH = Path(__file__).parent / "rates" / "default-rates.json"


def default_rates() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_RATES_PATH.read_text(encoding="utf-8"))
    data.pop("description", None)
    return data
