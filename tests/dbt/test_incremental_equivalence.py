"""An incremental dbt build after new data equals a full rebuild of the same raw layer.

Generated store data is built in full, then a second extraction lands: store-side changes
(new orders, refunds, cancellations, profile edits), new events, an update that takes every
identifier away from an order, an update that moves an email from one person to another, and a
guest order that carries one person's email and another's phone (it merges the two people), a
bridge order of the first extraction that loses the phone joining two people (they split again),
six new accounts sharing one person's email (it goes over the cap and stops linking), an
account whose creation moves before everything else of its person (it becomes the anchor), an
order that loses all its line items and one that loses one.
The warehouse is built incrementally; a copy of the same raw layer is built with
`--full-refresh`; every mart, CRM export and incremental model must hold the same rows (the
bookkeeping column `transformed_at`, the time a run wrote a row, aside).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pendulum
import pytest
from raw_fixture import STREAMS, append_records, create_raw_layer
from test_dbt_project import assert_build_ok, run_dbt

from store2crm.sandbox.generator import Dataset, generate

pytestmark = pytest.mark.xdist_group("dbt")

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
AS_OF = ["--vars", "{as_of_date: '2026-11-01'}"]
FIRST_EXTRACTION = "2026-11-01T00:00:00Z"
SECOND_EXTRACTION = "2026-11-03T00:00:00Z"
# (schema, table) compared between the incremental and the full-refresh warehouse.
COMPARED = (
    ("staging", "stg_store__events"),
    ("staging", "stg_store__orders"),
    ("staging", "stg_store__customers"),
    ("staging", "stg_store__abandoned_checkouts"),
    ("intermediate", "int_identifiers_normalized"),
    ("intermediate", "int_identity_links"),
    ("intermediate", "int_persons_resolved"),
    ("intermediate", "int_order_lines_unnested"),
    ("marts", "identity_map"),
    ("marts", "orders"),
    ("marts", "dim_customers"),
    ("marts", "customer_timeline"),
    ("marts", "segment_memberships"),
    ("marts", "customer_category_affinity"),
    ("marts", "reorder_cycles"),
    ("crm", "crm_contacts"),
    ("crm", "crm_deals"),
    ("crm", "crm_companies"),
)
IGNORED_COLUMNS = {"transformed_at", "links_lost_at"}


def _load(warehouse: Path, dataset: Dataset, extracted_at: str) -> None:
    for stream in STREAMS:
        append_records(warehouse, stream, dataset.records(stream), extracted_at=extracted_at)


def _split_bridge(dataset: Dataset, at: str) -> dict[str, Any]:
    """A guest order with the fourth person's email and the fifth's phone: it joins them."""
    customers = [c for c in dataset.records("customers") if c.get("email") and c.get("phone")]
    return {
        **dataset.records("orders")[0],
        "id": "split-bridge-1",
        "order_number": "split-bridge-1",
        "customer_id": None,
        "email": customers[3]["email"],
        "phone": customers[4]["phone"],
        "billing_address": None,
        "created_at": at,
        "updated_at": at,
        "refunds": [],
    }


def _second_extraction(warehouse: Path, dataset: Dataset) -> dict[str, Any]:
    """Land changes of every kind the incremental models must follow; return what was planted."""
    changed = dataset.mutate(count=60, now=NOW.add(days=2))
    for stream in sorted({stream for stream, _ in changed}):
        ids = {record_id for s, record_id in changed if s == stream}
        append_records(
            warehouse, stream, [r for r in dataset.records(stream) if r["id"] in ids], extracted_at=SECOND_EXTRACTION
        )
    orders = dataset.records("orders")
    customers = [c for c in dataset.records("customers") if c.get("email") and c.get("phone")]
    first, second, third = customers[0], customers[1], customers[2]
    at = NOW.add(days=2).to_iso8601_string()
    # a guest order with the first person's email and the second's phone: one person now
    bridge = {
        **orders[0],
        "id": "bridge-1",
        "order_number": "bridge-1",
        "customer_id": None,
        "email": first["email"],
        "phone": second["phone"],
        "billing_address": None,
        "created_at": at,
        "updated_at": at,
        "refunds": [],
    }
    # an existing guest order left with no identifier at all (it leaves the identity graph)
    guest = next(o for o in orders if not o.get("customer_id") and o.get("email"))
    stripped = {
        **guest,
        "email": None,
        "phone": None,
        "billing_address": None,
        "updated_at": at,
    }
    # the third person's account takes a new email: the old one loses a holder
    moved = {**third, "email": "moved.elsewhere@example.com", "updated_at": at}
    # the first extraction's bridge loses its phone: the fourth and fifth people split again
    split = {**_split_bridge(dataset, FIRST_EXTRACTION), "phone": None, "updated_at": at}
    # six new accounts with the sixth person's email: over the cap, it links no one any more
    shared = customers[5]["email"]
    sharing = [
        {**customers[5], "id": f"shared-{n}", "phone": None, "default_address": None, "addresses": [], "updated_at": at}
        for n in range(6)
    ]
    # the seventh person's account was created before anything else of theirs: the new anchor
    earlier = {**customers[6], "created_at": "2020-01-01T00:00:00Z", "updated_at": at}
    # two orders no other change touches: one loses every line item, the other its last one
    untouched = {record_id for _, record_id in changed} | {guest["id"]}
    emptied_from, trimmed_from = [
        o for o in orders if o["id"] not in untouched and o.get("customer_id") and len(o.get("line_items") or []) >= 2
    ][:2]
    emptied = {**emptied_from, "line_items": [], "updated_at": at}
    trimmed = {**trimmed_from, "line_items": trimmed_from["line_items"][:-1], "updated_at": at}
    append_records(warehouse, "orders", [bridge, stripped, split, emptied, trimmed], extracted_at=SECOND_EXTRACTION)
    append_records(warehouse, "customers", [moved, *sharing, earlier], extracted_at=SECOND_EXTRACTION)
    # new browsing: a new browser of the first person (logged in) and anonymous events
    events = [
        {
            "id": f"new-{n}",
            "type": "page_view" if n % 2 else "login",
            "anonymous_id": f"new-browser-{n % 3}",
            "customer_id": first["id"] if n % 2 == 0 else None,
            "occurred_at": at,
        }
        for n in range(6)
    ]
    append_records(warehouse, "events", events, extracted_at=SECOND_EXTRACTION)
    return {
        "bridge": bridge,
        "stripped": stripped,
        "moved": moved,
        "first": first,
        "second": second,
        "split": split,
        "shared": shared,
        "earlier": earlier,
        "fourth": customers[3],
        "fifth": customers[4],
        "emptied": emptied,
        "trimmed": trimmed,
    }


def _rows(warehouse: Path, schema: str, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with duckdb.connect(str(warehouse)) as con:
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            if name not in IGNORED_COLUMNS
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f'select {listed} from "{schema}"."{table}" order by all').fetchall()
    return columns, rows


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any], Any]:
    """(incrementally built warehouse, fully rebuilt copy, planted records, incremental run result)."""
    tmp = tmp_path_factory.mktemp("dbt_incremental")
    incremental = tmp / "incremental.duckdb"
    full = tmp / "full.duckdb"
    dataset = generate(seed=21, scale=300, now=NOW)
    create_raw_layer(incremental)
    _load(incremental, dataset, FIRST_EXTRACTION)
    append_records(incremental, "orders", [_split_bridge(dataset, FIRST_EXTRACTION)], extracted_at=FIRST_EXTRACTION)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_build_ok(run_dbt(["build", *AS_OF], incremental, tmp, monkeypatch))
        planted = _second_extraction(incremental, dataset)
        with duckdb.connect(str(incremental)) as con:
            con.execute("checkpoint")  # the copy must not miss what is still in the write-ahead log
        shutil.copy(incremental, full)
        result = run_dbt(["build", *AS_OF], incremental, tmp, monkeypatch)
        assert_build_ok(result)
        assert_build_ok(run_dbt(["build", "--full-refresh", *AS_OF], full, tmp, monkeypatch))
    return incremental, full, planted, result


@pytest.mark.parametrize(("schema", "table"), COMPARED)
def test_incremental_build_equals_a_full_rebuild(
    built: tuple[Path, Path, dict[str, Any], Any], schema: str, table: str
) -> None:
    incremental, full, _, _ = built
    columns, incremental_rows = _rows(incremental, schema, table)
    full_columns, full_rows = _rows(full, schema, table)
    assert columns == full_columns
    assert incremental_rows, f"{schema}.{table} is empty"
    missing = sorted(set(full_rows) - set(incremental_rows), key=repr)[:5]
    extra = sorted(set(incremental_rows) - set(full_rows), key=repr)[:5]
    assert (missing, extra) == ([], []), columns
    assert len(incremental_rows) == len(full_rows)


def test_incremental_models_ran_incrementally(built: tuple[Path, Path, dict[str, Any], Any]) -> None:
    _, _, _, result = built
    incremental_models = {
        r.node.name
        for r in result.result
        if r.node.resource_type == "model" and r.node.config.materialized == "incremental"
    }
    assert {
        "stg_store__events",
        "stg_store__orders",
        "int_identifiers_normalized",
        "int_identity_links",
        "int_persons_resolved",
        "int_order_lines_unnested",
        "identity_map",
        "orders",
        "dim_customers",
        "customer_timeline",
    } <= incremental_models


def test_planted_changes_reached_the_marts(built: tuple[Path, Path, dict[str, Any], Any]) -> None:
    incremental, _, planted, _ = built
    with duckdb.connect(str(incremental)) as con:
        people = con.execute(
            "select count(distinct person_id) from marts.identity_map where record_key in (?, ?, ?)",
            [
                "order:woocommerce:s1:bridge-1",
                f"customer:woocommerce:s1:{planted['first']['id']}",
                f"customer:woocommerce:s1:{planted['second']['id']}",
            ],
        ).fetchone()
        stripped = con.execute(
            "select count(*) from marts.identity_map where record_key = ?",
            [f"order:woocommerce:s1:{planted['stripped']['id']}"],
        ).fetchone()
        moved = con.execute(
            "select count(*) from crm.crm_contacts where email = 'moved.elsewhere@example.com'"
        ).fetchone()
        split = con.execute(
            "select count(distinct person_id) from marts.identity_map where record_key in (?, ?)",
            [
                f"customer:woocommerce:s1:{planted['fourth']['id']}",
                f"customer:woocommerce:s1:{planted['fifth']['id']}",
            ],
        ).fetchone()
        shared = con.execute(
            "select distinct excluded_reason from intermediate.int_identifiers_normalized"
            " where identifier_type = 'email' and raw_value = ?",
            [planted["shared"]],
        ).fetchall()
        anchor = con.execute(
            "select distinct anchor_record_key from marts.identity_map where person_id = ("
            " select person_id from marts.identity_map where record_key = ?)",
            [f"customer:woocommerce:s1:{planted['earlier']['id']}"],
        ).fetchall()
        lines = [
            (
                order_key,
                con.execute(
                    "select count(*) from intermediate.int_order_lines_unnested where order_key = ?", [order_key]
                ).fetchone()[0],
            )
            for order_key in (
                f"woocommerce:s1:{planted['emptied']['id']}",
                f"woocommerce:s1:{planted['trimmed']['id']}",
            )
        ]
    assert lines == [
        (f"woocommerce:s1:{planted['emptied']['id']}", 0),
        (f"woocommerce:s1:{planted['trimmed']['id']}", len(planted["trimmed"]["line_items"])),
    ]
    assert people == (1,)  # the bridge order merged two people
    assert stripped == (0,)  # the order without identifiers left the graph
    assert moved == (1,)
    assert split == (2,)  # the bridge lost its phone: two people again
    assert shared == [("over_cap",)]
    assert anchor == [(f"customer:woocommerce:s1:{planted['earlier']['id']}",)]
