"""Streams read side by side: airbyte-cdk's own read loop for each stream, in a bounded pool of threads.

Every configured stream is read by `AbstractSource.read` over a one-stream catalog, exactly as
the CDK reads it serially (stream status, a STATE per page, `meta.changes`, its error trace), in
one of `workers` threads. Their messages meet in one bounded queue: a stream's own messages keep
their order (one thread writes them, one queue carries them), so each STATE still follows every
record of its stream before it, whatever the other streams interleave; and a full queue makes the
readers wait, so memory stays flat. A failed stream does not stop the others: the read ends with
the CDK's combined failure naming every failed stream once all streams are done. Closing the
generator (the consumer stopped, Ctrl-C) stops the readers at their next message.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.exception_handler import generate_failed_streams_error_message
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    FailureType,
    StreamDescriptor,
    TraceType,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.message import InMemoryMessageRepository, MessageRepository
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

MESSAGE_QUEUE_SIZE = 500
"""Messages waiting for the consumer, all streams together; readers wait while it is full."""

PUT_POLL_SECONDS = 0.1
"""How often a reader waiting on a full queue checks whether the read was stopped."""

STOP_GRACE_SECONDS = 30.0
"""How long a stopped read waits for readers to finish the request they are in."""

THREAD_NAME = "source-store-stream"


@dataclass(frozen=True)
class _StreamEnded:
    """A reader's last word on one stream: None, or the exception its read ended with."""

    stream: str
    error: BaseException | None


class _OneStreamSource(AbstractSource):
    """The CDK's `AbstractSource` over one already-built stream, so its read loop runs for that stream alone.

    The stream instance is shared with the parent source (and with it the store's request budget);
    the message repository is this reader's own, so no thread drains another's queued messages.
    """

    def __init__(self, name: str, stream: Stream | None) -> None:
        super().__init__()
        self._name = name
        self._stream = stream
        self._repository = InMemoryMessageRepository()

    @property
    def name(self) -> str:
        """The parent source's name and the stream's (used in the CDK's log lines)."""
        return self._name

    @property
    def message_repository(self) -> MessageRepository:
        """The repository of this reader alone."""
        return self._repository

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """Never called: the parent source checks the connection."""
        raise NotImplementedError("a one-stream reader does not check connections")

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        """The one stream (none when the platform does not offer it: the CDK then marks it INCOMPLETE)."""
        return [self._stream] if self._stream is not None else []


