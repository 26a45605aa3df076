"""The report municipal staff read and print, and the CSV they open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from services.statistics.export import CSV_HEADERS
from services.statistics.service import StatisticsService
from tests.statistics.stats_given import P1, P2, Given

FROM, TO = date(2024, 1, 1), date(2024, 12, 31)


def report_log() -> Given:
    given = Given()
    given.authorise(P1, "Ett & Co AB")
    given.authorise(P2, "Två AB")
    given.journey("2021-01-01", "2021-05-01", "work", insats="grund")  # 120 days, in 2021
    given.journey("2021-02-01", "2021-06-01", "studies", insats="grund")  # 120 days, in 2021
    given.journey("2023-01-01", "2024-02-01", "work", insats="sai", provider_id=P2)  # 396
    given.journey("2024-01-01", "2024-04-10", "own_business", insats="forstarkt")  # 100
    given.journey("2024-03-01", "2024-05-01", "other_authority", insats="grund")
    given.journey("2024-06-01", insats="grund", provider_id=P2)
    return given


@pytest.fixture(scope="module")
def service() -> StatisticsService:
    return report_log().service()


@pytest.fixture(scope="module")
def html(service: StatisticsService) -> str:
    """Rendered once for the module: drawing charts is the slow part."""
    return service.report_html(FROM, TO)


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def test_the_report_holds_figures_1_5_and_7_as_inline_svg_with_swedish_titles(html: str) -> None:
    charts = svgs(html)

    assert html.startswith("<!DOCTYPE html>") and '<html lang="sv">' in html
    assert len(charts) == 3
    assert "Figur 1. Kunder per insats" in charts[0]
    assert "Figur 5. Avslutsorsaker per insats" in charts[1]
    assert "byte av myndighet" in charts[1] and "eget företag" in charts[1]
    assert (
        "Figur 7. Genomsnittligt antal dagar till egen försörjning per insats och år" in charts[2]
    )
    for name in ("Jobbpeng grund", "Jobbpeng förstärkt", "Språk- och arbetsintroduktion"):
        assert name in charts[0]
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_figure_7_has_every_calendar_year_from_the_first_to_the_last_exit(
    service: StatisticsService, html: str
) -> None:
    yearly = service.yearly_days()

    assert [y.year for y in yearly] == [2021, 2022, 2023, 2024]
    assert yearly[0].avg_days == {"grund": 120.0, "forstarkt": None, "sai": None}
    assert yearly[0].self_sufficient == {"grund": 2, "forstarkt": 0, "sai": 0}
    assert yearly[1].avg_days == {"grund": None, "forstarkt": None, "sai": None}
    assert yearly[3].avg_days == {"grund": None, "forstarkt": 100.0, "sai": 396.0}
    assert "<td>2022</td>" in html and "kalenderår 2021–2024" in html


def test_the_yearly_averages_agree_with_each_years_figures(service: StatisticsService) -> None:
    for year in service.yearly_days():
        figures = service.figures(date(year.year, 1, 1), date(year.year, 12, 31))["groups"]
        assert {k: figures[k]["avg_days"] for k in year.avg_days} == year.avg_days


def test_the_report_compares_providers_by_name_and_escapes_them(html: str) -> None:
    assert "Jämförelse per anordnare" in html
    assert "Ett &amp; Co AB (5560000001)" in html
    assert "Två AB (5560000002)" in html
    assert "Per målgrupp" in html and "Ekonomiskt bistånd" in html


def test_the_report_is_printable_and_the_same_every_time(
    service: StatisticsService, html: str
) -> None:
    again = service.report_html(FROM, TO)

    assert again == html
    assert "@media print" in html and "page-break-inside: avoid" in html


def test_an_empty_report_still_renders() -> None:
    html = Given().service().report_html(FROM, TO)

    assert len(svgs(html)) == 2  # figures 1 and 5; no exits yet for figure 7
    assert "Inga avslut registrerade ännu." in html


def test_csv_is_utf8_with_bom_semicolons_decimal_comma_and_swedish_headers(
    service: StatisticsService,
) -> None:
    data = service.csv(FROM, TO)

    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == CSV_HEADERS
    assert rows[0][:8] == [
        "Från",
        "Till",
        "Gruppering",
        "Grupp",
        "Kod",
        "Inskrivna i insats",
        "Kunder",
        "Påbörjade",
    ]
    by_group = {row[3]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(by_group) == [
        "Jobbpeng grund",
        "Jobbpeng förstärkt",
        "Språk- och arbetsintroduktion",
        "Totalt",
    ]
    grund = by_group["Jobbpeng grund"]
    assert grund["Inskrivna i insats"] == "2"
    assert grund["Avslut: byte av myndighet"] == "1"
    assert grund["Andel egen försörjning av inskrivna"] == "0,0000"
    assert grund["Andel egen försörjning av avslut"] == "0,0000"
    assert grund["Medelantal dagar till egen försörjning"] == ""  # none: empty cell
    total = by_group["Totalt"]
    assert total["Egen försörjning"] == "2"
    assert total["Andel egen försörjning av inskrivna"] == "0,5000"  # 2 of 4
    assert total["Medelantal dagar till egen försörjning"] == "248,0"  # (396 + 100) / 2


def test_csv_by_provider_names_the_providers(service: StatisticsService) -> None:
    text = service.csv(FROM, TO, "provider").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))

    assert [(row[2], row[3], row[4]) for row in rows[1:]] == [
        ("Anordnare", "Ett & Co AB (5560000001)", P1),
        ("Anordnare", "Två AB (5560000002)", P2),
        ("Anordnare", "Totalt", "total"),
    ]


def _tick_labels(chart: str, axis: str) -> list[str]:
    """The tick label texts of one axis in matplotlib's SVG (`<g id="xtick_1">`…)."""
    labels = []
    for chunk in re.split(rf'<g id="{axis}tick_\d+">', chart)[1:]:
        chunk = re.split(r'<g id="(?:[xy]tick_\d+|matplotlib\.axis_\d+)">', chunk)[0]
        texts = re.findall(r"<text[^>]*>([^<]*)</text>", chunk)
        labels.extend(t.strip() for t in texts[:1] if t.strip())
    return labels


