"""Records the event log and the payout runs that `test_recorded_log.py` replays.

    python -m tests.payments.recorded.record

Simulates two years of a municipality day by day through the lifecycle application (so every
event is one the domain accepted): decisions, provider choices and changes, plans, vouchers,
exits of every kind, follow-ups and bonus reviews, withdrawals, transfers, corrections of every
field, facts reported late, a provider de-authorised, a provider's account changed, a rate
change. Each month is closed on the 3rd of the next. Writes `events.jsonl.gz` (the public
events, in log order) and `runs.json` (per closed run: the day and time it was closed, the log
position it was computed from, its total and the SHA-256 of every file).

The files were recorded once, before the journey model was shared by every read model (issue
9); the test proves the payout files stayed byte-identical. Re-record only to add cases, never
to make a failing comparison pass.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROVIDERS = ("5560360793", "5565475489", "2120000142", "5567037485")
START, END = date(2025, 1, 1), date(2026, 11, 20)


def pnr(n: int) -> str:
    from stdnum import luhn

    birth = f"19{70 + n % 25:02d}{1 + n % 12:02d}{1 + n % 28:02d}"
    serial = f"{n % 1000:03d}"
    return f"{birth}-{serial}{luhn.calc_check_digit(birth[2:] + serial)}"


def main() -> None:
    os.environ["INSATS_PERSON_KEY"] = "ab" * 32
    day_holder = {"day": START}
    os.environ["INSATS_TODAY"] = START.isoformat()

    from contracts.journey import Evidence, Exit, Plan
    from insats.bootstrap import build
    from services.lifecycle.domain.journey import (
        ExitCorrection,
        ExternalRef,
        ProviderStart,
        Transfer,
    )
    from services.lifecycle.store import StoreConfig
    from services.platform.refusal import Refusal

    rnd = random.Random(20261201)
    with tempfile.TemporaryDirectory() as tmp:
        c = build(StoreConfig(sqlite_file=Path(tmp) / "insats.db"))
        app = c.lifecycle
        payments = c.services["payments"]

        def set_day(day: date) -> None:
            day_holder["day"] = day
            os.environ["INSATS_TODAY"] = day.isoformat()

        def ctx() -> Any:
            return app.context("publisher:record", "ecos", f"rec-{day_holder['day']}")

        for pid in PROVIDERS:
            app.authorise_provider(
                ctx(),
                provider_id=pid,
                name=f"Anordnare {pid[-4:]} AB",
                insats_types=["grund", "forstarkt", "sai"],
                authorised_from=date(2020, 1, 1),
                bankgiro="5050-1055",
                iban=None,
            )
        # Actions by the day they are recorded; each may fail on a rule (then it is skipped).
        agenda: dict[date, list[Callable[[], None]]] = {}

        def later(day: date, action: Callable[[], None]) -> None:
            if day <= END:
                agenda.setdefault(day, []).append(action)

        journeys: list[str] = []

        def command(act: Callable[[Any], Any]) -> None:
            act(ctx())  # what a command returns (a voucher id) is not needed here

        def plan_journey(n: int, decided: date) -> None:
            insats = ("grund", "forstarkt", "sai")[n % 3]
            person = pnr(n)
            result = app.register_decision(
                ctx(),
                external_ref=ExternalRef("ecos", f"rec-{n}"),
                person_id=person,
                insats=insats,
                decided_on=decided,
                decided_by="kv-record",
                target_group="other",
            )
            jid = str(result.resource["journey_id"])
            journeys.append(jid)
            if rnd.random() < 0.05:  # withdrawn before the start
                later(
                    decided + timedelta(days=3),
                    lambda: command(
                        lambda x: app.withdraw_decision(
                            x, jid, withdrawn_on=decided, reason="avböjt"
                        )
                    ),
                )
                return
            starts = decided + timedelta(days=rnd.randint(0, 20))
            provider = rnd.choice(PROVIDERS)
            report = starts + timedelta(days=rnd.choice((0, 0, 0, 2, 40)))  # late facts too
            later(
                report,
                lambda: command(
                    lambda x: app.choose_provider(x, jid, provider_id=provider, starts_on=starts)
                ),
            )
            plan_on = starts + timedelta(days=rnd.randint(10, 80))
            later(
                plan_on,
                lambda: command(
                    lambda x: app.register_plan(
                        x,
                        jid,
                        Plan(
                            plan_on,
                            plan_on + timedelta(days=10) if insats == "sai" else None,
                            60 if insats == "sai" else None,
                        ),
                    )
                ),
            )
            if rnd.random() < 0.3:
                change_on = starts + timedelta(days=rnd.randint(20, 200))
                other = rnd.choice([p for p in PROVIDERS if p != provider])
                later(
                    change_on,
                    lambda: command(
                        lambda x: app.choose_provider(
                            x, jid, provider_id=other, starts_on=change_on
                        )
                    ),
                )
                if rnd.random() < 0.4:  # the change happened two days later than reported
                    later(
                        change_on + timedelta(days=rnd.choice((3, 40))),
                        lambda: command(
                            lambda x: app.correct_journey(
                                x,
                                jid,
                                field="provider_starts_on",
                                value=ProviderStart(change_on + timedelta(days=2), other),
                                reason="fel bytesdatum",
                            )
                        ),
                    )
            elif rnd.random() < 0.05:  # a transfer to another insats
                moved = starts + timedelta(days=rnd.randint(30, 150))
                later(
                    moved,
                    lambda: app.register_decision(
                        ctx(),
                        external_ref=ExternalRef("ecos", f"rec-{n}-transfer"),
                        person_id=person,
                        insats="forstarkt" if insats != "forstarkt" else "grund",
                        decided_on=moved,
                        decided_by="kv-record",
                        target_group="other",
                        transfer_from=Transfer(jid, moved),
                    ),
                )
            if rnd.random() < 0.25:
                granted = starts + timedelta(days=rnd.randint(15, 120))
                amount = rnd.choice(("5000.00", "7500.00", "15000.00"))
                later(
                    granted,
                    lambda: command(
                        lambda x: app.grant_voucher(
                            x, jid, amount=amount, purpose="Körkort B", granted_on=granted
                        )
                    ),
                )
            if rnd.random() < 0.65:
                exit_on = starts + timedelta(days=rnd.randint(5, 400))
                details = rnd.choice(
                    (
                        {"reason": "work", "employment_form": "permanent"},
                        {"reason": "work", "employment_form": "fixed_term", "contract_months": 3},
                        {"reason": "work", "employment_form": "fixed_term", "contract_months": 9},
                        {"reason": "work", "employment_form": "full_time_hourly"},
                        {"reason": "studies", "csn_eligible": True},
                        {"reason": "studies", "csn_eligible": False},
                        {"reason": "moved"},
                        {"reason": "illness"},
                        {"reason": "dropped_out"},
                        {"reason": "own_business"},
                    )
                )
                exit_report = exit_on + timedelta(days=rnd.choice((0, 0, 1, 35)))
                later(
                    exit_report,
                    lambda: command(lambda x: app.exit_journey(x, jid, Exit(exit_on, **details))),
                )
                due = date(
                    exit_on.year + (exit_on.month + 5) // 12,
                    (exit_on.month + 5) % 12 + 1,
                    min(exit_on.day, 28),
                )
                evidence = [Evidence("anställningsbevis", f"doc-{n}", due)]
                follow_on = due + timedelta(days=rnd.randint(0, 20))
                later(
                    follow_on,
                    lambda: command(
                        lambda x: app.record_follow_up(
                            x, jid, followed_up_on=follow_on, outcome="sustained", evidence=evidence
                        )
                    ),
                )
                review_on = follow_on + timedelta(days=rnd.randint(1, 25))
                decision = "approved" if rnd.random() < 0.8 else "returned"
                later(
                    review_on,
                    lambda: command(
                        lambda x: app.review_bonus_claim(
                            x,
                            jid,
                            reviewed_on=review_on,
                            decision=decision,
                            reason=None if decision == "approved" else "intyg saknas",
                        )
                    ),
                )
                if rnd.random() < 0.2:  # a correction of the exit after it was paid for
                    fix_on = exit_report + timedelta(days=rnd.randint(20, 70))
                    what = rnd.choice(("exited_on", "exit"))
                    value: Any = (
                        exit_on - timedelta(days=rnd.randint(1, 4))
                        if what == "exited_on"
                        else ExitCorrection("work", employment_form="permanent")
                    )
                    later(
                        fix_on,
                        lambda: command(
                            lambda x: app.correct_journey(
                                x, jid, field=what, value=value, reason="fel"
                            )
                        ),
                    )
            if rnd.random() < 0.1:  # the start corrected a month later
                later(
                    starts + timedelta(days=30),
                    lambda: command(
                        lambda x: app.correct_journey(
                            x,
                            jid,
                            field="starts_on",
                            value=starts + timedelta(days=1),
                            reason="fel startdatum",
                        )
                    ),
                )

        # A rate change for 2026, announced in December; a de-authorisation; an account change.
        def rates_2026() -> None:
            app.set_rates(
                ctx(),
                effective_from=date(2026, 1, 1),
                monthly={"grund": "3800.00", "forstarkt": "4858.00", "sai": "7293.00"},
                bonus={"grund": "18000.00", "forstarkt": "18000.00", "sai": "18000.00"},
                voucher_min="5000.00",
                voucher_max="15000.00",
                min_days_before_payment=14,
            )

        later(date(2025, 12, 10), rates_2026)
        later(
            date(2026, 2, 10),
            lambda: app.deauthorise_provider(
                ctx(), PROVIDERS[2], effective_on=date(2026, 3, 1), reason="avtalsbrott"
            ),
        )
        later(
            date(2026, 5, 20),
            lambda: app.change_provider_details(
                ctx(),
                PROVIDERS[1],
                effective_from=date(2026, 6, 1),
                reason="nytt bankgiro",
                changes={"name": "Språkbron i Nacka AB", "bankgiro": "5678-5678"},
            ),
        )

        runs: list[dict[str, Any]] = []
        n = 0
        day = START
        while day <= END:
            set_day(day)
            for _ in range(rnd.choice((0, 1, 1, 2))):
                if day <= date(2026, 8, 31):
                    plan_journey(n, day)
                    n += 1
            for action in agenda.pop(day, []):
                # The rules may refuse it (e.g. a provider change after the exit): as in life.
                with contextlib.suppress(Refusal):
                    action()
            if day.day == 3 and day > START:
                month = (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
                closed_at = datetime(day.year, day.month, day.day, 7, 30, tzinfo=UTC)
                payments.now = lambda at=closed_at: at
                run = payments.close(month)
                runs.append(
                    {
                        "month": month,
                        "today": day.isoformat(),
                        "closed_at": run.closed_at,
                        "position": run.position,
                        "total": f"{run.total:.2f}",
                        "lines": len(run.lines),
                        "files": dict(sorted(run.files.items())),
                    }
                )
            day += timedelta(days=1)

        with gzip.open(HERE / "events.jsonl.gz", "wt", encoding="utf-8") as out:
            for event in app.iter_public_events():
                out.write(json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        (HERE / "runs.json").write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
        print(f"{n} journeys, {app.max_position()} positions, {len(runs)} runs")
        c.close()


if __name__ == "__main__":
    main()
