"""A closed run's files (SPEC §4.3), rendered from the run alone, byte for byte the same every
time: no clock, no configuration and no read model is consulted — provider details, booking
accounts, closed_at and position all come from the stored run.

- `payout-YYYY-MM.csv`: for the clerk; UTF-8 with BOM, `;`, decimal comma, CRLF, Swedish headers;
  one row per line, then one total row per provider and a grand total.
- `payout-YYYY-MM.json`: the same, machine-readable (money as strings with two decimals).
- `payout-YYYY-MM.si`: SIE 4I for the finance system, PC8 (code page 437): one voucher per
  provider, debit the expense account(s), credit the payable account.
- `underlag-{provider_id}-YYYY-MM.html`: per provider, the printable compensation basis
  (ersättningsunderlag) the provider invoices against.

No personnummer anywhere: lines carry the journey id only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

from services.payments.model import (
    FIRST_LAYOUT,
    Memo,
    Run,
    RunLine,
    money,
    money_text,
    type_sums,
)
from services.payments.model import lines_by_provider as _lines_by_provider
from services.payments.rules import LINE_TYPES, ZERO, last_day
from services.platform.clock import STOCKHOLM

INSATS_LABELS: dict[str, str] = {
    "grund": "Jobbpeng grund",
    "forstarkt": "Jobbpeng förstärkt",
    "sai": "Språk- och arbetsintroduktion",
}
LINE_LABELS: dict[str, str] = {
    "monthly": "Löpande ersättning",
    "bonus": "Resultatbonus",
    "voucher": "Tilläggscheck",
}
CSV_HEADER = (
    "Period",
    "Anordnare org.nr",
    "Anordnare",
    "Insatsreferens",
    "Insats",
    "Radtyp",
    "Tilläggscheck",
    "Dagar",
    "Belopp per månad",
    "Belopp",
)
PROGRAM = ("insats", "1")


def csv_name(month: str) -> str:
    return f"payout-{month}.csv"


def json_name(month: str) -> str:
    return f"payout-{month}.json"


def sie_name(month: str) -> str:
    return f"payout-{month}.si"


def basis_name(provider_id: str, month: str) -> str:
    return f"underlag-{provider_id}-{month}.html"


def file_names(run: Run) -> list[str]:
    names = [csv_name(run.month), json_name(run.month), sie_name(run.month)]
    names.extend(basis_name(p, run.month) for p in run.totals)
    return names


def render_files(run: Run) -> dict[str, bytes]:
    files = {
        csv_name(run.month): render_csv(run),
        json_name(run.month): render_json(run),
        sie_name(run.month): render_sie(run),
    }
    by_provider = run.by_provider
    fragments = BasisFragments(run)  # shared by every provider's basis
    for provider_id in run.totals:
        files[basis_name(provider_id, run.month)] = render_basis(
            run, provider_id, by_provider.get(provider_id, []), fragments
        )
    return files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hashes(files: dict[str, bytes]) -> dict[str, str]:
    return {name: sha256(data) for name, data in sorted(files.items())}


def lines_by_provider(lines: Iterable[RunLine]) -> dict[str, list[RunLine]]:
    """The lines per provider (`model.lines_by_provider`)."""
    return _lines_by_provider(lines)


_provider_of = itemgetter(1)
_period_of = itemgetter(0)
_journey_of = itemgetter(2)
_insats_of = itemgetter(3)
_type_of = itemgetter(4)
_voucher_of = itemgetter(5)
_amount_of = itemgetter(8)


def _clean(pattern: re.Pattern[str], run: Run) -> bool:
    """No line of the run holds a character `pattern` (one character class) finds in its
    period, provider, journey, insats, type or voucher: one search over all of them, so a file
    can write those fields without escaping line by line."""
    return pattern.search(run.line_texts) is None


_BOM = "\ufeff".encode()


def _utf8_lines(parts: list[str]) -> bytes:
    """`"\n".join(parts).encode("utf-8")`, encoding part by part: one non-Latin-1 character
    (an en dash) would otherwise make the whole joined text twice as wide before encoding."""
    return b"\n".join([part.encode("utf-8") for part in parts])


# --- formatting -----------------------------------------------------------------------------------


# Memoised formatting: a run repeats the same few hundred amounts many thousand times.
_COMMA: dict[Decimal, str] = {}
_SV: dict[Decimal, str] = {}


def decimal_comma(value: Decimal | None) -> str:
    """2823.10 → '2823,10' (the CSV's decimal comma)."""
    if value is None:
        return ""
    text = _COMMA.get(value)
    if text is None:
        text = money_text(value).replace(".", ",")
        if len(_COMMA) < 200_000:
            _COMMA[value] = text
    return text


def sv_money(value: Decimal) -> str:
    """2823.10 → '2 823,10' (non-breaking space between thousands), '−' for negatives."""
    text = _SV.get(value)
    if text is None:
        text = f"{abs(value):,.2f}".replace(",", "\u00a0").replace(".", ",")
        text = ("\u2212" if value < 0 else "") + text
        if len(_SV) < 200_000:
            _SV[value] = text
    return text


_HTML_SPECIAL = re.compile("[&<>\"']")  # what `esc` replaces
_HTML_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
)


