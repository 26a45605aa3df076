"""Background tasks: what a process runs beside answering requests (the feed that keeps the read
models current, the daily alert scan, later the Kafka relay). The composition root lists them;
`insats serve`, `insats worker` and the tests start and stop that same list."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger(__name__)


class BackgroundTask(Protocol):
    """Runs in a thread of its own between `start()` and `stop()`; both return promptly and may
    be called again (start when running and stop when stopped do nothing)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def start_all(tasks: Sequence[BackgroundTask]) -> None:
    """Start in order; if one cannot start, stop those already started and re-raise."""
    started: list[BackgroundTask] = []
    try:
        for task in tasks:
            task.start()
            started.append(task)
    except BaseException:
        stop_all(started)
        raise


def stop_all(tasks: Sequence[BackgroundTask]) -> None:
    """Stop in reverse order (what started last may depend on what started first); a failure to
    stop one is logged and the others are still stopped."""
    for task in reversed(tasks):
        try:
            task.stop()
        except Exception:
            log.exception("stopping background task %s failed", task.name)
