"""Custom REST platform: a proprietary API described in config only, read through the generated manifest."""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from airbyte_cdk.models import Status
from store_harness import check, new_dataset, read_streams, records_of, states_of

from source_store.config import ConfigError, parse_config
from source_store.platforms.custom_rest import CanonicalMapping, build_manifest
from store2crm.demo import source_config as demo_source_config
from store2crm.sandbox.generator import STREAMS
from store2crm.sandbox.server import LoopbackServer, Request, Response
from store2crm.sandbox.store_emulator import StoreEmulator
from store2crm.sandbox.store_emulator.proprietary_config import custom_rest_config

TOKEN = "tok_proprietary_123"
API_KEY = "key_proprietary_456"
DATE_FORMAT = "%d/%m/%Y %H:%M:%S"  # the proprietary API's own date format


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class ProprietaryStore(LoopbackServer):
    """A made-up store API over the generator's data: other names, cents, odd dates, three paging styles."""

    def __init__(self) -> None:
        super().__init__()
        self.dataset = new_dataset()
        self.seen_params: list[dict[str, str]] = []

    def handle(self, request: Request) -> Response:  # noqa: PLR0911 - one branch per route and auth kind
        self.seen_params.append(dict(request.query))
        if request.path == "/api/clients":
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return Response(401, {"error": "bad token"})
            return self._clients(request)
        if request.path == "/api/sales":
            if request.headers.get("x-api-key") != API_KEY:
                return Response(403, {"error": "bad key"})
            return self._sales(request)
        if request.path == "/api/activity":
            expected = "Basic " + base64.b64encode(b"reader:pw").decode()
            if request.headers.get("authorization") != expected:
                return Response(401, {"error": "bad basic"})
            return self._activity(request)
        return Response(404, {"error": "no such path"})

    def _since(self, request: Request, key: str, fmt: str) -> str:
        raw = request.query.get(key)
        return datetime.strptime(raw, fmt).strftime("%Y-%m-%dT%H:%M:%SZ") if raw else ""

    def _clients(self, request: Request) -> Response:
        since = self._since(request, "updated_since", "%Y-%m-%dT%H:%M:%SZ")
        rows = sorted((c for c in self.dataset.customers if c["updated_at"] >= since), key=lambda c: int(c["id"]))
        page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 10))
        chunk = rows[(page - 1) * limit : page * limit]
        items = [
            {
                "ref": int(c["id"]),
                "given": c["first_name"],
                "family": c["last_name"],
                "contact": {"mail": c["email"], "tel": c["phone"]},
                "modified": _iso(c["updated_at"]).strftime(DATE_FORMAT),
                "loyalty_tier": "gold",
            }
            for c in chunk
        ]
        return Response(200, {"data": {"items": items}, "meta": {"pages": math.ceil(len(rows) / limit)}})

    def _sales(self, request: Request) -> Response:
        since = self._since(request, "since", "%Y-%m-%d %H:%M:%S")
        rows = sorted((o for o in self.dataset.orders if o["updated_at"] >= since), key=lambda o: int(o["id"]))
        start = int(request.query.get("after", 0))
        chunk = [o for o in rows if int(o["id"]) > start][:7]
        items = [
            {
                "sale_no": o["id"],
                "buyer": {"ref": o["customer_id"]},
                "total_cents": round(o["total"] * 100),
                "ccy": o["currency"],
                "changed_at": o["updated_at"],
            }
            for o in chunk
        ]
        more = len(chunk) == 7 and int(chunk[-1]["id"]) < int(rows[-1]["id"])
        return Response(200, {"results": items, "paging": {"next": chunk[-1]["id"] if more else None}})

    def _activity(self, request: Request) -> Response:
        rows = sorted(self.dataset.events, key=lambda e: int(e["id"]))
        offset = int(request.query.get("from", 0))
        chunk = rows[offset : offset + 20]
        headers = {}
        if offset + 20 < len(rows):
            query = urlencode({**request.query, "from": offset + 20})
            headers["Link"] = f'<{self.base_url}/api/activity?{query}>; rel="next"'
        items = [{"uid": e["id"], "kind": e["type"], "at": e["occurred_at"], "who": e["email"]} for e in chunk]
        return Response(200, items, headers)


@pytest.fixture
def proprietary():
    with ProprietaryStore() as server:
        yield server


