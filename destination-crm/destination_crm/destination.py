"""The Airbyte destination: spec, check and write of the crm_* streams into a CRM."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import duckdb
import orjson
import pendulum
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    FailureType,
    Level,
    Status,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.associations import send_links
from destination_crm.crms import build_crm
from destination_crm.crms.base import CrmModule, ObjectWrite
from destination_crm.http import Sleep
from destination_crm.retry import RetryPolicy
from destination_crm.sink import BatchSink
from destination_crm.state_store import DEFERRED, QUEUED, Clock, RunCounts, StateStore

DEFAULT_SYNC_STATE_PATH = "store2crm-sync-state.duckdb"
# `store2crm load` finds the run's counts by this prefix on a LOG message.
SUMMARY_PREFIX = "store2crm-summary "


class DestinationCrm(Destination):
    """Upserts crm_companies, crm_contacts and crm_deals into the configured CRM."""

    def __init__(
        self,
        *,
        sleep: Sleep = time.sleep,
        now: Clock = lambda: pendulum.now("UTC"),
        after_accept: Callable[[], None] | None = None,
    ) -> None:
        self._sleep = sleep
        self._now = now
        # Test hook, called after the CRM accepted a batch and before the store saves it (crash tests).
        self._after_accept = after_accept
        self._raw_states: dict[int, dict[str, Any]] = {}

    def run(self, args: list[str]) -> None:
        """As the CDK's run, but STATE messages go back out exactly as they came in, unknown fields kept."""
        for message in self.run_cmd(self.parse_args(args)):
            raw = self._raw_states.pop(id(message), None)
            print(orjson.dumps(raw if raw is not None else AirbyteMessageSerializer.dump(message)).decode())

    def _parse_input_stream(self, input_stream: io.TextIOWrapper) -> Iterable[AirbyteMessage]:
        """Parse stdin, keeping each STATE line's JSON so fields the CDK's model drops are echoed too."""
        for line in input_stream:
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError:
                logging.getLogger("airbyte").info("ignoring input that is not an Airbyte message: %.200s", line)
                continue
            message = AirbyteMessageSerializer.load(raw)
            if message.type == Type.STATE:
                self._raw_states[id(message)] = raw
            yield message

    def _clock_seconds(self) -> float:
        return self._now().timestamp()

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Open the sync-state store and make one authenticated CRM call; say what is wrong if either fails."""
        try:
            crm = build_crm(config, sleep=self._sleep, logger=logger, clock=self._clock_seconds)
            batch_size(config, crm)
            RetryPolicy.from_config(config)
            open_store(config, self._now).close()
            crm.check()
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        """Upsert the records; echo each STATE once every record before it is accepted, queued or dead-lettered.

        Then send what the retry queue holds that is due (and what this run deferred for the budget),
        in priority order, and create the new associations.
        """
        logger = logging.getLogger("airbyte")
        crm = build_crm(config, sleep=self._sleep, logger=logger, clock=self._clock_seconds)
        size = batch_size(config, crm)
        policy = RetryPolicy.from_config(config)
        require_supported_streams(configured_catalog, crm)
        with open_store(config, self._now) as store:
            if self._after_accept is not None:
                store.before_remember = self._after_accept
            run_id = store.start_run(crm.target)
            planner = BudgetPlanner(crm, store, size)
            sink = BatchSink(crm, store, batch_size=size, policy=policy, planner=planner)
            try:
                for message in input_messages:
                    if message.type == Type.RECORD and message.record is not None:
                        sink.add(message.record.stream, message.record.data)
                    elif message.type == Type.STATE:
                        sink.flush()
                        yield from sink.drain_messages()
                        yield message
                    yield from sink.drain_messages()
                sink.flush()
                yield from planner.messages()
                if store.queue_counts(crm.target).get(QUEUED, 0) + store.queue_counts(crm.target).get(DEFERRED, 0):
                    sink.send_due()
                yield from sink.drain_messages()
                if not (sink.unreachable or sink.over_budget):
                    send_links(crm, store, sink.counts, policy=policy, warn=lambda text: sink_warn(sink, text))
                yield from sink.drain_messages()
            except Exception as exc:
                store.finish_run(run_id, final_counts(sink, crm, store), error=str(exc))
                raise
            counts = final_counts(sink, crm, store)
            store.finish_run(run_id, counts)
        yield from closing_messages(counts, sink)
        yield summary_message(counts)


def batch_size(config: Mapping[str, Any], crm: CrmModule) -> int:
    """The configured batch size, at most the CRM's cap (the cap when unset)."""
    size = config.get("batch_size") or crm.batch_cap
    if not isinstance(size, int) or not 1 <= size <= crm.batch_cap:
        raise AirbyteTracedException(
            message=f"batch_size must be a whole number from 1 to {crm.batch_cap} for {crm.name}, got {size!r}",
            failure_type=FailureType.config_error,
        )
    return size


