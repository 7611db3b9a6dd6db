"""Raw layer: typed Destinations V2 tables, typecast notes, state saved with its records."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from store2crm.raw_layer import RawLayer, column_type

SCHEMAS = Path(__file__).resolve().parents[2] / "source-store" / "source_store" / "schemas"
EMITTED_AT_MS = 1_764_000_000_000


def orders_schema() -> dict:
    return json.loads((SCHEMAS / "orders.json").read_text())


def stream_state(stream: str, cursor: str) -> dict:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"updated_at": cursor}}}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["null", "string"]}, "VARCHAR"),
        ({"type": ["null", "string"], "format": "date-time"}, "TIMESTAMPTZ"),
        ({"type": "string", "format": "date"}, "DATE"),
        ({"type": ["null", "number"]}, "DECIMAL(38,9)"),
        ({"type": "integer"}, "BIGINT"),
        ({"type": ["null", "boolean"]}, "BOOLEAN"),
        ({"type": ["null", "object"]}, "JSON"),
        ({"type": ["null", "array"]}, "JSON"),
        ({"type": ["null", "string", "integer"]}, "JSON"),
    ],
)
def test_column_types_follow_destinations_v2(schema: dict, expected: str) -> None:
    assert column_type(schema) == expected


def test_records_land_typed_with_airbyte_columns(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", orders_schema())])
        raw.add_record(
            "orders",
            {
                "id": "1",
                "platform": "woocommerce",
                "store_id": "s1",
                "total": "12.50",
                "updated_at": "2026-01-02T03:04:05Z",
                "line_items": [{"id": "9", "quantity": 2}],
                "vendor_field": "kept in the payload only",
            },
            EMITTED_AT_MS,
        )
        raw.commit_state("orders", stream_state("orders", "2026-01-02T03:04:05Z"))
    with duckdb.connect(str(warehouse)) as db:
        db.execute("SET TimeZone = 'UTC'")
        row = db.execute(
            "SELECT id, total::VARCHAR, updated_at::VARCHAR, line_items->>'$[0].quantity', "
            "_airbyte_raw_id IS NOT NULL, _airbyte_extracted_at::VARCHAR, _airbyte_generation_id "
            "FROM raw_store.orders"
        ).fetchone()
    assert row == ("1", "12.500000000", "2026-01-02 03:04:05+00", "2", True, "2025-11-24 16:00:00+00", 0)


def test_value_that_does_not_cast_is_nulled_and_noted(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", orders_schema())])
        raw.add_record(
            "orders", {"id": "2", "platform": "x", "store_id": "s", "updated_at": "not a time"}, EMITTED_AT_MS
        )
        raw.flush()
    with duckdb.connect(str(warehouse)) as db:
        updated_at, meta = db.execute("SELECT updated_at, _airbyte_meta FROM raw_store.orders").fetchone()
    assert updated_at is None
    assert json.loads(meta)["changes"] == [
        {"field": "updated_at", "change": "NULLED", "reason": "DESTINATION_TYPECAST_ERROR"}
    ]


def test_source_change_notes_land_in_airbyte_meta_beside_typecast_notes(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    source_note = {"field": "total", "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", orders_schema())])
        raw.add_record(
            "orders",
            {"id": "3", "platform": "x", "store_id": "s", "updated_at": "never"},
            EMITTED_AT_MS,
            {"changes": [source_note]},
        )
        raw.add_record("orders", {"id": "4", "platform": "x", "store_id": "s"}, EMITTED_AT_MS)
        raw.flush()
    with duckdb.connect(str(warehouse)) as db:
        metas = dict(db.execute("SELECT id, _airbyte_meta FROM raw_store.orders").fetchall())
    assert json.loads(metas["3"])["changes"] == [
        source_note,
        {"field": "updated_at", "change": "NULLED", "reason": "DESTINATION_TYPECAST_ERROR"},
    ]
    assert json.loads(metas["4"])["changes"] == []


def test_explicit_nulls_land_as_sql_nulls_without_notes(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", orders_schema())])
        raw.add_record(
            "orders",
            {"id": "5", "platform": "x", "store_id": "s", "total": None, "updated_at": None, "line_items": None},
            EMITTED_AT_MS,
        )
        raw.flush()
    with duckdb.connect(str(warehouse)) as db:
        row = db.execute("SELECT total, updated_at, line_items, _airbyte_meta FROM raw_store.orders").fetchone()
    assert row[:3] == (None, None, None)
    assert json.loads(row[3])["changes"] == []


def test_state_is_saved_with_records_and_read_back(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with RawLayer(warehouse, connection_name="shop") as raw:
        raw.prepare([("orders", orders_schema())])
        raw.add_record("orders", {"id": "1", "platform": "x", "store_id": "s"}, EMITTED_AT_MS)
        raw.commit_state("orders", stream_state("orders", "2026-01-01T00:00:00Z"))
        raw.commit_state("orders", stream_state("orders", "2026-02-01T00:00:00Z"))
    with RawLayer(warehouse, connection_name="shop") as raw:
        assert raw.saved_states() == [stream_state("orders", "2026-02-01T00:00:00Z")]
    with RawLayer(warehouse, connection_name="other") as raw:
        assert raw.saved_states() == []


def test_unsaved_records_do_not_advance_state(tmp_path: Path) -> None:
    """Records buffered after the last state are written by flush, but the state stays where it was."""
    warehouse = tmp_path / "w.duckdb"
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", orders_schema())])
        raw.commit_state("orders", stream_state("orders", "2026-01-01T00:00:00Z"))
        raw.add_record("orders", {"id": "1", "platform": "x", "store_id": "s"}, EMITTED_AT_MS)
        raw.flush()
        assert raw.saved_states() == [stream_state("orders", "2026-01-01T00:00:00Z")]
        assert raw.row_counts() == {"orders": 1}


def test_new_schema_field_widens_the_table(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    schema = orders_schema()
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", schema)])
    schema["properties"]["loyalty_points"] = {"type": ["null", "integer"]}
    with RawLayer(warehouse) as raw:
        raw.prepare([("orders", schema)])
        raw.add_record("orders", {"id": "1", "platform": "x", "store_id": "s", "loyalty_points": 7}, EMITTED_AT_MS)
        raw.flush()
    with duckdb.connect(str(warehouse)) as db:
        assert db.execute("SELECT loyalty_points FROM raw_store.orders").fetchone() == (7,)


def test_record_for_unknown_stream_is_refused(tmp_path: Path) -> None:
    with RawLayer(tmp_path / "w.duckdb") as raw, pytest.raises(KeyError, match="not in the configured catalog"):
        raw.add_record("nope", {"id": "1"}, EMITTED_AT_MS)
