"""One behavioural suite for every store platform, each against its emulator dialect.

Each platform reads the same generated store; the suite checks full reads, incremental reads,
future states, resuming after a cut, faults and bad records through the Airbyte protocol. Time
is injected: the source's waits advance the emulator's clock (so Shopify's cost bucket refills)
and are recorded; nothing sleeps for real.

Custom REST reads the proprietary dialect with the example config of `proprietary_config`; files
read what `FileExportStore` exports into a temporary folder (its export job runs before every
read, and again while a read is going on when the store changes mid-read).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airbyte_cdk.models import SyncMode, Type
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder
from store_harness import CONSUMER_KEY, CONSUMER_SECRET, NOW, SEED

from source_store import SourceStore
from store2crm.sandbox.file_exports import FileExportStore, files_config
from store2crm.sandbox.generator import Dataset, generate
from store2crm.sandbox.store_emulator import StoreEmulator
from store2crm.sandbox.store_emulator.emulator import SANDBOX_PREFIX
from store2crm.sandbox.store_emulator.proprietary_config import custom_rest_config

TOKEN = "shpat_sandbox_0123456789"  # Shopify access token / Magento integration token of the emulator
SCALE = 30


@dataclass(frozen=True)
class PlatformCase:
    """What the suite needs to know about one platform."""

    name: str
    streams: tuple[str, ...]
    backend: str = ""  # the emulator dialect serving it (default: its name), or FILE_EXPORTS
    snapshot: tuple[str, ...] = ()  # streams without a cursor (full refresh only)
    throttle_has_retry_after: bool = True  # a throttled answer says how long to wait (Shopify: its cost bucket)
    no_http: str | None = None  # why HTTP faults (429 storms, 5xx, Retry-After) cannot apply, if they cannot
    state_mid_stream: bool = False  # STATE inside a stream (custom REST: per date window), so a resume asks for less

    @property
    def dialect(self) -> str:
        """The emulator dialect (or FILE_EXPORTS) this platform reads."""
        return self.backend or self.name

    @property
    def incremental(self) -> tuple[str, ...]:
        """Streams read incrementally."""
        return tuple(s for s in self.streams if s not in self.snapshot)


ALL = ("customers", "orders", "abandoned_checkouts", "events", "products", "companies", "company_contacts")
NO_EVENTS = tuple(s for s in ALL if s != "events")
FILE_EXPORTS = "file_exports"
CASES = {
    "woocommerce": PlatformCase("woocommerce", ALL),
    "shopify": PlatformCase("shopify", NO_EVENTS, throttle_has_retry_after=False),
    "magento": PlatformCase("magento", NO_EVENTS, snapshot=("companies",)),
    "custom_rest": PlatformCase("custom_rest", ALL, backend="proprietary", state_mid_stream=True),
    "files": PlatformCase(
        "files",
        ALL,
        backend=FILE_EXPORTS,
        no_http="files are read from a folder: no HTTP, so no 429 storm, 5xx or Retry-After to wait out "
        "(their faults, malformed rows and files re-exported or added mid-read, are in the other tests)",
    ),
}


class FakeClock:
    """The emulator's clock; the source's sleeps move it forward."""

    def __init__(self, now: pendulum.DateTime) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def sleep(self, seconds: float) -> None:
        """What the source calls instead of time.sleep."""
        self.waits.append(seconds)
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))

    def seconds(self) -> float:
        """The source's clock (epoch seconds)."""
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        """Let time pass outside the source (not one of its waits)."""
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))


def injected_source(clock: FakeClock) -> SourceStore:
    """The source with the fake sleep and clock injected through its constructor."""
    return SourceStore(sleep=clock.sleep, clock=clock.seconds)


class ReportingSource(SourceStore):
    """The source (fake time injected) telling a file-export store about every record it emits."""

    def __init__(self, clock: FakeClock, report: Callable[[], None]) -> None:
        super().__init__(sleep=clock.sleep, clock=clock.seconds)
        self._report = report

    def spec(self, logger: logging.Logger) -> Any:
        """SourceStore's spec (the CDK looks for spec.json beside the class's own package)."""
        return SourceStore().spec(logger)

    def read(self, logger: logging.Logger, config: Mapping[str, Any], catalog: Any, state: Any = None) -> Iterator[Any]:
        """SourceStore.read, reporting each RECORD once it has been handed on."""
        for message in super().read(logger, config, catalog, state):
            yield message
            if message.type == Type.RECORD:
                self._report()


