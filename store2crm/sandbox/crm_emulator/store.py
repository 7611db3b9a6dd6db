"""In-memory CRM record store with unique-value indexes and an undo log for all-or-nothing batches."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class StoredRecord:
    """One CRM record: its id, string property values and ISO 8601 timestamps."""

    id: str
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False


@dataclass
class ObjectStore:
    """Records of one object type, indexed by every property whose values must be unique."""

    casefolded: frozenset[str] = frozenset()
    _records: dict[str, StoredRecord] = field(default_factory=dict)
    _unique: dict[str, dict[str, str]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _undo: list[tuple[str, StoredRecord | None]] | None = None

    def add_unique(self, prop: str) -> None:
        """Start enforcing unique values for `prop` (indexing the values already stored)."""
        index = self._unique.setdefault(prop, {})
        for record in self._records.values():
            value = record.properties.get(prop)
            if value:
                index[self._key(prop, value)] = record.id

    @property
    def unique_properties(self) -> tuple[str, ...]:
        """Names of the properties whose values are unique."""
        return tuple(self._unique)

    def new_id(self) -> str:
        """A fresh record id (never reused, also after a rollback)."""
        return str(next(self._ids))

    def get(self, record_id: str) -> StoredRecord | None:
        """The record with this id, if any."""
        return self._records.get(record_id)

    def owner(self, prop: str, value: str) -> str | None:
        """Id of the record holding `value` in unique property `prop`."""
        return self._unique.get(prop, {}).get(self._key(prop, value))

    def find(self, prop: str, value: str) -> StoredRecord | None:
        """The record holding `value` in unique property `prop`."""
        owner = self.owner(prop, value)
        return None if owner is None else self._records[owner]

    def records(self) -> list[StoredRecord]:
        """Every record, oldest id first."""
        return list(self._records.values())

    def put(self, record: StoredRecord) -> None:
        """Insert or replace a record, keeping the indexes and the undo log current."""
        previous = self._records.get(record.id)
        if self._undo is not None:
            self._undo.append((record.id, previous))
        self._unindex(previous)
        self._records[record.id] = record
        self._index(record)

    def begin(self) -> None:
        """Start recording changes so a failed batch can be undone."""
        self._undo = []

    def commit(self) -> None:
        """Keep the changes made since `begin`."""
        self._undo = None

    def rollback(self) -> None:
        """Undo every change made since `begin`."""
        for record_id, previous in reversed(self._undo or []):
            self._unindex(self._records[record_id])
            if previous is None:
                del self._records[record_id]
            else:
                self._records[record_id] = previous  # same key, so listing order is kept
                self._index(previous)
        self._undo = None

    def _key(self, prop: str, value: str) -> str:
        return value.casefold() if prop in self.casefolded else value

    def _index(self, record: StoredRecord) -> None:
        for prop, index in self._unique.items():
            value = record.properties.get(prop)
            if value:
                index[self._key(prop, value)] = record.id

    def _unindex(self, record: StoredRecord | None) -> None:
        if record is None:
            return
        for prop, index in self._unique.items():
            value = record.properties.get(prop)
            if value and index.get(self._key(prop, value)) == record.id:
                del index[self._key(prop, value)]
