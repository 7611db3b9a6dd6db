"""Store platform modules: each maps its native API into the canonical model."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Protocol

from airbyte_cdk.sources.streams import Stream

from source_store.config import ConfigError, StoreConfig
from source_store.platforms import custom_rest, files, magento, shopify, woocommerce
from source_store.timing import Clock, Sleep


class Platform(Protocol):
    """What a platform module provides; add a module and register it below to add a platform."""

    NAME: str

    def streams(self, config: StoreConfig, *, sleep: Sleep = ..., clock: Clock = ...) -> list[Stream]:
        """Every canonical stream, read from this platform; its waits go through `sleep`, its present is `clock`."""
        ...

    def check_connection(self, config: StoreConfig, logger: logging.Logger) -> str | None:
        """One cheap authenticated request; what is wrong, or None."""
        ...


# Add a platform: import its module here and list it below (and give it a connection object in spec.json).
PLATFORMS: dict[str, ModuleType] = {
    module.NAME: module for module in (woocommerce, custom_rest, shopify, magento, files)
}


def get_platform(name: object) -> Platform:
    """The platform module registered under `name`; an unknown name lists the valid ones."""
    module = PLATFORMS.get(name)
    if module is None:
        raise ConfigError(f"unknown platform {name!r}; valid platforms: {', '.join(sorted(PLATFORMS))}")
    return module  # type: ignore[return-value]
