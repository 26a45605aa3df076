"""`insats serve` as a real process for the tests that need a real server (uvicorn, its
protocol, its thread pool): started on a free loopback port, waited for, always stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_key(db: Path, env: Mapping[str, str], role: str, name: str) -> str:
    """`python -m insats keys add` in a process of its own (as an operator runs it): the token."""
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
            name,
            "--db",
            str(db),
        ],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    port: int
    process: subprocess.Popen[bytes]
    log: Path  # the server's stdout and stderr

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_until_serving(
    base: str,
    process: subprocess.Popen[bytes] | None = None,
    *,
    path: str = "/healthz",
    output: str | Path | None = None,
    timeout: float = 60.0,
) -> None:
    """Until `path` answers 200; fails the test (with the server's output) if the process ends
    or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}{path}", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            said = Path(output).read_text(errors="replace") if isinstance(output, Path) else output
            pytest.fail(f"insats serve did not start:\n{said or ''}")
        time.sleep(0.1)


@contextmanager
def insats_serve(
    args: list[str], env: Mapping[str, str], log: Path, *, ready_path: str = "/healthz"
) -> Iterator[Served]:
    """`python -m insats serve --port <free> ARGS`, its output in the file `log` (a file, not a
    pipe: a full pipe would block the server), until the block ends."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "insats", "serve", "--port", str(port), *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, log)
    try:
        wait_until_serving(served.base, process, path=ready_path, output=log)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
