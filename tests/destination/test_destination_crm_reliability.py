"""Nothing lost, nothing duplicated: retry queue, dead letters, faults, crashes, quota and associations.

Driven through the Airbyte protocol against the HubSpot emulator; one fake clock runs both sides,
and every wait the destination asks for moves it, so no test sleeps.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pendulum
import pytest
from airbyte_cdk.models import Level, Type
from click.testing import CliRunner
from destination_messages import TOKEN, catalog, company, contact, deal, sync_messages

from destination_crm import DestinationCrm
from destination_crm.destination import SUMMARY_PREFIX
from destination_crm.quota import ADMISSION_MARGIN_S, BurstLimiter
from store2crm.cli import main
from store2crm.sandbox.crm_emulator import CrmEmulator

START = pendulum.datetime(2026, 11, 2, 9, 0, 0, tz="UTC")
KEYS = (("companies", "store2crm_external_id"), ("contacts", "email"), ("deals", "store2crm_external_id"))


class FakeClock:
    """Time that moves only when the destination sleeps or a test says so."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def hubspot(clock: FakeClock, **options: Any) -> CrmEmulator:
    return CrmEmulator(dialect="hubspot", access_token=TOKEN, tier="starter", clock=clock, **options)


def settings(crm: CrmEmulator, tmp_path, **extra: Any) -> dict[str, Any]:
    return {
        "crm": "hubspot",
        "hubspot": {"base_url": crm.base_url, "access_token": TOKEN},
        "sync_state_path": str(tmp_path / "sync-state.duckdb"),
        **extra,
    }


def run(config, messages, clock: FakeClock, **options: Any) -> list:
    destination = DestinationCrm(sleep=clock.sleep, now=clock, **options)
    return list(destination.write(config, catalog(), iter(messages)))


def summary(output) -> dict:
    [line] = [m.log.message for m in output if m.type == Type.LOG and m.log.message.startswith(SUMMARY_PREFIX)]
    return json.loads(line.removeprefix(SUMMARY_PREFIX))


def warnings(output) -> list[str]:
    return [m.log.message for m in output if m.type == Type.LOG and m.log.level == Level.WARN]


def no_duplicates(crm: CrmEmulator) -> None:
    for name, key in (
        ("contacts", "email"),
        ("companies", "store2crm_external_id"),
        ("deals", "store2crm_external_id"),
    ):
        keys = Counter(o["properties"].get(key) for o in crm.objects(name))
        assert [k for k, n in keys.items() if n > 1] == [], f"duplicate {name}"


def write_calls(crm: CrmEmulator) -> int:
    by_endpoint = crm.stats()["calls"]["by_endpoint"]
    return sum(sum(s.values()) for endpoint, s in by_endpoint.items() if "/batch/" in endpoint)


# -- retry queue and dead letters -------------------------------------------------------------------


def test_a_refused_record_is_retried_on_the_schedule_then_dead_lettered_and_replayed(clock, tmp_path):
    bad = contact(2, email="not-an-email")
    messages = sync_messages(crm_contacts=[contact(1), bad, contact(3)])
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        first = summary(run(config, messages, clock))
        assert (first["created"], first["failed"], first["queued_for_retry"]) == (7, 1, 1)

        upserts = crm.call_count("POST /crm/v3/objects/contacts/batch/upsert")
        again = summary(run(config, messages, clock))  # not due yet: not sent again
        assert crm.call_count("POST /crm/v3/objects/contacts/batch/upsert") == upserts
        assert (again["unchanged"], again["queued_for_retry"], again["sent"]) == (7, 1, 0)

        outcomes = []
        for wait in (30, 120, 480, 1800):
            clock.advance(wait)
            counts = summary(run(config, [], clock))  # due entries go out without the record coming again
            outcomes.append((counts["retried"], counts["queued_for_retry"], counts["dead_lettered"]))
        assert outcomes == [(1, 1, 0), (1, 1, 0), (1, 1, 0), (1, 0, 1)]

        clock.advance(7200)
        held = summary(run(config, messages, clock))
        assert (held["in_dead_letters"], held["sent"]) == (1, 0)

        runner = CliRunner()
        listed = runner.invoke(main, ["dead-letters", "list", "--sync-state", config["sync_state_path"]])
        assert listed.exit_code == 0, listed.output
        assert "crm_contacts/person-2\tattempts 5\tVALIDATION_ERROR" in listed.output
        assert "not-an-email" in listed.output and TOKEN not in listed.output

        replayed = runner.invoke(
            main, ["dead-letters", "replay", "--sync-state", config["sync_state_path"], "--id", "crm_contacts/person-2"]
        )
        assert replayed.output.startswith("1 dead letter(s) re-queued")
        crm.configure_faults()  # nothing changes in the CRM: the record fails again and re-enters the schedule
        after_replay = summary(run(config, [], clock))
        assert (after_replay["retried"], after_replay["queued_for_retry"]) == (1, 1)


