"""CLI: `insats payouts preview|close|export YYYY-MM [--out DIR]` and `insats payouts runs`.

The service comes from `ctx.obj.payments` (the root CLI sets `ctx.obj`). Every command prints a
summary per provider and the grand total; errors print a clear message and exit non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from services.payments.files import LINE_LABELS, file_names, sha256, sv_money
from services.payments.model import Run
from services.payments.rules import LINE_TYPES, ZERO
from services.payments.service import PaymentsService
from services.platform.refusal import Refusal

app = typer.Typer(
    help="Utbetalningar: förhandsgranska, stäng och exportera månadens körning (SPEC §4).",
    no_args_is_help=True,
)

MONTH_ARGUMENT = typer.Argument(..., metavar="YYYY-MM", help="Utbetalningsmånad, t.ex. 2026-02.")
OUT_OPTION = typer.Option(Path("."), "--out", help="Katalog att skriva filerna i.")


def _service(ctx: typer.Context) -> PaymentsService:
    obj: Any = ctx.obj
    service = obj.get("payments") if isinstance(obj, dict) else getattr(obj, "payments", None)
    if not isinstance(service, PaymentsService):
        _fail("betalningstjänsten är inte konfigurerad (ctx.obj.payments saknas)", code=2)
    return service


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"Fel: {message}", err=True)
    raise typer.Exit(code)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140)


def summary_table(run: Run) -> Table:
    """Per provider: name, lines, sums per line type and the total; then the grand total."""
    status = "stängd" if run.status == "closed" else "förhandsgranskning"
    title = f"Utbetalning {run.month} ({status}, händelseposition {run.position})"
    table = Table(title=title, title_justify="left")
    table.add_column("Org.nr", no_wrap=True)
    table.add_column("Anordnare")
    table.add_column("Rader", justify="right")
    for kind in LINE_TYPES:
        table.add_column(LINE_LABELS[kind], justify="right", no_wrap=True)
    table.add_column("Summa (kr)", justify="right", no_wrap=True)
    per_type: dict[str, dict[str, Any]] = {}
    for line in run.lines:
        entry = per_type.setdefault(line.provider_id, {"lines": 0})
        entry["lines"] += 1
        entry[line.type] = entry.get(line.type, ZERO) + line.amount
    kind_totals = {kind: ZERO for kind in LINE_TYPES}
    for provider_id, total in run.totals.items():
        entry = per_type[provider_id]
        for kind in LINE_TYPES:
            kind_totals[kind] += entry.get(kind, ZERO)
        table.add_row(
            provider_id,
            run.provider(provider_id).name or "–",
            str(entry["lines"]),
            *(sv_money(entry[kind]) if kind in entry else "" for kind in LINE_TYPES),
            sv_money(total),
        )
    table.add_row(
        "Totalt",
        "",
        str(len(run.lines)),
        *(sv_money(kind_totals[kind]) for kind in LINE_TYPES),
        sv_money(run.total),
        style="bold",
    )
    return table


def _show(run: Run) -> None:
    console = _console()
    console.print(summary_table(run))
    if run.status == "closed":
        console.print(f"Stängd {run.closed_at}; filer: {', '.join(file_names(run))}")


@app.command("preview")
def preview(ctx: typer.Context, month: str = MONTH_ARGUMENT) -> None:
    """Visa vad en stängning av månaden skulle betala just nu (sparas inte)."""
    service = _service(ctx)
    try:
        run = service.preview(month)
    except Refusal as refused:
        _fail(refused.message)
    _show(run)


@app.command("close")
def close(ctx: typer.Context, month: str = MONTH_ARGUMENT) -> None:
    """Stäng månaden: körningen sparas och är slutlig (att stänga igen visar den sparade)."""
    service = _service(ctx)
    try:
        run = service.close(month)
    except Refusal as refused:
        _fail(refused.message)
    _show(run)


@app.command("export")
def export(ctx: typer.Context, month: str = MONTH_ARGUMENT, out: Path = OUT_OPTION) -> None:
    """Skriv en stängd körnings filer (CSV, JSON, SIE, ersättningsunderlag) till en katalog."""
    service = _service(ctx)
    try:
        run = service.get(month)
        files = {name: service.file(month, name) for name in file_names(run)}
    except Refusal as refused:
        _fail(refused.message)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
    except OSError as failed:
        _fail(f"kunde inte skriva till {out}: {failed}")
    _show(run)
    table = Table(title=f"Filer i {out}", title_justify="left")
    table.add_column("Fil", no_wrap=True)
    table.add_column("Byte", justify="right")
    table.add_column("SHA-256", no_wrap=True)
    for name, data in files.items():
        table.add_row(name, str(len(data)), sha256(data))
    _console().print(table)


@app.command("runs")
def runs(ctx: typer.Context) -> None:
    """Lista stängda körningar."""
    service = _service(ctx)
    table = Table(title="Stängda utbetalningskörningar", title_justify="left")
    table.add_column("Månad", no_wrap=True)
    table.add_column("Stängd", no_wrap=True)
    table.add_column("Position", justify="right")
    table.add_column("Rader", justify="right")
    table.add_column("Summa (kr)", justify="right", no_wrap=True)
    for run in service.list_runs():
        table.add_row(
            run.month,
            run.closed_at or "",
            str(run.position),
            str(len(run.lines)),
            sv_money(run.total),
        )
    _console().print(table)
