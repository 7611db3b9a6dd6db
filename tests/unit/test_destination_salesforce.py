"""Pure pieces of the Salesforce CRM module: mapping, batch ordering, request shapes, result matching, config."""

from __future__ import annotations

import csv
import io
import logging

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import RecordRejected
from destination_crm.crms.salesforce import SalesforceCrm, match_results
from destination_crm.crms.salesforce_errors import describe_errors, limit_info
from destination_crm.crms.salesforce_mapping import (
    CSV_NULL,
    DEFAULT_MAPPINGS,
    MISSING_LAST_NAME,
    csv_body,
    grouped_by_parent,
    hierarchy_levels,
    json_record,
)

EXT = "Store2crm_External_Id__c"


def build(**salesforce) -> SalesforceCrm:
    settings = {"instance_url": "https://acme.my.salesforce.com", "access_token": "00D!x", **salesforce}
    return SalesforceCrm.from_config(
        {"crm": "salesforce", "salesforce": settings}, sleep=lambda _: None, logger=logging.getLogger("test")
    )


def mapped(stream: str, **record):
    return DEFAULT_MAPPINGS[stream].map(stream, record, EXT)


def account(external_id: str, parent: str | None = None):
    return mapped("crm_companies", external_id=external_id, name=f"Co {external_id}", parent_external_id=parent)


# -- mapping ----------------------------------------------------------------------------------------


def test_a_company_maps_to_an_account_with_its_parent_by_external_id():
    write = account("w:1:2", parent="w:1:1")
    assert dict(write.properties) == {"Name": "Co w:1:2", "Website": "", f"Parent.{EXT}": "w:1:1"}
    assert write.id_value == write.external_id == "w:1:2"


def test_a_company_without_a_parent_clears_the_lookup_by_id():
    assert dict(account("w:1:1").properties)["ParentId"] == ""


def test_a_company_without_a_name_is_named_after_its_domain_and_without_either_is_rejected():
    assert mapped("crm_companies", external_id="c", domain="acme.example").properties["Name"] == "acme.example"
    with pytest.raises(RecordRejected, match=r"crm_companies record c: .*name and domain"):
        mapped("crm_companies", external_id="c")


def test_a_contact_without_a_last_name_gets_the_salesforce_placeholder():
    write = mapped("crm_contacts", external_id="p1", first_name="Ada", email="a@x.io", city="Oslo", country="NO")
    assert write.properties["LastName"] == MISSING_LAST_NAME
    assert (write.properties["MailingCity"], write.properties["MailingCountry"]) == ("Oslo", "NO")
    assert write.properties["AccountId"] == ""


def test_a_contact_links_to_its_account_by_external_id():
    write = mapped("crm_contacts", external_id="p1", last_name="L", company_external_id="w:1:9")
    assert write.properties[f"Account.{EXT}"] == "w:1:9" and "AccountId" not in write.properties


