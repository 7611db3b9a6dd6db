"""Unit tests of the HubSpot default mappings, value conversions, hashing and stage mapping."""

from __future__ import annotations

import pytest

from destination_crm.crms.base import RecordRejected, content_hash
from destination_crm.crms.hubspot_mapping import (
    COMPANIES,
    CONTACTS,
    DEALS,
    as_bool,
    as_datetime,
    as_deal_stage,
    as_number,
)

CONTACT = {
    "external_id": "p-1",
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+447700900123",
    "city": "London",
    "country": "GB",
    "accepts_marketing": True,
    "is_registered": False,
    "count_orders": 3,
    "total_revenue": 120.5,
    "first_order_at": "2026-01-02T10:00:00+01:00",
    "last_order_at": None,
    "segments": "vip;repeat",
    "company_external_id": None,
    "updated_at": "2026-10-01T00:00:00Z",
    "row_hash": "abc",
}

DEAL = {
    "external_id": "woocommerce:s1:1001",
    "deal_name": "Order #1001",
    "amount": 99.9,
    "currency": "EUR",
    "stage": "won",
    "order_status": "completed",
    "created_at": "2026-03-01T12:00:00Z",
    "closed_at": "2026-03-02T12:00:00Z",
    "contact_external_id": "p-1",
    "company_external_id": None,
    "updated_at": "2026-03-02T12:00:00Z",
    "row_hash": "def",
}


def test_contact_is_keyed_on_email_with_every_value_a_string():
    write = CONTACTS.map(CONTACT)
    assert write.id_value == "ada@example.com"
    assert write.external_id == "p-1"
    assert write.properties == {
        "email": "ada@example.com",
        "firstname": "Ada",
        "lastname": "Lovelace",
        "phone": "+447700900123",
        "city": "London",
        "country": "GB",
        "store2crm_external_id": "p-1",
        "store2crm_accepts_marketing": "true",
        "store2crm_is_registered": "false",
        "store2crm_count_orders": "3",
        "store2crm_total_revenue": "120.5",
        "store2crm_first_order_at": "2026-01-02T09:00:00.000Z",
        "store2crm_last_order_at": "",
        "store2crm_segments": "vip;repeat",
        "store2crm_company_external_id": "",
    }
    assert all(isinstance(v, str) for v in write.properties.values())


def test_deal_maps_stage_pipeline_and_dates():
    write = DEALS.map(DEAL)
    assert write.id_value == "woocommerce:s1:1001"
    assert write.properties["store2crm_external_id"] == "woocommerce:s1:1001"
    assert write.properties["dealstage"] == "closedwon"
    assert write.properties["pipeline"] == "default"
    assert write.properties["amount"] == "99.9"
    assert write.properties["closedate"] == "2026-03-02T12:00:00.000Z"
    assert write.properties["dealname"] == "Order #1001"


def test_company_is_keyed_on_the_unique_external_id_property():
    write = COMPANIES.map({"external_id": "shopify:s1:7", "name": "Acme", "credit_limit": 5000})
    assert COMPANIES.id_property == "store2crm_external_id"
    assert write.properties["store2crm_external_id"] == "shopify:s1:7"
    assert write.properties["store2crm_credit_limit"] == "5000"
    unique = [p for p in COMPANIES.custom_properties if p.unique]
    assert [p.name for p in unique] == ["store2crm_external_id"]
    assert unique[0].create_body("companyinformation")["hasUniqueValue"] is True


@pytest.mark.parametrize(
    ("stage", "hubspot_stage"), [("open", "appointmentscheduled"), ("won", "closedwon"), ("lost", "closedlost")]
)
def test_canonical_stages_map_to_the_default_pipeline(stage, hubspot_stage):
    assert as_deal_stage(stage) == hubspot_stage


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {**DEAL, "stage": "pending"},
            "crm_deals record woocommerce:s1:1001: field stage: expected one of open, won, lost",
        ),
        ({**DEAL, "amount": "lots"}, "crm_deals record woocommerce:s1:1001: field amount: expected a number"),
        ({**DEAL, "closed_at": "yesterday"}, "field closed_at: expected an ISO 8601 timestamp"),
        ({**DEAL, "external_id": None}, "crm_deals record has no external_id"),
    ],
)
def test_bad_deal_is_rejected_naming_record_and_field(record, message):
    with pytest.raises(RecordRejected, match=message):
        DEALS.map(record)


def test_contact_without_email_is_rejected_naming_the_record():
    with pytest.raises(RecordRejected, match="crm_contacts record p-1: email is empty"):
        CONTACTS.map({**CONTACT, "email": "  "})


@pytest.mark.parametrize(
    ("value", "text"), [(3, "3"), (120.50, "120.5"), (1e-7, "0.0000001"), (2.0, "2"), ("10.00", "10"), (None, "")]
)
def test_numbers_become_plain_decimal_strings(value, text):
    assert as_number(value) == text


@pytest.mark.parametrize("value", [True, "NaN", "abc"])
def test_non_numbers_are_refused(value):
    with pytest.raises(ValueError, match="number"):
        as_number(value)


def test_booleans_and_datetimes():
    assert (as_bool(True), as_bool(False), as_bool(None)) == ("true", "false", "")
    with pytest.raises(ValueError, match="true or false"):
        as_bool("yes")
    assert as_datetime("2026-11-01T00:00:00Z") == "2026-11-01T00:00:00.000Z"
    assert as_datetime(None) == ""


def test_hash_changes_with_any_property_and_ignores_key_order():
    first = CONTACTS.map(CONTACT)
    assert first.content_hash == CONTACTS.map(dict(reversed(CONTACT.items()))).content_hash
    assert first.content_hash != CONTACTS.map({**CONTACT, "city": "Paris"}).content_hash
    # Columns that are not mapped (updated_at, row_hash) do not make a record look changed.
    assert first.content_hash == CONTACTS.map({**CONTACT, "updated_at": "2027-01-01T00:00:00Z"}).content_hash
    assert content_hash("a", {"x": "1"}) != content_hash("b", {"x": "1"})


def test_dedupe_key_ignores_email_case():
    assert CONTACTS.map({**CONTACT, "email": "Ada@Example.com"}).dedupe_key == CONTACTS.map(CONTACT).dedupe_key
