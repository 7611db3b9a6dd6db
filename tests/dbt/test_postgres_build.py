"""The dbt project builds on a real PostgreSQL server and gives the marts DuckDB gives.

A throwaway PostgreSQL cluster (pg_server.py: initdb + pg_ctl on 127.0.0.1 and a free port,
always stopped and deleted) gets the raw layer of generated store data (with name + address
duplicates, so probabilistic matching runs), copied from a DuckDB warehouse with COPY. Both are
built with `dbt build` (PostgreSQL: `--target postgres`, every data and unit test), then a second
extraction lands in both and both are built again (the incremental paths). After each build the
people, the grouping of source records into people, segment memberships and the CRM contacts
must be the same, and so must every other model table but for the differences
DECISIONLOG.md "Running on PostgreSQL" documents (KNOWN_DIFFERENCES below).

Skipped only when this machine has no PostgreSQL server binaries.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pendulum
import pytest
from pg_server import PostgresServer, copy_raw_layer, postgres_binaries, throwaway_cluster
from raw_fixture import STREAMS, append_records, create_raw_layer
from test_dbt_project import assert_build_ok, invoke_dbt, run_dbt

from store2crm.sandbox.generator import Dataset, generate

BINARIES = postgres_binaries()
pytestmark = [
    pytest.mark.postgres,
    # Its own group: under `pytest -n 2 --dist loadgroup` it runs beside the DuckDB dbt tests.
    pytest.mark.xdist_group("dbt_postgres"),
    pytest.mark.skipif(
        BINARIES is None,
        reason="no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin",
    ),
]

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
VARS = ["--vars", "{as_of_date: '2026-11-01'}"]
FIRST_EXTRACTION = "2026-11-01T00:00:00Z"
SECOND_EXTRACTION = "2026-11-03T00:00:00Z"
LAYERS = ("staging", "intermediate", "marts", "crm")
# Bookkeeping: the time a run wrote a row, not data (DECISIONLOG.md "Incremental builds").
IGNORED_COLUMNS = {"transformed_at", "links_lost_at"}
# (schema, table) -> {column: (relative tolerance, absolute tolerance)}; DECISIONLOG.md
# "Running on PostgreSQL" says why each differs.
KNOWN_DIFFERENCES: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    # dbt.type_float() is a 4-byte FLOAT on DuckDB, an 8-byte double on PostgreSQL.
    ("marts", "customer_scores"): {
        column: (1e-5, 1e-9)
        for column in (
            "repeat_span_days",
            "tenure_days",
            "purchase_rate_per_day",
            "probability_alive",
            "churn_probability",
            "next_purchase_probability",
            "expected_orders",
            "expected_order_value",
            "predicted_clv",
            "fitted_alpha_days",
            "fitted_gamma",
        )
    },
    # DuckDB divides the decimal revenue in double precision before rounding to cents (a half
    # cent can round down); PostgreSQL divides and rounds in numeric.
    ("marts", "dim_customers"): {"average_order_value": (0.0, 0.010001)},
}
DEFAULT_TOLERANCE = (1e-9, 1e-12)


@dataclass
class Snapshot:
    """Every model table of one engine after one build: (schema, table) -> (columns, rows)."""

    tables: dict[tuple[str, str], tuple[list[str], list[tuple[Any, ...]]]] = field(default_factory=dict)

    def rows(self, schema: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
        names, rows = self.tables[(schema, table)]
        positions = [names.index(column) for column in columns]
        return [tuple(row[position] for position in positions) for row in rows]


@dataclass
class Builds:
    """The dbt results and snapshots of both engines, after the full and the incremental build."""

    server: PostgresServer
    warehouse: Path
    results: dict[str, Any]
    snapshots: dict[str, Snapshot]
    copied: dict[str, int]


def _normalize(value: Any, is_json: bool) -> Any:
    if is_json and value is not None:
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, list):
        return tuple(value)
    return value


def _duckdb_snapshot(warehouse: Path) -> Snapshot:
    snapshot = Snapshot()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in {LAYERS} and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            kept = [(name, kind) for name, kind in columns if name not in IGNORED_COLUMNS]
            names = [name for name, _ in kept]
            rows = con.execute(f"select {', '.join(names)} from {schema}.{table}").fetchall()
            snapshot.tables[(schema, table)] = (
                names,
                [tuple(_normalize(v, kind == "JSON") for v, (_, kind) in zip(row, kept, strict=True)) for row in rows],
            )
    return snapshot


def _postgres_snapshot(server: PostgresServer) -> Snapshot:
    snapshot = Snapshot()
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("set timezone to 'UTC'")
            cursor.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema = any(%s) and table_type = 'BASE TABLE' order by 1, 2",
                [list(LAYERS)],
            )
            for schema, table in cursor.fetchall():
                cursor.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = %s and table_name = %s order by ordinal_position",
                    [schema, table],
                )
                kept = [(name, kind) for name, kind in cursor.fetchall() if name not in IGNORED_COLUMNS]
                names = [name for name, _ in kept]
                cursor.execute(f"select {', '.join(names)} from {schema}.{table}")
                snapshot.tables[(schema, table)] = (
                    names,
                    [
                        tuple(_normalize(v, kind in ("json", "jsonb")) for v, (_, kind) in zip(row, kept, strict=True))
                        for row in cursor.fetchall()
                    ],
                )
    finally:
        connection.close()
    return snapshot


def run_dbt_postgres(args: list[str], server: PostgresServer, target_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run dbt in-process with `--target postgres` against `server` (profiles.yml reads the env)."""
    monkeypatch.setenv("STORE2CRM_PG_HOST", server.host)
    monkeypatch.setenv("STORE2CRM_PG_PORT", str(server.port))
    monkeypatch.setenv("STORE2CRM_PG_USER", server.user)
    monkeypatch.setenv("STORE2CRM_PG_PASSWORD", "")
    monkeypatch.setenv("STORE2CRM_PG_DBNAME", server.dbname)
    return invoke_dbt([*args, "--target", "postgres"], target_dir, monkeypatch)


