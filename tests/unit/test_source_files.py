"""File-exports platform, pure pieces: config table, readers, schema-typed mapping."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import duckdb
import pytest

from source_store.config import ConfigError, parse_config
from source_store.platforms import files
from source_store.platforms.files import files_connection
from source_store.platforms.files_mapping import RowMapper, typed_value
from source_store.platforms.files_readers import CsvOptions, ExportFileError, format_of, read_rows

VALID = {
    "platform": "files",
    "store_id": "exports",
    "start_date": "2024-01-01T00:00:00Z",
    "files": {"path": "/data/exports", "streams": {"orders": {"glob": "orders/*.csv"}}},
}


def connection(**files_overrides):
    return files_connection(parse_config({**VALID, "files": {**VALID["files"], **files_overrides}}))


def stream_connection(**stream):
    return connection(streams={"orders": {"glob": "orders/*.csv", **stream}})


def test_a_minimal_config_takes_the_defaults():
    parsed = connection()
    [export] = parsed.exports
    assert parsed.folder == Path("/data/exports")
    assert parsed.state_every_rows == files.DEFAULT_STATE_EVERY_ROWS
    assert (export.stream, export.file_format, export.cursor_field, dict(export.fields)) == (
        "orders",
        "csv",
        "updated_at",
        {},
    )
    assert export.csv == CsvOptions()


def test_cursor_column_maps_the_canonical_cursor_and_events_use_occurred_at():
    parsed = connection(streams={"events": {"glob": "e/*.jsonl", "cursor_column": "ts"}})
    [export] = parsed.exports
    assert (export.file_format, export.cursor_field, export.fields) == ("jsonl", "occurred_at", {"occurred_at": "ts"})


def test_csv_options_are_read():
    [export] = stream_connection(
        csv={"delimiter": "\\t", "null_values": ["NULL"], "column_names": ["id", "total"], "encoding": "latin-1"}
    ).exports
    assert export.csv == CsvOptions(
        delimiter="\t", null_values=frozenset({"NULL"}), column_names=("id", "total"), encoding="latin-1"
    )


@pytest.mark.parametrize(
    ("files_overrides", "message"),
    [
        ({"path": ""}, "files.path is required"),
        ({"path": "s3://bucket/exports"}, "only local folders are read"),
        ({"streams": {}}, "files.streams must map at least one"),
        ({"streams": {"sales": {"glob": "*.csv"}}}, "unknown stream\\(s\\) sales"),
        ({"state_every_rows": 0}, "files.state_every_rows must be a positive integer"),
        ({"streams": {"orders": "orders/*.csv"}}, "files.streams.orders must be an object"),
        ({"streams": {"orders": {"glob": ""}}}, "files.streams.orders.glob is required"),
        ({"streams": {"orders": {"glob": "/etc/*.csv"}}}, "must stay inside files.path"),
        ({"streams": {"orders": {"glob": "../x/*.csv"}}}, "must stay inside files.path"),
        ({"streams": {"orders": {"glob": "orders/*"}}}, "files.streams.orders.format must be one of"),
        ({"streams": {"orders": {"glob": "o/*.csv", "format": "xlsx"}}}, "format must be one of csv, jsonl, parquet"),
        ({"streams": {"orders": {"glob": "o/*.csv", "globs": []}}}, "unknown key\\(s\\) globs"),
        ({"streams": {"orders": {"glob": "o/*.csv", "fields": {"totl": "t"}}}}, "totl not in the canonical orders"),
        ({"streams": {"orders": {"glob": "o/*.csv", "fields": {"total": {"cents": True}}}}}, "fields.total must be"),
        (
            {"streams": {"orders": {"glob": "o/*.csv", "cursor_column": "a", "fields": {"updated_at": "b"}}}},
            "cursor_column and fields.updated_at name different columns",
        ),
        ({"streams": {"orders": {"glob": "o/*.csv", "csv": {"delimiter": ";;"}}}}, "csv.delimiter must be a single"),
        ({"streams": {"orders": {"glob": "o/*.csv", "csv": {"encoding": "klingon"}}}}, "not a known encoding"),
        ({"streams": {"orders": {"glob": "o/*.csv", "csv": {"header": True}}}}, "csv must be an object with only"),
        ({"streams": {"orders": {"glob": "o/*.csv", "csv": {"skip_rows_before_header": -1}}}}, "non-negative"),
    ],
)
def test_invalid_files_configs_name_the_field(files_overrides, message):
    with pytest.raises(ConfigError, match=message):
        connection(**files_overrides)


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("orders/*.csv", "csv"),
        ("orders/*.CSV.gz", "csv"),
        ("x/*.tsv", "csv"),
        ("**/*.jsonl", "jsonl"),
        ("*.ndjson.gz", "jsonl"),
        ("y/*.parquet", "parquet"),
        ("z/*", None),
    ],
)
def test_format_of_a_glob(glob, expected):
    assert format_of(glob) == expected


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("12.50", {"type": ["null", "number"]}, 12.5),
        ("twelve", {"type": ["null", "number"]}, None),
        ("7", {"type": ["null", "integer"]}, 7),
        ("7.5", {"type": ["null", "integer"]}, None),
        ("yes", {"type": ["null", "boolean"]}, True),
        ("0", {"type": ["null", "boolean"]}, False),
        ("maybe", {"type": ["null", "boolean"]}, None),
        ("2026-10-01 12:00:00", {"type": ["null", "string"], "format": "date-time"}, "2026-10-01T12:00:00Z"),
        ("2026-10-01T14:00:00+02:00", {"type": ["null", "string"], "format": "date-time"}, "2026-10-01T12:00:00Z"),
        ("1990-02-03T00:00:00", {"type": ["null", "string"], "format": "date"}, "1990-02-03"),
        (1042, {"type": "string"}, "1042"),
        (1042.0, {"type": "string"}, "1042"),
        ({"a": 1}, {"type": "string"}, None),
        ('["vip", "b2b"]', {"type": ["null", "array"]}, ["vip", "b2b"]),
        ("vip", {"type": ["null", "array"]}, None),
        ('{"city": "Lyon"}', {"type": ["null", "object"]}, {"city": "Lyon"}),
        ('["not", "an object"]', {"type": ["null", "object"]}, None),
    ],
)
def test_values_are_typed_by_the_canonical_schema(value, spec, expected):
    assert typed_value(value, spec) == expected


def test_row_mapper_maps_canonical_columns_overrides_and_keeps_the_rest_in_extra():
    mapper = RowMapper("customers", {"email": "contact.mail", "first_name": "person.given"})
    record = mapper(
        {
            "id": 12,
            "email": "old@example.com",
            "contact.mail": "new@example.com",
            "person": {"given": "Ada"},
            "accepts_marketing": "true",
            "tags": '["vip"]',
            "birthdate": "1815-13-40",
            "updated_at": "2026-10-01T00:00:00Z",
            "loyalty": "gold",
        }
    )
    assert record["id"] == "12"
    assert record["email"] == "new@example.com"  # the mapping wins; the same-named column goes to extra
    assert record["first_name"] == "Ada"
    assert record["accepts_marketing"] is True and record["tags"] == ["vip"]
    assert record["birthdate"] is None
    assert record["extra"] == {
        "email": "old@example.com",
        "loyalty": "gold",
        "birthdate": "1815-13-40",
        "_changes": [{"field": "birthdate", "change": "NULLED", "reason": "PLATFORM_SERIALIZATION_ERROR"}],
    }


def test_row_mapper_refuses_a_row_without_id():
    with pytest.raises(ValueError, match="no id \\(column 'ref'"):
        RowMapper("orders", {"id": "ref"})({"ref": "", "total": "1"})


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_rows_with_options_line_numbers_and_malformed_rows(tmp_path):
    path = _write(tmp_path / "a.csv", 'exported by ERP\nid;total\n1;NULL\n\n2;3;4\n3;"multi\nline"\n4;5\n')
    options = CsvOptions(delimiter=";", null_values=frozenset({"NULL"}), skip_rows_before_header=1)
    rows = list(read_rows(path, "csv", options))
    assert [(row.ordinal, row.line, row.values, row.problem) for row in rows] == [
        (1, 3, {"id": "1", "total": None}, None),
        (2, 5, None, "3 values for 2 columns"),
        (3, 7, {"id": "3", "total": "multi\nline"}, None),
        (4, 8, {"id": "4", "total": "5"}, None),
    ]


def test_csv_without_header_gzip_and_encoding(tmp_path):
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress("7,Zoë\n".encode("latin-1")))
    options = CsvOptions(column_names=("id", "first_name"), encoding="latin-1")
    assert [row.values for row in read_rows(path, "csv", options)] == [{"id": "7", "first_name": "Zoë"}]
    with pytest.raises(ExportFileError, match="is not utf-8 text"):
        list(read_rows(path, "csv", CsvOptions(column_names=("id", "first_name"))))


def test_a_csv_header_with_repeated_columns_is_refused(tmp_path):
    path = _write(tmp_path / "a.csv", "id,email,email\n1,a,b\n")
    with pytest.raises(ExportFileError, match="repeated column names \\['email'\\]"):
        list(read_rows(path, "csv", CsvOptions()))


def test_jsonl_rows_report_bad_lines_and_skip_blank_ones(tmp_path):
    path = _write(tmp_path / "a.jsonl", '{"id": 1}\n\nnope\n"text"\n{"id": 2, "a": {"b": [1]}}\n')
    rows = list(read_rows(path, "jsonl", CsvOptions()))
    assert [(row.ordinal, row.line, row.values) for row in rows] == [
        (1, 1, {"id": 1}),
        (2, 3, None),
        (3, 4, None),
        (4, 5, {"id": 2, "a": {"b": [1]}}),
    ]
    assert rows[2].problem == "a JSON str, not an object"


def test_parquet_rows_come_back_as_json_values(tmp_path):
    path = tmp_path / "a.parquet"
    duckdb.sql(
        "COPY (SELECT '1' AS id, 12.50::DECIMAL(10,2) AS total, TIMESTAMP '2026-10-01 12:00:00' AS updated_at, "
        "{'city': 'Lyon'} AS address, ['a', 'b'] AS tags, DATE '1990-02-03' AS birthdate) "
        f"TO '{path}' (FORMAT parquet)"
    )
    [row] = read_rows(path, "parquet", CsvOptions())
    assert row.values == {
        "id": "1",
        "total": 12.5,
        "updated_at": "2026-10-01T12:00:00Z",
        "address": {"city": "Lyon"},
        "tags": ["a", "b"],
        "birthdate": "1990-02-03",
    }
    broken = _write(tmp_path / "b.parquet", "not parquet")
    with pytest.raises(ExportFileError, match=r"b\.parquet is not a readable Parquet file"):
        list(read_rows(broken, "parquet", CsvOptions()))


def test_check_connection_reports_every_problem(tmp_path):
    (tmp_path / "orders").mkdir()
    _write(tmp_path / "orders" / "o.csv", "ref,total\n1,2\n")
    config = parse_config(
        {
            **VALID,
            "files": {
                "path": str(tmp_path),
                "streams": {"orders": {"glob": "orders/*.csv"}, "customers": {"glob": "customers/*.jsonl"}},
            },
        }
    )
    problem = files.check_connection(config, logging.getLogger("test"))
    assert problem == (
        f"files.streams.customers.glob 'customers/*.jsonl' matches no file in {tmp_path}; "
        "files.streams.orders: orders/o.csv has no 'id' column; map the record id with fields.id"
    )
