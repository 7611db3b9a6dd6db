"""WooCommerce → canonical mappers, on payloads shaped as the WooCommerce REST v3 docs show them."""

from __future__ import annotations

import copy

import pytest

from source_store.platforms.woocommerce_mappers import (
    MalformedRecordError,
    map_abandoned_checkout,
    map_company,
    map_company_contact,
    map_customer,
    map_event,
    map_order,
    map_product,
)

BILLING = {
    "first_name": "John",
    "last_name": "Doe",
    "company": "",
    "address_1": "969 Market",
    "address_2": "",
    "city": "San Francisco",
    "state": "CA",
    "postcode": "94103",
    "country": "US",
    "email": "john.doe@example.com",
    "phone": "(555) 555-5555",
}
EMPTY_SHIPPING = {key: "" for key in BILLING if key not in ("email", "phone")}

ORDER = {
    "id": 727,
    "parent_id": 0,
    "number": "727",
    "order_key": "wc_order_58d2d042d1d",
    "created_via": "rest-api",
    "status": "processing",
    "currency": "USD",
    "date_created": "2017-03-22T16:28:02",
    "date_created_gmt": "2017-03-22T19:28:02",
    "date_modified": "2017-03-22T16:28:08",
    "date_modified_gmt": "2017-03-22T19:28:08",
    "discount_total": "0.00",
    "discount_tax": "0.00",
    "shipping_total": "10.00",
    "shipping_tax": "0.00",
    "cart_tax": "1.35",
    "total": "29.35",
    "total_tax": "1.35",
    "prices_include_tax": False,
    "customer_id": 0,
    "customer_note": "",
    "billing": BILLING,
    "shipping": EMPTY_SHIPPING,
    "payment_method": "bacs",
    "payment_method_title": "Direct Bank Transfer",
    "transaction_id": "",
    "meta_data": [
        {"id": 13106, "key": "_b2b_company_id", "value": "88"},
        {"id": 13107, "key": "_purchase_order_number", "value": "PO-1001"},
        {"id": 13108, "key": "_approval_status", "value": "approved"},
        {"id": 13109, "key": "_wc_pos_terminal", "value": "7"},
    ],
    "line_items": [
        {
            "id": 315,
            "name": "Woo Single #1",
            "product_id": 93,
            "variation_id": 0,
            "quantity": 2,
            "tax_class": "",
            "subtotal": "6.00",
            "subtotal_tax": "0.45",
            "total": "6.00",
            "total_tax": "0.45",
            "taxes": [{"id": 75, "total": "0.45", "subtotal": "0.45"}],
            "meta_data": [],
            "sku": "",
            "price": 3,
        },
        {
            "id": 316,
            "name": "Ship Your Idea",
            "product_id": 22,
            "variation_id": 23,
            "quantity": 1,
            "subtotal": "12.00",
            "total": "12.00",
            "sku": "SYI-RED",
            "price": 12,
        },
    ],
    "refunds": [{"id": 726, "reason": "Damaged", "total": "-10.00"}],
}


def test_order_maps_ids_money_and_dates():
    order = map_order(ORDER)
    assert order["id"] == "727"
    assert order["order_number"] == "727"
    assert order["customer_id"] is None  # guest checkout: WooCommerce writes 0
    assert order["total"] == 29.35
    assert order["tax_total"] == 1.35
    assert order["shipping_total"] == 10.0
    assert order["discount_total"] == 0.0
    assert order["subtotal"] == 18.0  # WooCommerce has no order subtotal: sum of line subtotals
    assert order["created_at"] == "2017-03-22T19:28:02Z"
    assert order["updated_at"] == "2017-03-22T19:28:08Z"
    assert order["currency"] == "USD"


def test_order_addresses_are_canonical_and_empty_shipping_is_null():
    order = map_order(ORDER)
    assert order["billing_address"]["address1"] == "969 Market"
    assert order["billing_address"]["province"] == "CA"
    assert order["billing_address"]["address2"] is None
    assert "address_1" not in order["billing_address"]
    assert order["shipping_address"] is None
    assert order["email"] == "john.doe@example.com"
    assert order["phone"] == "(555) 555-5555"


