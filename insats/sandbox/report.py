"""The sandbox's comparison as files: JSON (the API's answer), CSV for the clerk (UTF-8 with BOM,
`;`, decimal comma, Swedish headers, as the payout files) and a Swedish HTML page with charts.

Every file is rendered from the comparison's JSON shape (`insats.sandbox.compare`) alone, so
the three always agree, and none holds a personnummer or a name of a customer: journeys are
named by their journey id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any, Final

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from services.payments.files import INSATS_LABELS, LINE_LABELS, sv_money
from services.statistics.report import chart_context, to_svg

BOM: Final = "\ufeff"
CSV_HEADER: Final = ("Dimension", "Nyckel", "Namn", "Utbetalt", "Baslinje", "Scenario", "Skillnad")
JOURNEY_HEADER: Final = (
    "Insats-id",
    "Insats",
    "Anordnare",
    "Baslinje",
    "Scenario",
    "Skillnad",
    "Utfall",
)
DIMENSIONS: Final = {
    "months": "Utbetalningsmånad",
    "by_provider": "Anordnare",
    "by_insats": "Insats",
    "by_line_type": "Radtyp",
    "by_period": "Avser period",
}
OUTCOME_NAMES: Final = {
    "monthly_lost": "Löpande ersättning uteblir",
    "monthly_gained": "Löpande ersättning tillkommer",
    "bonus_lost": "Resultatbonus uteblir",
    "bonus_gained": "Resultatbonus tillkommer",
    "voucher_lost": "Tilläggscheck uteblir",
    "voucher_gained": "Tilläggscheck tillkommer",
}
BASIS_NAMES: Final = {
    "closed_run": "stängd körning",
    "known_at": "känt vid brytpunkten",
    "folded": "ingick i senare körning",
}
STATISTICS_NAMES: Final = {
    "journeys": "Inskrivna",
    "exits_total": "Avslut",
    "self_sufficient": "Egen försörjning",
    "rate_of_journeys": "Andel av inskrivna",
    "rate_of_exits": "Andel av avslut",
    "bonus_qualifying": "Avslut som ger resultatbonus",
}
GROUP_NAMES: Final = {**INSATS_LABELS, "total": "Totalt"}
AMOUNTS: Final = ("paid", "baseline", "scenario", "difference")
_BASELINE_COLOUR, _SCENARIO_COLOUR = "#1f5f8b", "#c8553d"


# --- JSON ------------------------------------------------------------------------------------


def render_json(comparison: Mapping[str, Any]) -> bytes:
    return (json.dumps(comparison, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- CSV -------------------------------------------------------------------------------------


def _csv(text: str) -> str:
    if any(c in text for c in ';"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _comma(amount: str | None) -> str:
    return "" if amount is None else amount.replace(".", ",")


def _label(dimension: str, key: str) -> str:
    if dimension == "by_insats":
        return INSATS_LABELS.get(key, key)
    if dimension == "by_line_type":
        return LINE_LABELS.get(key, key)
    return ""


def render_csv(comparison: Mapping[str, Any]) -> bytes:
    """One row per month, provider, insats, line type and period, then the total."""
    rows = [";".join(CSV_HEADER)]
    for m in comparison["months"]:
        rows.append(
            ";".join(
                [
                    DIMENSIONS["months"],
                    m["month"],
                    BASIS_NAMES[m["basis"]],
                    _comma(m["paid"]),
                    _comma(m["baseline"]),
                    _comma(m["scenario"]),
                    _comma(m["difference"]),
                ]
            )
        )
    for dimension in ("by_provider", "by_insats", "by_line_type", "by_period"):
        for r in comparison[dimension]:
            name = r.get("name") or _label(dimension, r["key"])
            rows.append(
                ";".join(
                    [
                        DIMENSIONS[dimension],
                        _csv(r["key"]),
                        _csv(name),
                        "",
                        _comma(r["baseline"]),
                        _comma(r["scenario"]),
                        _comma(r["difference"]),
                    ]
                )
            )
    t = comparison["totals"]
    rows.append(
        ";".join(
            [
                "Totalt",
                "",
                "",
                _comma(t["paid"]),
                _comma(t["baseline"]),
                _comma(t["scenario"]),
                _comma(t["difference"]),
            ]
        )
    )
    return (BOM + "\r\n".join(rows) + "\r\n").encode("utf-8")


def render_journeys_csv(comparison: Mapping[str, Any]) -> bytes:
    """Every journey paid differently under the scenario, with what changes for it."""
    rows = [";".join(JOURNEY_HEADER)]
    for r in comparison["journeys"]["rows"]:
        rows.append(
            ";".join(
                [
                    _csv(r["journey_id"]),
                    _csv(INSATS_LABELS.get(r["insats"], r["insats"])),
                    _csv(", ".join(r["providers"])),
                    _comma(r["baseline"]),
                    _comma(r["scenario"]),
                    _comma(r["difference"]),
                    _csv(", ".join(OUTCOME_NAMES.get(o, o) for o in r["outcome"])),
                ]
            )
        )
    return (BOM + "\r\n".join(rows) + "\r\n").encode("utf-8")


# --- charts ----------------------------------------------------------------------------------


def _kronor() -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: f"{round(value):,}".replace(",", "\u00a0"))


def chart_months(comparison: Mapping[str, Any]) -> str:
    """Baseline and scenario per payout month, side by side."""
    months = [m for m in comparison["months"] if m["basis"] != "folded"]
    with chart_context():
        fig = Figure(figsize=(7.5, 3.2))
        ax = fig.add_subplot()
        xs = range(len(months))
        width = 0.4
        ax.bar(
            [x - width / 2 for x in xs],
            [float(m["baseline"]) for m in months],
            width,
            label="Baslinje",
            color=_BASELINE_COLOUR,
        )
        ax.bar(
            [x + width / 2 for x in xs],
            [float(m["scenario"]) for m in months],
            width,
            label="Scenario",
            color=_SCENARIO_COLOUR,
        )
        ax.set_xticks(list(xs), [m["month"] for m in months], rotation=45, ha="right")
        ax.yaxis.set_major_formatter(_kronor())
        ax.set_ylabel("kronor")
        ax.set_title("Utbetalt per månad: baslinje och scenario")
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return to_svg(fig)


def chart_differences(rows: Sequence[Mapping[str, Any]], title: str, labels: Sequence[str]) -> str:
    """The scenario's difference per key (horizontal bars: long provider names fit)."""
    with chart_context():
        fig = Figure(figsize=(7.5, max(1.6, 0.35 * len(rows) + 1.0)))
        ax = fig.add_subplot()
        values = [float(r["difference"]) for r in rows]
        colours = [_SCENARIO_COLOUR if v >= 0 else _BASELINE_COLOUR for v in values]
        ax.barh(list(labels), values, color=colours)
        ax.invert_yaxis()
        ax.axvline(0, color="#333", linewidth=0.8)
        ax.xaxis.set_major_formatter(_kronor())
        ax.set_xlabel("kronor (scenario − baslinje)")
        ax.set_title(title)
        fig.tight_layout()
        return to_svg(fig)


