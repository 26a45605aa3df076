"""A journey as a reader sees it, on a date (`as_of`), from the facts known at a time."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from contracts.events import SELF_SUFFICIENT_REASONS
from services.lifecycle.domain.journey import (
    Journey,
    follow_up_due,
    plan_due,
    qualifies_for_bonus,
)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def journey_view(
    journey: Journey,
    *,
    as_of: date,
    deauthorised: dict[str, date],
    include_person_id: bool,
) -> dict[str, Any] | None:
    """The journey's state on `as_of`: facts effective after it are left out.

    `deauthorised` maps provider ids to their de-authorisation date: an assignment ends the day
    before. Returns None when the decision itself was taken after `as_of`."""
    f = journey.facts
    if f.decided_on > as_of:
        return None
    withdrawn = f.withdrawn if f.withdrawn and f.withdrawn["withdrawn_on"] <= as_of else None
    exit = f.exit if f.exit and f.exit["exited_on"] <= as_of else None
    shown = [] if withdrawn else [a for a in f.assignments if a.starts_on <= as_of]
    assignments = []
    for i, a in enumerate(shown):
        # An end is known on as_of when the fact that ends it (the next provider's start, or
        # the exit) is effective by then.
        ends_on = a.ends_on if (i + 1 < len(shown) or exit) else None
        gone = deauthorised.get(a.provider_id)
        if gone is not None and a.starts_on < gone <= as_of:
            last_day = gone - timedelta(days=1)
            if ends_on is None or last_day < ends_on:
                ends_on = last_day
        assignments.append(
            {"provider_id": a.provider_id, "starts_on": _iso(a.starts_on), "ends_on": _iso(ends_on)}
        )
    starts_on = f.assignments[0].starts_on if assignments else None
    if withdrawn:
        status = "withdrawn"
    elif exit:
        status = "exited"
    elif starts_on is not None:
        status = "active"
    else:
        status = "decided"
    current = assignments[-1] if assignments else None
    provider_id = (
        current["provider_id"] if current and (current["ends_on"] is None or exit) else None
    )
    plan = None
    if f.plan and f.plan["established_on"] <= as_of and starts_on is not None:
        due = plan_due(starts_on)
        plan = {
            "established_on": _iso(f.plan["established_on"]),
            "due_on": _iso(due),
            "late": f.plan["established_on"] > due,
            "planned_internship_start": _iso(f.plan["planned_internship_start"]),
            "planned_internship_share_percent": f.plan["planned_internship_share_percent"],
        }
    internships = [
        {
            "employer": i.employer,
            "started_on": _iso(i.started_on),
            "share_percent": i.share_percent,
            "ended_on": _iso(i.ended_on) if i.ended_on and i.ended_on <= as_of else None,
        }
        for i in f.internships
        if i.started_on <= as_of
    ]
    vouchers = [
        {
            "voucher_id": v["voucher_id"],
            "amount": f"{v['amount']:.2f}",
            "purpose": v["purpose"],
            "granted_on": _iso(v["granted_on"]),
        }
        for v in f.vouchers
        if v["granted_on"] <= as_of
    ]
    follow_ups = [
        {
            "followed_up_on": _iso(u.followed_up_on),
            "outcome": u.outcome,
            "evidence": u.evidence,
            "due_on": _iso(u.due_on),
            "bonus_claim": u.bonus_claim,
        }
        for u in f.follow_ups
        if u.followed_up_on <= as_of
    ]
    reviews = [
        {"reviewed_on": _iso(r.reviewed_on), "decision": r.decision, "reason": r.reason}
        for r in f.reviews
        if r.reviewed_on <= as_of
    ]
    bonus_qualifies = qualifies_for_bonus(exit)
    if not exit or exit["reason"] not in SELF_SUFFICIENT_REASONS:
        bonus_status = "none"
    elif not bonus_qualifies:
        bonus_status = "not_qualified"
    elif any(r["decision"] == "approved" for r in reviews):
        bonus_status = "approved"
    else:
        claims = sum(1 for u in follow_ups if u["bonus_claim"])
        bonus_status = (
            "awaiting_claim" if not claims else ("claimed" if claims > len(reviews) else "returned")
        )
    view: dict[str, Any] = {
        "journey_id": str(journey.id),
        "external_ref": dict(f.external_ref),
        "person_ref": f.person_ref,
        "person_id_kind": f.person_id_kind,
        "insats": f.insats,
        "target_group": f.target_group,
        "status": status,
        "decided_on": _iso(f.decided_on),
        "decided_by": f.decided_by,
        "transfer_from": f.transfer_from,
        "starts_on": _iso(starts_on),
        "provider_id": provider_id,
        "assignments": assignments,
        "plan": plan,
        "internships": internships,
        "vouchers": vouchers,
        "exit": (
            {k: (_iso(v) if isinstance(v, date) else v) for k, v in exit.items()} if exit else None
        ),
        "follow_up_due_on": (
            _iso(follow_up_due(exit["exited_on"]))
            if exit and exit["reason"] in SELF_SUFFICIENT_REASONS
            else None
        ),
        "follow_ups": follow_ups,
        "bonus": {"qualifies": bonus_qualifies, "status": bonus_status, "reviews": reviews},
        "withdrawal": (
            {"withdrawn_on": _iso(withdrawn["withdrawn_on"]), "reason": withdrawn["reason"]}
            if withdrawn
            else None
        ),
        "as_of": as_of.isoformat(),
        "version": journey.version,
    }
    if include_person_id:
        view["person_id"] = f.person_id
    return view
