"""Batch sink: per-stream buffers that drop unchanged records and upsert the rest in CRM-sized batches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, Level, Type

from destination_crm.crms.base import CrmModule, ObjectWrite, RecordRejected, WriteOutcome
from destination_crm.state_store import Accepted, RunCounts, StateStore


class BatchSink:
    """Buffers records per stream in two stages, both bounded by `batch_size`.

    Candidates wait for one batched hash lookup; records that changed wait for the upsert, so every
    call carries a full batch even when most records are unchanged. `flush` empties both stages and
    must run before a STATE message is acknowledged.
    """

    def __init__(self, crm: CrmModule, store: StateStore, *, batch_size: int) -> None:
        self._crm = crm
        self._store = store
        self._batch_size = batch_size
        self._candidates: dict[str, list[ObjectWrite]] = {}
        self._outgoing: dict[str, dict[str, ObjectWrite]] = {}
        self._messages: list[AirbyteMessage] = []
        self.counts = RunCounts()

    def add(self, stream: str, record: Mapping[str, Any]) -> None:
        """Take one record; may flush that stream's buffers when they fill."""
        self.counts.received += 1
        try:
            write = self._crm.map_record(stream, record)
        except RecordRejected as exc:
            self._fail(str(exc))
            return
        candidates = self._candidates.setdefault(stream, [])
        candidates.append(write)
        if len(candidates) >= self._batch_size:
            self._diff(stream)

    def flush(self) -> None:
        """Send everything buffered, parents' streams first."""
        for stream in sorted(self._candidates.keys() | self._outgoing.keys(), key=self._stream_order):
            self._diff(stream)
            self._send(stream)

    def drain_messages(self) -> list[AirbyteMessage]:
        """LOG messages about failed records since the last drain."""
        messages, self._messages = self._messages, []
        return messages

    def _stream_order(self, stream: str) -> int:
        streams = self._crm.streams
        return streams.index(stream) if stream in streams else len(streams)

    def _diff(self, stream: str) -> None:
        candidates = self._candidates.pop(stream, [])
        if not candidates:
            return
        stored = self._store.stored_objects(self._crm.target, stream, {w.external_id for w in candidates})
        for candidate in candidates:
            known = stored.get(candidate.external_id)
            if known is not None and known.content_hash == candidate.content_hash:
                self.counts.unchanged += 1
                continue
            write = replace(candidate, crm_id=known.crm_id) if known is not None else candidate
            if write.dedupe_key in self._outgoing.get(stream, {}):
                self._send(stream)  # one batch may not address the same object twice
            outgoing = self._outgoing.setdefault(stream, {})
            outgoing[write.dedupe_key] = write
            if len(outgoing) >= self._batch_size:
                self._send(stream)

    def _send(self, stream: str) -> None:
        batch = list(self._outgoing.pop(stream, {}).values())
        if not batch:
            return
        outcomes = self._crm.upsert(stream, batch)
        self.counts.sent += len(batch)
        accepted = [self._accept(outcome) for outcome in outcomes if outcome.accepted]
        for outcome in outcomes:
            if not outcome.accepted:
                self._fail(f"{stream} record {outcome.write.external_id} failed: {outcome.error}")
        self._store.remember(self._crm.target, accepted)

    def _accept(self, outcome: WriteOutcome) -> Accepted:
        if outcome.created:
            self.counts.created += 1
        else:
            self.counts.updated += 1
        write = outcome.write
        return Accepted(write.stream, write.external_id, str(outcome.crm_id), write.content_hash)

    def _fail(self, reason: str) -> None:
        """The one place a record that did not reach the CRM is handled: counted and reported."""
        self.counts.failed += 1
        self._messages.append(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.WARN, message=reason)))
