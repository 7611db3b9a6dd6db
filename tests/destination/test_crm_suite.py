"""One behavioural suite for every CRM module, run against each CRM's emulator through the Airbyte protocol.

A new CRM gets the whole suite by adding one `CrmCase` to `CASES`.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pendulum
import pytest
import requests
from airbyte_cdk.models import Level, Status, Type
from destination_messages import catalog, company, contact, deal, sync_messages

from destination_crm import DestinationCrm
from destination_crm.destination import SUMMARY_PREFIX
from store2crm.sandbox.crm_emulator import CrmEmulator

START = pendulum.datetime(2026, 11, 2, 9, 0, 0, tz="UTC")
SF_EXT = "Store2crm_External_Id__c"
# Both emulators get this daily allowance, so a test knows what quota is left after its calls.
DAILY_LIMIT = 10_000
# What every run reports in its summary, whatever the CRM.
REPORTED = (
    "received",
    "unchanged",
    "sent",
    "created",
    "updated",
    "failed",
    "queued_for_retry",
    "dead_lettered",
    "deferred",
    "api_calls",
    "quota_remaining",
)
AGENT_PHONE = "+1 555 0100"


def hubspot_agent_edit(crm: CrmEmulator, token: str, stored: dict[str, Any], field: str, value: str) -> None:
    """A HubSpot user changes one property of a contact."""
    answer = requests.post(
        f"{crm.base_url}/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": stored["id"], "properties": {field: value}}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def salesforce_agent_edit(crm: CrmEmulator, token: str, stored: dict[str, Any], field: str, value: str) -> None:
    """A Salesforce user changes one field of a contact."""
    answer = requests.patch(
        f"{crm.base_url}/services/data/v62.0/sobjects/Contact/{SF_EXT}/{stored[SF_EXT]}",
        json={field: value},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code in (200, 204), answer.text


@dataclass(frozen=True)
class CrmCase:
    """How to run one CRM in the suite: its emulator, config, write calls, per-call cap and object keys."""

    name: str
    tier: str
    token: str
    cap: int  # records per write call
    settings: Callable[[str, str], dict[str, Any]]  # (base_url, token) -> the CRM's config block
    is_write_call: Callable[[str], bool]  # endpoint stats key -> counts as an object write call
    kinds: tuple[tuple[str, str], ...]  # (emulator object name, key of one object) per stream, parents first
    contact_key: Callable[[int], str]  # the key of contact(n) in the CRM
    fields: dict[str, str]  # the CRM's name of the fields the tests look at: name, city, phone, amount
    setup_calls: int  # calls a rerun makes before its writes (property reads, limits)
    owned_phone: dict[str, list[str]]  # crm_owned_fields making the contact's phone the CRM's
    agent_edit: Callable[[CrmEmulator, str, dict[str, Any], str, str], None]  # a CRM user changes a contact

    def keys(self, crm: CrmEmulator) -> dict[str, list[str]]:
        """The key of every stored object, per kind."""
        return {name: [self.key(o, key) for o in crm.objects(name)] for name, key in self.kinds}

    @staticmethod
    def key(stored: dict[str, Any], key: str) -> str:
        return str((stored.get("properties") or stored).get(key))


CASES = (
    CrmCase(
        name="hubspot",
        tier="starter",
        token="pat-sandbox",
        cap=100,
        settings=lambda url, token: {"base_url": url, "access_token": token},
        is_write_call=lambda endpoint: "/objects/" in endpoint and "/batch/" in endpoint,
        kinds=(("companies", "store2crm_external_id"), ("contacts", "email"), ("deals", "store2crm_external_id")),
        contact_key=lambda n: f"person{n}@example.com",
        fields={"name": "name", "city": "city", "phone": "phone", "amount": "amount"},
        setup_calls=3,  # one property read per object type
        owned_phone={"contacts": ["phone"]},
        agent_edit=hubspot_agent_edit,
    ),
    CrmCase(
        name="salesforce",
        tier="developer",
        token="00DSb0000000001!sandbox",
        cap=200,
        settings=lambda url, token: {"instance_url": url, "access_token": token},
        is_write_call=lambda endpoint: "/composite/sobjects/" in endpoint or "/jobs/ingest" in endpoint,
        kinds=(("Account", SF_EXT), ("Contact", SF_EXT), ("Opportunity", SF_EXT)),
        contact_key=lambda n: f"person-{n}",
        fields={"name": "Name", "city": "MailingCity", "phone": "Phone", "amount": "Amount"},
        setup_calls=1,  # GET /limits
        owned_phone={"Contact": ["Phone"]},
        agent_edit=salesforce_agent_edit,
    ),
)


class FakeClock:
    """Time that moves only when the destination sleeps or a test says so; it runs both sides."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))