def open_store(config: Mapping[str, Any], now: Clock) -> StateStore:
    """Open the sync-state store the config names (a DuckDB file in the working directory by default)."""
    path = config.get("sync_state_path") or DEFAULT_SYNC_STATE_PATH
    try:
        return StateStore(path, now=now)
    except (duckdb.Error, OSError) as exc:
        raise AirbyteTracedException(
            message=f"cannot open the sync-state store at sync_state_path {path!r}: {exc}",
            failure_type=FailureType.config_error,
        ) from exc


def require_supported_streams(catalog: ConfiguredAirbyteCatalog, crm: CrmModule) -> None:
    """Fail before writing anything when the catalog holds a stream the CRM module cannot map."""
    unknown = sorted({s.stream.name for s in catalog.streams} - set(crm.streams))
    if unknown:
        raise AirbyteTracedException(
            message=f"{crm.name} cannot write stream(s) {', '.join(unknown)}: it writes {', '.join(crm.streams)}",
            failure_type=FailureType.config_error,
        )


def final_counts(sink: BatchSink, crm: CrmModule, store: StateStore) -> RunCounts:
    """The sink's counts with what waits on the queue, the CRM's final call count and its quota."""
    waiting = store.queue_counts(crm.target)
    sink.counts.queued_for_retry = waiting.get(QUEUED, 0)
    sink.counts.deferred = waiting.get(DEFERRED, 0)
    sink.counts.api_calls = crm.api_calls
    sink.counts.quota_remaining = crm.quota_remaining
    return sink.counts


def sink_warn(sink: BatchSink, text: str) -> None:
    """A WARN line through the sink's message buffer."""
    sink._log(Level.WARN, text)


def closing_messages(counts: RunCounts, sink: BatchSink) -> list[AirbyteMessage]:
    """Say plainly what waits for the next run: deferred writes, retries, an unreachable CRM."""
    lines: list[tuple[Level, str]] = []
    if counts.deferred:
        lines.append(
            (
                Level.WARN,
                f"{counts.deferred} record(s) deferred to the next quota window "
                f"({sink.over_budget or 'daily budget'}); "
                "the next run sends them first, transactional changes before segments and scores",
            )
        )
    if counts.queued_for_retry:
        lines.append((Level.INFO, f"{counts.queued_for_retry} record(s) wait on the retry queue for a later run"))
    if sink.unreachable:
        lines.append((Level.WARN, f"stopped calling the CRM for this run: {sink.unreachable}"))
    return [log(level, line) for level, line in lines]


def log(level: Level, text: str) -> AirbyteMessage:
    """One LOG message."""
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=level, message=text))


class BudgetPlanner:
    """Before the first send: can today's budget cover a full resync? If not, stage and send by priority.

    A full resync is every object the store knows (synced or queued) per stream, or the writes about
    to go when they are more, costed by the CRM module (`planned_calls`: its write batches, association
    passes, hierarchy levels and bulk jobs), plus the setup calls still to come. What is left today
    (the remaining daily quota minus the reserve) is learnt from the first stream's setup call.
    """

    def __init__(self, crm: CrmModule, store: StateStore, batch_size: int) -> None:
        self._crm = crm
        self._store = store
        self._batch_size = batch_size
        self._lines: list[AirbyteMessage] = []

    def __call__(self, stream: str, pending: Sequence[ObjectWrite] = ()) -> bool:
        """True when this run should stage its writes on the queue and send them in priority order."""
        self._crm.prepare(stream)
        available = self._crm.daily_available()
        if available is None:
            return False
        needed = self.full_run_calls(stream, pending)
        if available >= needed:
            return False
        self._lines.append(
            log(
                Level.WARN,
                f"daily budget: {available} calls left after the reserve, a full run may need {needed}: "
                "staging the changes and sending deals and the contacts and companies they touch first, "
                "then contacts, then companies",
            )
        )
        return True

    def full_run_calls(self, stream: str, pending: Sequence[ObjectWrite]) -> int:
        """Calls a resync of everything known (and of `pending`, the writes of `stream` about to go) may take."""
        known = self._store.known_counts(self._crm.target)
        records = {name: known.get(name, 0) for name in self._crm.streams}
        records[stream] = max(records.get(stream, 0), len(pending))
        planned = sum(
            self._crm.planned_calls(name, count, self._batch_size, pending if name == stream else ())
            for name, count in records.items()
        )
        return self._crm.setup_calls() + planned

    def messages(self) -> list[AirbyteMessage]:
        """What the planner decided, once."""
        lines, self._lines = self._lines, []
        return lines


def summary_message(counts: RunCounts) -> AirbyteMessage:
    """One LOG line `store2crm-summary {json}` with the run's counts."""
    return log(Level.INFO, SUMMARY_PREFIX + json.dumps(counts.as_dict(), separators=(",", ":")))
