"""Command throughput and latency through the HTTP API on PostgreSQL (SPEC §9, issue 2).

One journey = decision + provider choice + plan + exit (4 commands). Measured at concurrency 1
and 8 through the insats HTTP API and the insats application in process, beside baselines run on
the same database:
  - a minimal FastAPI service over a plain `eventsourcing` Application doing the same four
    commands (`bench/baseline_service.py`), served and driven like the insats API;
  - a plain `eventsourcing` Application saving the same number of events, one save per command;
  - raw psycopg inserts of the same number of rows, one transaction per insert.

    python bench/commands.py [--journeys 200] [--postgres URL] [--write docs/bench/commands.md]
        [--only api,baseline,inproc,app,raw] [--concurrency 1,8] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import json as _json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine_description  # noqa: E402

PROVIDER = "5560360793"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


KIND_OF_LABEL = {
    "HTTP API (insats)": "api",
    "FastAPI + plain Application (baseline)": "baseline",
    "insats application in process (no HTTP)": "inproc",
    "plain eventsourcing Application": "app",
    "raw psycopg INSERT": "raw",
}


TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system) of a process so far: this one, or another by its pid."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


class Measured:
    """CPU spent while commands ran: by the process executing them (the API server, or this
    process in process) and by the whole machine (client, server and PostgreSQL together)."""

    def __init__(self, pid: int | None = None):
        self.pid = pid
        self.cpu0, (self.busy0, self.all0) = process_cpu(pid), machine_busy()

    def done(self) -> tuple[float, float]:
        """(CPU seconds of the process, fraction of the machine's cores busy)."""
        busy, total = machine_busy()
        cpu = process_cpu(self.pid) - self.cpu0
        return cpu, (busy - self.busy0) / max(total - self.all0, 1e-9)


class Result:
    def __init__(
        self,
        label: str,
        concurrency: int,
        commands: int,
        seconds: float,
        latencies: list[float],
        cpu: tuple[float, float] = (float("nan"), float("nan")),
    ):
        self.label, self.concurrency, self.commands = label, concurrency, commands
        self.seconds, self.latencies = seconds, sorted(latencies)
        self.cpu_seconds, self.busy = cpu

    @property
    def kind(self) -> str:
        return KIND_OF_LABEL.get(self.label, self.label)

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.label,
            "kind": self.kind,
            "concurrency": self.concurrency,
            "commands": self.commands,
            "seconds": round(self.seconds, 3),
            "commands_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            "cpu_ms_per_command": round(self.cpu_ms, 3),
            "machine_busy": round(self.busy, 3),
        }

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / self.commands * 1000

    @property
    def rate(self) -> float:
        return self.commands / self.seconds

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        i = min(len(self.latencies) - 1, round(p / 100 * (len(self.latencies) - 1)))
        return self.latencies[i] * 1000

    def row(self) -> str:
        return (
            f"| {self.label} | {self.concurrency} | {self.commands} | {self.rate:,.0f} | "
            f"{self.pct(50):.1f} | {self.pct(95):.1f} | {self.pct(99):.1f} | "
            f"{self.cpu_ms:.2f} | {self.busy:.0%} |"
        )


