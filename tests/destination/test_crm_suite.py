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
from airbyte_cdk.models import Status, Type
from destination_messages import catalog, company, contact, deal, sync_messages

from destination_crm import DestinationCrm
from destination_crm.destination import SUMMARY_PREFIX
from store2crm.sandbox.crm_emulator import CrmEmulator

START = pendulum.datetime(2026, 11, 2, 9, 0, 0, tz="UTC")
SF_EXT = "Store2crm_External_Id__c"


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
    ),
    CrmCase(
        name="salesforce",
        tier="developer",
        token="00DSb0000000001!sandbox",
        cap=200,
        settings=lambda url, token: {"instance_url": url, "access_token": token},
        is_write_call=lambda endpoint: "/composite/sobjects/" in endpoint or "/jobs/ingest" in endpoint,
        kinds=(("Account", SF_EXT), ("Contact", SF_EXT), ("Opportunity", SF_EXT)),
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
        destination = DestinationCrm(sleep=self.clock.sleep, now=self.clock, **options)
        output = list(destination.write(self.config, catalog(), iter(messages)))
        [line] = [m.log.message for m in output if m.type == Type.LOG and m.log.message.startswith(SUMMARY_PREFIX)]
        return json.loads(line.removeprefix(SUMMARY_PREFIX))

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
    with CrmEmulator(dialect=case.name, access_token=case.token, tier=case.tier, clock=clock) as emulator:
        config = {
            "crm": case.name,
            case.name: case.settings(emulator.base_url, case.token),
            "sync_state_path": str(tmp_path / "sync-state.duckdb"),
        }
        yield Running(case, emulator, config, clock)


def test_first_sync_creates_every_object(crm: Running):
    counts = crm.run(sync_messages(companies=2, contacts=3, deals=3))

    assert (counts["received"], counts["sent"], counts["created"], counts["failed"]) == (8, 8, 8, 0)
    assert counts["quota_remaining"] > 0
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
