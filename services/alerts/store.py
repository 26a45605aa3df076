"""The alerts read model's tables and the one operation that records alert changes.

Tables (portable SQL, dates as ISO text):
- `alerts_journeys`: per journey its facts in the public journey model's stored form (the parts
  the rules read: `ALERT_PARTS`), plus `provider_id` (latest assignment), `status` (as known
  now) and `quiet_from` (the day from which it can have no alert: `rules.quiet_from`), so
  settled journeys are not evaluated;
- `alerts_journey_providers`: every provider a journey has had (provider look-ups, and which
  journeys a de-authorisation touches);
- `alerts_providers`: each provider's facts (its authorisation history) in the model's form;
- `alerts_current`: the alert set last recorded per journey;
- `alerts_changes`: the ordered change feed (AlertRaised / AlertCleared), numbered by `seq`;
- `alerts_sequence`: the last `seq`; updating its row first serialises concurrent recorders
  (feed batch vs. daily scan) on PostgreSQL, so each change is recorded once;
- `alerts_dirty`: journeys changed while the feed was catching up (evaluated at the log head);
- `alerts_scans`: which dates the daily scan has run for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from contracts import journey as model
from contracts.journey import JourneyFacts, ProviderFacts, Providers
from services.alerts.rules import KINDS, due_on, evaluate, quiet_from
from services.platform.backup import RecordTable
from services.platform.db import Tx

CHUNK = 500  # ids per IN (...) list
# The parts of the journey facts the alert rules read (`contracts.journey.encode`).
# The decision too: each alert names its reference and the counsellor it names.
ALERT_PARTS: frozenset[str] = frozenset(
    {"decision", "plan", "internships", "follow_ups", "reviews"}
)
SCHEMA_VERSION = 3  # 2: the shared journey model's stored form; 3: with the decision

DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS alerts_journeys ("
    "journey_id TEXT PRIMARY KEY, provider_id TEXT, status TEXT NOT NULL, quiet_from TEXT, "
    "facts TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS alerts_journeys_quiet ON alerts_journeys (quiet_from)",
    "CREATE TABLE IF NOT EXISTS alerts_journey_providers ("
    "provider_id TEXT NOT NULL, journey_id TEXT NOT NULL, PRIMARY KEY (provider_id, journey_id))",
    "CREATE TABLE IF NOT EXISTS alerts_providers ("
    "provider_id TEXT PRIMARY KEY, history TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alerts_current ("
    "journey_id TEXT NOT NULL, kind TEXT NOT NULL, level TEXT, since TEXT NOT NULL, "
    "provider_id TEXT, as_of TEXT NOT NULL, PRIMARY KEY (journey_id, kind))",
    "CREATE TABLE IF NOT EXISTS alerts_changes ("
    "seq BIGINT PRIMARY KEY, type TEXT NOT NULL, journey_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "level TEXT, since TEXT NOT NULL, as_of TEXT NOT NULL, provider_id TEXT)",
    "CREATE INDEX IF NOT EXISTS alerts_changes_provider ON alerts_changes (provider_id, seq)",
    "CREATE TABLE IF NOT EXISTS alerts_sequence (id INTEGER PRIMARY KEY, last_seq BIGINT NOT NULL)",
    "INSERT INTO alerts_sequence (id, last_seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS alerts_dirty (journey_id TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS alerts_scans ("
    "as_of TEXT PRIMARY KEY, scanned_at TEXT NOT NULL, journeys BIGINT NOT NULL, "
    "changes BIGINT NOT NULL)",
)

# A rebuild re-derives the facts; the published change feed, the alert set it describes and
# the scan log stay, so a rebuild records only real differences (consumers keep their place).
FACT_TABLES: tuple[str, ...] = (
    "alerts_journeys",
    "alerts_journey_providers",
    "alerts_providers",
    "alerts_dirty",
)

VOLATILE_TABLES: tuple[str, ...] = (
    "alerts_current",
    "alerts_changes",
    "alerts_sequence",
    "alerts_dirty",
    "alerts_scans",
)

# What the alerts service has published: the change feed, the alert set it describes, its
# sequence and the scans that ran. They cannot be derived from the log again (they say what was
# seen on which day), so a backup copies them (`services.platform.backup`).
PUBLISHED: tuple[RecordTable, ...] = (
    RecordTable(
        "alerts_changes",
        ("seq", "type", "journey_id", "kind", "level", "since", "as_of", "provider_id"),
        ("seq",),
    ),
    RecordTable(
        "alerts_current",
        ("journey_id", "kind", "level", "since", "provider_id", "as_of"),
        ("journey_id", "kind"),
    ),
    RecordTable("alerts_sequence", ("id", "last_seq"), ("id",)),
    RecordTable("alerts_scans", ("as_of", "scanned_at", "journeys", "changes"), ("as_of",)),
)

RAISED = "AlertRaised"
CLEARED = "AlertCleared"


@dataclass(frozen=True, slots=True)
class JourneyAlert:
    """An alert as the API shows it, with what a counsellor needs to act on it: the decision's
    reference, the insats, the provider's name and the deadline (`rules.due_on`)."""

    journey_id: str
    kind: str
    level: str | None
    since: date
    provider_id: str | None
    # What helps to act on the alert; not what the alert is (a change of name or deadline
    # raises and clears nothing in the change feed).
    provider_name: str | None = field(default=None, compare=False)
    insats: str | None = field(default=None, compare=False)
    external_system: str | None = field(default=None, compare=False)
    external_decision_id: str | None = field(default=None, compare=False)
    due_on: date | None = field(default=None, compare=False)
    counsellor: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journey_id": self.journey_id,
            "kind": self.kind,
            "level": self.level,
            "since": self.since.isoformat(),
            "provider_id": self.provider_id,
            "provider_name": self.provider_name,
            "insats": self.insats,
            "external_ref": None
            if self.external_system is None
            else {"system": self.external_system, "decision_id": self.external_decision_id},
            "due_on": self.due_on.isoformat() if self.due_on is not None else None,
            "counsellor": self.counsellor,
        }


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One entry of the change feed: an alert raised or cleared, detected on `as_of`."""

    seq: int
    type: str  # AlertRaised | AlertCleared
    journey_id: str
    kind: str
    level: str | None
    since: date
    as_of: date
    provider_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "journey_id": self.journey_id,
            "kind": self.kind,
            "level": self.level,
            "since": self.since.isoformat(),
            "as_of": self.as_of.isoformat(),
            "provider_id": self.provider_id,
        }


def setup(tx: Tx) -> None:
    for statement in DDL:
        tx.execute(statement)


def reset_facts(tx: Tx) -> None:
    for table in FACT_TABLES:
        tx.execute(f"DELETE FROM {table}")


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _in(ids: Sequence[str]) -> str:
    return ", ".join(["%s"] * len(ids))


# --- facts -------------------------------------------------------------------------------------


def load_journeys(tx: Tx, journey_ids: Iterable[str]) -> dict[str, JourneyFacts]:
    found: dict[str, JourneyFacts] = {}
    for part in chunks(sorted(set(journey_ids))):
        rows = tx.execute(
            f"SELECT journey_id, facts FROM alerts_journeys WHERE journey_id IN ({_in(part)})",
            part,
        ).fetchall()
        for journey_id, text in rows:
            found[journey_id] = model.decode(journey_id, text)
    return found


def save_journeys(tx: Tx, journeys: Iterable[JourneyFacts]) -> None:
    journeys = list(journeys)
    if not journeys:
        return
    rows = [
        (
            f.journey_id,
            f.assignments[-1].provider_id if f.assignments else None,
            f.status,
            _iso(quiet_from(f)),
            model.encode(f, ALERT_PARTS),
        )
        for f in journeys
    ]
    tx.executemany(
        "INSERT INTO alerts_journeys (journey_id, provider_id, status, quiet_from, facts) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (journey_id) DO UPDATE SET "
        "provider_id = excluded.provider_id, status = excluded.status, "
        "quiet_from = excluded.quiet_from, facts = excluded.facts",
        rows,
    )
    pairs = sorted({(a.provider_id, f.journey_id) for f in journeys for a in f.assignments})
    if pairs:
        tx.executemany(
            "INSERT INTO alerts_journey_providers (provider_id, journey_id) VALUES (%s, %s) "
            "ON CONFLICT (provider_id, journey_id) DO NOTHING",
            pairs,
        )


def load_providers(tx: Tx) -> dict[str, ProviderFacts]:
    rows = tx.execute("SELECT provider_id, history FROM alerts_providers").fetchall()
    return {pid: model.decode_provider(text) for pid, text in rows}


def save_provider(tx: Tx, provider_id: str, facts: ProviderFacts) -> None:
    tx.execute(
        "INSERT INTO alerts_providers (provider_id, history) VALUES (%s, %s) "
        "ON CONFLICT (provider_id) DO UPDATE SET history = excluded.history",
        (provider_id, model.encode_provider(facts)),
    )


def journeys_of_provider(tx: Tx, provider_id: str) -> list[str]:
    """Every journey the provider has had (for a de-authorisation)."""
    rows = tx.execute(
        "SELECT journey_id FROM alerts_journey_providers WHERE provider_id = %s "
        "ORDER BY journey_id",
        (provider_id,),
    ).fetchall()
    return [r[0] for r in rows]


def alerting_facts(tx: Tx, as_of: date, provider_id: str | None = None) -> list[tuple[str, str]]:
    """(journey_id, facts JSON) of the journeys that may have alerts on `as_of` (not quiet by
    then), optionally only those a provider has had. Parsed by the caller, outside the
    transaction."""
    sql = "SELECT j.journey_id, j.facts FROM alerts_journeys j"
    params: list[Any] = []
    if provider_id is not None:
        sql += (
            " JOIN alerts_journey_providers p ON p.journey_id = j.journey_id AND p.provider_id = %s"
        )
        params.append(provider_id)
    sql += " WHERE j.quiet_from IS NULL OR j.quiet_from > %s ORDER BY j.journey_id"
    params.append(as_of.isoformat())
    return [(r[0], r[1]) for r in tx.execute(sql, params).fetchall()]


def scan_ids(tx: Tx, as_of: date) -> list[str]:
    """The journeys that may have alerts on `as_of`, and those with recorded ones (to clear)."""
    rows = tx.execute(
        "SELECT journey_id FROM alerts_journeys WHERE quiet_from IS NULL OR quiet_from > %s "
        "UNION SELECT journey_id FROM alerts_current ORDER BY 1",
        (as_of.isoformat(),),
    ).fetchall()
    return [r[0] for r in rows]


# --- evaluation --------------------------------------------------------------------------------


def evaluate_journeys(
    journeys: Iterable[JourneyFacts], as_of: date, providers: Providers
) -> dict[str, list[JourneyAlert]]:
    """Each journey's alerts on `as_of` with the provider responsible then (pure): the holder
    (`JourneyFacts.responsible_provider_on`; nobody while it waits for a new provider), except
    that `provider_deauthorised` names the de-authorised provider it is about."""
    result: dict[str, list[JourneyAlert]] = {}
    for f in journeys:
        alerts = evaluate(f, as_of, providers)
        if alerts:
            responsible = f.responsible_provider_on(as_of, providers)
            d = f.decision
            result[f.journey_id] = []
            for a in alerts:
                pid = _chosen_on(f, as_of) if a.kind == "provider_deauthorised" else responsible
                result[f.journey_id].append(
                    JourneyAlert(
                        f.journey_id,
                        a.kind,
                        a.level,
                        a.since,
                        pid,
                        provider_name=_name_of(providers, pid, as_of),
                        insats=f.insats,
                        external_system=d.system if d is not None else None,
                        external_decision_id=d.decision_id if d is not None else None,
                        due_on=due_on(a.kind, f),
                        counsellor=d.counsellor if d is not None else None,
                    )
                )
    return result


def _name_of(providers: Providers, provider_id: str | None, day: date) -> str | None:
    facts = providers.get(provider_id) if provider_id is not None else None
    details = facts.details_on(day) if facts is not None else None
    return details.name if details is not None else None


def _chosen_on(f: JourneyFacts, day: date) -> str | None:
    """The provider of the latest choice that started by `day` (held or not)."""
    chosen = None
    for a in f.assignments:
        if a.starts_on <= day:
            chosen = a.provider_id
    return chosen


def _kind_order(kind: str) -> tuple[int, str]:
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)


def _load_current(tx: Tx, journey_ids: Sequence[str]) -> dict[str, dict[str, JourneyAlert]]:
    current: dict[str, dict[str, JourneyAlert]] = {}
    for part in chunks(journey_ids):
        rows = tx.execute(
            "SELECT journey_id, kind, level, since, provider_id FROM alerts_current "
            f"WHERE journey_id IN ({_in(part)})",
            part,
        ).fetchall()
        for journey_id, kind, level, since, provider_id in rows:
            current.setdefault(journey_id, {})[kind] = JourneyAlert(
                journey_id, kind, level, date.fromisoformat(since), provider_id
            )
    return current


def lock_sequence(tx: Tx) -> int:
    """Take the recorders' lock (held to commit) and return the last seq."""
    tx.execute("UPDATE alerts_sequence SET last_seq = last_seq WHERE id = 1")
    return int(tx.scalar("SELECT last_seq FROM alerts_sequence WHERE id = 1"))


