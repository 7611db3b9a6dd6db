"""Raw layer: lands source records in DuckDB in the layout of Airbyte's Destinations V2 typed tables."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pendulum

RAW_SCHEMA = "raw_store"
# Where CRM-owned fields read back from the CRM land (the destination's read-back source).
CRM_RAW_SCHEMA = "raw_crm"
STATE_SCHEMA = "_store2crm"
# Records held per stream before they are written; keeps memory flat however large the store is.
FLUSH_EVERY_RECORDS = 5_000
# DuckDB's buffer pool otherwise grows towards 80% of RAM as the warehouse grows; the loader only
# appends, so a small pool costs nothing and keeps the loader's memory flat.
LOADER_MEMORY_LIMIT = "1GB"

# One entry of `_airbyte_meta.changes`, as the Airbyte protocol's AirbyteRecordMessageMetaChange has it.
CHANGES_TYPE = "STRUCT(field VARCHAR, change VARCHAR, reason VARCHAR)[]"

AIRBYTE_COLUMNS = {
    "_airbyte_raw_id": "VARCHAR",
    "_airbyte_extracted_at": "TIMESTAMPTZ",
    "_airbyte_meta": "JSON",
    "_airbyte_generation_id": "BIGINT",
}


def column_type(property_schema: dict[str, Any]) -> str:
    """SQL type of a top-level JSON-schema property, as Destinations V2 types it."""
    types = property_schema.get("type", "string")
    types = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    kind = types[0] if len(types) == 1 else "union"
    if kind == "string":
        return {"date-time": "TIMESTAMPTZ", "date": "DATE"}.get(property_schema.get("format", ""), "VARCHAR")
    return {"number": "DECIMAL(38,9)", "integer": "BIGINT", "boolean": "BOOLEAN"}.get(kind, "JSON")


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class StreamTable:
    """One stream's raw table: its typed columns and the records waiting to be written."""

    name: str
    columns: dict[str, str]
    buffer: list[bytes] = field(default_factory=list)
    written: int = 0

    def typed_select(self) -> str:
        """SELECT list that casts each JSON value to its column type, nulling what does not cast."""
        return ", ".join(_typed_expression(name, sql_type) for name, sql_type in self.columns.items())

    def typecast_changes(self) -> str:
        """SQL list of DV2 `_airbyte_meta.changes` entries for values that failed their cast."""
        checks = [
            f"CASE WHEN {quote(name)} IS NOT NULL AND {_typed_expression(name, sql_type, alias=False)} IS NULL "
            f"THEN {{'field': '{name}', 'change': 'NULLED', 'reason': 'DESTINATION_TYPECAST_ERROR'}} END"
            for name, sql_type in self.columns.items()
            if sql_type != "JSON"
        ]
        return f"list_filter([{', '.join(checks)}], lambda change: change IS NOT NULL)" if checks else "[]"


def _typed_expression(name: str, sql_type: str, *, alias: bool = True) -> str:
    column = quote(name)
    expression = column if sql_type == "JSON" else f"TRY_CAST({column} ->> '$' AS {sql_type})"
    return f"{expression} AS {column}" if alias else expression


