"""Page-number paginator driven by X-WP-TotalPages."""

from __future__ import annotations

import json

import pytest
import requests

from source_store.pagination import PageNumberPaginator, PaginationLoopError

HEADER = "X-WP-TotalPages"


def page(records: list[int], total_pages: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(records).encode()
    response.url = "https://shop.example.com/wp-json/wc/v3/orders"
    if total_pages is not None:
        response.headers[HEADER] = total_pages
    return response


def test_walks_every_page_then_stops():
    paginator = PageNumberPaginator(HEADER)
    tokens = []
    for records in ([1, 2], [3, 4], [5]):
        paginator.observe(page(records, "3"), len(records))
        tokens.append(paginator.next_page_token())
    assert tokens == [{"page": 2}, {"page": 3}, None]
    assert paginator.page == 3


def test_single_page():
    paginator = PageNumberPaginator(HEADER)
    assert paginator.observe(page([1], "1"), 1) is False
    assert paginator.next_page_token() is None


@pytest.mark.parametrize("total", [None, "many"])
def test_missing_or_malformed_total_stops(total):
    paginator = PageNumberPaginator(HEADER)
    assert paginator.observe(page([1], total), 1) is False
    assert paginator.next_page_token() is None


def test_empty_page_stops_even_if_total_says_more():
    paginator = PageNumberPaginator(HEADER)
    assert paginator.observe(page([], "5"), 0) is False


def test_refuses_a_page_that_repeats_the_previous_one():
    paginator = PageNumberPaginator(HEADER)
    paginator.observe(page([1, 2], "3"), 2)
    paginator.next_page_token()
    with pytest.raises(PaginationLoopError, match="page 2"):
        paginator.observe(page([1, 2], "3"), 2)


def test_fresh_instance_starts_at_page_one():
    first = PageNumberPaginator(HEADER)
    first.observe(page([1], "2"), 1)
    first.next_page_token()
    assert PageNumberPaginator(HEADER).page == 1