def reconcile(
    tx: Tx, journey_ids: Iterable[str], as_of: date, providers: Providers, *, keep: bool = True
) -> list[AlertChange]:
    """Evaluate the journeys on `as_of`, compare with the recorded alert set and record every
    difference once: an alert is identified by (kind, level, since, provider_id); any change of
    these is a clear of the old alert and a raise of the new one (green→yellow: clear green,
    raise yellow). Runs in the caller's transaction, so the changes commit with whatever
    caused them (the feed position, or the scan log).

    Returns the changes; with `keep=False` nothing is kept (a rebuild's last page evaluates
    every journey: each chunk's changes are recorded and let go, so memory stays bounded)."""
    ids = sorted(set(journey_ids))
    first_seq = last_seq = lock_sequence(tx)
    kept: list[AlertChange] = []
    for part in chunks(ids):
        changes: list[AlertChange] = []
        facts = load_journeys(tx, part)
        new = evaluate_journeys(facts.values(), as_of, providers)
        old = _load_current(tx, part)
        for journey_id in part:
            before = old.get(journey_id, {})
            after = {a.kind: a for a in new.get(journey_id, [])}
            for kind in sorted(set(before) | set(after), key=_kind_order):
                was, now = before.get(kind), after.get(kind)
                if was == now:
                    continue
                if was is not None:
                    last_seq += 1
                    changes.append(_change(last_seq, CLEARED, was, as_of))
                if now is not None:
                    last_seq += 1
                    changes.append(_change(last_seq, RAISED, now, as_of))
        if changes:
            _record(tx, changes)
            if keep:
                kept.extend(changes)
    if last_seq != first_seq:
        tx.execute("UPDATE alerts_sequence SET last_seq = %s WHERE id = 1", (last_seq,))
    return kept


