"""Custom REST platform: a proprietary API described in config only, read through the generated manifest."""

from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessageSerializer, Status, Type
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder
from store_harness import NOW, catalog, check, new_dataset, read_streams, records_of, states_of

from source_store import SourceStore
from source_store.config import ConfigError, parse_config
from source_store.platforms.custom_rest import CanonicalMapping, build_manifest
from store2crm.demo import source_config as demo_source_config
from store2crm.raw_layer import RawLayer
from store2crm.sandbox.generator import STREAMS
from store2crm.sandbox.server import LoopbackServer, Request, Response
from store2crm.sandbox.store_emulator import StoreEmulator
from store2crm.sandbox.store_emulator.proprietary_config import custom_rest_config

TOKEN = "tok_proprietary_123"
API_KEY = "key_proprietary_456"
DATE_FORMAT = "%d/%m/%Y %H:%M:%S"  # the proprietary API's own date format
ISO = "%Y-%m-%dT%H:%M:%SZ"
READ_AT = NOW.add(days=1)  # the injected present of the windowed reads (their last window ends here)


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_at(config: dict[str, Any], *streams: str, state: Any = None) -> EntrypointOutput:
    """`read` with the clock injected at READ_AT; `state` is per-stream dicts or a list of state messages."""
    if isinstance(state, dict):
        builder = StateBuilder()
        for name, stream_state in state.items():
            builder.with_stream_state(name, stream_state)
        state = builder.build()
    source = SourceStore(clock=READ_AT.timestamp)
    return read(source, config, catalog(*streams), state)


class ProprietaryStore(LoopbackServer):
    """A made-up store API over the generator's data: other names, cents, odd dates, three paging styles."""

    def __init__(self) -> None:
        super().__init__()
        self.dataset = new_dataset()
        self.seen_params: list[dict[str, str]] = []
        self.inclusive_before = False  # whether `updated_before` keeps records exactly at it
        self.refuse_from = ""  # customer windows starting at or after it are refused (400)

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
        before = self._since(request, "updated_before", "%Y-%m-%dT%H:%M:%SZ")
        if self.refuse_from and since >= self.refuse_from:
            return Response(400, {"error": "this window is refused"})
        rows = sorted(
            (c for c in self.dataset.customers if c["updated_at"] >= since and self._is_before(c, before)),
            key=lambda c: int(c["id"]),
        )
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

    def _is_before(self, customer: dict[str, Any], before: str) -> bool:
        if not before:
            return True
        return customer["updated_at"] <= before if self.inclusive_before else customer["updated_at"] < before

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
        assert len(records_of(output, stream)) == len(emitted), stream  # windows meet without overlapping
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


# --- date windows: STATE after every window ------------------------------------------------------


def windowed(config: dict[str, Any], step: str = "P90D", **cursor: Any) -> dict[str, Any]:
    """`config` with customers read in `step` windows through the test API's exclusive `updated_before`."""
    spec = config["custom_rest"]["streams"]["customers"]
    spec["cursor"] = {**spec["cursor"], "end_param": "updated_before", "step": step, **cursor}
    return config


