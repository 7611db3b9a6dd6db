"""Store emulator, Magento dialect: bearer auth, searchCriteria, the repeated last page, payload shapes."""

from __future__ import annotations

import pendulum
import pytest
import requests

from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
AUTH = {"Authorization": "Bearer cs_sandbox"}
FILTER = "searchCriteria[filter_groups][{g}][filters][{f}][{k}]"


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=8, scale=200, now=NOW)


@pytest.fixture(scope="module")
def store(dataset):
    with StoreEmulator(dataset, "magento") as emulator:
        yield emulator


@pytest.fixture
def get(store):
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield lambda path, **params: session.get(f"{store.base_url}/rest/V1/{path}", params=params, timeout=10)


def criteria(*groups, sort=(), page_size=None, page=None):
    """searchCriteria params: each group is a list of (field, value, condition_type) OR-ed together."""
    params = {}
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            params |= {FILTER.format(g=g, f=f, k="field"): field, FILTER.format(g=g, f=f, k="value"): value,
                       FILTER.format(g=g, f=f, k="condition_type"): condition}  # fmt: skip
    for i, (field, direction) in enumerate(sort):
        params |= {
            f"searchCriteria[sortOrders][{i}][field]": field,
            f"searchCriteria[sortOrders][{i}][direction]": direction,
        }
    if page_size is not None:
        params["searchCriteria[pageSize]"] = page_size
    if page is not None:
        params["searchCriteria[currentPage]"] = page
    return params


def test_auth_and_required_search_criteria(store, get):
    response = requests.get(f"{store.base_url}/rest/V1/orders", params={"searchCriteria": ""}, timeout=10)
    assert response.status_code == 401
    assert response.json() == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Sales::actions_view"},
    }
    missing = get("orders")
    assert missing.status_code == 400
    assert missing.json()["parameters"] == {"fieldName": "searchCriteria"}
    assert get("invoices-and-more", searchCriteria="").json() == {"message": "Request does not match any route."}


