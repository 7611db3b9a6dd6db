"""Page-number pagination driven by a total-pages response header."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import requests


class PaginationLoopError(RuntimeError):
    """The API served the same page again under a new page number."""


class PageNumberPaginator:
    """Walk pages 1..N where N comes from a header such as WooCommerce's `X-WP-TotalPages`.

    Use a fresh instance per traversal. It stops on the last page, on an empty page (the
    total can shrink while we read), and when the header is missing; it refuses to go on
    when a page's body repeats the previous page's, so a server that ignores `page` cannot
    make a read loop.
    """

    def __init__(self, total_pages_header: str) -> None:
        self.page = 1
        self._total_pages_header = total_pages_header
        self._has_next = False
        self._previous_digest: bytes | None = None

    def observe(self, response: requests.Response, record_count: int) -> bool:
        """Take in the current page's response; return whether another page follows."""
        digest = hashlib.sha256(response.content).digest()
        if record_count and digest == self._previous_digest:
            raise PaginationLoopError(
                f"page {self.page} of {response.url} repeats page {self.page - 1}; refusing to loop"
            )
        self._previous_digest = digest
        total_pages = _int_header(response, self._total_pages_header)
        self._has_next = record_count > 0 and total_pages is not None and self.page < total_pages
        return self._has_next

    def next_page_token(self) -> Mapping[str, int] | None:
        """Move to the next page and return its token, or None when the traversal is done."""
        if not self._has_next:
            return None
        self._has_next = False
        self.page += 1
        return {"page": self.page}


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
