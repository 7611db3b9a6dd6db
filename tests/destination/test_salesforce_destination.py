"""Behaviour of destination-crm's Salesforce module through the Airbyte protocol against the Salesforce emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest
import requests
from airbyte_cdk.models import Level, Status, Type
from destination_messages import catalog, company, contact, deal, sync_messages

from destination_crm import DestinationCrm
from destination_crm.destination import SUMMARY_PREFIX
from store2crm.sandbox.crm_emulator import CrmEmulator

TOKEN = "00DSb0000000001!sandbox"
API = "/services/data/v62.0"
EXT = "Store2crm_External_Id__c"
COLLECTION = "PATCH " + API + "/composite/sobjects/{}/" + EXT
START = pendulum.datetime(2026, 11, 2, 9, 0, 0, tz="UTC")


class FakeClock:
    """Time that moves only when the destination sleeps or a test says so."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def crm(clock: FakeClock) -> Iterator[CrmEmulator]:
    with CrmEmulator(dialect="salesforce", access_token=TOKEN, tier="developer", clock=clock) as running:
        yield running


@pytest.fixture
def config(crm: CrmEmulator, tmp_path) -> dict[str, Any]:
    return {
        "crm": "salesforce",
        "salesforce": {"instance_url": crm.base_url, "access_token": TOKEN},
        "sync_state_path": str(tmp_path / "sync-state.duckdb"),
    }


def run(config, messages, clock: FakeClock) -> list:
    return list(DestinationCrm(sleep=clock.sleep, now=clock).write(config, catalog(), iter(messages)))


def summary(output) -> dict:
    [line] = [m.log.message for m in output if m.type == Type.LOG and m.log.message.startswith(SUMMARY_PREFIX)]
    return json.loads(line.removeprefix(SUMMARY_PREFIX))


def warnings(output) -> list[str]:
    return [m.log.message for m in output if m.type == Type.LOG and m.log.level == Level.WARN]


def write_calls(crm: CrmEmulator) -> int:
    by_endpoint = crm.stats()["calls"]["by_endpoint"]
    return sum(sum(s.values()) for endpoint, s in by_endpoint.items() if not endpoint.startswith("GET"))


def by_ext(crm: CrmEmulator, sobject: str) -> dict[str, dict[str, Any]]:
    return {o[EXT]: o for o in crm.objects(sobject)}


HIERARCHY = {
    "crm_companies": [
        company(3, parent_external_id="woocommerce:s1:2"),  # grandchild first: the module orders them
        company(2, parent_external_id="woocommerce:s1:1"),
        company(1),
    ],
    "crm_contacts": [contact(1, company_external_id="woocommerce:s1:3"), contact(2), contact(3, last_name=None)],
    "crm_deals": [deal(1, company_external_id="woocommerce:s1:3"), deal(2), deal(3)],
}


def test_first_sync_creates_accounts_with_hierarchy_contacts_and_opportunities(crm, config, clock):
    counts = summary(run(config, sync_messages(**HIERARCHY), clock))

    assert (counts["received"], counts["created"], counts["failed"]) == (9, 9, 0)
    assert 0 < counts["quota_remaining"] < 15_000
    accounts = by_ext(crm, "Account")
    top, middle, bottom = (accounts[f"woocommerce:s1:{n}"] for n in (1, 2, 3))
    assert (top["ParentId"], middle["ParentId"], bottom["ParentId"]) == (None, top["Id"], middle["Id"])
    assert bottom["Website"] == "company3.example"
    contacts = by_ext(crm, "Contact")
    assert contacts["person-1"]["AccountId"] == bottom["Id"]
    assert contacts["person-3"]["LastName"] == "[not provided]"
    assert contacts["person-1"]["MailingCountry"] == "GB" and contacts["person-1"]["Email"] == "person1@example.com"
    deals = by_ext(crm, "Opportunity")
    won = deals["woocommerce:s1:1001"]
    assert (won["StageName"], won["IsWon"], won["CloseDate"], won["Amount"]) == (
        "Closed Won",
        True,
        "2026-03-02",
        19.99,
    )
    assert (won["AccountId"], won["ContactId"]) == (bottom["Id"], contacts["person-1"]["Id"])
    assert deals["woocommerce:s1:1003"]["StageName"] == "Prospecting"
    assert deals["woocommerce:s1:1003"]["CloseDate"] == "2026-03-01"  # still open: the created date
    assert crm.call_count(COLLECTION.format("Account")) == 3  # one request per hierarchy level


