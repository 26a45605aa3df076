"""CLI: `insats payouts preview|close|export YYYY-MM [--out DIR]` and `insats payouts runs`.

The service comes from `ctx.obj.payments` (the root CLI sets `ctx.obj`). Every command prints a
summary per provider and the grand total; errors print a clear message and exit non-zero. The
tables speak English to operators and fit the terminal (80 columns and up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from services.payments.files import file_names, sha256, sv_money
from services.payments.model import Run
from services.payments.rules import LINE_TYPES, ZERO
from services.payments.service import PaymentsService
from services.platform.refusal import Refusal

app = typer.Typer(
    help="Payouts: preview, close and export a month's payout run (SPEC §4).",
    no_args_is_help=True,
)

MONTH_ARGUMENT = typer.Argument(..., metavar="YYYY-MM", help="Payout month, e.g. 2026-02.")
OUT_OPTION = typer.Option(Path("."), "--out", help="Directory to write the files to.")

# The CLI speaks English to operators; the files it writes stay Swedish (files.LINE_LABELS).
LINE_TYPE_NAMES: dict[str, str] = {
    "monthly": "Monthly",
    "bonus": "Bonus",
    "voucher": "Voucher",
}
# Below this width the per-provider table drops the per-line-type columns, which then get a
# table of their own, so that the provider's name always shows (an 80-column terminal).
WIDE_TABLE_MIN_WIDTH = 120


def _service(ctx: typer.Context) -> PaymentsService:
    obj: Any = ctx.obj
    service = obj.get("payments") if isinstance(obj, dict) else getattr(obj, "payments", None)
    if not isinstance(service, PaymentsService):
        _fail("the payments service is not configured (ctx.obj.payments is missing)", code=2)
    return service


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _console() -> Console:
    # rich reads COLUMNS; without a terminal and without COLUMNS it assumes 80.
    return Console()


def _title(run: Run) -> str:
    status = "closed" if run.status == "closed" else "preview"
    return f"Payout run {run.month} ({status}, event position {run.position})"


def _per_provider(run: Run) -> dict[str, dict[str, Any]]:
    """Per provider: the number of lines and the sum of each line type present."""
    per_provider: dict[str, dict[str, Any]] = {}
    for line in run.lines:
        entry = per_provider.setdefault(line.provider_id, {"lines": 0})
        entry["lines"] += 1
        entry[line.type] = entry.get(line.type, ZERO) + line.amount
    return per_provider


def summary_table(run: Run, width: int = WIDE_TABLE_MIN_WIDTH) -> Table:
    """Per provider: org. no, name, lines, (sums per line type when wide) and the total."""
    wide = width >= WIDE_TABLE_MIN_WIDTH
    table = Table(title=_title(run), title_justify="left")
    table.add_column("Org. no", no_wrap=True)
    table.add_column("Provider", min_width=12)
    table.add_column("Lines", justify="right")
    if wide:
        for kind in LINE_TYPES:
            table.add_column(LINE_TYPE_NAMES[kind], justify="right", no_wrap=True)
    table.add_column("Total (SEK)", justify="right", no_wrap=True)
    per_provider = _per_provider(run)
    for provider_id, total in run.totals.items():
        entry = per_provider[provider_id]
        by_kind = [sv_money(entry[kind]) if kind in entry else "" for kind in LINE_TYPES]
        table.add_row(
            provider_id,
            run.provider(provider_id).name or "–",
            str(entry["lines"]),
            *(by_kind if wide else []),
            sv_money(total),
        )
    kind_totals = _kind_totals(run)
    table.add_row(
        "Total",
        "",
        str(len(run.lines)),
        *([sv_money(kind_totals[kind][1]) for kind in LINE_TYPES] if wide else []),
        sv_money(run.total),
        style="bold",
    )
    return table


def _kind_totals(run: Run) -> dict[str, tuple[int, Any]]:
    totals: dict[str, tuple[int, Any]] = {kind: (0, ZERO) for kind in LINE_TYPES}
    for line in run.lines:
        count, amount = totals[line.type]
        totals[line.type] = (count + 1, amount + line.amount)
    return totals


def line_type_table(run: Run) -> Table:
    """The run's lines by line type: the breakdown the narrow provider table leaves out."""
    table = Table(title=f"By line type, {run.month}", title_justify="left")
    table.add_column("Line type", no_wrap=True)
    table.add_column("Lines", justify="right")
    table.add_column("Total (SEK)", justify="right", no_wrap=True)
    for kind, (count, amount) in _kind_totals(run).items():
        table.add_row(LINE_TYPE_NAMES[kind], str(count), sv_money(amount))
    table.add_row("Total", str(len(run.lines)), sv_money(run.total), style="bold")
    return table


def _show(run: Run) -> None:
    console = _console()
    console.print(summary_table(run, console.width))
    if console.width < WIDE_TABLE_MIN_WIDTH:
        console.print(line_type_table(run))
    if run.status == "closed":
        console.print(f"Closed {run.closed_at}; files: {', '.join(file_names(run))}")


@app.command("preview")
def preview(ctx: typer.Context, month: str = MONTH_ARGUMENT) -> None:
    """Show what closing the month would pay now (nothing is stored)."""
    service = _service(ctx)
    try:
        run = service.preview(month)
    except Refusal as refused:
        _fail(refused.message)
    _show(run)


@app.command("close")
def close(ctx: typer.Context, month: str = MONTH_ARGUMENT) -> None:
    """Close the month: the run is stored and final (closing again shows the stored run)."""
    service = _service(ctx)
    try:
        run = service.close(month)
    except Refusal as refused:
        _fail(refused.message)
    _show(run)


@app.command("export")
def export(ctx: typer.Context, month: str = MONTH_ARGUMENT, out: Path = OUT_OPTION) -> None:
    """Write a closed run's files (CSV, JSON, SIE, ersättningsunderlag) to a directory."""
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
        _fail(f"could not write to {out}: {failed}")
    _show(run)
    table = Table(title=f"Files in {out}", title_justify="left")
    table.add_column("File", no_wrap=True)
    table.add_column("Bytes", justify="right")
    for name, data in files.items():
        table.add_row(name, str(len(data)))
    console = _console()
    console.print(table)
    # A digest is 64 characters, wider than any table column at 80: print the lines that
    # `sha256sum -c` reads, so a clerk can check the files where they end up.
    console.print("SHA-256 (sha256sum -c):")
    for name, data in files.items():
        typer.echo(f"{sha256(data)}  {name}")


@app.command("runs")
def runs(ctx: typer.Context) -> None:
    """List the closed payout runs."""
    service = _service(ctx)
    table = Table(title="Closed payout runs", title_justify="left")
    table.add_column("Month", no_wrap=True)
    table.add_column("Closed", no_wrap=True)
    table.add_column("Position", justify="right")
    table.add_column("Lines", justify="right")
    table.add_column("Total (SEK)", justify="right", no_wrap=True)
    for run in service.list_runs():
        table.add_row(
            run.month,
            run.closed_at or "",
            str(run.position),
            str(len(run.lines)),
            sv_money(run.total),
        )
    _console().print(table)
