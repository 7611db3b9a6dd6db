"""What every store dialect receives and provides."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pendulum

from store2crm.sandbox.server import Response
from store2crm.sandbox.store_emulator.faults import Fault, FaultInjector

if TYPE_CHECKING:
    from store2crm.sandbox.server import Request

MalformedPick = Callable[[str, Any], "str | None"]


def utc_now() -> pendulum.DateTime:
    """The default emulator clock."""
    return pendulum.now("UTC")


class RawResponse(Response):
    """A response whose body is sent as bytes (JSONL files), not encoded as JSON."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(status, body)
        self.content_type = content_type


@dataclass(frozen=True)
class DialectSettings:
    """Store-side settings every dialect receives: credentials, timezone, clock, faults and its own options.

    `lock` is the emulator's request lock: a dialect that reads the dataset outside a request
    (Shopify's background bulk exports) holds it while it does.
    """

    consumer_key: str
    consumer_secret: str
    site_timezone: str = "UTC"
    clock: Callable[[], pendulum.DateTime] = utc_now
    faults: FaultInjector = field(default_factory=FaultInjector)
    options: Mapping[str, Any] = field(default_factory=dict)
    lock: AbstractContextManager[Any] = field(default_factory=threading.Lock)


class Dialect(Protocol):
    """A store platform's API over a Dataset; the emulator serialises calls with its lock."""

    name: str

    def handle(self, request: Request, base_url: str) -> Response:
        """Answer one request addressed to the platform's API."""
        ...

    def describe(self, base_url: str) -> str:
        """One line telling a user where the store is and how to authenticate."""
        ...

    def is_api_call(self, request: Request) -> bool:
        """Whether the request is an API call that faults apply to (not a file download)."""
        ...

    def fault_response(self, fault: Fault, request: Request, retry_after: int) -> Response:
        """The platform's answer for an injected 5xx, 503 downtime or 429 throttle."""
        ...

    def malform(self, request: Request, response: Response, pick: MalformedPick) -> None:
        """Break, in place, the records of a list response that `pick(stream, id)` names."""
        ...
