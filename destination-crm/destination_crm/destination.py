"""The Airbyte destination: spec, check and write of the crm_* streams into a CRM."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pendulum
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Level,
    Status,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms import build_crm
from destination_crm.crms.base import CrmModule
from destination_crm.http import Sleep
from destination_crm.sink import BatchSink
from destination_crm.state_store import Clock, RunCounts, StateStore

DEFAULT_SYNC_STATE_PATH = "store2crm-sync-state.duckdb"
# `store2crm load` finds the run's counts by this prefix on a LOG message.
SUMMARY_PREFIX = "store2crm-summary "


class DestinationCrm(Destination):
    """Upserts crm_companies, crm_contacts and crm_deals into the configured CRM."""

    def __init__(self, *, sleep: Sleep = time.sleep, now: Clock = lambda: pendulum.now("UTC")) -> None:
        self._sleep = sleep
        self._now = now

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Open the sync-state store and make one authenticated CRM call; say what is wrong if either fails."""
        try:
            crm = build_crm(config, sleep=self._sleep, logger=logger)
            batch_size(config, crm)
            open_store(config, self._now).close()
            crm.check()
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        """Upsert the records; echo each STATE once every record before it is accepted or counted failed."""
        logger = logging.getLogger("airbyte")
        crm = build_crm(config, sleep=self._sleep, logger=logger)
        size = batch_size(config, crm)
        require_supported_streams(configured_catalog, crm)
        with open_store(config, self._now) as store:
            run_id = store.start_run(crm.target)
            sink = BatchSink(crm, store, batch_size=size)
            try:
                for message in input_messages:
                    if message.type == Type.RECORD and message.record is not None:
                        sink.add(message.record.stream, message.record.data)
                    elif message.type == Type.STATE:
                        sink.flush()
                        yield from sink.drain_messages()
                        yield message
                    yield from sink.drain_messages()
                sink.flush()
                yield from sink.drain_messages()
            except Exception as exc:
                store.finish_run(run_id, final_counts(sink, crm), error=str(exc))
                raise
            store.finish_run(run_id, final_counts(sink, crm))
        yield summary_message(sink.counts)


def batch_size(config: Mapping[str, Any], crm: CrmModule) -> int:
    """The configured batch size, at most the CRM's cap (the cap when unset)."""
    size = config.get("batch_size") or crm.batch_cap
    if not isinstance(size, int) or not 1 <= size <= crm.batch_cap:
        raise AirbyteTracedException(
            message=f"batch_size must be a whole number from 1 to {crm.batch_cap} for {crm.name}, got {size!r}",
            failure_type=FailureType.config_error,
        )
    return size


def open_store(config: Mapping[str, Any], now: Clock) -> StateStore:
    """Open the sync-state store the config names (a DuckDB file in the working directory by default)."""
    path = config.get("sync_state_path") or DEFAULT_SYNC_STATE_PATH
    try:
        return StateStore(path, now=now)
    except (duckdb.Error, OSError) as exc:
        raise AirbyteTracedException(
            message=f"cannot open the sync-state store at sync_state_path {path!r}: {exc}",
            failure_type=FailureType.config_error,
        ) from exc


def require_supported_streams(catalog: ConfiguredAirbyteCatalog, crm: CrmModule) -> None:
    """Fail before writing anything when the catalog holds a stream the CRM module cannot map."""
    unknown = sorted({s.stream.name for s in catalog.streams} - set(crm.streams))
    if unknown:
        raise AirbyteTracedException(
            message=f"{crm.name} cannot write stream(s) {', '.join(unknown)}: it writes {', '.join(crm.streams)}",
            failure_type=FailureType.config_error,
        )


def final_counts(sink: BatchSink, crm: CrmModule) -> RunCounts:
    """The sink's counts with the CRM's final call count and quota."""
    sink.counts.api_calls = crm.api_calls
    sink.counts.quota_remaining = crm.quota_remaining
    return sink.counts


def summary_message(counts: RunCounts) -> AirbyteMessage:
    """One LOG line `store2crm-summary {json}` with the run's counts."""
    text = SUMMARY_PREFIX + json.dumps(counts.as_dict(), separators=(",", ":"))
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=text))
