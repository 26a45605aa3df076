"""The same read model and figures on PostgreSQL (production) as on SQLite (embedded)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date

import pytest

from services.platform.db import Database, PostgresDatabase, SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource
from services.statistics.projection import JOURNEYS, StatisticsProjection
from services.statistics.service import StatisticsService
from tests.statistics.stats_given import P1, P2, Given

FROM, TO = date(2024, 1, 1), date(2024, 12, 31)

pytestmark = pytest.mark.postgres
PG_URL = os.environ.get("INSATS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def mixed_log() -> Given:
    given = Given()
    given.authorise(P1, "Ett AB")
    a = given.journey("2023-03-01", insats="forstarkt", provider_id=P1)
    given.plan(a, "2023-04-01")
    given.provider(a, P2, "2023-09-01")
    given.exit(a, "2024-02-01", "work", employment_form="permanent", subsidy="none")
    given.follow_up(a, "2024-08-01", "sustained")
    b = given.journey("2024-01-10", insats="sai", provider_id=P2)
    given.correct(b, "starts_on", "2024-01-10", "2024-01-05")
    given.deauthorise(P2, "2024-11-01")
    c = given.decision()
    given.withdraw(c, "2024-01-02")
    given.journey("2022-05-01", "2022-09-01", "studies")
    return given


@pytest.fixture
def postgres(pg_schema: str) -> Iterator[Database]:
    """A schema of its own (tests/conftest.py's `pg_schema` creates and drops it)."""
    db = PostgresDatabase(PG_URL, pg_schema, max_size=2)
    yield db
    db.close()


def feed(db: Database, given: Given, batch_size: int) -> StatisticsService:
    FeedRunner(
        ListEventSource(given.events), db, [StatisticsProjection()], batch_size=batch_size
    ).catch_up()
    return StatisticsService(db, today=lambda: date(2030, 1, 1))


def test_postgres_gives_the_same_rows_and_figures_as_sqlite(postgres: Database) -> None:
    given = mixed_log()
    on_pg = feed(postgres, given, 2)
    on_sqlite = feed(SQLiteDatabase(":memory:"), given, 1000)

    with postgres.transaction() as tx:
        pg_rows = sorted(tx.execute(f"SELECT * FROM {JOURNEYS}").fetchall(), key=repr)
    with on_sqlite.db.transaction() as tx:
        sqlite_rows = sorted(tx.execute(f"SELECT * FROM {JOURNEYS}").fetchall(), key=repr)

    assert pg_rows == sqlite_rows
    for group_by in ("insats", "provider", "target_group"):
        assert on_pg.figures(FROM, TO, group_by) == on_sqlite.figures(FROM, TO, group_by)
    assert on_pg.yearly_days() == on_sqlite.yearly_days()
    assert on_pg.figures(FROM, TO, "provider")["groups"]["none"]["journeys"] == 1
    assert on_pg.csv(FROM, TO, "provider") == on_sqlite.csv(FROM, TO, "provider")
