"""A store that exports to a folder: the file-export "dialect" of the sandbox, with the faults files really show.

`FileExportStore` writes a generated dataset the way an ERP's export job does: per stream, files
of `rows_per_file` records in id order (`orders/orders-00001.jsonl`, ...), customers and events
and company contacts as CSV, orders and abandoned checkouts as JSON Lines, products and companies
as Parquet. Customers use the ERP's own column names and date format, orders carry cents; the
rest keep canonical column names, and every row has an `exported_by` column with no canonical home.

Faults (`configure_faults`, same names as the HTTP emulator's `FaultSettings`):

- `malformed_rate`: that share of records is exported with a zero date or a non-numeric amount,
  and every CSV / JSON Lines file gets one structurally broken row beside its records (a CSV
  trailer line, a JSON line cut short) — counted in `faults.injected["malformed_rows"]`.
- `mutate_every` / `mutate_count`: every K-th record the reader reports (`record_read`) changes
  the store and the export job runs again, so files are re-exported while a sync reads them.

`export_changes()` is the export job's next run: files holding a changed record are re-exported
with the updated rows (new modification time), new records go to a new file. `write_partial`
leaves a file whose last row is cut off, as a reader sees a file still being written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pendulum

from store2crm.sandbox.generator import STREAMS, Dataset
from store2crm.sandbox.store_emulator.base import utc_now
from store2crm.sandbox.store_emulator.faults import BAD_DATE, BAD_MONEY, FaultInjector, FaultSettings

Clock = Callable[[], pendulum.DateTime]
ERP_DATE_FORMAT = "%d/%m/%Y %H:%M:%S"  # the customers export's own date format
FORMATS = {
    "customers": "csv",
    "orders": "jsonl",
    "abandoned_checkouts": "jsonl",
    "events": "csv",
    "products": "parquet",
    "companies": "parquet",
    "company_contacts": "csv",
}
CUSTOMER_COLUMNS = {"id": "customer_no", "email": "mail", "created_at": "created", "updated_at": "changed"}
MONEY_COLUMNS = ("total_cents", "total", "price", "credit_limit", "value")
DATE_COLUMNS = ("created", "created_at")
EXPORTED_BY = "erp-export 4.2"


@dataclass
class ExportFile:
    """One export file: its name below the folder and the ids of the records it holds."""

    name: str
    ids: list[str]


class FileExportStore:
    """Exports a Dataset into a folder as CSV, JSON Lines and Parquet files; see the module docstring."""

    def __init__(
        self,
        dataset: Dataset,
        folder: Path,
        *,
        clock: Clock = utc_now,
        rows_per_file: int = 40,
        faults: FaultSettings | None = None,
    ) -> None:
        self.dataset = dataset
        self.folder = folder
        self.clock = clock
        self.rows_per_file = rows_per_file
        self.faults = FaultInjector(faults)
        self.files: dict[str, list[ExportFile]] = {stream: [] for stream in STREAMS}
        self._exported: dict[str, dict[str, str]] = {stream: {} for stream in STREAMS}
        self._pending: dict[str, ExportFile] = {}
        self.broken_rows: dict[str, int] = {}  # file name -> structurally broken rows it holds now
        self._last_mtime_ns = 0
        self._records_read = 0

    # --- the export job ------------------------------------------------------------------------

    def export_all(self) -> FileExportStore:
        """The first export: every record of every stream, `rows_per_file` per file."""
        for stream in STREAMS:
            records = sorted(self.dataset.records(stream), key=lambda record: int(record["id"]))
            for start in range(0, len(records), self.rows_per_file):
                self._add_file(stream, [record["id"] for record in records[start : start + self.rows_per_file]])
        return self

    def export_changes(self) -> list[str]:
        """The export job's next run: re-export files holding changed records, add a file for new ones."""
        written = []
        for stream in STREAMS:
            current = {record["id"]: cursor_of(stream, record) for record in self.dataset.records(stream)}
            exported = self._exported[stream]
            changed = {record_id for record_id, cursor in current.items() if exported.get(record_id) != cursor}
            for export in self.files[stream]:
                if changed & set(export.ids):
                    written.append(self._write(stream, export))
            new = self._unexported(stream)
            if new:
                written.append(self._add_file(stream, new))
        return written

    def write_partial(self, stream: str) -> str:
        """Start writing the file of the stream's new records: a sync now finds its last row cut off mid-value."""
        if FORMATS[stream] == "parquet":
            raise ValueError("a Parquet file is unreadable until its footer is written; partial rows need CSV or JSONL")
        new = self._unexported(stream)
        if not new:
            raise ValueError(f"{stream} has no record that is not exported yet")
        self._pending[stream] = export = ExportFile(self._next_name(stream), new)
        text = self._render(stream, export).rstrip("\n")
        last_line = text.rsplit("\n", 1)[-1]
        self._replace(self.folder / export.name, text[: len(text) - len(last_line) // 2])
        return export.name

    def finish_partial(self, stream: str) -> str:
        """The export job finishes the file `write_partial` started: complete, with a new modification time."""
        export = self._pending.pop(stream)
        self.files[stream].append(export)
        return self._write(stream, export)

    # --- faults ----------------------------------------------------------------------------------

    def configure_faults(self, **changes: Any) -> FaultSettings:
        """Change fault settings; a new malformed rate re-exports every file with it applied."""
        settings = self.faults.configure(**changes)
        if "malformed_rate" in changes or "seed" in changes:
            for stream in STREAMS:
                for export in self.files[stream]:
                    self._write(stream, export)
        return settings

    def record_read(self) -> None:
        """The reader emitted one record; every `mutate_every`-th one, the store changes and is exported again."""
        self._records_read += 1
        every = self.faults.settings.mutate_every
        if every and self._records_read % every == 0:
            count = self.faults.settings.mutate_count
            self.dataset.mutate(count, self.clock())
            self.faults.injected["mutations"] += count
            self.export_changes()

    # --- writing -----------------------------------------------------------------------------------

    def _next_name(self, stream: str) -> str:
        number = len(self.files[stream]) + 1
        return f"{stream}/{stream}-{number:05d}.{FORMATS[stream]}"

    def _add_file(self, stream: str, ids: list[str]) -> str:
        export = ExportFile(self._next_name(stream), ids)
        self.files[stream].append(export)
        return self._write(stream, export)

    def _unexported(self, stream: str) -> list[str]:
        known = self._exported[stream]
        return sorted((record["id"] for record in self.dataset.records(stream) if record["id"] not in known), key=int)

    def _write(self, stream: str, export: ExportFile) -> str:
        """(Re-)write one file with the current rows of its records, atomically, with a new modification time."""
        path = self.folder / export.name
        if FORMATS[stream] == "parquet":
            self._write_parquet(path, self._rows(stream, export))
        else:
            self._replace(path, self._render(stream, export))
        by_id = {record["id"]: record for record in self.dataset.records(stream)}
        for record_id in export.ids:
            self._exported[stream][record_id] = cursor_of(stream, by_id[record_id])
        return export.name

    def _rows(self, stream: str, export: ExportFile) -> list[dict[str, Any]]:
        wanted = set(export.ids)
        records = sorted((r for r in self.dataset.records(stream) if r["id"] in wanted), key=lambda r: int(r["id"]))
        return [self._malformed(stream, export_row(stream, record)) for record in records]

    def _malformed(self, stream: str, row: dict[str, Any]) -> dict[str, Any]:
        record_id = row.get("customer_no", row.get("id"))
        kind = self.faults.malformed_kind(stream, record_id)
        columns = DATE_COLUMNS if kind == "date" else MONEY_COLUMNS
        column = next((name for name in columns if name in row), None) if kind else None
        if column is not None:
            row[column] = BAD_DATE if kind == "date" else BAD_MONEY
        return row

    def _render(self, stream: str, export: ExportFile) -> str:
        rows = self._rows(stream, export)
        broken = bool(self.faults.settings.malformed_rate) and bool(rows)
        self.broken_rows[export.name] = int(broken)
        self.faults.injected["malformed_rows"] += int(broken)
        if FORMATS[stream] == "csv":
            return csv_text(rows, trailer=f"-- {len(rows)} rows exported --" if broken else None)
        lines = [json.dumps(row) for row in rows]
        if broken:
            lines.insert(len(lines) // 2, lines[len(lines) // 2][: len(lines[len(lines) // 2]) // 2])
        return "".join(line + "\n" for line in lines)

    def _write_parquet(self, path: Path, rows: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.jsonl")
        staging.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        written = path.with_name(f".{path.name}.tmp")
        with duckdb.connect() as connection:
            connection.execute(
                f"COPY (SELECT * FROM read_json(?, format = 'newline_delimited')) TO '{written}' (FORMAT parquet)",
                [str(staging)],
            )
        staging.unlink()
        self._stamp_and_move(written, path)

    def _replace(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        written = path.with_name(f".{path.name}.tmp")
        written.write_text(text, encoding="utf-8")
        self._stamp_and_move(written, path)

    def _stamp_and_move(self, written: Path, path: Path) -> None:
        """Give the file the export's time (later than any file before) and move it into place atomically."""
        now_ns = int(self.clock().timestamp() * 1_000_000_000)
        self._last_mtime_ns = max(now_ns, self._last_mtime_ns + 1_000_000)
        os.utime(written, ns=(self._last_mtime_ns, self._last_mtime_ns))
        os.replace(written, path)


def cursor_of(stream: str, record: dict[str, Any]) -> str:
    """A record's cursor value (what tells the export job it changed)."""
    return record["occurred_at"] if stream == "events" else record["updated_at"]


def export_row(stream: str, record: dict[str, Any]) -> dict[str, Any]:
    """The row the ERP exports for a canonical record."""
    row = dict(record)
    if stream == "customers":
        row = {CUSTOMER_COLUMNS.get(name, name): value for name, value in row.items()}
        for column in ("created", "changed"):
            row[column] = erp_date(row[column])
    if stream == "orders":
        row["total_cents"] = round(row.pop("total") * 100)
    row["exported_by"] = EXPORTED_BY
    return row


def erp_date(value: str | None) -> str | None:
    """An ISO 8601 UTC timestamp in the customers export's date format."""
    return None if value is None else pendulum.parse(value).strftime(ERP_DATE_FORMAT)


def csv_text(rows: list[dict[str, Any]], trailer: str | None = None) -> str:
    """Rows as CSV with a header (objects and lists as JSON text), and an optional trailer line."""
    buffer = io.StringIO()
    columns = list(dict.fromkeys(name for row in rows for name in row))
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(column)) for column in columns] for row in rows)
    if trailer:
        buffer.write(trailer + "\n")
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def files_config(folder: Path | str, *, store_id: str = "erp-exports", **overrides: Any) -> dict[str, Any]:
    """The `files` source config reading every stream a FileExportStore writes into `folder`."""
    streams: dict[str, Any] = {stream: {"glob": f"{stream}/*.{FORMATS[stream]}"} for stream in STREAMS}
    streams["customers"]["fields"] = {
        "id": "customer_no",
        "email": "mail",
        "created_at": {"path": "created", "date_format": ERP_DATE_FORMAT},
        "updated_at": {"path": "changed", "date_format": ERP_DATE_FORMAT},
    }
    streams["orders"]["fields"] = {"total": {"path": "total_cents", "cents": True}}
    config = {
        "platform": "files",
        "store_id": store_id,
        "start_date": "2015-01-01T00:00:00Z",
        "files": {"path": str(folder), "streams": streams},
    }
    return {**config, **overrides}
