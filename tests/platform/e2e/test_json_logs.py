"""Structured logs from a real `insats serve` (INSATS_LOG_FORMAT=json): every line a JSON
object, personnummer masked, journey ids intact so the log can be searched by journey."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from tests.serving import add_key, insats_serve


def test_a_served_request_is_logged_as_one_masked_json_object(tmp_path: Path) -> None:
    db = tmp_path / "var" / "insats.db"
    env = {
        **os.environ,
        "INSATS_API_KEYS_FILE": str(tmp_path / "keys.json"),
        "INSATS_LOG_FORMAT": "json",
    }
    token = add_key(db, env, "admin", "it")
    journey = "19900101-0017-5a83-9a0e-199001010017"  # digit runs shaped like personnummer
    with insats_serve(["--db", str(db)], env, tmp_path / "serve.log") as served:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{served.base}/v1/journeys/{journey}", headers=headers).status_code == 404
        r = httpx.get(f"{served.base}/v1/journeys?person_id=19900101-0017", headers=headers)
        assert r.status_code == 200
    output = served.output()
    assert "19900101-0017" not in output.replace(journey, "")
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [entry for entry in logged if entry["logger"] == "uvicorn.access"]
    assert [a["path"] for a in access if "/v1/journeys" in a["path"]] == [
        f"/v1/journeys/{journey}",
        "/v1/journeys?person_id=[redacted]",
    ]
    assert {a["status"] for a in access if "/v1/journeys" in a["path"]} == {404, 200}
    assert any(e["logger"] == "uvicorn.error" for e in logged)  # the server's own lines too
    # and the application's (here: the municipality's name is not configured)
    assert any(e["logger"].startswith("insats") and e["level"] == "warning" for e in logged)