@dataclass
class Store:
    """A running emulator (or file-export store) of one platform, its dataset, clock and a matching source config."""

    case: PlatformCase
    emulator: StoreEmulator | FileExportStore
    dataset: Dataset
    clock: FakeClock
    config: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop the emulator (a file-export store's folder is the test's tmp_path)."""
        if isinstance(self.emulator, StoreEmulator):
            self.emulator.stop()

    def quarantined_rows(self, *streams: str) -> int:
        """Structurally broken rows the store now holds for `streams` (only files have rows to break)."""
        if not isinstance(self.emulator, FileExportStore):
            return 0
        names = {export.name for stream in streams for export in self.emulator.files[stream]}
        return sum(count for name, count in self.emulator.broken_rows.items() if name in names)

    def _source(self) -> SourceStore:
        if isinstance(self.emulator, FileExportStore):
            self.emulator.export_changes()  # the export job ran since the last sync
            return ReportingSource(self.clock, self.emulator.record_read)
        return injected_source(self.clock)

    def read(
        self, *streams: str, state: Mapping[str, Mapping[str, Any]] | None = None, **overrides: Any
    ) -> EntrypointOutput:
        """Run `read` in-process (incremental where the stream supports it)."""
        builder = CatalogBuilder()
        for name in streams or self.case.streams:
            mode = SyncMode.full_refresh if name in self.case.snapshot else SyncMode.incremental
            builder.with_stream(name, mode)
        state_builder = StateBuilder()
        for name, stream_state in (state or {}).items():
            state_builder.with_stream_state(name, dict(stream_state))
        config = {**self.config, **overrides}
        return read(self._source(), config, builder.build(), state_builder.build() if state else None)


def platform_config(platform: str, base_url: str, **overrides: Any) -> dict[str, Any]:
    """A valid source config for one platform's emulator (for files, `base_url` is the export folder)."""
    store_id = f"sandbox-{platform}"
    if platform == "custom_rest":
        return custom_rest_config(base_url, TOKEN, store_id=store_id, start_date="2020-01-01T00:00:00Z", page_size=25)
    if platform == "files":
        config = files_config(base_url, store_id=store_id, start_date="2020-01-01T00:00:00Z")
        config["files"]["state_every_rows"] = 10  # STATE inside files, so a cut can fall mid-file
        return config
    connection: dict[str, Any] = {
        "woocommerce": {"base_url": base_url, "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET},
        "shopify": {"base_url": base_url, "access_token": TOKEN, "api_version": "2025-10"},
        "magento": {"base_url": base_url, "access_token": TOKEN},
    }[platform]
    config = {
        "platform": platform,
        "store_id": f"sandbox-{platform}",
        "start_date": "2020-01-01T00:00:00Z",
        "page_size": 25,
        platform: connection,
    }
    return {**config, **overrides}


def start_store(
    platform: str, folder: Path | None = None, *, dialect_options: Mapping[str, Any] | None = None
) -> Store:
    """Start an emulator of `platform` over a fresh dataset (the caller stops it); files are exported into `folder`."""
    dataset = generate(seed=SEED, scale=SCALE, now=NOW)
    clock = FakeClock(NOW.add(days=1))
    case = CASES[platform]
    if case.dialect == FILE_EXPORTS:
        if folder is None:
            raise ValueError("a file-export store needs the folder to export into")
        exports = FileExportStore(dataset, folder, clock=clock).export_all()
        return Store(case, exports, dataset, clock, platform_config(platform, str(folder)))
    secret = CONSUMER_SECRET if platform == "woocommerce" else TOKEN
    emulator = StoreEmulator(
        dataset,
        dialect=case.dialect,
        consumer_key=CONSUMER_KEY,
        consumer_secret=secret,
        clock=clock,
        sleep=clock.sleep,
        dialect_options=dialect_options,
    )
    emulator.start()
    return Store(case, emulator, dataset, clock, platform_config(platform, emulator.base_url))


def http_fault_params() -> list[Any]:
    """Every platform; those HTTP faults cannot apply to are skipped with the reason their case gives."""
    return [
        pytest.param(name, marks=pytest.mark.skip(reason=f"{name}: {case.no_http}")) if case.no_http else name
        for name, case in sorted(CASES.items())
    ]


def running_store(platform: str, folder: Path) -> Iterator[Store]:
    """One emulator per test and platform, always stopped."""
    running = start_store(platform, folder)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=sorted(CASES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """One emulator per test and platform, always stopped."""
    yield from running_store(request.param, tmp_path)


@pytest.fixture(params=http_fault_params())
def http_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store of a platform read over HTTP (see PlatformCase.no_http)."""
    yield from running_store(request.param, tmp_path)


def records_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """Record payloads of one stream."""
    return [m.record.data for m in output.records if m.record.stream == stream]


def last_states(messages: list[Any]) -> dict[str, dict[str, Any]]:
    """The last STATE of each stream among `messages`."""
    states: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message.type == Type.STATE:
            stream = message.state.stream
            states[stream.stream_descriptor.name] = dict(stream.stream_state.__dict__)
    return states


def api_requests(store: Store) -> int:
    """API requests the emulator has answered so far (its sandbox stats, less the sandbox's own calls)."""
    with urllib.request.urlopen(f"{store.emulator.base_url}/_sandbox/stats") as answer:
        requests = json.load(answer)["requests"]
    return sum(count for path, count in requests.items() if not path.startswith(SANDBOX_PREFIX))


def expected_ids(store: Store, stream: str) -> list[str]:
    """Ids the platform should emit for a stream of the dataset.

    Magento has no company-contact records: its company users are the customers linked to a company.
    """
    if store.case.name == "magento" and stream == "company_contacts":
        return [customer["id"] for customer in store.dataset.customers if customer["company_id"]]
    return [record["id"] for record in store.dataset.records(stream)]


# --- the suite ---------------------------------------------------------------------------------


def test_full_read_returns_every_record_of_every_stream_once(store: Store) -> None:
    output = store.read()
    assert not output.errors, output.get_formatted_error_message()
    for stream in store.case.streams:
        records = records_of(output, stream)
        assert sorted(r["id"] for r in records) == sorted(expected_ids(store, stream)), stream
        assert {(r["platform"], r["store_id"]) for r in records} == {(store.case.name, f"sandbox-{store.case.name}")}


def test_canonical_values_agree_with_the_generated_store(store: Store) -> None:
    output = store.read("orders", "customers", "companies")
    orders = {o["id"]: o for o in store.dataset.orders}
    for record in records_of(output, "orders"):
        source = orders[record["id"]]
        assert record["updated_at"] == source["updated_at"]
        assert record["total"] == pytest.approx(source["total"])
        assert record.get("customer_id") == source["customer_id"]
        assert record.get("company_id") == source["company_id"]
        assert sorted(i["sku"] for i in record["line_items"]) == sorted(i["sku"] for i in source["line_items"])
        assert sorted(r["amount"] for r in record["refunds"]) == pytest.approx(
            sorted(r["amount"] for r in source["refunds"])
        )
    customers = {c["id"]: c for c in store.dataset.customers}
    # Shopify ties a customer to a company only through a company contact
    contact_company = {c["customer_id"]: c["company_id"] for c in store.dataset.company_contacts}
    for record in records_of(output, "customers"):
        source = customers[record["id"]]
        company = contact_company.get(record["id"]) if store.case.name == "shopify" else source["company_id"]
        assert (record.get("email"), record.get("company_id")) == (source["email"], company)
        assert record["accepts_marketing"] == source["accepts_marketing"]
    companies = {c["id"]: c for c in store.dataset.companies}
    for record in records_of(output, "companies"):
        assert record["name"] == companies[record["id"]]["name"]
        assert record["credit_limit"] == pytest.approx(companies[record["id"]]["credit_limit"])


def test_incremental_read_with_the_last_state_returns_only_records_at_or_after_the_cursor(store: Store) -> None:
    first = store.read()
    state = last_states(first.records_and_state_messages)
    changed = store.dataset.mutate(count=12, now=store.clock.now)
    store.clock.advance(1)  # the next read starts later than the changes (a read ends at the second it starts in)
    second = store.read(state=state)
    assert not second.errors, second.get_formatted_error_message()
    for stream in store.case.incremental:
        cursor = state[stream].get("updated_at") or state[stream].get("occurred_at")
        key = "occurred_at" if stream == "events" else "updated_at"
        assert all(r[key] >= cursor for r in records_of(second, stream)), stream
    read_again = {(s, r["id"]) for s in ("orders", "customers") for r in records_of(second, s)}
    assert {(s, i) for s, i in changed if s in ("orders", "customers")} <= read_again
    assert len(records_of(second, "orders")) < len(store.dataset.orders)


def test_state_in_the_future_returns_nothing(store: Store) -> None:
    future = "2099-01-01T00:00:00Z"
    state = {s: {"occurred_at" if s == "events" else "updated_at": future} for s in store.case.incremental}
    output = store.read(*store.case.incremental, state=state)
    assert not output.errors, output.get_formatted_error_message()
    assert output.records == []


@pytest.mark.parametrize("cut_share", [0.15, 0.5, 0.85])
def test_resume_from_the_last_state_before_a_cut_loses_nothing(store: Store, cut_share: float) -> None:
    streams = tuple(s for s in ("orders", "customers", "products", "abandoned_checkouts") if s in store.case.streams)
    messages = store.read(*streams, page_size=10).records_and_state_messages
    full_requests = api_requests(store) if store.case.state_mid_stream else 0
    cut = int(len(messages) * cut_share)
    before = messages[:cut]
    seen = {(m.record.stream, m.record.data["id"]) for m in before if m.type == Type.RECORD}
    resumed = store.read(*streams, state=last_states(before) or None, page_size=10)
    assert not resumed.errors, resumed.get_formatted_error_message()
    seen |= {(m.record.stream, m.record.data["id"]) for m in resumed.records}
    for stream in streams:
        assert {i for s, i in seen if s == stream} == set(expected_ids(store, stream)), stream
    if store.case.state_mid_stream:
        assert_resumed_from_the_checkpoint(
            store, last_states(before), api_requests(store) - full_requests, full_requests
        )


def assert_resumed_from_the_checkpoint(
    store: Store, states: Mapping[str, Mapping[str, Any]], resumed_requests: int, full_requests: int
) -> None:
    """A resume from a STATE past the start does not read its stream again from the start: fewer requests."""
    start = store.config["start_date"]
    if any((state.get("updated_at") or "") > start for state in states.values()):
        assert resumed_requests < full_requests, (states, resumed_requests, full_requests)
    else:
        assert resumed_requests <= full_requests, (states, resumed_requests, full_requests)


def test_a_429_storm_and_server_errors_are_waited_out(http_store: Store) -> None:
    store = http_store
    assert isinstance(store.emulator, StoreEmulator)
    store.emulator.configure_faults(rate_limit_storm=4, error_rate=0.15, retry_after=3, seed=5)
    output = store.read("orders", "customers", "products")
    assert not output.errors, output.get_formatted_error_message()
    for stream in ("orders", "customers", "products"):
        assert sorted(r["id"] for r in records_of(output, stream)) == sorted(expected_ids(store, stream))
    injected = store.emulator.faults.injected
    assert injected["throttled"] == 4 and injected["error"] > 0
    assert store.clock.waits, "the source retried without waiting"
    if store.case.throttle_has_retry_after:
        assert store.clock.waits.count(3) >= 4, f"Retry-After: 3 not honoured: {store.clock.waits}"


def test_malformed_records_are_emitted_with_change_notes_and_the_sync_goes_on(store: Store) -> None:
    store.emulator.configure_faults(malformed_rate=0.3, seed=9)
    output = store.read("orders", "customers")
    assert not output.errors, output.get_formatted_error_message()
    assert sorted(r["id"] for r in records_of(output, "orders")) == sorted(expected_ids(store, "orders"))
    noted = [m for m in output.records if m.record.meta and m.record.meta.changes]
    assert noted, "no record carried change notes"
    for message in noted:
        fields = {change.field for change in message.record.meta.changes}
        assert fields == {note["field"] for note in message.record.data["extra"]["_changes"]}
    assert store.emulator.faults.injected["malformed"] > 0
    # rows that cannot be read at all are quarantined: skipped with an error naming the file and line, and counted
    skipped = [m.log.message for m in output.logs if "skipped, it is malformed" in m.log.message]
    assert len(skipped) == store.quarantined_rows("orders", "customers")
    assert all(" line " in message for message in skipped)


def test_records_changing_during_the_read_are_not_lost(store: Store) -> None:
    ids_at_start = set(expected_ids(store, "orders"))
    started = store.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")  # the store's changes land at this second
    store.emulator.configure_faults(mutate_every=2, mutate_count=2, seed=3)
    output = store.read("orders", page_size=10)
    assert not output.errors, output.get_formatted_error_message()
    assert store.emulator.faults.injected["mutations"] > 0
    emitted = {r["id"] for r in records_of(output, "orders")}
    # what did not change during the read is in it; what changed is in it or in the next read
    assert {o["id"] for o in store.dataset.orders if o["updated_at"] < started} <= emitted
    store.emulator.configure_faults(mutate_every=0)
    store.clock.advance(1)
    following = store.read("orders", state=last_states(output.records_and_state_messages), page_size=10)
    assert ids_at_start <= emitted | {r["id"] for r in records_of(following, "orders")}


def test_unknown_platform_names_the_valid_ones(store: Store) -> None:
    status = injected_source(store.clock).check(logging.getLogger("test"), {**store.config, "platform": "shopfy"})
    assert "unknown platform 'shopfy'" in (status.message or "")