def esc(text: str) -> str:
    """html.escape(text, quote=True), as one C-level translate."""
    return text.translate(_HTML_ESCAPES)


def _days(value: int | None) -> str:
    return "" if value is None else str(value)


# --- CSV ------------------------------------------------------------------------------------------


_CSV_SPECIAL = re.compile(r'[;"\r\n]')


def _csv(text: str) -> str:
    """A CSV field: quoted (quotes doubled) only when it holds `;`, `"` or a line break."""
    if _CSV_SPECIAL.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def render_csv(run: Run) -> bytes:
    names = {p: _csv(run.provider(p).name) for p in {*run.providers, *run.totals}}
    insats_labels = {k: _csv(v) for k, v in INSATS_LABELS.items()}
    # Most lines differ only in period, provider and journey: memoise the rest of the row.
    tails: dict[tuple[object, ...], str] = {}

    def tail_of(key: tuple[Any, ...]) -> str:
        insats, kind, voucher, days, rate, amount = key
        return (
            f"{insats_labels.get(insats) or _csv(insats)};"
            f"{LINE_LABELS.get(kind) or _csv(kind)};{_csv(voucher)};"
            f"{'' if days is None else days};"
            f"{decimal_comma(rate) if kind == 'monthly' else ''};"
            f"{decimal_comma(amount)}"
        )

    def tail(line: RunLine) -> str:
        key = line[3:]
        text = tails.get(key)
        if text is None:
            text = tails[key] = tail_of(key)
        return text

    def row(line: RunLine) -> str:
        pid, jid = line.provider_id, line.journey_id
        if _CSV_SPECIAL.search(pid + jid + line.period):  # rare: quote field by field
            pid, jid = _csv(pid), _csv(jid)
        return f"{line.period};{pid};{names[line.provider_id]};{jid};{tail(line)}"

    rows = [";".join(_csv(h) for h in CSV_HEADER)]
    lines = run.lines
    if _clean(_CSV_SPECIAL, run):
        # the common case: no field to quote; the row's middle is the provider's
        memo = Memo(tail_of)
        for provider_id, group in groupby(lines, _provider_of):
            mid = f";{provider_id};{names[provider_id]};"
            rows.extend([f"{ln[0]}{mid}{ln[2]};{memo[ln[3:]]}" for ln in group])
    else:
        rows.extend([row(line) for line in lines])
    totals = run.totals
    rows.extend(
        f"Summa anordnare;{_csv(provider_id)};{names[provider_id]};;;;;;;{decimal_comma(amount)}"
        for provider_id, amount in totals.items()
    )
    rows.append(f"Summa totalt;;;;;;;;;{decimal_comma(sum(totals.values(), ZERO))}")
    rows.append("")  # the last row ends with a line break too
    return _BOM + "\r\n".join(rows).encode("utf-8")


# --- JSON -----------------------------------------------------------------------------------------


_JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')


