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

AS_OF_OPTION = typer.Option(None, "--as-of", help="Datum YYYY-MM-DD (standard: i dag).")
KIND_OPTION = typer.Option(None, "--kind", help=f"Larmtyp: {', '.join(KINDS)}.")
LEVEL_OPTION = typer.Option(None, "--level", help="Nivå för tid i insats: green, yellow, red.")
PROVIDER_OPTION = typer.Option(None, "--provider", help="Anordnarens organisationsnummer.")
COUNSELLOR_OPTION = typer.Option(None, "--counsellor", help="Handläggaren som beslutet anger.")
LIMIT_OPTION = typer.Option(None, "--limit", min=1, help="Visa högst så många larm.")
CSV_OPTION = typer.Option(
    None, "--csv", help="Skriv larmen som CSV (UTF-8, semikolon) till filen; - för stdout."
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
    raise typer.BadParameter(f"{value!r} är inget datum (YYYY-MM-DD)", param_hint="--as-of")


def _console() -> Console:
    # Wide enough for journey ids when the output is not a terminal (files, pipes, tests).
    return Console(width=None if sys.stdout.isatty() else 160)


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
    """Lista larmen på ett datum som en tabell, med en summering per larmtyp."""
    service = _service(ctx)
    provider_id = None
    if provider is not None:
        try:
            provider_id = normalise_org_number(provider, "--provider")
        except Refusal as refused:
            raise typer.BadParameter(refused.message, param_hint="--provider") from None
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(
            f"okänd larmtyp {kind!r}; välj {', '.join(KINDS)}", param_hint="--kind"
        )
    if level is not None and level not in LEVELS:
        raise typer.BadParameter(
            f"okänd nivå {level!r}; välj {', '.join(LEVELS)}", param_hint="--level"
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
            typer.echo(f"{len(alerts)} larm skrivna till {csv_file}", err=True)
        return
    console = _console()
    console.print(alerts_table(day, alerts))
    if len(alerts) < len(found):
        console.print(f"Visar {len(alerts)} av {len(found)} larm (--limit).")
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


def alerts_table(day: date, alerts: list[JourneyAlert]) -> Table:
    table = Table(title=f"Larm per {day.isoformat()}", title_justify="left")
    table.add_column("Beslut", no_wrap=True)
    table.add_column("Larm")
    table.add_column("Nivå", no_wrap=True)
    table.add_column("Sedan", no_wrap=True)
    table.add_column("Förfaller", no_wrap=True)
    table.add_column("Anordnare")
    for a in alerts:
        reference = (
            f"{a.external_system} {a.external_decision_id}"
            if a.external_decision_id
            else a.journey_id
        )
        table.add_row(
            reference,
            Text(KIND_LABELS.get(a.kind, a.kind), style=KIND_STYLES.get(a.kind, "")),
            _level_text(a.level),
            a.since.isoformat(),
            a.due_on.isoformat() if a.due_on else "",
            a.provider_name or a.provider_id or "–",
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
