"""A journey as the API shows it (`GET /v1/journeys/{id}`, `insats audit as-of`): the public
journey model's facts on a date (`as_of`), as known at a time, in the contract's JSON form."""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.journey import JourneyFacts, Providers, spans_of


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def journey_view(
    facts: JourneyFacts,
    *,
    as_of: date,
    providers: Providers,
    person_id: str | None = None,
) -> dict[str, Any] | None:
    """The journey on `as_of`: facts effective after it are left out, and so are
    de-authorisations that take effect after it. None when the decision was taken later.
    `person_id` is shown only when given (roles that may see it)."""
    shown = facts.on(as_of)
    if shown is None or shown.decision is None:
        return None
    d = shown.decision
    gone = {pid: p.on(as_of) for pid, p in providers.items()}
    spans = spans_of(shown.assignments, shown.exited_on, gone, keep_empty=True)
    plan = shown.plan
    exit_ = shown.exit
    view: dict[str, Any] = {
        "journey_id": facts.journey_id,
        "external_ref": {"system": d.system, "decision_id": d.decision_id},
        "person_ref": d.person_ref,
        "person_id_kind": d.person_id_kind,
        "insats": shown.insats,
        "target_group": d.target_group,
        "status": shown.status_on(as_of),
        "decided_on": d.decided_on.isoformat(),
        "decided_by": d.decided_by,
        "counsellor": d.counsellor,
        "transfer_from": d.transfer_from,
        "starts_on": _iso(shown.starts_on),
        "provider_id": shown.responsible_provider_on(as_of, gone),
        "assignments": [
            {
                "provider_id": s.provider_id,
                "starts_on": s.starts_on.isoformat(),
                "ends_on": _iso(s.ends_on),
            }
            for s in spans
        ],
        "plan": None
        if plan is None or shown.starts_on is None
        else {
            "established_on": plan.established_on.isoformat(),
            "due_on": _iso(shown.plan_due_on),
            "late": shown.plan_late,
            "planned_internship_start": _iso(plan.planned_internship_start),
            "planned_internship_share_percent": plan.planned_internship_share_percent,
        },
        "internships": [
            {
                "employer": i.employer,
                "started_on": i.started_on.isoformat(),
                "share_percent": i.share_percent,
                "ended_on": _iso(i.ended_on),
            }
            for i in shown.internships
        ],
        "vouchers": [
            {
                "voucher_id": v.voucher_id,
                "amount": f"{v.amount:.2f}",
                "purpose": v.purpose,
                "granted_on": v.granted_on.isoformat(),
            }
            for v in shown.vouchers
        ],
        "exit": None if exit_ is None else exit_.to_json(),
        "follow_up_due_on": _iso(shown.follow_up_due_on),
        "follow_ups": [
            {
                "followed_up_on": u.followed_up_on.isoformat(),
                "outcome": u.outcome,
                "evidence": [
                    {"type": e.type, "id": e.id, "date": e.date.isoformat()} for e in u.evidence
                ],
                "due_on": u.due_on.isoformat(),
                "bonus_claim": u.bonus_claim,
            }
            for u in shown.follow_ups
        ],
        "bonus": {
            "qualifies": shown.qualifies_for_bonus,
            "status": shown.bonus_status_on(as_of),
            "reviews": [
                {
                    "reviewed_on": r.reviewed_on.isoformat(),
                    "decision": r.decision,
                    "reason": r.reason,
                }
                for r in shown.reviews
            ],
        },
        "withdrawal": None
        if shown.withdrawal is None
        else {
            "withdrawn_on": shown.withdrawal.withdrawn_on.isoformat(),
            "reason": shown.withdrawal.reason,
        },
        "as_of": as_of.isoformat(),
        "version": facts.version,
    }
    if person_id is not None:
        view["person_id"] = person_id
    return view
