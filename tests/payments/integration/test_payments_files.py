"""The files of a closed run (SPEC §4.3): what the clerk, the finance system and the providers
get, rendered from the stored run alone."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from services.payments import files
from services.payments.files import render_files, run_json, sha256
from services.payments.model import Booking, Run
from tests.payments.paybuild import P1, P2, Log, Wired, wire

D = Decimal


@pytest.fixture
def run(tmp_path: Path) -> Run:
    log = Log()
    log.default_rates()
    log.provider(P1, 'Jobb "&" Framtid AB', bankgiro="5050-1055")
    log.provider(P2, "Åkessons Väg AB", iban="SE4550000000058398257466")
    log.decision("j1", "sai", "2026-01-02")
    log.chosen("j1", P1, "2026-01-01")
    log.changed("j1", P2, "2026-02-15", P1)
    log.voucher("j1", "v-1", "12500.00", "2026-02-20")
    log.decision("j2", "forstarkt", "2026-01-02")
    log.chosen("j2", P1, "2026-02-01")
    booking = Booking(organisation="Nacka kommun", organisation_no="212000-0167")
    w: Wired = wire(tmp_path, log, booking=booking)
    w.close("2026-01", today="2026-02-01")
    log.exited("j1", "2026-01-20", "moved")  # late: January is taken back in February's run
    return w.close("2026-02", today="2026-03-01")


def test_csv_has_swedish_headers_bom_semicolons_and_decimal_commas(run: Run) -> None:
    data = render_files(run)["payout-2026-02.csv"]
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [
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
    ]
    body = rows[1 : 1 + len(run.lines)]
    assert body == [
        [
            "2026-01",
            P1,
            'Jobb "&" Framtid AB',
            "j1",
            "Språk- och arbetsintroduktion",
            "Löpande ersättning",
            "",
            "-11",
            "7293,00",
            "-2587,84",
        ],
        [
            "2026-02",
            P1,
            'Jobb "&" Framtid AB',
            "j2",
            "Jobbpeng förstärkt",
            "Löpande ersättning",
            "",
            "28",
            "4823,00",
            "4823,00",
        ],
    ]
    totals = rows[1 + len(run.lines) :]
    assert totals == [
        ["Summa anordnare", P1, 'Jobb "&" Framtid AB', "", "", "", "", "", "", "2235,16"],
        ["Summa totalt", "", "", "", "", "", "", "", "", "2235,16"],
    ]


def test_json_is_the_run_with_money_as_strings(run: Run) -> None:
    document = json.loads(render_files(run)["payout-2026-02.json"])
    assert document["month"] == "2026-02" and document["status"] == "closed"
    assert document["totals"] == {P1: "2235.16"} and document["total"] == "2235.16"
    assert document["lines"][0]["amount"] == "-2587.84"
    assert document["providers"][P1]["bankgiro"] == "5050-1055"
    assert document["organisation"] == {"name": "Nacka kommun", "organisation_no": "212000-0167"}
    assert "files" not in document


def test_sie_is_pc8_with_one_balanced_voucher_per_provider(run: Run) -> None:
    data = render_files(run)["payout-2026-02.si"]
    text = data.decode("cp437")
    lines = text.split("\r\n")
    assert lines[:3] == ["#FLAGGA 0", "#FORMAT PC8", "#SIETYP 4"]
    assert '#FNAMN "Nacka kommun"' in lines and "#ORGNR 212000-0167" in lines
    assert '#KONTO 2440 "Leverantörsskulder"' in lines
    assert '#KONTO 4580 "Köp av huvudverksamhet, kundval"' in lines
    assert "ersättning".encode("cp437") in data  # Swedish letters in code page 437, not UTF-8
    assert "ersättning".encode() not in data
    vouchers = [ln for ln in lines if ln.startswith("#VER")]
    assert len(vouchers) == 1 and P1 in vouchers[0] and " 20260228 " in vouchers[0]
    trans = [ln.split() for ln in lines if ln.strip().startswith("#TRANS")]
    assert [(t[1], t[3]) for t in trans] == [("4580", "2235.16"), ("2440", "-2235.16")]


def test_sie_accounts_are_configurable_per_line_type(run: Run) -> None:
    booking = Booking(
        expense_accounts={"monthly": "4581", "bonus": "4582", "voucher": "4583"},
        payable_account="2441",
    )
    text = render_files(replace(run, booking=booking))["payout-2026-02.si"].decode("cp437")
    assert "#TRANS 4581 {}" in text and "#TRANS 2441 {}" in text
    assert "#KONTO 4581" in text and "#KONTO 2441" in text
    assert "4582" not in text and "4583" not in text  # only the accounts used are listed


def test_the_basis_is_a_printable_page_per_provider(run: Run) -> None:
    files = render_files(run)
    assert sorted(n for n in files if n.startswith("underlag-")) == [f"underlag-{P1}-2026-02.html"]
    page = files[f"underlag-{P1}-2026-02.html"].decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="sv">' in page
    assert "Ersättningsunderlag" in page and "@media print" in page
    assert "Jobb &quot;&amp;&quot; Framtid AB" in page  # escaped
    assert "5050-1055" in page and P1 in page
    assert "2\u00a0235,16" in page and "\u22122\u00a0587,84" in page


def test_rendering_is_deterministic_and_matches_the_stored_hashes(run: Run) -> None:
    first, second = render_files(run), render_files(run)
    assert first == second
    assert {name: sha256(data) for name, data in first.items()} == dict(run.files)


def test_customers_appear_only_by_journey_reference(run: Run) -> None:
    twelve_digit_personnummer = re.compile(rb"(?<!\d)(19|20)\d{6}[-+]?\d{4}(?!\d)")
    for name, data in render_files(run).items():
        assert b"ref-j" not in data, name  # the events' person_ref pseudonyms
        assert not twelve_digit_personnummer.search(data), name


def test_booking_from_the_environment() -> None:
    booking = Booking.from_env(
        {
            "INSATS_PAYOUT_ORGANISATION": "Nacka kommun",
            "INSATS_PAYOUT_EXPENSE_ACCOUNT": "4590",
            "INSATS_PAYOUT_EXPENSE_ACCOUNT_BONUS": "4591",
            "INSATS_PAYOUT_PAYABLE_ACCOUNT": "2449",
        }
    )
    assert booking.organisation == "Nacka kommun"
    assert booking.expense_accounts == {"monthly": "4590", "bonus": "4591", "voucher": "4590"}
    assert booking.payable_account == "2449"
    assert Booking.from_env({}) == Booking()


def test_a_run_paying_nothing_still_has_its_files(tmp_path: Path) -> None:
    w = wire(tmp_path)
    empty = w.close("2026-01", today="2026-02-01")
    files = render_files(empty)
    assert set(files) == {"payout-2026-01.csv", "payout-2026-01.json", "payout-2026-01.si"}
    assert "Summa totalt" in files["payout-2026-01.csv"].decode("utf-8-sig")
    assert b"#VER" not in files["payout-2026-01.si"]
    assert empty.total == D("0.00")


def test_the_fast_json_writer_writes_exactly_what_json_dumps_would(run: Run) -> None:
    odd = run.lines[0]._replace(journey_id='j"1\\\tå', voucher_id="v\n2", type="voucher")
    awkward = replace(run, lines=(*run.lines, odd))
    expected = json.dumps(awkward.to_json(), ensure_ascii=False, separators=(",", ":"))
    assert run_json(awkward) == expected
    assert json.loads(run_json(awkward))["lines"][-1]["journey_id"] == 'j"1\\\tå'


def test_csv_fields_with_separators_or_quotes_are_quoted(run: Run) -> None:
    odd = run.lines[0]._replace(journey_id='j;1"x', voucher_id="v1")
    text = render_files(replace(run, lines=(odd,)))["payout-2026-02.csv"].decode("utf-8-sig")
    row = next(csv.reader(io.StringIO(text.splitlines()[1]), delimiter=";"))
    assert row[3] == 'j;1"x' and len(row) == 10


def test_the_fast_writers_write_what_the_escaping_writers_would(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the run, the same lines out of provider order, and a customer's reference that
    # needs escaping in the basis
    jid = run.lines[0].journey_id
    runs = [
        run,
        replace(run, lines=tuple(reversed(run.lines))),
        replace(run, references={**run.references, jid: ("sys<&>", "b\"1'")}),
    ]
    fast = [render_files(replace(r)) for r in runs]
    # When every writer escapes field by field (as it does when a field needs it)
    monkeypatch.setattr(files, "_clean", lambda pattern, run: False)
    # Then the bytes are the same
    assert [render_files(replace(r)) for r in runs] == fast
    assert "sys&lt;&amp;&gt; b&quot;1&#x27;" in next(
        data.decode() for name, data in fast[2].items() if name.startswith("underlag-")
    )


def test_the_totals_and_the_stored_lines_are_what_line_by_line_gives(run: Run) -> None:
    lines = (*run.lines, *reversed(run.lines))  # one provider's lines not all together
    twice = replace(run, lines=lines)
    expected: dict[str, Decimal] = {}
    for line in lines:
        expected[line.provider_id] = expected.get(line.provider_id, D("0.00")) + line.amount
    assert twice.totals == dict(sorted(expected.items()))
    assert list(twice.totals) == sorted(expected)
    assert twice.event_fields()["lines"] == [line.to_list() for line in lines]
    by_provider: dict[str, list[object]] = {}
    for line in lines:
        by_provider.setdefault(line.provider_id, []).append(line)
    assert twice.by_provider == dict(sorted(by_provider.items()))
