"""The whole chain through the `store2crm` CLI against the store and CRM emulators."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
import pytest
import requests

from store2crm.demo import destination_config, source_config, write_private_json
from store2crm.sandbox.crm_emulator import CrmEmulator
from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCALE = 120
SEED = 7


def run_store2crm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "store2crm", *args], capture_output=True, text=True, timeout=600, check=False
    )


def store2crm(*args: str) -> str:
    """Run the CLI and return its output, failing the test when it fails."""
    result = run_store2crm(*args)
    assert result.returncode == 0, f"store2crm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def records_on_last_cursor(dataset) -> int:
    """How many records share the newest cursor value of their stream."""
    total = 0
    for stream in ("customers", "orders", "abandoned_checkouts", "events", "products", "companies", "company_contacts"):
        cursor = "occurred_at" if stream == "events" else "updated_at"
        values = [record[cursor] for record in getattr(dataset, stream)]
        total += values.count(max(values))
    return total


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory):
    """Both emulators on loopback, configs pointing at them, and a fresh warehouse; stopped at the end."""
    workdir = tmp_path_factory.mktemp("chain")
    dataset = generate(seed=SEED, scale=SCALE)
    with StoreEmulator(dataset) as store, CrmEmulator() as crm:
        source = write_private_json(workdir / "source.json", source_config(store))
        destination = write_private_json(
            workdir / "destination.json", destination_config(crm, workdir / "sync_state.duckdb")
        )
        args = ["--source-config", str(source), "--destination-config", str(destination)]
        args += ["--warehouse", str(workdir / "warehouse.duckdb")]
        first_output = store2crm("run", *args)
        yield {"dataset": dataset, "store": store, "crm": crm, "args": args, "workdir": workdir, "first": first_output}


def test_first_run_reports_every_stage(chain) -> None:
    output = chain["first"]
    assert "extract:" in output
    assert "transform:" in output
    assert "load:" in output


def test_crm_holds_one_contact_per_true_person(chain) -> None:
    dataset, crm = chain["dataset"], chain["crm"]
    contacts = crm.objects("contacts")
    expected_people = dataset.people_with_email()
    assert len(contacts) == len(expected_people)
    emails = [contact["properties"]["email"] for contact in contacts]
    assert len(set(emails)) == len(emails)


def test_every_person_id_is_one_true_person(chain) -> None:
    """Each resolved person holds the records of exactly one true person, and no true person is split."""
    dataset = chain["dataset"]
    with duckdb.connect(str(chain["workdir"] / "warehouse.duckdb"), read_only=True) as db:
        rows = db.execute(
            "SELECT record_type || 's', split_part(source_key, ':', 3), person_id FROM marts.identity_map "
            "WHERE record_type IN ('customer', 'order')"
        ).fetchall()
    true_people_by_person: dict[str, set[str]] = {}
    persons_by_true_person: dict[str, set[str]] = {}
    for stream, record_id, person_id in rows:
        truth = dataset.truth[(stream, record_id)]
        true_people_by_person.setdefault(person_id, set()).add(truth)
        persons_by_true_person.setdefault(truth, set()).add(person_id)
    assert all(len(truths) == 1 for truths in true_people_by_person.values())
    assert all(len(persons) == 1 for persons in persons_by_true_person.values())


def test_companies_and_deals_reach_the_crm(chain) -> None:
    dataset, crm = chain["dataset"], chain["crm"]
    assert len(crm.objects("companies")) == len(dataset.companies)
    assert len(crm.objects("deals")) == len(dataset.orders)


def test_rerun_without_store_changes_sends_nothing_and_duplicates_nothing(chain) -> None:
    crm = chain["crm"]
    before = {name: len(crm.objects(name)) for name in ("contacts", "companies", "deals")}
    output = store2crm("run", *chain["args"])
    after = {name: len(crm.objects(name)) for name in ("contacts", "companies", "deals")}
    assert after == before
    # The lower bound is inclusive: only the records sitting on each stream's saved cursor come back.
    assert f"extract: {records_on_last_cursor(chain['dataset'])} records" in output
    assert "sent 0," in output
    assert "created 0," in output


def test_changed_store_records_flow_through_incrementally(chain) -> None:
    store, crm, dataset = chain["store"], chain["crm"], chain["dataset"]
    deals_before = len(crm.objects("deals"))
    changed = requests.post(f"{store.base_url}/_sandbox/mutate", json={"count": 10}, timeout=30).json()["changed"]
    output = store2crm("run", *chain["args"])
    extracted = int(output.split("extract: ")[1].split(" records")[0])
    assert 0 < extracted < len(dataset.orders)
    assert len(crm.objects("deals")) == len(dataset.orders) >= deals_before
    assert len(crm.objects("contacts")) == len(dataset.people_with_email())
    assert changed


def test_a_warehouse_built_by_another_project_version_names_the_full_refresh_that_repairs_it(chain, tmp_path) -> None:
    """An incremental table whose columns differ from the model stops the build with the fix, which then works."""
    warehouse = tmp_path / "older.duckdb"
    shutil.copy(chain["workdir"] / "warehouse.duckdb", warehouse)
    with duckdb.connect(str(warehouse)) as db:
        db.execute("ALTER TABLE marts.dim_customers DROP COLUMN top_category")
    refused = run_store2crm("transform", "--warehouse", str(warehouse))
    assert refused.returncode != 0
    assert "dim_customers" in refused.stdout + refused.stderr
    assert "store2crm transform --full-refresh" in refused.stdout + refused.stderr
    store2crm("transform", "--warehouse", str(warehouse), "--full-refresh")
    with duckdb.connect(str(warehouse), read_only=True) as db:
        columns = [row[0] for row in db.execute("DESCRIBE marts.dim_customers").fetchall()]
    assert "top_category" in columns
    assert "transform:" in store2crm("transform", "--warehouse", str(warehouse))  # incremental again
