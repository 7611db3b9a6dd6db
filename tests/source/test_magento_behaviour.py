"""Magento-only behaviour against the emulator: the repeated last page, request counts, check."""

from __future__ import annotations

import logging
import math

import pytest
from airbyte_cdk.models import FailureType, Status
from test_platform_suite import TOKEN, injected_source, records_of, start_store


@pytest.fixture
def store():
    running = start_store("magento")
    yield running
    running.emulator.stop()


@pytest.mark.parametrize("page_size", [5, 10, 11])
def test_the_repeated_last_page_neither_duplicates_nor_loops(store, page_size):
    output = store.read("orders", page_size=page_size)
    assert not output.errors, output.get_formatted_error_message()
    ids = [r["id"] for r in records_of(output, "orders")]
    assert len(ids) == len(set(ids)) == len(store.dataset.orders)
    # one keyset page per page_size orders, one credit-memo lookup per page, nothing past the end
    pages = math.ceil(len(store.dataset.orders) / page_size)
    assert store.emulator._requests["/rest/V1/orders"] == pages
    assert store.emulator._requests["/rest/V1/creditmemos"] == pages


def test_orders_sharing_one_updated_at_across_pages_are_all_read(store):
    tied = sorted(store.dataset.orders, key=lambda o: o["updated_at"])[-12:]
    for order in tied:
        order["updated_at"] = "2026-10-31T12:00:00Z"
    store.dataset.version += 1
    output = store.read("orders", page_size=5, state={"orders": {"updated_at": "2026-10-31T12:00:00Z"}})
    assert sorted(r["id"] for r in records_of(output, "orders")) == sorted(o["id"] for o in tied)


def test_check_names_a_rejected_token_without_quoting_it(store):
    config = {**store.config, "magento": {**store.config["magento"], "access_token": "wrong-token"}}
    status = injected_source(store.clock).check(logging.getLogger("test"), config)
    assert status.status == Status.FAILED
    assert "integration token rejected by 127.0.0.1:" in status.message and "Integrations" in status.message
    assert "wrong-token" not in status.message and TOKEN not in status.message
    assert injected_source(store.clock).check(logging.getLogger("test"), store.config).status == Status.SUCCEEDED


def test_read_with_a_rejected_token_fails_as_a_config_error(store):
    output = store.read("customers", magento={**store.config["magento"], "access_token": "wrong-token"})
    error = output.errors[0].trace.error
    assert error.failure_type == FailureType.config_error
    assert "Magento_Customer::customer" in error.message and "wrong-token" not in output.get_formatted_error_message()
