"""A fixed closed run, as runs were stored before payout files had layout numbers (the same
data the previous release closed into `fixtures/payout-runs-layout1.db`)."""

from decimal import Decimal

from services.payments.model import Booking, ProviderInfo, Run, RunLine


def golden_run(**extra):
    lines = (
        RunLine(
            "2026-01",
            "5560360793",
            "0b7a4c9e-1f39-5b0e-9d6e-2f0c1a6b7e01",
            "sai",
            "monthly",
            "",
            12,
            Decimal("7293.00"),
            Decimal("2823.10"),
        ),
        RunLine(
            "2026-02",
            "5560360793",
            "0b7a4c9e-1f39-5b0e-9d6e-2f0c1a6b7e01",
            "sai",
            "monthly",
            "",
            28,
            Decimal("7293.00"),
            Decimal("7293.00"),
        ),
        RunLine(
            "2026-02",
            "5560360793",
            "1c8b5d0f-2a4a-5c1f-8e7f-3a1d2b7c8f02",
            "grund",
            "voucher",
            "v-1",
            None,
            None,
            Decimal("7500.00"),
        ),
        RunLine(
            "2026-02",
            "5565475489",
            "2d9c6e1a-3b5b-5d2a-9f8a-4b2e3c8d9a03",
            "forstarkt",
            "bonus",
            "",
            None,
            None,
            Decimal("18000.00"),
        ),
        RunLine(
            "2026-01",
            "5565475489",
            "2d9c6e1a-3b5b-5d2a-9f8a-4b2e3c8d9a03",
            "forstarkt",
            "monthly",
            "",
            31,
            Decimal("4823.00"),
            Decimal("-150.25"),
        ),
    )
    return Run(
        month="2026-02",
        status="closed",
        lines=lines,
        position=1234,
        providers={
            "5560360793": ProviderInfo("5560360793", "Jobbstart & Co AB", "5050-1055", None),
            "5565475489": ProviderInfo(
                "5565475489", "Språkbron AB", None, "SE4550000000058398257466"
            ),
        },
        booking=Booking(),
        closed_at="2026-03-01T09:15:00Z",
        **extra,
    )
