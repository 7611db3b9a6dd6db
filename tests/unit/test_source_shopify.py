"""Shopify platform pieces on hand-built inputs: mappers, bulk reassembly, cost throttle, config, error reading."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction

from source_store.config import ConfigError, parse_config
from source_store.platforms import shopify, shopify_bulk
from source_store.platforms.shopify_bulk import BulkExportError, reassemble
from source_store.platforms.shopify_mappers import (
    gid_tail,
    map_abandoned_checkout,
    map_company,
    map_company_contact,
    map_customer,
    map_order,
    map_product,
)


def money(amount: str, currency: str = "USD") -> dict:
    return {"shopMoney": {"amount": amount, "currencyCode": currency}}


# An Order node as the GraphQL Admin API reference documents its fields.
ORDER = {
    "id": "gid://shopify/Order/148977776",
    "name": "#1001",
    "email": "bob.norman@example.com",
    "phone": None,
    "createdAt": "2025-03-01T10:00:00Z",
    "updatedAt": "2025-03-05T12:30:00Z",
    "processedAt": "2025-03-01T10:00:00Z",
    "cancelledAt": None,
    "currencyCode": "USD",
    "displayFinancialStatus": "PARTIALLY_REFUNDED",
    "displayFulfillmentStatus": "FULFILLED",
    "poNumber": "PO-1",
    "subtotalPriceSet": money("199.00"),
    "totalDiscountsSet": money("10.00"),
    "totalShippingPriceSet": money("5.00"),
    "totalTaxSet": money("15.12"),
    "totalPriceSet": money("209.12"),
    "customer": {"id": "gid://shopify/Customer/207119551"},
    "billingAddress": {
        "firstName": "Bob",
        "lastName": "Norman",
        "address1": "Chestnut Street 92",
        "city": "Louisville",
        "provinceCode": "KY",
        "countryCodeV2": "US",
        "zip": "40202",
        "phone": "+1(502)-459-2181",
    },
    "shippingAddress": None,
    "refunds": [
        {
            "id": "gid://shopify/Refund/1",
            "createdAt": "2025-03-05T12:30:00Z",
            "note": "damaged",
            "totalRefundedSet": money("50.00"),
        }
    ],
    "customAttributes": [{"key": "approval_status", "value": "approved"}],
    "purchasingEntity": {"company": {"id": "gid://shopify/Company/426793626"}, "location": {"id": "x"}},
    "lineItems": {
        "pageInfo": {"hasNextPage": False},
        "nodes": [
            {
                "id": "gid://shopify/LineItem/1",
                "name": "IPod Nano - 8GB",
                "title": "IPod Nano - 8GB",
                "sku": "IPOD-342",
                "quantity": 1,
                "originalUnitPriceSet": money("199.00"),
                "originalTotalSet": money("199.00"),
                "product": {"id": "gid://shopify/Product/632910392", "productType": "Cult Products"},
            }
        ],
    },
}


def test_order_maps_every_canonical_field():
    record = map_order(ORDER)
    assert record["id"] == "148977776"
    assert record["order_number"] == "1001"
    assert record["customer_id"] == "207119551"
    assert record["company_id"] == "426793626"
    assert (record["subtotal"], record["discount_total"], record["total"]) == (199.0, 10.0, 209.12)
    assert (record["financial_status"], record["fulfillment_status"]) == ("partially_refunded", "fulfilled")
    assert record["approval_status"] == "approved" and record["purchase_order_number"] == "PO-1"
    assert record["refunds"][0] | {"extra": {}} == {
        "id": "1",
        "amount": 50.0,
        "reason": "damaged",
        "created_at": "2025-03-05T12:30:00Z",
        "extra": {},
    }
    [item] = record["line_items"]
    assert (item["sku"], item["product_id"], item["category"], item["price"]) == (
        "IPOD-342",
        "632910392",
        "Cult Products",
        199.0,
    )
    assert record["billing_address"]["province"] == "KY" and record["phone"] == "+1(502)-459-2181"
    assert record["extra"]["admin_graphql_api_id"] == ORDER["id"]
    assert record["extra"]["processedAt"] == ORDER["processedAt"]


def test_unreadable_amount_and_date_are_nulled_noted_and_kept_raw():
    broken = {**ORDER, "totalPriceSet": money("N/A"), "createdAt": "0000-00-00 00:00:00"}
    record = map_order(broken)
    assert record["total"] is None and record["created_at"] is None
    assert {n["field"] for n in record["extra"]["_changes"]} == {"totalPriceSet.shopMoney.amount", "createdAt"}
    assert record["extra"]["totalPriceSet"] == money("N/A")
    assert record["extra"]["createdAt"] == "0000-00-00 00:00:00"


def test_a_node_without_id_cannot_be_mapped():
    with pytest.raises(ValueError, match="field id is missing"):
        map_order({k: v for k, v in ORDER.items() if k != "id"})


def test_customer_consent_birthdate_company_and_state():
    node = {
        "id": "gid://shopify/Customer/5",
        "firstName": "Ann",
        "lastName": "Lee",
        "email": "ann@example.com",
        "phone": None,
        "defaultPhoneNumber": {"phoneNumber": "+15005550006"},
        "state": "DISABLED",
        "tags": ["vip"],
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-02-01T00:00:00Z",
        "emailMarketingConsent": {"marketingState": "SUBSCRIBED", "consentUpdatedAt": "2024-01-15T09:30:00-05:00"},
        "birthDate": {"value": "1990-04-05"},
        "companyContactProfiles": [{"company": {"id": "gid://shopify/Company/9"}}],
        "defaultAddress": {"address1": "1 Main", "countryCodeV2": "CA", "provinceCode": "ON"},
        "addresses": [],
    }
    record = map_customer(node)
    assert record["account_state"] == "guest"  # Shopify's DISABLED: never activated an account
    assert (record["accepts_marketing"], record["birthdate"], record["company_id"]) == (True, "1990-04-05", "9")
    assert record["phone"] == "+15005550006" and record["tags"] == ["vip"]
    assert record["addresses"] == [record["default_address"]]
    assert record["marketing_consent_updated_at"] == "2024-01-15T14:30:00Z"
    assert map_customer({"id": "gid://shopify/Customer/6"})["marketing_consent_updated_at"] is None


def test_checkout_product_company_and_contact():
    checkout = map_abandoned_checkout(
        {
            "id": "gid://shopify/AbandonedCheckout/7",
            "createdAt": "2025-01-01T00:00:00Z",
            "updatedAt": "2025-01-02T00:00:00Z",
            "completedAt": None,
            "customer": None,
            "billingAddress": {"phone": "+15005550006"},
            "customAttributes": [{"key": "email", "value": "g@example.com"}],
            "totalPriceSet": money("12.50", "CAD"),
            "lineItems": {"nodes": []},
        }
    )
    assert (checkout["email"], checkout["phone"], checkout["total"], checkout["currency"]) == (
        "g@example.com",
        "+15005550006",
        12.5,
        "CAD",
    )
    product = map_product(
        {
            "id": "gid://shopify/Product/1",
            "title": "T",
            "status": "ACTIVE",
            "productType": "Hats",
            "variants": {"nodes": [{"sku": "H-1", "price": "9.99"}]},
        }
    )
    assert (product["sku"], product["price"], product["category"], product["status"]) == ("H-1", 9.99, "Hats", "active")
    company = map_company(
        {
            "id": "gid://shopify/Company/2",
            "name": "Acme",
            "domain": {"value": "acme.example"},
            "parentCompany": {"value": "gid://shopify/Company/1"},
            "priceTier": {"value": "gold"},
            "creditLimit": {"value": "1000.0"},
            "creditUsed": None,
            "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z",
            "locations": {
                "nodes": [
                    {
                        "buyerExperienceConfiguration": {
                            "paymentTermsTemplate": {"paymentTermsType": "NET", "dueInDays": 30, "name": "Net 30"}
                        }
                    }
                ]
            },
        }
    )
    assert (company["parent_id"], company["payment_terms"], company["credit_limit"]) == ("1", "net_30", 1000.0)
    contact = map_company_contact(
        {
            "id": "gid://shopify/CompanyContact/3",
            "company": {"id": "gid://shopify/Company/2"},
            "customer": {"id": "gid://shopify/Customer/5"},
            "isMainContact": False,
            "roleAssignments": {"nodes": [{"role": {"name": "Ordering only"}}]},
            "updatedAt": "2024-01-01T00:00:00Z",
        }
    )
    assert (contact["company_id"], contact["customer_id"], contact["role"]) == ("2", "5", "buyer")
    assert gid_tail("gid://shopify/MailingAddress/12?model_name=CustomerAddress") == "12"


def test_bulk_jsonl_children_are_put_back_under_their_parents():
    lines = [
        {"id": "gid://shopify/Order/1", "name": "#1"},
        {"id": "gid://shopify/LineItem/11", "sku": "A", "__parentId": "gid://shopify/Order/1"},
        {"id": "gid://shopify/LineItem/12", "sku": "B", "__parentId": "gid://shopify/Order/1"},
        {"id": "gid://shopify/Order/2", "name": "#2"},
    ]
    roots = list(reassemble(json.dumps(line).encode() for line in lines))
    assert [r["id"] for r in roots] == ["gid://shopify/Order/1", "gid://shopify/Order/2"]
    assert [i["sku"] for i in roots[0]["lineItems"]["nodes"]] == ["A", "B"]
    assert "lineItems" not in roots[1]
    orphan = [json.dumps({"id": "gid://shopify/LineItem/9", "__parentId": "gid://shopify/Order/404"})]
    with pytest.raises(BulkExportError, match="cannot be placed"):
        list(reassemble(orphan))


def test_throttle_waits_for_the_bucket_to_hold_the_query_cost():
    now = [0.0]
    waits: list[float] = []
    throttle = shopify.CostThrottle(sleep=waits.append, clock=lambda: now[0], logger=logging.getLogger("t"))
    status = {"currentlyAvailable": 300, "maximumAvailable": 2000.0, "restoreRate": 100.0}
    throttle.observe({"extensions": {"cost": {"requestedQueryCost": 752, "throttleStatus": status}}})
    throttle.costs["orders"] = 752
    now[0] = 2.0  # 200 points leaked back
    throttle.wait_for("orders")
    assert waits == [pytest.approx(2.52)]
    throttle.wait_for("never-sent-before")  # assumed to cost the 1000-point maximum
    assert waits[-1] == pytest.approx(5.0)
    throttled = {
        "errors": [{"extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 900, "throttleStatus": status}},
    }
    assert throttle.throttled_wait(throttled) == pytest.approx(6.0)


def test_until_the_first_answer_reports_the_bucket_one_query_is_out_at_a_time():
    throttle = shopify.CostThrottle(sleep=lambda _: None, clock=lambda: 0.0, logger=logging.getLogger("t"))
    throttle.wait_for("orders")  # the first query goes at once
    second_may_go = threading.Event()
    second = threading.Thread(target=lambda: (throttle.wait_for("customers"), second_may_go.set()))
    second.start()
    try:
        assert not second_may_go.wait(0.3), "a second query went out before the bucket level was known"
        status = {"currentlyAvailable": 1900, "maximumAvailable": 2000.0, "restoreRate": 100.0}
        throttle.observe({"extensions": {"cost": {"requestedQueryCost": 12, "throttleStatus": status}}})
        assert second_may_go.wait(10)
    finally:
        throttle.observe({})
        second.join(10)


def response(status: int, body: object, headers: dict | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.headers.update({"Content-Type": "application/json", **(headers or {})})
    return answer


def test_error_handler_reads_graphql_errors_inside_http_200():
    handler = shopify.ShopifyErrorHandler(logger=logging.getLogger("t"))
    throttled = handler.interpret_response(
        response(200, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]})
    )
    assert throttled.response_action == ResponseAction.RATE_LIMITED
    denied = handler.interpret_response(
        response(
            200,
            {"errors": [{"message": "Access denied for companies field.", "extensions": {"code": "ACCESS_DENIED"}}]},
        )
    )
    assert denied.response_action == ResponseAction.FAIL and denied.failure_type == FailureType.config_error
    assert "read_companies" in denied.error_message
    assert handler.interpret_response(response(200, {"data": {}})).response_action == ResponseAction.SUCCESS
    assert handler.interpret_response(response(502, {})).response_action == ResponseAction.RETRY


BASE = {"platform": "shopify", "store_id": "s", "start_date": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"access_token": "t"}, "shopify.base_url is required"),
        ({"base_url": "https://s.myshopify.com"}, "shopify.access_token is required"),
        ({"base_url": "s.myshopify.com", "access_token": "t"}, "is not a URL"),
        ({"base_url": "https://s.myshopify.com", "access_token": "t", "api_version": "2025-11"}, "api_version"),
        ({"base_url": "https://s.myshopify.com", "access_token": "t", "bulk_first_sync": "yes"}, "bulk_first_sync"),
    ],
)
def test_invalid_connections_name_the_field(connection, message):
    with pytest.raises(ConfigError, match=message):
        shopify.shopify_connection(parse_config({**BASE, "shopify": connection}))


def test_valid_connection_defaults_and_secret_kept_out_of_repr():
    connection = shopify.shopify_connection(
        parse_config({**BASE, "shopify": {"base_url": "https://s.myshopify.com/", "access_token": "shpat_x"}})
    )
    assert connection.graphql_url == "https://s.myshopify.com/admin/api/2025-10/graphql.json"
    assert connection.bulk_first_sync is False
    assert datetime(2024, 1, 1, tzinfo=UTC)  # start_date parsed by the shared config


# Bulk operation runner: scripted answers stand in for Shopify ------------------------------------

OURS = "{ orders(query: \"updated_at:>='2020-01-01T00:00:00Z'\") { edges { node { id } } } }"
THEIRS = "{ products { edges { node { id } } } }"
BUSY = "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/7."


class ScriptedShopify:
    """Answers each GraphQL operation (told apart by its operation name) from a queue of `data` objects."""

    def __init__(self, **answers: list[dict]) -> None:
        self.answers = {name: list(queue) for name, queue in answers.items()}
        self.sent: list[tuple[str, dict]] = []

    def __call__(self, document: str, variables: dict) -> dict:
        name = document.split("(", 1)[0].split("{", 1)[0].split()[1]
        self.sent.append((name, dict(variables)))
        return self.answers[name].pop(0)


def refused(message: str = BUSY) -> dict:
    return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [{"field": None, "message": message}]}}


def started(number: int) -> dict:
    operation = {"id": f"gid://shopify/BulkOperation/{number}", "status": "CREATED"}
    return {"bulkOperationRunQuery": {"bulkOperation": operation, "userErrors": []}}


def current(number: int, status: str, query: str = OURS, **more: str) -> dict:
    return {
        "currentBulkOperation": {
            "id": f"gid://shopify/BulkOperation/{number}",
            "status": status,
            "query": query,
            **more,
        }
    }


def runner(shop: ScriptedShopify, waits: list[float], by_id: bool = False) -> shopify_bulk.BulkRunner:
    return shopify_bulk.BulkRunner(shop, sleep=waits.append, poll_seconds=3, logger=logging.getLogger("t"), by_id=by_id)


def test_bulk_refused_because_our_own_export_runs_adopts_it_instead_of_failing():
    """The mutation's answer was lost and the client sent it again: the running operation is the one we asked for."""
    waits: list[float] = []
    # the running copy's query differs from ours only in whitespace (as Shopify may echo it back)
    shop = ScriptedShopify(
        RunBulk=[refused()],
        PollBulk=[
            current(7, "RUNNING", query=" ".join(OURS.split()).replace("{ ", "{\n  ")),
            current(7, "RUNNING"),
            current(7, "COMPLETED", url="https://storage/7.jsonl"),
        ],
    )
    assert runner(shop, waits).run(OURS) == "https://storage/7.jsonl"
    assert [name for name, _ in shop.sent] == ["RunBulk", "PollBulk", "PollBulk", "PollBulk"]  # never started twice
    assert waits == [3]


