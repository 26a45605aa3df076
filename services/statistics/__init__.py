"""Statistics (SPEC §6): figures per insats, provider and target group, as JSON, CSV and an HTML
report with charts, from the 'statistics' read model.

- `StatisticsProjection`: the read model (`services.platform.feed.Projection`, name 'statistics').
- `StatisticsService(db)`: `figures(from, to, group_by)`, `report_html(from, to)`,
  `csv(from, to, group_by)`, `yearly_days()`.
- `compute_figures(...)`: the pure figure functions over compact per-journey facts.
- `services.statistics.api.router` and `services.statistics.cli.stats_command` / `register`.
"""

from services.statistics.facts import FigureRow, figure_row, fold
from services.statistics.figures import GROUP_BYS, compute_figures
from services.statistics.projection import StatisticsProjection
from services.statistics.service import StatisticsService

__all__ = [
    "GROUP_BYS",
    "FigureRow",
    "StatisticsProjection",
    "StatisticsService",
    "compute_figures",
    "figure_row",
    "fold",
]