def _json_line(line: RunLine, tails: dict[tuple[object, ...], str]) -> str:
    """One line as JSON, exactly as `json.dumps(line.to_json(), ensure_ascii=False,
    separators=(",", ":"))` writes it — from a template when no string needs escaping, with
    the part after the journey id memoised in `tails`."""
    if _JSON_SPECIAL.search(
        line.period + line.provider_id + line.journey_id + line.insats + line.type + line.voucher_id
    ):
        return json.dumps(line.to_json(), ensure_ascii=False, separators=(",", ":"))
    key = line[3:]
    tail = tails.get(key)
    if tail is None:
        tail = tails[key] = _json_tail(key)
    return (
        f'{{"period":"{line.period}","provider_id":"{line.provider_id}",'
        f'"journey_id":"{line.journey_id}",{tail}'
    )


def _json_tail(key: tuple[Any, ...]) -> str:
    """A line's JSON after its journey id (`RunLine[3:]`, no string that needs escaping)."""
    insats, kind, voucher_id, days, rate, amount = key
    voucher = f'"{voucher_id}"' if voucher_id else "null"
    days_text = "null" if days is None else int(days)
    rate_text = "null" if rate is None else f'"{money_text(rate)}"'
    return (
        f'"insats":"{insats}","type":"{kind}","voucher_id":{voucher},'
        f'"days":{days_text},"rate":{rate_text},"amount":"{money_text(amount)}"}}'
    )


def _json_lines(run: Run) -> str:
    """The lines of a run as the comma-separated JSON objects of its "lines" array."""
    lines = run.lines
    if not _clean(_JSON_SPECIAL, run):
        tails: dict[tuple[object, ...], str] = {}
        return ",".join([_json_line(ln, tails) for ln in lines])
    memo = Memo(_json_tail)
    parts: list[str] = []
    for provider_id, group in groupby(lines, _provider_of):
        mid = f'","provider_id":"{provider_id}","journey_id":"'
        parts.append(",".join([f'{{"period":"{ln[0]}{mid}{ln[2]}",{memo[ln[3:]]}' for ln in group]))
    return ",".join(parts)


def run_json(run: Run, *, with_files: bool = True, extra: dict[str, object] | None = None) -> str:
    """The run as one compact JSON document (API.md "A run"), the same as
    `json.dumps(run.to_json() | extra, ensure_ascii=False, separators=(",", ":"))` but written
    line by line: a run may hold hundreds of thousands of lines."""
    head = run.to_json_head()
    tail = run.to_json_tail()
    if not with_files:
        del tail["files"]  # a file cannot hold its own digest
    if extra:
        tail.update(extra)

    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    parts = [dump(head)[:-1], ',"lines":[', _json_lines(run), "]"]
    parts.extend(f",{dump(k)}:{dump(v)}" for k, v in tail.items())
    parts.append("}")
    return "".join(parts)


def render_json(run: Run) -> bytes:
    organisation = {
        "name": run.booking.organisation,
        "organisation_no": run.booking.organisation_no or None,
    }
    document = run_json(run, with_files=False, extra={"organisation": organisation})
    return document.encode("utf-8") + b"\n"


# --- SIE 4I ---------------------------------------------------------------------------------------


def _sie_text(value: str) -> str:
    cleaned = " ".join(value.replace("\\", "/").split())  # no control characters or line breaks
    return '"' + cleaned.replace('"', '\\"') + '"'


def _sie_amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _sie_date(iso: str) -> str:
    return iso[:10].replace("-", "")


