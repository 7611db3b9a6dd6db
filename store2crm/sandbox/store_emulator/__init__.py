"""Store emulator: serves generated data in a store platform's API dialect."""

from store2crm.sandbox.store_emulator.dialects import DIALECTS, UnknownDialectError, dialect_names, get_dialect
from store2crm.sandbox.store_emulator.emulator import StoreEmulator, serve_store
from store2crm.sandbox.store_emulator.faults import FaultSettings

__all__ = [
    "DIALECTS",
    "FaultSettings",
    "StoreEmulator",
    "UnknownDialectError",
    "dialect_names",
    "get_dialect",
    "serve_store",
]
