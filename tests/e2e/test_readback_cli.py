"""CRM-owned fields changed in HubSpot flow back through `store2crm run` into the marts and segments."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import duckdb
import pytest
import requests

from store2crm.demo import destination_config, source_config, write_private_json
from store2crm.sandbox.crm_emulator import CrmEmulator
from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCALE = 60
SEED = 11
OWNED_FIELDS = {"contacts": ["lifecyclestage", "hs_marketable_status"]}
# What the agent sets in HubSpot: the contact moves on in the funnel and is no longer marketable.
AGENT_UPDATE = {"lifecyclestage": "opportunity", "hs_marketable_status": "false"}


def store2crm(*args: str) -> str:
    """Run the CLI in a child process, as a user would, and return its output."""
    result = subprocess.run(
        [sys.executable, "-m", "store2crm", *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"store2crm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def query(warehouse: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the warehouse, opened read-only and closed again (the CLI needs the lock)."""
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute(sql, params or []).fetchall()


def hubspot_contact(crm: CrmEmulator, email: str) -> dict[str, Any]:
    """The emulator's stored contact with this email."""
    [contact] = [c for c in crm.objects("contacts") if c["properties"].get("email") == email]
    return contact


@pytest.fixture(scope="module")
def readback(tmp_path_factory: pytest.TempPathFactory):
    """Run once, let an agent change a consenting contact in HubSpot, run again; emulators stopped at the end."""
    workdir = tmp_path_factory.mktemp("readback")
    warehouse = workdir / "warehouse.duckdb"
    with StoreEmulator(generate(seed=SEED, scale=SCALE)) as store, CrmEmulator() as crm:
        source = write_private_json(workdir / "source.json", source_config(store))
        settings = destination_config(crm, workdir / "sync_state.duckdb") | {"crm_owned_fields": OWNED_FIELDS}
        destination = write_private_json(workdir / "destination.json", settings)
        args = ["--source-config", str(source), "--destination-config", str(destination)]
        args += ["--warehouse", str(warehouse)]
        first = store2crm("run", *args)

        # a contact who consented in the store
        person_id, email = query(
            warehouse,
            "select external_id, email from crm.crm_contacts where accepts_marketing order by external_id limit 1",
        )[0]
        contact = hubspot_contact(crm, email)
        answer = requests.post(
            f"{crm.base_url}/crm/v3/objects/contacts/batch/update",
            json={"inputs": [{"id": contact["id"], "properties": AGENT_UPDATE}]},
            headers={"Authorization": f"Bearer {crm.access_token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        second = store2crm("run", *args)
        yield {
            "crm": crm,
            "args": args,
            "warehouse": warehouse,
            "person_id": person_id,
            "email": email,
            "first": first,
            "second": second,
        }


def test_first_run_reads_back_before_any_contact_exists(readback) -> None:
    assert "read-back: 0 records" in readback["first"]
    assert "read-back:" in readback["second"]
    assert "read-back: 0 records" not in readback["second"]


def test_agent_update_reaches_the_marts(readback) -> None:
    rows = query(
        readback["warehouse"],
        "select crm_lifecycle_stage, crm_matched_on, store_marketing_consent, crm_marketing_consent,"
        " marketing_consent_source, has_marketing_consent from marts.customer_crm_fields where person_id = ?",
        [readback["person_id"]],
    )
    assert rows == [("opportunity", "external_id", True, False, "crm", False)]
    # nobody else's consent or stage came from the CRM: the agent touched one contact
    others = query(
        readback["warehouse"],
        "select count(*) from marts.customer_crm_fields where person_id <> ?"
        " and (marketing_consent_source = 'crm' or crm_lifecycle_stage is not null)",
        [readback["person_id"]],
    )
    assert others == [(0,)]


def test_segment_reacts_to_the_consent_withdrawn_in_the_crm(readback) -> None:
    members = query(
        readback["warehouse"], "select person_id from marts.segment_memberships where segment_name = 'crm_opted_out'"
    )
    assert members == [(readback["person_id"],)]
    [(segments, accepts_marketing)] = query(
        readback["warehouse"],
        "select segments, accepts_marketing from crm.crm_contacts where external_id = ?",
        [readback["person_id"]],
    )
    assert "crm_opted_out" in segments.split(";")
    # the store-owned consent property keeps saying what the store says
    assert accepts_marketing is True


def test_crm_export_carries_no_crm_owned_field(readback) -> None:
    columns = {row[0] for row in query(readback["warehouse"], "describe crm.crm_contacts")}
    assert not columns & {"lifecycle_stage", "lifecyclestage", "hs_marketable_status", "crm_lifecycle_stage"}


def test_destination_wrote_the_contact_but_kept_the_agents_fields(readback) -> None:
    properties = hubspot_contact(readback["crm"], readback["email"])["properties"]
    # the second load did write this contact (its segments changed) ...
    assert "crm_opted_out" in properties["store2crm_segments"].split(";")
    # ... and left the CRM-owned fields as the agent set them
    assert {name: properties.get(name) for name in AGENT_UPDATE} == AGENT_UPDATE


def test_rerun_keeps_the_crm_answer_and_sends_nothing(readback) -> None:
    """Our own write moved the contact's lastmodifieddate; the consent still dates from the agent's change."""
    warehouse = readback["warehouse"]
    sql = "select crm_consent_at, marketing_consent_source from marts.customer_crm_fields where person_id = ?"
    before = query(warehouse, sql, [readback["person_id"]])
    output = store2crm("run", *readback["args"])
    assert query(warehouse, sql, [readback["person_id"]]) == before
    assert "sent 0," in output
    versions = query(
        warehouse,
        "select count(*) from staging.stg_crm__hubspot_contacts where lower(email) = ?",
        [readback["email"]],
    )
    assert versions[0][0] >= 2
