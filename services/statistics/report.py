"""The printable HTML report (Swedish), with charts as inline SVG (the CSV export, which needs
no charts, is `services.statistics.export`).

The charts are the municipality's figures 1 (customers per insats), 5 (exit reasons per insats)
and 7 (average days to self-sufficiency per insats and year), drawn with matplotlib's Agg
backend. SVG output is deterministic (fixed `svg.hashsalt`, no date or creator metadata), so the
same facts give the same report bytes.
"""

from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")  # headless: never a GUI backend on a server

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import RcKeyType

from contracts.events import EXIT_REASONS, INSATS_TYPES
from services.statistics.figures import TOTAL
from services.statistics.labels import (
    EXIT_REASON_NAMES,
    FIGURE_NAMES,
    GROUP_BY_NAMES,
    INSATS_NAMES,
    decimal_comma,
    group_label,
)
from services.statistics.report_data import ReportData, YearlyDays

_INSATS_COLOURS: Final[dict[str, str]] = {
    "grund": "#1f5f8b",
    "forstarkt": "#c8553d",
    "sai": "#2a9d8f",
}
_SVG_RC: Final[dict[RcKeyType, Any]] = {
    "svg.hashsalt": "insats-statistik",  # stable ids (clip paths, glyphs) between runs
    "svg.fonttype": "none",  # text stays text: small, searchable, printable
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# rcParams are process-global: one chart at a time.
_RENDER_LOCK = threading.Lock()


# --- numbers -----------------------------------------------------------------------------------


def _int(value: int) -> str:
    return f"{value:,}".replace(",", "\u00a0")  # non-breaking space groups thousands


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{decimal_comma(value * 100, 1)}\u00a0%"


def _days(value: float | None) -> str:
    return "–" if value is None else decimal_comma(value, 1)


# --- charts -----------------------------------------------------------------------------------


@contextmanager
def chart_context() -> Iterator[None]:
    with _RENDER_LOCK, matplotlib.rc_context(_SVG_RC):
        yield


def _thousands() -> FuncFormatter:
    """Axis numbers grouped the Swedish way (a formatter belongs to one axis: one each)."""
    return FuncFormatter(lambda value, _pos: _int(round(value)))


def _counts(axis: Any) -> None:
    """A count axis: whole-number ticks only (small counts would otherwise give 0,5 steps
    printed as 0 0 1 1 2 2), grouped thousands, and from 0 up even when every count is 0."""
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axis.set_major_formatter(_thousands())


def _legend(fig: Figure, ax: Any) -> None:
    """One legend entry per insats in its own colour (drawn from the colours, not from the
    bars: an insats without bars would otherwise get the next default colour), below the
    plot so it never covers a bar."""
    handles = [Patch(facecolor=_INSATS_COLOURS[i], label=INSATS_NAMES[i]) for i in INSATS_TYPES]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=len(handles),
        frameon=False,
        fontsize=8,
    )


def to_svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :].strip()  # inline: no XML declaration or DOCTYPE


def chart_customers(by_insats: Mapping[str, Any]) -> str:
    """Figure 1: customers per insats."""
    with chart_context():
        fig = Figure(figsize=(6.5, 3.2))
        ax = fig.add_subplot()
        names = [INSATS_NAMES[i] for i in INSATS_TYPES]
        values = [by_insats["groups"][i]["customers"] for i in INSATS_TYPES]
        bars = ax.bar(names, values, color=[_INSATS_COLOURS[i] for i in INSATS_TYPES])
        ax.bar_label(bars, labels=[_int(v) for v in values], padding=2)
        ax.set_title("Figur 1. Kunder per insats")
        ax.set_ylabel("Antal kunder")
        _counts(ax.yaxis)
        ax.set_ylim(0, max(max(values, default=0), 1) * 1.15)
        fig.tight_layout()
        return to_svg(fig)