def test_a_fixed_record_leaves_the_queue_as_soon_as_its_new_content_is_accepted(clock, tmp_path):
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        run(config, sync_messages(crm_contacts=[contact(1, email="broken")]), clock)
        fixed = summary(run(config, sync_messages(crm_contacts=[contact(1)]), clock))
        assert (fixed["created"], fixed["queued_for_retry"]) == (1, 0)


def test_a_custom_retry_schedule_is_honoured(clock, tmp_path):
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path, retry_schedule_seconds=[5])
        run(config, sync_messages(crm_contacts=[contact(1, email="broken")]), clock)
        clock.advance(5)
        assert summary(run(config, [], clock))["dead_lettered"] == 1


# -- faults -------------------------------------------------------------------------------------------


def test_five_percent_faults_lose_nothing_and_duplicate_nothing(clock, tmp_path):
    rows = {
        "crm_companies": [company(n) for n in range(1, 21)],
        "crm_contacts": [contact(n, company_external_id=f"woocommerce:s1:{n % 20 + 1}") for n in range(1, 301)],
        "crm_deals": [deal(n) for n in range(1, 201)],
    }
    changed = sum(len(r) for r in rows.values())
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        crm.configure_faults(error_rate=0.05, reset_rate=0.05, timeout_rate=0.05, partial_failure_rate=0.05, seed=11)
        first = summary(run(config, sync_messages(**rows), clock))

        accepted = first["created"] + first["updated"]
        assert accepted + first["queued_for_retry"] + first["dead_lettered"] == changed
        assert first["queued_for_retry"] > 0  # the partial failures went to the queue, not lost
        no_duplicates(crm)

        crm.configure_faults(error_rate=0.0, reset_rate=0.0, timeout_rate=0.0, partial_failure_rate=0.0)
        clock.advance(30)
        second = summary(run(config, sync_messages(**rows), clock))
        assert second["queued_for_retry"] == 0 and second["failed"] == 0
        no_duplicates(crm)
        assert len(crm.objects("contacts")) == 300 and len(crm.objects("deals")) == 200


def test_a_downtime_window_queues_the_run_untried_and_the_next_run_delivers(clock, tmp_path):
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        run(config, sync_messages(contacts=0, deals=0), clock)  # properties exist before the outage
        crm.configure_faults(downtime_seconds=3600)
        output = run(config, sync_messages(contacts=250, deals=0), clock)
        counts = summary(output)
        assert counts["queued_for_retry"] == 250
        assert crm.call_count("POST /crm/v3/objects/contacts/batch/upsert", 503) <= 6  # one batch, then stop
        assert any("stopped calling the CRM" in w for w in warnings(output))

        clock.advance(3600)
        later = summary(run(config, sync_messages(contacts=250, deals=0), clock))
        assert (later["created"], later["queued_for_retry"]) == (250, 0)
        no_duplicates(crm)


def test_a_crash_after_hubspot_accepted_a_batch_creates_no_duplicate_on_rerun(clock, tmp_path):
    class Crash(Exception):
        pass

    def crash() -> None:
        raise Crash("killed between the CRM's answer and the save")

    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        messages = sync_messages(companies=3, contacts=120, deals=5)
        with pytest.raises(Crash):
            run(config, messages, clock, after_accept=crash)
        assert len(crm.objects("companies")) == 3  # HubSpot holds the batch the store never saved

        rerun = summary(run(config, messages, clock))
        no_duplicates(crm)
        assert (len(crm.objects("companies")), len(crm.objects("contacts")), len(crm.objects("deals"))) == (3, 120, 5)
        assert rerun["updated"] == 3 and rerun["created"] == 125  # the crashed batch is matched, not re-created


# -- only what changed --------------------------------------------------------------------------------


def test_one_percent_change_costs_about_one_percent_of_the_calls(clock, tmp_path):
    rows = {"crm_companies": [], "crm_contacts": [contact(n) for n in range(1, 1001)], "crm_deals": []}
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        run(config, sync_messages(**rows), clock)
        full = write_calls(crm)

        rows["crm_contacts"] = [contact(n, city="Paris") if n % 100 == 0 else contact(n) for n in range(1, 1001)]
        counts = summary(run(config, sync_messages(**rows), clock))
        assert (counts["updated"], counts["unchanged"]) == (10, 990)
        assert write_calls(crm) - full == 1  # 10 records in one batch: 1 call against 10 for the full sync


