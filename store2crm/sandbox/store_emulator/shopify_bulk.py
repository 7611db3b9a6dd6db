"""Shopify bulk query operations: `bulkOperationRunQuery`, `currentBulkOperation` and the JSONL result file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pendulum
from graphql import FieldNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, execute_sync, parse, validate

from store2crm.sandbox.server import Response
from store2crm.sandbox.store_emulator.base import RawResponse
from store2crm.sandbox.store_emulator.shopify_payloads import gid
from store2crm.sandbox.store_emulator.shopify_schema import ROOT_CONNECTIONS

if TYPE_CHECKING:
    from store2crm.sandbox.store_emulator.shopify import ExecContext

# Real result files live in a signed storage bucket; the emulator serves them itself.
BULK_PATH_RE = re.compile(r"^/bulk-operation-results/(?P<id>\d+)\.jsonl$")
JSONL_CONTENT_TYPE = "application/jsonl"


@dataclass
class BulkOperation:
    """One bulk query: its snapshot of results and how many polls remain before it completes."""

    number: int
    query: str
    created_at: str
    lines: bytes
    object_count: int
    root_object_count: int
    polls_left: int
    completed_at: str | None = None


class BulkOperations:
    """The bulk operations of the one app on this store (one query operation at a time)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        polls: int,
        clock: Callable[[], pendulum.DateTime],
        context: Callable[[], ExecContext],
    ) -> None:
        self.schema = schema
        self.polls = polls
        self.clock = clock
        self.context = context
        self.base_url = ""
        self.operations: dict[str, BulkOperation] = {}

    def _now(self) -> str:
        return self.clock().in_timezone("UTC").format("YYYY-MM-DDTHH:mm:ss[Z]")

    def run(self, query: str) -> dict[str, Any]:
        """`bulkOperationRunQuery`: snapshot the query's results now; they become visible after the polls."""
        latest = self._latest()
        if latest is not None and latest.polls_left > 0:
            message = f"A bulk query operation for this app and shop is already in progress: {_gid(latest)}."
            return {"bulkOperation": None, "userErrors": [{"field": None, "message": message, "code": None}]}
        try:
            lines, roots = self._export(query)
        except GraphQLError as exc:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": exc.message, "code": "INVALID"}],
            }
        operation = BulkOperation(
            number=len(self.operations) + 1,
            query=query,
            created_at=self._now(),
            lines=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
            object_count=len(lines),
            root_object_count=roots,
            polls_left=self.polls,
        )
        self.operations[str(operation.number)] = operation
        return {"bulkOperation": {**self._node(operation), "status": "CREATED", "url": None}, "userErrors": []}

    def current(self, kind: str) -> dict[str, Any] | None:
        """`currentBulkOperation`: each poll moves a running operation one step closer to COMPLETED."""
        latest = self._latest() if kind == "QUERY" else None
        if latest is None:
            return None
        if latest.polls_left > 0:
            latest.polls_left -= 1
        if latest.polls_left == 0 and latest.completed_at is None:
            latest.completed_at = self._now()
        return self._node(latest)

    def download(self, number: str) -> Response:
        """The JSONL result file of a completed operation."""
        operation = self.operations.get(number)
        if operation is None or operation.completed_at is None:
            return Response(404, {"errors": "Not Found"})
        return RawResponse(200, operation.lines, JSONL_CONTENT_TYPE)

    def _latest(self) -> BulkOperation | None:
        return self.operations[str(len(self.operations))] if self.operations else None

    def _node(self, operation: BulkOperation) -> dict[str, Any]:
        done = operation.completed_at is not None
        return {
            "id": _gid(operation),
            "status": "COMPLETED" if done else "RUNNING",
            "errorCode": None,
            "createdAt": operation.created_at,
            "completedAt": operation.completed_at,
            "objectCount": str(operation.object_count if done else operation.object_count // 2),
            "rootObjectCount": str(operation.root_object_count if done else operation.root_object_count // 2),
            "fileSize": str(len(operation.lines)) if done else None,
            "url": f"{self.base_url}/bulk-operation-results/{operation.number}.jsonl" if done else None,
            "partialDataUrl": None,
            "query": operation.query,
            "type": "QUERY",
        }

    def _export(self, query: str) -> tuple[list[dict[str, Any]], int]:
        """Run the query with connections unpaged and flatten it to JSONL rows (children carry __parentId)."""
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
        context = self.context()
        context.bulk = True
        result = execute_sync(self.schema, document, context_value=context)
        if result.errors:
            raise GraphQLError(f"Invalid bulk query: {result.errors[0].message}")
        key = roots[0].alias.value if roots[0].alias else roots[0].name.value
        lines: list[dict[str, Any]] = []
        top = connection_nodes((result.data or {})[key])
        for node in top:
            _emit(node, None, lines)
        return lines, len(top)


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