class ConcurrentStreamReader:
    """Reads the streams of a catalog `workers` at a time and merges their messages into one iterator."""

    def __init__(self, source_name: str, streams: Mapping[str, Stream], workers: int) -> None:
        self._source_name = source_name
        self._streams = dict(streams)
        self._workers = workers
        self._messages: queue.Queue[AirbyteMessage | _StreamEnded] = queue.Queue(maxsize=MESSAGE_QUEUE_SIZE)
        self._pending: queue.SimpleQueue[ConfiguredAirbyteStream] = queue.SimpleQueue()
        self._stop = threading.Event()

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None,
    ) -> Iterator[AirbyteMessage]:
        """Every message of every configured stream; raises the CDK's combined failure when a stream failed."""
        for configured in catalog.streams:
            self._pending.put(configured)
        threads = [
            threading.Thread(
                target=self._work, args=(logger, config, state), name=f"{THREAD_NAME}-{number}", daemon=True
            )
            for number in range(min(self._workers, len(catalog.streams)))
        ]
        logger.info(f"Reading {len(catalog.streams)} streams, {len(threads)} at a time")
        failures: dict[str, AirbyteTracedException] = {}
        for thread in threads:
            thread.start()
        try:
            yield from self._merge(len(catalog.streams), failures)
        finally:
            self._stop_readers(threads, logger)
        _raise_if_failed([configured.stream.name for configured in catalog.streams], failures, logger)
        logger.info(f"Finished syncing {self._source_name}")

    def _merge(self, streams: int, failures: dict[str, AirbyteTracedException]) -> Iterator[AirbyteMessage]:
        """Hand on the readers' messages in the order they arrive until every stream has ended."""
        while streams:
            item = self._messages.get()
            if isinstance(item, _StreamEnded):
                streams -= 1
                yield from _report_unexpected_end(item, failures)
                continue
            _note_failure(item, failures)
            yield item

    def _work(self, logger: logging.Logger, config: Mapping[str, Any], state: list[AirbyteStateMessage] | None) -> None:
        """One reader thread: take the next pending stream and read it, until none is left or the read stops."""
        while not self._stop.is_set():
            try:
                configured = self._pending.get_nowait()
            except queue.Empty:
                return
            error = self._read_stream(configured, logger, config, state)
            if not self._put(_StreamEnded(configured.stream.name, error)):
                return

    def _read_stream(
        self,
        configured: ConfiguredAirbyteStream,
        logger: logging.Logger,
        config: Mapping[str, Any],
        state: list[AirbyteStateMessage] | None,
    ) -> BaseException | None:
        """Run the CDK's read loop for one stream, passing each message on; the exception it ended with, if any."""
        name = configured.stream.name
        source = _OneStreamSource(f"{self._source_name} {name}", self._streams.get(name))
        messages = source.read(logger, config, ConfiguredAirbyteCatalog(streams=[configured]), state)
        try:
            for message in messages:
                if not self._put(message):
                    break
        except Exception as error:  # reported for this stream; the other streams go on
            return error
        finally:
            messages.close()
        return None

    def _put(self, item: AirbyteMessage | _StreamEnded) -> bool:
        """Queue `item`, waiting while the queue is full; False once the read was stopped."""
        while not self._stop.is_set():
            try:
                self._messages.put(item, timeout=PUT_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def _stop_readers(self, threads: list[threading.Thread], logger: logging.Logger) -> None:
        """Tell the readers to stop and wait (a bounded time) for them to finish the request they are in."""
        self._stop.set()
        for thread in threads:
            thread.join(STOP_GRACE_SECONDS)
        busy = [thread.name for thread in threads if thread.is_alive()]
        if busy:
            logger.warning(f"{', '.join(busy)} still finishing a request after the read stopped")


def _note_failure(message: AirbyteMessage, failures: dict[str, AirbyteTracedException]) -> None:
    """Remember the failure a stream's error trace reports, for the combined failure at the end."""
    if message.type != Type.TRACE or message.trace is None or message.trace.type != TraceType.ERROR:
        return
    error = message.trace.error
    if error is None or error.stream_descriptor is None:
        return
    failures[error.stream_descriptor.name] = AirbyteTracedException(
        internal_message=error.internal_message, message=error.message, failure_type=error.failure_type
    )


def _report_unexpected_end(
    ended: _StreamEnded, failures: dict[str, AirbyteTracedException]
) -> Iterator[AirbyteMessage]:
    """A stream that ended with an exception but no error trace of its own gets one now.

    A stream failing inside the CDK's loop has already sent its trace; the exception then is the
    CDK's one-stream summary and adds nothing.
    """
    if ended.error is None or ended.stream in failures:
        return
    descriptor = StreamDescriptor(name=ended.stream)
    failure = AirbyteTracedException.from_exception(ended.error, stream_descriptor=descriptor)
    failures[ended.stream] = failure
    yield failure.as_sanitized_airbyte_message(stream_descriptor=descriptor)


def _raise_if_failed(names: list[str], failures: Mapping[str, AirbyteTracedException], logger: logging.Logger) -> None:
    """The CDK's ending for a read where streams failed: one config-error trace naming them all, in catalog order."""
    if not failures:
        return
    message = generate_failed_streams_error_message({name: [failures[name]] for name in names if name in failures})
    logger.info(message)
    raise AirbyteTracedException(message=message, failure_type=FailureType.config_error)
