"""Store emulator, Shopify dialect: token auth, connections, search, calculated cost, throttling, bulk operations."""

from __future__ import annotations

import base64
import json
import threading
import time

import pendulum
import pytest
import requests

from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator, shopify_bulk
from store2crm.sandbox.store_emulator import shopify as shopify_dialect

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
PATH = "/admin/api/2025-10/graphql.json"
TOKEN = {"X-Shopify-Access-Token": "cs_sandbox"}


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=11, scale=200, now=NOW)


@pytest.fixture(scope="module")
def store(dataset):
    # Plus plan: a bucket big enough that the read-only tests never throttle each other
    with StoreEmulator(dataset, "shopify", clock=FakeClock(NOW), dialect_options={"plan": "plus"}) as emulator:
        yield emulator


def graphql(store, query, variables=None, headers=TOKEN):
    body = {"query": query, "variables": variables or {}}
    return requests.post(store.base_url + PATH, json=body, headers=headers, timeout=10)


def poll_until_completed(store, poll, max_polls=1000):
    """currentBulkOperation polled until it leaves RUNNING; every status seen (a hang guard, not a speed check)."""
    statuses = []
    for _ in range(max_polls):
        statuses.append(graphql(store, poll).json()["data"]["currentBulkOperation"])
        if statuses[-1]["status"] != "RUNNING":
            return statuses
        time.sleep(0.01)
    raise AssertionError(f"bulk operation still RUNNING after {max_polls} polls")


def walk(store, root, fields, **arguments):
    """Every node of a root connection, page by page; returns (nodes, pages)."""
    args = ", ".join(f"{k}: {v}" for k, v in arguments.items())
    query = (
        f"query($after: String) {{ {root}(first: 50, after: $after, {args}) "
        f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {fields} }} }} }}"
    )
    nodes, after, pages = [], None, 0
    while True:
        body = graphql(store, query, {"after": after}).json()
        connection = body["data"][root]
        nodes += connection["nodes"]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, pages
        after = connection["pageInfo"]["endCursor"]


def test_bad_token_gets_shopify_401(store):
    response = graphql(store, "{ customers(first: 1) { nodes { id } } }", headers={"X-Shopify-Access-Token": "nope"})
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    assert requests.get(store.base_url + PATH, headers=TOKEN, timeout=10).status_code == 404


