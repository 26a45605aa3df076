"""The Kafka parts of the CLI: `insats relay`, `insats worker --source kafka` and the lines
`insats readmodels status` adds (registered from insats.cli with a few lines)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from services.platform.kafka.settings import KafkaSettings
from services.platform.tasks import start_all, stop_all


def _settings() -> KafkaSettings:
    settings = KafkaSettings.from_env()
    if settings is None:
        typer.secho("insats: INSATS_KAFKA_BOOTSTRAP is not set", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    return settings


def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def _logging() -> None:
    """Operators read the relay's log: leadership, outages, what it could not publish (masked
    like every log of the service, in INSATS_LOG_FORMAT)."""
    from insats.logs import install

    install()


def relay(
    db: Annotated[Path | None, typer.Option("--db", help="SQLite event store file")] = None,
    postgres: Annotated[str | None, typer.Option("--postgres", help="PostgreSQL URL")] = None,
    once: Annotated[
        bool, typer.Option(help="Publish what is there, then exit (needs the leadership)")
    ] = False,
) -> None:
    """Publish the store's events, alert changes and closed runs to Kafka (one active relay
    per store; a second one waits and takes over when the first stops)."""
    from insats.bootstrap import build, config_from_env

    _settings()
    _logging()
    container = build(config_from_env(db, postgres))
    task = container.relay
    assert task is not None  # built whenever INSATS_KAFKA_BOOTSTRAP is set
    try:
        if once:
            if not task.leadership.acquire():
                typer.secho("insats relay: another relay leads", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            count = task.catch_up(timeout=3600)
            typer.echo(f"insats relay: {count} messages published")
            return
        typer.echo("insats relay: publishing while leader; stop with Ctrl-C or SIGTERM")
        task.start()
        _wait_for_signal()
    finally:
        task.stop()
        container.close()


def kafka_worker(container: Any) -> None:
    """`insats worker --source kafka`: one member of the read models' consumer group, plus the
    daily alert scan, until SIGTERM/SIGINT."""
    from services.platform.kafka.wiring import kafka_feed_for

    settings = _settings()
    _logging()
    # The same tasks as a store-fed worker, with the consumer group in the feed's place.
    tasks = [kafka_feed_for(container, settings), container.scheduler]
    start_all(tasks)
    typer.echo("insats worker: feeding read models from Kafka; stop with Ctrl-C or SIGTERM")
    try:
        _wait_for_signal()
    finally:
        stop_all(tasks)


def status_lines(container: Any) -> list[str]:
    """Relay positions and lag, consumer lag per partition, quarantined records."""
    from services.platform.kafka.consumer import consumer_lags, quarantined
    from services.platform.kafka.relay import relay_positions
    from services.platform.kafka.wiring import lanes_for

    db = container.readmodel_db
    positions = relay_positions(db)
    lines: list[str] = []
    lags = consumer_lags(db)
    stuck = quarantined(db)
    if not positions and not lags and not stuck:
        return lines
    lines.append("kafka relay:")
    for lane in lanes_for(container.lifecycle, db, container.payments.runs):
        pos = positions.get(lane.name, 0)
        head = lane.head()
        lines.append(f"  {lane.name:<14} {pos:>10} / {head}  lag {max(0, head - pos)}")
    if lags:
        lines.append("kafka consumers (lag per partition):")
        for lag in lags:
            lines.append(
                f"  {lag.consumer:<18} {lag.topic}[{lag.part}]  {lag.next_offset:>8} / "
                f"{lag.published}  lag {lag.lag}"
            )
    for q in stuck:
        lines.append(
            f"  QUARANTINED {q.consumer}: {q.topic}[{q.part}]@{q.offset} "
            f"(event {q.event_id or '-'}, position {q.position}) since {q.quarantined_at}: "
            f"{q.error}"
        )
    return lines
