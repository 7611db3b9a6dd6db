"""The validated source config shared by every platform module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from source_store.cursor import parse_timestamp

DEFAULT_PAGE_SIZE = 100
DEFAULT_LOOKBACK_SECONDS = 0


@dataclass(frozen=True)
class StreamConcurrency:
    """How many streams of one store a platform may read at once: the default, the cap, and why that cap."""

    default: int
    maximum: int
    reason: str


STREAM_CONCURRENCY: dict[str, StreamConcurrency] = {
    "woocommerce": StreamConcurrency(
        2, 4, "WooCommerce publishes no rate limit and every request is PHP and MySQL work on the shop's own server"
    ),
    "magento": StreamConcurrency(
        2, 4, "Magento publishes no REST rate limit and every request is PHP and MySQL work on the store's own server"
    ),
    "shopify": StreamConcurrency(
        2,
        4,
        "all streams of a shop draw on one calculated-cost bucket per app and shop (the source reserves each query's "
        "points from it, so streams wait rather than being THROTTLED): beyond 4 streams only wait on the bucket, and "
        "bulk exports queue for the shop's one bulk query slot (five from API 2026-01)",
    ),
    "files": StreamConcurrency(1, 4, "files are read locally; parsing CSV and JSON Lines is CPU-bound Python"),
}
"""Per-platform limits of `max_concurrent_streams` (custom REST runs on airbyte-cdk's own concurrent source)."""


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
    max_concurrent_streams: int = 1


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
        max_concurrent_streams=_max_concurrent_streams(config, platform),
    )


def _max_concurrent_streams(config: Mapping[str, Any], platform: str) -> int:
    """The number of streams to read at once: the platform's default, or a value within its cap."""
    value = config.get("max_concurrent_streams")
    limits = STREAM_CONCURRENCY.get(platform)
    if limits is None:
        if value is not None:
            raise ConfigError(
                f"max_concurrent_streams does not apply to platform {platform!r}: its streams run on airbyte-cdk's "
                "ConcurrentDeclarativeSource at the CDK's own concurrency; remove the field"
            )
        return 1
    if value is None:
        return limits.default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"max_concurrent_streams must be a positive integer, got {value!r}")
    if value > limits.maximum:
        raise ConfigError(
            f"max_concurrent_streams is {value} but {platform} allows at most {limits.maximum} "
            f"({limits.reason}); set it to {limits.maximum} or less"
        )
    return value


def connection_text(config: StoreConfig, keys: tuple[str, ...]) -> dict[str, str]:
    """The named text fields of the platform's connection object, trimmed; a missing or blank one is named."""
    raw = config.connection
    for key in keys:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{config.platform}.{key} is required")
    return {key: raw[key].strip() for key in keys}


def connection_base_url(config: StoreConfig, expected: str) -> str:
    """The connection's (required) base_url without a trailing slash; anything but an http(s) URL is refused.

    `expected` says what it must be, with an example of the platform's URLs ("a URL such as https://...").
    """
    base_url = connection_text(config, ("base_url",))["base_url"].rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{config.platform}.base_url {base_url!r} is not {expected}")
    return base_url


def _required_str(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} is required and must be a non-empty string")
    return value.strip()
