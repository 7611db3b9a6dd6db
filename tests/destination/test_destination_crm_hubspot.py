"""Behaviour of destination-crm through the Airbyte protocol against the HubSpot CRM emulator."""

from __future__ import annotations

import json
import logging

import pytest
from airbyte_cdk.models import Level, Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_messages import (
    STREAMS,
    catalog,
    company,
    contact,
    deal,
    record,
    state,
    sync_messages,
    write,
)

from destination_crm import DestinationCrm
from destination_crm.crms import CRM_MODULES
from destination_crm.destination import SUMMARY_PREFIX
from destination_crm.state_store import StateStore


def refuse_sleep(seconds: float) -> None:
    raise AssertionError(f"check tried to sleep {seconds} s")


def summary(output) -> dict:
    [line] = [m.log.message for m in output if m.type == Type.LOG and m.log.message.startswith(SUMMARY_PREFIX)]
    return json.loads(line.removeprefix(SUMMARY_PREFIX))


def write_calls(emulator) -> int:
    by_endpoint = emulator.stats()["calls"]["by_endpoint"]
    return sum(sum(by_status.values()) for endpoint, by_status in by_endpoint.items() if endpoint.startswith("POST"))


def test_first_sync_creates_every_object_with_string_properties(emulator, config):
    output = write(config, sync_messages())

    counts = summary(output)
    assert counts | {"api_calls": 0, "quota_remaining": 0} == {
        "received": 8,
        "unchanged": 0,
        "sent": 8,
        "created": 8,
        "updated": 0,
        "failed": 0,
        "queued_for_retry": 0,
        "dead_lettered": 0,
        "deferred": 0,
        "in_dead_letters": 0,
        "retried": 0,
        "associations_created": 3,  # deal -> contact for each of the 3 deals
        "associations_failed": 0,
        "api_calls": 0,
        "quota_remaining": 0,
    }
    assert counts["quota_remaining"] > 0 and counts["api_calls"] >= 3 + 3
    contacts = {c["properties"]["email"]: c["properties"] for c in emulator.objects("contacts")}
    assert contacts["person3@example.com"]["store2crm_segments"] == "repeat;vip"
    assert contacts["person3@example.com"]["store2crm_count_orders"] == "3"
    deals = {d["properties"]["store2crm_external_id"]: d["properties"] for d in emulator.objects("deals")}
    assert deals["woocommerce:s1:1001"]["dealstage"] == "closedwon"
    assert deals["woocommerce:s1:1003"]["dealstage"] == "appointmentscheduled"
    assert {d["pipeline"] for d in deals.values()} == {"default"}
    assert len(emulator.objects("companies")) == 2
    with StateStore(config["sync_state_path"]) as store:
        crm_id = store.crm_id(f"hubspot:{emulator.base_url}", "crm_contacts", "person-1")
    assert crm_id == next(
        c["id"] for c in emulator.objects("contacts") if c["properties"]["email"] == "person1@example.com"
    )


def test_unchanged_rerun_makes_zero_write_calls(emulator, config):
    write(config, sync_messages())
    before = write_calls(emulator)

    counts = summary(write(config, sync_messages()))

    assert write_calls(emulator) == before
    assert (counts["unchanged"], counts["sent"], counts["api_calls"]) == (8, 0, 0)


def test_a_changed_record_is_updated_and_only_it_is_sent(emulator, config):
    write(config, sync_messages())

    changed = [contact(1), contact(2, city="Paris"), contact(3)]
    counts = summary(write(config, sync_messages(crm_contacts=changed)))

    assert (counts["unchanged"], counts["sent"], counts["updated"], counts["created"]) == (7, 1, 1, 0)
    cities = {c["properties"]["email"]: c["properties"]["city"] for c in emulator.objects("contacts")}
    assert cities == {"person1@example.com": "London", "person2@example.com": "Paris", "person3@example.com": "London"}


def test_a_429_storm_is_waited_out_with_injected_time(emulator, config):
    waits: list[float] = []
    emulator.configure_faults(rate_limit_storm=4)

    counts = summary(write(config, sync_messages(), sleep=waits.append))

    assert waits == [10.0] * 4  # X-HubSpot-RateLimit-Interval-Milliseconds: a whole rolling window each
    assert (counts["created"], counts["failed"]) == (8, 0)


def test_server_errors_are_retried(emulator, config):
    waits: list[float] = []
    emulator.configure_faults(error_rate=0.3, seed=7)

    counts = summary(write(config, sync_messages(contacts=30), sleep=waits.append))

    assert waits and set(waits) <= {1.0, 2.0, 4.0, 8.0, 16.0}
    assert (counts["created"], counts["failed"]) == (35, 0)


def test_each_state_is_echoed_unchanged_after_the_records_before_it_are_in_the_crm(emulator, config):
    messages = sync_messages(contacts=150)
    sent_states = [m for m in messages if m.type == Type.STATE]
    stored_when_echoed = []

    for message in DestinationCrm(sleep=lambda s: None).write(config, catalog(), iter(messages)):
        if message.type == Type.STATE:
            stored_when_echoed.append(
                (
                    message,
                    len(emulator.objects("companies")),
                    len(emulator.objects("contacts")),
                    len(emulator.objects("deals")),
                )
            )

    assert [s[0] for s in stored_when_echoed] == sent_states
    assert [s[1:] for s in stored_when_echoed] == [(2, 0, 0), (2, 150, 0), (2, 150, 3)]


