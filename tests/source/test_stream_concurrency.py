"""Streams read side by side (`max_concurrent_streams`), through the Airbyte protocol against the store emulators.

A concurrent read must hand each stream exactly the messages a serial read gives it (records with
their change notes, a STATE per page after that page's records, stream statuses), read streams
really at once but never more than configured, stop its readers when closed and resume from any
point, and name a failed stream at the end while the others finish.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteStreamStatus, FailureType, Type
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder
from store_harness import CONSUMER_KEY, CONSUMER_SECRET, NOW, catalog, new_dataset, records_of, source_config
from test_platform_suite import start_store

from source_store import SourceStore
from source_store.concurrency import THREAD_NAME
from source_store.platforms import shopify
from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.server import Request, Response
from store2crm.sandbox.store_emulator import StoreEmulator
from store2crm.sandbox.store_emulator.faults import Fault

WC = "/wp-json/wc/v3/"
PLUGIN = "/wp-json/store2crm/v1/"
ENDPOINTS = {
    "customers": WC + "customers",
    "orders": WC + "orders",
    "products": WC + "products",
    "events": PLUGIN + "events",
}
STREAMS = tuple(ENDPOINTS)
READ_AT = NOW.add(days=1)
RENDEZVOUS_TIMEOUT_SECONDS = 20  # only a guard against a read that never overlaps; a met rendezvous returns at once


class WatchedEmulator(StoreEmulator):
    """The WooCommerce emulator, watched and steered by the test.

    It counts the API requests in flight at once, can hold the first request of each of a set of
    endpoints until all of them have arrived (proof that their streams run side by side), and can
    fail one endpoint forever: 401 (the request reaches WordPress without its key) or a 5xx.
    """

    def __init__(self, dataset: Dataset) -> None:
        super().__init__(
            dataset, consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, clock=lambda: READ_AT, sleep=_no_sleep
        )
        self._watch = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self._rendezvous: set[str] = set()
        self._barrier: threading.Barrier | None = None
        self.rendezvous_met: bool | None = None
        self._failing: tuple[str, int] | None = None

    def hold_first_requests_of(self, paths: set[str]) -> None:
        """Answer none of the first requests to `paths` until one has arrived for every path."""
        self._rendezvous = set(paths)
        self._barrier = threading.Barrier(len(paths))

    def fail_forever(self, path: str, status: int) -> None:
        """Every request to exactly `path` fails with `status`."""
        self._failing = (path, status)

    def handle(self, request: Request) -> Response:
        """Track the request while it is in flight, meeting the rendezvous or failing it as configured."""
        with self._watch:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self._meet(request.path)
            return self._answer(request)
        finally:
            with self._watch:
                self.in_flight -= 1

    def _meet(self, path: str) -> None:
        with self._watch:
            arrived = path in self._rendezvous
            self._rendezvous.discard(path)
        if not arrived or self._barrier is None:
            return
        try:
            self._barrier.wait(RENDEZVOUS_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError:
            self.rendezvous_met = False
        else:
            self.rendezvous_met = self.rendezvous_met is not False

    def _answer(self, request: Request) -> Response:
        if self._failing is None or request.path != self._failing[0]:
            return super().handle(request)
        status = self._failing[1]
        if status == 401:
            request.headers.pop("authorization", None)
            return super().handle(request)
        return self.dialect.fault_response(Fault("error", status), request, retry_after=0)


def _no_sleep(_: float) -> None:
    """The emulator never delays answers here."""


@pytest.fixture
def store() -> Iterator[tuple[WatchedEmulator, Dataset]]:
    """A private watched emulator, always stopped."""
    dataset = new_dataset()
    with WatchedEmulator(dataset) as emulator:
        yield emulator, dataset


def injected_source(waits: list[float] | None = None) -> SourceStore:
    """The source with its waits recorded instead of slept and its clock at the emulator's present."""
    recorded = waits if waits is not None else []
    return SourceStore(sleep=recorded.append, clock=READ_AT.timestamp)