def test_bulk_refused_because_another_export_runs_waits_for_it_then_starts_ours():
    waits: list[float] = []
    shop = ScriptedShopify(
        RunBulk=[refused(), started(8)],
        PollBulk=[
            current(7, "RUNNING", THEIRS),
            current(7, "RUNNING", THEIRS),
            current(7, "COMPLETED", THEIRS),
            current(8, "RUNNING"),
            current(8, "COMPLETED", url="https://storage/8.jsonl"),
        ],
    )
    assert runner(shop, waits).run(OURS) == "https://storage/8.jsonl"
    assert [name for name, _ in shop.sent] == [
        "RunBulk",
        "PollBulk",
        "PollBulk",
        "PollBulk",
        "RunBulk",
        "PollBulk",
        "PollBulk",
    ]
    assert waits == [3, 3, 3]  # two polls while theirs ran, one while ours did; nothing cancelled


def test_bulk_from_api_2026_01_looks_the_running_export_up_by_the_id_shopify_names():
    waits: list[float] = []
    operation = {
        "id": "gid://shopify/BulkOperation/7",
        "status": "COMPLETED",
        "query": OURS,
        "url": "https://storage/7",
    }
    by_id = {"bulkOperation": operation}
    shop = ScriptedShopify(RunBulk=[refused()], BulkById=[by_id, by_id])
    assert runner(shop, waits, by_id=True).run(OURS) == "https://storage/7"
    assert shop.sent[1:] == [("BulkById", {"id": "gid://shopify/BulkOperation/7"})] * 2 and waits == []