def test_unchanged_rerun_makes_zero_calls(crm, config, clock):
    run(config, sync_messages(**HIERARCHY), clock)
    before = crm.call_count()

    counts = summary(run(config, sync_messages(**HIERARCHY), clock))

    assert crm.call_count() == before
    assert (counts["unchanged"], counts["sent"], counts["api_calls"]) == (9, 0, 0)


def test_a_change_updates_only_that_record(crm, config, clock):
    run(config, sync_messages(**HIERARCHY), clock)
    before = crm.call_count(COLLECTION.format("Contact"))
    changed = dict(
        HIERARCHY,
        crm_contacts=[
            contact(1, company_external_id="woocommerce:s1:3"),
            contact(2, city="Paris"),
            contact(3, last_name=None),
        ],
    )

    counts = summary(run(config, sync_messages(**changed), clock))

    assert (counts["unchanged"], counts["sent"], counts["updated"], counts["created"]) == (8, 1, 1, 0)
    assert crm.call_count(COLLECTION.format("Contact")) == before + 1
    assert write_calls(crm) == 3 + 1 + 1 + 1  # first sync: 3 Account levels, Contact, Opportunity; then one
    cities = {k: c["MailingCity"] for k, c in by_ext(crm, "Contact").items()}
    assert cities == {"person-1": "London", "person-2": "Paris", "person-3": "London"}


def test_a_refused_record_is_reported_by_external_id_and_the_rest_goes_in(crm, config, clock):
    rows = {
        "crm_companies": [],
        "crm_contacts": [contact(1), contact(2, email="not-an-email"), contact(3)],
        "crm_deals": [],
    }

    output = run(config, sync_messages(**rows), clock)

    counts = summary(output)
    assert (counts["created"], counts["failed"], counts["queued_for_retry"]) == (2, 1, 1)
    [warning] = [w for w in warnings(output) if "failed" in w]
    assert warning.startswith("crm_contacts record person-2 failed: INVALID_EMAIL_ADDRESS")
    assert sorted(by_ext(crm, "Contact")) == ["person-1", "person-3"]


def test_a_child_whose_parent_is_missing_fails_alone_and_goes_in_once_the_parent_exists(crm, config, clock):
    orphan = {
        "crm_companies": [],
        "crm_contacts": [contact(1, company_external_id="woocommerce:s1:9"), contact(2)],
        "crm_deals": [],
    }
    first = run(config, sync_messages(**orphan), clock)
    assert (summary(first)["created"], summary(first)["failed"]) == (1, 1)
    assert any(
        "person-1 failed: INVALID_FIELD: Foreign key external ID: woocommerce:s1:9" in w for w in warnings(first)
    )

    clock.sleep(30)  # the first retry is due
    later = summary(run(config, sync_messages(**dict(orphan, crm_companies=[company(9)])), clock))
    assert (later["created"], later["queued_for_retry"]) == (2, 0)  # the account, then the contact from the queue
    assert by_ext(crm, "Contact")["person-1"]["AccountId"] == by_ext(crm, "Account")["woocommerce:s1:9"]["Id"]


def test_request_limit_exceeded_stops_the_run_with_a_clear_message_and_nothing_is_lost(crm, config, clock):
    run(config, sync_messages(**HIERARCHY), clock)
    changed = {"crm_companies": [company(n, name=f"Renamed {n}") for n in (1, 2)], "crm_contacts": [], "crm_deals": []}
    crm.configure_faults(rate_limit_storm=1)  # the next call answers 403 REQUEST_LIMIT_EXCEEDED
    before = crm.call_count()

    output = run(config, sync_messages(**changed), clock)

    assert crm.call_count() == before + 1  # not one call after the 403, and no waiting for a Retry-After
    assert crm.call_count(status=403) == 1 and clock.slept == []
    counts = summary(output)
    assert (counts["deferred"], counts["updated"], counts["quota_remaining"]) == (2, 0, 0)
    assert any("REQUEST_LIMIT_EXCEEDED" in w and "deferred to the next quota window" in w for w in warnings(output))

    clock.sleep(86_400)
    after = summary(run(config, [], clock))  # the next run sends what was deferred
    assert (after["updated"], after["deferred"]) == (2, 0)
    assert {a["Name"] for a in crm.objects("Account")} == {"Renamed 1", "Renamed 2", "Company 3"}


