"""The composition root: builds the stores, the applications, the read models, the feed and the
background tasks, typed, in one place (`build`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.alerts.scheduler import DailyScheduler
from services.alerts.service import AlertsService
from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.feed_source import StoreEventSource
from services.lifecycle.journey_list import JourneyListProjection
from services.lifecycle.store import StoreConfig
from services.payments.model import Booking
from services.payments.projection import PaymentsProjection
from services.payments.references import DecisionReferences
from services.payments.runs import PayoutRuns
from services.payments.service import PaymentsService, feed_catch_up
from services.platform.auth import KeyStore
from services.platform.clock import SYSTEM_CLOCK, Clock
from services.platform.db import Database
from services.platform.feed import Failure, FeedRunner, Projection
from services.platform.kafka.relay import Relay
from services.platform.kafka.settings import KafkaSettings
from services.platform.kafka.wiring import relay_for
from services.platform.municipality import municipality_org_no
from services.platform.tasks import BackgroundTask, start_all, stop_all
from services.statistics.service import StatisticsService
from services.transparency.checkpoints import Keys, origin_from_env
from services.transparency.cosignatures import witness_keys_from_env
from services.transparency.service import Transparency

DEFAULT_DB = Path("var") / "insats.db"


def config_from_env(db: str | Path | None = None, postgres_url: str | None = None) -> StoreConfig:
    """CLI flags win over the environment; the embedded default is ./var/ (SQLite)."""
    url = postgres_url or os.environ.get("INSATS_POSTGRES_URL") or None
    schema = os.environ.get("INSATS_POSTGRES_SCHEMA", "public")
    cipher = os.environ.get("INSATS_CIPHER_KEY") or None
    if url:
        return StoreConfig(postgres_url=url, schema=schema, cipher_key=cipher)
    path = Path(db or os.environ.get("INSATS_DB") or DEFAULT_DB)
    return StoreConfig(sqlite_file=path, cipher_key=cipher)


def keys_path(config: StoreConfig) -> Path:
    configured = os.environ.get("INSATS_API_KEYS_FILE")
    if configured:
        return Path(configured)
    if config.sqlite_file is not None:
        return config.sqlite_file.with_name("api-keys.json")
    return DEFAULT_DB.with_name("api-keys.json")


@dataclass
class Container:
    """Everything one process of insats runs, built once by `build` and never patched after.

    `background_tasks` is the list `insats serve`, `insats worker` and the tests start and stop
    (`start()` / `stop()`); `close()` stops them and releases the stores."""

    config: StoreConfig
    clock: Clock
    lifecycle: LifecycleApp
    readmodel_db: Database
    source: StoreEventSource
    feed: FeedRunner
    payments: PaymentsService
    alerts: AlertsService
    statistics: StatisticsService
    scheduler: DailyScheduler  # the daily alert scan
    keys: KeyStore
    transparency: Transparency  # the Merkle log and its signed checkpoints (docs/audit.md)
    relay: Relay | None = None  # to Kafka, when INSATS_KAFKA_BOOTSTRAP is set

    @property
    def services(self) -> Mapping[str, Any]:
        """The read-side services by name (their routers find them under these names)."""
        return {
            "payments": self.payments,
            "alerts": self.alerts,
            "statistics": self.statistics,
            "transparency": self.transparency,
        }

    @property
    def feeds(self) -> list[FeedRunner]:
        """The read models' feed and the Merkle log's (evidence, never rebuilt with them)."""
        return [self.feed, self.transparency.feed]

    def failures(self) -> dict[str, Failure]:
        """Every stopped projection of every feed, by name."""
        return {name: f for feed in self.feeds for name, f in feed.failures().items()}

    def positions(self) -> dict[str, int]:
        return {name: p for feed in self.feeds for name, p in feed.positions().items()}

    @property
    def background_tasks(self) -> list[BackgroundTask]:
        # The feeds first: the daily scan then evaluates facts the feed keeps current, the daily
        # checkpoint signs leaves the Merkle log's feed appends. The relay publishes alert
        # changes, closed runs and checkpoints the others record.
        return [
            *self.feeds,
            self.scheduler,
            self.transparency.daily,
            *([self.relay] if self.relay is not None else []),
        ]

    def start(self) -> None:
        start_all(self.background_tasks)

    def stop(self) -> None:
        stop_all(self.background_tasks)

    def close(self) -> None:
        self.stop()
        self.source.close()
        self.payments.shutdown()
        self.readmodel_db.close()
        self.lifecycle.close()


def build(
    config: StoreConfig, *, clock: Clock = SYSTEM_CLOCK, record_default_rates: bool = True
) -> Container:
    """The one place the service is put together: stores, the lifecycle application, the read
    models and their feed, the read-side services, the background tasks, the API keys."""
    with config.startup_lock():  # instances started together create their tables in turn
        return _build(config, clock, record_default_rates=record_default_rates)


def _build(config: StoreConfig, clock: Clock, *, record_default_rates: bool) -> Container:
    config.create_schema()
    person_key = config.person_key()
    app = LifecycleApp(
        config.eventsourcing_env(),
        person_key=PersonRefKey(person_key),
        today=clock.today,
    )
    if record_default_rates:
        app.ensure_default_rates()
    db = config.readmodel_db()
    channel = getattr(app.recorder, "channel_name", "") if config.postgres_url else ""
    source = StoreEventSource(app, config.postgres_url, channel, config.timeouts)

    alerts = AlertsService(db, today=clock.today, now=clock.now)
    statistics = StatisticsService(db, today=clock.today)
    payments_projection, references = PaymentsProjection(), DecisionReferences()
    feed = FeedRunner(
        source,
        db,
        [
            JourneyListProjection(),
            alerts.projection(head=source.max_position),
            statistics.projection,
            payments_projection,
            references,  # the decision references the payout files name customers by
        ],
    )
    transparency = _transparency(source, db, person_key, clock)
    payments = PaymentsService(
        db,
        PayoutRuns(payout_runs_env(config)),
        feed_catch_up(feed),
        projection=payments_projection,
        references=references,
        booking=Booking.from_env(),
        source=source,
        today=clock.today,
        now=clock.now,
        checkpoint=lambda position: (
            transparency.checkpoints.write("payout_run", upto_position=position).id
        ),
    )
    kafka = KafkaSettings.from_env()
    relay = (
        relay_for(kafka, config=config, lifecycle=app, readmodel_db=db, payout_runs=payments.runs)
        if kafka is not None
        else None
    )
    return Container(
        config=config,
        clock=clock,
        lifecycle=app,
        readmodel_db=db,
        source=source,
        feed=feed,
        payments=payments,
        alerts=alerts,
        statistics=statistics,
        scheduler=DailyScheduler(alerts, today=clock.today, now=clock.now),
        keys=KeyStore(keys_path(config)),
        transparency=transparency,
        relay=relay,
    )


def _transparency(
    source: StoreEventSource, db: Database, person_key: bytes, clock: Clock
) -> Transparency:
    origin = origin_from_env(municipality_org_no())
    return Transparency(
        source,
        db,
        Keys.from_env(person_key, origin),
        origin,
        now=clock.now,
        today=clock.today,
        witnesses=witness_keys_from_env(),
    )


def payout_runs_env(config: StoreConfig) -> dict[str, str]:
    """Closed payout runs are events too: beside the lifecycle's (PostgreSQL: their own table
    in the same schema; SQLite: their own file, the library's table name being fixed)."""
    env = config.eventsourcing_env()
    if config.sqlite_file is not None:
        env["SQLITE_DBNAME"] = str(config.beside("payout-runs.db"))
    else:  # a close or a download now and then: one connection, two more at most
        env.update(POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="2")
    return env


def fresh_projections(container: Container) -> list[Projection]:
    """New, empty instances of every projection the container feeds (for replay-and-verify)."""
    return [type(p)() for p in container.feed.projections.values()]


def service_verifications(container: Container) -> list[Callable[[], list[str]]]:
    """Extra checks services offer auditors (callables returning a list of problems): payments
    reproduces every closed run and its files; the Merkle log recomputes the tree from the log
    and checks it against the stored tree and every signed checkpoint."""
    return [
        container.payments.verify,
        lambda: [f"event log: {p}" for p in container.transparency.verify()],
    ]
