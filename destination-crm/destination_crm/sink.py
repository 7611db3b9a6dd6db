"""Batch sink: drops unchanged records, upserts the rest in CRM-sized batches, and queues what fails."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, FailureType, Level, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import UNREACHABLE, CrmModule, ObjectWrite, RecordRejected, WriteOutcome
from destination_crm.quota import BudgetExhausted
from destination_crm.retry import RetryPolicy
from destination_crm.state_store import DEAD, DEFERRED, QUEUED, Accepted, QueueEntry, RunCounts, StateStore

# Priority classes when the daily budget cannot cover a run (lower goes first): transactional changes
# (deals, and the contacts and companies they touch), then contacts (segments), then companies (scores).
STREAM_PRIORITY = {"crm_deals": 0, "crm_contacts": 1, "crm_companies": 2}
LOWEST_PRIORITY = 3


@dataclass(frozen=True)
class Pending:
    """A write about to be sent, with the failed tries it already has behind it."""

    write: ObjectWrite
    attempts: int = 0
    retried: bool = False


class BatchSink:
    """Buffers records per stream in two stages, both bounded by `batch_size`.

    Candidates wait for one batched lookup of their hash and queue entry; records that changed wait
    for the upsert, so every call carries a full batch even when most records are unchanged. `flush`
    empties both stages and must run before a STATE message is acknowledged: afterwards every record
    before it is accepted, on the retry queue, deferred on it, or dead-lettered.

    When `staging` is on (the daily budget cannot cover a full run), changed records go to the queue
    as `deferred` instead of the CRM, to be sent in priority order by `send_due`.
    """

    def __init__(
        self,
        crm: CrmModule,
        store: StateStore,
        *,
        batch_size: int,
        policy: RetryPolicy | None = None,
        now: datetime | None = None,
        planner: Callable[[str, Sequence[ObjectWrite]], bool] | None = None,
    ) -> None:
        self._crm = crm
        self._store = store
        self._batch_size = batch_size
        self._policy = policy or RetryPolicy()
        self._now = now or store.now  # the run's start: what is due is decided against it
        self._candidates: dict[str, list[ObjectWrite]] = {}
        self._outgoing: dict[str, dict[str, Pending]] = {}
        self._messages: list[AirbyteMessage] = []
        # Asked once, before the first send, with the stream and the writes about to go: stage this run's writes?
        self._planner = planner
        self.staging = False
        self.unreachable: str | None = None  # set after the CRM could not be reached: stop calling it
        self.over_budget: str | None = None
        self.counts = RunCounts()

    def add(self, stream: str, record: Mapping[str, Any]) -> None:
        """Take one record; may flush that stream's buffers when they fill."""
        self.counts.received += 1
        try:
            write = self._crm.map_record(stream, record)
        except RecordRejected as exc:
            self.counts.failed += 1
            self._log(Level.WARN, str(exc))
            return
        candidates = self._candidates.setdefault(stream, [])
        candidates.append(write)
        if len(candidates) >= self._batch_size:
            self._diff(stream)

    def flush(self) -> None:
        """Send (or queue) everything buffered, parents' streams first."""
        for stream in sorted(self._candidates.keys() | self._outgoing.keys(), key=self._stream_order):
            self._diff(stream)
            self._send(stream)

    def send_due(self) -> None:
        """Send queued and deferred writes that are due, most urgent first, while the CRM and the budget allow."""
        target = self._crm.target
        self._store.prioritise(target)
        while not (self.unreachable or self.over_budget):
            entries = self._store.due_batch(target, self._now, self._batch_size)
            if not entries:
                return
            stream = entries[0].write.stream
            stored = self._store.stored_objects(target, stream, [e.write.external_id for e in entries])
            pending = [
                Pending(
                    replace(e.write, crm_id=stored[e.write.external_id].crm_id)
                    if e.write.external_id in stored
                    else replace(e.write, crm_id=None),
                    e.attempts,
                    retried=e.status == QUEUED,
                )
                for e in entries
            ]
            self._call(stream, pending)

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
        target = self._crm.target
        ids = {w.external_id for w in candidates}
        stored = self._store.stored_objects(target, stream, ids)
        queued = self._store.queue_entries(target, stream, ids)
        stale: list[str] = []
        for candidate in candidates:
            known = stored.get(candidate.external_id)
            entry = queued.get(candidate.external_id)
            attempts = 0
            if entry is not None and entry.write.content_hash == candidate.content_hash:
                if entry.status == DEAD:
                    self.counts.in_dead_letters += 1  # resent only after an operator's replay
                    continue
                if entry.status == QUEUED and entry.next_attempt_at > self._now:
                    continue  # waits for its retry; counted with the queue at the end of the run
                attempts = entry.attempts
            elif known is not None and known.content_hash == candidate.content_hash:
                self.counts.unchanged += 1
                if entry is not None:
                    stale.append(candidate.external_id)  # the CRM already holds this content
                continue
            write = replace(candidate, crm_id=known.crm_id) if known is not None else candidate
            if write.dedupe_key in self._outgoing.get(stream, {}):
                self._send(stream)  # one batch may not address the same object twice
            outgoing = self._outgoing.setdefault(stream, {})
            outgoing[write.dedupe_key] = Pending(write, attempts, retried=entry is not None and attempts > 0)
            if len(outgoing) >= self._batch_size:
                self._send(stream)
        self._store.dequeue(target, stream, stale)

    def _send(self, stream: str) -> None:
        pending = list(self._outgoing.pop(stream, {}).values())
        if not pending:
            return
        if self._planner is not None:
            self._plan(stream, [p.write for p in pending])
        if self.staging or self.over_budget:
            self._defer(pending)
        elif self.unreachable:
            self._queue_untried(pending)
        else:
            self._call(stream, pending)

    def _plan(self, stream: str, writes: list[ObjectWrite]) -> None:
        planner, self._planner = self._planner, None
        if planner is None:
            return
        try:
            self.staging = planner(stream, writes)
        except BudgetExhausted as spent:
            self.over_budget = str(spent)
        except AirbyteTracedException as failed:
            if failed.failure_type == FailureType.config_error:
                raise
            self.unreachable = f"CRM unreachable: {failed.message}"

    def _call(self, stream: str, pending: list[Pending]) -> None:
        outcomes = self._crm.upsert(stream, [p.write for p in pending])
        by_id = {p.write.external_id: p for p in pending}
        accepted: list[Accepted] = []
        failed: list[QueueEntry] = []
        deferred: list[Pending] = []
        for outcome in outcomes:
            item = by_id[outcome.write.external_id]
            if outcome.deferred:
                self.over_budget = outcome.error
                deferred.append(item)
                continue
            self.counts.sent += 1
            self.counts.retried += item.retried
            if outcome.accepted:
                accepted.append(self._accept(outcome))
            else:
                failed.append(self._fail(item, outcome))
        self._store.remember(self._crm.target, accepted)
        self._store.enqueue(self._crm.target, failed)
        self._defer(deferred)

    def _accept(self, outcome: WriteOutcome) -> Accepted:
        if outcome.created:
            self.counts.created += 1
        else:
            self.counts.updated += 1
        write = outcome.write
        return Accepted(write.stream, write.external_id, str(outcome.crm_id), write.content_hash, write.links)

    def _fail(self, item: Pending, outcome: WriteOutcome) -> QueueEntry:
        """A write the CRM refused or could not take: back on the queue on the schedule, or dead-lettered."""
        self.counts.failed += 1
        if outcome.error_category == UNREACHABLE:
            self.unreachable = outcome.error
        attempts = item.attempts + 1
        retry_at = self._policy.next_attempt(attempts, self._now)
        if retry_at is None:
            self.counts.dead_lettered += 1
            where = f"dead-lettered after {attempts} attempts: replay it with `store2crm dead-letters replay`"
        else:
            where = f"retry {attempts} of {len(self._policy.schedule)} at {retry_at.isoformat()}"
        write = outcome.write
        self._log(Level.WARN, f"{write.stream} record {write.external_id} failed: {outcome.error} ({where})")
        return self._entry(
            item.write, DEAD if retry_at is None else QUEUED, attempts, retry_at or self._now, outcome.error
        )

    def _defer(self, pending: list[Pending]) -> None:
        """Hold writes back for the budget: durable, due at once, sent first when quota allows."""
        entries = [self._entry(p.write, DEFERRED, p.attempts, self._now, self.over_budget) for p in pending]
        self._store.enqueue(self._crm.target, entries)

    def _queue_untried(self, pending: list[Pending]) -> None:
        """The CRM went unreachable earlier in this run: queue the rest untried, no attempt spent."""
        retry_at = self._policy.next_attempt(1, self._now) or self._now
        entries = [self._entry(p.write, QUEUED, p.attempts, retry_at, self.unreachable) for p in pending]
        self._store.enqueue(self._crm.target, entries)

    def _entry(self, write: ObjectWrite, status: str, attempts: int, due: datetime, error: str | None) -> QueueEntry:
        touches = self._crm.touches(write)
        return QueueEntry(
            write=write,
            status=status,
            attempts=attempts,
            next_attempt_at=due,
            last_error=error,
            priority=STREAM_PRIORITY.get(write.stream, LOWEST_PRIORITY),
            stream_rank=self._stream_order(write.stream),
            touches=touches,
        )

    def _log(self, level: Level, text: str) -> None:
        self._messages.append(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=level, message=text)))
