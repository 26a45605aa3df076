"""StatisticsService: the figures of SPEC §6 read from the 'statistics' projection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contracts.events import INSATS_TYPES
from services.platform import clock
from services.platform.db import Database, Tx
from services.platform.feed import require_running, setup_tables
from services.platform.municipality import municipality_name
from services.statistics.export import render_csv
from services.statistics.figures import DAYS_QUANTUM, check_request, compute_figures
from services.statistics.projection import (
    StatisticsProjection,
    load_exits_by_year,
    load_facts,
    load_provider_names,
)
from services.statistics.report_data import ReportData, YearlyDays


class StatisticsService:
    """Figures, yearly averages and report data over the 'statistics' read model.

    `today` settles which plan due dates have passed for a period that is not over yet."""

    def __init__(
        self,
        db: Database,
        *,
        today: Callable[[], date] = clock.today,
        municipality: str | None = None,
    ):
        self.db = db
        self.today = today
        self.municipality = municipality_name() if municipality is None else municipality
        self.projection = StatisticsProjection()
        with db.transaction() as tx:  # usable before the feed first ran (e.g. from the CLI)
            setup_tables(tx)
            self.projection.setup(tx)

    def figures(
        self,
        period_from: date,
        period_to: date,
        group_by: str = "insats",
        *,
        as_of: date | None = None,
    ) -> dict[str, Any]:
        """`{from, to, group_by, groups: {<group>: figures, ..., "total": figures}}`."""
        check_request(period_from, period_to, group_by)
        f_, t_ = period_from.isoformat(), period_to.isoformat()
        with self.db.transaction() as tx:
            require_running(tx, self.projection.name)
            facts = load_facts(tx, f_, t_, providers=group_by == "provider")
        return compute_figures(facts, period_from, period_to, group_by, as_of=as_of or self.today())

    def yearly_days(self) -> list[YearlyDays]:
        """Figure 7 for every calendar year from the earliest to the latest year with exits."""
        with self.db.transaction() as tx:
            require_running(tx, self.projection.name)
            return self._yearly_days(tx)

    def provider_names(self) -> dict[str, str]:
        with self.db.transaction() as tx:
            require_running(tx, self.projection.name)
            return load_provider_names(tx, self.today())

    def report_data(
        self, period_from: date, period_to: date, *, as_of: date | None = None
    ) -> ReportData:
        check_request(period_from, period_to)
        f_, t_ = period_from.isoformat(), period_to.isoformat()
        with self.db.transaction() as tx:  # one snapshot for every table and figure
            require_running(tx, self.projection.name)
            facts = load_facts(tx, f_, t_, providers=True)
            names = load_provider_names(tx, self.today())
            yearly = self._yearly_days(tx)
        settled = as_of or self.today()

        def grouped(group_by: str) -> dict[str, Any]:
            return compute_figures(facts, period_from, period_to, group_by, as_of=settled)

        return ReportData(
            period_from=period_from,
            period_to=period_to,
            by_insats=grouped("insats"),
            by_provider=grouped("provider"),
            by_target_group=grouped("target_group"),
            yearly=yearly,
            provider_names=names,
            municipality=self.municipality,
            produced_on=settled,
        )

    def report_html(self, period_from: date, period_to: date, *, as_of: date | None = None) -> str:
        from services.statistics.report import render_html  # matplotlib only when reporting

        return render_html(self.report_data(period_from, period_to, as_of=as_of))

    def csv(
        self,
        period_from: date,
        period_to: date,
        group_by: str = "insats",
        *,
        as_of: date | None = None,
    ) -> bytes:
        data = self.figures(period_from, period_to, group_by, as_of=as_of)
        return render_csv(data, self.provider_names() if group_by == "provider" else {})

    @staticmethod
    def _yearly_days(tx: Tx) -> list[YearlyDays]:
        by_year = load_exits_by_year(tx)
        if not by_year:
            return []
        sums = {(insats, year): (n, days) for insats, year, n, days in by_year}
        years = [int(year) for _, year, _, _ in by_year]
        result: list[YearlyDays] = []
        for year in range(min(years), max(years) + 1):  # years without exits too: no gaps
            averages: dict[str, float | None] = {}
            counts: dict[str, int] = {}
            for insats in INSATS_TYPES:
                n, days = sums.get((insats, f"{year:04d}"), (0, 0))
                counts[insats] = n
                averages[insats] = (
                    float((Decimal(days) / Decimal(n)).quantize(DAYS_QUANTUM, ROUND_HALF_UP))
                    if n
                    else None
                )
            result.append(YearlyDays(year=year, avg_days=averages, self_sufficient=counts))
        return result
