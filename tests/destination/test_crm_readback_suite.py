"""Read-back of CRM-owned fields, the same behaviour for every CRM: what changed in the CRM since the last read.

Driven through the read-back source's Airbyte `read` against each CRM's emulator: destination-crm loads
the contacts, an agent edits one in the CRM through the CRM's own REST API, and the read-back must
return that change, and nothing new after it. One fake clock runs the destination and the emulator, so
no test sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pendulum
import pytest
import requests
from airbyte_cdk.models import (
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Status,
    SyncMode,
)
from airbyte_cdk.test.entrypoint_wrapper import read
from destination_messages import TOKEN, catalog, sync_messages

from destination_crm import DestinationCrm
from destination_crm.readback import ReadbackSource
from store2crm.sandbox.crm_emulator import CrmEmulator

START = pendulum.datetime(2026, 11, 2, 9, 0, 0, tz="UTC")
SALESFORCE_TOKEN = "00DSb0000000001!sandbox"
SALESFORCE_API = "/services/data/v62.0"
FUTURE = "2999-01-01T00:00:00.000Z"


class FakeClock:
    """Time that moves only when the destination sleeps or a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))


def hubspot_contact_id(crm: CrmEmulator, email: str) -> str:
    """The HubSpot id of the contact with this email."""
    [found] = [c["id"] for c in crm.objects("contacts") if c["properties"].get("email") == email]
    return found


