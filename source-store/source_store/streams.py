"""Base HTTP stream of every platform: canonical records, incremental cursor, a STATE per page."""

from __future__ import annotations

from abc import ABC
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from airbyte_cdk.models import AirbyteMessage
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http import HttpStream
from requests.auth import AuthBase

from source_store.changes import change_meta, record_message
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
        api_budget: APIBudget | None = None,
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
        self.counts: Counter[str] = Counter()
        super().__init__(authenticator=authenticator, api_budget=api_budget)

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

    def emit_page(
        self, raw_records: Iterable[Mapping[str, Any]], *, last_page: bool
    ) -> Iterator[dict[str, Any] | AirbyteMessage]:
        """Map one page, drop what the cursor rules out, and mark the page's end for a checkpoint.

        A record with change notes goes out as a RECORD message whose `meta.changes` carries
        them (Destinations V2 land these in `_airbyte_meta`); the notes also stay in `extra`.
        """
        kept = [record for record in map(self._canonical, raw_records) if record is not None]
        if last_page:
            self.window.finish_traversal()
        for index, record in enumerate(kept):
            self._page_end = index == len(kept) - 1
            yield self._with_meta(record)
        self._page_end = False

    def read_summary(self) -> str:
        """One line counting what this read emitted, changed and skipped (logged at the end of a read)."""
        counts = self.counts
        return (
            f"{self.name}: {counts['emitted']} records emitted, {counts['with_changes']} with nulled fields "
            f"(change notes in _airbyte_meta and extra._changes), {counts['no_cursor']} without a usable cursor, "
            f"{counts['skipped']} skipped as unmappable"
        )

    def _with_meta(self, record: dict[str, Any]) -> dict[str, Any] | AirbyteMessage:
        self.counts["emitted"] += 1
        meta = change_meta(record)
        if meta is None:
            return record
        self.counts["with_changes"] += 1
        return record_message(self.name, record, meta)

    def _canonical(self, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            record = self._mapper(raw)
        except ValueError as error:
            self.counts["skipped"] += 1
            self.logger.error(f"{self.name}: record skipped, it cannot be mapped: {error}")
            return None
        admission = self.window.admit(record)
        if admission is Admission.TOO_OLD:
            return None
        if admission is Admission.NO_CURSOR:
            self.counts["no_cursor"] += 1
            self.logger.warning(
                f"{self.name} record {record['id']}: {self.cursor_field} is missing or not a timestamp; "
                "emitted without moving the cursor (the raw value is kept in `extra`)"
            )
        record["platform"] = self.config.platform
        record["store_id"] = self.config.store_id
        return record
