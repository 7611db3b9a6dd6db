"""source-store behaviour through the Airbyte protocol against the WooCommerce emulator."""

from __future__ import annotations

import math

import pendulum
import pytest
from airbyte_cdk.models import FailureType, Status
from store_harness import (
    CONSUMER_SECRET,
    check,
    free_port,
    read_streams,
    records_of,
    source_config,
    states_of,
)

from source_store.platforms import PLATFORMS
from store2crm.sandbox.generator import STREAMS

CURSOR = {stream: "occurred_at" if stream == "events" else "updated_at" for stream in STREAMS}


@pytest.fixture
def store(shared_store):
    emulator, dataset = shared_store
    return emulator, dataset, source_config(emulator.base_url)


def test_full_read_returns_every_record_of_every_stream_once(store):
    _, dataset, config = store
    output = read_streams(config)
    assert not output.errors
    for stream in STREAMS:
        ids = [record["id"] for record in records_of(output, stream)]
        assert sorted(ids) == sorted(record["id"] for record in dataset.records(stream)), stream


def test_records_carry_platform_store_id_and_canonical_values(store):
    _, dataset, config = store
    output = read_streams(config, "orders")
    expected = {order["id"]: order for order in dataset.orders}
    for record in records_of(output, "orders"):
        assert record["platform"] == "woocommerce"
        assert record["store_id"] == "sandbox-eu"
        source = expected[record["id"]]
        assert record["updated_at"] == source["updated_at"]
        assert record["total"] == pytest.approx(source["total"])
        assert record.get("customer_id") == source["customer_id"]
        assert [refund["amount"] for refund in record["refunds"]] == [r["amount"] for r in source["refunds"]]


def test_state_is_emitted_after_every_page(store):
    _, dataset, config = store
    output = read_streams({**config, "page_size": 10}, "orders")
    pages = math.ceil(len(dataset.orders) / 10)
    states = states_of(output, "orders")
    assert len(states) >= pages
    cursors = [state["updated_at"] for state in states]
    assert cursors == sorted(cursors)
    assert cursors[-1] == max(order["updated_at"] for order in dataset.orders)


def test_second_read_with_last_state_returns_only_records_at_or_after_the_cursor(own_store):
    emulator, dataset = own_store
    config = source_config(emulator.base_url)
    first = read_streams(config, "orders", "events", "customers")
    state = {stream: states_of(first, stream)[-1] for stream in ("orders", "events", "customers")}
    changed = dataset.mutate(count=10, now=dataset_now(dataset))
    second = read_streams(config, "orders", "events", "customers", state=state)
    assert not second.errors
    for stream in ("orders", "events", "customers"):
        cursor = state[stream][CURSOR[stream]]
        records = records_of(second, stream)
        assert all(record[CURSOR[stream]] >= cursor for record in records), stream
    changed_ids = {(stream, record_id) for stream, record_id in changed if stream in ("orders", "customers")}
    read_ids = {(stream, r["id"]) for stream in ("orders", "customers") for r in records_of(second, stream)}
    assert changed_ids <= read_ids


def test_records_sharing_the_cursor_second_across_a_page_boundary_are_not_lost(own_store):
    emulator, dataset = own_store
    config = source_config(emulator.base_url, page_size=5)
    shared_second = "2026-10-31T12:00:00Z"
    tied = sorted(dataset.orders, key=lambda order: order["updated_at"])[-8:]
    for order in tied:
        order["updated_at"] = shared_second
    dataset.version += 1
    state = {"orders": {"updated_at": shared_second}}
    output = read_streams(config, "orders", state=state)
    assert {record["id"] for record in records_of(output, "orders")} == {order["id"] for order in tied}


def test_state_in_the_future_returns_nothing(store):
    _, _, config = store
    future = {"updated_at": "2099-01-01T00:00:00Z"}
    state = {stream: {CURSOR[stream]: future["updated_at"]} for stream in STREAMS}
    output = read_streams(config, state=state)
    assert not output.errors
    assert output.records == []
    assert states_of(output, "orders")[-1] == future


def test_customers_full_scan_moves_state_only_when_the_scan_ends(store):
    _, dataset, config = store
    start = {"updated_at": "2020-01-01T00:00:00Z"}
    output = read_streams({**config, "page_size": 10}, "customers", state={"customers": start})
    states = states_of(output, "customers")
    final = {"updated_at": max(c["updated_at"] for c in dataset.customers)}
    unmoved = states.index(final)
    assert unmoved >= math.ceil(len(dataset.customers) / 10) - 1
    assert states == [start] * unmoved + [final] * (len(states) - unmoved)


def test_check_succeeds_with_the_right_key(store):
    _, _, config = store
    assert check(config).status == Status.SUCCEEDED


def test_check_names_rejected_credentials_without_quoting_them(store):
    emulator, _, config = store
    config["woocommerce"] = {**config["woocommerce"], "consumer_secret": "cs_not_the_right_one"}
    status = check(config)
    assert status.status == Status.FAILED
    host = emulator.base_url.removeprefix("http://")
    assert status.message == (
        f"consumer key/secret rejected by {host}; create a read key in WooCommerce → Settings → Advanced → REST API"
    )
    assert "cs_not_the_right_one" not in status.message
    assert CONSUMER_SECRET not in status.message


def test_check_names_an_unreachable_store():
    status = check(source_config(f"http://127.0.0.1:{free_port()}"))
    assert status.status == Status.FAILED
    assert status.message.startswith("cannot reach 127.0.0.1:")


def test_read_with_rejected_credentials_fails_as_a_config_error(store):
    _, _, config = store
    config["woocommerce"] = {**config["woocommerce"], "consumer_secret": "cs_not_the_right_one"}
    output = read_streams(config, "orders")
    errors = [message.trace.error for message in output.errors]
    assert errors[0].failure_type == FailureType.config_error
    assert errors[0].message.startswith("consumer key/secret rejected by 127.0.0.1:")
    assert "cs_not_the_right_one" not in str(output.get_formatted_error_message())


def test_unknown_platform_fails_listing_valid_platforms(store):
    _, _, config = store
    status = check({**config, "platform": "shopfy"})
    assert status.status == Status.FAILED
    assert f"'shopfy' is not one of {sorted(PLATFORMS)}" in status.message


def dataset_now(dataset):
    """A moment after every generated change, so mutations sort last."""
    return pendulum.parse(max(order["updated_at"] for order in dataset.orders)).add(minutes=5)
