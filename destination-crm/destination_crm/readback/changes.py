"""What every read-back stream shares: the record shape, the `updated_at` cursor and its state."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from airbyte_cdk.sources.streams.http import HttpStream

CURSOR_FIELD = "updated_at"
EPOCH = "1970-01-01T00:00:00.000Z"


class ChangedObjects(HttpStream, ABC):
    """Objects of one CRM type modified at or after the cursor, as one incremental stream.

    Records: `id`, `object`, `external_id`, `email`, `updated_at` (the CRM's last-modified stamp, in
    one text form so that the largest string is the latest stamp) and `properties` (the CRM-owned
    fields, as text). The state is the latest stamp read; subclasses advance it with `advance`.
    """

    primary_key = "id"
    cursor_field = CURSOR_FIELD

    def __init__(self, *, owned: Iterable[str], **kwargs: Any) -> None:
        self._owned = sorted(set(owned))
        self._cursor = EPOCH
        super().__init__(**kwargs)

    @property
    def supports_incremental(self) -> bool:
        """Always incremental on the last-modified stamp."""
        return True

    @property
    def state(self) -> MutableMapping[str, Any]:
        """The latest last-modified stamp read."""
        return {CURSOR_FIELD: self._cursor}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._cursor = max(self._cursor, self.normalized_stamp(str((value or {}).get(CURSOR_FIELD) or EPOCH)))

    def normalized_stamp(self, stamp: str) -> str:
        """A stamp in the stream's text form (subclasses whose CRM writes several forms override it)."""
        return stamp

    def advance(self, stamp: str) -> None:
        """Move the cursor to `stamp` when it is later."""
        self._cursor = max(self._cursor, stamp)

    def get_json_schema(self) -> Mapping[str, Any]:
        """id, object, external_id, email, updated_at, and the CRM-owned properties as strings."""
        text = {"type": ["null", "string"]}
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "external_id": text,
                "email": text,
                CURSOR_FIELD: {"type": "string", "format": "date-time"},
                "properties": {"type": "object", "properties": {name: text for name in self._owned}},
            },
        }
