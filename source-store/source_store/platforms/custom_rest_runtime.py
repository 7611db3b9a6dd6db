"""The declarative source custom REST runs on: the CDK's own, with an injectable retry wait and change notes.

Two things the CDK's `ConcurrentDeclarativeSource` does not offer are added without touching its
read loop:

- **Injectable waits.** The declarative `HttpRequester` builds a plain `HttpClient`, whose retries
  wait in `backoff` decorators calling `time.sleep` (see `retrying_client`). The source's
  component factory maps each manifest model to the method that builds it
  (`PYDANTIC_MODEL_TO_CONSTRUCTOR`); this source wraps the `HttpRequester` entry of its own
  factory so every requester it builds gets a `SleepInjectedHttpClient` with the same error
  handler, backoff strategies, authenticator and budget. Nothing global is patched.
- **Change notes.** A declarative record is a plain mapping, so the notes `CanonicalMapping` writes
  into `extra._changes` are copied onto the RECORD message's `meta.changes` (what Destinations V2
  land in `_airbyte_meta`); a record mapped without an id is skipped with an error, and each
  stream's counts are logged when the read ends.
- **One STATE per change.** A windowed cursor closes a window at a time and the CDK emits a STATE
  for each, also when it repeats the last one (empty windows keep the latest record's cursor).
  Repeats are dropped: they checkpoint nothing, and each costs the raw layer a transaction.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    Type,
)
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.models.declarative_component_schema import HttpRequester as HttpRequesterModel
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester

from source_store.changes import change_meta
from source_store.retrying_client import SleepInjectedHttpClient
from source_store.timing import Sleep

CURSOR_FIELDS = {"events": "occurred_at"}  # every other stream's cursor is updated_at


class StoreDeclarativeSource(ConcurrentDeclarativeSource):
    """`ConcurrentDeclarativeSource` whose HTTP retries wait through `sleep` and whose records carry change notes."""

    def __init__(self, *, sleep: Sleep, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        inject_sleep(self._constructor, sleep)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        """The CDK's read, with change notes on RECORD messages and per-stream counts logged at the end."""
        counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        last_states: dict[tuple[str, str | None], Any] = {}
        for message in super().read(logger, config, catalog, state):
            if message.type == Type.STATE and repeats_last_state(message.state, last_states):
                continue
            if message.type == Type.RECORD and message.record is not None:
                record = message.record
                if record.data.get("id") is None:
                    counts[record.stream]["skipped"] += 1
                    logger.error(f"{record.stream}: a record without an id (fields.id read nothing) was skipped")
                    continue
                counts[record.stream].update(annotate(record))
            yield message
        for stream, count in sorted(counts.items()):
            logger.info(
                f"{stream}: {count['emitted']} records emitted, {count['with_changes']} with nulled fields, "
                f"{count['no_cursor']} without a usable cursor, {count['skipped']} skipped without an id"
            )


def repeats_last_state(state: AirbyteStateMessage | None, last_states: dict[tuple[str, str | None], Any]) -> bool:
    """Whether this per-stream STATE equals the last one of its stream; remembers it when it does not."""
    stream = state.stream if state is not None else None
    if stream is None:
        return False
    key = (stream.stream_descriptor.name, stream.stream_descriptor.namespace)
    value = stream.stream_state.__dict__ if stream.stream_state is not None else None
    if key in last_states and last_states[key] == value:
        return True
    last_states[key] = dict(value) if value is not None else None
    return False


def inject_sleep(factory: ModelToComponentFactory, sleep: Sleep) -> None:
    """Make every HttpRequester this factory builds retry through `sleep`."""
    constructors = factory.PYDANTIC_MODEL_TO_CONSTRUCTOR
    build_requester: Callable[..., HttpRequester] = constructors[HttpRequesterModel]

    def build_sleep_injected_requester(*args: Any, **kwargs: Any) -> HttpRequester:
        requester = build_requester(*args, **kwargs)
        requester._http_client = sleep_injected_client(requester, sleep)
        return requester

    constructors[HttpRequesterModel] = build_sleep_injected_requester  # type: ignore[index]


def sleep_injected_client(requester: HttpRequester, sleep: Sleep) -> SleepInjectedHttpClient:
    """The HttpClient `HttpRequester.__post_init__` builds, with its retry wait going through `sleep`."""
    timeouts = (requester.connect_timeout_in_seconds, requester.read_timeout_in_seconds)
    return SleepInjectedHttpClient(
        name=requester.name,
        logger=requester.logger,
        error_handler=requester.error_handler,
        api_budget=requester.api_budget,
        authenticator=requester.get_authenticator(),
        use_cache=requester.use_cache,
        backoff_strategy=getattr(requester.error_handler, "backoff_strategies", None),
        disable_retries=requester.disable_retries,
        message_repository=requester.message_repository,
        request_timeout=timeouts if any(value is not None for value in timeouts) else None,
        use_tcp_keepalive=requester.use_tcp_keepalive,
        sleep=sleep,
    )


def annotate(record: AirbyteRecordMessage) -> list[str]:
    """Copy the record's `extra._changes` onto `meta.changes`; what the record counts for in the stream's log line."""
    data = record.data
    counted = ["emitted"]
    meta = change_meta(data)
    if meta is not None:
        counted.append("with_changes")
        record.meta = meta
    if data.get(CURSOR_FIELDS.get(record.stream, "updated_at")) is None:
        counted.append("no_cursor")
    return counted
