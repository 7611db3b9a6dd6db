"""What every CRM module provides: record mapping, batch upsert, a connection check."""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from destination_crm.quota import calls_for

# error_category of outcomes the CRM never judged: the daily budget ran out, or the CRM could not be reached.
OVER_BUDGET = "DAILY_BUDGET"
UNREACHABLE = "UNREACHABLE"


class RecordRejected(ValueError):
    """A record that cannot be mapped to a CRM object; the message names the field at fault."""


@dataclass(frozen=True)
class Link:
    """An association between two objects, named by stream and external id; the CRM ids come later."""

    from_stream: str
    from_external_id: str
    to_stream: str
    to_external_id: str
    type_id: int


@dataclass(frozen=True)
class ObjectWrite:
    """One record mapped to a CRM object, ready to upsert."""

    stream: str
    external_id: str
    id_value: str
    properties: Mapping[str, str]
    content_hash: str
    crm_id: str | None = None  # set when the CRM already holds this object: update it by id
    links: tuple[Link, ...] = ()

    @property
    def dedupe_key(self) -> str:
        """Two writes with the same key address the same CRM object (CRM ids compare case-insensitively)."""
        return self.id_value.casefold()


@dataclass(frozen=True)
class WriteOutcome:
    """What the CRM answered for one write: its CRM id (and whether it was new), or an error."""

    write: ObjectWrite
    crm_id: str | None = None
    created: bool = False
    error: str | None = None
    error_category: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the CRM stored the object."""
        return self.error is None

    @property
    def deferred(self) -> bool:
        """True when the write was held back to stay inside the daily budget (never sent)."""
        return self.error_category == OVER_BUDGET


@dataclass(frozen=True)
class ResolvedLink:
    """A link whose two ends the CRM holds, by CRM id."""

    link: Link
    from_crm_id: str
    to_crm_id: str


def content_hash(id_value: str, properties: Mapping[str, str]) -> str:
    """Stable hash of what would be sent for one object: equal hashes mean nothing to send."""
    canonical = json.dumps({"id": id_value, "properties": properties}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CrmModule(ABC):
    """A CRM dialect: maps the crm_* streams to its objects and upserts them in batches."""

    name: ClassVar[str]
    batch_cap: ClassVar[int]
    writes_associations: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        sleep: Callable[[float], None],
        logger: logging.Logger,
        clock: Callable[[], float],
    ) -> CrmModule:
        """Build from the destination config; raise AirbyteTracedException (config_error) naming what is wrong."""

    @property
    @abstractmethod
    def target(self) -> str:
        """Names the CRM account written to, so sync state of two accounts never mixes."""

    @property
    @abstractmethod
    def streams(self) -> tuple[str, ...]:
        """The streams this CRM module can write."""

    @property
    @abstractmethod
    def api_calls(self) -> int:
        """HTTP requests sent so far (retries included)."""

    @property
    @abstractmethod
    def quota_remaining(self) -> int | None:
        """The CRM's remaining daily request quota as last reported, None when never reported."""

    @abstractmethod
    def check(self) -> None:
        """Make one cheap authenticated call; raise AirbyteTracedException saying what to fix."""

    @abstractmethod
    def map_record(self, stream: str, record: Mapping[str, Any]) -> ObjectWrite:
        """Map one record of `stream`; raise RecordRejected naming the field at fault."""

    @abstractmethod
    def upsert(self, stream: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        """Create or update up to `batch_cap` objects of `stream`; one outcome per write.

        Budget exhaustion and an unreachable CRM come back as outcomes (OVER_BUDGET, UNREACHABLE);
        only configuration errors raise.
        """

    def prepare(self, stream: str) -> None:
        """Set up what writing `stream` needs (custom properties); learns the quota on the way."""
        return None

    def daily_available(self) -> int | None:
        """Calls the run may still make today (remaining quota minus the reserve); None when unknown."""
        return None

    def setup_calls(self) -> int:
        """Calls the run still has to spend before writing (property or limit reads), for the budget planner."""
        return 0

    def planned_calls(self, stream: str, records: int, batch_size: int, sample: Sequence[ObjectWrite] = ()) -> int:
        """Calls that writing `records` changed records of `stream`, handed over `batch_size` at a time, may take.

        An upper bound for the budget planner: too high only stages a run that would have fitted (it
        still goes out, in priority order); too low lets the streams sent first spend the day's budget
        before the deals. `sample` holds writes about to be sent, for CRMs whose cost depends on them.
        """
        return calls_for(records, batch_size)

    def touches(self, write: ObjectWrite) -> tuple[str, ...]:
        """External ids of the objects a write refers to (a deal's contact and company): sent with it when first."""
        return tuple(link.to_external_id for link in write.links if link.from_external_id == write.external_id)

    def associate(self, links: list[ResolvedLink]) -> list[str | None]:
        """Create up to `batch_cap` associations of one stream pair; an error text or None per link.

        Raise BudgetExhausted when the daily budget has no room for the call.
        """
        raise NotImplementedError(f"{self.name} does not write associations")
