"""The chain: extract (source-store → raw layer), transform (dbt build), load (crm models → destination-crm)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from store2crm.protocol import ConnectorError, run_connector
from store2crm.raw_layer import CRM_RAW_SCHEMA, RAW_SCHEMA, RawLayer

SOURCE_MODULE = "source_store"
DESTINATION_MODULE = "destination_crm"
READBACK_MODULE = "destination_crm.readback"
# CRMs the read-back source can read (destination_crm/readback/, one module per CRM).
READBACK_CRMS = frozenset({"hubspot", "salesforce"})
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
# Parents before children: contacts reference companies, deals reference both.
CRM_STREAMS = ("crm_companies", "crm_contacts", "crm_deals")
SUMMARY_PREFIX = "store2crm-summary "
# Rows read from the warehouse at a time when feeding the destination.
LOAD_FETCH_ROWS = 1_000


@dataclass
class ExtractReport:
    """What one extract did."""

    stage: str = "extract"
    records: Counter[str] = field(default_factory=Counter)
    states_saved: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        per_stream = ", ".join(f"{name} {count}" for name, count in sorted(self.records.items())) or "nothing new"
        return (
            f"{self.stage}: {sum(self.records.values())} records ({per_stream}); "
            f"{self.states_saved} states saved; {self.seconds:.1f} s"
        )


@dataclass
class TransformReport:
    """What one dbt build did, and the headline figures of the marts."""

    results: Counter[str] = field(default_factory=Counter)
    people: int = 0
    source_records: int = 0
    segments: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        results = ", ".join(f"{count} {status}" for status, count in sorted(self.results.items()))
        segments = ", ".join(f"{name} {size}" for name, size in self.segments.items()) or "none"
        return (
            f"transform: dbt build {results}; {self.source_records} person records → {self.people} people; "
            f"segments: {segments}; {self.seconds:.1f} s"
        )


@dataclass
class LoadReport:
    """What one load did, as counted by destination-crm."""

    records_sent: Counter[str] = field(default_factory=Counter)
    states_acknowledged: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        fields = (
            "received",
            "unchanged",
            "sent",
            "created",
            "updated",
            "failed",
            "queued_for_retry",
            "dead_lettered",
            "deferred",
            "associations_created",
            "api_calls",
            "quota_remaining",
        )
        counts = ", ".join(f"{name} {self.summary[name]}" for name in fields if name in self.summary)
        return f"load: {counts}; {self.states_acknowledged} states acknowledged; {self.seconds:.1f} s"


def configured_catalog(catalog: dict[str, Any]) -> dict[str, Any]:
    """Configure every discovered stream for incremental append, on its default cursor."""
    streams = []
    for stream in catalog["streams"]:
        incremental = "incremental" in stream.get("supported_sync_modes", [])
        streams.append(
            {
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append",
                "cursor_field": stream.get("default_cursor_field", []),
                "primary_key": stream.get("source_defined_primary_key", [["id"]]),
            }
        )
    return {"streams": streams}


def discover(module: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run a source's `discover` and return its catalog."""
    for message in run_connector(module, "discover", config=config):
        if message["type"] == "CATALOG":
            return message["catalog"]
    raise ConnectorError(f"{module} discover ended without a catalog")


def extract(source_config: dict[str, Any], warehouse: Path, connection_name: str = "default") -> ExtractReport:
    """Read the store through source-store into the raw layer, resuming from the saved state.

    Raw tables of canonical streams the platform does not offer (Shopify and Magento have no
    behavioural events) are created empty, so the dbt project builds on every platform.
    """
    return land(
        SOURCE_MODULE, source_config, warehouse, connection_name, RAW_SCHEMA, also_create=canonical_stream_schemas()
    )


