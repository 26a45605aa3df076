"""contracts/openapi.json: generated from the running app; a test fails when it drifts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "contracts" / "openapi.json"


def current_openapi() -> dict[str, Any]:
    from insats.bootstrap import build
    from insats.web import create_app
    from services.lifecycle.store import StoreConfig

    with tempfile.TemporaryDirectory() as tmp:
        container = build(StoreConfig(sqlite_file=Path(tmp) / "insats.db"))
        try:
            schema: dict[str, Any] = create_app(container, run_feed=False).openapi()
        finally:
            container.close()
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_openapi() -> Path:
    OPENAPI_PATH.write_text(render(current_openapi()), encoding="utf-8")
    return OPENAPI_PATH