def chart_exit_reasons(by_insats: Mapping[str, Any]) -> str:
    """Figure 5: exits per reason and insats (grouped horizontal bars)."""
    with chart_context():
        fig = Figure(figsize=(6.5, 5.2))
        ax = fig.add_subplot()
        height = 0.8 / len(INSATS_TYPES)
        positions = list(range(len(EXIT_REASONS)))
        for n, insats in enumerate(INSATS_TYPES):
            exits = by_insats["groups"][insats]["exits"]
            values = [exits[r] for r in EXIT_REASONS]
            ax.barh(
                [p - 0.4 + height * (n + 0.5) for p in positions],
                values,
                height=height,
                color=_INSATS_COLOURS[insats],
                label=INSATS_NAMES[insats],
            )
        ax.set_yticks(positions, [EXIT_REASON_NAMES[r] for r in EXIT_REASONS])
        ax.invert_yaxis()
        ax.set_title("Figur 5. Avslutsorsaker per insats")
        ax.set_xlabel("Antal avslut")
        most = max(
            (by_insats["groups"][i]["exits"][r] for i in INSATS_TYPES for r in EXIT_REASONS),
            default=0,
        )
        _counts(ax.xaxis)
        ax.set_xlim(0, max(most, 1) * 1.05)
        _legend(fig, ax)
        fig.tight_layout()
        return to_svg(fig)


def chart_days_per_year(yearly: list[YearlyDays]) -> str:
    """Figure 7: average days in insats before self-sufficiency, per insats and year.

    Exactly the years given, from 0 up; a year or insats without self-sufficient exits has no
    bar (and says so when no year has any)."""
    with chart_context():
        fig = Figure(figsize=(max(6.5, 0.9 * len(yearly) + 2), 3.8))
        ax = fig.add_subplot()
        width = 0.8 / len(INSATS_TYPES)
        positions = list(range(len(yearly)))
        highest = 0.0
        for n, insats in enumerate(INSATS_TYPES):
            xs = [p - 0.4 + width * (n + 0.5) for p in positions]
            values = [y.avg_days[insats] for y in yearly]
            shown = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
            if not shown:
                continue
            highest = max(highest, *(v for _, v in shown))
            bars = ax.bar(
                [x for x, _ in shown],
                [v for _, v in shown],
                width=width,
                color=_INSATS_COLOURS[insats],
            )
            ax.bar_label(
                bars, labels=[decimal_comma(v, 1) for _, v in shown], padding=1, fontsize=7
            )
        ax.set_xticks(positions, [str(y.year) for y in yearly])
        ax.set_xlim(-0.5, len(yearly) - 0.5)
        ax.set_ylim(0, (highest or 1) * 1.15)
        if not highest:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.text(
                0.5,
                0.5,
                "Inga avslut till egen försörjning",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#444444",
            )
        ax.set_title("Figur 7. Genomsnittligt antal dagar till egen försörjning per insats och år")
        ax.set_ylabel("Dagar")
        _legend(fig, ax)
        fig.tight_layout()
        return to_svg(fig)


# --- HTML -------------------------------------------------------------------------------------

_CSS: Final = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #111;
       max-width: 76em; margin: 1.5em auto; padding: 0 1em; }
