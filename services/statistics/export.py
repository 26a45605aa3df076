"""The CSV export of the figures (Swedish headers, `;`, decimal comma). Kept apart from the HTML
report so that an export never loads matplotlib."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any, Final

from contracts.events import EXIT_REASONS
from services.statistics.labels import (
    EXIT_REASON_NAMES,
    FIGURE_NAMES,
    GROUP_BY_NAMES,
    decimal_comma,
    group_label,
)

CSV_HEADERS: Final[list[str]] = [
    "Från",
    "Till",
    "Gruppering",
    "Grupp",
    "Kod",
    FIGURE_NAMES["journeys"],
    FIGURE_NAMES["customers"],
    FIGURE_NAMES["starts"],
    *[f"Avslut: {EXIT_REASON_NAMES[r]}" for r in EXIT_REASONS],
    FIGURE_NAMES["exits_total"],
    FIGURE_NAMES["self_sufficient"],
    FIGURE_NAMES["rate_of_journeys"],
    FIGURE_NAMES["rate_of_exits"],
    FIGURE_NAMES["avg_days"],
    FIGURE_NAMES["median_days"],
    FIGURE_NAMES["sustained"],
    FIGURE_NAMES["deviation"],
    FIGURE_NAMES["plans_counted"],
    FIGURE_NAMES["plans_on_time"],
    FIGURE_NAMES["plans_on_time_share"],
]


def render_csv(data: Mapping[str, Any], provider_names: Mapping[str, str]) -> bytes:
    """One row per group, then "Totalt": UTF-8 with BOM, `;`, decimal comma, Swedish headers.
    Shares are fractions 0–1 with 4 decimals; an empty cell means not defined (no denominator)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    group_by = data["group_by"]
    for key, fig in data["groups"].items():
        writer.writerow(
            [
                data["from"],
                data["to"],
                GROUP_BY_NAMES[group_by],
                group_label(group_by, key, provider_names),
                key,
                fig["journeys"],
                fig["customers"],
                fig["starts"],
                *[fig["exits"][r] for r in EXIT_REASONS],
                fig["exits_total"],
                fig["self_sufficient"],
                decimal_comma(fig["rate_of_journeys"], 4),
                decimal_comma(fig["rate_of_exits"], 4),
                decimal_comma(fig["avg_days"], 1),
                decimal_comma(fig["median_days"], 1),
                fig["follow_ups"]["sustained"],
                fig["follow_ups"]["deviation"],
                fig["plans"]["counted"],
                fig["plans"]["on_time"],
                decimal_comma(fig["plans_on_time_share"], 4),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
