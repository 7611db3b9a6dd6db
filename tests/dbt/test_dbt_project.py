"""Builds the dbt project on a throwaway DuckDB warehouse and checks the marts and CRM exports.

The raw layer is filled through the real loader (raw_fixture.py) with planted identity cases:
a guest who checked out three times with Gmail and phone variants and then opened an account,
a registered customer with a cancelled and a partly refunded order, and a guest who must stay a
different person.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt.cli.main import dbtRunner
from raw_fixture import append_records, create_raw_layer

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
pytestmark = pytest.mark.xdist_group("dbt")

T0 = "2026-01-10T10:00:00Z"


def _address(first: str, last: str, city: str, country: str) -> dict[str, Any]:
    return {"first_name": first, "last_name": last, "city": city, "country": country}


def _order(order_id: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": order_id,
        "order_number": f"10{order_id}",
        "currency": "USD",
        "financial_status": "paid",
        "total": 100.0,
        "created_at": "2026-01-02T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
        "line_items": [{"id": "1", "product_id": "p1", "quantity": 1, "price": 100.0, "total": 100.0}],
        "refunds": [],
    }
    return {**base, **fields}


def load_scenario(warehouse: Path) -> None:
    """Planted identity, revenue, stage and company cases (see the module docstring)."""
    # Jane: three guest orders with Gmail / phone variants, then an account.
    jane_billing = _address("Jane", "Doe", "Boston", "us")
    append_records(
        warehouse,
        "orders",
        [
            _order(
                "1",
                email="Jane.Doe+shop@gmail.com",
                phone="(555) 123-4567",
                billing_address=jane_billing,
                created_at="2026-01-01T09:00:00Z",
            ),
            _order(
                "2",
                email="janedoe@googlemail.com",
                phone="+1 555 123 4567",
                created_at="2026-01-03T09:00:00Z",
                updated_at="2026-01-03T09:00:00Z",
            ),
            _order(
                "3",
                email=" JANE.DOE@gmail.com ",
                phone="555.123.4567 x12",
                created_at="2026-01-05T09:00:00Z",
                updated_at="2026-01-05T09:00:00Z",
            ),
            # Bob, registered: one partly refunded paid order, one cancelled order.
            _order(
                "4",
                customer_id="2",
                email="bob@example.com",
                total=80.0,
                refunds=[{"id": "r1", "amount": 10.0, "created_at": "2026-01-06T00:00:00Z"}],
                company_id="c1",
                financial_status="partially_refunded",
            ),
            _order(
                "5",
                customer_id="2",
                email="bob@example.com",
                total=50.0,
                cancelled_at="2026-01-04T00:00:00Z",
                financial_status="voided",
            ),
            # Carol: a guest, fully refunded; her phone differs from Jane's by one digit.
            _order(
                "6",
                email="carol@example.com",
                phone="555-123-4568",
                total=40.0,
                financial_status="refunded",
                refunds=[{"id": "r2", "amount": 40.0, "created_at": "2026-01-07T00:00:00Z"}],
            ),
            # An order with no usable identifier: a deal without a contact.
            _order("7", email="not-an-email", financial_status="pending", total=15.0),
        ],
        extracted_at=T0,
    )
    # Jane's account, extracted twice: staging keeps the later version, whose consent changed on
    # 8 January at noon (the time a platform like Shopify sends) and was extracted on the 9th.
    jane = {
        "id": "1",
        "email": "jane.doe@gmail.com",
        "phone": "555 123 4567",
        "first_name": "J.",
        "last_name": "Doe",
        "account_state": "registered",
        "accepts_marketing": False,
        "default_address": _address("Jane", "Doe", "Cambridge", "US"),
        "created_at": "2026-01-08T00:00:00Z",
        "updated_at": "2026-01-08T00:00:00Z",
    }
    append_records(warehouse, "customers", [jane], extracted_at=T0)
    append_records(
        warehouse,
        "customers",
        [
            {
                **jane,
                "first_name": "Jane",
                "accepts_marketing": True,
                "marketing_consent_updated_at": "2026-01-08T12:00:00Z",
                "updated_at": "2026-01-09T00:00:00Z",
            },
            {
                "id": "2",
                "email": "Bob@Example.com",
                "phone": "+44 20 7946 0958",
                "first_name": "Bob",
                "last_name": "Stone",
                "account_state": "registered",
                "company_id": "c1",
                "created_at": "2025-12-01T00:00:00Z",
                "updated_at": "2025-12-01T00:00:00Z",
            },
        ],
        extracted_at="2026-01-10T11:00:00Z",
    )
    append_records(
        warehouse,
        "abandoned_checkouts",
        [
            {
                "id": "1",
                "phone": "0044 20 7946 0958",
                "total": 20.0,
                "created_at": "2026-01-03T00:00:00Z",
                "updated_at": "2026-01-03T00:00:00Z",
            }
        ],
        extracted_at=T0,
    )
    append_records(
        warehouse,
        "events",
        [
            {"id": "e1", "type": "page_view", "anonymous_id": "a1", "occurred_at": "2026-01-01T00:00:00Z"},
            {
                "id": "e2",
                "type": "login",
                "anonymous_id": "a1",
                "customer_id": "2",
                "occurred_at": "2026-01-01T00:05:00Z",
            },
            {"id": "e3", "type": "page_view", "anonymous_id": "a2", "occurred_at": "2026-01-01T00:00:00Z"},
        ],
        extracted_at=T0,
    )
    append_records(
        warehouse,
        "companies",
        [
            {"id": "c0", "name": "Acme Holding", "domain": "acme.example", "updated_at": T0},
            {
                "id": "c1",
                "name": "Acme East",
                "parent_id": "c0",
                "credit_limit": 5000.0,
                "credit_used": 1200.5,
                "payment_terms": "net30",
                "price_tier": "gold",
                "updated_at": T0,
            },
            {"id": "c2", "name": "Orphan Ltd", "parent_id": "missing", "updated_at": T0},
        ],
        extracted_at=T0,
    )
    append_records(
        warehouse,
        "company_contacts",
        [{"id": "cc1", "company_id": "c2", "customer_id": "1", "role": "buyer", "updated_at": T0}],
        extracted_at=T0,
    )
    append_records(
        warehouse, "products", [{"id": "p1", "title": "Mug", "sku": "MUG-1", "price": 100.0}], extracted_at=T0
    )


def run_dbt(args: list[str], warehouse: Path, target_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run dbt in-process against `warehouse`; returns the dbtRunnerResult."""
    monkeypatch.setenv("STORE2CRM_WAREHOUSE", str(warehouse))
    return invoke_dbt(args, target_dir, monkeypatch)


