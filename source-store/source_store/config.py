"""The validated source config shared by every platform module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from source_store.cursor import parse_timestamp

DEFAULT_PAGE_SIZE = 100
DEFAULT_LOOKBACK_SECONDS = 0


class ConfigError(ValueError):
    """A config the user must fix; the message names the field and never holds a secret."""


@dataclass(frozen=True)
class StoreConfig:
    """Platform-independent settings plus the chosen platform's own connection object."""

    platform: str
    store_id: str
    start_date: datetime
    page_size: int
    lookback: timedelta
    connection: Mapping[str, Any]
    requests_per_second: float | None = None


def parse_config(config: Mapping[str, Any]) -> StoreConfig:
    """Validate the common fields of a raw config; the platform module checks `connection`."""
    platform = _required_str(config, "platform")
    start_date = parse_timestamp(config.get("start_date"))
    if start_date is None:
        raise ConfigError("start_date must be an ISO 8601 UTC timestamp such as 2024-01-01T00:00:00Z")
    page_size = config.get("page_size", DEFAULT_PAGE_SIZE)
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise ConfigError(f"page_size must be a positive integer, got {page_size!r}")
    lookback = config.get("lookback_window_seconds", DEFAULT_LOOKBACK_SECONDS)
    if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 0:
        raise ConfigError(f"lookback_window_seconds must be a non-negative integer, got {lookback!r}")
    rate = config.get("requests_per_second")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
        raise ConfigError(f"requests_per_second must be a positive number, got {rate!r}")
    connection = config.get(platform)
    if not isinstance(connection, Mapping):
        raise ConfigError(f"platform is {platform!r} but the config has no {platform!r} connection object")
    return StoreConfig(
        platform=platform,
        store_id=_required_str(config, "store_id"),
        start_date=start_date,
        page_size=page_size,
        lookback=timedelta(seconds=lookback),
        connection=connection,
        requests_per_second=float(rate) if rate is not None else None,
    )


def _required_str(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} is required and must be a non-empty string")
    return value.strip()
