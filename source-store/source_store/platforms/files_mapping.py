"""Canonical records from export rows: columns named like canonical fields map themselves, `fields` overrides.

A `fields` rule is the custom REST platform's (dotted path, or `{"path", "cast" | "date_format" |
"cents"}`, `{"join", "separator"}`, `{"value"}`); every mapped value is then typed by the
canonical JSON schema, so CSV text becomes numbers, booleans, timestamps and (from JSON text in
a cell) objects and arrays. A value that does not fit is nulled, kept raw in `extra`, and noted
in `extra._changes`; columns without a canonical home land in `extra` unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from source_store.changes import CHANGES_KEY, nulled
from source_store.native import to_date, to_int, to_money, to_text, to_timestamp
from source_store.platforms.custom_rest import map_field

SET_BY_SOURCE = frozenset({"platform", "store_id", "extra"})
TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0"})


@cache
def canonical_fields(stream: str) -> dict[str, Mapping[str, Any]]:
    """The canonical schema's properties of `stream` that a file may fill (not platform, store_id, extra)."""
    schema = json.loads(resources.files("source_store").joinpath(f"schemas/{stream}.json").read_text())
    return {name: spec for name, spec in schema["properties"].items() if name not in SET_BY_SOURCE}


def canonical_streams() -> list[str]:
    """Every canonical stream name (one JSON schema each)."""
    folder = resources.files("source_store").joinpath("schemas")
    return sorted(entry.name.removesuffix(".json") for entry in folder.iterdir() if entry.name.endswith(".json"))


def source_column(rule: Any, columns: Mapping[str, Any] | None = None) -> str | None:
    """The top-level column a rule reads (None for `join` and `value` rules).

    A rule naming a column that exists as such (`contact.mail` in a CSV header) reads that column whole.
    """
    if isinstance(rule, str) and columns is not None and rule in columns:
        return rule
    path = rule if isinstance(rule, str) else rule.get("path") if isinstance(rule, Mapping) else None
    return str(path).split(".", maxsplit=1)[0] if path else None


class RowMapper:
    """Maps one export row onto the canonical record of `stream` (see the module docstring)."""

    def __init__(self, stream: str, fields: Mapping[str, Any]) -> None:
        self.schema = canonical_fields(stream)
        self.fields = dict(fields)

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical record (without platform and store_id); ValueError when it has no id."""
        rules: dict[str, Any] = {name: name for name in self.schema if name in row}
        rules.update(self.fields)
        used: set[str] = set()
        changes: list[dict[str, Any]] = []
        record: dict[str, Any] = {}
        for field, rule in rules.items():
            if isinstance(rule, str) and rule in row:  # a column, read whole (its name may hold dots)
                used.add(rule)
                value = None if row[rule] == "" else row[rule]
            else:
                value = map_field(row, rule, field, used, changes)
            if value is not None and field in self.schema:
                typed = typed_value(value, self.schema[field])
                if typed is None:
                    column = source_column(rule, row)
                    used.discard(column)
                    changes.append({**nulled(field), "raw_key": column, "raw_value": row.get(column)})
                value = typed
            record[field] = value
        if to_text(record.get("id")) is None:
            raise ValueError(f"no id (column {source_column(rules.get('id', 'id'), row)!r} is empty or missing)")
        extra = {key: value for key, value in row.items() if key not in used}
        for note in changes:
            extra.setdefault(note.pop("raw_key"), note.pop("raw_value"))
        if changes:
            extra[CHANGES_KEY] = changes
        record["extra"] = extra
        return record


def typed_value(value: Any, spec: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one return per JSON type
    """`value` as the JSON type the canonical schema declares, or None when it does not fit."""
    declared = spec.get("type", [])
    kinds = [kind for kind in ([declared] if isinstance(declared, str) else declared) if kind != "null"]
    kind = kinds[0] if kinds else None
    if kind == "string":
        if isinstance(value, dict | list):
            return None
        if spec.get("format") == "date-time":
            return to_timestamp(value)
        if spec.get("format") == "date":
            return to_date(value)
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if kind == "number":
        return to_money(value)
    if kind == "integer":
        number = to_money(value)
        return to_int(number) if number is not None and number.is_integer() else None
    if kind == "boolean":
        return _boolean(value)
    if kind in ("array", "object"):
        return _structured(value, list if kind == "array" else dict)
    return value


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in TRUE_TEXT else False if text in FALSE_TEXT else None


def _structured(value: Any, kind: type) -> Any:
    """An object or array; a string holding one as JSON (a CSV cell) is parsed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, kind) else None