def test_bulk_refused_for_another_reason_fails_with_shopifys_words():
    shop = ScriptedShopify(RunBulk=[refused("Invalid bulk query: Field 'nope' doesn't exist")])
    with pytest.raises(BulkExportError, match="Field 'nope' doesn't exist"):
        runner(shop, []).run(OURS)


def test_bulk_gives_up_when_other_exports_keep_the_slot_taken(monkeypatch):
    monkeypatch.setattr(shopify_bulk, "MAX_FOREIGN_WAITS", 2)
    shop = ScriptedShopify(RunBulk=[refused(), refused()], PollBulk=[current(7, "COMPLETED", THEIRS)] * 2)
    with pytest.raises(BulkExportError, match="retry the sync later"):
        runner(shop, []).run(OURS)


@pytest.mark.parametrize(("version", "slots"), [("2025-10", 1), ("2025-07", 1), ("2026-01", 5), ("unstable", 5)])
def test_bulk_exports_per_shop_follow_the_api_version(version, slots):
    config = parse_config({**BASE, "shopify": {"base_url": "https://s.myshopify.com", "access_token": "t",
                                               "api_version": version}})  # fmt: skip
    connection = shopify.shopify_connection(config)
    assert shopify.bulk_queries_per_shop(version) == slots
    slot = shopify.bulk_slot(connection)
    assert slot is shopify.bulk_slot(connection)  # one per shop, shared by every stream and source
    assert [slot.acquire(blocking=False) for _ in range(slots + 1)] == [True] * slots + [False]
    for _ in range(slots):
        slot.release()