def _second_extraction(warehouse: Path, dataset: Dataset) -> None:
    """Store-side changes (new orders, refunds, cancellations, profile edits) as a later sync."""
    changed = dataset.mutate(count=40, now=NOW.add(days=2))
    for stream in sorted({stream for stream, _ in changed}):
        ids = {record_id for s, record_id in changed if s == stream}
        records = [r for r in dataset.records(stream) if r["id"] in ids]
        append_records(warehouse, stream, records, extracted_at=SECOND_EXTRACTION)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    assert BINARIES is not None
    tmp = tmp_path_factory.mktemp("dbt_postgres")
    warehouse = tmp / "warehouse.duckdb"
    dataset = generate(seed=11, scale=300, now=NOW, unlinked_duplicate_share=0.5)
    create_raw_layer(warehouse)
    for stream in STREAMS:
        append_records(warehouse, stream, dataset.records(stream), extracted_at=FIRST_EXTRACTION)
    results: dict[str, Any] = {}
    snapshots: dict[str, Snapshot] = {}
    with throwaway_cluster(BINARIES) as server, pytest.MonkeyPatch.context() as monkeypatch:
        copied = copy_raw_layer(warehouse, server)
        # The unit tests do not depend on the data: DuckDB runs them in test_dbt_project.py, and
        # the first PostgreSQL build runs them here.
        results["postgres_full"] = run_dbt_postgres(["build", *VARS], server, tmp / "pg", monkeypatch)
        snapshots["postgres_full"] = _postgres_snapshot(server)
        results["duckdb_full"] = run_dbt(
            ["build", "--exclude-resource-type", "unit_test", *VARS], warehouse, tmp / "duck", monkeypatch
        )
        snapshots["duckdb_full"] = _duckdb_snapshot(warehouse)
        _second_extraction(warehouse, dataset)
        copied_later = copy_raw_layer(warehouse, server, extracted_after=FIRST_EXTRACTION)
        copied = {table: count + copied_later.get(table, 0) for table, count in copied.items()}
        results["postgres_incremental"] = run_dbt_postgres(
            ["build", "--exclude-resource-type", "unit_test", *VARS], server, tmp / "pg", monkeypatch
        )
        snapshots["postgres_incremental"] = _postgres_snapshot(server)
        results["duckdb_incremental"] = run_dbt(
            ["build", "--exclude-resource-type", "unit_test", *VARS], warehouse, tmp / "duck", monkeypatch
        )
        snapshots["duckdb_incremental"] = _duckdb_snapshot(warehouse)
        yield Builds(server, warehouse, results, snapshots, copied)