def read_store(
    emulator: StoreEmulator, workers: int, *streams: str, state: dict[str, dict] | None = None, **overrides: Any
) -> EntrypointOutput:
    """Run `read` in-process through the entrypoint with `workers` streams at a time."""
    config = source_config(emulator.base_url, page_size=10, max_concurrent_streams=workers, **overrides)
    built = _state(state) if state else None
    return read(injected_source(), config, catalog(*(streams or STREAMS)), built)


def _state(states: dict[str, dict]) -> list:
    builder = StateBuilder()
    for name, stream_state in states.items():
        builder.with_stream_state(name, stream_state)
    return builder.build()


def per_stream(output: EntrypointOutput) -> dict[str, list[tuple[Any, ...]]]:
    """Each stream's RECORD and STATE messages in emitted order: ids with change notes, states with their counts."""
    sequences: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for message in output.records_and_state_messages:
        if message.type == Type.RECORD:
            record = message.record
            changes = sorted(change.field for change in (record.meta.changes if record.meta else None) or [])
            sequences[record.stream].append(("RECORD", record.data["id"], tuple(changes)))
        else:
            state = message.state
            count = state.sourceStats.recordCount if state.sourceStats else None
            sequences[state.stream.stream_descriptor.name].append(("STATE", state.stream.stream_state.__dict__, count))
    return dict(sequences)


def error_messages(output: EntrypointOutput) -> list[str]:
    """The error traces' messages, without the HTTP `Date` header the CDK quotes from a failed response."""
    return [re.sub(r"'Date': '[^']*'", "'Date': ...", e.trace.error.message) for e in output.errors]


def reader_threads() -> list[str]:
    """Names of the source's stream reader threads still alive."""
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(THREAD_NAME)]


def test_each_stream_gets_exactly_the_messages_of_a_serial_read(store):
    emulator, dataset = store
    emulator.configure_faults(malformed_rate=0.2, seed=4)  # some records arrive with change notes
    serial = read_store(emulator, 1)
    concurrent = read_store(emulator, 3)
    assert not serial.errors and not concurrent.errors, concurrent.get_formatted_error_message()
    assert per_stream(concurrent) == per_stream(serial)
    assert any(change for m in per_stream(concurrent)["orders"] if m[0] == "RECORD" for change in m[2])
    for stream in STREAMS:
        assert sorted(r["id"] for r in records_of(concurrent, stream)) == sorted(
            r["id"] for r in dataset.records(stream)
        )
        assert concurrent.get_stream_statuses(stream) == serial.get_stream_statuses(stream)


def test_magento_reads_its_streams_side_by_side_by_default_with_the_serial_result():
    token = "magento_sandbox_0123456789"
    with StoreEmulator(new_dataset(), dialect="magento", consumer_secret=token, clock=lambda: READ_AT) as emulator:
        config = source_config(emulator.base_url, platform="magento", magento={"base_url": emulator.base_url})
        config["magento"]["access_token"] = token
        streams = catalog("customers", "orders", "products", "abandoned_checkouts")
        serial = read(injected_source(), {**config, "max_concurrent_streams": 1}, streams)
        default = read(injected_source(), config, streams)  # Magento's default: 2 streams at once
    assert not serial.errors and not default.errors, default.get_formatted_error_message()
    assert per_stream(default) == per_stream(serial)
    assert all(sequence for sequence in per_stream(default).values())


@pytest.mark.parametrize("workers", [2, 3])
def test_streams_run_side_by_side_never_more_than_configured(store, workers):
    emulator, _ = store
    emulator.hold_first_requests_of({ENDPOINTS[name] for name in STREAMS[:workers]})
    output = read_store(emulator, workers)
    assert not output.errors, output.get_formatted_error_message()
    assert emulator.rendezvous_met is True, f"the first {workers} streams never had requests in flight together"
    assert emulator.most_in_flight == workers