def test_batches_hold_at_most_the_hubspot_cap(emulator, config):
    write(config, sync_messages(contacts=250, companies=0, deals=0))

    assert emulator.call_count("POST /crm/v3/objects/contacts/batch/upsert") == 3
    assert len(emulator.objects("contacts")) == 250


def test_a_record_hubspot_refuses_is_reported_by_external_id_and_the_rest_goes_on(emulator, config):
    contacts = [contact(1), contact(2, email="not-an-email"), contact(3)]

    output = write(config, sync_messages(crm_contacts=contacts))

    warnings = [m.log.message for m in output if m.type == Type.LOG and m.log.level == Level.WARN]
    assert len(warnings) == 1
    assert warnings[0].startswith("crm_contacts record person-2 failed: ")
    assert "not-an-email" in warnings[0]
    counts = summary(output)
    assert (counts["created"], counts["failed"]) == (7, 1)
    assert len(emulator.objects("contacts")) == 2


def test_a_record_that_cannot_be_mapped_is_reported_naming_the_field(emulator, config):
    output = write(config, sync_messages(crm_deals=[deal(1), deal(2, stage="pending")]))

    warnings = [m.log.message for m in output if m.type == Type.LOG and m.log.level == Level.WARN]
    assert warnings == [
        "crm_deals record woocommerce:s1:1002: field stage: expected one of open, won, lost, got 'pending'"
    ]
    assert summary(output)["failed"] == 1


def test_custom_properties_are_created_once_with_a_unique_upsert_key(emulator, config):
    write(config, sync_messages())
    write(config, sync_messages(crm_companies=[company(1, name="Renamed"), company(2)]))

    assert emulator.call_count("POST /crm/v3/properties/companies") == 8
    assert emulator.call_count("GET /crm/v3/properties/companies") == 2
    assert emulator.call_count("POST /crm/v3/properties/deals") == 5


def test_the_run_log_records_each_run(emulator, config):
    write(config, sync_messages())
    write(config, sync_messages())

    with StateStore(config["sync_state_path"]) as store:
        runs = store.runs(f"hubspot:{emulator.base_url}")
    assert [(r["status"], r["created"], r["unchanged"]) for r in runs] == [("succeeded", 8, 0), ("succeeded", 0, 8)]


def test_check_succeeds_with_a_good_token(config):
    status = DestinationCrm(sleep=refuse_sleep).check(logging.getLogger("test"), config)
    assert status.status == Status.SUCCEEDED


def test_check_with_a_bad_token_says_what_to_do_without_echoing_it(config):
    config["hubspot"]["access_token"] = "pat-wrong-token"

    status = DestinationCrm(sleep=refuse_sleep).check(logging.getLogger("test"), config)

    assert status.status == Status.FAILED
    assert "access token" in status.message and "crm.objects.contacts.write" in status.message
    assert "pat-wrong-token" not in status.message


def test_unknown_crm_names_the_valid_ones(config):
    config["crm"] = "pipedrive"
    status = DestinationCrm(sleep=refuse_sleep).check(logging.getLogger("test"), config)
    assert status.status == Status.FAILED
    assert status.message == f"unknown crm 'pipedrive': choose one of {', '.join(sorted(CRM_MODULES))}"
    assert "hubspot" in CRM_MODULES


def test_batch_size_above_the_cap_is_refused(config):
    config["batch_size"] = 101
    with pytest.raises(AirbyteTracedException, match="batch_size must be a whole number from 1 to 100"):
        write(config, [])


def test_a_stream_the_crm_cannot_write_is_refused_before_any_call(emulator, config):
    destination = DestinationCrm(sleep=lambda s: None)
    with pytest.raises(AirbyteTracedException, match=r"cannot write stream.*crm_segment_memberships"):
        list(destination.write(config, catalog([*STREAMS, "crm_segment_memberships"]), iter([])))
    assert emulator.call_count() == 0


def test_state_of_an_empty_stream_is_still_echoed(config):
    output = write(config, [state("crm_companies", 0), record("crm_companies", company(1)), state("crm_companies", 1)])
    assert [m.type for m in output if m.type != Type.LOG] == [Type.STATE, Type.STATE]


def test_a_contact_whose_email_changed_stays_one_contact(emulator, config):
    write(config, sync_messages())
    crm_id_before = next(
        c["id"] for c in emulator.objects("contacts") if c["properties"]["email"] == "person2@example.com"
    )

    changed = [contact(1), contact(2, email="person2.new@example.com"), contact(3)]
    counts = summary(write(config, sync_messages(crm_contacts=changed)))

    assert (counts["sent"], counts["updated"], counts["created"]) == (1, 1, 0)
    emails = {c["id"]: c["properties"]["email"] for c in emulator.objects("contacts")}
    assert len(emails) == 3
    assert emails[crm_id_before] == "person2.new@example.com"
    assert emulator.call_count("POST /crm/v3/objects/contacts/batch/update") == 1


def test_an_object_the_crm_no_longer_has_is_upserted_again(emulator, config):
    write(config, sync_messages())
    emulator.reset()  # as if the objects were deleted in HubSpot

    changed = [contact(1, city="Oslo"), contact(2), contact(3)]
    counts = summary(write(config, sync_messages(crm_contacts=changed)))

    assert (counts["sent"], counts["created"], counts["failed"]) == (1, 1, 0)
    [restored] = emulator.objects("contacts")
    assert restored["properties"]["city"] == "Oslo"
