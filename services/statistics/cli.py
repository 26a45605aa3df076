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
from services.statistics.figures import GROUP_BYS
from services.statistics.labels import (
    EXIT_REASON_NAMES,
    GROUP_BY_NAMES,
    decimal_comma,
    group_label,
)
from services.statistics.service import StatisticsService

_COLUMNS: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
    ("Inskrivna", lambda f: str(f["journeys"])),
    ("Kunder", lambda f: str(f["customers"])),
    ("Påbörjade", lambda f: str(f["starts"])),
    ("Avslut", lambda f: str(f["exits_total"])),
    ("Egen förs.", lambda f: str(f["self_sufficient"])),
    ("Andel av inskrivna", lambda f: _percent(f["rate_of_journeys"])),
    ("Andel av avslut", lambda f: _percent(f["rate_of_exits"])),
    ("Medeldagar", lambda f: decimal_comma(f["avg_days"], 1) or "–"),
    ("Mediandagar", lambda f: decimal_comma(f["median_days"], 1) or "–"),
    ("Uppf. kvarstår", lambda f: str(f["follow_ups"]["sustained"])),
    ("Uppf. avvikelse", lambda f: str(f["follow_ups"]["deviation"])),
    ("Planer i tid", lambda f: _percent(f["plans_on_time_share"])),
]


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{decimal_comma(value * 100, 1)} %"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first left-aligned, numbers right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def format_figures(data: Mapping[str, Any], provider_names: Mapping[str, str]) -> str:
    """The figures as two plain-text tables (Swedish): key figures and exits per reason."""
    group_by = data["group_by"]
    labels = {key: group_label(group_by, key, provider_names) for key in data["groups"]}
    figures = _table(
        [GROUP_BY_NAMES[group_by], *(title for title, _ in _COLUMNS)],
        [[labels[k], *(cell(f) for _, cell in _COLUMNS)] for k, f in data["groups"].items()],
    )
    exits = _table(
        [GROUP_BY_NAMES[group_by], *(EXIT_REASON_NAMES[r] for r in EXIT_REASONS), "totalt"],
        [
            [labels[k], *(str(f["exits"][r]) for r in EXIT_REASONS), str(f["exits_total"])]
            for k, f in data["groups"].items()
        ],
    )
    return (
        f"Statistik {data['from']} – {data['to']}, per {GROUP_BY_NAMES[group_by].lower()}\n\n"
        f"{figures}\n\nAvslut per orsak\n\n{exits}\n"
    )


def _parse_date(value: str, option: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"ange ett datum ÅÅÅÅ-MM-DD, inte {value!r}", param_hint=option
        ) from None


def stats_command(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="Periodens första dag, ÅÅÅÅ-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Periodens sista dag (ingår), ÅÅÅÅ-MM-DD.")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="insats (standard), provider eller target_group.")
    ] = "insats",
    html: Annotated[
        Path | None, typer.Option("--html", help="Skriv HTML-rapporten med diagram hit.")
    ] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Skriv siffrorna som CSV hit.")] = None,
) -> None:
    """Statistik för en period (SPEC §6): tabell, och vid behov HTML-rapport och CSV."""
    service: StatisticsService = ctx.obj.statistics
    period_from, period_to = _parse_date(from_, "--from"), _parse_date(to, "--to")
    if group_by not in GROUP_BYS:
        raise typer.BadParameter(f"välj en av {', '.join(GROUP_BYS)}", param_hint="--group-by")
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
        typer.echo(f"HTML-rapport skriven till {html}")
    if csv is not None:
        csv.write_bytes(service.csv(period_from, period_to, group_by))
        typer.echo(f"CSV skriven till {csv}")


def register(app: typer.Typer) -> None:
    """Add `stats` to the root CLI."""
    app.command("stats", help="Statistik för en period: tabell, HTML-rapport och CSV.")(
        stats_command
    )
