"""Shopify-only behaviour against the emulator: cost throttling, bulk first syncs, long child lists, check."""

from __future__ import annotations

import logging

import pendulum
import pytest
from airbyte_cdk.models import FailureType, Status
from store_harness import NOW, SEED
from test_platform_suite import (
    CASES,
    SCALE,
    TOKEN,
    FakeClock,
    Store,
    injected_source,
    last_states,
    platform_config,
    records_of,
    start_store,
)

from source_store.platforms import shopify_queries
from store2crm.sandbox.generator import add_refund, generate
from store2crm.sandbox.server import Request, Response
from store2crm.sandbox.store_emulator import StoreEmulator
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


class LostAnswerEmulator(StoreEmulator):
    """Runs the first `bulkOperationRunQuery` it gets but answers 502, as when the reply is lost on the way back."""

    lost = 0

    def handle(self, request: Request) -> Response:
        """Start the export, then lose its answer once."""
        response = super().handle(request)
        if b"bulkOperationRunQuery" in request.body and not self.lost:
            self.lost += 1
            return Response(502, {"errors": "Bad Gateway"})
        return response


def test_a_bulk_export_whose_start_was_answered_with_an_error_is_adopted_not_started_twice():
    dataset = generate(seed=SEED, scale=SCALE, now=NOW)
    clock = FakeClock(NOW.add(days=1))
    options = {"plan": "plus", "bulk_polls": 3}  # export 1 is still RUNNING when the retried mutation arrives
    with LostAnswerEmulator(
        dataset, "shopify", consumer_secret=TOKEN, clock=clock, dialect_options=options
    ) as emulator:
        config = platform_config("shopify", emulator.base_url)
        running = Store(CASES["shopify"], emulator, dataset, clock, config)
        connection = {**config["shopify"], "bulk_first_sync": True, "bulk_poll_seconds": 1}
        output = running.read("orders", shopify=connection)
    assert not output.errors, output.get_formatted_error_message()
    assert emulator.lost == 1 and list(emulator.dialect.bulk.operations) == ["1"]  # the retry adopted export 1
    assert output.is_in_logs("already exports this query; adopting it")
    assert sorted(r["id"] for r in records_of(output, "orders")) == sorted(o["id"] for o in dataset.orders)


def test_a_bulk_export_of_something_else_is_waited_out_then_ours_runs():
    running = start_store("shopify", dialect_options={"plan": "plus", "bulk_polls": 4})
    try:
        other = "{ products { edges { node { id } } } }"
        running.emulator.dialect.bulk.run(other)  # a killed sync's export, still running
        connection = {**running.config["shopify"], "bulk_first_sync": True, "bulk_poll_seconds": 2}
        output = running.read("orders", shopify=connection)
        assert not output.errors, output.get_formatted_error_message()
        operations = running.emulator.dialect.bulk.operations
        assert operations["1"].query == other and len(operations) == 2
        assert operations["1"].status == "COMPLETED"  # waited for, not cancelled
        assert output.is_in_logs("waiting for it to end before starting ours")
        assert sorted(r["id"] for r in records_of(output, "orders")) == sorted(o["id"] for o in running.dataset.orders)
    finally:
        running.emulator.stop()


def give_many_refunds(dataset, count: int) -> dict:
    """The first order, refunded `count` times in small amounts (more than a page query's refund cap)."""
    order = dataset.orders[0]
    at = int(pendulum.parse(order["updated_at"]).timestamp())
    for number in range(count):
        add_refund(dataset, order, 1, f"refund {number}", at + number)
    dataset.version += 1
    return order


@pytest.mark.parametrize("bulk", [False, True], ids=["paged", "bulk"])
def test_an_order_with_more_refunds_than_the_page_cap_gets_them_all(bulk):
    running = start_store("shopify", dialect_options={"plan": "plus"})
    try:
        order = give_many_refunds(running.dataset, shopify_queries.REFUNDS_FIRST + 3)
        connection = {**running.config["shopify"], "bulk_first_sync": bulk, "bulk_poll_seconds": 1}
        output = running.read("orders", shopify=connection)
        assert not output.errors, output.get_formatted_error_message()
        [record] = [r for r in records_of(output, "orders") if r["id"] == order["id"]]
        assert [r["id"] for r in record["refunds"]] == [r["id"] for r in order["refunds"]]
        assert len(record["refunds"]) > shopify_queries.REFUNDS_FIRST
        others = {o["id"]: len(o["refunds"]) for o in running.dataset.orders if o is not order}
        assert {r["id"]: len(r["refunds"]) for r in records_of(output, "orders") if r["id"] in others} == others
    finally:
        running.emulator.stop()


def test_customers_carry_when_their_email_marketing_consent_last_changed(store):
    output = store.read("customers")
    records = records_of(output, "customers")
    assert records and not output.errors
    for record in records:  # the emulator records consent given at the customer's last update
        expected = record["updated_at"] if record["accepts_marketing"] else None
        assert record.get("marketing_consent_updated_at") == expected
    assert any(record["accepts_marketing"] for record in records)
