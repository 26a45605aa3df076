"""The 'statistics' read model: one compact row per journey (derived from the public journey
model), plus each provider's facts (names by date, authorisations) and who held which journey.

A batch of events is applied by loading the facts of the journeys it touches (one query per 500
ids), folding the events in memory with the shared model (`contracts.journey.apply`) and
writing every touched row back with one `executemany` upsert. A de-authorisation re-derives the
spans of the journeys its provider held. A period's figures then need one query:
`last_relevant_on >= from AND starts_on <= to` selects exactly the journeys that can matter.
(In SQLite a row keeps the place of its first insert, so rows lie in the order journeys were
decided and a period's rows are near each other.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Final, cast

from contracts import journey as model
from contracts.events import SELF_SUFFICIENT_REASONS, PublicEvent
from contracts.journey import JourneyFacts, ProviderFacts
from services.platform.db import Tx
from services.statistics.facts import ROW_COLUMNS, STATISTICS_PARTS, FactsRow, row_of

JOURNEYS: Final = "statistics_journeys"
PROVIDERS: Final = "statistics_provider_facts"
HOLDERS: Final = "statistics_holders"
# Tables of the stored form 1 (gone with the rebuild to 2).
_OLD_TABLES: Final = (
    "statistics_providers",
    "statistics_deauthorisations",
    "statistics_provider_names",
)

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
    "providers TEXT NOT NULL, "  # JSON spans [[starts_on, ends_on or null, provider_id], ...]
    "plan_established_on TEXT, "
    "plan_due_on TEXT, "
    "follow_ups TEXT, "  # JSON [[followed_up_on, outcome], ...] in recording order, or null
    "withdrawn INTEGER NOT NULL, "
    "last_relevant_on TEXT, "  # null: counts nowhere (withdrawn or never started)
    "facts TEXT NOT NULL)",  # the journey model's stored form (STATISTICS_PARTS)
    f"CREATE TABLE IF NOT EXISTS {PROVIDERS} (provider_id TEXT PRIMARY KEY, facts TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {HOLDERS} ("
    "provider_id TEXT NOT NULL, journey_id TEXT NOT NULL, PRIMARY KEY (provider_id, journey_id))",
)

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
)

_LOAD_CHUNK: Final = 500


class StatisticsProjection:
    """`services.platform.feed.Projection` named 'statistics'."""

    name = "statistics"
    schema_version = 2  # 2: the shared journey model (facts column, spans, provider facts)

    def setup(self, tx: Tx) -> None:
        for ddl in _DDL:
            tx.execute(ddl)
        # An early snapshot indexed last_relevant_on alone; that index would only slow reads.
        tx.execute(f"DROP INDEX IF EXISTS {JOURNEYS}_relevant")
        if tx.dialect == "postgresql":
            tx.execute(_PERIOD_INDEX)

    def reset(self, tx: Tx) -> None:
        for table in (JOURNEYS, PROVIDERS, HOLDERS, *_OLD_TABLES):
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        # A journey whose first event here is its first event ever (version 1) has no row yet:
        # the batch is a contiguous piece of the log, so its fold from scratch is complete.
        # Only the others are read back.
        first_version: dict[str, int] = {}
        for e in events:
            if e.stream_type == "journey" and e.stream_id not in first_version:
                first_version[e.stream_id] = e.version
        journeys = _load(tx, [j for j, v in first_version.items() if v > 1])
        providers = load_providers(tx)
        changed_providers: dict[str, ProviderFacts] = {}
        recut: set[str] = set()  # providers whose authorisations changed: their spans move
        for event in events:
            if event.stream_type == "journey":
                journeys[event.stream_id] = model.apply(
                    journeys.get(event.stream_id), event, STATISTICS_PARTS
                )
            elif event.stream_type == "provider":
                pid = str(event.payload["provider_id"])
                before = providers.get(pid)
                providers[pid] = changed_providers[pid] = model.apply_provider(before, event)
                if before is None or before.changes != providers[pid].changes:
                    recut.add(pid)
        if changed_providers:
            tx.executemany(
                f"INSERT INTO {PROVIDERS} (provider_id, facts) VALUES (%s, %s) "
                "ON CONFLICT (provider_id) DO UPDATE SET facts = excluded.facts",
                sorted((p, model.encode_provider(f)) for p, f in changed_providers.items()),
            )
        if recut:
            held: set[str] = set()
            for pid in sorted(recut):
                held.update(
                    r[0]
                    for r in tx.execute(
                        f"SELECT journey_id FROM {HOLDERS} WHERE provider_id = %s", (pid,)
                    ).fetchall()
                )
            journeys.update(_load(tx, [j for j in held if j not in journeys]))
        self.write(tx, journeys.values(), providers)

    def write(
        self, tx: Tx, journeys: Iterable[JourneyFacts], providers: dict[str, ProviderFacts]
    ) -> None:
        """Upsert the rows of these journeys (also the bulk-load path: fold elsewhere)."""
        journeys = [f for f in journeys if f.version > 0]
        if not journeys:
            return
        tx.executemany(_UPSERT, [row_of(f, providers) for f in journeys])
        holders = sorted({(p, f.journey_id) for f in journeys for p in f.providers_ever})
        if holders:
            tx.executemany(
                f"INSERT INTO {HOLDERS} (provider_id, journey_id) VALUES (%s, %s) "
                "ON CONFLICT (provider_id, journey_id) DO NOTHING",
                holders,
            )


def _load(tx: Tx, journey_ids: Sequence[str]) -> dict[str, JourneyFacts]:
    ids = sorted(journey_ids)
    out: dict[str, JourneyFacts] = {}
    for start in range(0, len(ids), _LOAD_CHUNK):
        chunk = ids[start : start + _LOAD_CHUNK]
        rows = tx.execute(
            f"SELECT journey_id, facts FROM {JOURNEYS} "
            f"WHERE journey_id IN ({', '.join(['%s'] * len(chunk))})",
            chunk,
        ).fetchall()
        for journey_id, text in rows:
            out[journey_id] = model.decode(journey_id, text)
    return out


def load_providers(tx: Tx) -> dict[str, ProviderFacts]:
    return {
        pid: model.decode_provider(text)
        for pid, text in tx.execute(f"SELECT provider_id, facts FROM {PROVIDERS}").fetchall()
    }


# --- reads ------------------------------------------------------------------------------------


def load_facts(tx: Tx, period_from: str, period_to: str, *, providers: bool) -> list[FactsRow]:
    """The journeys that can contribute to a figure of [from, to], in one query.

    The provider spans are only read when grouping by provider (they are the widest column).
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


def load_provider_names(tx: Tx, on: date) -> dict[str, str]:
    """provider_id → its name in force on `on`."""
    names = {}
    for pid, facts in load_providers(tx).items():
        details = facts.details_on(on)
        if details is not None:
            names[pid] = details.name
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