@pytest.mark.parametrize(
    ("stage", "closed_at", "expected_stage", "expected_date"),
    [
        ("open", None, "Prospecting", "2026-03-01"),
        ("won", "2026-03-05T23:30:00-02:00", "Closed Won", "2026-03-06"),
        ("lost", "2026-03-04T10:00:00Z", "Closed Lost", "2026-03-04"),
    ],
)
def test_a_deal_maps_stage_and_close_date(stage, closed_at, expected_stage, expected_date):
    write = mapped(
        "crm_deals",
        external_id="w:1:1001",
        deal_name="Order #1001",
        amount=19.9,
        stage=stage,
        created_at="2026-03-01T12:00:00Z",
        closed_at=closed_at,
        contact_external_id="p1",
    )
    assert write.properties["StageName"] == expected_stage
    assert write.properties["CloseDate"] == expected_date
    assert write.properties["Amount"] == "19.9"
    assert write.properties[f"Contact.{EXT}"] == "p1" and write.properties["AccountId"] == ""


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stage": "pending"}, "stage"),
        ({"amount": "lots"}, "amount"),
        ({"created_at": None}, "closed_at and created_at"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_a_bad_deal_is_rejected_naming_the_record_and_field(changes, field):
    record = {"external_id": "w:1:7", "stage": "open", "amount": 1, "created_at": "2026-03-01T00:00:00Z", **changes}
    with pytest.raises(RecordRejected, match=rf"crm_deals record w:1:7: .*{field}"):
        mapped("crm_deals", **record)


def test_a_record_without_an_external_id_is_rejected():
    with pytest.raises(RecordRejected, match="external_id"):
        mapped("crm_contacts", last_name="L")


def test_the_hash_changes_with_the_content_only():
    assert account("a").content_hash == account("a").content_hash
    assert account("a").content_hash != account("a", parent="b").content_hash


def test_owned_fields_are_left_out_of_what_is_sent_and_hashed():
    crm = SalesforceCrm.from_config(
        {
            "salesforce": {"instance_url": "https://x.my.salesforce.com", "access_token": "t"},
            "crm_owned_fields": {"Contact": ["Phone", "Account"]},
        },
        sleep=lambda _: None,
        logger=logging.getLogger("test"),
    )
    record = {"external_id": "p1", "last_name": "L", "phone": "+1", "company_external_id": "c"}
    write = crm.map_record("crm_contacts", record)
    assert "Phone" not in write.properties and f"Account.{EXT}" not in write.properties
    assert write.content_hash == crm.map_record("crm_contacts", {**record, "phone": "+2"}).content_hash


def test_without_a_segments_field_a_contact_writes_no_segments():
    record = {"external_id": "p1", "last_name": "L", "segments": "repeat;vip"}
    write = build().map_record("crm_contacts", record)
    assert set(write.properties) == {
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "MailingCity",
        "MailingCountry",
        "AccountId",
    }
    assert write.content_hash == build().map_record("crm_contacts", {**record, "segments": "vip"}).content_hash


def test_the_segments_field_carries_the_segments_and_takes_part_in_the_hash():
    crm = build(segments_field="Store2crm_Segments__c")
    record = {"external_id": "p1", "last_name": "L", "segments": "repeat;vip"}
    write = crm.map_record("crm_contacts", record)
    assert write.properties["Store2crm_Segments__c"] == "repeat;vip"
    assert write.content_hash == crm.map_record("crm_contacts", dict(record)).content_hash
    assert write.content_hash != crm.map_record("crm_contacts", {**record, "segments": "vip"}).content_hash
    cleared = crm.map_record("crm_contacts", {**record, "segments": None})
    assert json_record("Contact", cleared, EXT)["Store2crm_Segments__c"] is None
    assert crm.map_record("crm_companies", {"external_id": "c", "name": "Co"}).properties == {
        "Name": "Co",
        "Website": "",
        "ParentId": "",
    }


# -- ordering ---------------------------------------------------------------------------------------


def test_hierarchy_levels_put_every_parent_in_an_earlier_request_than_its_children():
    writes = [account("d", "c"), account("c", "b"), account("x"), account("b", "a"), account("a"), account("y", "z")]
    levels = [[w.external_id for w in level] for level in hierarchy_levels(writes, "Parent", EXT)]
    assert levels == [["x", "a", "y"], ["b"], ["c"], ["d"]]  # y's parent z is not in the batch: level 0


def test_a_parent_cycle_does_not_hang_and_goes_last():
    writes = [account("a", "b"), account("b", "a"), account("c")]
    levels = [[w.external_id for w in level] for level in hierarchy_levels(writes, "Parent", EXT)]
    assert levels[0] == ["c"] and sorted(levels[1] + levels[-1]) == ["a", "b"]


def test_children_of_one_parent_are_grouped_together():
    contacts = [
        mapped("crm_contacts", external_id=f"p{n}", last_name="L", company_external_id=f"c{n % 3}") for n in range(9)
    ]
    order = [w.properties[f"Account.{EXT}"] for w in grouped_by_parent(contacts, "Account", EXT)]
    assert order == ["c0"] * 3 + ["c1"] * 3 + ["c2"] * 3


# -- request shapes ---------------------------------------------------------------------------------


def test_a_collection_record_carries_type_external_id_numbers_nulls_and_relationships():
    write = mapped(
        "crm_deals",
        external_id="w:1:1",
        deal_name="",
        amount=12.5,
        stage="won",
        closed_at="2026-03-02T00:00:00Z",
        company_external_id="w:1:9",
    )
    assert json_record("Opportunity", write, EXT) == {
        "attributes": {"type": "Opportunity"},
        EXT: "w:1:1",
        "Name": "Order w:1:1",
        "Amount": 12.5,
        "CloseDate": "2026-03-02",
        "StageName": "Closed Won",
        "Account": {EXT: "w:1:9"},
        "ContactId": None,
    }


def test_the_bulk_csv_marks_nulls_and_leaves_unset_columns_empty():
    rows = list(csv.DictReader(io.StringIO(csv_body([account("a"), account("b", "a")], EXT).decode())))
    assert rows[0] == {EXT: "a", "Name": "Co a", "Website": CSV_NULL, "ParentId": CSV_NULL, f"Parent.{EXT}": ""}
    assert rows[1][f"Parent.{EXT}"] == "a" and rows[1]["ParentId"] == ""


# -- results --------------------------------------------------------------------------------------


def test_per_record_results_are_matched_by_position_failures_named():
    writes = [account("a"), account("b"), account("c")]
    results = [
        {"id": "001A", "success": True, "errors": [], "created": True},
        {
            "id": None,
            "success": False,
            "errors": [{"statusCode": "STRING_TOO_LONG", "message": "Name: data value too large", "fields": ["Name"]}],
        },
        {"id": "001C", "success": True, "errors": [], "created": False},
    ]
    outcomes = match_results(writes, results)
    assert (outcomes["a"].crm_id, outcomes["a"].created) == ("001A", True)
    assert (outcomes["c"].crm_id, outcomes["c"].created, outcomes["c"].accepted) == ("001C", False, True)
    assert outcomes["b"].error == "STRING_TOO_LONG: Name: data value too large [Name]"
    assert outcomes["b"].error_category == "STRING_TOO_LONG"


def test_a_result_list_of_the_wrong_length_fails_every_record_rather_than_guess():
    outcomes = match_results([account("a"), account("b")], [{"id": "001A", "success": True}])
    assert {o.error_category for o in outcomes.values()} == {"UNMATCHED_RESULT"}


def test_describe_errors_without_errors_says_so():
    assert describe_errors([]) == ("Salesforce gave no reason", None)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=25/15000", (25, 15000)),
        ("api-usage=18/5000; per-app-api-usage=17/250(appName=sample-app)", (18, 5000)),
        ("per-app-api-usage=1/2(appName=x)", None),
        (None, None),
    ],
)
def test_the_limit_header_is_parsed(header, expected):
    assert limit_info({} if header is None else {"Sforce-Limit-Info": header}) == expected


