"""Shopify bulk operations: run (or adopt) one bulk query, poll it to completion, stream its JSONL back as nodes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.platforms.shopify_queries import BULK_BY_ID, POLL_BULK, RUN_BULK

GraphQL = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""Send one GraphQL operation; returns its `data`."""

# Nested connection a bulk child row belongs to, by the type in its global id (child rows carry
# only `__parentId`, never the field they came from).
CHILD_FIELDS = {
    "LineItem": "lineItems",
    "AbandonedCheckoutLineItem": "lineItems",
    "ProductVariant": "variants",
    "CompanyLocation": "locations",
    "CompanyContact": "contacts",
}
ACTIVE = frozenset({"CREATED", "RUNNING", "CANCELING"})
FINAL_FAILURES = frozenset({"FAILED", "CANCELED", "EXPIRED"})
MAX_POLLS = 10_000  # with the default 5 s poll interval: about 14 hours, beyond any bulk export we make
MAX_FOREIGN_WAITS = 20  # other exports waited out before giving up on starting ours
# userErrors message when the shop already runs the app's bulk query (or, from 2026-01, five of them):
# "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/1."
ALREADY_IN_PROGRESS = "already in progress"
OPERATION_GID_RE = re.compile(r"gid://shopify/BulkOperation/\d+")
BY_ID_SINCE = "2026-01"  # API version that added `bulkOperation(id:)` (and up to five bulk queries per shop)


class BulkExportError(AirbyteTracedException):
    """A bulk operation Shopify refused, failed or lost."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


def has_bulk_operation_by_id(api_version: str) -> bool:
    """Whether `api_version` has `bulkOperation(id:)` and runs up to five bulk queries per shop."""
    return api_version == "unstable" or api_version >= BY_ID_SINCE


def same_query(left: str | None, right: str) -> bool:
    """Two bulk query documents are the same export when they differ at most in whitespace."""
    return left is not None and left.split() == right.split()


@dataclass
class BulkRunner:
    """Runs one bulk query to completion, adopting the same export when Shopify already runs it.

    `bulkOperationRunQuery` fails with "already in progress" when the app's bulk query slot for the
    shop is taken: by our own earlier attempt whose answer was lost (the HTTP client sent the
    mutation again), by an export a killed sync left running, or by another run of the app. When
    the running operation exports exactly our query we adopt it (it is the export we asked for);
    otherwise we wait, polling, until it ends and start ours. We never cancel it: whoever started it
    (another sync of this shop, another deployment with the same app token) may still want it, and
    an orphaned export of ours ends on its own and may be adopted by the stream that wants it.
    """

    graphql: GraphQL
    sleep: Callable[[float], None]
    poll_seconds: float
    logger: logging.Logger
    by_id: bool = False

    def run(self, query: str) -> str | None:
        """Start (or adopt) the export of `query` and poll it until it completes; the result URL (None: no rows)."""
        return self._await(self._start_or_adopt(query))

    def _start_or_adopt(self, query: str) -> str:
        """The id of the operation exporting `query`: a new one, or the same export already running."""
        for _ in range(MAX_FOREIGN_WAITS):
            started = self.graphql(RUN_BULK, {"query": query}).get("bulkOperationRunQuery") or {}
            errors = [str(error.get("message")) for error in started.get("userErrors") or []]
            operation = started.get("bulkOperation") or {}
            if not errors and operation.get("id"):
                self.logger.info(f"Shopify bulk operation {operation['id']} started")
                return str(operation["id"])
            busy = next((message for message in errors if ALREADY_IN_PROGRESS in message), None)
            if busy is None:
                raise BulkExportError(f"Shopify refused the bulk query: {'; '.join(errors) or 'no operation id'}")
            running = self._running(busy)
            if running.get("id") and same_query(running.get("query"), query):
                self.logger.info(f"Shopify bulk operation {running['id']} already exports this query; adopting it")
                return str(running["id"])
            self._wait_out(running)
        raise BulkExportError(
            f"Shopify kept another bulk query of this app running through {MAX_FOREIGN_WAITS} waits; "
            "the app's bulk query slot on this shop is taken, retry the sync later"
        )

    def _running(self, message: str) -> Mapping[str, Any]:
        """The operation that holds the slot: by the id Shopify names (2026-01+), else the current one."""
        named = OPERATION_GID_RE.search(message)
        if self.by_id and named is not None:
            return self.graphql(BULK_BY_ID, {"id": named.group(0)}).get("bulkOperation") or {}
        return self.graphql(POLL_BULK, {}).get("currentBulkOperation") or {}

    def _wait_out(self, running: Mapping[str, Any]) -> None:
        """Poll another export until it leaves CREATED/RUNNING/CANCELING (it may already have)."""
        if not running.get("id"):
            self.sleep(self.poll_seconds)  # ended between the refusal and the look-up: try again
            return
        self.logger.info(
            f"Shopify bulk operation {running['id']} (another export of this app) holds the bulk query slot; "
            "waiting for it to end before starting ours"
        )
        status = running.get("status")
        for _ in range(MAX_POLLS):
            if status not in ACTIVE:
                return
            self.sleep(self.poll_seconds)
            status = self._poll(str(running["id"])).get("status")
        raise BulkExportError(f"bulk operation {running['id']} did not end after {MAX_POLLS} polls")

    def _poll(self, operation_id: str) -> Mapping[str, Any]:
        """The operation's state: `bulkOperation(id:)` where the API has it, else `currentBulkOperation`."""
        if self.by_id:
            return self.graphql(BULK_BY_ID, {"id": operation_id}).get("bulkOperation") or {}
        current = self.graphql(POLL_BULK, {}).get("currentBulkOperation") or {}
        if current.get("id") != operation_id:
            raise BulkExportError(
                f"bulk operation {operation_id} is no longer the current one (another app run replaced it?)"
            )
        return current

    def _await(self, operation_id: str) -> str | None:
        """Poll until the operation completes; its result URL."""
        for _ in range(MAX_POLLS):
            current = self._poll(operation_id)
            status = current.get("status")
            if status == "COMPLETED":
                self.logger.info(
                    f"Shopify bulk operation {operation_id} completed: {current.get('objectCount')} objects"
                )
                return current.get("url")
            if status in FINAL_FAILURES:
                raise BulkExportError(
                    f"bulk operation {operation_id} ended {status} (errorCode {current.get('errorCode')})"
                )
            self.sleep(self.poll_seconds)
        raise BulkExportError(f"bulk operation {operation_id} did not complete after {MAX_POLLS} polls")


def reassemble(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """Root nodes with their children put back under `{field: {"nodes": [...]}}`.

    Shopify writes each child row after its parent's row, so one root tree is held at a time and
    memory stays flat however large the export.
    """
    current: dict[str, Any] | None = None
    tree: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line or not line.strip():
            continue
        row = json.loads(line)
        parent = row.pop("__parentId", None)
        if parent is None:
            if current is not None:
                yield current
            current, tree = row, {row.get("id"): row}
            continue
        owner = tree.get(parent)
        kind = str(row.get("id") or "").split("/")[-2:-1]
        field = CHILD_FIELDS.get(kind[0]) if kind else None
        if owner is None or field is None:
            raise BulkExportError(
                f"bulk result line {number}: child {row.get('id')!r} of {parent!r} cannot be placed "
                "(parent not the current root, or an unknown child type)"
            )
        owner.setdefault(field, {"nodes": []})["nodes"].append(row)
        tree[row.get("id")] = row
    if current is not None:
        yield current