def canonical_stream_schemas() -> list[tuple[str, dict[str, Any]]]:
    """The canonical streams and their JSON schemas: source-store's schema files are the contract."""
    folder = resources.files("source_store") / "schemas"
    return sorted(
        (entry.name.removesuffix(".json"), json.loads(entry.read_text()))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def read_back(destination_config: dict[str, Any], warehouse: Path) -> ExtractReport | None:
    """Read the CRM-owned fields changed in the CRM since the last run into `raw_crm`.

    The destination config's `crm` picks the streams (`hubspot_*` or `salesforce_*`); the other CRM's
    tables are not created, as staging reads a missing read-back table as empty. Returns None for a
    `crm` the read-back source does not know.
    """
    if destination_config.get("crm") not in READBACK_CRMS:
        return None
    return land(READBACK_MODULE, destination_config, warehouse, "crm-readback", CRM_RAW_SCHEMA)


def land(
    module: str,
    config: dict[str, Any],
    warehouse: Path,
    connection_name: str,
    schema: str,
    *,
    also_create: Sequence[tuple[str, dict[str, Any]]] = (),
) -> ExtractReport:
    """Run a source's `read` through the protocol and land its records in `schema`, state with them.

    `also_create` names tables to create (empty) when the source does not offer that stream.
    """
    started = time.monotonic()
    catalog = configured_catalog(discover(module, config))
    report = ExtractReport(stage="extract" if module == SOURCE_MODULE else "read-back")
    with RawLayer(warehouse, connection_name, schema) as raw:
        discovered = [(s["stream"]["name"], s["stream"]["json_schema"]) for s in catalog["streams"]]
        offered = {name for name, _ in discovered}
        raw.prepare([*discovered, *((name, table_schema) for name, table_schema in also_create if name not in offered)])
        messages = run_connector(module, "read", config=config, catalog=catalog, state=raw.saved_states())
        for message in messages:
            if message["type"] == "RECORD":
                record = message["record"]
                raw.add_record(record["stream"], record["data"], record["emitted_at"], record.get("meta"))
                report.records[record["stream"]] += 1
            elif message["type"] == "STATE":
                raw.commit_state(_state_stream_name(message["state"]), message["state"])
                report.states_saved += 1
        raw.flush()
    report.seconds = time.monotonic() - started
    return report


def _state_stream_name(state: dict[str, Any]) -> str:
    if state.get("type") != "STREAM":
        raise ConnectorError(f"source-store sent a {state.get('type')} state; store2crm saves per-stream states")
    return state["stream"]["stream_descriptor"]["name"]


def transform(
    warehouse: Path, *, target_path: Path | None = None, select: str | None = None, full_refresh: bool = False
) -> TransformReport:
    """Run `dbt build` on the warehouse and report the people and segment counts it produced.

    Models and their data tests run; dbt unit tests do not: they check the SQL against fixed
    inputs, not the data, so they run in `make test` (tests/dbt) rather than on every sync.
    `full_refresh` rebuilds the incremental models from the raw layer (after a project upgrade that
    changed their columns, or to repair them).
    """
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - dbt is heavy to import; only dbt steps need it

    started = time.monotonic()
    args = ["build", "--quiet", "--exclude-resource-type", "unit_test", *_dbt_location_args(target_path)]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    with _warehouse_env(warehouse):
        result = dbtRunner().invoke(args)
    report = TransformReport()
    for node_result in result.result or []:
        report.results[str(node_result.status)] += 1
    if not result.success:
        failed = [r.node.name for r in result.result or [] if str(r.status) in {"error", "fail"}]
        raise RuntimeError(f"dbt build failed ({', '.join(failed) or result.exception}); see the dbt output above")
    with duckdb.connect(str(warehouse)) as db:
        report.people = _scalar(db, "SELECT count(*) FROM {dim_customers}")
        report.source_records = _scalar(db, "SELECT count(*) FROM {identity_map}")
        report.segments = dict(
            db.execute(
                _resolve(db, "SELECT segment_name, count(*) FROM {segment_memberships} GROUP BY 1 ORDER BY 1")
            ).fetchall()
        )
    report.seconds = time.monotonic() - started
    return report


def generate_docs(warehouse: Path, target_path: Path | None = None) -> Path:
    """Run `dbt docs generate --static` and return the path of the single-file site."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - see transform()

    with _warehouse_env(warehouse):
        result = dbtRunner().invoke(["docs", "generate", "--static", "--quiet", *_dbt_location_args(target_path)])
    if not result.success:
        raise RuntimeError(f"dbt docs generate failed: {result.exception}")
    return (target_path or DBT_PROJECT_DIR / "target") / "static_index.html"


def _dbt_location_args(target_path: Path | None) -> list[str]:
    args = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    return [*args, "--target-path", str(target_path)] if target_path else args


@contextmanager
def _warehouse_env(warehouse: Path) -> Iterator[None]:
    """Point dbt's profile at `warehouse` for the duration of a with-block."""
    previous = os.environ.get("STORE2CRM_WAREHOUSE")
    Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    os.environ["STORE2CRM_WAREHOUSE"] = str(Path(warehouse).resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("STORE2CRM_WAREHOUSE", None)
        else:
            os.environ["STORE2CRM_WAREHOUSE"] = previous


def _relation(db: duckdb.DuckDBPyConnection, table_name: str) -> str:
    """The fully qualified name of the model `table_name`, wherever the dbt profile built it."""
    row = db.execute(
        "SELECT table_catalog, table_schema FROM information_schema.tables "
        "WHERE table_name = ? AND table_catalog = current_database() ORDER BY table_schema LIMIT 1",
        [table_name],
    ).fetchone()
    if row is None:
        raise RuntimeError(f"model '{table_name}' is not in the warehouse: run `store2crm transform` first")
    return f'"{row[0]}"."{row[1]}"."{table_name}"'


def _resolve(db: duckdb.DuckDBPyConnection, sql: str) -> str:
    names = [part.split("}")[0] for part in sql.split("{")[1:]]
    return sql.format(**{name: _relation(db, name) for name in names})


def _scalar(db: duckdb.DuckDBPyConnection, sql: str) -> int:
    return db.execute(_resolve(db, sql)).fetchone()[0]


def load(destination_config: dict[str, Any], warehouse: Path) -> LoadReport:
    """Feed the crm_* models to destination-crm as Airbyte messages and collect its summary."""
    started = time.monotonic()
    report = LoadReport()
    with duckdb.connect(str(warehouse)) as db:
        catalog = {"streams": [_destination_stream(db, name) for name in CRM_STREAMS]}
        messages = run_connector(
            DESTINATION_MODULE,
            "write",
            config=destination_config,
            catalog=catalog,
            messages_in=_crm_messages(db, report),
        )
        for message in messages:
            if message["type"] == "STATE":
                report.states_acknowledged += 1
            elif message["type"] == "LOG" and message["log"]["message"].startswith(SUMMARY_PREFIX):
                report.summary = json.loads(message["log"]["message"][len(SUMMARY_PREFIX) :])
    report.seconds = time.monotonic() - started
    return report


def _destination_stream(db: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    columns = db.execute(f"DESCRIBE {_relation(db, name)}").fetchall()
    properties = {column[0]: _json_schema_type(column[1]) for column in columns}
    return {
        "stream": {
            "name": name,
            "json_schema": {"type": "object", "properties": properties},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": "full_refresh",
        "destination_sync_mode": "append_dedup",
        "primary_key": [["external_id"]],
    }


def _json_schema_type(sql_type: str) -> dict[str, Any]:
    if sql_type.startswith(("DECIMAL", "DOUBLE", "FLOAT")):
        return {"type": ["null", "number"]}
    if sql_type in {"INTEGER", "BIGINT", "SMALLINT", "HUGEINT"}:
        return {"type": ["null", "integer"]}
    if sql_type == "BOOLEAN":
        return {"type": ["null", "boolean"]}
    if sql_type.startswith("TIMESTAMP"):
        return {"type": ["null", "string"], "format": "date-time"}
    return {"type": ["null", "string"]}


def _crm_messages(db: duckdb.DuckDBPyConnection, report: LoadReport) -> Iterator[dict[str, Any]]:
    """RECORD messages per crm stream, then that stream's STATE, streamed in batches."""
    emitted_at = int(time.time() * 1000)
    for name in CRM_STREAMS:
        cursor = db.cursor()
        cursor.execute(f"SELECT * FROM {_relation(cursor, name)} ORDER BY external_id")
        columns = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(LOAD_FETCH_ROWS):
            for row in rows:
                data = {column: _json_value(value) for column, value in zip(columns, row, strict=True)}
                report.records_sent[name] += 1
                yield {"type": "RECORD", "record": {"stream": name, "data": data, "emitted_at": emitted_at}}
        yield {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": name},
                    "stream_state": {"records": report.records_sent[name]},
                },
            },
        }


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