@dataclass
class Running:
    """One CRM case with its emulator started, a config pointing at it and the shared fake clock."""

    case: CrmCase
    crm: CrmEmulator
    config: dict[str, Any]
    clock: FakeClock

    def run(self, messages, **options: Any) -> dict[str, Any]:
        return self.run_logged(messages, **options)[0]

    def run_logged(self, messages, **options: Any) -> tuple[dict[str, Any], list[str]]:
        """The run's summary counts and its WARN lines."""
        destination = DestinationCrm(sleep=self.clock.sleep, now=self.clock, **options)
        output = list(destination.write(self.config, catalog(), iter(messages)))
        logs = [m.log for m in output if m.type == Type.LOG]
        [line] = [log.message for log in logs if log.message.startswith(SUMMARY_PREFIX)]
        return json.loads(line.removeprefix(SUMMARY_PREFIX)), [log.message for log in logs if log.level == Level.WARN]

    def assert_reported(self, counts: dict[str, Any], calls_before: int) -> None:
        """The summary has every count, and its calls and quota agree with what the CRM saw."""
        assert [name for name in REPORTED if name not in counts] == []
        calls = self.crm.call_count()
        assert (counts["api_calls"], counts["quota_remaining"]) == (calls - calls_before, DAILY_LIMIT - calls)

    def stored(self, kind: int) -> dict[str, dict[str, Any]]:
        """Stored objects of the kind at index `kind` (0 companies, 1 contacts, 2 deals) by their key."""
        name, key = self.case.kinds[kind]
        return {self.case.key(o, key): o for o in self.crm.objects(name)}

    def value(self, stored: dict[str, Any], field: str) -> Any:
        """A field (by its name in the tests: name, city, phone, amount) of a stored object."""
        return (stored.get("properties") or stored).get(self.case.fields[field])

    def write_calls(self) -> int:
        by_endpoint = self.crm.stats()["calls"]["by_endpoint"]
        return sum(sum(s.values()) for endpoint, s in by_endpoint.items() if self.case.is_write_call(endpoint))

    def counts(self) -> tuple[int, ...]:
        return tuple(len(keys) for keys in self.case.keys(self.crm).values())

    def assert_no_duplicates(self) -> None:
        for kind, keys in self.case.keys(self.crm).items():
            assert [k for k, n in Counter(keys).items() if n > 1] == [], f"duplicate {kind} in {self.case.name}"


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def crm(request, tmp_path) -> Iterator[Running]:
    case: CrmCase = request.param
    clock = FakeClock()
    with CrmEmulator(
        dialect=case.name, access_token=case.token, tier=case.tier, clock=clock, daily_limit=DAILY_LIMIT
    ) as emulator:
        config = {
            "crm": case.name,
            case.name: case.settings(emulator.base_url, case.token),
            "sync_state_path": str(tmp_path / "sync-state.duckdb"),
        }
        yield Running(case, emulator, config, clock)


def test_first_sync_creates_every_object(crm: Running):
    counts = crm.run(sync_messages(companies=2, contacts=3, deals=3))

    assert (counts["received"], counts["sent"], counts["created"], counts["failed"]) == (8, 8, 8, 0)
    assert (counts["unchanged"], counts["updated"], counts["queued_for_retry"], counts["dead_lettered"]) == (0, 0, 0, 0)
    crm.assert_reported(counts, 0)
    assert crm.counts() == (2, 3, 3)