def run_parallel(
    concurrency: int, jobs: int, job: Callable[[int], list[float]]
) -> tuple[float, list[float]]:
    """Run `job(i)` for i in range(jobs) on `concurrency` threads; returns wall time, latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(jobs))
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                lat = job(i)
            except BaseException as exc:  # reported after the run
                errors.append(exc)
                return
            with lock:
                latencies.extend(lat)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed, latencies


# --- the API ------------------------------------------------------------------------------------


class KeepAliveClient:
    """A lean HTTP/1.1 keep-alive client (stdlib): the load generator shares the two cores with
    the server and PostgreSQL, so it should spend as little CPU per request as it can."""

    class Reply:
        def __init__(self, status: int, body: bytes):
            self.status_code, self.text = status, body.decode()

        def json(self) -> Any:
            return json.loads(self.text)

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, json: Any) -> KeepAliveClient.Reply:
        self.conn.request("POST", path, body=_json.dumps(json), headers=self.headers)
        response = self.conn.getresponse()
        return self.Reply(response.status, response.read())


def bench_api(url: str, schema: str, journeys: int, concurrency: int, offset: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.json"
        env = {
            **os.environ,
            "INSATS_API_KEYS_FILE": str(keys),
            "INSATS_POSTGRES_SCHEMA": schema,
            "INSATS_PERSON_KEY": "cd" * 32,
            "INSATS_TODAY": "2026-11-23",
        }

        def key(role: str, extra: list[str] | None = None) -> str:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "insats",
                    "keys",
                    "add",
                    "--role",
                    role,
                    "--name",
                    "bench",
                    *(extra or []),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

        admin, publisher = key("admin"), key("publisher")
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "insats",
                "serve",
                "--port",
                str(port),
                "--postgres",
                url,
                "--no-projections",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base)
            httpx.post(
                f"{base}/v1/providers",
                headers={"Authorization": f"Bearer {admin}"},
                json={
                    "provider_id": PROVIDER,
                    "name": "Bench AB",
                    "insats_types": ["grund", "forstarkt", "sai"],
                    "authorised_from": "2020-01-01",
                    "bankgiro": "5050-1055",
                },
            )
            journey = http_journey(port, publisher, schema, offset, prefix="/v1")
            measured = Measured(server.pid)
            seconds, latencies = run_parallel(concurrency, journeys, journey)
            return Result(
                "HTTP API (insats)", concurrency, journeys * 4, seconds, latencies, measured.done()
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


def http_journey(
    port: int, token: str, schema: str, offset: int, *, prefix: str
) -> Callable[[int], list[float]]:
    """One journey's four commands through an HTTP API, one keep-alive client per thread."""
    local = threading.local()

    def client() -> KeepAliveClient:
        if not hasattr(local, "client"):
            local.client = KeepAliveClient(port, token)
        return local.client  # type: ignore[no-any-return]

    def journey(i: int) -> list[float]:
        c = client()
        n = offset + i
        lat = []
        t = time.perf_counter()
        r = c.post(
            f"{prefix}/decisions",
            json={
                "external_ref": {"system": "bench", "decision_id": f"{schema}-{n}"},
                "person_id": bench_person(n),
                "insats": "grund",
                "decided_on": "2026-01-10",
                "decided_by": "kv",
                "target_group": "other",
            },
        )
        lat.append(time.perf_counter() - t)
        assert r.status_code == 201, r.text
        jid = r.json()["journey_id"]
        for path, body in (
            ("provider", {"provider_id": PROVIDER, "starts_on": "2026-01-20"}),
            ("plan", {"established_on": "2026-02-10"}),
            ("exit", {"exited_on": "2026-04-10", "reason": "moved"}),
        ):
            t = time.perf_counter()
            r = c.post(f"{prefix}/journeys/{jid}/{path}", json=body)
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        return lat

    return journey