# -- config ---------------------------------------------------------------------------------------


def test_defaults():
    crm = build()
    assert crm.target == "salesforce:https://acme.my.salesforce.com"
    assert crm.streams == ("crm_companies", "crm_contacts", "crm_deals")
    assert (crm.api_calls, crm.quota_remaining) == (0, None)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"instance_url": "acme.my.salesforce.com"}, "salesforce.instance_url"),
        ({"access_token": ""}, "salesforce.access_token is missing"),
        ({"api_version": "62"}, "salesforce.api_version"),
        ({"external_id_field": "External_Id"}, "ending in __c"),
        ({"segments_field": "Segments"}, r"salesforce.segments_field .*ending in __c.*create the field in Setup"),
        ({"segments_field": ["Segments__c"]}, "salesforce.segments_field"),
        ({"segments_field": EXT}, "salesforce.segments_field .*not the external id field"),
        ({"bulk_threshold": 0}, "salesforce.bulk_threshold"),
        ({"bulk_threshold": "2000"}, "salesforce.bulk_threshold"),
    ],
)
def test_bad_config_names_the_setting(settings, message):
    with pytest.raises(AirbyteTracedException, match=message) as raised:
        build(**settings)
    assert raised.value.failure_type == FailureType.config_error
    assert "00D!x" not in raised.value.message


def test_unknown_owned_object_is_refused():
    with pytest.raises(AirbyteTracedException, match="unknown object"):
        SalesforceCrm.from_config(
            {
                "salesforce": {"instance_url": "https://x.my.salesforce.com", "access_token": "t"},
                "crm_owned_fields": {"contacts": []},
            },
            sleep=lambda _: None,
            logger=logging.getLogger("test"),
        )
