"""Unit tests of the batch sink and the sync-state store, with a hand-built CRM module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pendulum
import pytest

from destination_crm.crms.base import CrmModule, ObjectWrite, RecordRejected, WriteOutcome, content_hash
from destination_crm.sink import BatchSink
from destination_crm.state_store import Accepted, RunCounts, StateStore

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")


class RecordingCrm(CrmModule):
    """Maps {"external_id", "key", "value"} records and records every upsert call."""

    name = "recording"
    batch_cap = 3

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.calls: list[list[str]] = []
        self.failing = failing
        self._ids: dict[str, str] = {}

    @classmethod
    def from_config(cls, config, *, sleep, logger, clock):
        return cls()

    target = "recording:test"
    streams = ("crm_companies", "crm_contacts")
    quota_remaining = None

    @property
    def api_calls(self) -> int:
        return len(self.calls)

    def check(self) -> None:
        return None

    def map_record(self, stream: str, record: Mapping[str, Any]) -> ObjectWrite:
        if "value" not in record:
            raise RecordRejected(f"{stream} record {record['external_id']}: field value is missing")
        key = str(record.get("key", record["external_id"]))
        properties = {"value": str(record["value"])}
        return ObjectWrite(stream, record["external_id"], key, properties, content_hash(key, properties))

    def upsert(self, stream: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        self.calls.append([f"{stream}:{w.external_id}" for w in writes])
        outcomes = []
        for write in writes:
            if write.external_id in self.failing:
                outcomes.append(WriteOutcome(write, error="VALIDATION_ERROR bad value"))
                continue
            created = write.dedupe_key not in self._ids
            crm_id = self._ids.setdefault(write.dedupe_key, str(len(self._ids) + 1))
            outcomes.append(WriteOutcome(write, crm_id=crm_id, created=created))
        return outcomes


@pytest.fixture
def store(tmp_path):
    with StateStore(tmp_path / "state.duckdb", now=lambda: NOW) as opened:
        yield opened


def records(n: int, value: str = "v") -> list[dict[str, str]]:
    return [{"external_id": f"e{i}", "value": value} for i in range(n)]


def test_flushes_at_batch_size_and_on_demand(store):
    crm = RecordingCrm()
    sink = BatchSink(crm, store, batch_size=3)
    for record in records(7):
        sink.add("crm_contacts", record)
    assert [len(call) for call in crm.calls] == [3, 3]
    sink.flush()
    assert [len(call) for call in crm.calls] == [3, 3, 1]
    assert sink.counts == RunCounts(received=7, sent=7, created=7)


def test_unchanged_records_are_not_sent_and_changed_ones_fill_whole_batches(store):
    crm = RecordingCrm()
    first = BatchSink(crm, store, batch_size=3)
    for record in records(6):
        first.add("crm_contacts", record)
    first.flush()
    crm.calls.clear()

    second = BatchSink(crm, store, batch_size=3)
    changed = {1, 3, 5}
    for i, record in enumerate(records(6)):
        second.add("crm_contacts", {**record, "value": "new"} if i in changed else record)
    second.flush()
    assert crm.calls == [["crm_contacts:e1", "crm_contacts:e3", "crm_contacts:e5"]]
    assert second.counts == RunCounts(received=6, unchanged=3, sent=3, updated=3)


def test_a_batch_never_addresses_one_object_twice(store):
    crm = RecordingCrm()
    sink = BatchSink(crm, store, batch_size=3)
    sink.add("crm_contacts", {"external_id": "a", "key": "X@example.com", "value": "1"})
    sink.add("crm_contacts", {"external_id": "b", "key": "x@example.com", "value": "2"})
    sink.flush()
    assert crm.calls == [["crm_contacts:a"], ["crm_contacts:b"]]


def test_flush_sends_parent_streams_first(store):
    crm = RecordingCrm()
    sink = BatchSink(crm, store, batch_size=3)
    sink.add("crm_contacts", {"external_id": "p", "value": "1"})
    sink.add("crm_companies", {"external_id": "c", "value": "1"})
    sink.flush()
    assert crm.calls == [["crm_companies:c"], ["crm_contacts:p"]]


def test_failed_records_are_queued_and_retried_when_due_rejected_ones_reported(tmp_path):
    clock = {"now": NOW}
    store = StateStore(tmp_path / "state.duckdb", now=lambda: clock["now"])
    crm = RecordingCrm(failing=frozenset({"e1"}))
    sink = BatchSink(crm, store, batch_size=3)
    for record in records(3):
        sink.add("crm_contacts", record)
    sink.add("crm_contacts", {"external_id": "bad"})
    sink.flush()
    messages = [m.log.message for m in sink.drain_messages()]
    assert messages == [
        "crm_contacts record e1 failed: VALIDATION_ERROR bad value (retry 1 of 4 at 2026-11-01T00:00:30+00:00)",
        "crm_contacts record bad: field value is missing",
    ]
    assert sink.counts == RunCounts(received=4, sent=3, created=2, failed=2)
    assert sink.drain_messages() == []
    assert store.queue_counts("recording:test") == {"queued": 1}

    crm.failing = frozenset()
    too_soon = BatchSink(crm, store, batch_size=3)
    for record in records(3):
        too_soon.add("crm_contacts", record)
    too_soon.flush()
    too_soon.send_due()
    assert len(crm.calls) == 1 and too_soon.counts.unchanged == 2

    clock["now"] = NOW.add(seconds=30)
    rerun = BatchSink(crm, store, batch_size=3)
    rerun.send_due()  # due queue entries go out even when the record does not come again
    assert crm.calls[-1] == ["crm_contacts:e1"]
    assert (rerun.counts.retried, rerun.counts.created) == (1, 1)
    assert store.queue_counts("recording:test") == {}
    store.close()


def test_state_store_remembers_crm_ids_hashes_and_runs(tmp_path):
    path = tmp_path / "nested" / "state.duckdb"
    with StateStore(path, now=lambda: NOW) as store:
        store.remember("t", [Accepted("crm_deals", "d1", "901", "h1")])
        store.remember("t", [Accepted("crm_deals", "d1", "901", "h2")])
        run_id = store.start_run("t")
        store.finish_run(run_id, RunCounts(received=2, sent=1, created=1, api_calls=4, quota_remaining=99))
    with StateStore(path, now=lambda: NOW) as reopened:
        assert reopened.stored_objects("t", "crm_deals", ["d1", "d2"]) == {"d1": ("901", "h2")}
        assert reopened.stored_objects("other", "crm_deals", ["d1"]) == {}
        assert reopened.crm_id("t", "crm_deals", "d1") == "901"
        [run] = reopened.runs("t")
    assert run["status"] == "succeeded"
    assert (run["received"], run["sent"], run["api_calls"], run["quota_remaining"]) == (2, 1, 4, 99)