def wait_ready(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not become ready")


def bench_baseline_api(url: str, schema: str, journeys: int, concurrency: int) -> Result:
    """The same four commands through a minimal FastAPI service over a plain eventsourcing
    Application (`bench/baseline_service.py`), served and driven as the insats API is."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.baseline_service",
            "--port",
            str(port),
            "--postgres",
            url,
            "--schema",
            schema,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        journey = http_journey(port, "none", schema, 0, prefix="")
        measured = Measured(server.pid)
        seconds, latencies = run_parallel(concurrency, journeys, journey)
        return Result(
            "FastAPI + plain Application (baseline)",
            concurrency,
            journeys * 4,
            seconds,
            latencies,
            measured.done(),
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_in_process(url: str, schema: str, journeys: int, concurrency: int) -> Result:
    """The same four commands through the lifecycle application directly (no HTTP), to tell the
    HTTP layer's share from the domain's and the store's."""
    from datetime import date

    from contracts.journey import Exit, Plan
    from services.lifecycle.application import LifecycleApp, PersonRefKey
    from services.lifecycle.domain.journey import ExternalRef
    from services.lifecycle.store import StoreConfig

    config = StoreConfig(postgres_url=url, schema=schema)
    app = LifecycleApp(
        config.eventsourcing_env(),
        person_key=PersonRefKey(bytes.fromhex("cd" * 32)),
        today=lambda: date(2026, 11, 23),
    )
    ctx = authorise_bench_provider(app)
    steps: tuple[Callable[[str], object], ...] = (
        lambda jid: app.choose_provider(
            ctx, jid, provider_id=PROVIDER, starts_on=date(2026, 1, 20)
        ),
        lambda jid: app.register_plan(ctx, jid, Plan(date(2026, 2, 10), None, None)),
        lambda jid: app.exit_journey(ctx, jid, Exit(date(2026, 4, 10), "moved")),
    )

    def journey(i: int) -> list[float]:
        lat = []
        t = time.perf_counter()
        jid = app.register_decision(
            ctx,
            external_ref=ExternalRef("bench", str(i)),
            person_id=bench_person(i),
            insats="grund",
            decided_on=date(2026, 1, 10),
            decided_by="kv",
            target_group="other",
        ).resource["journey_id"]
        lat.append(time.perf_counter() - t)
        for step in steps:
            t = time.perf_counter()
            step(jid)
            lat.append(time.perf_counter() - t)
        return lat

    try:
        measured = Measured()
        seconds, latencies = run_parallel(concurrency, journeys, journey)
        cpu = measured.done()
    finally:
        app.close()
    return Result(
        "insats application in process (no HTTP)",
        concurrency,
        journeys * 4,
        seconds,
        latencies,
        cpu,
    )


def authorise_bench_provider(app: Any) -> Any:
    """The benchmark's one provider, authorised for grund; returns the command context."""
    from datetime import date

    ctx = app.context("publisher:bench", "bench", "bench")
    app.authorise_provider(
        ctx,
        provider_id=PROVIDER,
        name="Bench AB",
        insats_types=["grund"],
        authorised_from=date(2020, 1, 1),
        bankgiro="5050-1055",
        iban=None,
    )
    return ctx


def bench_person(n: int) -> str:
    """A distinct valid personnummer per journey (one open journey per person): born
    19YYMMDD, serial NNN and the Luhn check digit."""
    from stdnum import luhn

    birth = f"19{70 + n // 1000 % 30}0{1 + n // 30000 % 9}1{n // 270000 % 9}"
    serial = f"{n % 1000:03d}"
    return f"{birth}-{serial}{luhn.calc_check_digit(birth[2:] + serial)}"


# --- baselines ----------------------------------------------------------------------------------


class Account(Aggregate):
    """A plain aggregate, as in the library's examples: one event per command."""

    @event("Opened")
    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.steps: list[str] = []

    @event("Stepped")
    def step(self, name: str, on: str) -> None:
        self.steps.append(name)


class PlainApp(Application[uuid.UUID]):
    pass


def bench_plain_app(url: str, schema: str, journeys: int, concurrency: int) -> Result:
    from bench.baseline_service import plain_postgres_env

    app = PlainApp(plain_postgres_env(url, schema))

    def journey(i: int) -> list[float]:
        lat = []
        t = time.perf_counter()
        acc = Account(f"j{i}")
        app.save(acc)
        lat.append(time.perf_counter() - t)
        for name in ("provider", "plan", "exit"):
            t = time.perf_counter()
            acc = app.repository.get(acc.id)
            acc.step(name, "2026-01-20")
            app.save(acc)
            lat.append(time.perf_counter() - t)
        return lat

    try:
        measured = Measured()
        seconds, latencies = run_parallel(concurrency, journeys, journey)
        cpu = measured.done()
    finally:
        app.close()
    return Result(
        "plain eventsourcing Application", concurrency, journeys * 4, seconds, latencies, cpu
    )


def bench_raw_inserts(url: str, schema: str, journeys: int, concurrency: int) -> Result:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".raw_events (id BIGSERIAL PRIMARY KEY, '
            "stream UUID NOT NULL, version INT NOT NULL, body BYTEA NOT NULL, "
            "UNIQUE (stream, version))"
        )
    local = threading.local()

    def conn() -> psycopg.Connection[Any]:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(url, autocommit=True)
        return local.conn  # type: ignore[no-any-return]

    body = b'{"payload": "x' + b"x" * 200 + b'"}'

    def journey(i: int) -> list[float]:
        c = conn()
        stream = uuid.uuid4()
        lat = []
        for version in range(1, 5):
            t = time.perf_counter()
            with c.transaction():
                c.execute(
                    f'INSERT INTO "{schema}".raw_events (stream, version, body) '
                    "VALUES (%s, %s, %s)",
                    (stream, version, body),
                )
            lat.append(time.perf_counter() - t)
        return lat

    measured = Measured()
    seconds, latencies = run_parallel(concurrency, journeys, journey)
    return Result(
        "raw psycopg INSERT", concurrency, journeys * 4, seconds, latencies, measured.done()
    )


