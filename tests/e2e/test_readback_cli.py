"""CRM-owned fields changed in HubSpot or Salesforce flow back through `store2crm run` into marts and segments."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


def hubspot_contact(crm: CrmEmulator, email: str) -> dict[str, Any]:
    """The emulator's stored HubSpot contact with this email."""
    [contact] = [c for c in crm.objects("contacts") if c["properties"].get("email") == email]
    return contact


def hubspot_agent_edit(crm: CrmEmulator, email: str, properties: dict[str, Any]) -> None:
    """An agent changes the contact in HubSpot (batch update by id)."""
    answer = requests.post(
        f"{crm.base_url}/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": hubspot_contact(crm, email)["id"], "properties": properties}]},
        headers={"Authorization": f"Bearer {crm.access_token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def salesforce_contact(crm: CrmEmulator, email: str) -> dict[str, Any]:
    """The emulator's stored Salesforce Contact with this email."""
    [contact] = [c for c in crm.objects("Contact") if c["Email"] == email]
    return contact


def salesforce_agent_edit(crm: CrmEmulator, email: str, fields: dict[str, Any]) -> None:
    """An agent changes the Contact in Salesforce (REST update by Id, as the UI saves it)."""
    answer = requests.patch(
        f"{crm.base_url}/services/data/v62.0/sobjects/Contact/{salesforce_contact(crm, email)['Id']}",
        json=fields,
        headers={"Authorization": f"Bearer {crm.access_token}"},
        timeout=30,
    )
    assert answer.status_code == 204, answer.text


@dataclass(frozen=True)
class CrmCase:
    """One CRM: its emulator, the CRM-owned fields, what the agent changes and what dbt makes of it."""

    dialect: str
    tier: str
    owned_fields: dict[str, list[str]]
    agent_update: dict[str, Any]
    agent_edit: Callable[[CrmEmulator, str, dict[str, Any]], None]
    stored_contact: Callable[[CrmEmulator, str], dict[str, Any]]
    lifecycle_stage: str | None  # crm_lifecycle_stage after the agent's change
    staging_model: str
    segments_property: str  # where the load writes the contact's segments


CASES = {
    # The contact moves on in the funnel and is no longer marketable.
    "hubspot": CrmCase(
        dialect="hubspot",
        tier="starter",
        owned_fields={"contacts": ["lifecyclestage", "hs_marketable_status"]},
        agent_update={"lifecyclestage": "opportunity", "hs_marketable_status": "false"},
        agent_edit=hubspot_agent_edit,
        stored_contact=lambda crm, email: hubspot_contact(crm, email)["properties"],
        lifecycle_stage="opportunity",
        staging_model="stg_crm__hubspot_contacts",
        segments_property="store2crm_segments",
    ),
    # The contact ticks Email Opt Out (Contact has no standard lifecycle stage).
    "salesforce": CrmCase(
        dialect="salesforce",
        tier="enterprise",
        owned_fields={"Contact": ["HasOptedOutOfEmail"]},
        agent_update={"HasOptedOutOfEmail": True},
        agent_edit=salesforce_agent_edit,
        stored_contact=salesforce_contact,
        lifecycle_stage=None,
        staging_model="stg_crm__salesforce_contacts",
        segments_property="Store2crm_Segments__c",  # salesforce.segments_field in the demo config
    ),
}


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


@pytest.fixture(scope="module", params=sorted(CASES))
def readback(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Run once, let an agent change a consenting contact in the CRM, run again; emulators stopped at the end."""
    case = CASES[request.param]
    workdir = tmp_path_factory.mktemp(f"readback-{case.dialect}")
    warehouse = workdir / "warehouse.duckdb"
    with StoreEmulator(generate(seed=SEED, scale=SCALE)) as store, CrmEmulator(case.dialect, tier=case.tier) as crm:
        source = write_private_json(workdir / "source.json", source_config(store))
        settings = destination_config(crm, workdir / "sync_state.duckdb") | {"crm_owned_fields": case.owned_fields}
        destination = write_private_json(workdir / "destination.json", settings)
        args = ["--source-config", str(source), "--destination-config", str(destination)]
        args += ["--warehouse", str(warehouse)]
        first = store2crm("run", *args)

        # a contact who consented in the store
        person_id, email = query(
            warehouse,
            "select external_id, email from crm.crm_contacts where accepts_marketing order by external_id limit 1",
        )[0]
        case.agent_edit(crm, email, case.agent_update)
        second = store2crm("run", *args)
        yield {
            "case": case,
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
    case = readback["case"]
    rows = query(
        readback["warehouse"],
        "select crm, crm_lifecycle_stage, crm_matched_on, store_marketing_consent, crm_marketing_consent,"
        " marketing_consent_source, has_marketing_consent from marts.customer_crm_fields where person_id = ?",
        [readback["person_id"]],
    )
    assert rows == [(case.dialect, case.lifecycle_stage, "external_id", True, False, "crm", False)]
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


def test_the_crm_keeps_the_agents_fields(readback) -> None:
    """The second load wrote to the CRM again and left the CRM-owned fields as the agent set them."""
    case = readback["case"]
    stored = case.stored_contact(readback["crm"], readback["email"])
    assert {name: stored.get(name) for name in case.agent_update} == case.agent_update


def test_destination_sent_the_new_segment_with_the_contact(readback) -> None:
    case = readback["case"]
    stored = case.stored_contact(readback["crm"], readback["email"])
    assert "crm_opted_out" in stored[case.segments_property].split(";")


def test_rerun_keeps_the_crm_answer_and_sends_nothing(readback) -> None:
    """Our own writes move the contact's last-modified stamp; the consent still dates from the agent's change."""
    case = readback["case"]
    warehouse = readback["warehouse"]
    sql = "select crm_consent_at, marketing_consent_source from marts.customer_crm_fields where person_id = ?"
    before = query(warehouse, sql, [readback["person_id"]])
    output = store2crm("run", *readback["args"])
    assert query(warehouse, sql, [readback["person_id"]]) == before
    assert "sent 0," in output
    versions = query(
        warehouse, f"select count(*) from staging.{case.staging_model} where lower(email) = ?", [readback["email"]]
    )
    # the agent's version and the one our segments write (crm_opted_out) made after it
    assert versions[0][0] >= 2