class RawLayer:
    """Writer for the `raw_store` schema and the saved source state, in one DuckDB file.

    Records are buffered per stream and written in batches; `commit_state` writes every buffered
    record and the state in one transaction, so a saved state never runs ahead of the records
    before it.
    """

    def __init__(self, warehouse: Path, connection_name: str = "default", schema: str = RAW_SCHEMA) -> None:
        self.connection_name = connection_name
        self.schema = schema
        self.sync_id = str(uuid.uuid4())
        Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
        self._db = duckdb.connect(str(warehouse))
        self._db.execute("SET TimeZone = 'UTC'")
        self._db.execute(f"SET memory_limit = '{LOADER_MEMORY_LIMIT}'")
        # Rows are appended with their own ids and order is rebuilt by staging: no need to keep it.
        self._db.execute("SET preserve_insertion_order = false")
        self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.source_state ("
            "connection_name VARCHAR, stream_name VARCHAR, state JSON, saved_at TIMESTAMPTZ, "
            "PRIMARY KEY (connection_name, stream_name))"
        )
        self._tables: dict[str, StreamTable] = {}
        self._spool = Path(tempfile.mkdtemp(prefix="store2crm-raw-"))

    def prepare(self, streams: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Create (or widen) the raw table of each (stream name, JSON schema)."""
        for name, schema in streams:
            columns = {prop: column_type(spec) for prop, spec in schema.get("properties", {}).items()}
            table = StreamTable(name, columns)
            self._create_or_widen(table)
            self._tables[name] = table

    def _create_or_widen(self, table: StreamTable) -> None:
        target = f"{self.schema}.{quote(table.name)}"
        wanted = {**AIRBYTE_COLUMNS, **table.columns}
        existing = {
            row[0]
            for row in self._db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [self.schema, table.name],
            ).fetchall()
        }
        if not existing:
            columns_sql = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in wanted.items())
            self._db.execute(f"CREATE TABLE {target} ({columns_sql})")
            return
        for name, sql_type in wanted.items():
            if name not in existing:
                self._db.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {sql_type}")

    def add_record(
        self, stream: str, data: dict[str, Any], emitted_at_ms: int, meta: dict[str, Any] | None = None
    ) -> None:
        """Buffer one record (with the source's `meta.changes`, if any); writes the buffer once it is full."""
        table = self._tables.get(stream)
        if table is None:
            raise KeyError(f"record for stream '{stream}' that is not in the configured catalog")
        row = {
            "_store2crm_record": data,
            "_airbyte_raw_id": str(uuid.uuid4()),
            "_airbyte_extracted_at": pendulum.from_timestamp(emitted_at_ms / 1000).isoformat(),
            "_source_changes": (meta or {}).get("changes") or [],
        }
        table.buffer.append(orjson.dumps(row))
        if len(table.buffer) >= FLUSH_EVERY_RECORDS:
            self._db.execute("BEGIN TRANSACTION")
            self._write(table)
            self._db.execute("COMMIT")

    def commit_state(self, stream: str, state: dict[str, Any]) -> None:
        """Write every buffered record, then save `state` for `stream`, in one transaction."""
        self._db.execute("BEGIN TRANSACTION")
        try:
            for table in self._tables.values():
                self._write(table)
            self._db.execute(
                f"INSERT OR REPLACE INTO {STATE_SCHEMA}.source_state VALUES (?, ?, ?, now())",
                [self.connection_name, stream, json.dumps(state)],
            )
            self._db.execute("COMMIT")
        except Exception:
            self._db.execute("ROLLBACK")
            raise

    def flush(self) -> None:
        """Write every buffered record (used at the end of a read that emitted no final state)."""
        self._db.execute("BEGIN TRANSACTION")
        for table in self._tables.values():
            self._write(table)
        self._db.execute("COMMIT")

    def saved_states(self) -> list[dict[str, Any]]:
        """The per-stream state messages saved by earlier runs of this connection."""
        rows = self._db.execute(
            f"SELECT state FROM {STATE_SCHEMA}.source_state WHERE connection_name = ? ORDER BY stream_name",
            [self.connection_name],
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def row_counts(self) -> dict[str, int]:
        """Rows in each raw table this writer prepared."""
        return {
            name: self._db.execute(f"SELECT count(*) FROM {self.schema}.{quote(name)}").fetchone()[0]
            for name in self._tables
        }

    def written(self) -> dict[str, int]:
        """Records written per stream by this writer."""
        return {name: table.written for name, table in self._tables.items()}

    def _write(self, table: StreamTable) -> None:
        if not table.buffer:
            return
        spool = self._spool / f"{table.name}.jsonl"
        spool.write_bytes(b"\n".join(table.buffer))
        record_columns = {name: "JSON" for name in table.columns}
        read_columns = {
            "_store2crm_record": "JSON",
            "_airbyte_raw_id": "VARCHAR",
            "_airbyte_extracted_at": "TIMESTAMPTZ",
            "_source_changes": CHANGES_TYPE,
        }
        unpack = ", ".join(
            f"nullif(_store2crm_record -> '$.{_json_path_key(name)}', 'null'::JSON) AS {quote(name)}"
            for name in record_columns
        )
        all_columns = ", ".join(quote(c) for c in [*AIRBYTE_COLUMNS, *table.columns])
        self._db.execute(
            f"INSERT INTO {self.schema}.{quote(table.name)} ({all_columns}) "
            f"SELECT _airbyte_raw_id, _airbyte_extracted_at, "
            f"to_json({{'sync_id': '{self.sync_id}', "
            f"'changes': list_concat(_source_changes, {table.typecast_changes()})}}), 0, "
            f"{table.typed_select()} "
            f"FROM (SELECT _airbyte_raw_id, _airbyte_extracted_at, _source_changes, {unpack} "
            f"FROM read_json(?, format = 'newline_delimited', columns = {_struct_literal(read_columns)}))",
            [str(spool)],
        )
        table.written += len(table.buffer)
        table.buffer.clear()

    def close(self) -> None:
        """Close the warehouse connection and remove the spool folder."""
        self._db.close()
        for spooled in self._spool.iterdir():
            spooled.unlink()
        self._spool.rmdir()

    def __enter__(self) -> RawLayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _json_path_key(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def _struct_literal(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{sql_type}'" for name, sql_type in columns.items()) + "}"
