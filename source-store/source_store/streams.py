"""Base HTTP stream of every platform: canonical records, incremental cursor, a STATE per page."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from airbyte_cdk.sources.streams.http import HttpStream
from requests.auth import AuthBase

from source_store.config import StoreConfig
from source_store.cursor import Admission, CursorWindow

Mapper = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Turns one native record into a canonical one; raises ValueError when it cannot."""


class StoreStream(HttpStream, ABC):
    """One canonical stream read over HTTP; subclasses say how to request and split pages.

    Every record gets `platform` and `store_id`. The CDK's legacy read loop checkpoints every
    `state_checkpoint_interval` records; pages are the natural unit here, so the interval is
    1 exactly while the last record of a page is handed out and None otherwise, which gives
    one STATE per non-empty page plus the CDK's own STATE at the end of the read.
    """

    primary_key = "id"

    def __init__(
        self,
        *,
        name: str,
        cursor_field: str,
        ordered: bool,
        mapper: Mapper,
        config: StoreConfig,
        authenticator: AuthBase | None,
    ) -> None:
        self._name = name
        self._cursor_field = cursor_field
        self._mapper = mapper
        self.config = config
        self.window = CursorWindow(
            cursor_field=cursor_field,
            start_date=config.start_date,
            lookback=config.lookback,
            ordered=ordered,
        )
        self._page_end = False
        super().__init__(authenticator=authenticator)

    @property
    def name(self) -> str:
        """The canonical stream name (also the schema file name)."""
        return self._name

    @property
    def cursor_field(self) -> str:
        """The canonical cursor field of this stream."""
        return self._cursor_field

    @property
    def state(self) -> MutableMapping[str, Any]:
        """The cursor to checkpoint: `{cursor_field: "<UTC ISO 8601>"}`, or {} before any record."""
        return self.window.state()

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        warning = self.window.restore(dict(value or {}))
        if warning:
            self.logger.warning(f"{self.name}: {warning}")

    @property
    def state_checkpoint_interval(self) -> int | None:
        """Checkpoint after the last record of each page (see the class docstring)."""
        return 1 if self._page_end else None

    def emit_page(self, raw_records: Iterable[Mapping[str, Any]], *, last_page: bool) -> Iterator[dict[str, Any]]:
        """Map one page, drop what the cursor rules out, and mark the page's end for a checkpoint."""
        kept = [record for record in map(self._canonical, raw_records) if record is not None]
        if last_page:
            self.window.finish_traversal()
        for index, record in enumerate(kept):
            self._page_end = index == len(kept) - 1
            yield record
        self._page_end = False

    def _canonical(self, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            record = self._mapper(raw)
        except ValueError as error:
            self.logger.error(f"{self.name}: record skipped, it cannot be mapped: {error}")
            return None
        admission = self.window.admit(record)
        if admission is Admission.TOO_OLD:
            return None
        if admission is Admission.NO_CURSOR:
            self.logger.warning(
                f"{self.name} record {record['id']}: {self.cursor_field} is missing or not a timestamp; "
                "emitted without moving the cursor (the raw value is kept in `extra`)"
            )
        record["platform"] = self.config.platform
        record["store_id"] = self.config.store_id
        return record
