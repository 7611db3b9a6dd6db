"""Registry of store API dialects the emulator can speak, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.store_emulator.base import Dialect, DialectSettings
from store2crm.sandbox.store_emulator.magento import MagentoDialect
from store2crm.sandbox.store_emulator.proprietary import ProprietaryDialect
from store2crm.sandbox.store_emulator.shopify import ShopifyDialect
from store2crm.sandbox.store_emulator.woocommerce import WooCommerceDialect

DialectFactory = Callable[[Dataset, DialectSettings], Dialect]
DIALECTS: dict[str, DialectFactory] = {
    "magento": MagentoDialect,
    "proprietary": ProprietaryDialect,
    "shopify": ShopifyDialect,
    "woocommerce": WooCommerceDialect,
}


class UnknownDialectError(ValueError):
    """Raised for a dialect name that is not registered."""


def dialect_names() -> list[str]:
    """Names of the registered dialects, sorted."""
    return sorted(DIALECTS)


def get_dialect(name: str) -> DialectFactory:
    """The factory for a dialect name; an unknown name fails with the list of valid ones."""
    if name not in DIALECTS:
        raise UnknownDialectError(f"unknown store dialect {name!r}; valid dialects: {', '.join(dialect_names())}")
    return DIALECTS[name]
