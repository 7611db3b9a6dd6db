"""Incremental cursor window: inclusive floor, lookback, ordered vs full-scan commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from source_store.cursor import Admission, CursorWindow, format_timestamp, parse_timestamp

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-03-22T19:28:02", datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)),
        ("2017-03-22T19:28:02Z", datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)),
        ("2017-03-22T21:28:02+02:00", datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
        (1490212082, None),
    ],
)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value) == expected


def test_format_timestamp_is_utc_with_z():
    assert format_timestamp(datetime(2017, 3, 22, 21, 28, 2, tzinfo=UTC)) == "2017-03-22T21:28:02Z"


def test_floor_is_start_date_without_state_and_cursor_minus_lookback_with_state():
    window = CursorWindow("updated_at", START, lookback=timedelta(minutes=5))
    assert window.floor == START
    window.restore({"updated_at": "2024-06-01T12:00:00Z"})
    assert window.floor == datetime(2024, 6, 1, 11, 55, tzinfo=UTC)


def test_floor_never_goes_before_start_date():
    window = CursorWindow("updated_at", START, lookback=timedelta(days=30))
    window.restore({"updated_at": "2024-01-02T00:00:00Z"})
    assert window.floor == START


def test_floor_is_inclusive_and_older_records_are_dropped():
    window = CursorWindow("updated_at", START)
    window.restore({"updated_at": "2024-06-01T12:00:00Z"})
    assert window.admit({"updated_at": "2024-06-01T12:00:00Z"}) is Admission.KEEP
    assert window.admit({"updated_at": "2024-06-01T11:59:59Z"}) is Admission.TOO_OLD


def test_missing_or_malformed_cursor_is_flagged_and_does_not_move_state():
    window = CursorWindow("updated_at", START)
    assert window.admit({"updated_at": None}) is Admission.NO_CURSOR
    assert window.admit({"updated_at": "not a date"}) is Admission.NO_CURSOR
    assert window.state() == {}


def test_ordered_window_advances_as_records_arrive():
    window = CursorWindow("occurred_at", START)
    window.admit({"occurred_at": "2024-02-01T00:00:00Z"})
    assert window.state() == {"occurred_at": "2024-02-01T00:00:00Z"}


def test_unordered_window_commits_only_when_the_scan_ends():
    window = CursorWindow("updated_at", START, ordered=False)
    window.restore({"updated_at": "2024-02-01T00:00:00Z"})
    window.admit({"updated_at": "2024-03-01T00:00:00Z"})
    assert window.state() == {"updated_at": "2024-02-01T00:00:00Z"}
    window.finish_traversal()
    assert window.state() == {"updated_at": "2024-03-01T00:00:00Z"}


def test_state_never_moves_backwards():
    window = CursorWindow("updated_at", START)
    window.restore({"updated_at": "2030-01-01T00:00:00Z"})
    assert window.admit({"updated_at": "2024-03-01T00:00:00Z"}) is Admission.TOO_OLD
    window.finish_traversal()
    assert window.state() == {"updated_at": "2030-01-01T00:00:00Z"}


def test_malformed_state_falls_back_to_start_date_with_a_warning():
    window = CursorWindow("updated_at", START)
    warning = window.restore({"updated_at": "garbage"})
    assert "garbage" in warning
    assert window.floor == START