# --- HTML ------------------------------------------------------------------------------------

CSS: Final = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #111;
       max-width: 76em; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 9pt; }
th, td { border: 1px solid #bbb; padding: 2px 6px; }
th { background: #eee; text-align: left; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
.ok { color: #1b5e20; } .warn { color: #8a1c1c; font-weight: bold; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"""


def _money(text: str | None) -> str:
    return "–" if text is None else sv_money(Decimal(text))


def _cells(values: Iterable[str], numeric: bool = True) -> str:
    klass = ' class="n"' if numeric else ""
    return "".join(f"<td{klass}>{v}</td>" for v in values)


def _figure(svg: str, caption: str, ident: str) -> str:
    labelled = svg.replace("<svg ", f'<svg role="img" aria-labelledby="{ident}" ', 1)
    return f'<figure>{labelled}<figcaption id="{ident}">{escape(caption)}</figcaption></figure>'


def _dimension_table(
    comparison: Mapping[str, Any], dimension: str, heading: str, names: Mapping[str, str]
) -> str:
    rows = comparison[dimension]
    body = "".join(
        f"<tr><td>{escape(names.get(r['key']) or r.get('name') or r['key'])}"
        f"{'' if not r.get('name') else ' (' + escape(r['key']) + ')'}</td>"
        f"{_cells([_money(r['baseline']), _money(r['scenario']), _money(r['difference'])])}</tr>"
        for r in rows
    )
    return (
        f"<table><caption>{escape(heading)}</caption><thead><tr><th scope='col'>"
        f"{escape(DIMENSIONS[dimension])}</th><th scope='col'>Baslinje</th>"
        "<th scope='col'>Scenario</th><th scope='col'>Skillnad</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}".replace(".", ",") + "\u00a0%"


def _statistics_table(statistics: Mapping[str, Any]) -> str:
    base, scen = statistics["baseline"], statistics["scenario"]
    head = "".join(
        f"<th scope='col'>{escape(STATISTICS_NAMES[k])}<br>baslinje / scenario</th>"
        for k in STATISTICS_NAMES
    )
    body = []
    for group in base:
        cells = []
        for k in STATISTICS_NAMES:
            b, s = base[group][k], scen[group][k]
            text = f"{_percent(b)} / {_percent(s)}" if k.startswith("rate_") else f"{b} / {s}"
            changed = " warn" if b != s else ""
            cells.append(f'<td class="n{changed}">{text}</td>')
        klass = ' class="total"' if group == "total" else ""
        body.append(
            f"<tr{klass}><td>{escape(GROUP_NAMES.get(group, group))}</td>{''.join(cells)}</tr>"
        )
    return (
        f"<table><caption>Egen försörjning {statistics['from']}–{statistics['to']}</caption>"
        f"<thead><tr><th scope='col'>Insats</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


PARAMETER_NAMES: Final = {
    "monthly": "Löpande ersättning per månad",
    "bonus": "Resultatbonus",
    "min_days_before_payment": "Dagar innan ersättning betalas",
    "voucher_min": "Tilläggscheck lägst",
    "voucher_max": "Tilläggscheck högst",
    "bonus_fixed_term_min_months": "Visstidsanställning ger bonus från (månader)",
    "bonus_full_time_hourly_counts": "Heltid, timanställning ger bonus",
    "bonus_subsidised_work_counts": "Subventionerat arbete ger bonus",
    "bonus_csn_studies_count": "CSN-berättigade studier ger bonus",
    "self_sufficiency_subsidised_work_counts": "Subventionerat arbete räknas som egen försörjning",
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, str) and "." in value:
        return f"{sv_money(Decimal(value))} kr"
    return str(value)


def _changes(scenario: Mapping[str, Any]) -> str:
    items = []
    for change in scenario["changes"]:
        parts = []
        for key, value in change.items():
            if key in ("effective_from", "reason"):
                continue
            if key in ("monthly", "bonus"):
                per = ", ".join(f"{INSATS_LABELS.get(k, k)} {_value(v)}" for k, v in value.items())
                parts.append(f"{PARAMETER_NAMES[key]}: {per}")
            elif key == "rules":
                parts.extend(f"{PARAMETER_NAMES.get(k, k)}: {_value(v)}" for k, v in value.items())
            else:
                parts.append(f"{PARAMETER_NAMES.get(key, key)}: {_value(value)}")
        reason = f" — {escape(change['reason'])}" if change.get("reason") else ""
        items.append(
            f"<li>Från {escape(change['effective_from'])}: {escape('; '.join(parts))}{reason}</li>"
        )
    return "<ul>" + "".join(items) + "</ul>"


def comparison_body(comparison: Mapping[str, Any], *, charts: bool = True) -> str:
    """The comparison as HTML (without the page around it: the web page embeds it too)."""
    t = comparison["totals"]
    scenario = comparison["scenario"]
    match = t["baseline_matches_paid"]
    if match is None:
        verdict = "Ingen av månaderna har en stängd körning att jämföra baslinjen med."
    elif match:
        verdict = (
            '<span class="ok">Baslinjen återger exakt det som betalades ut i de stängda '
            "körningarna, rad för rad.</span>"
        )
    else:
        verdict = (
            '<span class="warn">Baslinjen återger inte det som betalades ut: kör '
            "<code>insats audit verify</code>.</span>"
        )
    months = "".join(
        f"<tr><td>{m['month']}</td><td>{BASIS_NAMES[m['basis']]}</td>"
        f"{_cells(_money(m[k]) for k in AMOUNTS)}"
        "</tr>"
        for m in comparison["months"]
    )
    months += (
        f"<tr class='total'><td>Totalt</td><td></td>{_cells(_money(t[k]) for k in AMOUNTS)}</tr>"
    )
    journeys = comparison["journeys"]
    shown = [r for r in journeys["rows"] if r["outcome"]][:200]
    journey_rows = "".join(
        f"<tr><td><code>{escape(r['journey_id'])}</code></td>"
        f"<td>{escape(INSATS_LABELS.get(r['insats'], r['insats']))}</td>"
        f"<td>{escape(', '.join(r['providers']))}</td>"
        f"{_cells([_money(r['baseline']), _money(r['scenario']), _money(r['difference'])])}"
        f"<td>{escape(', '.join(OUTCOME_NAMES.get(o, o) for o in r['outcome']))}</td></tr>"
        for r in shown
    )
    known = (
        comparison["known_at"] or "nu (varje stängd körning med det som var känt när den stängdes)"
    )
    parts = [
        f"<p>Scenario <strong>{escape(scenario['name'])}</strong>, månaderna "
        f"{comparison['from']}–{comparison['to']}, känt per {escape(known)}.</p>",
        f"<p>{escape(scenario.get('description') or '')}</p>"
        if scenario.get("description")
        else "",
        "<h2>Ändringar i scenariot</h2>",
        _changes(scenario),
        "<h2>Totalt</h2>",
        f"<p>Baslinje {_money(t['baseline'])} kr, scenario {_money(t['scenario'])} kr, "
        f"skillnad <strong>{_money(t['difference'])} kr</strong>. {verdict}</p>",
        "<h2>Per utbetalningsmånad</h2>",
        _figure(chart_months(comparison), "Figur 1. Utbetalt per månad", "sandbox-fig1")
        if charts
        else "",
        "<table><caption>Per utbetalningsmånad</caption><thead><tr><th scope='col'>Månad</th>"
        "<th scope='col'>Underlag</th><th scope='col'>Utbetalt</th><th scope='col'>Baslinje</th>"
        "<th scope='col'>Scenario</th><th scope='col'>Skillnad</th></tr></thead>"
        f"<tbody>{months}</tbody></table>",
        "<h2>Per anordnare</h2>",
        _figure(
            chart_differences(
                comparison["by_provider"],
                "Skillnad per anordnare",
                [r.get("name") or r["key"] for r in comparison["by_provider"]],
            ),
            "Figur 2. Skillnad per anordnare",
            "sandbox-fig2",
        )
        if charts and comparison["by_provider"]
        else "",
        _dimension_table(comparison, "by_provider", "Per anordnare", {}),
        "<h2>Per insats och radtyp</h2>",
        _dimension_table(comparison, "by_insats", "Per insats", INSATS_LABELS),
        _dimension_table(comparison, "by_line_type", "Per radtyp", LINE_LABELS),
        "<h2>Insatser vars utfall ändras</h2>",
        f"<p>{journeys['changed']} insatser betalas olika under scenariot; "
        f"för {journeys['outcome_changed']} ändras utfallet (en radtyp uteblir eller tillkommer)"
        + (f"; de första {len(shown)} visas" if len(shown) < journeys["outcome_changed"] else "")
        + ". Alla finns i CSV-filen över insatser.</p>",
        "<table><caption>Insatser vars utfall ändras</caption><thead><tr>"
        "<th scope='col'>Insats-id</th><th scope='col'>Insats</th><th scope='col'>Anordnare</th>"
        "<th scope='col'>Baslinje</th><th scope='col'>Scenario</th><th scope='col'>Skillnad</th>"
        f"<th scope='col'>Utfall</th></tr></thead><tbody>{journey_rows}</tbody></table>"
        if shown
        else "",
        "<h2>Statistik: egen försörjning</h2>",
        "<p>Regler som ändrar vilka avslut som räknas ändrar också statistiken. Båda visas: "
        "enligt SPEC:s regler (baslinje) och enligt scenariot.</p>",
        _statistics_table(comparison["statistics"]),
    ]
    return "\n".join(p for p in parts if p)


def render_html(comparison: Mapping[str, Any], municipality: str = "") -> bytes:
    title = f"Policysandlåda: {comparison['scenario']['name']}"
    issuer = f"<p>{escape(municipality)}</p>" if municipality else ""
    return (
        '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header>{issuer}<h1>{escape(title)}</h1></header>"
        f"<main>{comparison_body(comparison)}</main></body></html>\n"
    ).encode()


def write_all(comparison: Mapping[str, Any], folder: Path, municipality: str = "") -> list[Path]:
    """sandbox.json, sandbox.csv, sandbox-insatser.csv and sandbox.html in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "sandbox.json": render_json(comparison),
        "sandbox.csv": render_csv(comparison),
        "sandbox-insatser.csv": render_journeys_csv(comparison),
        "sandbox.html": render_html(comparison, municipality),
    }
    written = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
