"""Read model behind `GET /v1/journeys`: one row per journey for listing and searching, plus
which providers ever held each journey (a provider may read the journeys it holds or held)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from contracts.bounds import MAX_INT64
from contracts.events import PublicEvent
from services.platform.db import Tx

COLUMNS = (
    "journey_id",
    "person_ref",
    "insats",
    "target_group",
    "status",
    "decided_on",
    "starts_on",
    "exited_on",
    "exit_reason",
    "provider_id",
    "external_system",
    "external_decision_id",
    "version",
    "created_position",
)


class JourneyListProjection:
    name = "journey_list"

    def setup(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS journey_list ("
            "journey_id TEXT PRIMARY KEY, person_ref TEXT NOT NULL, insats TEXT NOT NULL, "
            "target_group TEXT NOT NULL, status TEXT NOT NULL, decided_on TEXT NOT NULL, "
            "starts_on TEXT, exited_on TEXT, exit_reason TEXT, provider_id TEXT, "
            "external_system TEXT NOT NULL, external_decision_id TEXT NOT NULL, "
            "version BIGINT NOT NULL, created_position BIGINT NOT NULL)"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS journey_list_position ON journey_list (created_position)"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS journey_list_person ON journey_list (person_ref)")
        tx.execute(
            "CREATE TABLE IF NOT EXISTS journey_holders ("
            "journey_id TEXT NOT NULL, provider_id TEXT NOT NULL, "
            "PRIMARY KEY (journey_id, provider_id))"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS journey_holders_provider ON journey_holders (provider_id)"
        )

    def reset(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS journey_list")
        tx.execute("DROP TABLE IF EXISTS journey_holders")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        for e in events:
            if e.stream_type != "journey":
                continue
            p = e.payload
            jid = e.stream_id
            if e.type == "DecisionRegistered":
                tx.execute(
                    "INSERT INTO journey_list (journey_id, person_ref, insats, target_group, "
                    "status, decided_on, external_system, external_decision_id, version, "
                    "created_position) VALUES (%s, %s, %s, %s, 'decided', %s, %s, %s, %s, %s) "
                    "ON CONFLICT (journey_id) DO NOTHING",
                    (
                        jid,
                        p["person_ref"],
                        p["insats"],
                        p["target_group"],
                        p["decided_on"],
                        p["external_ref"]["system"],
                        p["external_ref"]["decision_id"],
                        e.version,
                        e.position,
                    ),
                )
                continue
            sets: dict[str, Any] = {}
            if e.type in ("ProviderChosen", "ProviderChanged"):
                sets["provider_id"] = p["provider_id"]
                if e.type == "ProviderChosen":
                    sets["starts_on"] = p["starts_on"]
                    sets["status"] = "active"
                tx.execute(
                    "INSERT INTO journey_holders (journey_id, provider_id) VALUES (%s, %s) "
                    "ON CONFLICT (journey_id, provider_id) DO NOTHING",
                    (jid, p["provider_id"]),
                )
            elif e.type == "JourneyExited":
                sets.update(status="exited", exited_on=p["exited_on"], exit_reason=p["reason"])
            elif e.type == "DecisionWithdrawn":
                sets["status"] = "withdrawn"
            elif e.type == "Corrected":
                if p["what"] == "starts_on":
                    sets["starts_on"] = p["new"]
                elif p["what"] == "exited_on":
                    sets["exited_on"] = p["new"]
                elif p["what"] == "exit":
                    sets["exited_on"] = p["new"]["exited_on"]
                    sets["exit_reason"] = p["new"]["reason"]
            sets["version"] = e.version
            assignments = ", ".join(f"{k} = %s" for k in sets)
            tx.execute(
                f"UPDATE journey_list SET {assignments} WHERE journey_id = %s",
                (*sets.values(), jid),
            )


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """ValueError for anything `encode_cursor` did not make."""
    padded = cursor + "=" * (-len(cursor) % 4)
    text = base64.urlsafe_b64decode(padded.encode()).decode()
    if not text.startswith("p") or not text[1:].isdigit() or len(text) > 20:
        raise ValueError("bad cursor")
    position = int(text[1:])
    if position > MAX_INT64:
        raise ValueError("bad cursor")
    return position


def search(
    tx: Tx,
    *,
    provider_id: str | None = None,
    held_by: str | None = None,
    status: str | None = None,
    insats: str | None = None,
    person_ref: str | None = None,
    after_position: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of journeys in registration order; returns rows and the last row's position
    when more may follow."""
    where = ["j.created_position > %s"]
    params: list[Any] = [after_position]
    for column, value in (
        ("j.provider_id", provider_id),
        ("j.status", status),
        ("j.insats", insats),
        ("j.person_ref", person_ref),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if held_by is not None:
        where.append(
            "EXISTS (SELECT 1 FROM journey_holders h "
            "WHERE h.journey_id = j.journey_id AND h.provider_id = %s)"
        )
        params.append(held_by)
    sql = (
        f"SELECT {', '.join('j.' + c for c in COLUMNS)} FROM journey_list j "
        f"WHERE {' AND '.join(where)} ORDER BY j.created_position LIMIT %s"
    )
    rows = tx.execute(sql, (*params, limit + 1)).fetchall()
    more = len(rows) > limit
    items = [dict(zip(COLUMNS, r, strict=True)) for r in rows[:limit]]
    return items, (int(items[-1]["created_position"]) if more and items else None)
