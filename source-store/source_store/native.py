"""Read a native (platform) record field by field; whatever is never read becomes its `extra`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from source_store.changes import CHANGES_KEY, nulled
from source_store.cursor import format_timestamp, parse_timestamp


class UnmappableRecordError(ValueError):
    """A native record that cannot become a canonical record at all (it has no id)."""


class NativeRecord:
    """One native record: typed reads mark keys as used; unreadable values stay raw in `extra`.

    A value that cannot be converted is left unread, so it survives in `extra` exactly as the
    platform sent it, and a change note (Destinations V2 `_airbyte_meta` style) is listed
    under `extra._changes`. Nested values are read with `at("a.b.c")`: the top-level key is
    marked read, so callers must only dig into objects they map completely or keep elsewhere.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.changes: list[dict[str, str]] = []
        self._read: set[str] = set()

    def take(self, key: str) -> Any:
        """The raw value of `key`, marked as read."""
        self._read.add(key)
        return self.raw.get(key)

    def at(self, path: str) -> Any:
        """The value at a dotted path (`totalPriceSet.shopMoney.amount`); marks its top-level key read."""
        head, *rest = path.split(".")
        value: Any = self.take(head)
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def text(self, path: str) -> str | None:
        """A string; empty becomes None."""
        return to_text(self.at(path))

    def converted(self, path: str, convert: Callable[[Any], Any]) -> Any:
        """`convert(value)`; a value that does not convert is noted, nulled, and kept in `extra`."""
        head = path.split(".", maxsplit=1)[0]
        value = self.at(path)
        if value is None or value == "":
            return None
        result = convert(value)
        if result is None:
            self._read.discard(head)
            self.changes.append(nulled(path))
        return result

    def money(self, path: str) -> float | None:
        """A decimal string or number as a JSON number."""
        return self.converted(path, to_money)

    def timestamp(self, path: str) -> str | None:
        """A timestamp as UTC ISO 8601 with Z (platform GMT values without offset are UTC)."""
        return self.converted(path, to_timestamp)

    def extra(self, **additions: Any) -> dict[str, Any]:
        """Every field not read (plus `additions`), with change notes under `_changes`."""
        leftovers = {key: value for key, value in self.raw.items() if key not in self._read}
        leftovers.update({key: value for key, value in additions.items() if value not in (None, [], {})})
        if self.changes:
            leftovers[CHANGES_KEY] = self.changes
        return leftovers


def to_text(value: Any) -> str | None:
    """A trimmed string, or None for empty values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def to_money(value: Any) -> float | None:
    """A finite decimal as float, else None."""
    if isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return float(amount) if amount.is_finite() else None


def to_timestamp(value: Any) -> str | None:
    """Canonical UTC timestamp text, else None (MySQL zero dates included)."""
    moment = parse_timestamp(value)
    return format_timestamp(moment) if moment else None


def to_date(value: Any) -> str | None:
    """An ISO date (`YYYY-MM-DD`, a time part is dropped), else None."""
    try:
        return date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        return None


def to_int(value: Any) -> int | None:
    """An integer, else None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
