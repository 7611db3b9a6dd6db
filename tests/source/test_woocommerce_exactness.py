"""WooCommerce exactness through the Airbyte protocol: moving data, kill and resume, refunds, bad records, stores."""

from __future__ import annotations

import itertools
from collections import defaultdict

import duckdb
import pendulum
import pytest
import requests
from airbyte_cdk.models import Type
from store_harness import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    NOW,
    new_dataset,
    read_streams,
    records_of,
    source_config,
    states_of,
)

from source_store.config import parse_config
from source_store.keyset import KeysetTraversal
from source_store.platforms import woocommerce
from store2crm.chain import extract
from store2crm.sandbox.store_emulator import StoreEmulator

RESUMED = ("orders", "customers", "events")


@pytest.fixture
def moving_store():
    """A store whose clock ticks a second per call, from an hour after the data was generated.

    Changes land before the real present, so a read (which ends at the second it starts in)
    must see every change made while it runs.
    """
    dataset = new_dataset()
    ticks = itertools.count()
    start = NOW.add(hours=1)
    emulator = StoreEmulator(
        dataset,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        clock=lambda: start.add(seconds=next(ticks) // 3),  # several calls share a second
    )
    with emulator:
        yield emulator, dataset


def test_orders_changed_between_pages_are_all_read(moving_store):
    emulator, dataset = moving_store
    emulator.configure_faults(mutate_every=2, mutate_count=3, seed=11)
    output = read_streams(source_config(emulator.base_url, page_size=5), "orders")
    assert not output.errors
    assert emulator.faults.injected["mutations"] >= 20  # the store really moved under the read
    emitted = {record["id"] for record in records_of(output, "orders")}
    # the refunds calls after the last list request still mutate: those orders are the next read's
    last_list_state = states_of(output, "orders")[-1]["updated_at"]
    assert {o["id"] for o in dataset.orders if o["updated_at"] <= last_list_state} <= emitted
    emulator.configure_faults(mutate_every=0)
    config = source_config(emulator.base_url, page_size=5)
    after = read_streams(config, "orders", state={"orders": {"updated_at": last_list_state}})
    assert {order["id"] for order in dataset.orders} <= emitted | {r["id"] for r in records_of(after, "orders")}


def test_page_number_paging_over_the_same_moving_store_loses_orders(own_store):
    """The control for the test above: plain `page=N` paging over `orderby=modified` skips records."""
    emulator, dataset = own_store
    emulator.configure_faults(mutate_every=1, mutate_count=3, seed=11)
    seen, page, pages = set(), 1, 1
    while page <= pages:
        response = requests.get(
            f"{emulator.base_url}/wp-json/wc/v3/orders",
            params={"per_page": 5, "page": page, "orderby": "modified", "order": "asc"},
            auth=(CONSUMER_KEY, CONSUMER_SECRET),
            timeout=10,
        )
        seen |= {str(order["id"]) for order in response.json()}
        pages, page = int(response.headers["X-WP-TotalPages"]), page + 1
    assert {order["id"] for order in dataset.orders} - seen


@pytest.mark.parametrize("cut_share", [0.05, 0.2, 0.45, 0.7, 0.95])
def test_a_read_killed_after_k_messages_and_resumed_from_its_last_state_ends_with_every_record(own_store, cut_share):
    emulator, dataset = own_store
    config = source_config(emulator.base_url, page_size=10)
    full = read_streams(config, *RESUMED)
    messages = [m for m in full.get_message_iterator() if m.type in (Type.RECORD, Type.STATE)]
    cut = max(1, int(len(messages) * cut_share))
    before: dict[str, set[str]] = defaultdict(set)
    state: dict[str, dict] = {}
    for message in messages[:cut]:
        if message.type == Type.RECORD:
            before[message.record.stream].add(message.record.data["id"])
        else:
            stream_state = message.state.stream
            state[stream_state.stream_descriptor.name] = stream_state.stream_state.__dict__
    resumed = read_streams(config, *RESUMED, state=state)
    assert not resumed.errors
    for stream in RESUMED:
        union = before[stream] | {record["id"] for record in records_of(resumed, stream)}
        assert union == {record["id"] for record in dataset.records(stream)}, stream


def test_refunds_come_dated_from_the_refunds_endpoint_one_call_per_refunded_order(own_store):
    emulator, dataset = own_store
    output = read_streams(source_config(emulator.base_url), "orders")
    refunded = {order["id"]: order for order in dataset.orders if order["refunds"]}
    assert refunded
    calls = requests.get(f"{emulator.base_url}/_sandbox/stats", timeout=10).json()["requests"]
    refund_calls = {path for path in calls if path.endswith("/refunds")}
    assert refund_calls == {f"/wp-json/wc/v3/orders/{order_id}/refunds" for order_id in refunded}
    for record in records_of(output, "orders"):
        expected = refunded.get(record["id"], {"refunds": []})["refunds"]
        got = sorted((r["id"], r["amount"], r["created_at"]) for r in record["refunds"])
        assert got == sorted((r["id"], pytest.approx(r["amount"]), r["created_at"]) for r in expected)


def test_malformed_records_are_emitted_with_change_notes_and_counted(own_store):
    emulator, dataset = own_store
    emulator.configure_faults(malformed_rate=0.25, seed=5)
    output = read_streams(source_config(emulator.base_url), "orders")
    assert not output.errors
    assert len(records_of(output, "orders")) == len(dataset.orders)
    noted = [m.record for m in output.records if m.record.meta and m.record.meta.changes]
    assert noted and all(record.data["extra"]["_changes"] for record in noted)
    assert {change.field for record in noted for change in record.meta.changes} <= {"total", "date_created_gmt"}
    assert output.is_in_logs(f"orders: {len(dataset.orders)} records emitted, {len(noted)} with nulled fields")


def test_lookback_window_rereads_changes_committed_before_the_cursor(shared_store):
    emulator, dataset = shared_store
    latest = max(order["updated_at"] for order in dataset.orders)
    state = {"orders": {"updated_at": latest}}
    week_before = (pendulum.parse(latest) - pendulum.duration(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wanted = {order["id"] for order in dataset.orders if order["updated_at"] >= week_before}
    config = source_config(emulator.base_url, lookback_window_seconds=7 * 86400)
    with_lookback = {record["id"] for record in records_of(read_streams(config, "orders", state=state), "orders")}
    without = records_of(read_streams(source_config(emulator.base_url), "orders", state=state), "orders")
    assert with_lookback == wanted
    assert {record["id"] for record in without} < wanted


def test_trashed_orders_are_requested_by_name_when_configured(shared_store):
    emulator, dataset = shared_store
    config = source_config(emulator.base_url, woocommerce={
        "base_url": emulator.base_url, "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
        "include_trashed_orders": True,
    })  # fmt: skip
    orders = next(s for s in woocommerce.streams(parse_config(config)) if s.name == "orders")
    orders._keyset = KeysetTraversal(orders.window.floor, orders.config.page_size)
    assert orders.request_params(stream_state={})["status"] == "any,trash"
    output = read_streams(config, "orders")
    assert not output.errors
    assert len(records_of(output, "orders")) == len(dataset.orders)


def test_two_stores_land_side_by_side_in_one_raw_layer_told_apart_by_store_id(shared_store, own_store, tmp_path):
    (first, first_data), (second, second_data) = shared_store, own_store
    warehouse = tmp_path / "warehouse.duckdb"
    for emulator, store_id in ((first, "eu-shop"), (second, "us-shop")):
        extract(source_config(emulator.base_url, store_id=store_id), warehouse, connection_name=store_id)
    with duckdb.connect(str(warehouse)) as db:
        rows = dict(db.execute("SELECT store_id, count(DISTINCT id) FROM raw_store.orders GROUP BY 1").fetchall())
    assert rows == {"eu-shop": len(first_data.orders), "us-shop": len(second_data.orders)}
