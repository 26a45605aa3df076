"""Read model behind `GET /v1/journeys`: one row per journey for listing and searching, from the
public journey model (`contracts.journey`), so a row says what `GET /v1/journeys/{id}` says.

Tables:
- `journey_list`: the journey's facts (the model's stored form, for the next event) and the
  columns a search filters on. Status and provider depend on the day asked about, so they are
  not stored: `search` derives them for `today` with the model's definitions — status from the
  dated facts, the provider from the spans;
- `journey_spans`: each provider's span of each journey (`JourneyFacts.spans`: cut by the exit
  and by de-authorisations), which answers "who is responsible for it on a day";
- `journey_holders`: every provider ever chosen for a journey (a provider may read those);
- `journey_list_providers`: each provider's facts in the model's stored form (a
  de-authorisation cuts the spans of the journeys its provider held).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from contracts import journey as model
from contracts.bounds import MAX_INT64
from contracts.events import PublicEvent
from contracts.journey import JourneyFacts, ProviderFacts
from services.platform.db import Tx

# What a row shows (API: one item of `GET /v1/journeys`), in this order.
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
_KEPT = frozenset({"decision"})  # the parts of the facts this read model asks about
_CHUNK = 500


class JourneyListProjection:
    name = "journey_list"
    schema_version = 2  # 2: the shared journey model, spans

    def setup(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS journey_list ("
            "journey_id TEXT PRIMARY KEY, person_ref TEXT NOT NULL, insats TEXT NOT NULL, "
            "target_group TEXT NOT NULL, decided_on TEXT NOT NULL, starts_on TEXT, "
            "exited_on TEXT, exit_reason TEXT, withdrawn_on TEXT, "
            "external_system TEXT NOT NULL, external_decision_id TEXT NOT NULL, "
            "version BIGINT NOT NULL, created_position BIGINT NOT NULL, facts TEXT NOT NULL)"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS journey_list_position ON journey_list (created_position)"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS journey_list_person ON journey_list (person_ref)")
        tx.execute(
            "CREATE TABLE IF NOT EXISTS journey_spans ("
            "journey_id TEXT NOT NULL, provider_id TEXT NOT NULL, starts_on TEXT NOT NULL, "
            "ends_on TEXT, PRIMARY KEY (journey_id, starts_on, provider_id))"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS journey_spans_provider ON journey_spans (provider_id)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS journey_holders ("
            "journey_id TEXT NOT NULL, provider_id TEXT NOT NULL, "
            "PRIMARY KEY (journey_id, provider_id))"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS journey_holders_provider ON journey_holders (provider_id)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS journey_list_providers ("
            "provider_id TEXT PRIMARY KEY, facts TEXT NOT NULL)"
        )

    def reset(self, tx: Tx) -> None:
        for table in ("journey_list", "journey_spans", "journey_holders", "journey_list_providers"):
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        journey_ids = list(dict.fromkeys(e.stream_id for e in events if e.stream_type == "journey"))
        facts = _load(tx, journey_ids)
        created: dict[str, int] = {}
        providers = _providers(tx)
        touched: set[str] = set()
        for e in events:
            if e.stream_type == "journey":
                facts[e.stream_id] = model.apply(facts.get(e.stream_id), e)
                created.setdefault(e.stream_id, e.position)
                touched.add(e.stream_id)
            elif e.stream_type == "provider":
                pid = str(e.payload["provider_id"])
                before = providers.get(pid)
                providers[pid] = model.apply_provider(before, e)
                tx.execute(
                    "INSERT INTO journey_list_providers (provider_id, facts) "
                    "VALUES (%s, %s) ON CONFLICT (provider_id) DO UPDATE "
                    "SET facts = excluded.facts",
                    (pid, model.encode_provider(providers[pid])),
                )
                if before is not None and before.changes == providers[pid].changes:
                    continue  # a new name or account: nobody's span moves
                held = [
                    r[0]
                    for r in tx.execute(
                        "SELECT journey_id FROM journey_holders WHERE provider_id = %s", (pid,)
                    ).fetchall()
                ]
                facts.update(_load(tx, [j for j in held if j not in facts]))
                touched.update(held)
        rows = [facts[j] for j in sorted(touched) if j in facts and facts[j].decision is not None]
        _save(tx, rows, created, providers)


def _load(tx: Tx, journey_ids: Sequence[str]) -> dict[str, JourneyFacts]:
    out: dict[str, JourneyFacts] = {}
    for i in range(0, len(journey_ids), _CHUNK):
        chunk = journey_ids[i : i + _CHUNK]
        marks = ", ".join(["%s"] * len(chunk))
        for jid, text in tx.execute(
            f"SELECT journey_id, facts FROM journey_list WHERE journey_id IN ({marks})", chunk
        ).fetchall():
            out[jid] = model.decode(jid, text)
    return out


def _providers(tx: Tx) -> dict[str, ProviderFacts]:
    return {
        pid: model.decode_provider(text)
        for pid, text in tx.execute(
            "SELECT provider_id, facts FROM journey_list_providers"
        ).fetchall()
    }


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _save(
    tx: Tx,
    journeys: Iterable[JourneyFacts],
    created: dict[str, int],
    providers: dict[str, ProviderFacts],
) -> None:
    journeys = list(journeys)
    if not journeys:
        return
    rows = []
    for f in journeys:
        d = f.decision
        assert d is not None and f.insats is not None
        rows.append(
            (
                f.journey_id,
                d.person_ref,
                f.insats,
                d.target_group,
                d.decided_on.isoformat(),
                _iso(f.starts_on),
                _iso(f.exited_on),
                None if f.exit is None else f.exit.reason,
                None if f.withdrawal is None else f.withdrawal.withdrawn_on.isoformat(),
                d.system,
                d.decision_id,
                f.version,
                created.get(f.journey_id, 0),
                model.encode(f, _KEPT),
            )
        )
    tx.executemany(
        "INSERT INTO journey_list (journey_id, person_ref, insats, target_group, decided_on, "
        "starts_on, exited_on, exit_reason, withdrawn_on, external_system, "
        "external_decision_id, version, created_position, facts) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (journey_id) DO UPDATE SET starts_on = excluded.starts_on, "
        "exited_on = excluded.exited_on, exit_reason = excluded.exit_reason, "
        "withdrawn_on = excluded.withdrawn_on, version = excluded.version, "
        "facts = excluded.facts",
        rows,
    )
    ids = [f.journey_id for f in journeys]
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        tx.execute(
            f"DELETE FROM journey_spans WHERE journey_id IN ({', '.join(['%s'] * len(chunk))})",
            chunk,
        )
    spans = [
        (f.journey_id, s.provider_id, s.starts_on.isoformat(), _iso(s.ends_on))
        for f in journeys
        if f.withdrawal is None  # a withdrawn decision is held by nobody
        for s in f.spans(providers)
    ]
    if spans:
        tx.executemany(
            "INSERT INTO journey_spans (journey_id, provider_id, starts_on, ends_on) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            spans,
        )
    tx.executemany(
        "INSERT INTO journey_holders (journey_id, provider_id) VALUES (%s, %s) "
        "ON CONFLICT (journey_id, provider_id) DO NOTHING",
        sorted({(f.journey_id, p) for f in journeys for p in f.providers_ever}),
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


# The model's status on a day (`JourneyFacts.status_on`), for a row; %(day)s is the day.
_STATUS = (
    "CASE WHEN j.withdrawn_on IS NOT NULL AND j.withdrawn_on <= %(day)s THEN 'withdrawn' "
    "WHEN j.exited_on IS NOT NULL AND j.exited_on <= %(day)s THEN 'exited' "
    "WHEN j.starts_on IS NOT NULL AND j.starts_on <= %(day)s THEN 'active' "
    "ELSE 'decided' END"
)
# The model's responsible provider on a day (`JourneyFacts.responsible_provider_on`): the span
# covering the day, or after the exit the exit day.
_RESPONSIBLE_ON = (
    "CASE WHEN j.exited_on IS NOT NULL AND j.exited_on < %(day)s THEN j.exited_on ELSE %(day)s END"
)
_PROVIDER = (
    "(SELECT s.provider_id FROM journey_spans s WHERE s.journey_id = j.journey_id "
    f"AND s.starts_on <= {_RESPONSIBLE_ON} "
    f"AND (s.ends_on IS NULL OR s.ends_on >= {_RESPONSIBLE_ON}) LIMIT 1)"
)


def search(
    tx: Tx,
    *,
    today: date,
    provider_id: str | None = None,
    held_by: str | None = None,
    status: str | None = None,
    insats: str | None = None,
    person_ref: str | None = None,
    after_position: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of journeys in registration order, as they stand on `today`; returns rows and
    the last row's position when more may follow."""
    where = ["j.created_position > %(after)s"]
    params: dict[str, Any] = {"after": after_position, "day": today.isoformat(), "limit": limit + 1}
    if provider_id is not None:
        where.append(f"{_PROVIDER} = %(provider)s")
        params["provider"] = provider_id
    if status is not None:
        where.append(f"{_STATUS} = %(status)s")
        params["status"] = status
    if insats is not None:
        where.append("j.insats = %(insats)s")
        params["insats"] = insats
    if person_ref is not None:
        where.append("j.person_ref = %(person_ref)s")
        params["person_ref"] = person_ref
    if held_by is not None:
        where.append(
            "EXISTS (SELECT 1 FROM journey_holders h "
            "WHERE h.journey_id = j.journey_id AND h.provider_id = %(held_by)s)"
        )
        params["held_by"] = held_by
    sql = (
        "SELECT j.journey_id, j.person_ref, j.insats, j.target_group, "
        f"{_STATUS} AS status, j.decided_on, j.starts_on, j.exited_on, j.exit_reason, "
        f"{_PROVIDER} AS provider_id, j.external_system, j.external_decision_id, j.version, "
        f"j.created_position FROM journey_list j WHERE {' AND '.join(where)} "
        "ORDER BY j.created_position LIMIT %(limit)s"
    )
    rows = tx.execute(sql, params).fetchall()
    more = len(rows) > limit
    items = [dict(zip(COLUMNS, r, strict=True)) for r in rows[:limit]]
    return items, (int(items[-1]["created_position"]) if more and items else None)


def references(tx: Tx, journey_ids: Iterable[str], today: date) -> dict[str, dict[str, str]]:
    """The decision reference, insats and status on `today` of these journeys (for pages and
    files that show a journey by the reference the case system knows it by)."""
    wanted = sorted(set(journey_ids))
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        params: dict[str, Any] = {f"j{i}": jid for i, jid in enumerate(chunk)}
        params["day"] = today.isoformat()
        marks = ", ".join(f"%(j{i})s" for i in range(len(chunk)))
        rows = tx.execute(
            f"SELECT j.journey_id, j.external_system, j.external_decision_id, j.insats, {_STATUS} "
            f"FROM journey_list j WHERE j.journey_id IN ({marks})",
            params,
        ).fetchall()
        for jid, system, decision_id, insats, status in rows:
            out[jid] = {
                "system": system,
                "decision_id": decision_id,
                "insats": insats,
                "status": status,
            }
    return out
