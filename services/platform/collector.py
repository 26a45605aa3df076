"""Python's cyclic garbage collector paused for bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off while many small objects are built (an import's events, a
    payout run's lines), and back as it was after. Reference counting still frees everything;
    without the pause every full collection walks all of them again: 10–15 % of an import of
    80 000 events, more for a run beside cached runs (measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
