"""Fixtures for source-store behaviour and standard tests: a WooCommerce emulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from airbyte_cdk.test.standard_tests.pytest_hooks import pytest_generate_tests  # noqa: F401  (scenario params)
from store_harness import CONSUMER_KEY, CONSUMER_SECRET, SHARED_PORT, new_dataset

from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.store_emulator import StoreEmulator


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Image tests need a Docker daemon and a built image; `airbyte-cdk image test` runs them.
    kept = [item for item in items if item.get_closest_marker("image_tests") is None]
    deselected = [item for item in items if item.get_closest_marker("image_tests") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def shared_store() -> Iterator[tuple[StoreEmulator, Dataset]]:
    """One read-only emulator for the session, on the port the standard scenarios point at."""
    dataset = new_dataset()
    emulator = StoreEmulator(
        dataset, dialect="woocommerce", consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, port=SHARED_PORT
    )
    with emulator:
        yield emulator, dataset


@pytest.fixture
def own_store() -> Iterator[tuple[StoreEmulator, Dataset]]:
    """A private emulator for a test that changes the store's data."""
    dataset = new_dataset()
    emulator = StoreEmulator(dataset, dialect="woocommerce", consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)
    with emulator:
        yield emulator, dataset
