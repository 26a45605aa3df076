"""The 'statistics' read model: one compact row per journey, plus provider names (as
authorised, and their dated changes) and de-authorisations.

A batch of events is applied by loading the rows of the journeys it touches (one query per 500
ids), folding the events in memory (`facts.apply`) and writing every touched row back with one
`executemany` upsert. A period's figures then need one query:
`last_relevant_on >= from AND starts_on <= to` selects exactly the journeys that can matter.
(In SQLite a row keeps the place of its first insert, so rows lie in the order journeys were
decided and a period's rows are near each other.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Final, cast

from contracts.events import SELF_SUFFICIENT_REASONS, PublicEvent
from services.platform import clock
from services.platform.db import Tx
from services.statistics.facts import ROW_COLUMNS, STATE_COLUMNS, FactsRow, JourneyState, apply

JOURNEYS: Final = "statistics_journeys"
PROVIDERS: Final = "statistics_providers"
DEAUTHORISATIONS: Final = "statistics_deauthorisations"
# ProviderDetailsChanged names by effective_from: a table of its own, so an existing read model
# gains it by CREATE TABLE IF NOT EXISTS.
PROVIDER_NAMES: Final = "statistics_provider_names"

_DDL: Final[tuple[str, ...]] = (
    f"CREATE TABLE IF NOT EXISTS {JOURNEYS} ("
    "journey_id TEXT PRIMARY KEY, "
    "version BIGINT NOT NULL, "
    "insats TEXT, "
    "target_group TEXT, "
    "person_ref TEXT, "
    "decided_on TEXT, "
    "starts_on TEXT, "
    "exited_on TEXT, "
    "exit_reason TEXT, "
    "exit_days INTEGER, "
    "providers TEXT NOT NULL, "  # JSON [[starts_on, provider_id], ...] sorted by start
    "plan_established_on TEXT, "
    "plan_due_on TEXT, "
    "follow_ups TEXT, "  # JSON [[followed_up_on, outcome], ...] in recording order, or null
    "withdrawn INTEGER NOT NULL, "
    "last_relevant_on TEXT)",  # null: counts nowhere (withdrawn or never started)
    f"CREATE TABLE IF NOT EXISTS {PROVIDERS} (provider_id TEXT PRIMARY KEY, name TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {DEAUTHORISATIONS} ("
    "provider_id TEXT NOT NULL, effective_on TEXT NOT NULL, "
    "PRIMARY KEY (provider_id, effective_on))",
    f"CREATE TABLE IF NOT EXISTS {PROVIDER_NAMES} ("
    "provider_id TEXT NOT NULL, effective_from TEXT NOT NULL, name TEXT NOT NULL, "
    "PRIMARY KEY (provider_id, effective_from))",
)

# The version guard makes a write of an already-applied (older) fold a no-op.
# PostgreSQL's planner weighs this index against a sequential scan with its statistics. SQLite
# has none and would always take it, and reading a year's rows (a fifth of ten years' data)
# through it is slower than scanning the table, so SQLite scans.
_PERIOD_INDEX: Final = (
    f"CREATE INDEX IF NOT EXISTS {JOURNEYS}_period ON {JOURNEYS} (last_relevant_on, starts_on)"
)

_UPSERT: Final = (
    f"INSERT INTO {JOURNEYS} ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(ROW_COLUMNS))}) "
    "ON CONFLICT (journey_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS if c != "journey_id")
    + f" WHERE excluded.version > {JOURNEYS}.version"
)

_LOAD_CHUNK: Final = 500


class StatisticsProjection:
    """`services.platform.feed.Projection` named 'statistics'."""

    name = "statistics"

    def setup(self, tx: Tx) -> None:
        for ddl in _DDL:
            tx.execute(ddl)
        # An early snapshot indexed last_relevant_on alone; that index would only slow reads.
        tx.execute(f"DROP INDEX IF EXISTS {JOURNEYS}_relevant")
        if tx.dialect == "postgresql":
            tx.execute(_PERIOD_INDEX)

    def reset(self, tx: Tx) -> None:
        for table in (JOURNEYS, PROVIDERS, DEAUTHORISATIONS, PROVIDER_NAMES):
            tx.execute(f"DELETE FROM {table}")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        # A journey whose first event here is its first event ever (version 1) has no row yet:
        # the batch is a contiguous piece of the log, so its fold from scratch is complete.
        # Only the others are read back.
        first_version: dict[str, int] = {}
        for e in events:
            if e.stream_type == "journey" and e.stream_id not in first_version:
                first_version[e.stream_id] = e.version
        states = self._load_states(tx, (j for j, v in first_version.items() if v > 1))
        names: dict[str, str] = {}
        dated_names: dict[tuple[str, str], str] = {}  # (provider, effective_from) → name
        deauthorisations: set[tuple[str, str]] = set()
        for event in events:
            if event.stream_type == "journey":
                state = states.get(event.stream_id)
                if state is None:
                    state = states[event.stream_id] = JourneyState(event.stream_id)
                apply(state, event)
            elif event.type == "ProviderAuthorised":
                names[event.payload["provider_id"]] = event.payload["name"]
            elif event.type == "ProviderDeauthorised":
                deauthorisations.add(
                    (event.payload["provider_id"], str(event.payload["effective_on"]))
                )
            elif event.type == "ProviderDetailsChanged":
                key = (event.payload["provider_id"], str(event.payload["effective_from"]))
                dated_names[key] = event.payload["name"]  # the later of one date holds
        self.write_states(tx, states.values())
        if names:
            tx.executemany(
                f"INSERT INTO {PROVIDERS} (provider_id, name) VALUES (%s, %s) "
                "ON CONFLICT (provider_id) DO UPDATE SET name = excluded.name",
                sorted(names.items()),
            )
        if dated_names:
            tx.executemany(
                f"INSERT INTO {PROVIDER_NAMES} (provider_id, effective_from, name) "
                "VALUES (%s, %s, %s) ON CONFLICT (provider_id, effective_from) "
                "DO UPDATE SET name = excluded.name",
                sorted((p, f, n) for (p, f), n in dated_names.items()),
            )
        if deauthorisations:
            tx.executemany(
                f"INSERT INTO {DEAUTHORISATIONS} (provider_id, effective_on) VALUES (%s, %s) "
                "ON CONFLICT (provider_id, effective_on) DO NOTHING",
                sorted(deauthorisations),
            )

    def write_states(self, tx: Tx, states: Iterable[JourneyState]) -> None:
        """Upsert folded journey states (also the bulk-load path: fold elsewhere, write here)."""
        rows = [s.to_row() for s in states]
        if rows:
            tx.executemany(_UPSERT, rows)

    @staticmethod
    def _load_states(tx: Tx, journey_ids: Iterable[str]) -> dict[str, JourneyState]:
        ids = sorted(journey_ids)
        states: dict[str, JourneyState] = {}
        for start in range(0, len(ids), _LOAD_CHUNK):
            chunk = ids[start : start + _LOAD_CHUNK]
            rows = tx.execute(
                f"SELECT {', '.join(STATE_COLUMNS)} FROM {JOURNEYS} "
                f"WHERE journey_id IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            ).fetchall()
            for row in rows:
                state = JourneyState.from_row(row)
                states[state.journey_id] = state
        return states


# --- reads ------------------------------------------------------------------------------------


def load_facts(tx: Tx, period_from: str, period_to: str, *, providers: bool) -> list[FactsRow]:
    """The journeys that can contribute to a figure of [from, to], in one query.

    The provider timelines are only read when grouping by provider (they are the widest column).
    Rows that count nowhere (withdrawn, never started) have no `last_relevant_on`, so the
    condition leaves them out and `withdrawn` is 0 for every row returned."""
    providers_column = "providers" if providers else "'[]'"
    rows = tx.execute(
        "SELECT insats, target_group, person_ref, starts_on, exited_on, exit_reason, exit_days, "
        f"plan_established_on, plan_due_on, follow_ups, {providers_column}, 0 "
        f"FROM {JOURNEYS} WHERE last_relevant_on >= %s AND starts_on <= %s",
        (period_from, period_to),
    ).fetchall()
    return cast(list[FactsRow], rows)  # the columns are FactsRow's, in its order


def load_deauthorisations(tx: Tx) -> dict[str, list[str]]:
    """provider_id → its de-authorisation dates, sorted."""
    result: dict[str, list[str]] = {}
    for provider_id, effective_on in tx.execute(
        f"SELECT provider_id, effective_on FROM {DEAUTHORISATIONS} "
        "ORDER BY provider_id, effective_on"
    ).fetchall():
        result.setdefault(provider_id, []).append(effective_on)
    return result


def load_provider_names(tx: Tx, on: date | None = None) -> dict[str, str]:
    """provider_id → its name in force on `on` (default: the service clock's today): the latest
    change effective by then, else the name as authorised."""
    on = on or clock.today()
    names = dict(tx.execute(f"SELECT provider_id, name FROM {PROVIDERS}").fetchall())
    for provider_id, name in tx.execute(
        f"SELECT provider_id, name FROM {PROVIDER_NAMES} WHERE effective_from <= %s "
        "ORDER BY provider_id, effective_from",
        (on.isoformat(),),
    ).fetchall():
        if provider_id in names:
            names[provider_id] = name  # rows come by effective_from: the last one holds
    return names


def load_exits_by_year(tx: Tx) -> list[tuple[str, str, int, int]]:
    """(insats, year, self-sufficient exits, sum of their days) for every insats and calendar
    year with any exit (of a journey that counts), in one scan.

    Aggregated in SQL: `substr`, `CASE` and `GROUP BY` are portable between SQLite and
    PostgreSQL."""
    reasons = sorted(SELF_SUFFICIENT_REASONS)
    is_ss = f"exit_reason IN ({', '.join(['%s'] * len(reasons))})"
    rows = tx.execute(
        f"SELECT insats, substr(exited_on, 1, 4), SUM(CASE WHEN {is_ss} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {is_ss} THEN exit_days ELSE 0 END) "
        f"FROM {JOURNEYS} WHERE last_relevant_on IS NOT NULL AND exited_on IS NOT NULL "
        "GROUP BY insats, substr(exited_on, 1, 4)",
        [*reasons, *reasons],
    ).fetchall()
    return sorted((str(i), str(y), int(n), int(d)) for i, y, n, d in rows)