def _change(seq: int, type_: str, alert: JourneyAlert, as_of: date) -> AlertChange:
    return AlertChange(
        seq,
        type_,
        alert.journey_id,
        alert.kind,
        alert.level,
        alert.since,
        as_of,
        alert.provider_id,
    )


def _record(tx: Tx, changes: Sequence[AlertChange]) -> None:
    cleared = [(c.journey_id, c.kind) for c in changes if c.type == CLEARED]
    raised = [
        (c.journey_id, c.kind, c.level, c.since.isoformat(), c.provider_id, c.as_of.isoformat())
        for c in changes
        if c.type == RAISED
    ]
    if cleared:
        tx.executemany("DELETE FROM alerts_current WHERE journey_id = %s AND kind = %s", cleared)
    if raised:
        tx.executemany(
            "INSERT INTO alerts_current (journey_id, kind, level, since, provider_id, as_of) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            raised,
        )
    tx.executemany(
        "INSERT INTO alerts_changes (seq, type, journey_id, kind, level, since, as_of, "
        "provider_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                c.seq,
                c.type,
                c.journey_id,
                c.kind,
                c.level,
                c.since.isoformat(),
                c.as_of.isoformat(),
                c.provider_id,
            )
            for c in changes
        ],
    )


# --- reading the change feed and the scan log ---------------------------------------------------


