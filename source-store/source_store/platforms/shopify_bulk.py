"""Shopify bulk operations: run one bulk query, poll it to completion, stream its JSONL back as nested nodes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.platforms.shopify_queries import POLL_BULK, RUN_BULK

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
FINAL_FAILURES = frozenset({"FAILED", "CANCELED", "EXPIRED"})
MAX_POLLS = 10_000  # with the default 5 s poll interval: about 14 hours, beyond any bulk export we make


class BulkExportError(AirbyteTracedException):
    """A bulk operation Shopify refused, failed or lost."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


def run_bulk_query(
    graphql: GraphQL,
    query: str,
    *,
    sleep: Callable[[float], None],
    poll_seconds: float,
    logger: logging.Logger,
) -> str | None:
    """Start a bulk query and poll `currentBulkOperation` until it completes; the result URL (None: no rows)."""
    started = graphql(RUN_BULK, {"query": query}).get("bulkOperationRunQuery") or {}
    errors = [error.get("message") for error in started.get("userErrors") or []]
    operation = started.get("bulkOperation") or {}
    if errors or not operation.get("id"):
        raise BulkExportError(f"Shopify refused the bulk query: {'; '.join(map(str, errors)) or 'no operation id'}")
    logger.info(f"Shopify bulk operation {operation['id']} started")
    for _ in range(MAX_POLLS):
        current = graphql(POLL_BULK, {}).get("currentBulkOperation") or {}
        if current.get("id") != operation["id"]:
            raise BulkExportError(
                f"bulk operation {operation['id']} is no longer the current one (another app run replaced it?)"
            )
        status = current.get("status")
        if status == "COMPLETED":
            logger.info(f"Shopify bulk operation {operation['id']} completed: {current.get('objectCount')} objects")
            return current.get("url")
        if status in FINAL_FAILURES:
            raise BulkExportError(
                f"bulk operation {operation['id']} ended {status} (errorCode {current.get('errorCode')})"
            )
        sleep(poll_seconds)
    raise BulkExportError(f"bulk operation {operation['id']} did not complete after {MAX_POLLS} polls")


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
