"""Salesforce record tables: records by id, an external-id index that may hold duplicates, and an undo log."""

from __future__ import annotations

import itertools
from typing import Any

from store2crm.sandbox.crm_emulator.salesforce_schema import EXTERNAL_ID_FIELD, SObjectType, record_id

Record = dict[str, Any]


class SObjectTable:
    """Every record of one sObject, indexed by external id; `begin`/`rollback` undo an all-or-none request."""

    def __init__(self, sobject: SObjectType, *, unique_external_id: bool) -> None:
        self.sobject = sobject
        self.unique_external_id = unique_external_id
        self._sequence = itertools.count(1)
        self._records: dict[str, Record] = {}
        self._by_external_id: dict[str, list[str]] = {}
        self._undo: list[tuple[str, Record | None]] | None = None

    def new_id(self) -> str:
        """A fresh 18-character id with this sObject's key prefix (never reused, also after a rollback)."""
        return record_id(self.sobject.key_prefix, next(self._sequence))

    def get(self, record_id_: str) -> Record | None:
        """The record with this id (15- or 18-character form), if any."""
        if len(record_id_) == 15:
            return next((r for key, r in self._records.items() if key.startswith(record_id_)), None)
        return self._records.get(record_id_)

    def matching(self, external_id: str) -> list[str]:
        """Ids of the records whose external id is `external_id` (exact, case-sensitive match)."""
        return list(self._by_external_id.get(external_id, ()))

    def records(self) -> list[Record]:
        """Every record, oldest first."""
        return list(self._records.values())

    def put(self, record: Record) -> None:
        """Insert or replace a record by its Id, keeping the index and the undo log current."""
        previous = self._records.get(record["Id"])
        if self._undo is not None:
            self._undo.append((record["Id"], previous))
        self._unindex(previous)
        self._records[record["Id"]] = record
        self._index(record)

    def begin(self) -> None:
        """Start recording changes so an all-or-none request can undo them."""
        self._undo = []

    def commit(self) -> None:
        """Keep every change made since `begin`."""
        self._undo = None

    def rollback(self) -> None:
        """Undo every change made since `begin`."""
        for key, previous in reversed(self._undo or []):
            self._unindex(self._records[key])
            if previous is None:
                del self._records[key]
            else:
                self._records[key] = previous
                self._index(previous)
        self._undo = None

    def _index(self, record: Record) -> None:
        value = record.get(EXTERNAL_ID_FIELD)
        if value:
            self._by_external_id.setdefault(value, []).append(record["Id"])

    def _unindex(self, record: Record | None) -> None:
        value = None if record is None else record.get(EXTERNAL_ID_FIELD)
        if not value:
            return
        owners = self._by_external_id[value]
        owners.remove(record["Id"])
        if not owners:
            del self._by_external_id[value]


def render(sobject: SObjectType, record: Record, base_path: str, names: list[str] | None = None) -> Record:
    """A record as the REST API returns it: `attributes` first, then every field (or only `names`)."""
    shown: Record = {"attributes": {"type": sobject.name, "url": f"{base_path}/sobjects/{sobject.name}/{record['Id']}"}}
    for name in names if names is not None else list(sobject.fields):
        shown[name] = record.get(name)
    return shown