def test_order_refunds_are_positive_and_make_a_paid_order_partially_refunded():
    order = map_order(ORDER)
    assert order["refunds"] == [{"id": "726", "amount": 10.0, "reason": "Damaged", "created_at": None, "extra": {}}]
    assert order["financial_status"] == "partially_refunded"
    assert order["fulfillment_status"] == "unfulfilled"
    assert order["cancelled_at"] is None


@pytest.mark.parametrize(
    ("status", "financial", "fulfillment"),
    [
        ("pending", "pending", "unfulfilled"),
        ("on-hold", "authorized", "unfulfilled"),
        ("processing", "paid", "unfulfilled"),
        ("completed", "paid", "fulfilled"),
        ("cancelled", "voided", "unfulfilled"),
        ("refunded", "refunded", None),
        ("failed", "failed", "unfulfilled"),
        ("trash", None, None),
    ],
)
def test_order_status_maps_to_financial_and_fulfillment(status, financial, fulfillment):
    order = map_order({**ORDER, "status": status, "refunds": []})
    assert (order["financial_status"], order["fulfillment_status"]) == (financial, fulfillment)
    assert order["extra"]["status"] == status


def test_cancelled_order_gets_cancelled_at_from_last_modification():
    order = map_order({**ORDER, "status": "cancelled", "refunds": []})
    assert order["cancelled_at"] == "2017-03-22T19:28:08Z"


def test_order_meta_keys_fill_b2b_fields_and_other_meta_stays_in_extra():
    order = map_order(ORDER)
    assert order["company_id"] == "88"
    assert order["purchase_order_number"] == "PO-1001"
    assert order["approval_status"] == "approved"
    assert order["extra"]["meta_data"] == [{"id": 13109, "key": "_wc_pos_terminal", "value": "7"}]


def test_order_keeps_every_unmapped_woocommerce_field_in_extra():
    extra = map_order(ORDER)["extra"]
    for key in ("order_key", "payment_method", "cart_tax", "prices_include_tax", "date_created", "parent_id"):
        assert extra[key] == ORDER[key]
    for mapped in ("id", "total", "billing", "line_items", "refunds", "date_modified_gmt", "customer_id"):
        assert mapped not in extra


def test_order_line_items():
    first, second = map_order(ORDER)["line_items"]
    assert first["id"] == "315"
    assert first["product_id"] == "93"
    assert first["title"] == "Woo Single #1"
    assert first["sku"] is None
    assert first["quantity"] == 2
    assert first["price"] == 3.0
    assert first["total"] == 6.0
    assert first["extra"]["subtotal_tax"] == "0.45"
    assert second["sku"] == "SYI-RED"
    assert second["extra"]["variation_id"] == 23


def test_unparseable_values_become_null_and_survive_in_extra():
    order = map_order(
        {
            **ORDER,
            "total": "n/a",
            "date_modified_gmt": "yesterday",
            "meta_data": [{"id": 1, "key": "_approval_status", "value": "maybe"}],
        }
    )
    assert order["total"] is None
    assert order["extra"]["total"] == "n/a"
    assert order["updated_at"] is None
    assert order["extra"]["date_modified_gmt"] == "yesterday"
    assert order["approval_status"] is None
    assert order["extra"]["meta_data"] == [{"id": 1, "key": "_approval_status", "value": "maybe"}]


def test_mapping_does_not_modify_the_payload():
    payload = copy.deepcopy(ORDER)
    map_order(payload)
    assert payload == ORDER


def test_record_without_id_is_malformed():
    with pytest.raises(MalformedRecordError, match="id"):
        map_order({**ORDER, "id": None})