def hubspot_agent_edit(crm: CrmEmulator, email: str, properties: dict[str, Any]) -> None:
    """An agent changes a contact in HubSpot (a batch update by id, as HubSpot's UI does)."""
    answer = requests.post(
        f"{crm.base_url}/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": hubspot_contact_id(crm, email), "properties": properties}]},
        headers={"Authorization": f"Bearer {crm.access_token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def salesforce_contact_id(crm: CrmEmulator, email: str) -> str:
    """The Salesforce Id of the Contact with this email."""
    [found] = [c["Id"] for c in crm.objects("Contact") if c["Email"] == email]
    return found


def salesforce_agent_edit(crm: CrmEmulator, email: str, fields: dict[str, Any]) -> None:
    """An agent changes a Contact in Salesforce (REST "Update a record" by Id, as the UI saves it)."""
    answer = requests.patch(
        f"{crm.base_url}{SALESFORCE_API}/sobjects/Contact/{salesforce_contact_id(crm, email)}",
        json=fields,
        headers={"Authorization": f"Bearer {crm.access_token}"},
        timeout=10,
    )
    assert answer.status_code == 204, answer.text


@dataclass(frozen=True)
class CrmCase:
    """One CRM as the suite drives it: its emulator, config, contacts stream and an agent's edit."""

    crm: str
    token: str
    tier: str
    contacts_stream: str
    page_size: int
    owned_fields: dict[str, list[str]]
    agent_edit: Callable[[CrmEmulator, str, dict[str, Any]], None]
    agent_change: dict[str, Any]
    read_back_as: dict[str, str]  # the agent's change as the read-back record carries it (text)
    connection: Callable[[CrmEmulator], dict[str, Any]]
    emulator_options: dict[str, Any] = field(default_factory=dict)


CASES = {
    "hubspot": CrmCase(
        crm="hubspot",
        token=TOKEN,
        tier="starter",
        contacts_stream="hubspot_contacts",
        page_size=200,
        owned_fields={"contacts": ["lifecyclestage"]},
        agent_edit=hubspot_agent_edit,
        agent_change={"lifecyclestage": "opportunity"},
        read_back_as={"lifecyclestage": "opportunity"},
        connection=lambda crm: {"base_url": crm.base_url, "access_token": TOKEN},
        emulator_options={"search_per_second": 1000},  # the fake clock never lets a second pass
    ),
    "salesforce": CrmCase(
        crm="salesforce",
        token=SALESFORCE_TOKEN,
        tier="developer",
        contacts_stream="salesforce_contacts",
        page_size=2000,
        owned_fields={"Contact": ["HasOptedOutOfEmail"]},
        agent_edit=salesforce_agent_edit,
        agent_change={"HasOptedOutOfEmail": True},
        read_back_as={"HasOptedOutOfEmail": "true"},
        connection=lambda crm: {"instance_url": crm.base_url, "access_token": SALESFORCE_TOKEN},
    ),
}


@dataclass
class Setup:
    """A running emulator of the case's CRM, the destination/read-back config and the shared clock."""

    case: CrmCase
    crm: CrmEmulator
    config: dict[str, Any]
    clock: FakeClock

    def load_contacts(self, count: int) -> None:
        """destination-crm writes `count` contacts (person1@example.com ...) to the CRM."""
        destination = DestinationCrm(sleep=self.clock.sleep, now=self.clock)
        list(destination.write(self.config, catalog(), iter(sync_messages(companies=0, contacts=count, deals=0))))

    def agent_edits(self, email: str) -> None:
        """An agent makes the case's change to the contact with this email, a minute later."""
        self.clock.advance(60)
        self.case.agent_edit(self.crm, email, self.case.agent_change)


@pytest.fixture(params=sorted(CASES))
def env(request: pytest.FixtureRequest, tmp_path) -> Iterator[Setup]:
    case = CASES[request.param]
    clock = FakeClock()
    with CrmEmulator(
        dialect=case.crm, access_token=case.token, tier=case.tier, clock=clock, **case.emulator_options
    ) as crm:
        config = {
            "crm": case.crm,
            case.crm: case.connection(crm),
            "sync_state_path": str(tmp_path / "sync-state.duckdb"),
            "crm_owned_fields": case.owned_fields,
        }
        yield Setup(case, crm, config, clock)


def readback(config: dict[str, Any], states: list[dict[str, Any]] | None = None) -> tuple[list[dict], list[dict]]:
    """Records (with their stream) and STATE messages of one incremental read of every read-back stream."""
    source = ReadbackSource()
    configured = ConfiguredAirbyteCatalogSerializer.load(
        {
            "streams": [
                {
                    "stream": {
                        "name": s.name,
                        "json_schema": s.get_json_schema(),
                        "supported_sync_modes": ["incremental"],
                    },
                    "sync_mode": "incremental",
                    "destination_sync_mode": "append",
                    "cursor_field": ["updated_at"],
                }
                for s in source.streams(config)
            ]
        }
    )
    output = read(source, config, configured, [AirbyteStateMessageSerializer.load(s) for s in states or []])
    assert not output.errors, [e.trace.error.message for e in output.errors]
    records = [m.record.data | {"stream": m.record.stream} for m in output.records]
    return records, [AirbyteStateMessageSerializer.dump(m.state) for m in output.state_messages]


def contacts(env: Setup, records: list[dict]) -> list[dict]:
    return [r for r in records if r["stream"] == env.case.contacts_stream]


def stream_state(name: str, cursor: str) -> dict[str, Any]:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": {"updated_at": cursor}}}


def final_cursors(states: list[dict]) -> dict[str, str]:
    """Each stream's cursor after a read (its last STATE)."""
    return {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["updated_at"] for s in states}


def test_first_read_returns_every_contact_with_its_owned_fields(env: Setup) -> None:
    env.load_contacts(3)
    records, _ = readback(env.config)
    read_back = sorted(contacts(env, records), key=lambda r: r["email"])
    assert [(r["email"], r["external_id"]) for r in read_back] == [
        ("person1@example.com", "person-1"),
        ("person2@example.com", "person-2"),
        ("person3@example.com", "person-3"),
    ]
    assert all(set(r["properties"]) == set(env.case.read_back_as) for r in read_back)
    assert all(r["properties"] != env.case.read_back_as for r in read_back)  # no agent has been there yet
    assert {r["stream"] for r in records} == {env.case.contacts_stream}  # no companies or deals were written


def test_a_read_from_the_saved_state_returns_only_what_an_agent_changed(env: Setup) -> None:
    env.load_contacts(3)
    first, states = readback(env.config)
    cursor = max(r["updated_at"] for r in contacts(env, first))

    env.agent_edits("person2@example.com")
    again, _ = readback(env.config, states)

    newer = [r for r in again if r["updated_at"] > cursor]
    assert [(r["stream"], r["email"], r["external_id"]) for r in newer] == [
        (env.case.contacts_stream, "person2@example.com", "person-2")
    ]
    assert newer[0]["properties"] == env.case.read_back_as
    assert contacts(env, again)[-1] == newer[0]  # oldest first: the change comes last


def test_a_second_read_from_state_returns_nothing_new(env: Setup) -> None:
    env.load_contacts(3)
    first, states = readback(env.config)
    env.clock.advance(60)
    again, states_again = readback(env.config, states)
    # the filter is inclusive on the saved stamp: only records on that boundary may come again
    cursor = max(r["updated_at"] for r in first)
    assert all(r["updated_at"] <= cursor for r in again)
    assert {r["id"] for r in again} <= {r["id"] for r in first}
    assert final_cursors(states_again) == final_cursors(states)


def test_a_state_in_the_future_returns_nothing(env: Setup) -> None:
    env.load_contacts(3)
    env.agent_edits("person1@example.com")
    names = [s.name for s in ReadbackSource().streams(env.config)]
    records, states = readback(env.config, [stream_state(name, FUTURE) for name in names])
    assert records == []
    assert {s["stream"]["stream_state"]["updated_at"] for s in states} == {FUTURE}


def test_reads_every_page_and_saves_state_per_page(env: Setup) -> None:
    count = env.case.page_size + 1
    env.load_contacts(count)
    records, states = readback(env.config)
    read_back = contacts(env, records)
    assert len({r["id"] for r in read_back}) == len(read_back) == count
    assert [r["updated_at"] for r in read_back] == sorted(r["updated_at"] for r in read_back)
    contact_states = [s for s in states if s["stream"]["stream_descriptor"]["name"] == env.case.contacts_stream]
    assert len(contact_states) >= 2  # one after the first page, one at the end


def test_check_reads_every_stream_and_never_shows_the_token(env: Setup) -> None:
    logger = logging.getLogger("test")
    assert ReadbackSource().check(logger, env.config).status == Status.SUCCEEDED
    wrong = env.config | {env.case.crm: env.config[env.case.crm] | {"access_token": "wrong-secret-token"}}
    refused = ReadbackSource().check(logger, wrong)
    assert refused.status == Status.FAILED
    assert "wrong-secret-token" not in (refused.message or "")


# -- Salesforce only ---------------------------------------------------------------------------------------


@pytest.fixture
def salesforce(tmp_path) -> Iterator[Setup]:
    case = CASES["salesforce"]
    clock = FakeClock()
    with CrmEmulator(dialect="salesforce", access_token=case.token, tier=case.tier, clock=clock) as crm:
        config = {"crm": "salesforce", "salesforce": case.connection(crm), "sync_state_path": str(tmp_path / "s.db")}
        yield Setup(case, crm, config, clock)


def test_salesforce_query_is_incremental_on_systemmodstamp(salesforce: Setup) -> None:
    salesforce.load_contacts(2)
    [stream] = [s for s in ReadbackSource().streams(salesforce.config) if s.name == "salesforce_contacts"]
    stream.state = {"updated_at": "2026-11-02T09:00:00.250+0000"}
    assert stream.soql() == (
        "SELECT Id, Store2crm_External_Id__c, Email, SystemModstamp FROM Contact "
        "WHERE SystemModstamp >= 2026-11-02T09:00:00Z ORDER BY SystemModstamp ASC, Id ASC"
    )
    records = list(stream.read_records(sync_mode=SyncMode.incremental))
    assert [r["updated_at"] for r in records] == ["2026-11-02T09:00:00.000Z"] * 2
    assert stream.state == {"updated_at": "2026-11-02T09:00:00.250Z"}  # a stamp never goes back


def test_salesforce_owned_lookup_reads_its_id_field(salesforce: Setup) -> None:
    config = salesforce.config | {"crm_owned_fields": {"Contact": ["Account", "HasOptedOutOfEmail"]}}
    salesforce.load_contacts(1)
    records, _ = readback(config)
    [contact] = [r for r in records if r["stream"] == "salesforce_contacts"]
    assert contact["properties"] == {"AccountId": None, "HasOptedOutOfEmail": "false"}


def test_salesforce_unknown_owned_field_fails_naming_the_field_and_the_setting(salesforce: Setup) -> None:
    config = salesforce.config | {"crm_owned_fields": {"Contact": ["Lifecycle_Stage__c"]}}
    refused = ReadbackSource().check(logging.getLogger("test"), config)
    assert refused.status == Status.FAILED
    assert "Lifecycle_Stage__c" in refused.message
    assert "crm_owned_fields.Contact" in refused.message
