"""airbyte-cdk standard source tests (spec, check, discover, read) against the WooCommerce emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from store_harness import SHARED_PORT, source_config

from source_store import SourceStore

CONNECTOR_ROOT = Path(__file__).resolve().parents[2] / "source-store"


def _scenario(scenario_id: str, config: dict, **fields: object) -> ConnectorTestScenario:
    scenario = ConnectorTestScenario(config_dict=config, **fields)
    scenario._id = scenario_id  # stable test ids: the config holds a per-run port
    return scenario


class TestSourceStore(SourceTestSuiteBase):
    """The CDK's suite; scenarios are built here because the emulator's port is chosen per run."""

    connector = SourceStore

    @pytest.fixture(autouse=True)
    def _store_running(self, shared_store: object) -> None:
        """Every standard test reads the session's emulator."""

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        """The connector lives in source-store/, not beside this test file."""
        return CONNECTOR_ROOT

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        """A working config (every command) and one with a wrong secret (check must fail)."""
        base_url = f"http://127.0.0.1:{SHARED_PORT}"
        good = source_config(base_url)
        wrong_secret = source_config(base_url)
        wrong_secret["woocommerce"] = {**good["woocommerce"], "consumer_secret": "cs_wrong_secret_value"}
        return [
            _scenario("woocommerce_emulator", good),
            _scenario("wrong_secret", wrong_secret, status="failed", sections=("connection",)),
        ]