def test_server_errors_are_retried_with_backoff_through_injected_sleep(crm, config, clock):
    crm.configure_faults(error_rate=0.5, seed=3)
    counts = summary(run(config, sync_messages(companies=0, contacts=600, deals=0), clock))

    assert (counts["created"], counts["failed"]) == (600, 0)
    assert clock.slept and set(clock.slept) <= {1.0, 2.0, 4.0, 8.0, 16.0}
    assert crm.call_count(status=500) + crm.call_count(status=502) + crm.call_count(status=503) > 0


def test_row_locks_are_retried_for_the_locked_records_then_queued(crm, config, clock):
    run(config, sync_messages(companies=2, contacts=0, deals=0), clock)
    hold = {"hold": [{"sobject": "Account", "external_id": "woocommerce:s1:1"}]}
    assert requests.post(f"{crm.base_url}/_sandbox/locks", json=hold, timeout=5).ok  # another user holds it
    rows = {
        "crm_companies": [],
        "crm_contacts": [contact(n, company_external_id=f"woocommerce:s1:{n % 2 + 1}") for n in range(1, 5)],
        "crm_deals": [],
    }

    output = run(config, sync_messages(**rows), clock)

    counts = summary(output)
    assert (counts["created"], counts["failed"], counts["queued_for_retry"]) == (2, 2, 2)  # the account-1 children
    assert clock.slept == [1.0, 2.0, 4.0]
    assert crm.call_count(COLLECTION.format("Contact")) == 4  # the first try, then 3 resends of the 2 locked only
    assert any("UNABLE_TO_LOCK_ROW" in w for w in warnings(output))

    requests.delete(f"{crm.base_url}/_sandbox/locks", timeout=5)
    clock.sleep(30)
    assert summary(run(config, [], clock))["queued_for_retry"] == 0
    assert len(crm.objects("Contact")) == 4


def test_above_the_bulk_threshold_a_stream_goes_through_a_bulk_api_ingest_job(crm, config, clock):
    config["salesforce"]["bulk_threshold"] = 50
    rows = {
        "crm_companies": [company(n) for n in range(1, 61)] + [company(61, parent_external_id="woocommerce:s1:1")],
        "crm_contacts": [contact(n, company_external_id=f"woocommerce:s1:{n % 60 + 1}") for n in range(1, 81)]
        + [contact(81, email="broken")],
        "crm_deals": [deal(n) for n in range(1, 11)],
    }

    output = run(config, sync_messages(**rows), clock)

    counts = summary(output)
    assert (counts["created"], counts["failed"]) == (61 + 80 + 10, 1)
    assert any(w.startswith("crm_contacts record person-81 failed: INVALID_EMAIL_ADDRESS") for w in warnings(output))
    assert crm.call_count(f"POST {API}/jobs/ingest") == 2  # Accounts level 0 and Contacts; the rest are small
    assert crm.call_count(f"PUT {API}/jobs/ingest/{{job}}/batches", 201) == 2
    assert crm.call_count(COLLECTION.format("Account")) == 1  # the child account, after its parent's job
    assert crm.call_count(COLLECTION.format("Contact")) == 0
    assert crm.call_count(COLLECTION.format("Opportunity")) == 1
    accounts = by_ext(crm, "Account")
    assert accounts["woocommerce:s1:61"]["ParentId"] == accounts["woocommerce:s1:1"]["Id"]
    assert by_ext(crm, "Contact")["person-5"]["AccountId"] == accounts["woocommerce:s1:6"]["Id"]
    assert clock.slept  # polled the job with injected time

    again = summary(run(config, sync_messages(**rows), clock))
    assert (again["unchanged"], again["sent"]) == (151, 0)


def test_check_with_a_bad_token_names_the_fix(crm, config):
    config["salesforce"]["access_token"] = "00D!expired"
    status = DestinationCrm(sleep=lambda _: None).check(logging.getLogger("test"), config)
    assert status.status == Status.FAILED
    assert "INVALID_SESSION_ID" in status.message and "salesforce.access_token" in status.message
    assert "00D!expired" not in status.message


def test_check_with_a_wrong_api_version_names_the_setting(crm, config):
    config["salesforce"]["api_version"] = "v9.0"
    status = DestinationCrm(sleep=lambda _: None).check(logging.getLogger("test"), config)
    assert status.status == Status.FAILED and "salesforce.api_version" in status.message