def test_small_counts_get_whole_number_ticks_each_once() -> None:
    from services.statistics.report import chart_customers, chart_exit_reasons

    given = Given()
    given.journey("2024-01-01", insats="grund")
    given.journey("2024-02-01", "2024-05-01", "work", insats="grund")
    given.journey("2024-03-01", insats="sai")
    data = given.service().report_data(FROM, TO)

    for chart, axis in (
        (chart_customers(data.by_insats), "y"),
        (chart_exit_reasons(data.by_insats), "x"),
    ):
        ticks = _tick_labels(chart, axis)
        numbers = [t for t in ticks if t.isdigit()]
        assert numbers and len(numbers) == len(set(numbers)), ticks  # not 0 0 1 1 2 2
        assert all(int(n) >= 0 for n in numbers)


def test_figure_7_legend_has_each_insats_in_its_own_colour_even_without_bars() -> None:
    from services.statistics.report import _INSATS_COLOURS, chart_days_per_year
    from services.statistics.report_data import YearlyDays

    yearly = [
        YearlyDays(
            2024,
            {"grund": 120.0, "forstarkt": None, "sai": 200.0},
            {"grund": 1, "forstarkt": 0, "sai": 1},
        )
    ]
    chart = chart_days_per_year(yearly)
    legend = chart[chart.index('<g id="legend_1">') :]
    for insats, colour in _INSATS_COLOURS.items():
        assert f"fill: {colour}" in legend, insats
    assert "Jobbpeng förstärkt" in legend


def test_figure_7_without_self_sufficient_exits_has_no_negative_axis_and_only_its_years() -> None:
    from services.statistics.report import chart_days_per_year
    from services.statistics.report_data import YearlyDays

    none = {"grund": None, "forstarkt": None, "sai": None}
    chart = chart_days_per_year([YearlyDays(2024, none, {"grund": 0, "forstarkt": 0, "sai": 0})])
    assert not any(t.startswith(("-", "\u2212")) for t in _tick_labels(chart, "y"))
    assert _tick_labels(chart, "x") == ["2024"]
    assert "Inga avslut till egen försörjning" in chart


def test_the_report_names_the_municipality_and_the_day_it_was_produced() -> None:
    given = report_log()
    db_service = given.service(today=date(2025, 2, 3))
    db_service.municipality = "Nacka kommun"
    html = db_service.report_html(FROM, TO)
    assert '<p class="issuer">Nacka kommun</p>' in html
    assert "Framställd 2025-02-03" in html
    assert html.count('<div class="wide">') == 4  # wide tables scroll on screen, shrink in print
