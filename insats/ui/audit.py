"""The auditor's pages: the global event feed (`GET /v1/events`), any journey's history and
as-of reads (the journey page), and replay-and-verify (`insats audit verify`'s checks) with its
latest result.

A verification started here runs in a background thread of this process (it replays the whole
log, which takes a while); its result is kept in `ui_verifications` in the service database,
so every instance shows the latest one. At most one runs at a time across instances."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from insats.ui.pages import page, signed_in
from insats.ui.sessions import Session
from services.lifecycle.api import event_feed
from services.platform.db import Database

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

FEED_PAGE = 50
STALE_AFTER_SECONDS = 6 * 3600  # a run that never finished (its process died) stops blocking

_DDL = (
    "CREATE TABLE IF NOT EXISTS ui_verifications ("
    " id TEXT PRIMARY KEY, started_at BIGINT NOT NULL, finished_at BIGINT,"
    " started_by TEXT NOT NULL, status TEXT NOT NULL, positions BIGINT, problems TEXT)"
)


@dataclass(frozen=True)
class Verification:
    id: str
    started_at: int
    finished_at: int | None
    started_by: str
    status: str  # running | ok | differences | failed
    positions: int | None
    problems: list[str]

    @property
    def started_text(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at))

    @property
    def finished_text(self) -> str | None:
        if self.finished_at is None:
            return None
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.finished_at))

    @property
    def seconds(self) -> int | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


class Verifications:
    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction() as tx:
            tx.execute(_DDL)

    def latest(self) -> Verification | None:
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT id, started_at, finished_at, started_by, status, positions, problems"
                " FROM ui_verifications ORDER BY started_at DESC, id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return Verification(
            row[0],
            int(row[1]),
            None if row[2] is None else int(row[2]),
            row[3],
            row[4],
            None if row[5] is None else int(row[5]),
            json.loads(row[6] or "[]"),
        )

    def start(self, container: Any, started_by: str) -> bool:
        """Start a verification unless one is running; False when one is."""
        now = int(time.time())
        run_id = str(uuid.uuid4())
        with self.db.transaction() as tx:
            running = tx.execute(
                "SELECT 1 FROM ui_verifications WHERE status = 'running' AND started_at > %s",
                (now - STALE_AFTER_SECONDS,),
            ).fetchone()
            if running is not None:
                return False
            tx.execute(
                "INSERT INTO ui_verifications (id, started_at, started_by, status)"
                " VALUES (%s, %s, %s, 'running')",
                (run_id, now, started_by),
            )
        threading.Thread(
            target=self._run, args=(container, run_id), name="ui-verify", daemon=True
        ).start()
        return True

    def _run(self, container: Any, run_id: str) -> None:
        from insats.audit import verify_read_models
        from insats.bootstrap import fresh_projections, service_verifications

        status, problems, positions = "failed", [], None
        try:
            positions = container.lifecycle.max_position()
            problems = verify_read_models(container, lambda: fresh_projections(container))
            for check in service_verifications(container):
                problems.extend(check())
            status = "differences" if problems else "ok"
        except Exception as exc:  # recorded as the result: the auditor sees why it failed
            log.exception("verification %s failed", run_id)
            problems = [f"{type(exc).__name__}: {exc}"]
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE ui_verifications SET finished_at = %s, status = %s, positions = %s,"
                " problems = %s WHERE id = %s",
                (int(time.time()), status, positions, json.dumps(problems), run_id),
            )


def verifications(request: Request) -> Verifications:
    extras = request.app.state.ui.extras
    if "verifications" not in extras:
        extras["verifications"] = Verifications(request.app.state.readmodel_db)
    found: Verifications = extras["verifications"]
    return found


@router.get("/ui/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    after: int | None = None,
    session: Session = Depends(signed_in("audit")),
) -> HTMLResponse:
    head = request.app.state.lifecycle.max_position()
    start = max(0, head - FEED_PAGE) if after is None else max(0, after)
    feed = event_feed(request, after=start, limit=FEED_PAGE, principal=session.principal)
    return page(
        request,
        "audit.html",
        title="Granskning",
        events=feed["events"],
        next=feed["next"],
        after=start,
        head=head,
        latest=verifications(request).latest(),
        may_verify="audit.verify",
    )


@router.get("/ui/audit/verification", response_class=HTMLResponse)
def verification_status(
    request: Request, session: Session = Depends(signed_in("audit"))
) -> HTMLResponse:
    """The verification box alone (the page polls it while a run is going)."""
    return page(
        request, "verification.html", title="Verifiering", latest=verifications(request).latest()
    )


@router.post("/ui/audit/verify")
def start_verification(
    request: Request, session: Session = Depends(signed_in("audit.verify"))
) -> Response:
    verifications(request).start(request.app.state.container, session.principal.actor)
    return RedirectResponse("/ui/audit#verify", status_code=303)
