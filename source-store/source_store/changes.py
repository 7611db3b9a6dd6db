"""Change notes for values a platform sent unreadable (Destinations V2 `_airbyte_meta.changes` style)."""

from __future__ import annotations

CHANGES_KEY = "_changes"
"""Key in a canonical record's `extra` listing the fields nulled because the native value was unreadable."""


def nulled(field: str) -> dict[str, str]:
    """The note for a field whose native value could not be read and was set to null."""
    return {"field": field, "change": "NULLED", "reason": "PLATFORM_SERIALIZATION_ERROR"}
