"""File-exports platform: CSV, JSON Lines or Parquet exports in a local folder, incremental by file and by cursor.

Each declared stream reads the files its glob matches, oldest modification first. A file is
read when it is new or its modification time changed since the state recorded it; within a
file, records whose cursor is before the saved cursor (minus the lookback window) are left
out, so a re-exported full snapshot emits only what changed. See `FilesStream` for the state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from source_store.config import ConfigError, StoreConfig
from source_store.platforms.files_mapping import RowMapper, canonical_fields, canonical_streams, source_column
from source_store.platforms.files_readers import (
    FORMATS,
    CsvOptions,
    ExportFileError,
    format_of,
    list_files,
    read_rows,
)
from source_store.platforms.files_stream import FilesStream
from source_store.timing import REAL_CLOCK, REAL_SLEEP, Clock, Sleep

NAME = "files"
CANONICAL_CURSORS = {"events": "occurred_at"}  # every other stream's cursor is updated_at
DEFAULT_STATE_EVERY_ROWS = 10_000
REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "http://", "https://")
CSV_OPTION_KEYS = frozenset(
    {
        "delimiter",
        "quote_char",
        "escape_char",
        "double_quote",
        "encoding",
        "null_values",
        "skip_rows_before_header",
        "column_names",
    }
)
STREAM_KEYS = frozenset({"glob", "format", "cursor_column", "fields", "csv"})
RULE_KEYS = frozenset({"path", "cast", "date_format", "cents", "join", "separator", "value", "each"})


@dataclass(frozen=True)
class ExportSpec:
    """One canonical stream's files: glob below the folder, format, field mapping (cursor included), CSV dialect."""

    stream: str
    glob: str
    file_format: str
    cursor_field: str
    fields: Mapping[str, Any]
    csv: CsvOptions


@dataclass(frozen=True)
class FilesConnection:
    """The validated `files` connection object."""

    folder: Path
    exports: tuple[ExportSpec, ...]
    state_every_rows: int


def files_connection(config: StoreConfig) -> FilesConnection:
    """Validate the `files` object; ConfigError names the field to fix."""
    connection = config.connection
    raw_path = connection.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise ConfigError("files.path is required: the folder holding the exports")
    raw_path = raw_path.strip()
    if raw_path.lower().startswith(REMOTE_SCHEMES):
        raise ConfigError(
            f"files.path {raw_path!r}: only local folders are read; sync the bucket to a local or mounted "
            "folder first (for example `aws s3 sync s3://bucket/exports /data/exports`)"
        )
    folder = Path(raw_path.removeprefix("file://")).expanduser()
    declared = connection.get("streams")
    if not isinstance(declared, Mapping) or not declared:
        raise ConfigError("files.streams must map at least one canonical stream name to its files")
    unknown = sorted(set(declared) - set(canonical_streams()))
    if unknown:
        raise ConfigError(
            f"files.streams: unknown stream(s) {', '.join(unknown)}; valid: {', '.join(canonical_streams())}"
        )
    every = connection.get("state_every_rows", DEFAULT_STATE_EVERY_ROWS)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(f"files.state_every_rows must be a positive integer, got {every!r}")
    exports = tuple(_export(name, spec) for name, spec in sorted(declared.items()))
    return FilesConnection(folder=folder, exports=exports, state_every_rows=every)


def _export(name: str, spec: Any) -> ExportSpec:
    where = f"files.streams.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be an object with at least a glob")
    unexpected = sorted(set(spec) - STREAM_KEYS)
    if unexpected:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unexpected)}; valid: {', '.join(sorted(STREAM_KEYS))}")
    glob = spec.get("glob")
    if not isinstance(glob, str) or not glob.strip():
        raise ConfigError(f"{where}.glob is required, relative to files.path (for example 'orders/*.csv')")
    if Path(glob).is_absolute() or ".." in Path(glob).parts:
        raise ConfigError(f"{where}.glob {glob!r} must stay inside files.path (no absolute path, no '..')")
    file_format = spec.get("format") or format_of(glob)
    if file_format not in FORMATS:
        raise ConfigError(f"{where}.format must be one of {', '.join(FORMATS)} (it cannot be told from {glob!r})")
    cursor_field = CANONICAL_CURSORS.get(name, "updated_at")
    fields = dict(_fields(spec.get("fields"), name, where))
    cursor_column = spec.get("cursor_column")
    if cursor_column is not None:
        if not isinstance(cursor_column, str) or not cursor_column.strip():
            raise ConfigError(f"{where}.cursor_column must be a column name")
        if cursor_field not in fields:
            fields[cursor_field] = cursor_column
        elif source_column(fields[cursor_field]) != cursor_column:
            raise ConfigError(f"{where}: cursor_column and fields.{cursor_field} name different columns")
    return ExportSpec(
        stream=name,
        glob=glob.strip(),
        file_format=file_format,
        cursor_field=cursor_field,
        fields=fields,
        csv=_csv_options(spec.get("csv") or {}, f"{where}.csv"),
    )


