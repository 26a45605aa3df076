"""Statistics' own rules, pure: the fold of a journey's public events into the facts the figures
use, and the rounding of SPEC §6. Given these events, then these facts. No database."""

from __future__ import annotations

from contracts import journey as model
from services.statistics.facts import ROW_COLUMNS, fold, row_of
from services.statistics.figures import average_days, median_days, rate
from tests.statistics.stats_given import Given, busy_log


def test_rounding_helpers() -> None:
    assert rate(1, 3) == 0.3333 and rate(2, 3) == 0.6667 and rate(0, 0) is None
    assert average_days([10, 11]) == 10.5 and average_days([]) is None
    assert median_days([1, 2, 3, 10]) == 2.5 and median_days([]) is None


def test_the_fold_ignores_facts_statistics_do_not_use() -> None:
    given = Given()
    journey = given.journey("2024-01-10")
    state_before = fold(journey, list(given.events))
    given.voucher(journey, "2024-02-01")

    state_after = fold(journey, list(given.events))

    assert state_after.version == state_before.version + 1
    # every column but the version and the stored facts (which carry it)
    assert row_of(state_after, {})[2:-1] == row_of(state_before, {})[2:-1]


def test_a_state_read_back_from_its_row_is_the_same_state() -> None:
    given = busy_log()
    journey = given.events[1].stream_id
    state = fold(journey, [e for e in given.events if e.stream_id == journey])
    row = dict(zip(ROW_COLUMNS, row_of(state, {}), strict=True))

    again = model.decode(journey, row["facts"])

    assert again == state
    assert len(state.assignments) == 2 and len(state.follow_ups) == 1
