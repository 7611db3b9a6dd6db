"""Shopify-only behaviour against the emulator: cost throttling, bulk first syncs, long child lists, check."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.models import FailureType, Status
from test_platform_suite import TOKEN, injected_source, last_states, records_of, start_store

from source_store.platforms import shopify_queries
from store2crm.sandbox.store_emulator import shopify_bulk as emulated_bulk


@pytest.fixture
def store():
    running = start_store("shopify")  # Standard plan: 2000-point bucket, 100 points/s
    yield running
    running.emulator.stop()


def test_a_full_read_waits_for_the_cost_bucket_and_is_never_throttled(store):
    output = store.read()
    assert not output.errors
    assert not output.is_in_logs("THROTTLED")
    assert store.clock.waits and all(wait > 0 for wait in store.clock.waits)


def test_long_child_lists_are_fetched_on_until_complete(store, monkeypatch):
    monkeypatch.setattr(shopify_queries, "LINE_ITEMS_FIRST", 1)
    monkeypatch.setattr(shopify_queries, "FOLLOW_UP_FIRST", 1)
    output = store.read("orders")
    expected = {o["id"]: sorted(i["id"] for i in o["line_items"]) for o in store.dataset.orders}
    assert {r["id"]: sorted(i["id"] for i in r["line_items"]) for r in records_of(output, "orders")} == expected
    assert max(len(items) for items in expected.values()) > 1


def test_first_sync_by_bulk_operation_then_incremental_pages():
    running = start_store("shopify", dialect_options={"bulk_polls": 3, "plan": "plus"})
    try:
        connection = {**running.config["shopify"], "bulk_first_sync": True, "bulk_poll_seconds": 2}
        config = {**running.config, "shopify": connection}
        output = running.read("orders", "customers", shopify=connection)
        assert not output.errors, output.get_formatted_error_message()
        assert sorted(r["id"] for r in records_of(output, "orders")) == sorted(o["id"] for o in running.dataset.orders)
        items = {r["id"]: len(r["line_items"]) for r in records_of(output, "orders")}
        assert items == {o["id"]: len(o["line_items"]) for o in running.dataset.orders}
        assert running.clock.waits.count(2) >= 2  # polled currentBulkOperation, waiting between polls
        assert running.emulator._requests["/bulk-operation-results/1.jsonl"] == 1
        state = last_states(output.records_and_state_messages)
        assert state["orders"]["updated_at"] == max(o["updated_at"] for o in running.dataset.orders)
        again = running.read("orders", state=state, **{"shopify": config["shopify"]})
        assert running.emulator._requests["/bulk-operation-results/3.jsonl"] == 0  # incremental reads page
        assert {r["id"] for r in records_of(again, "orders")} <= {o["id"] for o in running.dataset.orders}
    finally:
        running.emulator.stop()


def test_a_bulk_export_still_running_when_first_polled_is_read_whole(monkeypatch):
    """The emulator exports in the background, a few orders per batch: the source polls RUNNING until COMPLETED."""
    monkeypatch.setattr(emulated_bulk, "EXPORT_BATCH", 3)
    running = start_store("shopify", dialect_options={"plan": "plus"})
    try:
        connection = {**running.config["shopify"], "bulk_first_sync": True, "bulk_poll_seconds": 1}
        output = running.read("orders", shopify=connection)
        assert not output.errors, output.get_formatted_error_message()
        assert sorted(r["id"] for r in records_of(output, "orders")) == sorted(o["id"] for o in running.dataset.orders)
        assert len(running.dataset.orders) > 3 * emulated_bulk.EXPORT_BATCH
        assert running.emulator._requests["/bulk-operation-results/1.jsonl"] == 1
    finally:
        running.emulator.stop()


def test_check_names_a_rejected_token_without_quoting_it(store):
    config = {**store.config, "shopify": {**store.config["shopify"], "access_token": "shpat_wrong"}}
    status = injected_source(store.clock).check(logging.getLogger("test"), config)
    assert status.status == Status.FAILED
    assert status.message.startswith("access token rejected by 127.0.0.1:")
    assert "read_orders" in status.message and "shpat_wrong" not in status.message and TOKEN not in status.message
    assert injected_source(store.clock).check(logging.getLogger("test"), store.config).status == Status.SUCCEEDED


def test_read_with_a_rejected_token_fails_as_a_config_error(store):
    output = store.read("orders", shopify={**store.config["shopify"], "access_token": "shpat_wrong"})
    [error] = [m.trace.error for m in output.errors][:1]
    assert error.failure_type == FailureType.config_error
    assert "shpat_wrong" not in output.get_formatted_error_message()