def test_incremental_walk_by_updated_at_returns_exactly_the_window(store, dataset):
    stamps = sorted(o["updated_at"] for o in dataset.orders)
    low, high = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    nodes, pages = walk(
        store,
        "orders",
        "id updatedAt",
        sortKey="UPDATED_AT",
        query=f"\"updated_at:>='{low}' AND updated_at:<'{high}'\"",
    )
    expected = {f"gid://shopify/Order/{o['id']}" for o in dataset.orders if low <= o["updated_at"] < high}
    assert {n["id"] for n in nodes} == expected and len(nodes) == len(expected)
    assert [n["updatedAt"] for n in nodes] == sorted(n["updatedAt"] for n in nodes)
    assert pages == -(-len(expected) // 50)


def test_cursor_is_shopify_shaped_and_reverse_flips_order(store, dataset):
    body = graphql(
        store, "{ customers(first: 2, sortKey: UPDATED_AT, reverse: true) { edges { cursor node { id updatedAt } } } }"
    )
    edges = body.json()["data"]["customers"]["edges"]
    newest = max(dataset.customers, key=lambda c: (c["updated_at"], int(c["id"])))
    assert edges[0]["node"]["id"] == f"gid://shopify/Customer/{newest['id']}"
    assert json.loads(base64.b64decode(edges[0]["cursor"])) == {
        "last_id": int(newest["id"]),
        "last_value": newest["updated_at"],
    }
    bad = graphql(store, '{ customers(first: 2, after: "garbage") { nodes { id } } }').json()
    assert bad["errors"][0]["message"] == "Invalid cursor for current pagination sort."


def test_unknown_search_field_is_ignored_with_a_warning(store, dataset):
    body = graphql(store, '{ products(first: 250, query: "colour:red") { nodes { id } } }').json()
    assert len(body["data"]["products"]["nodes"]) == len(dataset.products)
    assert body["extensions"]["search"][0]["warnings"] == [
        {"field": "colour", "message": "Invalid search field for this query."}
    ]


def test_connection_size_rules(store):
    missing = graphql(store, "{ customers { nodes { id } } }").json()
    assert missing["errors"][0]["message"] == "you must provide one of first or last"
    too_big = graphql(store, "{ customers(first: 251) { nodes { id } } }").json()
    assert too_big["errors"][0]["message"].startswith("The first argument cannot exceed 250.")
    nested = graphql(store, "{ orders(first: 200) { nodes { lineItems(first: 10) { nodes { id } } } } }").json()
    assert nested["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert nested["errors"][0]["extensions"]["cost"] == 2 + 200 * (1 + 2 + 10)


def test_calculated_cost_requested_and_actual(store, dataset):
    body = graphql(store, "{ customers(first: 10) { nodes { id email } } }").json()
    assert body["extensions"]["cost"]["requestedQueryCost"] == 12
    assert body["extensions"]["cost"]["actualQueryCost"] == 12
    status = body["extensions"]["cost"]["throttleStatus"]
    assert status["maximumAvailable"] == 20000.0 and status["restoreRate"] == 1000.0
    few = graphql(store, '{ companies(first: 250, query: "id:<=502") { nodes { id } } }').json()
    assert few["extensions"]["cost"]["requestedQueryCost"] == 252
    assert few["extensions"]["cost"]["actualQueryCost"] == 2 + 2


def test_leaky_bucket_throttles_and_refills_from_the_clock():
    clock = FakeClock(NOW)
    query = "{ customers(first: 250) { nodes { id defaultAddress { city } amountSpent { amount } } } }"
    with StoreEmulator(generate(seed=3, scale=500, now=NOW), "shopify", clock=clock) as store:
        costs = [graphql(store, query).json()["extensions"]["cost"] for _ in range(2)]
        assert costs[0]["requestedQueryCost"] == costs[0]["actualQueryCost"] == 2 + 250 * 3
        assert costs[1]["throttleStatus"]["currentlyAvailable"] == 2000 - 2 * 752
        throttled = graphql(store, query)
        assert throttled.status_code == 200
        body = throttled.json()
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in body
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        clock.now = NOW.add(seconds=3)  # 3 s x 100 points/s
        refilled = graphql(store, query).json()
        assert refilled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 496 + 300 - 752


def test_order_payload_shape(store, dataset):
    order = next(o for o in dataset.orders if o["refunds"] and o["customer_id"])
    query = """query($id: ID!) { order(id: $id) { id name email displayFinancialStatus cancelledAt
      totalPriceSet { shopMoney { amount currencyCode } } totalRefundedSet { shopMoney { amount } }
      customer { id } refunds(first: 5) { id createdAt totalRefundedSet { shopMoney { amount } } }
      lineItems(first: 10) { nodes { sku quantity originalUnitPriceSet { shopMoney { amount } } } } } }"""
    node = graphql(store, query, {"id": f"gid://shopify/Order/{order['id']}"}).json()["data"]["order"]
    assert node["name"] == f"#{order['id']}"
    assert node["totalPriceSet"]["shopMoney"] == {"amount": f"{order['total']:.2f}", "currencyCode": "USD"}
    assert node["displayFinancialStatus"] in {"REFUNDED", "PARTIALLY_REFUNDED"}
    assert node["customer"] == {"id": f"gid://shopify/Customer/{order['customer_id']}"}
    assert [r["totalRefundedSet"]["shopMoney"]["amount"] for r in node["refunds"]] == [
        f"{r['amount']:.2f}" for r in order["refunds"]
    ]
    assert [i["sku"] for i in node["lineItems"]["nodes"]] == [i["sku"] for i in order["line_items"]]


def test_b2b_order_company_and_contacts(store, dataset):
    order = next(o for o in dataset.orders if o["company_id"] and o["customer_id"])
    query = """query($id: ID!) { order(id: $id) { poNumber customAttributes { key value }
      purchasingEntity { __typename
        ... on PurchasingCompany { company { id } location { id } }
        ... on Customer { id } } } }"""
    node = graphql(store, query, {"id": f"gid://shopify/Order/{order['id']}"}).json()["data"]["order"]
    assert node["poNumber"] == order["purchase_order_number"]
    assert node["purchasingEntity"]["__typename"] == "PurchasingCompany"
    assert node["purchasingEntity"]["company"]["id"] == f"gid://shopify/Company/{order['company_id']}"
    child = next(c for c in dataset.companies if c["parent_id"])
    query = """query($id: ID!) { company(id: $id) { name parent: metafield(key: "parent_company_id") { value }
      contacts(first: 10) { nodes { customer { id } roleAssignments(first: 1) { nodes { role { name } } } } } } }"""
    company = graphql(store, query, {"id": f"gid://shopify/Company/{child['id']}"}).json()["data"]["company"]
    assert company["parent"]["value"] == f"gid://shopify/Company/{child['parent_id']}"
    contacts = [c for c in dataset.company_contacts if c["company_id"] == child["id"]]
    assert len(company["contacts"]["nodes"]) == len(contacts)


def test_bulk_operation_runs_after_polls_and_serves_jsonl():
    query = "{ orders { edges { node { id lineItems { edges { node { id sku } } } } } } }"
    run = (
        f"mutation {{ bulkOperationRunQuery(query: {json.dumps(query)}) "
        "{ bulkOperation { id status } userErrors { message } } }"
    )
    poll = "{ currentBulkOperation { id status url objectCount rootObjectCount } }"
    dataset = generate(seed=4, scale=60, now=NOW)
    options = {"bulk_polls": 2}
    with StoreEmulator(dataset, "shopify", clock=FakeClock(NOW), dialect_options=options) as store:
        created = graphql(store, run).json()["data"]["bulkOperationRunQuery"]
        assert created == {
            "bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"},
            "userErrors": [],
        }
        busy = graphql(store, run).json()["data"]["bulkOperationRunQuery"]
        assert busy["bulkOperation"] is None and "already in progress" in busy["userErrors"][0]["message"]
        statuses = poll_until_completed(store, poll)
        assert len(statuses) >= 2 and {s["status"] for s in statuses[:-1]} == {"RUNNING"}  # bulk_polls: 2
        assert statuses[0]["url"] is None
        done = statuses[-1]
        assert graphql(store, poll).json()["data"]["currentBulkOperation"] == done  # stays completed
        lines = [json.loads(line) for line in requests.get(done["url"], timeout=10).text.splitlines()]
        orders = [line for line in lines if "__parentId" not in line]
        items = [line for line in lines if "__parentId" in line]
        assert len(orders) == len(dataset.orders) == int(done["rootObjectCount"])
        assert len(lines) == int(done["objectCount"])
        assert len(items) == sum(len(o["line_items"]) for o in dataset.orders)
        first = dataset.orders[0]
        assert {i["sku"] for i in items if i["__parentId"] == f"gid://shopify/Order/{first['id']}"} == {
            i["sku"] for i in first["line_items"]
        }
        invalid = graphql(
            store, 'mutation { bulkOperationRunQuery(query: "{ nope }") { userErrors { field message } } }'
        )
        assert invalid.json()["data"]["bulkOperationRunQuery"]["userErrors"][0]["field"] == ["query"]


def test_bulk_run_answers_at_once_and_exports_in_the_background(monkeypatch):
    """Regression: the export ran inside the mutation, so a large store outlasted the client's request timeout."""
    gate = threading.Event()
    _, order_node = shopify_dialect.STREAMS["orders"]

    def gated_order_node(record, index):
        if not gate.wait(timeout=15):  # the mutation never answered: let the export finish anyway
            gate.set()
        return order_node(record, index)

    monkeypatch.setitem(shopify_dialect.STREAMS, "orders", ("orders", gated_order_node))
    monkeypatch.setattr(shopify_bulk, "EXPORT_BATCH", 7)  # several batches, each under the store lock
    query = "{ orders { edges { node { id lineItems { edges { node { id } } } } } } }"
    run = f"mutation {{ bulkOperationRunQuery(query: {json.dumps(query)}) {{ bulkOperation {{ id status }} }} }}"
    poll = "{ currentBulkOperation { id status url objectCount rootObjectCount } }"
    dataset = generate(seed=4, scale=30, now=NOW)
    with StoreEmulator(dataset, "shopify", clock=FakeClock(NOW)) as store:
        created = graphql(store, run).json()["data"]["bulkOperationRunQuery"]  # before: blocked on the gate
        assert created["bulkOperation"]["status"] == "CREATED" and not gate.is_set()
        gate.set()
        statuses = poll_until_completed(store, poll)
        done = statuses[-1]
        assert done["status"] == "COMPLETED"
        assert [int(s["rootObjectCount"]) for s in statuses] == sorted(int(s["rootObjectCount"]) for s in statuses)
        lines = [json.loads(line) for line in requests.get(done["url"], timeout=10).text.splitlines()]
        roots = [line["id"] for line in lines if "__parentId" not in line]
        assert sorted(roots) == sorted(f"gid://shopify/Order/{o['id']}" for o in dataset.orders)
        assert len(roots) == int(done["rootObjectCount"]) and len(lines) == int(done["objectCount"])


def bulk_run(query):
    return (
        f"mutation {{ bulkOperationRunQuery(query: {json.dumps(query)}) "
        "{ bulkOperation { id status } userErrors { field message code } } }"
    )


def test_a_second_bulk_query_is_refused_as_shopify_does_and_the_running_one_can_be_looked_up():
    options = {"bulk_polls": 100}  # RUNNING until polled 100 times, however fast the export is
    query = "{ orders { edges { node { id } } } }"
    lookup = "{ currentBulkOperation { id status query } }"
    with StoreEmulator(
        generate(seed=4, scale=30, now=NOW), "shopify", clock=FakeClock(NOW), dialect_options=options
    ) as store:
        assert graphql(store, bulk_run(query)).json()["data"]["bulkOperationRunQuery"]["userErrors"] == []
        busy = graphql(store, bulk_run("{ products { edges { node { id } } } }")).json()
        assert busy["data"]["bulkOperationRunQuery"] == {
            "bulkOperation": None,
            "userErrors": [
                {
                    "field": None,
                    "message": "A bulk query operation for this app and shop is already in progress: "
                    "gid://shopify/BulkOperation/1.",
                    "code": None,
                }
            ],
        }
        running = graphql(store, lookup).json()["data"]["currentBulkOperation"]
        assert running == {"id": "gid://shopify/BulkOperation/1", "status": "RUNNING", "query": query}
        by_id = '{ bulkOperation(id: "gid://shopify/BulkOperation/1") { id status query } }'
        refused = graphql(store, by_id).json()  # API 2025-10 has no bulkOperation(id:)
        assert refused["data"]["bulkOperation"] is None
        assert refused["errors"][0]["message"] == "Field 'bulkOperation' doesn't exist on type 'QueryRoot'"
        newer = requests.post(
            store.base_url + "/admin/api/2026-01/graphql.json", json={"query": by_id}, headers=TOKEN, timeout=10
        ).json()
        assert newer["data"]["bulkOperation"] == running


def test_from_api_2026_01_five_bulk_queries_run_at_once():
    options = {"bulk_polls": 100}
    query = "{ products { edges { node { id } } } }"
    with StoreEmulator(
        generate(seed=4, scale=30, now=NOW), "shopify", clock=FakeClock(NOW), dialect_options=options
    ) as store:
        answers = [
            requests.post(
                store.base_url + "/admin/api/2026-01/graphql.json",
                json={"query": bulk_run(query)},
                headers=TOKEN,
                timeout=10,
            ).json()["data"]["bulkOperationRunQuery"]
            for _ in range(6)
        ]
        assert [bool(a["bulkOperation"]) for a in answers] == [True] * 5 + [False]
        assert "already in progress: gid://shopify/BulkOperation/5." in answers[5]["userErrors"][0]["message"]


def test_stopping_the_emulator_stops_its_bulk_export_between_batches(monkeypatch):
    in_batch, proceed = threading.Event(), threading.Event()
    _, order_node = shopify_dialect.STREAMS["orders"]

    def held_order_node(record, index):
        in_batch.set()
        proceed.wait(timeout=15)  # a hang guard: the test releases it once stop() has been asked for
        return order_node(record, index)

    monkeypatch.setitem(shopify_dialect.STREAMS, "orders", ("orders", held_order_node))
    monkeypatch.setattr(shopify_bulk, "EXPORT_BATCH", 2)  # many batches: the export is far from done when stopped
    query = "{ orders { edges { node { id } } } }"
    dataset = generate(seed=4, scale=30, now=NOW)
    store = StoreEmulator(dataset, "shopify", clock=FakeClock(NOW)).start()
    stopper = threading.Thread(target=store.stop)
    try:
        graphql(store, bulk_run(query))
        assert in_batch.wait(timeout=15)
        [export] = [t for t in threading.enumerate() if t.name == "shopify-bulk-1"]
        stopper.start()
        for _ in range(1500):  # until stop() has shut the server and waits for the export (a hang guard)
            if store.dialect.bulk.stopping:
                break
            stopper.join(timeout=0.01)
    finally:
        proceed.set()
        stopper.join(timeout=15)
        store.stop()
    assert not stopper.is_alive() and not export.is_alive()
    operation = store.dialect.bulk.operations["1"]
    assert not operation.exported and operation.root_object_count < len(dataset.orders)