STAGES = ("full", "incremental")


def _persons(snapshot: Snapshot) -> dict[str, frozenset[tuple[str, str]]]:
    """person_id -> the set of (record_type, source_key) that identity_map gives it."""
    persons: dict[str, set[tuple[str, str]]] = {}
    for record_type, source_key, person_id in snapshot.rows(
        "marts", "identity_map", ["record_type", "source_key", "person_id"]
    ):
        persons.setdefault(person_id, set()).add((record_type, source_key))
    return {person_id: frozenset(records) for person_id, records in persons.items()}


def test_raw_layer_keeps_the_destinations_v2_layout(builds: Builds) -> None:
    assert builds.copied["raw_store.orders"] > 0
    assert builds.copied["raw_store.events"] > 0
    connection = builds.server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_store' order by table_name, ordinal_position"
            )
            postgres_columns = cursor.fetchall()
            cursor.execute("select count(*) from raw_store.orders")
            postgres_orders = cursor.fetchone()[0]
    finally:
        connection.close()
    with duckdb.connect(str(builds.warehouse)) as con:
        duckdb_columns = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'raw_store' order by table_name, ordinal_position"
        ).fetchall()
        duckdb_orders = con.execute("select count(*) from raw_store.orders").fetchone()[0]
    assert [(table, column) for table, column, _ in postgres_columns] == duckdb_columns
    types = {(table, column): kind for table, column, kind in postgres_columns}
    assert types[("orders", "line_items")] == "jsonb"
    assert types[("orders", "_airbyte_meta")] == "jsonb"
    assert types[("orders", "_airbyte_extracted_at")] == "timestamp with time zone"
    assert postgres_orders == duckdb_orders == builds.copied["raw_store.orders"]


@pytest.mark.parametrize("stage", STAGES)
def test_postgres_build_passes_every_model_and_test(builds: Builds, stage: str) -> None:
    postgres = builds.results[f"postgres_{stage}"]
    duckdb_result = builds.results[f"duckdb_{stage}"]
    assert_build_ok(postgres)
    assert_build_ok(duckdb_result)

    def count(result: Any, resource_type: str) -> int:
        return sum(1 for r in result.result if r.node.resource_type == resource_type)

    for resource_type in ("model", "test"):
        assert count(postgres, resource_type) == count(duckdb_result, resource_type) > 0
    if stage == "full":
        assert count(postgres, "unit_test") > 0


@pytest.mark.parametrize("stage", STAGES)
def test_same_people_and_the_same_records_in_each(builds: Builds, stage: str) -> None:
    postgres = builds.snapshots[f"postgres_{stage}"]
    duckdb_snapshot = builds.snapshots[f"duckdb_{stage}"]
    assert len(postgres.tables[("marts", "dim_customers")][1]) == len(
        duckdb_snapshot.tables[("marts", "dim_customers")][1]
    )
    postgres_groups = set(_persons(postgres).values())
    duckdb_groups = set(_persons(duckdb_snapshot).values())
    assert postgres_groups == duckdb_groups
    assert len(duckdb_groups) >= len(duckdb_snapshot.tables[("marts", "dim_customers")][1]) > 100
    # Name + address matching merged some records that share no identifier, on both engines.
    matched = duckdb_snapshot.rows("marts", "identity_map", ["is_probabilistic_match"])
    assert any(flag for (flag,) in matched)
    assert sorted(postgres.rows("marts", "identity_map", ["source_key", "is_probabilistic_match"])) == sorted(
        duckdb_snapshot.rows("marts", "identity_map", ["source_key", "is_probabilistic_match"])
    )


@pytest.mark.parametrize("stage", STAGES)
def test_same_segment_memberships(builds: Builds, stage: str) -> None:
    def memberships(snapshot: Snapshot) -> set[tuple[str, frozenset[tuple[str, str]]]]:
        persons = _persons(snapshot)
        return {
            (segment, persons[person_id])
            for person_id, segment in snapshot.rows("marts", "segment_memberships", ["person_id", "segment_name"])
        }

    duckdb_memberships = memberships(builds.snapshots[f"duckdb_{stage}"])
    assert len({segment for segment, _ in duckdb_memberships}) >= 4
    assert memberships(builds.snapshots[f"postgres_{stage}"]) == duckdb_memberships