@pytest.mark.parametrize("cut", [3, 25, 60, 120])
def test_a_read_closed_mid_way_stops_its_readers_and_resumes_without_loss(store, cut):
    emulator, dataset = store
    config = source_config(emulator.base_url, page_size=10, max_concurrent_streams=3)
    messages = injected_source().read(logging.getLogger("airbyte"), config, catalog(*STREAMS), None)
    seen: dict[str, set[str]] = defaultdict(set)
    states: dict[str, dict] = {}
    taken = 0
    for message in messages:
        if message.type == Type.RECORD:
            seen[message.record.stream].add(message.record.data["id"])
        elif message.type == Type.STATE:
            states[message.state.stream.stream_descriptor.name] = message.state.stream.stream_state.__dict__
        taken += message.type in (Type.RECORD, Type.STATE)
        if taken == cut:
            break
    messages.close()
    assert taken == cut, "the read ended before the cut"
    assert reader_threads() == []
    resumed = read_store(emulator, 3, state=states)
    assert not resumed.errors, resumed.get_formatted_error_message()
    for stream in STREAMS:
        union = seen[stream] | {record["id"] for record in records_of(resumed, stream)}
        assert union == {record["id"] for record in dataset.records(stream)}, stream


@pytest.mark.parametrize("status", [401, 500])
def test_a_failing_stream_is_named_at_the_end_and_the_others_finish(store, status):
    emulator, dataset = store
    emulator.fail_forever(ENDPOINTS["orders"], status)
    serial = read_store(emulator, 1)
    output = read_store(emulator, 3)
    for stream in ("customers", "products", "events"):
        assert sorted(r["id"] for r in records_of(output, stream)) == sorted(r["id"] for r in dataset.records(stream))
        assert output.get_stream_statuses(stream)[-1] == AirbyteStreamStatus.COMPLETE
    assert output.get_stream_statuses("orders")[-1] == AirbyteStreamStatus.INCOMPLETE
    assert records_of(output, "orders") == []
    [stream_error, summary] = output.errors
    assert stream_error.trace.error.stream_descriptor.name == "orders"
    assert summary.trace.error.failure_type == FailureType.config_error
    assert summary.trace.error.message.startswith(
        "During the sync, the following streams did not sync successfully: orders: "
    )
    assert error_messages(output) == error_messages(serial)
    last = list(output.get_message_iterator())[-1]  # the summary comes after every other stream's messages
    assert last.type == Type.TRACE and last.trace.error.message == summary.trace.error.message


@pytest.mark.parametrize(
    ("platform", "workers", "message"),
    [
        ("woocommerce", 5, "Config validation error: 5 is greater than the maximum of 4"),
        ("shopify", 5, "Config validation error: 5 is greater than the maximum of 4"),
    ],
)
def test_a_limit_above_the_platform_cap_fails_the_read_as_a_config_error(store, platform, workers, message):
    emulator, _ = store
    connection = {"base_url": emulator.base_url, "access_token": "shpat_0123456789"}
    config = source_config(emulator.base_url, platform=platform, shopify=connection, max_concurrent_streams=workers)
    output = read(injected_source(), config, catalog("orders"))
    [error] = output.errors
    assert error.trace.error.failure_type == FailureType.config_error
    assert error.trace.error.message.startswith(message)
    assert output.records == []
    assert emulator.most_in_flight == 0


SHOPIFY_STREAMS = ("customers", "orders", "abandoned_checkouts", "products", "companies", "company_contacts")


