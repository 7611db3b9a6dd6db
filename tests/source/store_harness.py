"""Shared helpers for the source-store tests: emulator settings, configs and protocol helpers."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airbyte_cdk.models import AirbyteConnectionStatus, ConfiguredAirbyteCatalog, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_store import SourceStore
from store2crm.sandbox.generator import STREAMS, Dataset, generate

CONSUMER_KEY = "ck_sandbox_0123456789"
CONSUMER_SECRET = "cs_sandbox_0123456789"
NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
SEED = 7
SCALE = 40


def free_port() -> int:
    """A loopback port free right now (the standard suite needs the URL at collection time)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SHARED_PORT = free_port()


def source_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    """A valid source config for an emulator at `base_url`."""
    config: dict[str, Any] = {
        "platform": "woocommerce",
        "store_id": "sandbox-eu",
        "start_date": "2020-01-01T00:00:00Z",
        "page_size": 25,
        "woocommerce": {
            "base_url": base_url,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
        },
    }
    config.update(overrides)
    return config


def new_dataset() -> Dataset:
    """The small deterministic store every test reads."""
    return generate(seed=SEED, scale=SCALE, now=NOW)


def catalog(*streams: str, sync_mode: SyncMode = SyncMode.incremental) -> ConfiguredAirbyteCatalog:
    """A configured catalog of `streams` (default: all seven)."""
    builder = CatalogBuilder()
    for name in streams or STREAMS:
        builder.with_stream(name, sync_mode)
    return builder.build()


def read_streams(config: dict[str, Any], *streams: str, state: dict[str, dict] | None = None) -> EntrypointOutput:
    """Run `read` in-process with an optional per-stream state."""
    state_builder = StateBuilder()
    for name, stream_state in (state or {}).items():
        state_builder.with_stream_state(name, stream_state)
    return read(SourceStore(), config, catalog(*streams), state_builder.build() if state else None)


def check(config: dict[str, Any]) -> AirbyteConnectionStatus:
    """Run `check` in-process through the Airbyte entrypoint and return its status."""
    with tempfile.TemporaryDirectory() as folder:
        config_file = make_file(Path(folder) / "config.json", config)
        output = _run_command(SourceStore(), ["check", "--config", config_file])
    [message] = output.connection_status_messages
    return message.connectionStatus


def records_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """The record payloads of one stream."""
    return [message.record.data for message in output.records if message.record.stream == stream]


def states_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """Every STATE emitted for one stream, in order, as plain dicts."""
    return [
        message.state.stream.stream_state.__dict__
        for message in output.state_messages
        if message.state.stream.stream_descriptor.name == stream
    ]