@pytest.mark.parametrize("stage", STAGES)
def test_same_crm_contacts(builds: Builds, stage: str) -> None:
    """Every column, row_hash included (it hashes external_id = person_id, the md5 of the
    person's anchor record, which both engines pick alike: same data, byte-order text)."""

    def contacts(snapshot: Snapshot) -> set[tuple[Any, ...]]:
        persons = _persons(snapshot)
        names, rows = snapshot.tables[("crm", "crm_contacts")]
        position = names.index("external_id")
        return {(persons[row[position]], *row) for row in rows}

    duckdb_contacts = contacts(builds.snapshots[f"duckdb_{stage}"])
    assert len(duckdb_contacts) > 100
    assert contacts(builds.snapshots[f"postgres_{stage}"]) == duckdb_contacts


def _close(left: Any, right: Any, tolerance: tuple[float, float]) -> bool:
    if isinstance(left, int | float) and isinstance(right, int | float) and not isinstance(left, bool):
        return math.isclose(left, right, rel_tol=tolerance[0], abs_tol=tolerance[1])
    return left == right


def _sort_key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(repr(round(v, 2) if isinstance(v, float) else v) for v in row)


@pytest.mark.parametrize("stage", STAGES)
def test_every_model_table_matches_duckdb(builds: Builds, stage: str) -> None:
    postgres = builds.snapshots[f"postgres_{stage}"]
    duckdb_snapshot = builds.snapshots[f"duckdb_{stage}"]
    assert set(postgres.tables) == set(duckdb_snapshot.tables)
    assert len(duckdb_snapshot.tables) > 25
    mismatches = []
    for key, (names, duckdb_rows) in sorted(duckdb_snapshot.tables.items()):
        postgres_names, _ = postgres.tables[key]
        assert set(postgres_names) == set(names), key
        postgres_rows = postgres.rows(*key, names)
        tolerances = [KNOWN_DIFFERENCES.get(key, {}).get(name, DEFAULT_TOLERANCE) for name in names]
        if len(postgres_rows) != len(duckdb_rows):
            mismatches.append((key, "rows", len(duckdb_rows), len(postgres_rows)))
            continue
        for duckdb_row, postgres_row in zip(
            sorted(duckdb_rows, key=_sort_key), sorted(postgres_rows, key=_sort_key), strict=True
        ):
            differing = [
                (name, left, right)
                for name, left, right, tolerance in zip(names, duckdb_row, postgres_row, tolerances, strict=True)
                if not _close(left, right, tolerance)
            ]
            if differing:
                mismatches.append((key, differing))
                break
    assert not mismatches


def test_string_similarity_is_duckdbs_jaro_winkler(builds: Builds) -> None:
    """The PL/pgSQL function the on-run-start hook creates against DuckDB's built-in on the
    profiles' names and addresses and on random strings (non-ASCII, empty, one character)."""
    profiles = builds.snapshots["duckdb_full"].rows(
        "intermediate", "int_identity_profiles", ["first_name", "last_name", "address_line"]
    )
    values = sorted({value for row in profiles for value in row if value})
    rng = random.Random(7)
    pairs = [(left, rng.choice(values)) for left in values]
    pairs += [(left, left[::-1]) for left in values[:50]]
    alphabet = "abcdeé ñ"
    pairs += [
        (
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))),
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))),
        )
        for _ in range(3000)
    ]
    pairs += [("", ""), ("a", ""), ("a", "a"), ("martha", "marhta"), ("dixon", "dicksonx"), ("jamie", "james")]
    with duckdb.connect() as con:
        expected = [con.execute("select jaro_winkler_similarity(?, ?)", list(pair)).fetchone()[0] for pair in pairs]
    connection = builds.server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select public.store2crm_jaro_winkler(l, r) "
                "from unnest(%s::text[], %s::text[]) with ordinality as p(l, r, n) order by n",
                [[left for left, _ in pairs], [right for _, right in pairs]],
            )
            actual = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    assert len(actual) == len(expected)
    # DuckDB's build fuses the Winkler multiply-add (one rounding), PL/pgSQL rounds twice: the two
    # may differ in the last bit, never more.
    far = [(pair, e, a) for pair, e, a in zip(pairs, expected, actual, strict=True) if abs(e - a) > 4e-16]
    assert not far
    assert sum(1 for e in expected if 0.7 < e < 1) > 100
