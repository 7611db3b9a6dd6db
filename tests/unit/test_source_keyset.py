"""Keyset traversal over a `modified`-sorted endpoint, driven by a simulated store that changes mid-read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from source_store.keyset import KeysetTraversal

T0 = datetime(2026, 10, 1, tzinfo=UTC)


class MovingStore:
    """Records (id, modified) answering keyset queries the way WooCommerce does (sorted, paged, totals)."""

    def __init__(self, modified: dict[str, datetime]) -> None:
        self.modified = dict(modified)

    def query(self, since: datetime, until: datetime | None, page: int, by_id: bool, per_page: int):
        rows = [(rid, m) for rid, m in self.modified.items() if m >= since and (until is None or m < until)]
        rows.sort(key=(lambda r: int(r[0])) if by_id else (lambda r: (r[1], int(r[0]))))
        total = len(rows)
        pages = -(-total // per_page)
        return rows[(page - 1) * per_page : page * per_page], total, pages


def traverse(store: MovingStore, page_size: int, on_request=lambda n: None, since: datetime = T0) -> list[str]:
    traversal = KeysetTraversal(since, page_size)
    emitted: list[str] = []
    for request_number in range(1000):
        on_request(request_number)
        window = traversal.request()
        rows, total, pages = store.query(window.since, window.until, window.page, window.by_id, page_size)
        keep = traversal.take(rows, total=total, total_pages=pages)
        emitted.extend(rows[i][0] for i in keep)
        if traversal.done:
            return emitted
    raise AssertionError("traversal did not end")


def test_reads_every_record_once_when_nothing_changes():
    store = MovingStore({str(i): T0 + timedelta(seconds=i) for i in range(1, 48)})
    assert traverse(store, 10) == [str(i) for i in range(1, 48)]


def test_records_modified_mid_read_do_not_push_later_records_onto_pages_already_read():
    store = MovingStore({str(i): T0 + timedelta(seconds=i) for i in range(1, 101)})
    later = T0 + timedelta(days=1)

    def touch_early_records(request_number: int) -> None:
        # after each request, the oldest unread-before-now records jump to the end
        if request_number:
            store.modified[str(request_number)] = later + timedelta(seconds=request_number)

    emitted = traverse(store, 10, touch_early_records)
    assert set(emitted) == set(store.modified)


def test_page_number_paging_over_the_same_moving_data_loses_records():
    """The control: what the keyset traversal fixes (this is why the test above can fail)."""
    store = MovingStore({str(i): T0 + timedelta(seconds=i) for i in range(1, 101)})
    later = T0 + timedelta(days=1)
    emitted, page = [], 1
    while True:
        store.modified[str(page)] = later + timedelta(seconds=page)  # changed before page `page` is read
        rows, _, pages = store.query(T0, None, page, False, 10)
        emitted.extend(rid for rid, _ in rows)
        if page >= pages:
            break
        page += 1
    assert set(store.modified) - set(emitted)


def test_more_ties_than_a_page_are_walked_by_id_within_their_second():
    tied = {str(i): T0 for i in range(1, 24)}
    store = MovingStore({**tied, "90": T0 + timedelta(seconds=5), "91": T0 + timedelta(seconds=6)})
    assert sorted(traverse(store, 5), key=int) == sorted(store.modified, key=int)


def test_a_tie_bucket_that_shrinks_mid_walk_is_walked_again():
    store = MovingStore({str(i): T0 for i in range(1, 31)})
    moved = iter(["2", "3", "4"])

    def move_one_out_of_the_bucket(request_number: int) -> None:
        if 2 <= request_number <= 4:
            store.modified[next(moved)] = T0 + timedelta(hours=1)

    emitted = traverse(store, 5, move_one_out_of_the_bucket)
    assert set(emitted) == set(store.modified)


def test_ids_at_the_resumed_second_are_reread_not_lost():
    store = MovingStore({"1": T0, "2": T0 + timedelta(seconds=1), "3": T0 + timedelta(seconds=1)})
    assert traverse(store, 2, since=T0 + timedelta(seconds=1)) == ["2", "3"]


def test_a_traversal_ends_at_the_second_the_read_started_in():
    store = MovingStore({str(i): T0 + timedelta(seconds=i) for i in range(1, 30)})
    traversal = KeysetTraversal(T0, 5, until=T0 + timedelta(seconds=12, milliseconds=400))
    assert traversal.request().until == T0 + timedelta(seconds=12)
    emitted = []
    while not traversal.done:
        window = traversal.request()
        rows, total, pages = store.query(window.since, window.until, window.page, window.by_id, 5)
        emitted += [rows[i][0] for i in traversal.take(rows, total=total, total_pages=pages)]
    assert emitted == [str(i) for i in range(1, 12)]
    assert KeysetTraversal(T0 + timedelta(days=1), 5, until=T0).done
