"""Fixtures for the destination behaviour tests: a HubSpot CRM emulator and a config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from destination_messages import TOKEN

from store2crm.sandbox.crm_emulator import CrmEmulator


@pytest.fixture
def emulator() -> Iterator[CrmEmulator]:
    with CrmEmulator(dialect="hubspot", access_token=TOKEN, tier="starter") as running:
        yield running


@pytest.fixture
def config(emulator: CrmEmulator, tmp_path) -> dict[str, Any]:
    return {
        "crm": "hubspot",
        "hubspot": {"base_url": emulator.base_url, "access_token": TOKEN, "api_prefix": "/crm/v3"},
        "sync_state_path": str(tmp_path / "sync-state.duckdb"),
    }
