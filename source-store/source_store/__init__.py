"""Airbyte source for e-commerce stores: one canonical model whatever the platform."""

from __future__ import annotations

from source_store.source import SourceStore

__all__ = ["SourceStore"]
