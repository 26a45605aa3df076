"""The composition root: builds the stores, the applications, the read models and the feed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.lifecycle.application import LifecycleApp, PersonRefKey
from services.lifecycle.feed_source import StoreEventSource
from services.lifecycle.journey_list import JourneyListProjection
from services.lifecycle.store import StoreConfig
from services.payments.service import feed_catch_up
from services.platform.auth import KeyStore
from services.platform.clock import today
from services.platform.db import Database
from services.platform.feed import FeedRunner, Projection

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
    config: StoreConfig
    lifecycle: LifecycleApp
    readmodel_db: Database
    feed: FeedRunner
    keys: KeyStore
    source: StoreEventSource
    services: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # ctx.obj.payments etc. for the services' CLI commands
        services = self.__dict__.get("services", {})
        if name in services:
            return services[name]
        raise AttributeError(name)

    def close(self) -> None:
        self.feed.stop()
        self.source.close()
        for service in self.services.values():
            # `shutdown` where a service has one (payments' `close` closes a month).
            closer = getattr(service, "shutdown", None) or getattr(service, "close", None)
            if callable(closer):
                closer()
        self.readmodel_db.close()
        self.lifecycle.close()


def build(config: StoreConfig, *, record_default_rates: bool = True) -> Container:
    with config.startup_lock():  # instances started together create their tables in turn
        return _build(config, record_default_rates=record_default_rates)


def _build(config: StoreConfig, *, record_default_rates: bool) -> Container:
    config.create_schema()
    app = LifecycleApp(
        config.eventsourcing_env(),
        person_key=PersonRefKey(config.person_key()),
        today=today,
    )
    if record_default_rates:
        app.ensure_default_rates()
    db = config.readmodel_db()
    channel = getattr(app.recorder, "channel_name", "") if config.postgres_url else ""
    source = StoreEventSource(app, config.postgres_url, channel, config.timeouts)
    services: dict[str, Any] = {}
    projections: list[Projection] = [JourneyListProjection()]
    projections.extend(_service_projections(config, db, services, source))
    feed = FeedRunner(source, db, projections)
    payments = services["payments"]
    payments.catch_up = feed_catch_up(feed)
    payments.source = source
    return Container(
        config=config,
        lifecycle=app,
        readmodel_db=db,
        feed=feed,
        keys=KeyStore(keys_path(config)),
        source=source,
        services=services,
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


def _service_projections(
    config: StoreConfig, db: Database, services: dict[str, Any], source: StoreEventSource
) -> list[Projection]:
    """Payments, alerts and statistics plug their projections into the same feed."""
    from services.alerts import AlertsService
    from services.payments.model import Booking
    from services.payments.projection import PaymentsProjection
    from services.payments.runs import PayoutRuns
    from services.payments.service import PaymentsService
    from services.statistics import StatisticsService

    alerts = AlertsService(db)
    statistics = StatisticsService(db)
    payments = PaymentsService(
        db,
        PayoutRuns(payout_runs_env(config)),
        projection=PaymentsProjection(),
        booking=Booking.from_env(),
    )
    services["alerts"] = alerts
    services["statistics"] = statistics
    services["payments"] = payments
    return [
        alerts.projection(head=source.max_position),
        statistics.projection,
        payments.projection,
        payments.references,  # the decision references the payout files name customers by
    ]


def fresh_projections(container: Container) -> list[Projection]:
    """New, empty instances of every projection the container feeds (for replay-and-verify)."""
    return [type(p)() for p in container.feed.projections.values()]


def service_verifications(container: Container) -> list[Any]:
    """Extra checks services offer auditors (callables returning a list of problems)."""
    checks = []
    for service in container.services.values():
        verify = getattr(service, "verify", None)
        if callable(verify):
            checks.append(verify)
    return checks