def render_sie(run: Run) -> bytes:
    booking = run.booking
    closed = _sie_date(run.closed_at or last_day(run.month).isoformat())
    booked_on = last_day(run.month).strftime("%Y%m%d")  # the cost belongs to the run's month
    rows = [
        "#FLAGGA 0",
        "#FORMAT PC8",
        "#SIETYP 4",
        f"#PROGRAM {_sie_text(PROGRAM[0])} {_sie_text(PROGRAM[1])}",
        f"#GEN {closed}",
        f"#FNAMN {_sie_text(booking.organisation)}",
    ]
    if booking.organisation_no:
        rows.append(f"#ORGNR {booking.organisation_no}")
    rows.append(f"#KPTYP {booking.chart_type}")

    per_provider = {p: type_sums(lines) for p, lines in run.by_provider.items()}

    def expense_account(kind: str) -> str:
        return booking.expense_accounts.get(kind) or booking.expense_accounts["monthly"]

    booked = {p: sums for p, sums in per_provider.items() if any(v != 0 for v in sums.values())}
    used = {expense_account(kind) for sums in booked.values() for kind, v in sums.items() if v}
    if booked:
        used.add(booking.payable_account)
    rows.extend(f"#KONTO {a} {_sie_text(booking.account_name(a))}" for a in sorted(used))

    for provider_id in sorted(booked):
        sums = booked[provider_id]
        total = sum(sums.values(), ZERO)
        name = run.provider(provider_id).name
        text = f"Kundval insats {run.month} {name} {provider_id}".strip()
        rows.append(
            f'#VER {_sie_text(booking.voucher_series)} "" {booked_on} {_sie_text(text)} {closed}'
        )
        rows.append("{")
        for kind in LINE_TYPES:
            amount = sums.get(kind, ZERO)
            if amount == 0:
                continue
            account = expense_account(kind)
            label = f"{LINE_LABELS[kind]} {run.month} {provider_id}"
            rows.append(
                f"   #TRANS {account} {{}} {_sie_amount(amount)} {booked_on} {_sie_text(label)}"
            )
        if total != 0:  # lines that cancel out balance the voucher by themselves
            rows.append(
                f"   #TRANS {booking.payable_account} {{}} {_sie_amount(-total)} "
                f"{booked_on} {_sie_text(f'{name} {provider_id}'.strip())}"
            )
        rows.append("}")
    return ("\r\n".join(rows) + "\r\n").encode("cp437", errors="replace")


# --- ersättningsunderlag (HTML) -----------------------------------------------------------------

_CSS_V1 = """
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10pt; color: #111;
       margin: 2em; }
h1 { font-size: 16pt; margin: 0 0 .2em 0; }
.sub { color: #444; margin: 0 0 1.2em 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1.2em; margin: 0 0 1.2em; }
dt { font-weight: bold; }
dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ccc; padding: .25em .4em; text-align: left;
         vertical-align: top; }
th { background: #eee; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tfoot th, tfoot td { border-top: 2px solid #111; font-weight: bold; background: none; }
table.summary { width: auto; margin: 1.2em 0; }
footer { margin-top: 1.5em; color: #444; font-size: 9pt; }
@media print {
  body { margin: 0; }
  @page { size: A4; margin: 15mm; }
  thead { display: table-header-group; }
  tfoot { display: table-footer-group; }
  tr { page-break-inside: avoid; }
}
""".strip()


