"""Keyset traversal over a `modified`-sorted list endpoint that only offers page numbers.

Page-number paging over `orderby=modified` is unsafe while the store changes: a record
modified mid-read jumps to the end, every record behind it shifts one place towards the
front, and the first record of the next page slides onto a page already read. A keyset read
never asks for page 2 of a moving result: each request asks again for page 1 of "modified
at or after the last second seen", drops the ids it already emitted at that second, and so
can only see records move behind it, never past it.

When a whole page shares the window's one second (a bulk import), the window cannot advance;
that second is then walked as a "bucket" (`modified` in [second, second + 1 s), ordered by
id, page by page). Records can only leave a past second (a change moves them forward in
time), so a shrinking `total` tells that the walk may have skipped one: the bucket is walked
again, deduplicated by id, until a walk sees a stable total. Each new walk needs a record to
have left the bucket, so a bucket of n records is walked at most n + 1 times.

A traversal ends at `until`, the (exclusive) second the read started in: every second it
reads is then closed, so records can leave it but none can join it, and the argument above
holds for the last second too. What changes after `until` (including records modified while
the read runs) is the next read's work; the state never passes `until`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class KeysetRequest:
    """What to ask for next: `modified` at or after `since` (and before `until`), one page."""

    since: datetime
    until: datetime | None
    page: int
    by_id: bool


class KeysetTraversal:
    """One traversal from an inclusive lower bound (a whole second) to the end of the data.

    Call `request()` for the next query, then `take()` with what came back: it returns the
    positions of the records to emit and moves the position. `done` ends the traversal.
    Memory is bounded by the ids that share one second.
    """

    def __init__(self, since: datetime, page_size: int, until: datetime | None = None) -> None:
        self.since = since.replace(microsecond=0)
        self.until = until.replace(microsecond=0) if until is not None else None
        self.page_size = page_size
        self.done = self.until is not None and self.since >= self.until
        self._seen: set[str] = set()  # ids already emitted whose modified second is `since`
        self._page = 1  # >1 only when a full page held no readable modified time
        self._bucket_page: int | None = None
        self._bucket_total: int | None = None

    def request(self) -> KeysetRequest:
        """The next query."""
        if self._bucket_page is not None:
            return KeysetRequest(self.since, self.since + ONE_SECOND, self._bucket_page, by_id=True)
        return KeysetRequest(self.since, self.until, self._page, by_id=False)

    def take(
        self,
        page: Sequence[tuple[str, datetime | None]],
        *,
        total: int | None,
        total_pages: int | None,
    ) -> list[int]:
        """Positions in `page` (of (id, modified) pairs) to emit; moves the traversal on."""
        if self._bucket_page is not None:
            return self._take_bucket(page, total, total_pages)
        seconds = [moment.replace(microsecond=0) if moment else None for _, moment in page]
        keep = [
            index
            for index, (record_id, second) in enumerate(zip((rid for rid, _ in page), seconds, strict=True))
            if not (second == self.since and record_id in self._seen)
        ]
        if len(page) < self.page_size:
            self.done = True
            return keep
        readable = [second for second in seconds if second is not None]
        last = max(readable, default=None)
        if last is None:
            self._page += 1  # nothing to key on: fall back to the next page of the same window
        elif last == self.since:
            self._seen.update(rid for (rid, _), second in zip(page, seconds, strict=True) if second == self.since)
            self._bucket_page, self._bucket_total = 1, None
        else:
            self._seen = {rid for (rid, _), second in zip(page, seconds, strict=True) if second == last}
            self.since, self._page = last, 1
        return keep

    def _take_bucket(
        self, page: Sequence[tuple[str, datetime | None]], total: int | None, total_pages: int | None
    ) -> list[int]:
        keep = [index for index, (record_id, _) in enumerate(page) if record_id not in self._seen]
        self._seen.update(record_id for record_id, _ in page)
        if self._bucket_total is None:
            self._bucket_total = total
        assert self._bucket_page is not None
        shrank = total is not None and self._bucket_total is not None and total < self._bucket_total
        if shrank:
            self._bucket_page, self._bucket_total = 1, total
        elif page and total_pages is not None and self._bucket_page < total_pages:
            self._bucket_page += 1
        else:
            self.since += ONE_SECOND
            self._seen = set()
            self._bucket_page = self._bucket_total = None
            self.done = self.until is not None and self.since >= self.until
        return keep
