"""Store emulator fault injection, for every dialect: 5xx, 429 storms, slow pages, downtime, churn, bad records."""

from __future__ import annotations

import pendulum
import pytest
import requests

from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator
from store2crm.sandbox.store_emulator.faults import BAD_DATE, BAD_MONEY, FaultSettings

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
DIALECTS = ("woocommerce", "magento", "shopify")


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def list_orders(store, dialect, page=1):
    """One page of 10 orders in the dialect's own API; returns (response, records)."""
    if dialect == "woocommerce":
        params = {"per_page": 10, "page": page, "orderby": "id", "order": "asc"}
        response = requests.get(f"{store.base_url}/wp-json/wc/v3/orders", auth=("ck_sandbox", "cs_sandbox"),
                                params=params, timeout=10)  # fmt: skip
        return response, response.json() if response.status_code == 200 else None
    if dialect == "magento":
        params = {"searchCriteria[pageSize]": 10, "searchCriteria[currentPage]": page}
        response = requests.get(f"{store.base_url}/rest/V1/orders", params=params,
                                headers={"Authorization": "Bearer cs_sandbox"}, timeout=10)  # fmt: skip
        return response, response.json()["items"] if response.status_code == 200 else None
    query = "{ orders(first: 10) { nodes { id createdAt totalPriceSet { shopMoney { amount } } } } }"
    response = requests.post(f"{store.base_url}/admin/api/2025-10/graphql.json", json={"query": query},
                             headers={"X-Shopify-Access-Token": "cs_sandbox"}, timeout=10)  # fmt: skip
    data = response.json().get("data") if response.status_code == 200 else None
    return response, data["orders"]["nodes"] if data else None


@pytest.fixture
def emulator():
    """Factory for emulators that are always stopped."""
    started = []

    def make(dialect, **kwargs):
        store = StoreEmulator(generate(seed=2, scale=60, now=NOW), dialect, **kwargs).start()
        started.append(store)
        return store

    yield make
    for store in started:
        store.stop()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_error_rate_is_seeded_and_reproducible(emulator, dialect):
    def statuses(seed):
        store = emulator(dialect, faults=FaultSettings(error_rate=0.5, seed=seed))
        return [list_orders(store, dialect)[0].status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert {200} < set(first) <= {200, 500, 502, 503, 504}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rate_limit_storm_then_recovery(emulator, dialect):
    store = emulator(dialect)
    store.configure_faults(rate_limit_storm=3, retry_after=7)
    answers = [list_orders(store, dialect)[0] for _ in range(4)]
    if dialect == "shopify":
        assert [a.json().get("errors", [{}])[0].get("extensions", {}).get("code") for a in answers[:3]] == [
            "THROTTLED"
        ] * 3
        assert answers[0].json()["extensions"]["cost"]["requestedQueryCost"] == 2 + 10 * 3
    else:
        assert [a.status_code for a in answers[:3]] == [429] * 3
        assert answers[0].headers["Retry-After"] == "7"
    assert answers[3].status_code == 200 and "errors" not in answers[3].json()
    assert requests.get(f"{store.base_url}/_sandbox/stats", timeout=10).json()["faults"]["throttled"] == 3


@pytest.mark.parametrize("dialect", DIALECTS)
def test_slow_pages_go_through_the_injected_sleep(emulator, dialect):
    slept = []
    store = emulator(dialect, sleep=slept.append, faults=FaultSettings(slow_seconds=2.5))
    assert list_orders(store, dialect)[0].status_code == 200
    assert slept == [2.5]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_downtime_window_follows_the_emulator_clock(emulator, dialect):
    clock = FakeClock(NOW)
    window = FaultSettings(downtime_start="2026-11-01T00:10:00Z", downtime_end="2026-11-01T00:20:00Z")
    store = emulator(dialect, clock=clock, faults=window)
    assert list_orders(store, dialect)[0].status_code == 200
    clock.now = NOW.add(minutes=10)
    down = list_orders(store, dialect)[0]
    assert down.status_code == 503 and "Retry-After" in down.headers
    clock.now = NOW.add(minutes=20)
    assert list_orders(store, dialect)[0].status_code == 200


@pytest.mark.parametrize("dialect", DIALECTS)
def test_records_change_during_a_sync(emulator, dialect):
    clock = FakeClock(NOW.add(days=1))
    store = emulator(dialect, clock=clock, faults=FaultSettings(mutate_every=2, mutate_count=3))
    for _ in range(4):
        assert list_orders(store, dialect)[0].status_code == 200
    assert store.dataset.version == 2
    changed_orders = [o for o in store.dataset.orders if o["updated_at"] == "2026-11-02T00:00:00Z"]
    changed_elsewhere = [
        c for c in store.dataset.customers + store.dataset.companies if c["updated_at"] == "2026-11-02T00:00:00Z"
    ]
    assert len(changed_orders) + len(changed_elsewhere) >= 1
    assert requests.get(f"{store.base_url}/_sandbox/stats", timeout=10).json()["faults"]["mutations"] == 6


@pytest.mark.parametrize("dialect", DIALECTS)
def test_malformed_records_are_stable_per_record(emulator, dialect):
    store = emulator(dialect, faults=FaultSettings(malformed_rate=0.5, seed=3))
    _, records = list_orders(store, dialect)
    _, again = list_orders(store, dialect)
    assert records == again
    broken = [r for r in records if BAD_DATE in _values(r) or BAD_MONEY in _values(r)]
    assert 0 < len(broken) < len(records)
    store.configure_faults(malformed_rate=0.0)
    assert not any(BAD_DATE in _values(r) or BAD_MONEY in _values(r) for r in list_orders(store, dialect)[1])


def _values(record):
    """Every scalar in a record, nested objects included."""
    if isinstance(record, dict):
        return [v for value in record.values() for v in _values(value)]
    if isinstance(record, list):
        return [v for value in record for v in _values(value)]
    return [record]


def test_repeated_last_page_is_an_option_for_woocommerce(emulator):
    store = emulator("woocommerce")
    past_end = 1 + -(-len(store.dataset.orders) // 10)
    assert list_orders(store, "woocommerce", page=past_end)[1] == []
    store.configure_faults(repeat_last_page=True)
    assert (
        list_orders(store, "woocommerce", page=past_end)[1] == list_orders(store, "woocommerce", page=past_end - 1)[1]
    )


def test_faults_endpoint_sets_reads_and_validates(emulator):
    store = emulator("woocommerce")
    url = f"{store.base_url}/_sandbox/faults"
    changed = requests.post(url, json={"error_rate": 1.0, "error_statuses": [502]}, timeout=10)
    assert changed.status_code == 200 and changed.json()["settings"]["error_statuses"] == [502]
    assert list_orders(store, "woocommerce")[0].status_code == 502
    described = requests.get(url, timeout=10).json()
    assert described["settings"]["error_rate"] == 1.0 and described["injected"] == {"error": 1}
    for bad in ({"error_rate": 2}, {"bogus": 1}, {"downtime_start": "2026-11-01T00:00:00Z"}, [1]):
        response = requests.post(url, json=bad, timeout=10)
        assert response.status_code == 400, bad
    assert "valid:" in requests.post(url, json={"bogus": 1}, timeout=10).json()["error"]
