"""Magento platform pieces on hand-built inputs: mappers, searchCriteria building, config."""

from __future__ import annotations

import logging

import pytest
import requests

from source_store.config import ConfigError, parse_config
from source_store.platforms import magento
from source_store.platforms.magento_mappers import (
    RELATED,
    map_abandoned_checkout,
    map_company,
    map_company_contact,
    map_customer,
    map_order,
    map_product,
)

# A GET /V1/orders item as Magento's OrderInterface documents it (trimmed to what we read and a few extras).
ORDER = {
    "entity_id": 12,
    "increment_id": "000000012",
    "state": "complete",
    "status": "complete",
    "created_at": "2025-03-01 10:00:00",
    "updated_at": "2025-03-05 12:30:00",
    "customer_id": 7,
    "customer_is_guest": 0,
    "customer_email": "roni_cost@example.com",
    "order_currency_code": "USD",
    "subtotal": 100,
    "discount_amount": -10,
    "shipping_amount": 5,
    "tax_amount": 7.2,
    "grand_total": 102.2,
    "total_refunded": 20,
    "billing_address": {
        "firstname": "Veronica",
        "lastname": "Costello",
        "street": ["6146 Honey Bluff Parkway"],
        "city": "Calder",
        "region_code": "MI",
        "postcode": "49628-7978",
        "country_id": "US",
        "telephone": "(555) 229-3326",
    },
    "items": [
        {
            "item_id": 1,
            "sku": "WS03-XS-Red",
            "name": "Iris Workout Top",
            "product_id": 1434,
            "qty_ordered": 2,
            "price": 50,
            "row_total": 100,
        },
        {"item_id": 2, "parent_item_id": 1, "sku": "WS03-XS-Red", "name": "child", "qty_ordered": 2},
    ],
    "payment": {"method": "purchaseorder", "po_number": "PO-7"},
    "status_histories": [
        {"status": "holded", "comment": "Awaiting purchase order approval.", "created_at": "2025-03-02 00:00:00"}
    ],
    "extension_attributes": {
        "company_order_attributes": {"company_id": 3},
        "shipping_assignments": [
            {"shipping": {"address": {"city": "Calder", "country_id": "US", "street": ["1 Way", "Unit 2"]}}}
        ],
    },
    RELATED: {
        "refunds": [
            {"entity_id": 40, "grand_total": 20, "customer_note": "damaged", "created_at": "2025-03-05 12:30:00"}
        ]
    },
}


def test_order_maps_every_canonical_field():
    record = map_order(ORDER)
    assert (record["id"], record["order_number"], record["customer_id"]) == ("12", "000000012", "7")
    assert (record["discount_total"], record["total"], record["tax_total"]) == (10.0, 102.2, 7.2)
    assert (record["financial_status"], record["fulfillment_status"]) == ("partially_refunded", "fulfilled")
    assert [i["sku"] for i in record["line_items"]] == ["WS03-XS-Red"]  # child rows of configurables dropped
    assert record["refunds"][0]["amount"] == 20.0 and record["refunds"][0]["reason"] == "damaged"
    assert (record["company_id"], record["purchase_order_number"], record["approval_status"]) == (
        "3",
        "PO-7",
        "pending",
    )
    assert record["shipping_address"]["address2"] == "Unit 2"
    assert record["updated_at"] == "2025-03-05T12:30:00Z"
    assert record["extra"]["payment_method"] == "purchaseorder"


def test_guest_and_cancelled_order():
    record = map_order(
        {
            **ORDER,
            "customer_is_guest": 1,
            "customer_id": None,
            "state": "canceled",
            "status_histories": [{"status": "canceled", "created_at": "2025-03-03 08:00:00"}],
        }
    )
    assert record["customer_id"] is None
    assert (record["financial_status"], record["cancelled_at"]) == ("voided", "2025-03-03T08:00:00Z")


def test_zero_date_and_bad_amount_are_noted():
    record = map_order({**ORDER, "created_at": "0000-00-00 00:00:00", "grand_total": "N/A"})
    assert record["created_at"] is None and record["total"] is None
    assert {n["field"] for n in record["extra"]["_changes"]} == {"created_at", "grand_total"}


