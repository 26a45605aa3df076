"""A PostgreSQL outage while `insats serve` runs: fail fast, stay alive, recover by itself.

The test starts a PostgreSQL cluster of its own (so it can stop it) and the real server process
(uvicorn, as in production: thread-pool starvation shows only there). Then:
- the cluster is stopped: a command answers 503 with Retry-After at once and records nothing,
  `/readyz` says 503;
- its port becomes a black hole (accepts TCP, never answers, like a hung or partitioned
  database): 120 requests block on it, three times the server's ~40 worker threads, so they
  keep them busy for three pool timeouts; still `/healthz` answers at once (a sync endpoint
  would queue behind the 80 waiting ones) and `/readyz` within its probe timeout; the blocked
  requests end in 503;
- the cluster starts again: `/readyz` says 200, a command succeeds, the read models catch up
  and the LISTEN connection is back, without restarting the server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from services.lifecycle.application import PUBLIC_TOPICS
from services.platform.auth import KeyStore
from tests.conftest import P1, PERSON_KEY, decision_body, person, unavailable
from tests.serving import free_port, insats_serve

pytestmark = pytest.mark.postgres

BLOCKED = 120


def cluster_unavailable(reason: str) -> None:
    unavailable(f"the outage test needs a PostgreSQL cluster of its own: {reason}")


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth, no fsync)."""

    bindir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # initdb and postgres refuse to run as root: run them as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-m",
            "immediate",
            "-w",
            "stop",
        )

    def running(self) -> bool:
        return (self.root / "data" / "postmaster.pid").exists()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    initdb = shutil.which("initdb")
    if found:
        bindir = Path(found[-1]).parent
    elif initdb:
        bindir = Path(initdb).parent
    else:
        cluster_unavailable("no initdb/pg_ctl (Debian package postgresql)")
    root = Path(tempfile.mkdtemp(prefix="insats-outage-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        c = Cluster(bindir, root, free_port())
        c.init()
        c.start()
    except (OSError, KeyError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        cluster_unavailable(f"could not start a cluster: {exc} {detail.decode(errors='replace')}")
    try:
        yield c
    finally:
        if c.running():
            c.stop()
        shutil.rmtree(root, ignore_errors=True)


def _version(path: str) -> tuple[int, ...]:
    parts = Path(path).parts
    return tuple(int(p) for p in parts if p.isdigit())


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def server(cluster: Cluster, tmp_path: Path) -> Iterator[Server]:
    keys = KeyStore(tmp_path / "keys.json")
    tokens = {role: keys.add(role, f"outage-{role}") for role in ("admin", "publisher")}
    env = {
        **os.environ,
        "INSATS_API_KEYS_FILE": str(tmp_path / "keys.json"),
        "INSATS_PERSON_KEY": PERSON_KEY,
        "INSATS_POSTGRES_SCHEMA": "insats",
    }
    for key in list(env):  # the defaults under test, whatever the caller's shell says
        if key.endswith("_TIMEOUT") and key.startswith("INSATS_"):
            del env[key]
    args = ["--postgres", cluster.url]
    with insats_serve(args, env, tmp_path / "server.log", ready_path="/readyz") as served:
        yield Server(served.base, tokens, served.process, served.log)


class BlackHole:
    """Listens on the database's port and never answers: connects hang until their timeout."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)

    def close(self) -> None:
        self.sock.close()


def head_position(cluster: Cluster, *, public: bool = False) -> int:
    """The last position in the event log (`public`: of an event the read models see)."""
    sql = "SELECT coalesce(max(notification_id), 0) FROM insats.lifecycle_events"
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        if public:
            row = conn.execute(sql + " WHERE topic = ANY(%s)", (list(PUBLIC_TOPICS),)).fetchone()
        else:
            row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def feed_positions(cluster: Cluster) -> dict[str, int]:
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT name, position FROM insats.feed_tracking").fetchall()
    return {str(name): int(pos) for name, pos in rows}


def listening(cluster: Cluster) -> bool:
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN %'"
        ).fetchone()
    return row is not None and int(row[0]) > 0


def eventually(check: Any, what: str, timeout: float = 30.0) -> float:
    """Polls `check()` until true; returns how long it took."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (psycopg.Error, httpx.TransportError):
            pass
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} not within {timeout} s")
        time.sleep(0.2)


def assert_store_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    body = r.json()
    assert body["error"] == "store_unavailable" and body["field"] is None and body["message"]


def test_an_outage_fails_fast_keeps_health_and_recovers_by_itself(
    cluster: Cluster, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    figures: dict[str, float] = {}
    http = httpx.Client(base_url=server.base, timeout=30)
    r = http.post(
        "/v1/providers",
        headers=server.headers("admin"),
        json={
            "provider_id": P1,
            "name": "Jobbstart AB",
            "insats_types": ["grund"],
            "authorised_from": "2020-01-01",
            "bankgiro": "5050-1055",
        },
    )
    assert r.status_code == 201, r.text
    r = http.post(
        "/v1/decisions",
        headers=server.headers("publisher"),
        json=decision_body("before-1", person("1990-01-01"), "grund"),
    )
    assert r.status_code == 201, r.text
    journey = r.json()["journey_id"]
    recorded = head_position(cluster)
    public = head_position(cluster, public=True)
    eventually(lambda: set(feed_positions(cluster).values()) == {public}, "feed before")

    # --- the database stops: connections are refused ----------------------------------------
    cluster.stop()
    started = time.monotonic()
    r = http.post(
        "/v1/decisions",
        headers=server.headers("publisher"),
        json=decision_body("during-1", person("1991-01-01"), "grund"),
    )
    figures["command 503, refused"] = time.monotonic() - started
    assert_store_unavailable(r)
    assert figures["command 503, refused"] < 8  # the pool timeout (3 s); it was 20-30 s

    started = time.monotonic()
    r = http.get("/readyz")
    figures["readyz 503, refused"] = time.monotonic() - started
    assert r.status_code == 503 and r.json()["status"] == "unavailable", r.text
    assert figures["readyz 503, refused"] < 5

    # --- its port hangs: every connect waits for its timeout ---------------------------------
    hole = BlackHole(cluster.port)
    try:
        started = time.monotonic()
        r = http.get("/readyz")
        figures["readyz 503, hung"] = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert figures["readyz 503, hung"] < 5  # its own 2 s connect timeout

        # One client, a connection per request: clients of their own would each build an SSL
        # context, which takes longer than the requests block.
        many = httpx.Client(
            base_url=server.base, timeout=60, limits=httpx.Limits(max_connections=BLOCKED)
        )

        def slow_read(_: int) -> tuple[httpx.Response, float]:
            response = many.get(f"/v1/journeys/{journey}", headers=server.headers("admin"))
            return response, time.monotonic()

        with many, ThreadPoolExecutor(max_workers=BLOCKED) as pool:
            blocked = [pool.submit(slow_read, n) for n in range(BLOCKED)]
            time.sleep(0.5)  # the server's ~40 worker threads now all wait on the pool
            started = time.monotonic()
            r = http.get("/healthz")
            healthz_done = time.monotonic()
            figures["healthz while blocked"] = healthz_done - started
            assert r.status_code == 200 and r.json() == {"status": "ok"}
            started = time.monotonic()
            r = http.get("/readyz")
            figures["readyz while blocked"] = time.monotonic() - started
            assert r.status_code == 503
            results = [f.result() for f in blocked]
        still_blocked = sum(1 for _, done in results if done > healthz_done)
        figures["blocked requests when healthz answered"] = still_blocked
        figures["slowest blocked request"] = max(done for _, done in results) - healthz_done
        assert figures["healthz while blocked"] < 2
        assert figures["readyz while blocked"] < 5
        assert still_blocked >= 80  # healthz did answer while the worker threads were blocked
        for response, _ in results:
            assert_store_unavailable(response)
        started = time.monotonic()
        r = http.post(
            "/v1/decisions",
            headers=server.headers("publisher"),
            json=decision_body("during-2", person("1992-01-01"), "grund"),
        )
        figures["command 503, hung"] = time.monotonic() - started
        assert_store_unavailable(r)
        assert figures["command 503, hung"] < 8
    finally:
        hole.close()

    # --- it is back: no restart of the server ------------------------------------------------
    cluster.start()
    back = time.monotonic()
    eventually(lambda: http.get("/readyz").status_code == 200, "ready again")
    figures["ready again after restart"] = time.monotonic() - back
    assert head_position(cluster) == recorded  # the refused commands recorded nothing

    def command_succeeds() -> bool:
        r = http.post(
            "/v1/decisions",
            headers=server.headers("publisher"),
            json=decision_body("after-1", person("1993-01-01"), "grund"),
        )
        assert r.status_code in (201, 503), r.text
        return r.status_code == 201

    eventually(command_succeeds, "a command succeeds again")
    figures["command ok after restart"] = time.monotonic() - back
    assert head_position(cluster) > recorded
    after = head_position(cluster, public=True)
    eventually(lambda: set(feed_positions(cluster).values()) == {after}, "read models catch up")
    figures["read models caught up after restart"] = time.monotonic() - back
    eventually(lambda: listening(cluster), "LISTEN connection back")
    r = http.get("/v1/journeys", headers=server.headers("admin"))
    assert r.status_code == 200 and len(r.json()["journeys"]) == 2, r.text
    assert server.process.poll() is None
    http.close()
    with capsys.disabled():
        print("\noutage figures (s):", {k: round(v, 3) for k, v in figures.items()})
