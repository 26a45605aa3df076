"""`insats alerts [--as-of D] [--kind K] [--level L]`: the alerts as a table (the root CLI's
command calls `show_alerts`; the service comes from `ctx.obj.alerts`). The daily scan runs as a
background task of `insats serve` and `insats worker`."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from services.alerts.rules import KIND_LABELS, KINDS, LEVEL_LABELS, LEVELS
from services.alerts.service import AlertsService
from services.alerts.store import JourneyAlert
from services.platform.identifiers import normalise_org_number
from services.platform.refusal import Refusal

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

AS_OF_OPTION = typer.Option(None, "--as-of", help="Date YYYY-MM-DD (default: today).")
KIND_OPTION = typer.Option(None, "--kind", help=f"Alert kind: {', '.join(KINDS)}.")
LEVEL_OPTION = typer.Option(
    None, "--level", help="Level of the duration alert: green, yellow, red."
)
PROVIDER_OPTION = typer.Option(
    None, "--provider", help="The provider's organisation number (any written form)."
)
COUNSELLOR_OPTION = typer.Option(None, "--counsellor", help="The counsellor named on the decision.")
LIMIT_OPTION = typer.Option(None, "--limit", min=1, help="Show at most this many alerts.")
CSV_OPTION = typer.Option(
    None,
    "--csv",
    help="Write the alerts as CSV (UTF-8, semicolons, Swedish headers) to FILE; - for stdout.",
)


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
    raise typer.BadParameter(f"expected a date YYYY-MM-DD, not {value!r}", param_hint="--as-of")


def _console() -> Console:
    # rich reads COLUMNS; without a terminal and without COLUMNS it assumes 80.
    return Console()


def show_alerts(
    ctx: typer.Context,
    as_of: str | None = AS_OF_OPTION,
    kind: str | None = KIND_OPTION,
    level: str | None = LEVEL_OPTION,
    provider: str | None = PROVIDER_OPTION,
    counsellor: str | None = COUNSELLOR_OPTION,
    limit: int | None = LIMIT_OPTION,
    csv_file: str | None = CSV_OPTION,
) -> None:
    """List the alerts on a date as a table, with a summary by kind."""
    service = _service(ctx)
    provider_id = None
    if provider is not None:
        try:
            provider_id = normalise_org_number(provider, "--provider")
        except Refusal as refused:
            raise typer.BadParameter(refused.message, param_hint="--provider") from None
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(
            f"unknown alert kind {kind!r}; choose one of {', '.join(KINDS)}", param_hint="--kind"
        )
    if level is not None and level not in LEVELS:
        raise typer.BadParameter(
            f"unknown level {level!r}; choose one of {', '.join(LEVELS)}", param_hint="--level"
        )
    day = _parse_date(as_of) if as_of is not None else service.today()
    found = service.alerts(
        day, kind=kind, level=level, provider_id=provider_id, counsellor=counsellor
    )
    alerts = found[:limit] if limit is not None else found
    if csv_file is not None:
        data = alerts_csv(alerts)
        if csv_file == "-":
            sys.stdout.buffer.write(data)
        else:
            Path(csv_file).write_bytes(data)
            typer.echo(f"{len(alerts)} alerts written to {csv_file}", err=True)
        return
    console = _console()
    console.print(alerts_table(day, alerts, console.width))
    if len(alerts) < len(found):
        console.print(f"Showing {len(alerts)} of {len(found)} alerts (--limit).")
    console.print(summary_table(found))


CSV_HEADERS = [
    "Insats-id",
    "Beslutssystem",
    "Beslutsreferens",
    "Insats",
    "Larm",
    "Larmkod",
    "Nivå",
    "Sedan",
    "Förfaller",
    "Anordnare org.nr",
    "Anordnare",
    "Handläggare",
]


def alerts_csv(alerts: list[JourneyAlert]) -> bytes:
    """The alerts for a spreadsheet: UTF-8 with BOM, `;`, Swedish headers (like the other
    files for municipal staff)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for a in alerts:
        writer.writerow(
            [
                a.journey_id,
                a.external_system or "",
                a.external_decision_id or "",
                a.insats or "",
                KIND_LABELS.get(a.kind, a.kind),
                a.kind,
                LEVEL_LABELS.get(a.level, a.level) if a.level else "",
                a.since.isoformat(),
                a.due_on.isoformat() if a.due_on else "",
                a.provider_id or "",
                a.provider_name or "",
                a.counsellor or "",
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# Below this width each alert takes two lines in three columns (decision over provider, kind
# over level, since over due), so that a journey id (36 characters) and the provider's name
# both show on an 80-column terminal.
WIDE_TABLE_MIN_WIDTH = 130


def alerts_table(day: date, alerts: list[JourneyAlert], width: int = WIDE_TABLE_MIN_WIDTH) -> Table:
    """One row per alert. The CLI speaks English: the kind is its code (what --kind takes);
    the Swedish labels are for the CSV and the pages."""
    wide = width >= WIDE_TABLE_MIN_WIDTH
    table = Table(title=f"Alerts on {day.isoformat()}", title_justify="left", show_lines=not wide)
    if wide:
        for name in ("Decision", "Alert", "Level", "Since", "Due"):
            table.add_column(name, no_wrap=True)
        table.add_column("Provider", min_width=10)
    else:
        table.add_column("Decision / provider", no_wrap=False, min_width=36)
        table.add_column("Alert / level", no_wrap=True)
        table.add_column("Since / due", no_wrap=True)
    for a in alerts:
        reference = (
            f"{a.external_system} {a.external_decision_id}"
            if a.external_decision_id
            else a.journey_id
        )
        provider = a.provider_name or a.provider_id or "–"
        kind = Text(a.kind, style=KIND_STYLES.get(a.kind, ""))
        since, due = a.since.isoformat(), a.due_on.isoformat() if a.due_on else ""
        if wide:
            table.add_row(reference, kind, _level_text(a.level), since, due, provider)
        else:
            table.add_row(
                f"{reference}\n{provider}",
                Text.assemble(kind, "\n", _level_text(a.level)),
                f"{since}\n{due}",
            )
    return table


def _level_text(level: str | None) -> Text:
    if level is None:
        return Text("")
    return Text(f"● {level}", style=LEVEL_STYLES.get(level, ""))


def summary_table(alerts: list[JourneyAlert]) -> Table:
    counts = Counter(a.kind for a in alerts)
    levels = Counter(a.level for a in alerts if a.level is not None)
    table = Table(title="Summary by kind", title_justify="left")
    table.add_column("Kind")
    table.add_column("Alerts", justify="right")
    for kind in KINDS:
        if not counts[kind]:
            continue
        table.add_row(Text(kind, style=KIND_STYLES.get(kind, "")), str(counts[kind]))
        if kind == "duration":
            for level in LEVELS:
                if levels[level]:
                    table.add_row(
                        Text(f"  duration/{level}", style=LEVEL_STYLES[level]),
                        str(levels[level]),
                    )
    table.add_row(Text("Total", style="bold"), Text(str(len(alerts)), style="bold"))
    return table