def test_customer_company_user_product_cart_company():
    customer = {
        "id": 5,
        "email": "a@example.com",
        "firstname": "A",
        "lastname": "B",
        "dob": "1990-01-02",
        "created_at": "2024-01-01 00:00:00",
        "updated_at": "2024-02-01 00:00:00",
        "default_billing": "9",
        "addresses": [
            {
                "id": 9,
                "street": ["1 Main"],
                "city": "X",
                "country_id": "US",
                "telephone": "+1555",
                "region": {"region_code": "CA", "region": "California"},
            }
        ],
        "extension_attributes": {"is_subscribed": True, "company_attributes": {"company_id": 3, "job_title": "Buyer"}},
        "custom_attributes": [{"attribute_code": "customer_tags", "value": "vip, b2b"}],
    }
    record = map_customer(customer)
    assert (record["phone"], record["accepts_marketing"], record["company_id"]) == ("+1555", True, "3")
    assert record["tags"] == ["vip", "b2b"] and record["birthdate"] == "1990-01-02"
    assert record["default_address"]["province"] == "CA"
    contact = map_company_contact({**customer, RELATED: {"super_user": False}})
    assert (contact["id"], contact["company_id"], contact["role"]) == ("5", "3", "buyer")
    assert map_company_contact({**customer, RELATED: {"super_user": True}})["role"] == "admin"
    product = map_product(
        {
            "id": 1,
            "sku": "S",
            "name": "N",
            "price": 3,
            "status": 2,
            "updated_at": "2024-01-01 00:00:00",
            RELATED: {"categories": ["Gear"]},
        }
    )
    assert (product["status"], product["category"]) == ("disabled", "Gear")
    cart = map_abandoned_checkout(
        {
            "id": 8,
            "created_at": "2024-01-01 00:00:00",
            "updated_at": "2024-01-01 00:00:00",
            "converted_at": None,
            "customer": {"email": "g@example.com", "group_id": 0},
            "billing_address": {"telephone": "+1"},
            "currency": {"quote_currency_code": "EUR"},
            "items": [{"item_id": 1, "sku": "S", "qty": 3, "price": 2.5}],
            RELATED: {"totals": {"grand_total": 9.1}},
        }
    )
    assert (cart["total"], cart["currency"], cart["customer_id"], cart["line_items"][0]["total"]) == (
        9.1,
        "EUR",
        None,
        7.5,
    )
    company = map_company(
        {
            "id": 3,
            "company_name": "Acme",
            "company_email": "ap@Acme.example",
            RELATED: {"credit": {"credit_limit": 1000, "balance": -250.5}},
        }
    )
    assert (company["domain"], company["credit_limit"], company["credit_used"]) == ("acme.example", 1000.0, 250.5)


def test_search_criteria_parameters():
    params = magento.criteria(
        [
            [("updated_at", "2025-01-01 00:00:00", "gteq")],
            [("updated_at", "2025-01-02 00:00:00", "gt"), ("entity_id", 7, "gt")],
        ],
        sort=("updated_at", "entity_id"),
        page_size=50,
        page=1,
    )
    assert params["searchCriteria[filter_groups][1][filters][1][field]"] == "entity_id"
    assert params["searchCriteria[filter_groups][1][filters][1][condition_type]"] == "gt"
    assert params["searchCriteria[sortOrders][1][field]"] == "entity_id"
    assert params["searchCriteria[pageSize]"] == 50 and params["searchCriteria[currentPage]"] == 1
    assert magento.criteria([]) == {"searchCriteria": ""}


BASE = {"platform": "magento", "store_id": "m", "start_date": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"access_token": "t"}, "magento.base_url is required"),
        ({"base_url": "https://m.example"}, "magento.access_token is required"),
        ({"base_url": "https://m.example/rest/V1", "access_token": "t"}, "without /rest/V1"),
        ({"base_url": "https://m.example", "access_token": "t", "store_code": "de/x"}, "store view code"),
    ],
)
def test_invalid_connections_name_the_field(connection, message):
    with pytest.raises(ConfigError, match=message):
        magento.magento_connection(parse_config({**BASE, "magento": connection}))


def test_store_code_scopes_the_rest_root():
    connection = magento.magento_connection(
        parse_config({**BASE, "magento": {"base_url": "https://m.example/", "access_token": "t", "store_code": "de"}})
    )
    assert connection.rest_root == "https://m.example/rest/de/V1/"


class _Answer:
    """A stand-in for the check request's response."""

    def __init__(self, status_code, body):
        self.status_code, self.ok, self._body = status_code, status_code < 400, body

    def json(self):
        if self._body is None:
            raise ValueError("not JSON")
        return self._body


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (requests.Timeout(), "m.example did not answer within 30 s"),
        (requests.ConnectionError(), "cannot reach m.example (ConnectionError); check magento.base_url"),
        (_Answer(500, None), "m.example answered HTTP 500 to GET /rest/V1/orders"),
        (_Answer(200, None), "m.example answered /rest/V1/orders with something other than a Magento search result"),
        (_Answer(200, {"items": [], "total_count": 0}), None),
    ],
)
def test_check_explains_each_way_the_probe_can_fail(monkeypatch, outcome, message):
    def get(*_args, **_kwargs):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(magento.requests, "get", get)
    config = parse_config({**BASE, "magento": {"base_url": "https://m.example", "access_token": "t"}})
    assert magento.check_connection(config, logging.getLogger("test")) == message
