"""`python -m source_store spec|check|discover|read ...`."""

from __future__ import annotations

from source_store.run import run

run()
