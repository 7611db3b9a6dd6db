"""What every store dialect receives and provides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from store2crm.sandbox.server import Request, Response


@dataclass(frozen=True)
class DialectSettings:
    """Store-side settings every dialect receives: credentials and the site's timezone."""

    consumer_key: str
    consumer_secret: str
    site_timezone: str = "UTC"


class Dialect(Protocol):
    """A store platform's API over a Dataset; the emulator serialises calls with its lock."""

    name: str

    def handle(self, request: Request, base_url: str) -> Response:
        """Answer one request addressed to the platform's API."""
        ...

    def describe(self, base_url: str) -> str:
        """One line telling a user where the store is and how to authenticate."""
        ...