def windows_requested(seen_params: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The distinct (updated_since, updated_before) windows the customers endpoint was asked for, in order."""
    pairs = {(p["updated_since"], p["updated_before"]) for p in seen_params if "updated_before" in p}
    return sorted(pairs)


def test_a_windowed_cursor_compiles_into_step_granularity_and_an_upper_bound_parameter():
    manifest = build_manifest(parse_config(windowed(custom_config("https://api.example"), "P30D")))
    streams = {s["name"]: s for s in manifest["streams"]}
    cursor = streams["customers"]["incremental_sync"]
    assert (cursor["step"], cursor["cursor_granularity"]) == ("P30D", "PT1S")
    params = streams["customers"]["retriever"]["requester"]["request_parameters"]
    assert "stream_interval.end_time" in params["updated_before"] and "duration('PT1S')" in params["updated_before"]
    # without an upper-bound parameter the stream stays one window up to the read's start
    assert "step" not in streams["orders"]["incremental_sync"]
    assert "updated_before" not in streams["orders"]["retriever"]["requester"]["request_parameters"]


def test_a_windowed_read_emits_a_canonical_state_after_every_window_and_its_windows_meet(proprietary):
    config = windowed(custom_config(proprietary.base_url))
    output = read_at(config, "customers")
    assert not output.errors, output.get_formatted_error_message()
    ids = [r["id"] for r in records_of(output, "customers")]
    assert sorted(ids) == sorted(c["id"] for c in proprietary.dataset.customers)  # each once
    windows = windows_requested(proprietary.seen_params)
    assert windows[0][0] == "2020-01-01T00:00:00Z"
    assert all(before == following[0] for (_, before), following in pairwise(windows))
    assert windows[-1][1] == READ_AT.add(seconds=1).strftime(ISO)  # the last window reads up to the present
    states = states_of(output, "customers")
    assert all(set(state) == {"updated_at"} for state in states)  # canonical and sequential
    cursors = [state["updated_at"] for state in states]
    assert cursors == sorted(set(cursors))  # every STATE moves the cursor (repeats of empty windows are dropped)
    # each STATE is the latest record of the windows read without a gap so far (windows read side by side may
    # close out of order, so how many STATEs come is up to the CDK's threads: the failing read below pins one)
    updated = sorted(c["updated_at"] for c in proprietary.dataset.customers)
    closed = {cursors[0]} | {max(u for u in updated if u < before) for _, before in windows if before > updated[0]}
    assert set(cursors) <= closed
    assert cursors[-1] == updated[-1]


@pytest.mark.parametrize(("inclusive_before", "reads_of_the_boundary_record"), [(False, 1), (True, 2)])
def test_a_record_on_a_window_boundary_is_never_lost(proprietary, inclusive_before, reads_of_the_boundary_record):
    """An exclusive upper bound reads it once; an inclusive one twice (staging dedupes on id)."""
    proprietary.inclusive_before = inclusive_before
    on_boundary = max(proprietary.dataset.customers, key=lambda c: c["updated_at"])
    start = _iso(on_boundary["updated_at"]) - timedelta(days=14)  # two 7-day windows before it: it starts the third
    config = windowed(custom_config(proprietary.base_url, start_date=start.strftime(ISO)), "P7D")
    output = read_at(config, "customers")
    assert not output.errors, output.get_formatted_error_message()
    assert (on_boundary["updated_at"], on_boundary["updated_at"]) in [
        (before, since) for (_, before), (since, _) in pairwise(windows_requested(proprietary.seen_params))
    ]
    reads = Counter(r["id"] for r in records_of(output, "customers"))
    expected = {c["id"] for c in proprietary.dataset.customers if c["updated_at"] >= start.strftime(ISO)}
    assert set(reads) == expected
    assert reads[on_boundary["id"]] == reads_of_the_boundary_record
    assert all(count == 1 for record_id, count in reads.items() if record_id != on_boundary["id"])


def land(raw: RawLayer, messages: list[AirbyteMessage]) -> None:
    """What `store2crm extract` does with a read's messages: records into the raw layer, each STATE saved with them."""
    for message in messages:
        if message.type == Type.RECORD:
            raw.add_record(message.record.stream, message.record.data, message.record.emitted_at)
        elif message.type == Type.STATE:
            state = AirbyteStateMessageSerializer.dump(message.state)
            raw.commit_state(message.state.stream.stream_descriptor.name, json.loads(json.dumps(state)))
    raw.flush()


def test_a_read_failing_mid_stream_resumes_from_the_state_the_raw_layer_saved(proprietary, tmp_path: Path):
    config = windowed(custom_config(proprietary.base_url))
    customers = {c["id"]: c["updated_at"] for c in proprietary.dataset.customers}
    full = read_at(config, "customers")
    assert not full.errors, full.get_formatted_error_message()
    full_requests = len(proprietary.seen_params)
    proprietary.seen_params.clear()
    proprietary.refuse_from = sorted(customers.values())[len(customers) // 2]  # the API fails from a later window on
    failed = read_at(config, "customers")
    assert failed.errors
    refused = min(since for since, _ in windows_requested(proprietary.seen_params) if since >= proprietary.refuse_from)
    with RawLayer(tmp_path / "warehouse.duckdb", "acme") as raw:
        schema = json.loads(resources.files("source_store").joinpath("schemas/customers.json").read_text())
        raw.prepare([("customers", schema)])
        land(raw, failed.records_and_state_messages)
        saved = raw.saved_states()
    [cursor] = [state["stream"]["stream_state"] for state in saved]
    # the sequential, canonical state of the windows before the refused one (not the CDK's date-range form)
    assert cursor == {"updated_at": max(updated for updated in customers.values() if updated < refused)}
    proprietary.refuse_from = ""
    proprietary.seen_params.clear()
    resumed = read_at(config, "customers", state=[AirbyteStateMessageSerializer.load(state) for state in saved])
    assert not resumed.errors, resumed.get_formatted_error_message()
    assert all(r["updated_at"] >= cursor["updated_at"] for r in records_of(resumed, "customers"))
    read_ids = {r["id"] for r in records_of(failed, "customers")} | {r["id"] for r in records_of(resumed, "customers")}
    assert read_ids == set(customers)
    assert len(proprietary.seen_params) < full_requests  # the closed windows are not asked for again


def test_a_state_in_the_cdk_date_range_form_is_read_and_answered_in_the_canonical_form(proprietary):
    cursor = sorted(c["updated_at"] for c in proprietary.dataset.customers)[len(proprietary.dataset.customers) // 2]
    window = {"start": "2020-01-01T00:00:00Z", "end": cursor, "most_recent_cursor_value": cursor}
    state = {"customers": {"state_type": "date-range", "slices": [window]}}
    output = read_at(windowed(custom_config(proprietary.base_url)), "customers", state=state)
    assert not output.errors, output.get_formatted_error_message()
    assert {r["id"] for r in records_of(output, "customers")} == {
        c["id"] for c in proprietary.dataset.customers if c["updated_at"] >= cursor
    }
    assert states_of(output, "customers")[-1] == {
        "updated_at": max(c["updated_at"] for c in proprietary.dataset.customers)
    }


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ({"step": "P30D"}, r"cursor.step needs custom_rest.streams.customers.cursor.end_param: name the API's"),
        ({"end_param": "updated_before"}, r"cursor.end_param needs .*cursor.step: .* e.g. P30D"),
        ({"end_param": "updated_since", "step": "P30D"}, r"cursor.end_param must differ from .*cursor.param"),
        ({"end_param": "updated_before", "step": "P1M"}, r"cursor.step must be an ISO 8601 duration .* not 'P1M'"),
        ({"end_param": "updated_before", "step": "PT0S"}, r"cursor.step must be .* at least one"),
        ({"end_param": "updated_before", "step": "monthly"}, r"cursor.step must be .* not 'monthly'"),
        ({"end_param": "updated_before", "step": "PT1.5S"}, r"cursor.step must be an ISO 8601 duration of whole"),
    ],
)
def test_a_bad_window_config_names_the_field_and_the_fix(cursor, message):
    config = custom_config("https://api.example")
    config["custom_rest"]["streams"]["customers"]["cursor"] = {"param": "updated_since", **cursor}
    with pytest.raises(ConfigError, match=message):
        build_manifest(parse_config(config))


def acme_page(store: StoreEmulator, **params: str) -> tuple[int, list[str], str]:
    """(status, uids served, error message) of one request to the emulator's orders endpoint."""
    query = urlencode({"limit": "100", **params})
    request = urllib.request.Request(f"{store.base_url}/api/v2/sales/orders?{query}", headers={"X-Api-Key": API_KEY})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, [str(item["uid"]) for item in json.load(answer)["data"]["items"]], ""
    except urllib.error.HTTPError as error:
        return error.code, [], json.load(error)["error"]["message"]


def test_the_proprietary_dialect_serves_half_open_windows():
    dataset = new_dataset()
    order = sorted(dataset.orders, key=lambda o: o["updated_at"])[50]  # fewer than a page (100) before it
    moment = _iso(order["updated_at"])
    acme = "%d.%m.%Y %H:%M:%S"
    with StoreEmulator(dataset, "proprietary", consumer_secret=API_KEY) as store:
        earlier = acme_page(store, updated_since="01.01.2020 00:00:00", updated_before=moment.strftime(acme))
        window = acme_page(
            store, updated_since=moment.strftime(acme), updated_before=(moment + timedelta(seconds=1)).strftime(acme)
        )
        invalid = acme_page(store, updated_before="2026-11-01")
    assert order["id"] not in earlier[1]  # updated_before is exclusive
    assert order["id"] in window[1]  # updated_since is inclusive
    assert set(earlier[1]) == {o["id"] for o in dataset.orders if o["updated_at"] < order["updated_at"]}
    assert invalid[0] == 400 and "updated_before must be a UTC date" in invalid[2]