def invoke_dbt(args: list[str], target_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run dbt in-process on this project with its target and log folders under `target_dir`."""
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(target_dir / "target"),
            "--log-path",
            str(target_dir / "logs"),
        ]
    )


def assert_build_ok(result: Any) -> None:
    assert result.exception is None, result.exception
    failed = [
        (r.node.unique_id, str(r.status), r.message)
        for r in result.result
        if str(r.status) not in ("success", "pass", "no-op")
    ]
    assert result.success, failed
    assert not failed


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Any]]:
    tmp = tmp_path_factory.mktemp("dbt_build")
    warehouse = tmp / "warehouse.duckdb"
    create_raw_layer(warehouse)
    load_scenario(warehouse)
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = run_dbt(["build"], warehouse, tmp, monkeypatch)
    yield warehouse, tmp, result


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    # Not read_only: dbt-duckdb keeps its own connection open in this process, and DuckDB refuses
    # a second connection to one file with a different configuration.
    with duckdb.connect(str(warehouse)) as con:
        return con.execute(sql).fetchall()


def copy_of(warehouse: Path, copy: Path) -> Path:
    """A copy of the built warehouse (to turn into what an older version left)."""
    query(warehouse, "checkpoint")
    shutil.copy(warehouse, copy)
    return copy


def test_build_passes_every_model_and_test(built_warehouse: tuple[Path, Path, Any]) -> None:
    _, _, result = built_warehouse
    assert_build_ok(result)
    kinds = {r.node.resource_type for r in result.result}
    assert {"model", "test", "unit_test"} <= {str(k) for k in kinds}


def test_guest_orders_and_account_are_one_person(built_warehouse: tuple[Path, Path, Any]) -> None:
    warehouse, _, _ = built_warehouse
    persons = query(
        warehouse,
        """
        select count(distinct person_id) from marts.identity_map
        where source_key in ('woocommerce:s1:1', 'woocommerce:s1:2', 'woocommerce:s1:3')
          and record_type = 'order'
           or (record_type = 'customer' and source_key = 'woocommerce:s1:1')
        """,
    )
    assert persons == [(1,)]
    rows = query(
        warehouse,
        "select email, first_name, phone, city, country, accepts_marketing, is_registered, count_orders,"
        " total_revenue, segments, company_external_id from crm.crm_contacts where email like 'jane%'",
    )
    assert rows == [
        (
            "jane.doe@gmail.com",
            "Jane",
            "+15551234567",
            "Cambridge",
            "US",
            True,
            True,
            3,
            300,
            "b2b_buyer;loyal;vip",  # segments as of now: company buyer (c2), 3 orders, top spender
            "woocommerce:s1:c2",
        )
    ]


def test_contacts_keep_different_people_apart(built_warehouse: tuple[Path, Path, Any]) -> None:
    warehouse, _, _ = built_warehouse
    rows = query(
        warehouse,
        "select email, phone, count_orders, total_revenue, segments, company_external_id"
        " from crm.crm_contacts order by email",
    )
    assert rows == [
        ("bob@example.com", "+442079460958", 1, 70, "b2b_buyer;win_back", "woocommerce:s1:c1"),
        ("carol@example.com", "+15551234568", 0, 0, "", None),
        ("jane.doe@gmail.com", "+15551234567", 3, 300, "b2b_buyer;loyal;vip", "woocommerce:s1:c2"),
    ]
    # Bob's anonymous browsing and phone-only checkout joined his account; a2 stays anonymous.
    bob = query(
        warehouse,
        "select count(*) from marts.identity_map where person_id ="
        " (select person_id from marts.identity_map where record_key = 'customer:woocommerce:s1:2')",
    )
    assert bob == [(6,)]  # account, orders 4 and 5, checkout 1, events e1 and e2


def test_deal_stages_and_amounts(built_warehouse: tuple[Path, Path, Any]) -> None:
    warehouse, _, _ = built_warehouse
    rows = query(
        warehouse,
        "select external_id, amount, stage, order_status, contact_external_id is not null"
        " from crm.crm_deals order by external_id",
    )
    assert rows == [
        ("woocommerce:s1:1", 100, "won", "paid", True),
        ("woocommerce:s1:2", 100, "won", "paid", True),
        ("woocommerce:s1:3", 100, "won", "paid", True),
        ("woocommerce:s1:4", 70, "won", "partially_refunded", True),
        ("woocommerce:s1:5", 50, "lost", "cancelled", True),
        ("woocommerce:s1:6", 0, "lost", "refunded", True),
        ("woocommerce:s1:7", 15, "open", "pending", False),
    ]


def test_companies_link_parents_that_exist(built_warehouse: tuple[Path, Path, Any]) -> None:
    warehouse, _, _ = built_warehouse
    rows = query(
        warehouse,
        "select external_id, parent_external_id, count_orders, total_revenue, credit_used"
        " from crm.crm_companies order by external_id",
    )
    assert rows == [
        ("woocommerce:s1:c0", None, 0, 0, None),
        ("woocommerce:s1:c1", "woocommerce:s1:c0", 1, 70, pytest.approx(1200.5)),
        ("woocommerce:s1:c2", None, 0, 0, None),
    ]


def test_person_ids_are_stable_when_records_arrive(
    built_warehouse: tuple[Path, Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse, tmp, _ = built_warehouse
    before = dict(query(warehouse, "select email, external_id from crm.crm_contacts"))
    hashes_before = dict(query(warehouse, "select external_id, row_hash from crm.crm_contacts"))
    append_records(
        warehouse,
        "orders",
        [
            _order(
                "8",
                customer_id="1",
                email="jane.doe@gmail.com",
                created_at="2026-01-11T00:00:00Z",
                updated_at="2026-01-11T00:00:00Z",
            )
        ],
        extracted_at="2026-01-11T12:00:00Z",
    )
    result = run_dbt(["run"], warehouse, tmp, monkeypatch)
    assert_build_ok(result)
    after = dict(query(warehouse, "select email, external_id from crm.crm_contacts"))
    assert after == before
    hashes_after = dict(query(warehouse, "select external_id, row_hash from crm.crm_contacts"))
    jane = before["jane.doe@gmail.com"]
    assert hashes_after[jane] != hashes_before[jane]
    assert {k: v for k, v in hashes_after.items() if k != jane} == {k: v for k, v in hashes_before.items() if k != jane}


def test_build_passes_on_an_empty_raw_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "empty.duckdb"
    create_raw_layer(warehouse)
    result = run_dbt(["build"], warehouse, tmp_path, monkeypatch)
    assert_build_ok(result)
    assert query(warehouse, "select count(*) from crm.crm_contacts") == [(0,)]


def _manifest_models(target_dir: Path) -> list[dict[str, Any]]:
    manifest = json.loads((target_dir / "target" / "manifest.json").read_text())
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "store2crm"
    ]


def test_every_model_is_documented_column_for_column_and_tested(built_warehouse: tuple[Path, Path, Any]) -> None:
    warehouse, tmp, _ = built_warehouse
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    tested = {
        dependency
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        for dependency in node["depends_on"]["nodes"]
    }
    built: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in query(
        warehouse, "select table_schema, table_name, column_name from information_schema.columns order by all"
    ):
        built.setdefault((schema, table), []).append(column)
    problems = []
    for node in _manifest_models(tmp):
        documented = sorted(node["columns"])
        if not node["description"].strip():
            problems.append(f"{node['name']}: no description")
        if node["unique_id"] not in tested:
            problems.append(f"{node['name']}: no data test")
        actual = built.get((node["schema"], node["alias"]))
        if actual is None:
            problems.append(f"{node['name']}: not built")
        elif documented != actual:
            problems.append(
                f"{node['name']}: undocumented {sorted(set(actual) - set(documented))},"
                f" documented but absent {sorted(set(documented) - set(actual))}"
            )
        problems += [
            f"{node['name']}.{name}: no description"
            for name, column in node["columns"].items()
            if not column["description"].strip()
        ]
    assert problems == []


def test_an_incremental_run_on_a_table_of_an_older_version_asks_for_a_full_refresh(
    built_warehouse: tuple[Path, Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = copy_of(built_warehouse[0], tmp_path / "old.duckdb")
    # what an older version of the project left: a column the model now has is missing, one it
    # no longer has is there
    query(old, "alter table intermediate.int_identity_links drop column links_lost_at")
    query(old, "alter table intermediate.int_identity_links add column link_weight double")
    result = run_dbt(["run", "--select", "int_identity_links"], old, tmp_path, monkeypatch)
    assert not result.success
    message = " ".join(str(r.message) for r in result.result if str(r.status) == "error")
    assert "int_identity_links" in message
    assert "links_lost_at" in message
    assert "link_weight" in message
    assert "dbt build --full-refresh" in message
    assert_build_ok(run_dbt(["run", "--full-refresh", "--select", "int_identity_links"], old, tmp_path, monkeypatch))
    columns = {
        column
        for (column,) in query(
            old,
            "select column_name from information_schema.columns"
            " where table_schema = 'intermediate' and table_name = 'int_identity_links'",
        )
    }
    assert "links_lost_at" in columns
    assert "link_weight" not in columns


def _jane_consent(warehouse: Path) -> list[tuple[Any, ...]]:
    return query(
        warehouse,
        "select has_marketing_consent, marketing_consent_record_key, strftime(marketing_consent_at, '%Y-%m-%dT%H:%M')"
        " from marts.dim_customers where email = 'jane.doe@gmail.com'",
    )


def test_consent_is_dated_by_the_stores_consent_time(built_warehouse: tuple[Path, Path, Any]) -> None:
    warehouse, _, _ = built_warehouse
    assert _jane_consent(warehouse) == [(True, "customer:woocommerce:s1:1", "2026-01-08T12:00")]
    [(store_consent_at,)] = query(
        warehouse,
        "select strftime(fields.store_consent_at, '%Y-%m-%dT%H:%M') from marts.customer_crm_fields as fields"
        " inner join marts.dim_customers as customers on fields.person_id = customers.person_id"
        " where customers.email = 'jane.doe@gmail.com'",
    )
    assert store_consent_at == "2026-01-08T12:00"


def test_a_raw_layer_without_the_consent_time_builds_and_dates_consent_by_the_account(
    built_warehouse: tuple[Path, Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = copy_of(built_warehouse[0], tmp_path / "old_raw.duckdb")
    # a raw layer extracted before the canonical customers schema had the column
    query(old, "alter table raw_store.customers drop column marketing_consent_updated_at")
    selected = ["--select", "stg_store__customers", "dim_customers", "customer_crm_fields"]
    assert_build_ok(run_dbt(["run", "--full-refresh", *selected], old, tmp_path, monkeypatch))
    # an incremental run on it takes the same path
    assert_build_ok(run_dbt(["run", *selected], old, tmp_path, monkeypatch))
    assert query(old, "select count(*), count(marketing_consent_updated_at) from staging.stg_store__customers") == [
        (2, 0)
    ]
    assert _jane_consent(old) == [(True, "customer:woocommerce:s1:1", "2026-01-09T00:00")]