def custom_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    config = {
        "platform": "custom_rest",
        "store_id": "acme",
        "start_date": "2020-01-01T00:00:00Z",
        "page_size": 10,
        "custom_rest": {
            "base_url": base_url,
            "auth": {"type": "bearer", "token": TOKEN},
            "streams": {
                "customers": {
                    "path": "/api/clients",
                    "records_path": "data.items",
                    "pagination": {"type": "page_number", "param": "page", "size_param": "limit"},
                    "cursor": {"param": "updated_since"},
                    "fields": {
                        "id": "ref",
                        "email": "contact.mail",
                        "phone": {"path": "contact.tel", "cast": "string"},
                        "first_name": "given",
                        "last_name": "family",
                        "updated_at": {"path": "modified", "date_format": DATE_FORMAT},
                    },
                },
                "orders": {
                    "path": "/api/sales",
                    "records_path": "results",
                    "auth": {"type": "api_key", "header": "X-Api-Key", "key": API_KEY},
                    "pagination": {"type": "cursor", "next_path": "paging.next", "param": "after"},
                    "cursor": {"param": "since", "format": "%Y-%m-%d %H:%M:%S"},
                    "fields": {
                        "id": "sale_no",
                        "customer_id": "buyer.ref",
                        "total": {"path": "total_cents", "cents": True},
                        "currency": "ccy",
                        "updated_at": "changed_at",
                    },
                },
                "events": {
                    "path": "/api/activity",
                    "auth": {"type": "basic", "username": "reader", "password": "pw"},
                    "pagination": {"type": "link_header"},
                    "fields": {"id": "uid", "type": "kind", "occurred_at": "at", "email": "who"},
                },
            },
        },
    }
    config.update(overrides)
    return config


def test_full_read_maps_the_proprietary_payload_into_the_canonical_schema(proprietary):
    dataset = proprietary.dataset
    output = read_streams(custom_config(proprietary.base_url), "customers", "orders", "events")
    assert not output.errors, output.get_formatted_error_message()
    customers = {r["id"]: r for r in records_of(output, "customers")}
    assert set(customers) == {c["id"] for c in dataset.customers}
    for source in dataset.customers:
        record = customers[source["id"]]
        assert (record["email"], record["first_name"], record["updated_at"]) == (
            source["email"], source["first_name"], source["updated_at"],
        )  # fmt: skip
        assert record["platform"] == "custom_rest" and record["store_id"] == "acme"
        assert record["extra"] == {"loyalty_tier": "gold"}
    orders = {r["id"]: r for r in records_of(output, "orders")}
    assert set(orders) == {o["id"] for o in dataset.orders}
    for source in dataset.orders:
        assert orders[source["id"]]["total"] == pytest.approx(source["total"])
        assert orders[source["id"]].get("customer_id") == source["customer_id"]
    assert sorted(r["id"] for r in records_of(output, "events")) == sorted(e["id"] for e in dataset.events)


def test_incremental_read_sends_the_cursor_parameter_and_returns_only_newer_records(proprietary):
    config = custom_config(proprietary.base_url)
    first = read_streams(config, "customers", "orders")
    state = {stream: states_of(first, stream)[-1] for stream in ("customers", "orders")}
    proprietary.seen_params.clear()
    second = read_streams(config, "customers", "orders", state=state)
    assert not second.errors
    for stream in ("customers", "orders"):
        # the state is canonical ISO 8601 whatever format the API's cursor parameter takes
        latest = max(_iso(r["updated_at"]) for r in proprietary.dataset.records(stream))
        assert state[stream] == {"updated_at": latest.strftime("%Y-%m-%dT%H:%M:%SZ")}
        got = records_of(second, stream)
        assert got, stream  # the records at the cursor second are read again (inclusive lower bound)
        assert all(_iso(r["updated_at"]) >= latest for r in got), stream
        assert len(got) < len(proprietary.dataset.records(stream)), stream
    latest_order = max(_iso(o["updated_at"]) for o in proprietary.dataset.orders)
    # ... and the request parameter is sent in the API's own format
    assert any(params.get("since") == latest_order.strftime("%Y-%m-%d %H:%M:%S") for params in proprietary.seen_params)
    assert any(params.get("updated_since") == state["customers"]["updated_at"] for params in proprietary.seen_params)


def test_a_state_saved_in_the_parameter_format_is_still_read(proprietary):
    latest = max(_iso(o["updated_at"]) for o in proprietary.dataset.orders)
    legacy = {"orders": {"updated_at": latest.strftime("%Y-%m-%d %H:%M:%S")}}
    output = read_streams(custom_config(proprietary.base_url), "orders", state=legacy)
    assert not output.errors, output.get_formatted_error_message()
    assert {r["id"] for r in records_of(output, "orders")} == {
        o["id"] for o in proprietary.dataset.orders if _iso(o["updated_at"]) >= latest
    }


