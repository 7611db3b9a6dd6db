"""FilesStream: one canonical stream read from export files, one slice per file, resumable inside a file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbyte_cdk.models import AirbyteMessage, FailureType, SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.changes import change_meta, record_message
from source_store.config import StoreConfig
from source_store.cursor import Admission, CursorWindow, format_timestamp, parse_timestamp
from source_store.platforms.files_readers import (
    ExportFileError,
    Row,
    ends_with_line_break,
    list_files,
    modified_at,
    read_rows,
)

if TYPE_CHECKING:
    from source_store.platforms.files import ExportSpec

COMMIT_SLICE = {"commit": True}
"""The last slice: it reads nothing and moves the cursor once every file was read."""


class FilesStream(Stream, CheckpointMixin):
    """The files one export spec matches, read as one slice each, oldest modification first.

    State: `{<cursor>: "...", "files": {name: mtime}, "current": {"file", "modified", "rows"},
    "read_max": "..."}`. `files` lists the files read to the end, at the modification time they
    had when opened; a file is read again only when its time changes. `<cursor>` filters
    records inside files and only moves when every file of a read is done (files are not
    ordered by cursor, so moving it earlier would filter out the rest of the read); until then
    `read_max` carries the furthest cursor seen. `current` is the file being read and how many
    of its rows are handled: the CDK checkpoints after every file (slice) and after the first
    record emitted past each `state_every_rows` rows, so a killed read resumes at that row.
    """

    primary_key = "id"

    def __init__(
        self,
        export: ExportSpec,
        *,
        folder: Path,
        config: StoreConfig,
        mapper: Callable[[Mapping[str, Any]], dict[str, Any]],
        state_every_rows: int,
    ) -> None:
        self.export = export
        self.folder = folder
        self.config = config
        self._mapper = mapper
        self._every = state_every_rows
        self.window = CursorWindow(
            cursor_field=export.cursor_field,
            start_date=config.start_date,
            lookback=config.lookback,
            ordered=False,
        )
        self._history: dict[str, str] = {}
        self._current: dict[str, Any] | None = None
        self._read_max: datetime | None = None
        self._checkpoint_due = False
        self._failed: list[str] = []
        self._unfinished: list[str] = []
        self.counts: Counter[str] = Counter()

    @property
    def name(self) -> str:
        """The canonical stream name (also the schema file name)."""
        return self.export.stream

    @property
    def cursor_field(self) -> str:
        """The canonical cursor field."""
        return self.export.cursor_field

    @property
    def state_checkpoint_interval(self) -> int | None:
        """1 on the record that ends a `state_every_rows` stretch, else None (the CDK checkpoints per slice)."""
        return 1 if self._checkpoint_due else None

    @property
    def state(self) -> MutableMapping[str, Any]:
        """The cursor, the files read, the file in progress (see the class docstring)."""
        state: dict[str, Any] = self.window.state()
        if self._history:
            state["files"] = dict(self._history)
        if self._current:
            state["current"] = dict(self._current)
        if self._read_max:
            state["read_max"] = format_timestamp(self._read_max)
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        value = dict(value or {})
        warning = self.window.restore(value)
        if warning:
            self.logger.warning(f"{self.name}: {warning}")
        files = value.get("files") or {}
        if not isinstance(files, Mapping):
            self.logger.warning(f"{self.name}: state 'files' is not an object; every file is read again")
            files = {}
        self._history = {str(name): str(modified) for name, modified in files.items()}
        current = value.get("current")
        self._current = dict(current) if isinstance(current, Mapping) else None
        self._read_max = parse_timestamp(value.get("read_max"))

    def stream_slices(
        self, *, sync_mode: SyncMode, cursor_field: list[str] | None = None, stream_state: Any = None
    ) -> Iterable[Mapping[str, Any] | None]:
        """One slice per new or modified file, oldest first, then the commit slice."""
        if not self.folder.is_dir():
            message = f"files.path {str(self.folder)!r} does not exist or is not a folder"
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.config_error
            )
        if sync_mode == SyncMode.full_refresh:  # everything since start_date, whatever a state says
            self.state = {}
        found = list_files(self.folder, self.export.glob)
        names = {export.name for export in found}
        self._history = {name: modified for name, modified in self._history.items() if name in names}
        pending = [export for export in found if self._history.get(export.name) != export.modified]
        self.logger.info(
            f"{self.name}: {len(found)} file(s) match {self.export.glob!r}, {len(pending)} new or modified"
        )
        for export in pending:
            yield {"file": export.name, "modified": export.modified}
        yield COMMIT_SLICE

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        """The records of one file slice; the commit slice moves the cursor and reports the read."""
        if not stream_slice or stream_slice.get("commit"):
            self._commit()
            return
        yield from self._read_file(str(stream_slice["file"]))

    def _read_file(self, name: str) -> Iterator[dict[str, Any] | AirbyteMessage]:
        path = self.folder / name
        try:
            modified = modified_at(path)
        except FileNotFoundError:
            self.logger.warning(f"{self.name}: {name} was removed before it could be read")
            return
        current = self._current or {}
        resume = current.get("file") == name and current.get("modified") == modified
        done = int(current.get("rows", 0)) if resume else 0
        if done:
            self.logger.info(f"{self.name}: resuming {name} after row {done}")
        self._current = {"file": name, "modified": modified, "rows": done}
        counts: Counter[str] = Counter()
        since_checkpoint = 0
        malformed: Row | None = None  # logged once the next row shows it was not a cut-off last row
        try:
            for row in read_rows(path, self.export.file_format, self.export.csv):
                if row.ordinal <= done:
                    continue
                self._current["rows"] = row.ordinal
                since_checkpoint += 1
                counts["rows"] += 1
                if malformed is not None:
                    self._skip_malformed(name, malformed, counts)
                    malformed = None
                if row.values is None:
                    malformed = row
                    continue
                record = self._canonical(row.values, f"{name} line {row.line}", counts)
                if record is None:
                    continue
                self._checkpoint_due = since_checkpoint >= self._every
                if self._checkpoint_due:
                    since_checkpoint = 0
                yield self._with_meta(record)
                self._checkpoint_due = False
        except ExportFileError as error:
            self._failed.append(name)
            self._current = None
            self.logger.error(f"{self.name}: {error}; the file stays unread and is tried again next sync")
            return
        finally:
            self.counts.update(counts)
        self._finish_file(name, modified, malformed, counts)

    def _finish_file(self, name: str, modified: str, last_malformed: Row | None, counts: Counter[str]) -> None:
        """Mark a file read, unless its last row is cut off: then it is still being written and the cursor waits."""
        self._current = None
        if last_malformed is not None and not ends_with_line_break(self.folder / name):
            self._unfinished.append(name)
            self.logger.warning(
                f"{self.name}: {name} line {last_malformed.line} is cut off ({last_malformed.problem}): the file is "
                "still being written; its complete rows were emitted, it is read again once it changes, "
                "and the cursor waits"
            )
            return
        if last_malformed is not None:
            self._skip_malformed(name, last_malformed, counts)
            self.counts["malformed"] += 1
        self._history[name] = modified
        self.logger.info(
            f"{self.name}: {name}: {counts['rows']} rows, {counts['emitted']} emitted, "
            f"{counts['too_old']} before the cursor, {counts['malformed'] + counts['skipped']} skipped"
        )

    def _skip_malformed(self, name: str, row: Row, counts: Counter[str]) -> None:
        counts["malformed"] += 1
        self.logger.error(f"{self.name}: {name} line {row.line} skipped, it is malformed: {row.problem}")

    def _canonical(self, values: Mapping[str, Any], where: str, counts: Counter[str]) -> dict[str, Any] | None:
        try:
            record = self._mapper(values)
        except ValueError as error:
            counts["skipped"] += 1
            self.logger.error(f"{self.name}: {where} skipped, it cannot be mapped: {error}")
            return None
        admission = self.window.admit(record)
        if admission is Admission.TOO_OLD:
            counts["too_old"] += 1
            return None
        if admission is Admission.NO_CURSOR:
            counts["no_cursor"] += 1
            self.logger.warning(
                f"{self.name}: {where} (record {record['id']}): {self.cursor_field} is missing or not a timestamp; "
                "emitted without moving the cursor"
            )
        else:
            moment = parse_timestamp(record[self.cursor_field])
            if self._read_max is None or (moment and moment > self._read_max):
                self._read_max = moment
        counts["emitted"] += 1
        record["platform"] = self.config.platform
        record["store_id"] = self.config.store_id
        return record

    def _with_meta(self, record: dict[str, Any]) -> dict[str, Any] | AirbyteMessage:
        """A record with change notes travels as a RECORD message whose `meta.changes` carries them."""
        meta = change_meta(record)
        if meta is None:
            return record
        self.counts["with_changes"] += 1
        return record_message(self.name, record, meta)

    def _commit(self) -> None:
        """Move the cursor to the furthest one read, unless a file could not be read (it is retried first)."""
        counts = self.counts
        self.logger.info(
            f"{self.name}: {counts['emitted']} records emitted, {counts['with_changes']} with nulled fields, "
            f"{counts['no_cursor']} without a usable cursor, {counts['too_old']} before the cursor, "
            f"{counts['malformed']} malformed rows and {counts['skipped']} unmappable rows skipped"
        )
        if self._failed:
            message = f"{self.name}: could not read {', '.join(self._failed)} (see the errors above)"
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.system_error
            )
        if self._unfinished:
            self.logger.warning(
                f"{self.name}: the cursor stays where it was until {', '.join(self._unfinished)} "
                "is complete (a file still being written)"
            )
            self._current = None
            return
        if self._read_max is not None:
            committed = self.window.committed
            self.window.committed = max(committed, self._read_max) if committed else self._read_max
            self._read_max = None
        self._current = None