header p { margin: 0.1em 0; }
.issuer { font-size: 11pt; font-weight: bold; }
h1 { font-size: 16pt; margin: 0.3em 0 0.2em; }
h2 { font-size: 12pt; margin-top: 1.6em; border-bottom: 1px solid #999; }
.wide { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 2px 5px; }
th { background: #eee; text-align: left; vertical-align: bottom; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
figure { margin: 1em 0; page-break-inside: avoid; break-inside: avoid; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 9pt; color: #333; }
dl dt { font-weight: bold; margin-top: 0.4em; }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; max-width: none; padding: 0; font-size: 9pt; }
               h2 { page-break-after: avoid; break-after: avoid; }
               .wide { overflow: visible; }
               table { font-size: 6.5pt; width: 100%; }
               th, td { padding: 1px 2px; }
               table, figure { page-break-inside: avoid; } }
"""

_COMPARISON_COLUMNS: Final[list[tuple[str, Callable[[Mapping[str, Any]], str]]]] = [
    (FIGURE_NAMES["journeys"], lambda f: _int(f["journeys"])),
    (FIGURE_NAMES["customers"], lambda f: _int(f["customers"])),
    (FIGURE_NAMES["starts"], lambda f: _int(f["starts"])),
    (FIGURE_NAMES["exits_total"], lambda f: _int(f["exits_total"])),
    (FIGURE_NAMES["self_sufficient"], lambda f: _int(f["self_sufficient"])),
    ("Andel av inskrivna", lambda f: _percent(f["rate_of_journeys"])),
    ("Andel av avslut", lambda f: _percent(f["rate_of_exits"])),
    ("Medeldagar", lambda f: _days(f["avg_days"])),
    ("Mediandagar", lambda f: _days(f["median_days"])),
    ("Uppföljning kvarstår", lambda f: _int(f["follow_ups"]["sustained"])),
    ("Uppföljning avvikelse", lambda f: _int(f["follow_ups"]["deviation"])),
    (FIGURE_NAMES["plans_on_time_share"], lambda f: _percent(f["plans_on_time_share"])),
]

_DEFINITIONS: Final[list[tuple[str, str]]] = [
    (
        "Inskrivna i insats",
        "Insatser som påbörjats (första anordnarens startdatum) senast periodens sista dag och "
        "inte avslutats före periodens första dag. Återkallade beslut och beslut där insatsen "
        "aldrig påbörjats räknas inte. Rättade uppgifter gäller.",
    ),
    (
        "Kunder",
        "Unika personer bland de inskrivna. En person med två insatser räknas två gånger bland "
        "inskrivna men en gång bland kunder (i totalen och inom samma grupp).",
    ),
    ("Påbörjade", "Insatser med startdatum inom perioden."),
    ("Avslut", "Insatser med avslutsdatum inom perioden, per avslutsorsak."),
    (
        "Egen försörjning",
        "Avslut inom perioden till arbete, studier eller eget företag. Andelen av inskrivna och "
        "av avslut anges med fyra decimaler i JSON och CSV (0–1).",
    ),
    (
        "Dagar till egen försörjning",
        "Avslutsdatum minus startdatum för avslut till egen försörjning inom perioden. "
        "Medelvärdet avrundas till en decimal (avrundning uppåt vid 5); medianen är exakt.",
    ),
    (
        "Uppföljning",
        "Jobbpeng förstärkt: insatser med uppföljning registrerad inom perioden, räknade en gång "
        "var efter den senaste uppföljningens utfall inom perioden.",
    ),
    (
        "Planer i tid",
        "Bland inskrivna: insatser vars genomförandeplan upprättats inom perioden eller vars plan "
        "skulle upprättas (startdatum + 60 dagar) inom perioden, om plan finns eller sista dagen "
        "har passerat medan insatsen pågick. I tid = planen upprättad senast dag 60.",
    ),
    (
        "Anordnare",
        "Insatsen räknas till den anordnare som hade den vid periodens slut, eller vid avslutet "
        "om det var tidigare. Saknades anordnare då (efter återkallad auktorisation) redovisas "
        "den som utan anordnare.",
    ),
]


def _comparison_table(data: Mapping[str, Any], provider_names: Mapping[str, str]) -> str:
    group_by = data["group_by"]
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in _COMPARISON_COLUMNS)
    rows = []
    for key, fig in data["groups"].items():
        label = html.escape(group_label(group_by, key, provider_names))
        cells = "".join(f'<td class="n">{cell(fig)}</td>' for _, cell in _COMPARISON_COLUMNS)
        css = ' class="total"' if key == TOTAL else ""
        rows.append(f"<tr{css}><td>{label}</td>{cells}</tr>")
    first = html.escape(GROUP_BY_NAMES[group_by])
    return (
        f'<div class="wide"><table><thead><tr><th>{first}</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _exit_table(by_insats: Mapping[str, Any]) -> str:
    keys = [*INSATS_TYPES, TOTAL]
    head = "".join(f"<th>{html.escape(group_label('insats', k, {}))}</th>" for k in keys)
    rows = []
    for reason in EXIT_REASONS:
        cells = "".join(
            f'<td class="n">{_int(by_insats["groups"][k]["exits"][reason])}</td>' for k in keys
        )
        rows.append(f"<tr><td>{html.escape(EXIT_REASON_NAMES[reason])}</td>{cells}</tr>")
    totals = "".join(
        f'<td class="n">{_int(by_insats["groups"][k]["exits_total"])}</td>' for k in keys
    )
    rows.append(f'<tr class="total"><td>Avslut totalt</td>{totals}</tr>')
    return (
        f'<div class="wide"><table><thead><tr><th>Avslutsorsak</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _yearly_table(yearly: list[YearlyDays]) -> str:
    head = "".join(f"<th>{html.escape(INSATS_NAMES[i])}</th>" for i in INSATS_TYPES)
    rows = []
    for y in yearly:
        cells = "".join(
            f'<td class="n">{_days(y.avg_days[i])} ({_int(y.self_sufficient[i])})</td>'
            for i in INSATS_TYPES
        )
        rows.append(f"<tr><td>{y.year}</td>{cells}</tr>")
    return (
        f"<table><thead><tr><th>År</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "<p>Medelantal dagar (antal avslut till egen försörjning inom parentes).</p>"
    )


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def render_html(data: ReportData) -> str:
    """The yearly report: summary per insats, figures 1, 5 and 7, per-provider comparison,
    target groups and the definitions used."""
    f_, t_ = data.period_from.isoformat(), data.period_to.isoformat()
    names = data.provider_names
    if data.yearly:
        years = f"{data.yearly[0].year}–{data.yearly[-1].year}"
        yearly_section = _figure(
            chart_days_per_year(data.yearly),
            f"Figur 7. Genomsnittligt antal dagar i insats före avslut till egen försörjning, "
            f"per insats och kalenderår {years}.",
        ) + _yearly_table(data.yearly)
    else:
        yearly_section = "<p>Inga avslut registrerade ännu.</p>"
    definitions = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in _DEFINITIONS
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        f"<title>Statistik kundval insatser {f_} – {t_}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f'<p class="issuer">{html.escape(data.municipality or "Kommunen")}</p>',
        "<h1>Statistik – kundval arbetsmarknadsinsatser</h1>",
        f"<p>Period: {f_} – {t_}</p>",
        (
            f"<p>Framställd {data.produced_on.isoformat()} ur insatsernas händelselogg.</p>"
            if data.produced_on
            else ""
        ),
        "</header>",
        "<h2>Sammanfattning per insats</h2>",
        _comparison_table(data.by_insats, names),
        "<h2>Kunder per insats</h2>",
        _figure(
            chart_customers(data.by_insats), "Figur 1. Antal kunder per insats under perioden."
        ),
        "<h2>Avslutsorsaker per insats</h2>",
        _figure(
            chart_exit_reasons(data.by_insats),
            "Figur 5. Antal avslut per avslutsorsak och insats under perioden.",
        ),
        _exit_table(data.by_insats),
        "<h2>Dagar till egen försörjning per år</h2>",
        yearly_section,
        "<h2>Jämförelse per anordnare</h2>",
        _comparison_table(data.by_provider, names),
        "<h2>Per målgrupp</h2>",
        _comparison_table(data.by_target_group, names),
        "<h2>Definitioner</h2>",
        f"<dl>{definitions}</dl>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
