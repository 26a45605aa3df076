"""`insats stats --from D --to D [--group-by G] [--html FILE] [--csv FILE]`.

Wire it into the root CLI with `register(root_app)` (or `root_app.command("stats")(stats_command)`);
the root callback must set `ctx.obj` to an object with a `statistics` attribute (a
`StatisticsService`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from contracts.events import EXIT_REASONS
from services.platform.refusal import Refusal
from services.statistics.figures import GROUP_BYS, NO_PROVIDER, TOTAL
from services.statistics.labels import decimal_comma, group_label
from services.statistics.service import StatisticsService

# The CLI speaks English to operators (words; numbers keep the Swedish notation of the files
# they are checked against). The CSV and the HTML report stay Swedish (labels.py).
_COLUMNS: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
    ("Journeys", lambda f: str(f["journeys"])),
    ("Customers", lambda f: str(f["customers"])),
    ("Started", lambda f: str(f["starts"])),
    ("Exits", lambda f: str(f["exits_total"])),
    ("Self-suff.", lambda f: str(f["self_sufficient"])),
    ("Of journeys", lambda f: _percent(f["rate_of_journeys"])),
    ("Of exits", lambda f: _percent(f["rate_of_exits"])),
    ("Mean days", lambda f: decimal_comma(f["avg_days"], 1) or "–"),
    ("Median days", lambda f: decimal_comma(f["median_days"], 1) or "–"),
    ("FU sustained", lambda f: str(f["follow_ups"]["sustained"])),
    ("FU deviation", lambda f: str(f["follow_ups"]["deviation"])),
    ("Plans on time", lambda f: _percent(f["plans_on_time_share"])),
]
_GROUP_BY_TITLES: dict[str, str] = {
    "insats": "Insats",
    "provider": "Provider",
    "target_group": "Target group",
}
# A terminal's width: every table is split into parts that fit it, each part repeating the
# group column, so no line is wider than 80 characters.
WIDTH = 80
_GAP = "  "
_NAME_WIDTH = 30


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{decimal_comma(value * 100, 1)} %"


def _group_label(group_by: str, key: str, provider_names: Mapping[str, str]) -> str:
    """A group's name for the CLI: insatser by their names, target groups by their codes (as
    the API takes them), providers as "Name (org. no.)"."""
    if key == TOTAL:
        return "Total"
    if group_by == "provider" and key == NO_PROVIDER:
        return "No provider"
    if group_by == "target_group":
        return key
    if group_by == "provider" and len(name := provider_names.get(key, "")) > _NAME_WIDTH:
        # shortened so that the group column leaves room for figures at 80 columns
        return f"{name[: _NAME_WIDTH - 1]}… ({key})"
    return group_label(group_by, key, provider_names)


def _widths(header: list[str], rows: list[list[str]]) -> list[int]:
    """Each column's widest cell."""
    return [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first left-aligned, numbers right-aligned."""
    widths = _widths(header, rows)

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return _GAP.join([first, *rest]).rstrip()

    rule = _GAP.join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _tables(header: list[str], rows: list[list[str]], width: int = WIDTH) -> str:
    """`_table` split by columns into parts no wider than `width` (the first column in each)."""
    widths = _widths(header, rows)
    parts: list[list[int]] = []
    current: list[int] = []
    used = widths[0]
    for i in range(1, len(header)):
        extra = len(_GAP) + widths[i]
        if current and used + extra > width:
            parts.append(current)
            current, used = [], widths[0]
        current.append(i)
        used += extra
    parts.append(current)
    return "\n\n".join(
        _table(
            [header[0], *(header[i] for i in part)], [[r[0], *(r[i] for i in part)] for r in rows]
        )
        for part in parts
    )


def format_figures(data: Mapping[str, Any], provider_names: Mapping[str, str]) -> str:
    """The figures as plain-text tables: key figures and exits per reason."""
    group_by = data["group_by"]
    labels = {key: _group_label(group_by, key, provider_names) for key in data["groups"]}
    title = _GROUP_BY_TITLES[group_by]
    figures = _tables(
        [title, *(name for name, _ in _COLUMNS)],
        [[labels[k], *(cell(f) for _, cell in _COLUMNS)] for k, f in data["groups"].items()],
    )
    exits = _tables(
        [title, *EXIT_REASONS, "all"],
        [
            [labels[k], *(str(f["exits"][r]) for r in EXIT_REASONS), str(f["exits_total"])]
            for k, f in data["groups"].items()
        ],
    )
    return (
        f"Statistics {data['from']} – {data['to']}, by {title.lower()}\n\n"
        f"{figures}\n\nExits by reason\n\n{exits}\n"
    )


def _parse_date(value: str, option: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected a date YYYY-MM-DD, not {value!r}", param_hint=option
        ) from None


def stats_command(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="First day of the period, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last day of the period (included), YYYY-MM-DD.")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="insats (default), provider or target_group.")
    ] = "insats",
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write the HTML report with charts (Swedish) to FILE."),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the figures as CSV (Swedish headers) to FILE."),
    ] = None,
) -> None:
    """Statistics for a period (SPEC §6): tables, and optionally the HTML report and a CSV."""
    service: StatisticsService = ctx.obj.statistics
    period_from, period_to = _parse_date(from_, "--from"), _parse_date(to, "--to")
    if group_by not in GROUP_BYS:
        raise typer.BadParameter(f"choose one of {', '.join(GROUP_BYS)}", param_hint="--group-by")
    try:
        data = service.figures(period_from, period_to, group_by)
    except Refusal as error:
        raise typer.BadParameter(
            str(error), param_hint=f"--{(error.field or 'from').replace('_', '-')}"
        ) from None
    names = service.provider_names() if group_by == "provider" else {}
    typer.echo(format_figures(data, names))
    if html is not None:
        html.write_text(service.report_html(period_from, period_to), encoding="utf-8")
        typer.echo(f"HTML report written to {html}")
    if csv is not None:
        csv.write_bytes(service.csv(period_from, period_to, group_by))
        typer.echo(f"CSV written to {csv}")


def register(app: typer.Typer) -> None:
    """Add `stats` to the root CLI."""
    app.command("stats", help="Statistics for a period: tables, HTML report and CSV.")(
        stats_command
    )