CUSTOMER = {
    "id": 25,
    "date_created": "2017-03-21T16:09:28",
    "date_created_gmt": "2017-03-21T19:09:28",
    "date_modified": "2017-03-21T16:09:30",
    "date_modified_gmt": "2017-03-21T19:09:30",
    "email": "john.doe@example.com",
    "first_name": "John",
    "last_name": "Doe",
    "role": "customer",
    "username": "john.doe",
    "billing": BILLING,
    "shipping": {**EMPTY_SHIPPING, "address_1": "1 Dock Rd", "city": "Oakland", "state": "CA", "country": "US"},
    "is_paying_customer": False,
    "avatar_url": "https://secure.gravatar.com/avatar/8eb1b522f60d11fa897de1dc6351b7e8?s=96",
    "meta_data": [
        {"id": 1, "key": "accepts_marketing", "value": "yes"},
        {"id": 2, "key": "birthdate", "value": "1990-04-01"},
        {"id": 3, "key": "b2b_company_id", "value": "12"},
        {"id": 4, "key": "customer_tags", "value": "vip, wholesale,"},
        {"id": 5, "key": "_last_login", "value": "1490123456"},
    ],
}


def test_customer_mapping():
    customer = map_customer(CUSTOMER)
    assert customer["id"] == "25"
    assert customer["email"] == "john.doe@example.com"
    assert customer["phone"] == "(555) 555-5555"
    assert customer["account_state"] == "registered"
    assert customer["accepts_marketing"] is True
    assert customer["birthdate"] == "1990-04-01"
    assert customer["company_id"] == "12"
    assert customer["tags"] == ["vip", "wholesale"]
    assert customer["default_address"]["address1"] == "969 Market"
    assert [address["city"] for address in customer["addresses"]] == ["San Francisco", "Oakland"]
    assert customer["updated_at"] == "2017-03-21T19:09:30Z"
    assert customer["extra"]["role"] == "customer"
    assert customer["extra"]["username"] == "john.doe"
    assert customer["extra"]["meta_data"] == [{"id": 5, "key": "_last_login", "value": "1490123456"}]


def test_customer_without_meta_has_no_marketing_consent_and_no_tags():
    customer = map_customer({**CUSTOMER, "meta_data": []})
    assert customer["accepts_marketing"] is None
    assert customer["tags"] == []
    assert customer["company_id"] is None
    assert "meta_data" not in customer["extra"]


PRODUCT = {
    "id": 794,
    "name": "Premium Quality",
    "slug": "premium-quality-19",
    "permalink": "https://example.com/product/premium-quality-19/",
    "date_created_gmt": "2017-03-23T20:03:12",
    "date_modified_gmt": "2017-03-23T20:03:12",
    "type": "simple",
    "status": "publish",
    "sku": "PQ-19",
    "price": "21.99",
    "regular_price": "21.99",
    "sale_price": "",
    "categories": [{"id": 9, "name": "Clothing", "slug": "clothing"}, {"id": 14, "name": "T-shirts"}],
}


def test_product_mapping():
    product = map_product(PRODUCT)
    assert product == {
        "id": "794",
        "title": "Premium Quality",
        "sku": "PQ-19",
        "category": "Clothing",
        "price": 21.99,
        "status": "publish",
        "created_at": "2017-03-23T20:03:12Z",
        "updated_at": "2017-03-23T20:03:12Z",
        "extra": {
            "slug": "premium-quality-19",
            "permalink": "https://example.com/product/premium-quality-19/",
            "type": "simple",
            "regular_price": "21.99",
            "sale_price": "",
            "categories": PRODUCT["categories"],
        },
    }


def test_companion_abandoned_checkout():
    checkout = map_abandoned_checkout(
        {
            "id": 5,
            "customer_id": 0,
            "email": "guest@example.com",
            "currency": "EUR",
            "total": "180.50",
            "line_items": [
                {
                    "id": 1,
                    "product_id": 93,
                    "name": "Boots",
                    "quantity": 1,
                    "price": "180.50",
                    "meta_data": [{"id": 10, "key": "category", "value": "Shoes"}],
                }
            ],
            "date_created_gmt": "2026-10-01T10:00:00",
            "date_modified_gmt": "2026-10-01T10:05:00",
            "date_completed_gmt": None,
            "recovery_url": "https://shop.example.com/cart?recover=abc",
        }
    )
    assert checkout["id"] == "5"
    assert checkout["customer_id"] is None
    assert checkout["total"] == 180.5
    assert checkout["line_items"][0]["price"] == 180.5
    assert checkout["line_items"][0]["category"] == "Shoes"
    assert checkout["line_items"][0]["extra"] == {}
    assert checkout["completed_at"] is None
    assert checkout["updated_at"] == "2026-10-01T10:05:00Z"
    assert checkout["extra"] == {"recovery_url": "https://shop.example.com/cart?recover=abc"}