def _render_basis_v1(
    run: Run, provider_id: str, lines: Sequence[RunLine], fragments: BasisFragments
) -> bytes:
    """Layout 1 (runs closed before layouts had numbers): frozen, byte for byte."""
    provider = run.provider(provider_id)
    total = sum(map(_amount_of, lines), ZERO)
    sums = type_sums(lines)
    details = [
        ("Anordnare", provider.name or "–"),
        ("Organisationsnummer", provider_id),
        ("Bankgiro", provider.bankgiro or "–"),
        ("IBAN", provider.iban or "–"),
        ("Utbetalningsmånad", run.month),
        ("Körningen stängd", run.closed_at or "–"),
        ("Beräknad från händelseposition", str(run.position)),
        ("Utfärdare", run.booking.organisation),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>Ersättningsunderlag {esc(run.month)} – {esc(provider.name or provider_id)}"
        "</title>",
        f"<style>\n{_CSS_V1}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Ersättningsunderlag</h1>",
        f'<p class="sub">Kundval arbetsmarknadsinsatser – utbetalning för {esc(run.month)}</p>',
        "</header>",
        "<dl>",
        *(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in details),
        "</dl>",
        '<table class="summary">',
        '<thead><tr><th>Radtyp</th><th class="num">Belopp (kr)</th></tr></thead>',
        "<tbody>",
        *(
            f'<tr><td>{esc(LINE_LABELS[kind])}</td><td class="num">{sv_money(sums[kind])}</td></tr>'
            for kind in LINE_TYPES
            if kind in sums
        ),
        "</tbody>",
        f'<tfoot><tr><th>Att fakturera</th><td class="num">{sv_money(total)}</td></tr></tfoot>',
        "</table>",
        "<table>",
        "<thead><tr><th>Period</th><th>Insatsreferens</th><th>Insats</th><th>Radtyp</th>"
        '<th>Tilläggscheck</th><th class="num">Dagar</th><th class="num">Belopp per månad</th>'
        '<th class="num">Belopp (kr)</th></tr></thead>',
        "<tbody>",
    ]
    tails = fragments.tails
    journeys = fragments.journeys

    parts.extend([f"<tr><td>{ln[0]}</td><td>{journeys[ln[2]]}</td>{tails[ln[3:]]}" for ln in lines])
    parts.extend(
        [
            "</tbody>",
            f'<tfoot><tr><th colspan="7">Summa att fakturera</th>'
            f'<td class="num">{sv_money(total)}</td></tr></tfoot>',
            "</table>",
            "<footer>",
            "<p>Fakturera kommunen på beloppet ovan och ange utbetalningsmånad och "
            "organisationsnummer. Rader för tidigare perioder är rättelser eller "
            "senare rapporterade uppgifter (negativa belopp är avdrag). Kunder anges med "
            "insatsreferens, aldrig med personnummer.</p>",
            f"<p>Underlaget hör till utbetalningskörning {esc(run.month)} "
            f"({esc(money(total) or '0.00')} kr).</p>",
            "</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
    return _utf8_lines(parts)


class BasisFragments:
    """What the compensation bases of one run share, each computed once for all providers:
    a line's cells after the customer (by the line's shape: most lines differ only in period
    and journey) and each customer's cell."""

    def __init__(self, run: Run):
        insats_labels = {k: esc(v) for k, v in INSATS_LABELS.items()}

        def tail_of(key: tuple[Any, ...]) -> str:
            insats, kind, voucher, days, rate, amount = key
            monthly_rate = sv_money(rate) if rate is not None and kind == "monthly" else ""
            return (
                f"<td>{insats_labels.get(insats) or esc(insats)}</td>"
                f"<td>{LINE_LABELS.get(kind) or esc(kind)}</td>"
                f"<td>{esc(voucher)}</td>"
                f'<td class="num">{"" if days is None else days}</td>'
                f'<td class="num">{monthly_rate}</td>'
                f'<td class="num">{sv_money(amount)}</td></tr>'
            )

        self.tails = Memo(tail_of)
        self.journeys = Memo(esc)  # layout 1: the journey id
        self.references = Memo(lambda journey_id: _reference(run, journey_id))  # layout 2
        if run.layout != FIRST_LAYOUT and run.references:
            refs = run.references
            if _clean(_HTML_SPECIAL, run) and (
                _HTML_SPECIAL.search("".join(chain.from_iterable(refs.values()))) is None
            ):  # nothing to escape: every customer's cell at once
                self.references.update(
                    {
                        jid: f'<span class="ref">{system} {decision}</span>'
                        f'<span class="uuid">{jid}</span>'
                        for jid, (system, decision) in refs.items()
                    }
                )


def render_basis(
    run: Run,
    provider_id: str,
    lines: Sequence[RunLine],
    fragments: BasisFragments | None = None,
) -> bytes:
    """The compensation basis in the layout the run was closed with (`Run.layout`);
    `fragments` (of this run) when rendering several providers' bases."""
    fragments = fragments or BasisFragments(run)
    if run.layout == FIRST_LAYOUT:
        return _render_basis_v1(run, provider_id, lines, fragments)
    return _render_basis_v2(run, provider_id, lines, fragments)


# --- layout 2 -------------------------------------------------------------------------------------

_CSS_V2 = """
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 10pt;
       color: #111; margin: 2em auto; max-width: 72em; padding: 0 1em; }
h1 { font-size: 16pt; margin: 0 0 .2em 0; }
.issuer { font-weight: bold; margin: 0; }
.sub { color: #444; margin: 0 0 1.2em 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1.2em; margin: 0 0 1.2em; }
dt { font-weight: bold; }
dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ccc; padding: .25em .4em; text-align: left;
         vertical-align: top; }
th { background: #eee; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
.ref, td.period { white-space: nowrap; }
.uuid { display: block; font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; color: #444;
        word-break: break-all; }
tfoot th, tfoot td { border-top: 2px solid #111; font-weight: bold; background: none; }
table.summary { width: auto; margin: 1.2em 0; }
footer { margin-top: 1.5em; color: #444; font-size: 9pt; }
@page { size: A4; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9pt; }
  table.lines { font-size: 7.5pt; }
  thead { display: table-header-group; }
  tfoot { display: table-footer-group; }
  tr { page-break-inside: avoid; break-inside: avoid; }
}
""".strip()


def local_closing_time(closed_at: str | None) -> str:
    """'2026-11-01T09:15:00Z' → '2026-11-01 10:15 (svensk tid)'."""
    if not closed_at:
        return "–"
    try:
        moment = datetime.fromisoformat(closed_at.replace("Z", "+00:00"))
    except ValueError:
        return closed_at
    if moment.tzinfo is None:
        return closed_at
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") + " (svensk tid)"


def _reference(run: Run, journey_id: str) -> str:
    ref = run.references.get(journey_id)
    decision = f"{esc(ref[0])} {esc(ref[1])}" if ref else "–"
    return f'<span class="ref">{decision}</span><span class="uuid">{esc(journey_id)}</span>'


def _render_basis_v2(
    run: Run, provider_id: str, lines: Sequence[RunLine], fragments: BasisFragments
) -> bytes:
    provider = run.provider(provider_id)
    total = sum(map(_amount_of, lines), ZERO)
    sums = type_sums(lines)
    issuer = run.booking.organisation
    if run.booking.organisation_no:
        issuer += f" ({run.booking.organisation_no})"
    details = [
        ("Anordnare", provider.name or "–"),
        ("Organisationsnummer", provider_id),
        ("Bankgiro", provider.bankgiro or "–"),
        ("IBAN", provider.iban or "–"),
        ("Utbetalningsmånad", run.month),
        ("Körningen stängd", local_closing_time(run.closed_at)),
        ("Beräknad från händelseposition", str(run.position)),
        ("Utfärdare", issuer),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>Ersättningsunderlag {esc(run.month)} – {esc(provider.name or provider_id)}"
        "</title>",
        f"<style>\n{_CSS_V2}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f'<p class="issuer">{esc(run.booking.organisation)}</p>',
        "<h1>Ersättningsunderlag</h1>",
        f'<p class="sub">Kundval arbetsmarknadsinsatser – utbetalning för {esc(run.month)}</p>',
        "</header>",
        "<dl>",
        *(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in details),
        "</dl>",
        '<table class="summary">',
        '<thead><tr><th>Radtyp</th><th class="num">Belopp (kr)</th></tr></thead>',
        "<tbody>",
        *(
            f'<tr><td>{esc(LINE_LABELS[kind])}</td><td class="num">{sv_money(sums[kind])}</td></tr>'
            for kind in LINE_TYPES
            if kind in sums
        ),
        "</tbody>",
        f'<tfoot><tr><th>Att fakturera</th><td class="num">{sv_money(total)}</td></tr></tfoot>',
        "</table>",
        '<table class="lines">',
        "<thead><tr><th>Period</th><th>Beslutsreferens och insatsreferens</th><th>Insats</th>"
        '<th>Radtyp</th><th>Tilläggs&shy;check</th><th class="num">Dagar</th>'
        '<th class="num">Belopp per månad</th><th class="num">Belopp (kr)</th></tr></thead>',
        "<tbody>",
    ]
    tails = fragments.tails
    references = fragments.references

    parts.extend(
        [
            f'<tr><td class="period">{ln[0]}</td><td>{references[ln[2]]}</td>{tails[ln[3:]]}'
            for ln in lines
        ]
    )
    parts.extend(
        [
            "</tbody>",
            f'<tfoot><tr><th colspan="7">Summa att fakturera</th>'
            f'<td class="num">{sv_money(total)}</td></tr></tfoot>',
            "</table>",
            "<footer>",
            "<p>Fakturera kommunen på beloppet ovan och ange utbetalningsmånad och "
            "organisationsnummer. Rader för tidigare perioder är rättelser eller "
            "senare rapporterade uppgifter (negativa belopp är avdrag). Kunder anges med "
            "ärendesystemets beslutsreferens och insatsreferens, aldrig med personnummer.</p>",
            f"<p>Underlaget hör till utbetalningskörning {esc(run.month)} "
            f"({sv_money(total)} kr).</p>",
            "</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
    return _utf8_lines(parts)
