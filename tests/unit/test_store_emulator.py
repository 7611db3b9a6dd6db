"""Store emulator, WooCommerce dialect: auth, paging, filters, payload shapes and sandbox control."""

from __future__ import annotations

import threading

import pendulum
import pytest
import requests

from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator, UnknownDialectError, get_dialect, serve_store

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
WC = "/wp-json/wc/v3"
PLUGIN = "/wp-json/store2crm/v1"
AUTH = ("ck_sandbox", "cs_sandbox")


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def dataset():
    """Shared by the read-only tests; tests that mutate build their own."""
    return generate(seed=5, scale=200, now=NOW)


@pytest.fixture(scope="module")
def store(dataset):
    with StoreEmulator(dataset, site_timezone="America/New_York") as emulator:
        yield emulator


@pytest.fixture
def get(store):
    session = requests.Session()
    session.auth = AUTH

    def _get(path, **params):
        return session.get(store.base_url + path, params=params, timeout=10)

    yield _get
    session.close()


def test_paging_headers_and_full_walk(get, dataset):
    first = get(f"{WC}/orders", orderby="id", order="asc")
    total = len(dataset.orders)
    assert first.status_code == 200
    assert len(first.json()) == 10
    assert first.headers["X-WP-Total"] == str(total)
    assert first.headers["X-WP-TotalPages"] == str(-(-total // 10))
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
    seen, page = [], 1
    while True:
        response = get(f"{WC}/orders", orderby="id", order="asc", per_page=100, page=page)
        seen += [o["id"] for o in response.json()]
        if 'rel="next"' not in response.headers.get("Link", ""):
            break
        page += 1
    assert 'rel="prev"' in response.headers["Link"]
    assert seen == sorted(int(o["id"]) for o in dataset.orders)
    assert get(f"{WC}/orders", per_page=100, page=page + 1).json() == []


def test_per_page_above_cap_is_rejected_like_wordpress(get):
    response = get(f"{WC}/orders", per_page=101)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["params"]["per_page"] == "per_page must be between 1 (inclusive) and 100 (inclusive)"


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (None, "woocommerce_rest_cannot_view"),
        (("ck_other", "cs_sandbox"), "woocommerce_rest_cannot_view"),
        (("ck_sandbox", "cs_wrong"), "woocommerce_rest_authentication_error"),
    ],
)
def test_bad_credentials_get_woocommerce_401(store, auth, code):
    response = requests.get(f"{store.base_url}{WC}/customers", auth=auth, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.json()["data"] == {"status": 401}


def test_query_string_credentials_are_accepted(store):
    params = {"consumer_key": AUTH[0], "consumer_secret": AUTH[1]}
    assert requests.get(f"{store.base_url}{WC}/products", params=params, timeout=10).status_code == 200


def test_unknown_route_is_rest_no_route(get):
    response = get(f"{WC}/coupons-and-more")
    assert response.status_code == 404
    assert response.json()["code"] == "rest_no_route"


def test_modified_after_is_exclusive_and_gmt_aware(get, dataset):
    stamp = sorted(o["updated_at"] for o in dataset.orders)[len(dataset.orders) // 2]
    gmt = stamp.rstrip("Z")
    expected = sorted(int(o["id"]) for o in dataset.orders if o["updated_at"] > stamp)
    response = get(
        f"{WC}/orders", modified_after=gmt, dates_are_gmt="true", orderby="modified", order="asc", per_page=100
    )
    assert int(response.headers["X-WP-Total"]) == len(expected)
    # without dates_are_gmt the value is site-local (America/New_York, UTC-4/-5)
    local = pendulum.parse(stamp).in_timezone("America/New_York").format("YYYY-MM-DDTHH:mm:ss")
    assert get(f"{WC}/orders", modified_after=local).headers["X-WP-Total"] == str(len(expected))
    ids = []
    for page in range(1, int(response.headers["X-WP-TotalPages"]) + 1):
        batch = get(f"{WC}/orders", modified_after=gmt, dates_are_gmt="1", orderby="modified", order="asc",
                    per_page=100, page=page).json()  # fmt: skip
        ids += [o["id"] for o in batch]
        assert all(o["date_modified_gmt"] > gmt for o in batch)
    assert sorted(ids) == expected


def test_after_before_filter_on_created_date(get, dataset):
    low, high = "2025-06-01T00:00:00", "2025-09-01T00:00:00"
    expected = [o for o in dataset.orders if low + "Z" < o["created_at"] < high + "Z"]
    response = get(f"{WC}/orders", after=low, before=high, dates_are_gmt="true")
    assert response.headers["X-WP-Total"] == str(len(expected))


def test_customers_ignore_modified_filters_and_accept_role_all(get, dataset):
    everyone = str(len(dataset.customers))
    assert get(f"{WC}/customers", modified_after="2030-01-01T00:00:00").headers["X-WP-Total"] == everyone
    assert get(f"{WC}/customers", role="all").headers["X-WP-Total"] == everyone
    assert get(f"{WC}/customers", role="administrator").json() == []
    assert get(f"{WC}/customers", orderby="modified").status_code == 400


def test_order_payload_shape(get, dataset):
    refunded = next(o for o in dataset.orders if o["refunds"])
    guest_b2b = next(o for o in dataset.orders if o["company_id"])
    payload = get(f"{WC}/orders/{refunded['id']}").json()
    assert payload["id"] == int(refunded["id"])
    assert payload["status"] in {"completed", "refunded"}
    assert payload["total"] == f"{refunded['total']:.2f}"
    assert payload["refunds"] == [
        {"id": int(r["id"]), "reason": r["reason"], "total": f"-{r['amount']:.2f}"} for r in refunded["refunds"]
    ]
    assert payload["date_created_gmt"] == refunded["created_at"].rstrip("Z")
    assert payload["date_created"] != payload["date_created_gmt"]  # site timezone is not GMT
    assert set(payload["billing"]) == {
        "first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode", "country",
        "email", "phone",
    }  # fmt: skip
    line_sum = sum(float(i["total"]) + float(i["total_tax"]) for i in payload["line_items"])
    assert line_sum + float(payload["shipping_total"]) == pytest.approx(float(payload["total"]), abs=0.005)
    b2b = get(f"{WC}/orders/{guest_b2b['id']}").json()
    meta = {m["key"]: m["value"] for m in b2b["meta_data"]}
    assert meta["_b2b_company_id"] == guest_b2b["company_id"]
    assert meta["_purchase_order_number"] == guest_b2b["purchase_order_number"]
    guest = next(o for o in dataset.orders if o["customer_id"] is None)
    assert get(f"{WC}/orders/{guest['id']}").json()["customer_id"] == 0
    refunds = get(f"{WC}/orders/{refunded['id']}/refunds").json()
    assert {r["amount"] for r in refunds} == {f"{r['amount']:.2f}" for r in refunded["refunds"]}
    assert get(f"{WC}/orders/99999999").json()["code"] == "woocommerce_rest_shop_order_invalid_id"


def test_customer_and_plugin_payload_shapes(get, dataset):
    customer = dataset.customers[0]
    payload = get(f"{WC}/customers/{customer['id']}").json()
    assert payload["email"] == customer["email"] and payload["role"] == "customer"
    meta = {m["key"]: m["value"] for m in payload["meta_data"]}
    assert meta["accepts_marketing"] == ("yes" if customer["accepts_marketing"] else "no")
    company = get(f"{PLUGIN}/companies", per_page=100).json()
    assert any(c["parent_id"] for c in company) and all(isinstance(c["credit_limit"], str) for c in company)
    event = get(f"{PLUGIN}/events", per_page=1).json()[0]
    assert event["date_modified_gmt"] == event["date_created_gmt"]
    assert get(f"{PLUGIN}/company-contacts").headers["X-WP-Total"] == str(len(dataset.company_contacts))
    checkout = get(f"{PLUGIN}/abandoned-checkouts", per_page=1).json()[0]
    assert checkout["status"] in {"abandoned", "recovered"} and isinstance(checkout["total"], str)


def test_mutate_then_modified_after_finds_the_changes():
    clock = FakeClock(NOW.add(days=2))
    before = clock.now.subtract(seconds=1).format("YYYY-MM-DDTHH:mm:ss")
    query = {"modified_after": before, "dates_are_gmt": "true", "per_page": 100}
    with StoreEmulator(generate(seed=6, scale=150, now=NOW), clock=clock) as store, requests.Session() as http:
        http.auth = AUTH
        assert http.get(f"{store.base_url}{WC}/orders", params=query, timeout=10).json() == []
        changed = http.post(f"{store.base_url}/_sandbox/mutate", json={"count": 25}, timeout=10).json()["changed"]
        assert len(changed) == 25
        for stream, route in (("orders", f"{WC}/orders"), ("companies", f"{PLUGIN}/companies")):
            wanted = {int(c["id"]) for c in changed if c["stream"] == stream}
            found = http.get(f"{store.base_url}{route}", params=query, timeout=10).json()
            assert {r["id"] for r in found} == wanted
        customers = http.get(f"{store.base_url}{WC}/customers", params={"per_page": 100, "role": "all"}, timeout=10)
        edited = {int(c["id"]) for c in changed if c["stream"] == "customers"}
        modified = {c["id"] for c in customers.json() if c["date_modified_gmt"] > before}
        assert edited <= modified
        bad = http.post(f"{store.base_url}/_sandbox/mutate", json={"count": "x"}, timeout=10)
        assert bad.status_code == 400


def test_truth_and_stats_endpoints(store, get, dataset):
    counted = requests.get(f"{store.base_url}/_sandbox/stats", timeout=10).json()["requests"].get(f"{WC}/orders", 0)
    get(f"{WC}/orders")
    get(f"{WC}/orders")
    truth = requests.get(f"{store.base_url}/_sandbox/truth", timeout=10).json()
    assert len(truth) == len(dataset.truth)
    assert {"stream", "id", "person"} == set(truth[0])
    stats = requests.get(f"{store.base_url}/_sandbox/stats", timeout=10).json()
    assert stats["requests"][f"{WC}/orders"] == counted + 2


def test_unknown_dialect_lists_valid_ones(dataset):
    with pytest.raises(UnknownDialectError, match="woocommerce"):
        get_dialect("prestashop")
    with pytest.raises(UnknownDialectError):
        StoreEmulator(dataset, dialect="prestashop")


def test_serve_store_prints_url_and_stops_cleanly():
    lines, stop = [], threading.Event()
    ready = threading.Event()

    def echo(line):
        lines.append(line)
        ready.set()

    thread = threading.Thread(target=serve_store, kwargs={"scale": 50, "echo": echo, "stop": stop})
    thread.start()
    try:
        assert ready.wait(10)
        url = lines[0].split(" at ")[1].split()[0]
        assert requests.get(f"{url}{WC}/products", auth=AUTH, timeout=10).status_code == 200
        assert "consumer_key=ck_sandbox" in lines[0]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