def test_companion_event_occurs_at_creation_and_unknown_type_is_kept():
    event = map_event(
        {
            "id": 9,
            "type": "add_to_cart",
            "customer_id": 25,
            "anonymous_id": "anon-1",
            "session_id": "s-1",
            "product_id": 93,
            "value": "12.00",
            "date_created_gmt": "2026-10-01T10:00:00",
            "date_modified_gmt": "2026-10-01T10:00:00",
        }
    )
    assert event["occurred_at"] == "2026-10-01T10:00:00Z"
    assert event["customer_id"] == "25"
    assert event["product_id"] == "93"
    assert event["value"] == 12.0
    assert event["extra"] == {}
    odd = map_event({"id": 10, "type": "wishlist_add", "date_created_gmt": "2026-10-01T10:00:00"})
    assert odd["type"] is None
    assert odd["extra"] == {"type": "wishlist_add", "_changes": [NULLED("type")]}


def test_companion_company_and_contact():
    company = map_company(
        {
            "id": 12,
            "name": "Acme GmbH",
            "domain": "acme.example",
            "parent_id": 0,
            "price_tier": "gold",
            "credit_limit": "5000.00",
            "credit_used": "1250.50",
            "payment_terms": "net_30",
            "date_modified_gmt": "2026-10-01T10:00:00",
        }
    )
    assert company["parent_id"] is None
    assert company["credit_limit"] == 5000.0
    assert company["credit_used"] == 1250.5
    contact = map_company_contact(
        {"id": 3, "company_id": 12, "customer_id": 25, "role": "approver", "date_modified_gmt": "2026-10-01T10:00:00"}
    )
    assert (contact["company_id"], contact["customer_id"], contact["role"]) == ("12", "25", "approver")


def NULLED(field):
    return {"field": field, "change": "NULLED", "reason": "PLATFORM_SERIALIZATION_ERROR"}


def test_refunds_from_the_refunds_endpoint_carry_their_date_and_positive_amount():
    dated = {"id": 726, "date_created_gmt": "2026-10-02T09:30:00", "amount": "10.00", "reason": "Damaged"}
    order = map_order({**ORDER, "refunds": [dated]})
    assert order["refunds"][0]["created_at"] == "2026-10-02T09:30:00Z"
    assert order["refunds"][0]["amount"] == 10.0
    assert order["financial_status"] == "partially_refunded"


def test_trashed_order_is_a_tombstone_keeping_its_status_before_trash():
    trashed = {
        **ORDER,
        "status": "trash",
        "refunds": [],
        "meta_data": [*ORDER.get("meta_data", []), {"id": 9, "key": "_wp_trash_meta_status", "value": "completed"}],
    }
    order = map_order(trashed)
    assert order["deleted_at"] == order["updated_at"]
    assert (order["financial_status"], order["fulfillment_status"]) == ("paid", "fulfilled")
    assert map_order({**ORDER, "refunds": []})["deleted_at"] is None


def test_unreadable_total_and_date_are_nulled_with_change_notes_and_kept_raw():
    order = map_order({**ORDER, "total": "N/A", "date_created_gmt": "0000-00-00 00:00:00"})
    assert order["total"] is None and order["created_at"] is None
    assert order["extra"]["total"] == "N/A"
    assert order["extra"]["date_created_gmt"] == "0000-00-00 00:00:00"
    assert order["extra"]["_changes"] == [NULLED("total"), NULLED("date_created_gmt")]