def test_unchanged_rerun_makes_zero_write_calls(crm: Running):
    crm.run(sync_messages())
    before = crm.crm.call_count()

    counts = crm.run(sync_messages())

    assert crm.crm.call_count() == before
    assert (counts["unchanged"], counts["sent"], counts["api_calls"]) == (8, 0, 0)


def test_one_percent_change_costs_about_one_percent_of_a_full_sync(crm: Running):
    rows = {"crm_companies": [], "crm_contacts": [contact(n) for n in range(1, 1001)], "crm_deals": []}
    crm.run(sync_messages(**rows))
    full = crm.write_calls()
    assert full == math.ceil(1000 / crm.case.cap)

    rows["crm_contacts"] = [contact(n, city="Paris") if n % 100 == 0 else contact(n) for n in range(1, 1001)]
    counts = crm.run(sync_messages(**rows))

    assert (counts["updated"], counts["unchanged"]) == (10, 990)
    assert crm.write_calls() - full == 1  # 10 records in one call against `full` for the whole set
    assert counts["api_calls"] == 2  # the contacts' property read (or the limits read), then the one write


def test_injected_faults_lose_nothing_and_duplicate_nothing(crm: Running):
    rows = {
        "crm_companies": [company(n) for n in range(1, 21)],
        "crm_contacts": [contact(n, company_external_id=f"woocommerce:s1:{n % 20 + 1}") for n in range(1, 301)],
        "crm_deals": [deal(n) for n in range(1, 201)],
    }
    crm.crm.configure_faults(error_rate=0.05, reset_rate=0.05, timeout_rate=0.05, partial_failure_rate=0.05, seed=11)

    first = crm.run(sync_messages(**rows))

    assert first["created"] + first["updated"] + first["failed"] == first["received"] == 520
    assert first["failed"] == first["queued_for_retry"] + first["dead_lettered"]
    crm.assert_no_duplicates()

    crm.crm.configure_faults(error_rate=0.0, reset_rate=0.0, timeout_rate=0.0, partial_failure_rate=0.0)
    crm.clock.sleep(30)
    second = crm.run(sync_messages(**rows))
    assert (second["queued_for_retry"], second["failed"]) == (0, 0)
    crm.assert_no_duplicates()
    assert crm.counts() == (20, 300, 200)


def test_a_crash_after_the_crm_accepted_a_batch_creates_no_duplicate_on_rerun(crm: Running):
    class Crash(Exception):
        pass

    def crash() -> None:
        raise Crash("killed between the CRM's answer and the save")

    messages = sync_messages(companies=3, contacts=120, deals=5)
    with pytest.raises(Crash):
        crm.run(messages, after_accept=crash)
    assert crm.counts()[0] == 3  # the CRM holds the batch the store never saved

    rerun = crm.run(messages)

    crm.assert_no_duplicates()
    assert crm.counts() == (3, 120, 5)
    assert (rerun["updated"], rerun["created"]) == (3, 125)  # the crashed batch is matched, not re-created


def test_check_with_a_bad_token_fails_naming_the_setting(crm: Running):
    crm.config[crm.case.name]["access_token"] = "wrong-token-123"

    status = DestinationCrm(sleep=crm.clock.sleep, now=crm.clock).check(logging.getLogger("test"), crm.config)

    assert status.status == Status.FAILED
    assert f"{crm.case.name}.access_token" in status.message
    assert "wrong-token-123" not in status.message


