"""HTTP API of the tamper-evident log (API.md "Audit", docs/audit.md): the signed checkpoints,
inclusion and consistency proofs, and the live leaves a witness recomputes the tree from.

The service is `request.app.state.transparency` (a `Transparency`). Nothing here holds personal
data: leaves and roots are hashes, a checkpoint is a signed tree head.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from services.platform.api import COMMON_REFUSALS, permitted, refusals
from services.platform.auth import Principal
from services.platform.refusal import Invalid, NotFound
from services.transparency.service import Transparency

router = APIRouter(tags=["audit"], responses=COMMON_REFUSALS)

# A page of live leaves: what one request recomputes (each leaf is one event's hash).
MAX_LEAVES = 10_000
# Log positions and tree sizes are counts of events: bounded like the feed's positions.
MAX_POSITION = 2**62


def _service(request: Request) -> Transparency:
    service: Transparency = request.app.state.transparency
    return service


def _size(request: Request, value: int, field: str) -> int:
    size = _service(request).tree_size()
    if value > size:
        raise Invalid(
            "invalid_input", f"{field} {value} is beyond the tree's size ({size} leaves)", field
        )
    return value


@router.get("/v1/audit/checkpoints")
def list_checkpoints(
    request: Request,
    _: Principal = Depends(permitted),
    after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The signed checkpoints in the order they were written (`seq`), after `after`."""
    written = _service(request).checkpoints.written_after(after, limit)
    return {"checkpoints": [c.to_json() for c in written]}


@router.post("/v1/audit/checkpoints", status_code=201, responses=refusals(503))
def write_checkpoint(request: Request, _: Principal = Depends(permitted)) -> dict[str, Any]:
    """Sign the log as it stands now (on demand)."""
    return _service(request).checkpoints.write("on_demand").to_json()


@router.get(
    "/v1/audit/checkpoint",
    response_class=PlainTextResponse,
    responses={**refusals(404), 200: {"content": {"text/plain": {}}}},
)
def latest_checkpoint(request: Request, _: Principal = Depends(permitted)) -> Response:
    """The latest checkpoint as its C2SP signed note (text/plain), for witnesses."""
    latest = _service(request).checkpoints.latest()
    if latest is None:
        raise NotFound("checkpoint_not_found", "no checkpoint has been signed yet", "checkpoint")
    return PlainTextResponse(latest.note, headers={"X-Checkpoint-Id": latest.id})


@router.get(
    "/v1/audit/checkpoints/{checkpoint_id}/note",
    response_class=PlainTextResponse,
    responses={**refusals(404), 200: {"content": {"text/plain": {}}}},
)
def cosigned_checkpoint(
    request: Request, checkpoint_id: str, _: Principal = Depends(permitted)
) -> Response:
    """A checkpoint's C2SP signed note with every witness cosignature the log collected
    appended (one signature line each, after the log's own)."""
    if len(checkpoint_id) > 100:
        raise NotFound("checkpoint_not_found", "no such checkpoint", "checkpoint_id")
    service = _service(request)
    stored = service.checkpoints.get(checkpoint_id)
    return PlainTextResponse(service.cosignatures.cosigned_note(stored))


@router.post(
    "/v1/audit/cosignatures",
    status_code=201,
    responses=refusals(404),
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def add_cosignature(request: Request, _: Principal = Depends(permitted)) -> dict[str, Any]:
    """A witness's cosigned checkpoint note (C2SP tlog-cosignature, text/plain): the log keeps
    each cosignature of a configured witness (INSATS_WITNESS_KEYS) that verifies on a
    checkpoint it signed."""
    body = await request.body()
    try:
        note = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("invalid_note", "a checkpoint note is UTF-8 text", "note") from None
    service = _service(request)
    accepted = await run_in_threadpool(service.cosignatures.add, note, int(time.time()))
    return {
        "checkpoint_id": accepted.checkpoint_id,
        "tree_size": accepted.tree_size,
        "witnesses": accepted.witnesses,
    }


@router.get("/v1/audit/proofs/inclusion", responses=refusals(404))
def inclusion_proof(
    request: Request,
    position: Annotated[int, Query(ge=1, le=MAX_POSITION)],
    tree_size: Annotated[int, Query(ge=1, le=MAX_POSITION)],
    _: Principal = Depends(permitted),
) -> dict[str, Any]:
    """The RFC 9162 inclusion proof of the event at log `position` in the tree of `tree_size`."""
    service = _service(request)
    _size(request, tree_size, "tree_size")
    try:
        return service.inclusion(position, tree_size)
    except LookupError as missing:
        raise NotFound("leaf_not_found", str(missing), "position") from None


@router.get("/v1/audit/proofs/consistency")
def consistency_proof(
    request: Request,
    from_size: Annotated[int, Query(alias="from", ge=0, le=MAX_POSITION)],
    to_size: Annotated[int, Query(alias="to", ge=0, le=MAX_POSITION)],
    _: Principal = Depends(permitted),
) -> dict[str, Any]:
    """The RFC 9162 consistency proof that the tree of size `from` is a prefix of `to`'s."""
    if from_size > to_size:
        raise Invalid("invalid_input", "from must not be greater than to", "from")
    _size(request, to_size, "to")
    return _service(request).consistency(from_size, to_size)


@router.get("/v1/audit/leaves")
def live_leaves(
    request: Request,
    _: Principal = Depends(permitted),
    after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LEAVES)] = 1000,
) -> dict[str, Any]:
    """The leaves of the log as it is now, recomputed from the stored events (not read from
    the Merkle log): a witness hashes them into the tree a checkpoint must match."""
    leaves = _service(request).live_leaf_page(after, limit)
    return {
        "leaves": leaves,
        "next": leaves[-1]["position"] if len(leaves) == limit else None,
    }
