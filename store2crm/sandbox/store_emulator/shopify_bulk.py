"""Shopify bulk query operations: `bulkOperationRunQuery`, `currentBulkOperation` and the JSONL result file.

As on Shopify, the mutation only validates the query and starts the operation: the export runs
in the background, a batch of root nodes at a time under the store lock (so other requests are
served in between), and polls see it RUNNING with a growing `objectCount` until it is done.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pendulum
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)

from store2crm.sandbox.server import Response
from store2crm.sandbox.store_emulator.base import RawResponse
from store2crm.sandbox.store_emulator.shopify_payloads import gid
from store2crm.sandbox.store_emulator.shopify_schema import ROOT_CONNECTIONS

if TYPE_CHECKING:
    from store2crm.sandbox.store_emulator.shopify import ExecContext

# Real result files live in a signed storage bucket; the emulator serves them itself.
BULK_PATH_RE = re.compile(r"^/bulk-operation-results/(?P<id>\d+)\.jsonl$")
JSONL_CONTENT_TYPE = "application/jsonl"
# Root nodes exported per hold of the store lock: small enough that API calls arriving meanwhile
# wait a fraction of a second, large enough that the per-batch GraphQL overhead stays small.
EXPORT_BATCH = 100
EXPORT_FAILURE_CODE = "INTERNAL_SERVER_ERROR"
STOP_JOIN_SECONDS = 5.0  # how long stopping waits for an export thread to finish the batch it is in
# shopify.dev bulk operations: one bulk query at a time per app and shop before API 2026-01, five from it on
CONCURRENT_QUERIES_SINCE = "2026-01"
CONCURRENT_QUERIES = 5


def has_bulk_operation_by_id(api_version: str) -> bool:
    """`bulkOperation(id:)` exists, and up to five bulk queries run at once, from API 2026-01 on."""
    return api_version == "unstable" or api_version >= CONCURRENT_QUERIES_SINCE


def concurrent_queries(api_version: str) -> int:
    """Bulk query operations one app may run at once on one shop in `api_version`."""
    return CONCURRENT_QUERIES if has_bulk_operation_by_id(api_version) else 1


@dataclass
class BulkOperation:
    """One bulk query: its parsed document, the JSONL exported so far, and the polls left before it may complete."""

    number: int
    query: str
    document: DocumentNode
    root_key: str
    created_at: str
    polls_left: int
    result: bytearray = field(default_factory=bytearray)
    object_count: int = 0
    root_object_count: int = 0
    exported: bool = False
    error_code: str | None = None
    completed_at: str | None = None

    @property
    def export_ended(self) -> bool:
        """The background export has written its last row, or failed."""
        return self.exported or self.error_code is not None

    @property
    def running(self) -> bool:
        """Still exporting, or not yet polled as often as the emulator's `bulk_polls` asks."""
        return self.polls_left > 0 or not self.export_ended

    @property
    def status(self) -> str:
        """RUNNING, then COMPLETED or FAILED."""
        if self.completed_at is None:
            return "RUNNING"
        return "FAILED" if self.error_code else "COMPLETED"