def test_check_names_a_rejected_token(proprietary):
    config = custom_config(proprietary.base_url)
    config["custom_rest"]["auth"] = {"type": "bearer", "token": "wrong"}
    status = check(config)
    assert status.status == Status.FAILED
    assert "wrong" not in (status.message or "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_url": "ftp://x"}, "custom_rest.base_url must be an http"),
        ({"streams": {}}, "custom_rest.streams must map at least one"),
        ({"streams": {"clients": {"path": "/x", "fields": {"id": "id"}}}}, "unknown stream"),
        ({"streams": {"customers": {"path": "/x", "fields": {"email": "e"}}}}, "`id` included"),
        ({"auth": {"type": "oauth"}}, "custom_rest.auth.type 'oauth' is not one of"),
    ],
)
def test_invalid_custom_rest_configs_name_the_field(change, message):
    config = custom_config("https://api.example")
    config["custom_rest"] = {**config["custom_rest"], **change}
    with pytest.raises(ConfigError, match=message):
        build_manifest(parse_config(config))


def test_generated_manifest_uses_cdk_components_and_keeps_secrets_out():
    manifest = build_manifest(parse_config(custom_config("https://api.example")))
    text = str(manifest)
    assert TOKEN not in text and API_KEY not in text
    orders = next(s for s in manifest["streams"] if s["name"] == "orders")
    assert orders["retriever"]["paginator"]["pagination_strategy"]["type"] == "CursorPagination"
    assert orders["incremental_sync"]["type"] == "DatetimeBasedCursor"
    assert orders["retriever"]["requester"]["authenticator"]["type"] == "ApiKeyAuthenticator"


def test_each_maps_every_list_element_and_names_the_element_whose_value_was_nulled():
    rules = {
        "id": "uid",
        "line_items": {"path": "lines", "each": {"sku": "sku", "price": {"path": "c", "cents": True}}},
    }
    mapping = CanonicalMapping(mapping=json.dumps(rules), platform="custom_rest", store_id="acme", parameters={})
    record = {"uid": 7, "lines": [{"sku": "A", "c": 1250}, {"sku": "B", "c": "N/A"}]}
    mapping.transform(record)
    assert record["line_items"] == [{"sku": "A", "price": 12.5}, {"sku": "B", "price": None}]
    assert [note["field"] for note in record["extra"]["_changes"]] == ["line_items[1].price"]
    assert record["extra"]["lines"][1]["c"] == "N/A"  # the raw list is kept beside the note


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"path": "lines", "each": "sku"}, r"fields.line_items.each must map the fields"),
        ({"path": "lines", "each": {"sku": {"cents": True}}}, r"fields.line_items.each.sku must be a payload path"),
        ({"pth": "lines"}, r"fields.line_items must be a payload path"),
    ],
)
def test_a_bad_mapping_rule_names_the_field(rule, message):
    config = custom_config("https://api.example")
    config["custom_rest"]["streams"]["orders"]["fields"]["line_items"] = rule
    with pytest.raises(ConfigError, match=message):
        build_manifest(parse_config(config))


def blank_as_null(value: Any) -> Any:
    """`value` with empty strings inside replaced by None."""
    if isinstance(value, dict):
        return {key: blank_as_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [blank_as_null(item) for item in value]
    return None if value == "" else value


def test_the_example_config_reads_every_canonical_field_of_the_proprietary_dialect():
    dataset = new_dataset()
    with StoreEmulator(dataset, "proprietary", consumer_secret=API_KEY) as store:
        config = custom_rest_config(store.base_url, API_KEY)
        assert demo_source_config(store, store_id="acme") == config  # the demo reads a proprietary store with it
        output = read_streams(config, *STREAMS)
    assert not output.errors, output.get_formatted_error_message()
    for stream in STREAMS:
        emitted = {r["id"]: r for r in records_of(output, stream)}
        assert set(emitted) == {r["id"] for r in dataset.records(stream)}, stream
        for original in dataset.records(stream):
            record = emitted[original["id"]]
            # the mapping reads an empty string as null (a refund without a reason)
            assert {k: record.get(k) for k in original} == blank_as_null(original), (stream, original["id"])
            assert record["extra"] == {}, (stream, record["extra"])


def test_the_proprietary_dialect_rejects_a_wrong_key_and_check_says_so_without_the_key():
    with StoreEmulator(new_dataset(), "proprietary", consumer_secret=API_KEY) as store:
        status = check(custom_rest_config(store.base_url, "not-the-key"))
    assert status.status == Status.FAILED
    assert "401" in (status.message or "") and "not-the-key" not in (status.message or "")