def test_updated_at_window_sorted_and_paged_to_total_count(get, dataset):
    low = sorted(o["updated_at"] for o in dataset.orders)[len(dataset.orders) // 2]
    window = [("updated_at", low.replace("T", " ").rstrip("Z"), "gteq")]
    expected = sorted(
        (o for o in dataset.orders if o["updated_at"] >= low), key=lambda o: (o["updated_at"], int(o["id"]))
    )
    seen, page = [], 1
    while True:
        body = get("orders", **criteria(window, sort=[("updated_at", "ASC")], page_size=25, page=page)).json()
        seen += [item["entity_id"] for item in body["items"]]
        if len(seen) >= body["total_count"]:
            break
        page += 1
    assert body["total_count"] == len(expected)
    assert seen == [int(o["id"]) for o in expected]
    assert body["search_criteria"] == {
        "filter_groups": [{"filters": [{"field": "updated_at", "value": window[0][1], "condition_type": "gteq"}]}],
        "sort_orders": [{"field": "updated_at", "direction": "ASC"}],
        "page_size": 25,
        "current_page": page,
    }
    beyond = get("orders", **criteria(window, sort=[("updated_at", "ASC")], page_size=25, page=page + 3)).json()
    assert beyond["items"] == body["items"]  # the known bug: past the end repeats the last page
    assert beyond["search_criteria"]["current_page"] == page + 3


def test_filter_groups_and_conditions(get, dataset):
    ids = [o["id"] for o in dataset.orders[:3]]
    either = get("orders", **criteria([("entity_id", ids[0], "eq"), ("entity_id", ids[2], "eq")])).json()
    assert sorted(i["entity_id"] for i in either["items"]) == [int(ids[0]), int(ids[2])]
    listed = get("orders", **criteria([("increment_id", ",".join(f"{int(i):09d}" for i in ids), "in")])).json()
    assert listed["total_count"] == 3
    email = dataset.customers[0]["email"]
    like = get("customers/search", **criteria([("email", "%" + email.split("@")[1], "like")])).json()
    assert email in {c["email"] for c in like["items"]}
    guests = get("orders", **criteria([("customer_id", "", "null")], page_size=1)).json()
    assert guests["total_count"] == sum(1 for o in dataset.orders if o["customer_id"] is None)
    assert get("orders", **criteria([("entity_id", "1", "near")])).status_code == 400


def test_index_range_scans_answer_as_a_full_scan_would(get, dataset):
    """Keyset pages skip and admit rows by bisecting the sort's index; the answer must not change."""
    orders = sorted(dataset.orders, key=lambda o: (o["updated_at"], int(o["id"])))
    pivot = orders[len(orders) // 2]
    moment, pivot_id = pivot["updated_at"].replace("T", " ").rstrip("Z"), int(pivot["id"])
    keyset = criteria(
        [("updated_at", moment, "gteq")],
        [("updated_at", moment, "gt"), ("entity_id", pivot_id, "gt")],
        sort=[("updated_at", "ASC"), ("entity_id", "ASC")],
        page_size=1000,
    )
    expected = [int(o["id"]) for o in orders if (o["updated_at"], int(o["id"])) > (pivot["updated_at"], pivot_id)]
    body = get("orders", **keyset).json()
    assert [item["entity_id"] for item in body["items"]] == expected and body["total_count"] == len(expected)
    newest_first = get("orders", **criteria([("updated_at", moment, "gt")], sort=[("updated_at", "DESC")])).json()
    later = [o for o in orders if o["updated_at"] > pivot["updated_at"]]
    assert [i["entity_id"] for i in newest_first["items"]] == [
        int(o["id"]) for o in sorted(later, key=lambda o: (o["updated_at"], -int(o["id"])), reverse=True)
    ]
    ids = sorted(int(c["id"]) for c in dataset.companies)
    after = get("company", **criteria([("entity_id", ids[1], "gt")], sort=[("entity_id", "ASC")])).json()
    assert [c["id"] for c in after["items"]] == ids[2:]
    from_text = get("company", **criteria([("entity_id", "x", "gteq")], sort=[("entity_id", "ASC")])).json()
    assert [c["id"] for c in from_text["items"]] == [i for i in ids if str(i) >= "x"]  # compared as text


def test_no_page_size_returns_everything_unless_input_limits_are_on(get, dataset):
    assert len(get("products", searchCriteria="").json()["items"]) == len(dataset.products)
    with StoreEmulator(dataset, "magento", dialect_options={"input_limits": True}) as limited:
        url = f"{limited.base_url}/rest/V1/products"
        assert len(requests.get(url, params={"searchCriteria": ""}, headers=AUTH, timeout=10).json()["items"]) == 20
        too_big = requests.get(url, params={"searchCriteria[pageSize]": 301}, headers=AUTH, timeout=10)
        assert too_big.json() == {"message": "Maximum SearchCriteria pageSize is 300"}


def test_order_payload_shape(get, dataset):
    order = next(o for o in dataset.orders if o["refunds"] and o["customer_id"])
    item = get(f"orders/{order['id']}").json()
    assert item["increment_id"] == f"{int(order['id']):09d}"
    assert item["customer_is_guest"] == 0 and item["customer_id"] == int(order["customer_id"])
    assert item["grand_total"] == order["total"]
    assert item["total_refunded"] == pytest.approx(sum(r["amount"] for r in order["refunds"]))
    assert item["created_at"] == order["created_at"].replace("T", " ").rstrip("Z")
    assert item["billing_address"]["address_type"] == "billing"
    assert [i["sku"] for i in item["items"]] == [i["sku"] for i in order["line_items"]]
    memos = get("creditmemos", **criteria([("order_id", order["id"], "eq")])).json()["items"]
    assert [m["grand_total"] for m in memos] == [r["amount"] for r in order["refunds"]]
    guest = next(o for o in dataset.orders if o["customer_id"] is None)
    guest_item = get(f"orders/{guest['id']}").json()
    assert guest_item["customer_is_guest"] == 1 and "customer_id" not in guest_item
    b2b = next(o for o in dataset.orders if o["company_id"])
    b2b_item = get(f"orders/{b2b['id']}").json()
    assert b2b_item["extension_attributes"]["company_order_attributes"]["company_id"] == int(b2b["company_id"])
    assert b2b_item["payment"]["po_number"] == b2b["purchase_order_number"]
    cancelled = next(o for o in dataset.orders if o["cancelled_at"])
    histories = get(f"orders/{cancelled['id']}").json()["status_histories"]
    assert histories[0]["status"] == "canceled"
    assert get("orders/99999999").status_code == 404


def test_customer_cart_and_company_payloads(get, dataset):
    contact = dataset.company_contacts[0]
    found = get("customers/search", **criteria([("entity_id", contact["customer_id"], "eq")])).json()["items"][0]
    assert found["extension_attributes"]["company_attributes"]["company_id"] == int(contact["company_id"])
    checkout = next(c for c in dataset.abandoned_checkouts if c["completed_at"] is None)
    cart = get("carts/search", **criteria([("entity_id", checkout["id"], "eq")])).json()["items"][0]
    assert cart["is_active"] is True and cart["customer"]["email"] == checkout["email"]
    assert get(f"carts/{checkout['id']}/totals").json()["grand_total"] == checkout["total"]
    company = dataset.companies[0]
    credit = get("companyCredits", **criteria([("company_id", company["id"], "eq")])).json()["items"][0]
    assert credit["credit_limit"] == company["credit_limit"] and credit["balance"] == -company["credit_used"]
    assert get("company", searchCriteria="").json()["total_count"] == len(dataset.companies)