KINDS = ("api", "baseline", "inproc", "app", "raw")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=200)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "INSATS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--write", type=Path, default=None, help="write the results into this markdown section file"
    )
    parser.add_argument(
        "--only",
        default=",".join(KINDS),
        help=f"comma-separated subset of {','.join(KINDS)} (default: all)",
    )
    parser.add_argument(
        "--concurrency", default="1,8", help="comma-separated concurrencies (default: 1,8)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print every figure as one JSON object at the end"
    )
    args = parser.parse_args()
    kinds = [k for k in args.only.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown --only {', '.join(sorted(unknown))}")
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    results: list[Result] = []
    schemas: list[str] = []
    try:
        for concurrency in concurrencies:
            for label in kinds:
                schema = f"bench_{label}_{uuid.uuid4().hex[:8]}"
                schemas.append(schema)
                with psycopg.connect(args.postgres, autocommit=True) as c:
                    c.execute(f'CREATE SCHEMA "{schema}"')
                if label == "api":
                    results.append(bench_api(args.postgres, schema, args.journeys, concurrency, 0))
                elif label == "baseline":
                    results.append(
                        bench_baseline_api(args.postgres, schema, args.journeys, concurrency)
                    )
                elif label == "inproc":
                    results.append(
                        bench_in_process(args.postgres, schema, args.journeys, concurrency)
                    )
                elif label == "app":
                    results.append(
                        bench_plain_app(args.postgres, schema, args.journeys, concurrency)
                    )
                else:
                    results.append(
                        bench_raw_inserts(args.postgres, schema, args.journeys, concurrency)
                    )
                print(results[-1].row(), flush=True)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as c:
            for schema in schemas:
                c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    header = (
        "| what | concurrency | commands | commands/s | p50 ms | p95 ms | p99 ms "
        "| CPU ms per command (executing process) | machine's cores busy |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    table = "\n".join([header, *(r.row() for r in results)])
    text = (
        f"# Commands through the HTTP API on PostgreSQL (`bench/commands.py`)\n\n"
        f"Run: `python bench/commands.py --journeys {args.journeys}` "
        f"on {time.strftime('%Y-%m-%d')}.\n"
        f"Machine: {machine_description()}.\n\n"
        "One journey = decision + provider choice + plan + exit. Baselines in the same run, "
        "same database and concurrency: what a team without insats would build — a minimal "
        "FastAPI service over a plain `eventsourcing` Application (`bench/baseline_service.py`: "
        "pydantic bodies, one event per command, load + save, a small JSON view as the answer; "
        "no authentication, no rules, served by uvicorn like `insats serve` and driven by the "
        "same client); the plain Application in process; raw psycopg INSERTs, one transaction "
        "per row.\n\n"
        f"{table}\n\n"
        f"{RATIOS_TEXT.format(**ratios(results))}"
        "The API runs as in production (`insats serve --no-projections`, one uvicorn process) "
        "and is driven by a lean keep-alive client; client, server and PostgreSQL share the "
        "machine's two cores, so figures vary widely between runs when other work shares them: "
        "compare rows of one run, and repeat it. "
        "What an insats command does beyond the baseline's: authentication and the permission "
        "table, the free-text and header rules, the provider, rate-table and person-lock reads "
        "its rules need, a decision and an exit saving two streams in one transaction, and the "
        "full journey view (with the providers' de-authorisations) as the answer. "
        "Profiles: cProfile in process, py-spy on the server. Scaling out is by more API "
        "replicas (`deploy/kubernetes/insats.yaml`); the writes themselves serialise on the "
        "event table lock (SPEC §10).\n"
    )
    print()
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        # What was measured against earlier code, written by hand, follows the run's figures.
        notes = args.write.with_name(f"{args.write.stem}-notes.md")
        if notes.exists():
            text += "\n" + notes.read_text(encoding="utf-8")
        args.write.write_text(text, encoding="utf-8")
        from bench.figures import save

        save(
            "commands",
            {
                "journeys": args.journeys,
                "results": [r.as_dict() for r in results],
                "ratios": ratios(results),
            },
        )
    if args.json:
        print(
            json.dumps(
                {
                    "journeys": args.journeys,
                    "date": time.strftime("%Y-%m-%d"),
                    "machine": machine_description(),
                    "results": [r.as_dict() for r in results],
                    "ratios": ratios(results),
                }
            )
        )
    _ = platform  # machine details come from bench.machine


RATIOS_TEXT = (
    "Ratios in this run (commands/s): HTTP API / FastAPI baseline {api_vs_baseline}; "
    "in process / plain Application {inproc_vs_app}.\n\n"
)


def ratios(results: list[Result]) -> dict[str, str]:
    """'c1 / c8' ratios of the insats rows to their baselines in this run."""
    by = {(r.kind, r.concurrency): r.rate for r in results}

    def ratio(a: str, b: str) -> str:
        parts = [
            f"{by[(a, c)] / by[(b, c)]:.2f}× at {c}"
            for c in sorted({c for _, c in by})
            if (a, c) in by and (b, c) in by
        ]
        return ", ".join(parts) or "not measured"

    return {
        "api_vs_baseline": ratio("api", "baseline"),
        "inproc_vs_app": ratio("inproc", "app"),
    }


if __name__ == "__main__":
    main()