class BulkOperations:
    """The bulk operations of the one app on this store (one query operation at a time)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        polls: int,
        clock: Callable[[], pendulum.DateTime],
        context: Callable[[], ExecContext],
        lock: AbstractContextManager[Any],
    ) -> None:
        self.schema = schema
        self.polls = polls
        self.clock = clock
        self.context = context
        self.lock = lock
        self.base_url = ""
        self.operations: dict[str, BulkOperation] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def _now(self) -> str:
        return self.clock().in_timezone("UTC").format("YYYY-MM-DDTHH:mm:ss[Z]")

    @property
    def stopping(self) -> bool:
        """`stop` was called: exports end after the batch they are in."""
        return self._stopping.is_set()

    def run(self, query: str, api_version: str = "2025-10") -> dict[str, Any]:
        """`bulkOperationRunQuery`: validate the query and start its export in the background.

        Refused, as Shopify refuses it, while the app already runs as many bulk queries on the shop
        as the API version allows (the message names the most recent one).
        """
        running = [operation for operation in self.operations.values() if operation.running]
        if len(running) >= concurrent_queries(api_version):
            message = f"A bulk query operation for this app and shop is already in progress: {_gid(running[-1])}."
            return {"bulkOperation": None, "userErrors": [{"field": None, "message": message, "code": None}]}
        try:
            document, root_key = self._validated(query)
        except GraphQLError as exc:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": exc.message, "code": "INVALID"}],
            }
        operation = BulkOperation(
            number=len(self.operations) + 1,
            query=query,
            document=document,
            root_key=root_key,
            created_at=self._now(),
            polls_left=self.polls,
        )
        self.operations[str(operation.number)] = operation
        thread = threading.Thread(
            target=self._export, args=(operation,), name=f"shopify-bulk-{operation.number}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return {"bulkOperation": {**self._node(operation), "status": "CREATED", "url": None}, "userErrors": []}

    def current(self, kind: str) -> dict[str, Any] | None:
        """`currentBulkOperation`: each poll counts toward `bulk_polls`; the last one after the export completes it."""
        latest = self._latest() if kind == "QUERY" else None
        return None if latest is None else self._polled(latest)

    def by_id(self, operation_id: str, api_version: str) -> dict[str, Any] | None:
        """`bulkOperation(id:)` (API 2026-01+): polled like `currentBulkOperation`; None for an unknown id."""
        if not has_bulk_operation_by_id(api_version):
            raise GraphQLError("Field 'bulkOperation' doesn't exist on type 'QueryRoot'")
        operation = self.operations.get(operation_id.rsplit("/", 1)[-1])
        return None if operation is None else self._polled(operation)

    def stop(self) -> None:
        """Stop every export still running (each ends after its current batch) and wait for their threads."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(STOP_JOIN_SECONDS)
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    def _polled(self, operation: BulkOperation) -> dict[str, Any]:
        """Count one poll toward `bulk_polls`; the first poll after the export ended completes the operation."""
        if operation.polls_left > 0:
            operation.polls_left -= 1
        if not operation.running and operation.completed_at is None:
            operation.completed_at = self._now()
        return self._node(operation)

    def download(self, number: str) -> Response:
        """The JSONL result file of a completed operation."""
        operation = self.operations.get(number)
        if operation is None or operation.status != "COMPLETED":
            return Response(404, {"errors": "Not Found"})
        return RawResponse(200, operation.result, JSONL_CONTENT_TYPE)

    def _latest(self) -> BulkOperation | None:
        return self.operations[str(len(self.operations))] if self.operations else None

    def _node(self, operation: BulkOperation) -> dict[str, Any]:
        done = operation.status == "COMPLETED"
        return {
            "id": _gid(operation),
            "status": operation.status,
            "errorCode": operation.error_code if operation.completed_at else None,
            "createdAt": operation.created_at,
            "completedAt": operation.completed_at,
            "objectCount": str(operation.object_count),
            "rootObjectCount": str(operation.root_object_count),
            "fileSize": str(len(operation.result)) if done else None,
            "url": f"{self.base_url}/bulk-operation-results/{operation.number}.jsonl" if done else None,
            "partialDataUrl": None,
            "query": operation.query,
            "type": "QUERY",
        }

    def _validated(self, query: str) -> tuple[DocumentNode, str]:
        """The parsed bulk query and the response key of its one top-level connection."""
        try:
            document = parse(query)
        except GraphQLError as exc:
            raise GraphQLError(f"Invalid bulk query: {exc.message}") from exc
        errors = validate(self.schema, document)
        if errors:
            raise GraphQLError(f"Invalid bulk query: {errors[0].message}")
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
        if operation.operation.value != "query" or len(roots) != 1 or roots[0].name.value not in ROOT_CONNECTIONS:
            raise GraphQLError("Bulk queries must contain exactly one top-level connection field.")
        return document, roots[0].alias.value if roots[0].alias else roots[0].name.value

    def _export(self, operation: BulkOperation) -> None:
        """Export the whole connection, one batch of root nodes per hold of the store lock, until done or stopped."""
        after: str | None = None
        try:
            while not operation.export_ended and not self._stopping.is_set():
                with self.lock:
                    after = self._export_batch(operation, after)
        except Exception:
            operation.error_code = EXPORT_FAILURE_CODE

    def _export_batch(self, operation: BulkOperation, after: str | None) -> str | None:
        """Append the JSONL rows of the next batch of root nodes after `after`; the cursor of the batch's end."""
        context = self.context()
        context.bulk = True
        context.bulk_batch = EXPORT_BATCH
        context.bulk_after = after
        result = execute_sync(self.schema, operation.document, context_value=context)
        if result.errors:
            operation.error_code = EXPORT_FAILURE_CODE
            return None
        top = connection_nodes((result.data or {})[operation.root_key])
        rows: list[dict[str, Any]] = []
        for node in top:
            _emit(node, None, rows)
        operation.result += b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        operation.object_count += len(rows)
        operation.root_object_count += len(top)
        operation.exported = context.bulk_next is None
        return context.bulk_next


def _gid(operation: BulkOperation) -> str:
    return gid("BulkOperation", operation.number)


def connection_nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes of a connection result, whether the query selected `nodes` or `edges { node }`."""
    if isinstance(connection.get("nodes"), list):
        return connection["nodes"]
    return [edge["node"] for edge in connection.get("edges") or [] if isinstance(edge, dict) and "node" in edge]


def _is_connection(value: Any) -> bool:
    return isinstance(value, dict) and ("nodes" in value or "edges" in value)


def _emit(node: dict[str, Any], parent_id: str | None, lines: list[dict[str, Any]]) -> None:
    """A node's own fields on one line, then each nested connection's nodes on lines of their own."""
    row = {key: value for key, value in node.items() if not _is_connection(value)}
    if parent_id is not None:
        row["__parentId"] = parent_id
    lines.append(row)
    for value in node.values():
        if _is_connection(value):
            for child in connection_nodes(value):
                _emit(child, node.get("id"), lines)
