"""File-exports platform: CSV, JSON Lines and Parquet exports of the generator's store, read via the entrypoint."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pendulum
import pytest
from airbyte_cdk.models import Status, SyncMode, Type
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, discover, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.test.state_builder import StateBuilder
from store_harness import NOW, catalog, check, new_dataset, read_streams, records_of, states_of

from source_store import SourceStore
from store2crm.sandbox.file_exports import FileExportStore
from store2crm.sandbox.file_exports import files_config as exported_files_config
from store2crm.sandbox.generator import Dataset

STREAMS = ("customers", "orders", "events")
CURSORS = {"customers": "updated_at", "orders": "updated_at", "events": "occurred_at"}
SUFFIX = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
EPOCH = 1_800_000_000  # a fixed mtime base (2027-01-15): file versions never depend on the test's clock


def write_export(path: Path, records: Iterable[dict[str, Any]], file_format: str, mtime: int) -> Path:
    """Write records as a CSV (nested values as JSON text), JSON Lines or Parquet (via DuckDB COPY) file."""
    records = list(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "csv":
        columns = list(dict.fromkeys(key for record in records for key in record))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows([_cell(record.get(column)) for column in columns] for record in records)
    else:
        lines = "".join(json.dumps(record) + "\n" for record in records)
        jsonl = path if file_format == "jsonl" else path.with_suffix(".tmp.jsonl")
        jsonl.write_text(lines, encoding="utf-8")
        if file_format == "parquet":
            duckdb.sql(f"COPY (SELECT * FROM read_json('{jsonl}')) TO '{path}' (FORMAT parquet)")
            jsonl.unlink()
    os.utime(path, (mtime, mtime))
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def files_config(folder: Path, file_format: str, **overrides: Any) -> dict[str, Any]:
    """A files config declaring customers, orders and events as `<stream>/*.<format>`."""
    files: dict[str, Any] = {
        "path": str(folder),
        "streams": {stream: {"glob": f"{stream}/*.{SUFFIX[file_format]}"} for stream in STREAMS},
    }
    files.update(overrides.pop("files", {}))
    config = {"platform": "files", "store_id": "exports-eu", "start_date": "2020-01-01T00:00:00Z", "files": files}
    config.update(overrides)
    return config


def export_dataset(folder: Path, dataset: Dataset, file_format: str, *, parts: int = 2, mtime: int = EPOCH) -> None:
    """Each stream split into `parts` files, with one column that has no canonical home (`source_system`)."""
    for stream in STREAMS:
        records = [{**record, "source_system": "erp-7"} for record in dataset.records(stream)]
        for part in range(parts):
            name = folder / stream / f"part-{part}.{SUFFIX[file_format]}"
            write_export(name, records[part::parts], file_format, mtime + part)


def ids(output: EntrypointOutput, stream: str) -> list[str]:
    return [record["id"] for record in records_of(output, stream)]


def final_state(output: EntrypointOutput) -> dict[str, dict[str, Any]]:
    return {stream: states_of(output, stream)[-1] for stream in STREAMS if states_of(output, stream)}


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_full_read_gives_every_record_in_canonical_form(tmp_path, file_format):
    dataset = new_dataset()
    export_dataset(tmp_path, dataset, file_format)

    output = read_streams(files_config(tmp_path, file_format), *STREAMS)

    assert not output.errors
    for stream in STREAMS:
        expected = {record["id"]: record for record in dataset.records(stream)}
        records = records_of(output, stream)
        assert sorted(ids(output, stream)) == sorted(expected)
        for record in records:
            assert record["platform"] == "files"
            assert record["store_id"] == "exports-eu"
            assert record["extra"] == {"source_system": "erp-7"}
            original = expected[record["id"]]
            for field in ("email", CURSORS[stream], "customer_id"):
                assert record.get(field) == original.get(field), (stream, record["id"], field)
    orders = {record["id"]: record for record in records_of(output, "orders")}
    for original in dataset.orders:
        assert orders[original["id"]]["total"] == pytest.approx(original["total"])
        assert [item["sku"] for item in orders[original["id"]]["line_items"]] == [
            item["sku"] for item in original["line_items"]
        ]
    customers = {record["id"]: record for record in records_of(output, "customers")}
    for original in dataset.customers:
        assert customers[original["id"]]["accepts_marketing"] is original["accepts_marketing"]
        assert customers[original["id"]]["tags"] == original["tags"]


def test_discover_lists_the_declared_streams_with_their_canonical_schema(tmp_path):
    export_dataset(tmp_path, new_dataset(), "csv")
    config = files_config(tmp_path, "csv")
    del config["files"]["streams"]["events"]

    streams = {stream.name: stream for stream in discover(SourceStore(), config).catalog.catalog.streams}

    assert sorted(streams) == ["customers", "orders"]
    assert streams["orders"].default_cursor_field == ["updated_at"]
    assert streams["orders"].source_defined_primary_key == [["id"]]
    assert "line_items" in streams["orders"].json_schema["properties"]


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_a_new_file_is_read_and_files_already_read_are_not(tmp_path, file_format):
    dataset = new_dataset()
    export_dataset(tmp_path, dataset, file_format)
    config = files_config(tmp_path, file_format)
    first = read_streams(config, *STREAMS)
    state = final_state(first)
    assert read_streams(config, *STREAMS, state=state).records == []

    changed = dataset.mutate(count=15, now=NOW.add(days=2))
    delta = {(stream, record_id) for stream, record_id in changed}
    for stream in ("customers", "orders"):
        rows = [record for record in dataset.records(stream) if (stream, record["id"]) in delta]
        write_export(tmp_path / stream / f"delta.{file_format}", rows, file_format, EPOCH + 100)

    second = read_streams(config, *STREAMS, state=state)

    for stream in ("customers", "orders"):
        assert sorted(ids(second, stream)) == sorted(record_id for name, record_id in delta if name == stream)
        assert set(states_of(second, stream)[-1]["files"]) == {
            f"{stream}/part-0.{file_format}",
            f"{stream}/part-1.{file_format}",
            f"{stream}/delta.{file_format}",
        }
    assert ids(second, "events") == []


def test_a_rewritten_snapshot_emits_only_records_at_or_after_the_cursor(tmp_path):
    dataset = new_dataset()
    snapshot = tmp_path / "customers" / "customers.csv"
    write_export(snapshot, dataset.customers, "csv", EPOCH)
    config = files_config(tmp_path, "csv")
    first = read_streams(config, "customers")
    state = {"customers": states_of(first, "customers")[-1]}
    cursor = state["customers"]["updated_at"]
    assert cursor == max(record["updated_at"] for record in dataset.customers)

    changed = {
        record_id for stream, record_id in dataset.mutate(count=30, now=NOW.add(days=1)) if stream == "customers"
    }
    write_export(snapshot, dataset.customers, "csv", EPOCH + 60)  # the same file, re-exported in full

    second = read_streams(config, "customers", state=state)

    at_boundary = {record["id"] for record in dataset.customers if record["updated_at"] == cursor}
    assert changed, "the mutation should touch customers"
    assert set(ids(second, "customers")) == changed | at_boundary
    assert states_of(second, "customers")[-1]["updated_at"] == max(r["updated_at"] for r in dataset.customers)


def test_a_state_in_the_future_returns_nothing(tmp_path):
    export_dataset(tmp_path, new_dataset(), "jsonl")
    future = {stream: {CURSORS[stream]: "2100-01-01T00:00:00Z"} for stream in STREAMS}

    output = read_streams(files_config(tmp_path, "jsonl"), *STREAMS, state=future)

    assert not output.errors
    assert output.records == []
    assert states_of(output, "orders")[-1]["updated_at"] == "2100-01-01T00:00:00Z"


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_a_read_killed_at_any_state_resumes_without_loss_or_repeat(tmp_path, file_format):
    dataset = new_dataset()
    export_dataset(tmp_path, dataset, file_format)
    config = files_config(tmp_path, file_format, files={"state_every_rows": 7})
    full = read_streams(config, "orders")
    messages = full.records_and_state_messages
    cuts = [index for index, message in enumerate(messages) if message.type == Type.STATE]
    assert len(cuts) > len(dataset.orders) // 7, "a STATE every 7 rows inside each file"
    mid_file = [messages[i].state.stream.stream_state.__dict__ for i in cuts]
    assert any("current" in state for state in mid_file)

    for cut in cuts[:-1]:
        before = [m.record.data["id"] for m in messages[:cut] if m.type == Type.RECORD]
        state = messages[cut].state.stream.stream_state.__dict__
        resumed = read_streams(config, "orders", state={"orders": state})
        assert sorted(before + ids(resumed, "orders")) == sorted(r["id"] for r in dataset.orders), cut


def test_malformed_rows_and_values_are_noted_not_fatal(tmp_path):
    dataset = new_dataset()
    good = dataset.orders[:5]
    path = write_export(tmp_path / "orders" / "orders.csv", good, "csv", EPOCH)
    header = path.read_text().splitlines()[0].split(",")
    bad_value = {**dataset.orders[5], "total": "twelve", "updated_at": "yesterday"}
    no_id = {**dataset.orders[6], "id": ""}
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["999", "too", "few"])  # line 7: wrong column count
        writer.writerow([_cell(bad_value.get(column)) for column in header])  # line 8
        writer.writerow([_cell(no_id.get(column)) for column in header])  # line 9
    os.utime(path, (EPOCH, EPOCH))
    events = tmp_path / "events" / "events.jsonl"
    events.parent.mkdir()
    events.write_text(json.dumps(dataset.events[0]) + "\n{not json\n[1, 2]\n" + json.dumps(dataset.events[1]) + "\n")
    config = files_config(tmp_path, "csv")
    config["files"]["streams"] = {"orders": {"glob": "orders/*.csv"}, "events": {"glob": "events/*.jsonl"}}

    output = read_streams(config, "orders", "events")

    assert not output.errors
    orders = {record["id"]: record for record in records_of(output, "orders")}
    assert sorted(orders) == sorted([record["id"] for record in good] + [bad_value["id"]])
    noted = orders[bad_value["id"]]
    assert noted.get("total") is None and noted.get("updated_at") is None  # (the CDK drops null keys)
    assert noted["extra"]["total"] == "twelve" and noted["extra"]["updated_at"] == "yesterday"
    assert {note["field"] for note in noted["extra"]["_changes"]} == {"total", "updated_at"}
    [message] = [m for m in output.records if m.record.data["id"] == bad_value["id"]]
    assert {change.field for change in message.record.meta.changes} == {"total", "updated_at"}
    # the record without a usable cursor does not move it
    assert states_of(output, "orders")[-1]["updated_at"] == max(record["updated_at"] for record in good)
    assert output.is_in_logs("orders/orders.csv line 7 skipped, it is malformed: 3 values")
    assert output.is_in_logs("orders/orders.csv line 9 skipped, it cannot be mapped: no id")
    assert ids(output, "events") == [dataset.events[0]["id"], dataset.events[1]["id"]]
    assert output.is_in_logs("events/events.jsonl line 2 skipped, it is malformed: not JSON")
    assert output.is_in_logs("events/events.jsonl line 3 skipped, it is malformed: a JSON list")


def test_an_unreadable_file_fails_the_stream_after_the_others_and_is_retried(tmp_path):
    dataset = new_dataset()
    export_dataset(tmp_path, dataset, "parquet")
    broken = tmp_path / "orders" / "part-9.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    os.utime(broken, (EPOCH + 50, EPOCH + 50))
    config = files_config(tmp_path, "parquet")

    output = read_streams(config, "orders", "customers")

    assert sorted(ids(output, "orders")) == sorted(record["id"] for record in dataset.orders)
    assert sorted(ids(output, "customers")) == sorted(record["id"] for record in dataset.customers)
    assert "part-9.parquet" in output.get_formatted_error_message()
    state = states_of(output, "orders")[-1]
    assert "updated_at" not in state, "the cursor waits until the broken file is read"
    assert set(state["files"]) == {"orders/part-0.parquet", "orders/part-1.parquet"}

    write_export(broken, dataset.orders[:3], "parquet", EPOCH + 60)
    retried = read_streams(config, "orders", state={"orders": state})
    assert not retried.errors
    assert sorted(ids(retried, "orders")) == sorted(record["id"] for record in dataset.orders[:3])
    assert states_of(retried, "orders")[-1]["updated_at"] == max(r["updated_at"] for r in dataset.orders)


def test_a_proprietary_export_is_mapped_by_config(tmp_path):
    dataset = new_dataset()
    rows = [
        {
            "order_ref": order["id"],
            "buyer": order["customer_id"] or "",
            "amount_cents": round(order["total"] * 100),
            "changed": pendulum.parse(order["updated_at"]).format("DD/MM/YYYY HH:mm:ss"),
            "contact.mail": order["email"] or "",
            "channel": "pos",
        }
        for order in dataset.orders
    ]
    write_export(tmp_path / "sales" / "2026-11.csv", rows, "csv", EPOCH)
    config = files_config(tmp_path, "csv")
    config["files"]["streams"] = {
        "orders": {
            "glob": "sales/*.csv",
            "format": "csv",
            "cursor_column": "changed",
            "fields": {
                "id": "order_ref",
                "customer_id": "buyer",
                "email": "contact.mail",
                "total": {"path": "amount_cents", "cents": True},
                "updated_at": {"path": "changed", "date_format": "%d/%m/%Y %H:%M:%S"},  # the cursor column's format
            },
        }
    }

    output = read_streams(config, "orders")

    assert not output.errors
    mapped = {record["id"]: record for record in records_of(output, "orders")}
    for order in dataset.orders:
        record = mapped[order["id"]]
        assert record.get("customer_id") == order["customer_id"]  # the CDK leaves null keys out
        assert record.get("email") == order["email"]
        assert record["total"] == pytest.approx(order["total"])
        assert record["updated_at"] == order["updated_at"]
        assert record["extra"] == {"channel": "pos"}


def test_cursor_column_names_the_cursor_of_an_export(tmp_path):
    dataset = new_dataset()
    rows = [{"id": event["id"], "kind": event["type"], "at": event["occurred_at"]} for event in dataset.events]
    write_export(tmp_path / "activity" / "a.jsonl", rows, "jsonl", EPOCH)
    config = files_config(tmp_path, "jsonl")
    config["files"]["streams"] = {
        "events": {"glob": "activity/*.jsonl", "cursor_column": "at", "fields": {"type": "kind"}}
    }
    cutoff = sorted(event["occurred_at"] for event in dataset.events)[len(dataset.events) // 2]

    output = read_streams(config, "events", state={"events": {"occurred_at": cutoff}})

    expected = {event["id"] for event in dataset.events if event["occurred_at"] >= cutoff}
    assert set(ids(output, "events")) == expected
    assert all(record["type"] and record["occurred_at"] >= cutoff for record in records_of(output, "events"))


def test_check_names_the_missing_folder(tmp_path):
    status = check(files_config(tmp_path / "nowhere", "csv"))
    assert status.status == Status.FAILED
    assert "nowhere" in status.message and "does not exist" in status.message


def test_check_names_each_stream_whose_glob_matches_nothing(tmp_path):
    export_dataset(tmp_path, new_dataset(), "csv")
    config = files_config(tmp_path, "csv")
    config["files"]["streams"]["events"]["glob"] = "events/*.tsv"
    config["files"]["streams"]["events"]["format"] = "csv"

    status = check(config)

    assert status.status == Status.FAILED
    assert "files.streams.events.glob 'events/*.tsv' matches no file" in status.message
    assert "customers" not in status.message


def test_check_names_a_missing_id_column_and_passes_a_good_folder(tmp_path):
    export_dataset(tmp_path, new_dataset(), "jsonl")
    assert check(files_config(tmp_path, "jsonl")).status == Status.SUCCEEDED

    config = files_config(tmp_path, "jsonl")
    config["files"]["streams"]["orders"]["fields"] = {"id": "order_ref"}
    status = check(config)
    assert status.status == Status.FAILED
    assert status.message == (
        "files.streams.orders: orders/part-1.jsonl has no 'order_ref' column; map the record id with fields.id"
    )


def test_a_full_refresh_reads_every_file_whatever_the_state(tmp_path):
    dataset = new_dataset()
    export_dataset(tmp_path, dataset, "csv")
    config = files_config(tmp_path, "csv")
    state = final_state(read_streams(config, "orders"))
    state_message = StateBuilder().with_stream_state("orders", state["orders"]).build()

    output = read(SourceStore(), config, catalog("orders", sync_mode=SyncMode.full_refresh), state_message)

    assert sorted(ids(output, "orders")) == sorted(record["id"] for record in dataset.orders)


def test_a_bad_config_fails_read_as_a_config_error(tmp_path):
    config = files_config(tmp_path, "csv")
    config["files"]["streams"]["orders"]["format"] = "xlsx"

    output = read(SourceStore(), config, catalog("orders"), expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION)

    assert "files.streams.orders.format must be one of csv, jsonl, parquet" in output.get_formatted_error_message()


def test_a_file_still_being_written_is_read_again_once_complete_and_holds_the_cursor(tmp_path):
    dataset = new_dataset()
    exports = FileExportStore(dataset, tmp_path, clock=lambda: NOW).export_all()
    config = exported_files_config(tmp_path)
    first = read_streams(config, "orders")
    state = {"orders": states_of(first, "orders")[-1]}
    dataset.mutate(count=10, now=NOW.add(hours=1))
    exports.export_changes()  # the changed orders' files are re-exported ...
    dataset.mutate(count=10, now=NOW.add(hours=2))
    partial = exports.write_partial("orders")  # ... and the next new orders' file is half written
    new_orders = set(exports._pending["orders"].ids)
    assert len(new_orders) >= 2

    second = read_streams(config, "orders", state=state)
    assert not second.errors, second.get_formatted_error_message()
    held = states_of(second, "orders")[-1]
    assert held["updated_at"] == state["orders"]["updated_at"]  # the cursor waits for the unfinished file
    assert partial not in held["files"]
    cut_off = [m.log.message for m in second.logs if "is cut off" in m.log.message]
    assert len(cut_off) == 1 and partial in cut_off[0]
    assert not [m for m in second.logs if "skipped, it is malformed" in m.log.message]

    exports.finish_partial("orders")
    third = read_streams(config, "orders", state={"orders": held})
    assert not third.errors, third.get_formatted_error_message()
    assert new_orders <= set(ids(second, "orders")) | set(ids(third, "orders"))
    assert new_orders - set(ids(second, "orders"))  # the cut-off order came with the finished file
    assert partial in states_of(third, "orders")[-1]["files"]


def test_an_export_with_malformed_rows_quarantines_each_and_keeps_every_record(tmp_path):
    dataset = new_dataset()
    exports = FileExportStore(dataset, tmp_path, clock=lambda: NOW).export_all()
    exports.configure_faults(malformed_rate=0.2, seed=4)
    output = read_streams(exported_files_config(tmp_path), *STREAMS)
    assert not output.errors, output.get_formatted_error_message()
    for stream in STREAMS:
        assert sorted(ids(output, stream)) == sorted(r["id"] for r in dataset.records(stream))
    skipped = [m.log.message for m in output.logs if "skipped, it is malformed" in m.log.message]
    files_read = {export.name for stream in STREAMS for export in exports.files[stream]}
    assert len(skipped) == sum(count for name, count in exports.broken_rows.items() if name in files_read) > 0
    noted = [m for m in output.records if m.record.meta and m.record.meta.changes]
    assert noted, "no broken value was noted"
    assert {change.field for m in noted for change in m.record.meta.changes} <= {"created_at", "total", "value"}