def test_check_succeeds_with_a_good_token(crm, config):
    status = DestinationCrm(sleep=lambda _: None).check(logging.getLogger("test"), config)
    assert status.status == Status.SUCCEEDED


def planner_rows(*, changed: bool) -> dict[str, list[dict[str, Any]]]:
    """A three-level account chain, 2,000 contacts (ten collections, not yet a bulk job) and ten deals."""
    edit = {"city": "Oslo"} if changed else {}
    return {
        "crm_companies": [
            company(1, **({"name": "Renamed 1"} if changed else {})),
            company(2, parent_external_id="woocommerce:s1:1", **({"name": "Renamed 2"} if changed else {})),
            company(3, parent_external_id="woocommerce:s1:2", **({"name": "Renamed 3"} if changed else {})),
        ],
        "crm_contacts": [contact(n, **edit) for n in range(1, 2001)],
        "crm_deals": [
            deal(n, company_external_id="woocommerce:s1:3", **({"amount": 1} if changed else {})) for n in range(1, 11)
        ],
    }


def test_the_budget_planner_counts_collections_of_200_and_hierarchy_levels_so_deals_still_go_first(crm, config, clock):
    first = summary(run(config, sync_messages(**planner_rows(changed=False)), clock))
    # A resync costs the limits read, 3 Account levels, 10 Contact collections and 1 Opportunity request;
    # 13 calls cover all but the last contact collections, and would look ample at one call a stream.
    allowed = 13
    config["daily_reserve"] = first["quota_remaining"] - allowed
    before = crm.call_count()

    output = run(config, sync_messages(**planner_rows(changed=True)), clock)

    counts = summary(output)
    assert crm.call_count() - before <= allowed and crm.call_count(status=403) == 0
    assert any("staging the changes" in w for w in warnings(output))
    assert {o["Amount"] for o in crm.objects("Opportunity")} == {1.0}
    assert by_ext(crm, "Account")["woocommerce:s1:3"]["Name"] == "Renamed 3"  # the deals' account went with them
    assert (counts["updated"], counts["deferred"]) == (1 + 10 + 10 + 1800, 2 + 190)

    clock.sleep(86_400)
    config["daily_reserve"] = 0
    nxt = summary(run(config, sync_messages(**planner_rows(changed=True)), clock))
    assert (nxt["updated"], nxt["deferred"], nxt["created"]) == (192, 0, 0)
    accounts = by_ext(crm, "Account")
    assert {a["Name"] for a in accounts.values()} == {"Renamed 1", "Renamed 2", "Renamed 3"}
    assert accounts["woocommerce:s1:3"]["ParentId"] == accounts["woocommerce:s1:2"]["Id"]
    assert {c["MailingCity"] for c in crm.objects("Contact")} == {"Oslo"} and len(crm.objects("Contact")) == 2000


def test_a_bulk_job_is_only_started_when_the_daily_budget_can_pay_for_all_its_calls(crm, config, clock):
    config["salesforce"]["bulk_threshold"] = 50
    jobs = f"POST {API}/jobs/ingest"

    def contacts(city: str) -> list:
        return sync_messages(
            crm_companies=[], crm_contacts=[contact(n, city=city) for n in range(1, 601)], crm_deals=[]
        )

    first = summary(run(config, contacts("London"), clock))
    assert crm.call_count(jobs) == 1
    allowed = 3  # the limits read and two collections: a job (create, upload, close, polls, results) needs more
    config["daily_reserve"] = first["quota_remaining"] - allowed
    before = crm.call_count()

    counts = summary(run(config, contacts("Oslo"), clock))

    assert crm.call_count() - before <= allowed and crm.call_count(status=403) == 0
    assert crm.call_count(jobs) == 1  # no job the budget could not see through
    assert (counts["updated"], counts["deferred"], counts["api_calls"]) == (400, 200, crm.call_count() - before)

    clock.sleep(86_400)
    config["daily_reserve"] = 0
    nxt = summary(run(config, contacts("Oslo"), clock))
    assert (nxt["updated"], nxt["deferred"]) == (200, 0)
    assert crm.call_count(jobs) == 2  # with the quota back, the rest goes as one job
    assert {c["MailingCity"] for c in crm.objects("Contact")} == {"Oslo"} and len(crm.objects("Contact")) == 600