def quota_rows(size: int, *, changed: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Per write call: two companies, six contacts and one deal; deal n touches contact n and company n."""
    return {
        "crm_companies": [company(n, **({"name": f"Renamed {n}"} if changed else {})) for n in range(1, 2 * size + 1)],
        "crm_contacts": [contact(n, **({"city": "Oslo"} if changed else {})) for n in range(1, 6 * size + 1)],
        "crm_deals": [
            deal(n, company_external_id=f"woocommerce:s1:{n}", **({"amount": 1} if changed else {}))
            for n in range(1, size + 1)
        ],
    }


def test_over_quota_sends_deals_and_what_they_touch_first_and_the_next_day_delivers_the_rest(crm: Running):
    size = crm.case.cap
    crm.run(sync_messages(**quota_rows(size)))
    # The setup, one call each for the deals, their contacts and their companies, then two more contact calls.
    allowed = crm.case.setup_calls + 3 + 2
    crm.config["daily_reserve"] = DAILY_LIMIT - crm.crm.call_count() - allowed
    before = crm.crm.call_count()

    counts, warned = crm.run_logged(sync_messages(**quota_rows(size, changed=True)))

    assert crm.crm.call_count() - before <= allowed
    assert crm.crm.call_count(status=429) + crm.crm.call_count(status=403) == 0
    crm.assert_reported(counts, before)
    assert (counts["updated"], counts["deferred"], counts["failed"]) == (5 * size, 4 * size, 0)
    assert any("staging the changes" in w for w in warned)
    assert any("deferred to the next quota window" in w for w in warned)
    deals, contacts, companies = crm.stored(2).values(), crm.stored(1), crm.stored(0)
    assert {float(crm.value(d, "amount")) for d in deals} == {1.0}  # transactional first
    touched = range(1, size + 1)
    assert {crm.value(contacts[crm.case.contact_key(n)], "city") for n in touched} == {"Oslo"}
    assert {crm.value(companies[f"woocommerce:s1:{n}"], "name") for n in touched} == {f"Renamed {n}" for n in touched}
    assert sum(crm.value(c, "city") == "Oslo" for c in contacts.values()) == 3 * size  # then segments
    untouched = range(size + 1, 2 * size + 1)
    assert {crm.value(companies[f"woocommerce:s1:{n}"], "name") for n in untouched} == {
        f"Company {n}" for n in untouched
    }  # scores last

    crm.clock.sleep(86_400)  # the next quota day
    crm.config["daily_reserve"] = 0
    nxt = crm.run(sync_messages(**quota_rows(size, changed=True)))

    assert (nxt["updated"], nxt["unchanged"], nxt["created"], nxt["deferred"]) == (4 * size, 5 * size, 0, 0)
    assert {crm.value(c, "city") for c in crm.stored(1).values()} == {"Oslo"}
    assert {crm.value(c, "name") for c in crm.stored(0).values()} == {f"Renamed {n}" for n in range(1, 2 * size + 1)}
    crm.assert_no_duplicates()
    assert crm.counts() == (2 * size, 6 * size, size)


def test_fields_the_crm_owns_are_never_written_even_when_the_store_changes_and_an_agent_edited_them(crm: Running):
    crm.config["crm_owned_fields"] = crm.case.owned_phone
    crm.run(sync_messages(companies=0, contacts=2, deals=0))
    contacts = crm.stored(1)
    assert [crm.value(c, "phone") for c in contacts.values()] == [None, None]  # not even on create
    crm.case.agent_edit(
        crm.crm, crm.case.token, contacts[crm.case.contact_key(1)], crm.case.fields["phone"], AGENT_PHONE
    )

    owned_only = crm.run(sync_messages(companies=0, deals=0, crm_contacts=[contact(1, phone="+4411"), contact(2)]))
    assert (owned_only["unchanged"], owned_only["sent"], owned_only["api_calls"]) == (2, 0, 0)  # costs nothing

    both = crm.run(
        sync_messages(companies=0, deals=0, crm_contacts=[contact(1, phone="+4422", city="Rome"), contact(2)])
    )
    assert (both["updated"], both["unchanged"]) == (1, 1)
    edited = crm.stored(1)[crm.case.contact_key(1)]
    assert (crm.value(edited, "phone"), crm.value(edited, "city")) == (AGENT_PHONE, "Rome")