@pytest.mark.parametrize("bulk", [False, True], ids=["paged", "bulk-first-sync"])
def test_shopify_reads_its_streams_side_by_side_with_the_serial_result(bulk):
    """Shopify streams share one cost bucket and one bulk query slot; reading them at once changes no stream."""
    running = start_store("shopify")  # Standard plan: a 2000-point bucket, so parallel streams do wait on it
    try:
        connection = {**running.config["shopify"], "bulk_first_sync": bulk, "bulk_poll_seconds": 1}
        serial = running.read(*SHOPIFY_STREAMS, shopify=connection, max_concurrent_streams=1)
        side_by_side = running.read(*SHOPIFY_STREAMS, shopify=connection, max_concurrent_streams=4)
        default = running.read(*SHOPIFY_STREAMS, shopify=connection)  # Shopify's default: 2 at once
    finally:
        running.stop()
    assert not serial.errors and not side_by_side.errors, side_by_side.get_formatted_error_message()
    assert per_stream(side_by_side) == per_stream(serial) == per_stream(default)
    assert all(per_stream(serial).get(stream) for stream in SHOPIFY_STREAMS)
    assert side_by_side.is_in_logs("Reading 6 streams, 4 at a time")


def bucket_after_one_answer(waits: list[float]) -> shopify.CostThrottle:
    """A throttle told 1000 of 2000 points are left at 100 points/s (its clock never moves); query `q` costs 800."""
    throttle = shopify.CostThrottle(sleep=waits.append, clock=lambda: 0.0, logger=logging.getLogger("t"))
    status = {"currentlyAvailable": 1000, "maximumAvailable": 2000.0, "restoreRate": 100.0}
    throttle.observe({"extensions": {"cost": {"requestedQueryCost": 800, "throttleStatus": status}}}, "q")
    return throttle


class QueryInFlight:
    """A stream thread that reserves points for query `q`, then holds them until its answer is observed."""

    def __init__(self, throttle: shopify.CostThrottle) -> None:
        self.throttle = throttle
        self.body: dict[str, Any] | None = None
        self._reserved = threading.Event()
        self._answered = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        self.throttle.wait_for("q")
        self._reserved.set()
        self._answered.wait(timeout=10)  # a hang guard: the test answers at once
        self.throttle.observe(self.body)

    def reserve(self) -> QueryInFlight:
        """Start the thread; back once it has reserved (and, with the recording sleep, 'waited')."""
        self._thread.start()
        assert self._reserved.wait(timeout=10)
        return self

    def answer(self, body: dict[str, Any] | None = None) -> None:
        """Let the thread observe its answer and end."""
        self.body = body
        self._answered.set()
        self._thread.join()


def test_a_query_in_flight_in_one_thread_keeps_its_points_from_the_next_thread():
    waits: list[float] = []
    throttle = bucket_after_one_answer(waits)
    first = QueryInFlight(throttle).reserve()  # 800 of the 1000 points reserved; its answer has not come yet
    second = QueryInFlight(throttle).reserve()  # 200 left: waits for 600 more at 100 points/s
    assert waits == [pytest.approx(6.0)]
    first.answer({"extensions": {"cost": {"throttleStatus": {"currentlyAvailable": 200, "restoreRate": 100.0}}}})
    third = QueryInFlight(throttle).reserve()  # 200 reported, less the second query's 800 still in flight
    assert waits[-1] == pytest.approx(14.0)
    second.answer()
    third.answer()
    assert throttle.reserved == {}


@pytest.mark.parametrize("threads", [2, 8])
def test_threads_reserving_at_once_never_spend_the_same_points(threads):
    waits: list[float] = []
    throttle = bucket_after_one_answer(waits)
    start = threading.Barrier(threads)

    def reserve() -> None:
        start.wait(timeout=10)  # a hang guard only: all threads then reserve at once
        throttle.wait_for("q")

    workers = [threading.Thread(target=reserve) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # 1000 points for n queries of 800, in whatever order the threads got the lock: the k-th waits for 800k - 200 more
    assert sorted(waits) == [pytest.approx((800 * k - 200) / 100) for k in range(1, threads)]
    assert sum(throttle.reserved.values()) == 800 * threads