def read_changes(
    tx: Tx, after: int, limit: int, provider_id: str | None = None
) -> list[AlertChange]:
    sql = (
        "SELECT seq, type, journey_id, kind, level, since, as_of, provider_id "
        "FROM alerts_changes WHERE seq > %s"
    )
    params: list[Any] = [after]
    if provider_id is not None:
        sql += " AND provider_id = %s"
        params.append(provider_id)
    sql += " ORDER BY seq LIMIT %s"
    params.append(limit)
    return [
        AlertChange(
            int(seq),
            type_,
            jid,
            kind,
            level,
            date.fromisoformat(since),
            date.fromisoformat(as_of),
            pid,
        )
        for seq, type_, jid, kind, level, since, as_of, pid in tx.execute(sql, params).fetchall()
    ]


def record_scan(tx: Tx, as_of: date, scanned_at: str, journeys: int, changes: int) -> None:
    tx.execute(
        "INSERT INTO alerts_scans (as_of, scanned_at, journeys, changes) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (as_of) DO UPDATE SET scanned_at = excluded.scanned_at, "
        "journeys = excluded.journeys, changes = alerts_scans.changes + excluded.changes",
        (as_of.isoformat(), scanned_at, journeys, changes),
    )


def has_scanned(tx: Tx, as_of: date) -> bool:
    return (
        tx.execute("SELECT 1 FROM alerts_scans WHERE as_of = %s", (as_of.isoformat(),)).fetchone()
        is not None
    )


def last_scanned(tx: Tx) -> date | None:
    value = tx.scalar("SELECT MAX(as_of) FROM alerts_scans")
    return date.fromisoformat(value) if value else None
