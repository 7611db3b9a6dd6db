"""Incremental cursor of one stream: where a read starts and how far it got."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


def parse_timestamp(value: Any) -> datetime | None:
    """Read an ISO 8601 timestamp as an aware UTC datetime; None when absent or malformed.

    A timestamp without an offset is taken as UTC: every platform we read sends GMT values.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Write an aware datetime as UTC ISO 8601 with a trailing Z, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Admission(enum.Enum):
    """What the cursor says about one record."""

    KEEP = "keep"
    TOO_OLD = "too_old"
    NO_CURSOR = "no_cursor"


@dataclass
class CursorWindow:
    """The lower bound of a read and the furthest cursor value seen so far.

    `floor` is inclusive: records at or after it are kept. With a state cursor it is the
    cursor minus the lookback window, never earlier than `start_date`; without one it is
    `start_date`. `ordered` says whether records arrive sorted by the cursor field: only then
    may the state move forward before the traversal ends (an unsorted full scan may still
    hold older changes on a later page).
    """

    cursor_field: str
    start_date: datetime
    lookback: timedelta = timedelta(0)
    ordered: bool = True
    committed: datetime | None = None
    _seen_max: datetime | None = field(default=None, repr=False)

    @property
    def floor(self) -> datetime:
        """The earliest cursor value this read keeps."""
        if self.committed is None:
            return self.start_date
        return max(self.start_date, self.committed - self.lookback)

    def restore(self, state: dict[str, Any] | None) -> str | None:
        """Load a stream state; return a warning when the state holds no usable cursor."""
        self._seen_max = None
        raw = (state or {}).get(self.cursor_field)
        self.committed = parse_timestamp(raw)
        if raw is not None and self.committed is None:
            return f"state value {self.cursor_field}={raw!r} is not a timestamp; reading from start_date"
        return None

    def admit(self, record: dict[str, Any]) -> Admission:
        """Decide whether a mapped record is emitted, and track its cursor value."""
        moment = parse_timestamp(record.get(self.cursor_field))
        if moment is None:
            return Admission.NO_CURSOR
        if moment < self.floor:
            return Admission.TOO_OLD
        if self._seen_max is None or moment > self._seen_max:
            self._seen_max = moment
        return Admission.KEEP

    def finish_traversal(self) -> None:
        """Commit what an unordered scan saw, now that every page has been read."""
        self.committed = self._furthest()

    def state(self) -> dict[str, str]:
        """The stream state to checkpoint now ({} before anything was read)."""
        moment = self._furthest() if self.ordered else self.committed
        return {self.cursor_field: format_timestamp(moment)} if moment else {}

    def _furthest(self) -> datetime | None:
        candidates = [moment for moment in (self.committed, self._seen_max) if moment is not None]
        return max(candidates, default=None)