# -- associations --------------------------------------------------------------------------------------


def test_associations_are_made_after_the_objects_and_only_for_new_links(clock, tmp_path):
    rows = {
        "crm_companies": [company(1), company(2, parent_external_id="woocommerce:s1:1")],
        "crm_contacts": [contact(1, company_external_id="woocommerce:s1:2"), contact(2)],
        "crm_deals": [deal(1, company_external_id="woocommerce:s1:2"), deal(2)],
    }
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        counts = summary(run(config, sync_messages(**rows), clock))
        ids = {
            name: {o["properties"].get(key): o["id"] for o in crm.objects(name)}
            for name, key in (
                ("companies", "store2crm_external_id"),
                ("contacts", "email"),
                ("deals", "store2crm_external_id"),
            )
        }
        made = {
            (a["fromObjectType"], a["fromObjectId"], a["toObjectType"], a["toObjectId"], a["associationTypeId"])
            for a in crm.associations()
        }
        parent, child = ids["companies"]["woocommerce:s1:1"], ids["companies"]["woocommerce:s1:2"]
        deal1 = ids["deals"]["woocommerce:s1:1001"]
        assert made == {
            ("companies", parent, "companies", child, 13),
            ("contacts", ids["contacts"]["person1@example.com"], "companies", child, 279),
            ("deals", deal1, "contacts", ids["contacts"]["person1@example.com"], 3),
            ("deals", deal1, "companies", child, 341),
            ("deals", ids["deals"]["woocommerce:s1:1002"], "contacts", ids["contacts"]["person2@example.com"], 3),
        }
        assert counts["associations_created"] == 5

        rows["crm_contacts"] = [contact(1, company_external_id="woocommerce:s1:2", city="Rome"), contact(2)]
        before = crm.call_count("POST /crm/v4/associations/contacts/companies/batch/create")
        again = summary(run(config, sync_messages(**rows), clock))
        assert again["associations_created"] == 0
        assert crm.call_count("POST /crm/v4/associations/contacts/companies/batch/create") == before


def test_a_link_to_an_object_not_yet_in_the_crm_waits_for_it(clock, tmp_path):
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path)
        orphan = {"crm_companies": [], "crm_contacts": [contact(1, company_external_id="woocommerce:s1:9")]}
        assert summary(run(config, sync_messages(deals=0, **orphan), clock))["associations_created"] == 0
        later = summary(run(config, sync_messages(contacts=0, deals=0, crm_companies=[company(9)]), clock))
        assert later["associations_created"] == 1


# -- quota ----------------------------------------------------------------------------------------------


def test_the_burst_limiter_keeps_inside_the_rolling_window_without_a_429(clock, tmp_path):
    with hubspot(clock, window_limit=10) as crm:
        config = settings(crm, tmp_path, batch_size=10)
        counts = summary(run(config, sync_messages(companies=0, contacts=300, deals=0), clock))
        assert counts["created"] == 300
        assert crm.call_count(status=429) == 0
        assert clock.slept and max(clock.slept) <= 10.0 + ADMISSION_MARGIN_S + 1e-3  # float timestamps


def test_the_burst_limiter_credits_calls_that_aged_out_and_ignores_a_report_of_a_past_window():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = BurstLimiter(clock=lambda: now[0], sleep=sleep, default_interval=10.0, margin=0.0)
    for second in range(5):  # five calls a second apart; the CRM then says the window is full
        now[0] = float(second)
        limiter.before_call()
    limiter.after_response(remaining=0, interval_seconds=10.0)
    now[0] = 10.5  # the call made at 0 s has aged out: one call may go at once
    limiter.before_call()
    assert slept == []
    limiter.before_call()  # the next frees when the call made at 1 s ages out
    assert slept == [0.5]
    limiter.after_response(remaining=0, interval_seconds=10.0)  # a 429's report...
    now[0] += 30.0  # ...followed by a long wait elsewhere: that window is long gone
    limiter.before_call()
    assert slept == [0.5]


# -- field ownership (over-quota runs and owned fields are in test_crm_suite.py, for every CRM) -----------


def test_an_owned_upsert_key_is_refused(clock, tmp_path):
    with hubspot(clock) as crm:
        config = settings(crm, tmp_path, crm_owned_fields={"contacts": ["email"]})
        with pytest.raises(Exception, match=r"contacts.email keys the upserts"):
            run(config, [], clock)
