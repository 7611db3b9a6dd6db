"""Row readers for export files: CSV and JSON Lines in Python, Parquet through DuckDB; all stream row by row.

CSV and JSON Lines are read with the standard library so a malformed row is reported with its
exact line and the rows after it are still read. Parquet is read with DuckDB (already a
dependency; pyarrow, which airbyte-cdk's Parquet parser needs, is not installed), fetched in
batches so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import duckdb

FORMATS = ("csv", "jsonl", "parquet")
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
PARQUET_FETCH_ROWS = 2048  # one DuckDB vector; larger batches only cost memory
# DuckDB settings for the Parquet reader: two threads and a memory cap so a large file cannot crowd
# out the rest of the sync; no progress bar, since stdout carries the Airbyte protocol.
DUCKDB_SETTINGS = {"threads": 2, "memory_limit": "256MB"}


class ExportFileError(Exception):
    """A file that cannot be read at all (bad header, wrong encoding, corrupt Parquet); names the file."""


@dataclass(frozen=True)
class CsvOptions:
    """CSV dialect; the names follow Airbyte's file-based CSV format options."""

    delimiter: str = ","
    quote_char: str = '"'
    escape_char: str | None = None
    double_quote: bool = True
    encoding: str = "utf-8"
    null_values: frozenset[str] = frozenset()
    skip_rows_before_header: int = 0
    column_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Row:
    """One row of an export file.

    `ordinal` counts every row the reader produced, malformed ones included, so a resumed read
    can skip exactly the rows already handled; `line` is where a person finds the row (the CSV
    or JSON Lines line number, the Parquet row number). `values` is None for a malformed row,
    with `problem` saying why.
    """

    ordinal: int
    line: int
    values: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class ExportFile:
    """A file matched by a stream's glob: its name relative to the folder and its modification time."""

    name: str
    modified: str
    path: Path


def format_of(glob: str) -> str | None:
    """The format a glob's suffix implies (`orders/*.csv.gz` → csv), or None."""
    suffixes = [suffix.lower() for suffix in Path(glob).suffixes if suffix.lower() != ".gz"]
    return SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None


def modified_at(path: Path) -> str:
    """A file's modification time as UTC ISO 8601 to the microsecond (the state's file version)."""
    nanoseconds = path.stat().st_mtime_ns
    moment = datetime.fromtimestamp(nanoseconds // 1_000_000_000, UTC)
    return moment.replace(microsecond=(nanoseconds // 1000) % 1_000_000).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ends_with_line_break(path: Path) -> bool:
    """Whether a file's last byte ends a line (compressed files count as complete: a cut-off one fails to read)."""
    if path.suffix.lower() == ".gz":
        return True
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) in (b"\n", b"\r")


def list_files(folder: Path, glob: str) -> list[ExportFile]:
    """Regular files matching `glob` below `folder`, oldest modification first (then by name)."""
    found = []
    for path in folder.glob(glob):
        if path.is_file():
            try:
                found.append(ExportFile(path.relative_to(folder).as_posix(), modified_at(path), path))
            except FileNotFoundError:  # removed while listing
                continue
    return sorted(found, key=lambda export: (export.modified, export.name))


def read_rows(path: Path, file_format: str, options: CsvOptions) -> Iterator[Row]:
    """Every row of one file, in file order; ExportFileError when the file cannot be read at all."""
    readers = {"csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}
    try:
        yield from readers[file_format](path, options)
    except UnicodeDecodeError as error:
        raise ExportFileError(f"{path.name} is not {options.encoding} text ({error.reason})") from error
    except (OSError, EOFError, csv.Error) as error:
        raise ExportFileError(f"{path.name} cannot be read: {error}") from error


def _open_text(path: Path, encoding: str) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def _csv_rows(path: Path, options: CsvOptions) -> Iterator[Row]:
    with _open_text(path, options.encoding) as handle:
        for _ in range(options.skip_rows_before_header):
            handle.readline()
        reader = csv.reader(
            handle,
            delimiter=options.delimiter,
            quotechar=options.quote_char,
            escapechar=options.escape_char,
            doublequote=options.double_quote,
            strict=False,
        )
        header = list(options.column_names) if options.column_names else next(reader, None)
        if not header:
            return
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated or "" in header:
            raise ExportFileError(f"{path.name}: the header has empty or repeated column names {duplicated or ['']}")
        ordinal = 0
        for cells in reader:
            if not cells:
                continue
            ordinal += 1
            line = reader.line_num + options.skip_rows_before_header
            if len(cells) != len(header):
                problem = f"{len(cells)} values for {len(header)} columns"
                yield Row(ordinal, line, None, problem)
                continue
            values = dict(zip(header, cells, strict=True))
            if options.null_values:
                values = {name: None if cell in options.null_values else cell for name, cell in values.items()}
            yield Row(ordinal, line, values)


def _jsonl_rows(path: Path, options: CsvOptions) -> Iterator[Row]:
    with _open_text(path, "utf-8") as handle:
        ordinal = 0
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            ordinal += 1
            try:
                values = json.loads(text)
            except json.JSONDecodeError as error:
                yield Row(ordinal, line, None, f"not JSON ({error.msg} at column {error.colno})")
                continue
            if not isinstance(values, dict):
                yield Row(ordinal, line, None, f"a JSON {type(values).__name__}, not an object")
                continue
            yield Row(ordinal, line, values)


def _parquet_rows(path: Path, options: CsvOptions) -> Iterator[Row]:
    try:
        with duckdb.connect(config=DUCKDB_SETTINGS) as connection:
            connection.execute("SET enable_progress_bar = false")
            result = connection.execute("SELECT * FROM read_parquet(?)", [str(path)])
            columns = [column[0] for column in result.description]
            ordinal = 0
            while batch := result.fetchmany(PARQUET_FETCH_ROWS):
                for values in batch:
                    ordinal += 1
                    row = {name: plain(value) for name, value in zip(columns, values, strict=True)}
                    yield Row(ordinal, ordinal, row)
    except duckdb.Error as error:
        raise ExportFileError(f"{path.name} is not a readable Parquet file: {error}") from error


def plain(value: Any) -> Any:  # noqa: PLR0911 - one return per DuckDB value kind
    """A DuckDB value as JSON: timestamps as UTC ISO 8601 (naive ones taken as UTC), decimals as numbers."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
