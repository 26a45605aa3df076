"""Closed payout runs keep their files byte for byte when the file layout changes: a run
records the layout it was closed with, and a run stored before layouts had numbers is
rendered exactly as it was then (SPEC §4.3: downloading again gives the same bytes)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from services.payments.files import file_hashes, render_files
from services.payments.model import CURRENT_LAYOUT, FIRST_LAYOUT, Run
from services.payments.runs import PayoutRuns
from tests.payments.golden_run import golden_run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "payout-runs-layout1.db"

# The digests the previous release gave this run's files when it closed it.
LAYOUT_1_DIGESTS = {
    "payout-2026-02.csv": "7533ba45ec69df70eec44f3d68e7aeaec48bf396ee79789511725b746a8c6d7e",
    "payout-2026-02.json": "6abd523a4a756b7ac8aeacdbc77c4b2f1299122dbebdfc24ba808042d12f1d43",
    "payout-2026-02.si": "8b0577ba815d26c226b45eda58ad1ab10f8b668cd58b9a0c5d1d4675eff22cf5",
    "underlag-5560360793-2026-02.html": "98a27afd6a5be71efb7a590a49b3bc4e43a19d57eda022cc816574ab418ed6e1",  # noqa: E501
    "underlag-5565475489-2026-02.html": "6031792553c55c55472b906b58ddcbb0e89a7c93e949e511a2a282eb179aaf94",  # noqa: E501
}


def stored_runs(tmp_path: Path) -> PayoutRuns:
    db = tmp_path / "payout-runs.db"
    shutil.copyfile(FIXTURE, db)
    return PayoutRuns({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})


def test_a_run_closed_before_layouts_renders_the_same_bytes_as_when_it_was_closed(
    tmp_path: Path,
) -> None:
    runs = stored_runs(tmp_path)
    for run in (runs.get("2026-02"), runs.closed()["2026-02"]):
        assert run is not None
        assert run.layout == FIRST_LAYOUT and run.references == {}
        assert dict(run.files) == LAYOUT_1_DIGESTS
        assert file_hashes(render_files(run)) == LAYOUT_1_DIGESTS
    runs.close()


def test_layout_1_is_frozen() -> None:
    run = golden_run(layout=FIRST_LAYOUT)
    assert file_hashes(render_files(run)) == LAYOUT_1_DIGESTS
    assert "layout" not in run.event_fields() and "references" not in run.event_fields()


def test_a_new_run_records_its_layout_and_references_and_renders_them_again_the_same(
    tmp_path: Path,
) -> None:
    refs = {
        "0b7a4c9e-1f39-5b0e-9d6e-2f0c1a6b7e01": ("ecos", "2026-0110"),
        "1c8b5d0f-2a4a-5c1f-8e7f-3a1d2b7c8f02": ("ecos", "2026-0111"),
        "2d9c6e1a-3b5b-5d2a-9f8a-4b2e3c8d9a03": ("ecos", "2025-0901"),
    }
    run: Run = golden_run(references=refs)
    assert run.layout == CURRENT_LAYOUT
    run = replace(run, files=file_hashes(render_files(run)))
    runs = PayoutRuns(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "runs.db")}
    )
    runs.record(run, runs.ledger())
    runs.close()
    again = PayoutRuns(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "runs.db")}
    )
    stored = again.closed()["2026-02"]
    assert stored.layout == CURRENT_LAYOUT and dict(stored.references) == refs
    assert file_hashes(render_files(stored)) == dict(run.files)
    again.close()


def test_the_layout_2_basis_names_the_decision_and_shows_swedish_time_and_decimal_commas() -> None:
    run = golden_run(
        references={
            "0b7a4c9e-1f39-5b0e-9d6e-2f0c1a6b7e01": ("ecos", "2026-0110"),
            "1c8b5d0f-2a4a-5c1f-8e7f-3a1d2b7c8f02": ("ecos", "2026-0111"),
        }
    )
    html = render_files(run)["underlag-5560360793-2026-02.html"].decode("utf-8")
    assert "ecos 2026-0110" in html and "0b7a4c9e-1f39-5b0e-9d6e-2f0c1a6b7e01" in html
    assert "2026-03-01 10:15 (svensk tid)" in html  # closed 09:15Z, CET
    assert "2026-03-01T09:15:00Z" not in html
    assert "(17\u00a0616,10 kr)" in html  # the footer's total with a decimal comma
    assert "17616.10" not in html
    # the layout-1 basis of the same run is unchanged (the dot in its footer included)
    old = render_files(golden_run(layout=FIRST_LAYOUT))["underlag-5560360793-2026-02.html"]
    assert b"(17616.10 kr)" in old
