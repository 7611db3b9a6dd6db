"""CRM emulator: a stateful CRM API on loopback, one module per vendor dialect (HubSpot today)."""

from __future__ import annotations

from store2crm.sandbox.crm_emulator.emulator import (
    DEFAULT_ACCESS_TOKEN,
    DIALECTS,
    CrmEmulator,
    UnknownDialectError,
    serve_crm,
)

__all__ = ["DEFAULT_ACCESS_TOKEN", "DIALECTS", "CrmEmulator", "UnknownDialectError", "serve_crm"]
