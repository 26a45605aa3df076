"""The case system's decision reference of every journey, for the payout files (read model
`payout_references`, table `pay_decision_refs`).

A compensation basis names each customer by the decision reference the provider can reconcile
with (`ecos 2026-0110`) beside the journey id. The reference is fixed by DecisionRegistered
(no correction changes it), so the rows are only ever inserted. A projection of its own rather
than a table of `payments`: a new read model is fed from the start of the log by itself, so an
existing installation gains every journey's reference without a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from contracts.events import PublicEvent
from services.platform.db import Tx

_CHUNK = 500


class DecisionReferences:
    """`services.platform.feed.Projection`: journey id → (system, decision_id)."""

    name = "payout_references"

    def setup(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS pay_decision_refs ("
            " journey_id TEXT PRIMARY KEY, system TEXT NOT NULL, decision_id TEXT NOT NULL)"
        )

    def reset(self, tx: Tx) -> None:
        tx.execute("DELETE FROM pay_decision_refs")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        rows = [
            (
                e.stream_id,
                e.payload["external_ref"]["system"],
                e.payload["external_ref"]["decision_id"],
            )
            for e in events
            if e.type == "DecisionRegistered"
        ]
        if rows:
            tx.executemany(
                "INSERT INTO pay_decision_refs (journey_id, system, decision_id)"
                " VALUES (%s, %s, %s) ON CONFLICT (journey_id) DO NOTHING",
                rows,
            )

    @staticmethod
    def load(tx: Tx, journey_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        wanted = sorted(set(journey_ids))
        out: dict[str, tuple[str, str]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            for jid, system, decision_id in tx.execute(
                "SELECT journey_id, system, decision_id FROM pay_decision_refs"
                f" WHERE journey_id IN ({marks})",
                tuple(chunk),
            ).fetchall():
                out[str(jid)] = (str(system), str(decision_id))
        return out