def _fields(fields: Any, stream: str, where: str) -> Mapping[str, Any]:
    if fields is None:
        return {}
    if not isinstance(fields, Mapping):
        raise ConfigError(f"{where}.fields must map canonical fields to columns")
    unknown = sorted(set(fields) - set(canonical_fields(stream)))
    if unknown:
        raise ConfigError(f"{where}.fields: {', '.join(unknown)} not in the canonical {stream} schema")
    for field, rule in fields.items():
        valid_object = isinstance(rule, Mapping) and set(rule) <= RULE_KEYS and {"path", "join", "value"} & set(rule)
        if not (isinstance(rule, str) and rule.strip()) and not valid_object:
            raise ConfigError(
                f"{where}.fields.{field} must be a column (dotted path allowed) or an object with path, join or value"
            )
    return fields


def _csv_options(raw: Any, where: str) -> CsvOptions:
    if not isinstance(raw, Mapping) or set(raw) - CSV_OPTION_KEYS:
        raise ConfigError(f"{where} must be an object with only {', '.join(sorted(CSV_OPTION_KEYS))}")
    options: dict[str, Any] = dict(raw)
    if options.get("delimiter") == "\\t":
        options["delimiter"] = "\t"
    for key in ("delimiter", "quote_char", "escape_char"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or len(value) != 1 or value in "\r\n"):
            raise ConfigError(f"{where}.{key} must be a single character, got {value!r}")
    encoding = options.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except (LookupError, TypeError) as error:
        raise ConfigError(f"{where}.encoding {encoding!r} is not a known encoding") from error
    skip = options.get("skip_rows_before_header", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise ConfigError(f"{where}.skip_rows_before_header must be a non-negative integer")
    names = options.get("column_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(name, str) for name in names)):
        raise ConfigError(f"{where}.column_names must be a list of column names (for files without a header row)")
    nulls = options.get("null_values", [])
    if not isinstance(nulls, list) or not all(isinstance(value, str) for value in nulls):
        raise ConfigError(f"{where}.null_values must be a list of strings")
    if not isinstance(options.get("double_quote", True), bool):
        raise ConfigError(f"{where}.double_quote must be true or false")
    return CsvOptions(
        delimiter=options.get("delimiter", ","),
        quote_char=options.get("quote_char", '"'),
        escape_char=options.get("escape_char"),
        double_quote=options.get("double_quote", True),
        encoding=encoding,
        null_values=frozenset(nulls),
        skip_rows_before_header=skip,
        column_names=tuple(names) if names else None,
    )


def streams(config: StoreConfig, *, sleep: Sleep = REAL_SLEEP, clock: Clock = REAL_CLOCK) -> list[FilesStream]:
    """One stream per declared export (only the declared canonical streams are in the catalog).

    `sleep` and `clock` are unused: reading files never waits.
    """
    connection = files_connection(config)
    return [
        FilesStream(
            export,
            folder=connection.folder,
            config=config,
            mapper=RowMapper(export.stream, export.fields),
            state_every_rows=connection.state_every_rows,
        )
        for export in connection.exports
    ]


def check_connection(config: StoreConfig, logger: logging.Logger) -> str | None:
    """The folder exists, every glob matches a file, and each stream's newest file reads and has an id column."""
    connection = files_connection(config)
    if not connection.folder.is_dir():
        return f"files.path {str(connection.folder)!r} does not exist or is not a folder"
    problems = [problem for export in connection.exports if (problem := _check_export(connection.folder, export))]
    if problems:
        return "; ".join(problems)
    logger.info(f"files: every stream's glob matches readable files in {connection.folder}")
    return None


def _check_export(folder: Path, export: ExportSpec) -> str | None:
    where = f"files.streams.{export.stream}"
    found = list_files(folder, export.glob)
    if not found:
        return f"{where}.glob {export.glob!r} matches no file in {folder}"
    newest = found[-1]
    try:
        first = next((row for row in read_rows(newest.path, export.file_format, export.csv) if row.values), None)
    except ExportFileError as error:
        return f"{where}: {error}"
    id_column = source_column(export.fields.get("id", "id"), first.values if first else None)
    if first is not None and id_column is not None and id_column not in first.values:
        return f"{where}: {newest.name} has no {id_column!r} column; map the record id with fields.id"
    return None
