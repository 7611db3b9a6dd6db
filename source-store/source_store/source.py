"""SourceStore: the Airbyte source that reads any registered store platform into one canonical model."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.concurrency import ConcurrentStreamReader
from source_store.config import ConfigError, StoreConfig, parse_config
from source_store.platforms import Platform, get_platform
from source_store.timing import REAL_CLOCK, REAL_SLEEP, Clock, Sleep


class SourceStore(AbstractSource):
    """Streams customers, orders, abandoned_checkouts, events, products, companies, company_contacts.

    A platform module that offers `declarative_source(config, raw, catalog, state)` (custom REST)
    is read by the declarative source it generates; the others by their own streams, up to
    `max_concurrent_streams` of them at once (see `source_store.concurrency`).

    `sleep` is what every retry and throttle wait goes through and `clock` (epoch seconds) is the
    present a read ends at; both default to real time. Tests pass fakes, so nothing sleeps for real.
    """

    def __init__(self, *, sleep: Sleep = REAL_SLEEP, clock: Clock = REAL_CLOCK) -> None:
        super().__init__()
        self.sleep = sleep
        self.clock = clock

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        """The catalog of the platform's streams."""
        declarative = _declarative(config, sleep=self.sleep, clock=self.clock)
        if declarative is not None:
            source, runtime = declarative
            return source.discover(logger, runtime)
        return super().discover(logger, config)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        """Read the configured streams (delegating to a generated declarative source where there is one).

        One stream at a time is the CDK's own loop; more run that same loop once per stream in
        worker threads, sharing the stream instances (and so the store's request budget).
        """
        declarative = _declarative(config, catalog, state, sleep=self.sleep, clock=self.clock)
        if declarative is not None:
            source, runtime = declarative
            yield from source.read(logger, runtime, catalog, state)
            return
        workers = _load_or_fail(config)[1].max_concurrent_streams
        if workers <= 1 or len(catalog.streams) <= 1:
            yield from super().read(logger, config, catalog, state)
            return
        streams = {stream.name: stream for stream in self.streams(config)}
        yield from ConcurrentStreamReader(self.name, streams, workers).read(logger, config, catalog, state)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Report exactly what is wrong with the config or credentials, without quoting secrets."""
        succeeded, problem = self.check_connection(logger, config)
        if succeeded:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=str(problem))

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Validate the config, then let the platform make one cheap authenticated request."""
        try:
            platform, store_config = _load(config)
            problem = platform.check_connection(store_config, logger)
        except ConfigError as error:
            return False, str(error)
        return problem is None, problem

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        """The platform's streams; a bad config fails as a config error naming the field."""
        try:
            platform, store_config = _load(config)
            return platform.streams(store_config, sleep=self.sleep, clock=self.clock)
        except ConfigError as error:
            raise AirbyteTracedException(
                message=str(error), internal_message=str(error), failure_type=FailureType.config_error
            ) from error


def _declarative(
    config: Mapping[str, Any],
    catalog: ConfiguredAirbyteCatalog | None = None,
    state: list[AirbyteStateMessage] | None = None,
    *,
    sleep: Sleep = REAL_SLEEP,
    clock: Clock = REAL_CLOCK,
) -> tuple[Any, dict[str, Any]] | None:
    platform, store_config = _load_or_fail(config)
    build = getattr(platform, "declarative_source", None)
    if build is None:
        return None
    try:
        source = build(store_config, config, catalog, state, sleep=sleep, clock=clock)
    except ConfigError as error:
        raise AirbyteTracedException(
            message=str(error), internal_message=str(error), failure_type=FailureType.config_error
        ) from error
    return source, platform.runtime_config(store_config)


def _load_or_fail(config: Mapping[str, Any]) -> tuple[Platform, StoreConfig]:
    """`_load`, with a bad config failing the read as a config error that names the field."""
    try:
        return _load(config)
    except ConfigError as error:
        raise AirbyteTracedException(
            message=str(error), internal_message=str(error), failure_type=FailureType.config_error
        ) from error


def _load(config: Mapping[str, Any]) -> tuple[Platform, StoreConfig]:
    """The registered platform first (an unknown name is the first thing to report), then the config."""
    platform = get_platform(config.get("platform"))
    return platform, parse_config(config)
