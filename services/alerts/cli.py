"""`insats alerts [--as-of D] [--kind K] [--level L]`: the alerts as a table (the root CLI's
command calls `show_alerts`; the service comes from `ctx.obj.alerts`). The daily scan runs as a
background task of `insats serve` and `insats worker`."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from services.alerts.rules import KIND_LABELS, KINDS, LEVEL_LABELS, LEVELS
from services.alerts.service import AlertsService
from services.alerts.store import JourneyAlert

LEVEL_STYLES = {"green": "bold green", "yellow": "bold yellow", "red": "bold red"}
KIND_STYLES = {
    "plan_due_soon": "yellow",
    "plan_overdue": "red",
    "internship_late": "red",
    "follow_up_due": "yellow",
    "follow_up_overdue": "red",
    "bonus_claim_pending": "yellow",
    "provider_deauthorised": "red",
}

AS_OF_OPTION = typer.Option(None, "--as-of", help="Datum YYYY-MM-DD (standard: i dag).")
KIND_OPTION = typer.Option(None, "--kind", help=f"Larmtyp: {', '.join(KINDS)}.")
LEVEL_OPTION = typer.Option(None, "--level", help="Nivå för tid i insats: green, yellow, red.")


def _service(ctx: typer.Context) -> AlertsService:
    obj: Any = ctx.obj
    service = obj.get("alerts") if isinstance(obj, dict) else getattr(obj, "alerts", None)
    if not isinstance(service, AlertsService):
        raise typer.BadParameter("the alerts service is not configured (ctx.obj.alerts)")
    return service


def _parse_date(value: str) -> date:
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise typer.BadParameter(f"{value!r} är inget datum (YYYY-MM-DD)", param_hint="--as-of")


def _console() -> Console:
    # Wide enough for journey ids when the output is not a terminal (files, pipes, tests).
    return Console(width=None if sys.stdout.isatty() else 160)


def show_alerts(
    ctx: typer.Context,
    as_of: str | None = AS_OF_OPTION,
    kind: str | None = KIND_OPTION,
    level: str | None = LEVEL_OPTION,
) -> None:
    """Lista larmen på ett datum som en tabell, med en summering per larmtyp."""
    service = _service(ctx)
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(
            f"okänd larmtyp {kind!r}; välj {', '.join(KINDS)}", param_hint="--kind"
        )
    if level is not None and level not in LEVELS:
        raise typer.BadParameter(
            f"okänd nivå {level!r}; välj {', '.join(LEVELS)}", param_hint="--level"
        )
    day = _parse_date(as_of) if as_of is not None else service.today()
    alerts = service.alerts(day, kind=kind, level=level)
    console = _console()
    console.print(alerts_table(day, alerts))
    console.print(summary_table(alerts))


def alerts_table(day: date, alerts: list[JourneyAlert]) -> Table:
    table = Table(title=f"Larm per {day.isoformat()}", title_justify="left")
    table.add_column("Resa", no_wrap=True)
    table.add_column("Larm")
    table.add_column("Nivå", no_wrap=True)
    table.add_column("Sedan", no_wrap=True)
    table.add_column("Anordnare", no_wrap=True)
    for a in alerts:
        table.add_row(
            a.journey_id,
            Text(KIND_LABELS.get(a.kind, a.kind), style=KIND_STYLES.get(a.kind, "")),
            _level_text(a.level),
            a.since.isoformat(),
            a.provider_id or "–",
        )
    return table


def _level_text(level: str | None) -> Text:
    if level is None:
        return Text("")
    return Text(f"● {LEVEL_LABELS.get(level, level)}", style=LEVEL_STYLES.get(level, ""))


def summary_table(alerts: list[JourneyAlert]) -> Table:
    counts = Counter(a.kind for a in alerts)
    levels = Counter(a.level for a in alerts if a.level is not None)
    table = Table(title="Summering per larmtyp", title_justify="left")
    table.add_column("Larmtyp")
    table.add_column("Kod")
    table.add_column("Antal", justify="right")
    for kind in KINDS:
        if not counts[kind]:
            continue
        table.add_row(KIND_LABELS[kind], kind, str(counts[kind]))
        if kind == "duration":
            for level in LEVELS:
                if levels[level]:
                    table.add_row(
                        Text(f"  ● {LEVEL_LABELS[level]}", style=LEVEL_STYLES[level]),
                        f"duration/{level}",
                        str(levels[level]),
                    )
    table.add_row(Text("Totalt", style="bold"), "", Text(str(len(alerts)), style="bold"))
    return table
