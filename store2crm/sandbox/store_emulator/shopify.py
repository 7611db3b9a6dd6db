"""Shopify GraphQL Admin API dialect: token auth, cursor connections, search syntax, calculated-cost throttling."""

from __future__ import annotations

import base64
import bisect
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    execute_sync,
    get_named_type,
    get_operation_ast,
    parse,
    validate,
)

from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.server import Request, Response
from store2crm.sandbox.store_emulator import shopify_payloads as payloads
from store2crm.sandbox.store_emulator.base import DialectSettings, MalformedPick
from store2crm.sandbox.store_emulator.faults import BAD_DATE, BAD_MONEY, Fault
from store2crm.sandbox.store_emulator.shopify_bulk import BULK_PATH_RE, BulkOperations, connection_nodes
from store2crm.sandbox.store_emulator.shopify_schema import CostError, QueryCost, build_shop_schema

GRAPHQL_PATH_RE = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json$")
# shopify.dev rate limits: restore rate per plan; observed throttleStatus pairs (2000 at 100/s, 20000 at
# 1000/s) put the bucket at 20 seconds of restore
PLANS = {"standard": 100.0, "advanced": 200.0, "plus": 1000.0, "enterprise": 2000.0}
BUCKET_SECONDS = 20
SINGLE_QUERY_MAX_COST = 1000  # "Query cost is N, which exceeds the single query max cost limit (1000)"
RATE_LIMITS_DOC = "https://shopify.dev/api/usage/rate-limits"
UNRECOGNISED_LOGIN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
STREAMS = {
    "customers": ("customers", payloads.customer_node),
    "orders": ("orders", payloads.order_node),
    "abandonedCheckouts": ("abandoned_checkouts", payloads.abandoned_checkout_node),
    "products": ("products", payloads.product_node),
    "companies": ("companies", payloads.company_node),
}
SINGLE_FIELDS = {
    "customer": "customers",
    "order": "orders",
    "abandonedCheckout": "abandonedCheckouts",
    "product": "products",
    "company": "companies",
}
SEARCH_TIME_FIELDS = ("updated_at", "created_at")
SORT_VALUES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ID": lambda r: int(r["id"]),
    "UPDATED_AT": lambda r: r["updated_at"],
    "CREATED_AT": lambda r: r["created_at"],
    "PROCESSED_AT": lambda r: r["created_at"],
    "TITLE": lambda r: (r.get("title") or "").lower(),
    "NAME": lambda r: (r.get("name") or "").lower(),
}


def graphql_errors(*messages: dict[str, Any], status: int = 200) -> Response:
    """GraphQL-level errors as Shopify returns them (HTTP 200 unless the transport failed)."""
    return Response(status, {"errors": list(messages)})


class LeakyBucket:
    """The calculated-cost bucket of one app on one store, refilled from the emulator clock."""

    def __init__(self, restore_rate: float, now: datetime) -> None:
        self.restore_rate = restore_rate
        self.maximum = restore_rate * BUCKET_SECONDS
        self.available = self.maximum
        self._last = now

    def refill(self, now: datetime) -> None:
        """Add what leaked back since the last call (never above the maximum)."""
        elapsed = max(0.0, (now - self._last).total_seconds())
        self.available = min(self.maximum, self.available + elapsed * self.restore_rate)
        self._last = now

    def status(self) -> dict[str, Any]:
        """`throttleStatus` as Shopify reports it."""
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available),
            "restoreRate": self.restore_rate,
        }


@dataclass
class ExecContext:
    """Per-request execution state: bulk mode (connections unpaged) and search warnings.

    A bulk export reads its root connection in batches: `bulk_batch` root nodes after the
    cursor `bulk_after`; the resolver leaves the cursor of the next batch in `bulk_next`
    (None once the connection is exhausted).
    """

    bulk: bool = False
    api_version: str = "2025-10"
    search: list[dict[str, Any]] = field(default_factory=list)
    bulk_batch: int | None = None
    bulk_after: str | None = None
    bulk_next: str | None = None


def encode_cursor(last_id: int, last_value: Any) -> str:
    """Shopify's opaque cursor: base64 of `{"last_id": ..., "last_value": ...}`."""
    return base64.b64encode(json.dumps({"last_id": last_id, "last_value": last_value}).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """(last_value, last_id) of a cursor; GraphQLError for a cursor we did not issue."""
    try:
        raw = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return raw["last_value"], int(raw["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


class ShopifyDialect:
    """Answers Shopify GraphQL Admin API requests from a Dataset (caller holds the lock)."""

    name = "shopify"

    def __init__(self, dataset: Dataset, settings: DialectSettings) -> None:
        self.dataset = dataset
        self.settings = settings
        plan = str(settings.options.get("plan", "standard"))
        if plan not in PLANS:
            raise ValueError(f"unknown Shopify plan {plan!r}; valid plans: {', '.join(PLANS)}")
        self.shop_domain = str(settings.options.get("shop_domain", "sandbox.myshopify.com"))
        self.bucket = LeakyBucket(PLANS[plan], settings.clock())
        self.schema = self._schema()
        self.bulk = BulkOperations(
            self.schema, int(settings.options.get("bulk_polls", 0)), settings.clock, ExecContext, settings.lock
        )
        self._views: dict[tuple[str, str], tuple[tuple[int, int], list[tuple[Any, int]], list[dict]]] = {}
        self._index: tuple[tuple[int, int], payloads.ShopIndex] | None = None

    def describe(self, base_url: str) -> str:
        """One line telling a user where the store is and how to authenticate."""
        return (
            f"Shopify store at {base_url} (GraphQL {base_url}/admin/api/2025-10/graphql.json) "
            f"access_token={self.settings.consumer_secret}"
        )

    def is_api_call(self, request: Request) -> bool:
        """GraphQL calls can fail; bulk result downloads (a storage bucket in real life) cannot."""
        return BULK_PATH_RE.match(request.path) is None

    # faults --------------------------------------------------------------------------------------

    def fault_response(self, fault: Fault, request: Request, retry_after: int) -> Response:
        """THROTTLED (HTTP 200, with cost extensions), 503 downtime, or an internal error."""
        if fault.kind == "throttled":
            self.bucket.refill(self.settings.clock())
            return self._throttled(self._requested_cost(request))
        if fault.kind == "down":
            return Response(503, {"errors": "Service Unavailable"}, {"Retry-After": str(retry_after)})
        request_id = f"{self.settings.faults.injected['error']:08x}-sandbox"
        message = f"Internal error. Looks like something went wrong on our end.\nRequest ID: {request_id}"
        return Response(
            fault.status,
            {
                "errors": [
                    {"message": message, "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}
                ]
            },
        )

    def malform(self, request: Request, response: Response, pick: MalformedPick) -> None:
        """Give picked nodes of a root connection a bad `createdAt` or a non-numeric total."""
        data = response.body.get("data") if isinstance(response.body, dict) else None
        for root, (stream, _) in STREAMS.items():
            connection = (data or {}).get(root)
            for node in connection_nodes(connection) if isinstance(connection, dict) else ():
                kind = pick(stream, payloads.gid_number(str(node.get("id"))))
                if kind == "date" and "createdAt" in node:
                    node["createdAt"] = BAD_DATE
                money = (node.get("totalPriceSet") or {}).get("shopMoney") if kind == "money" else None
                if money and "amount" in money:
                    money["amount"] = BAD_MONEY

    # requests ------------------------------------------------------------------------------------

    def handle(self, request: Request, base_url: str) -> Response:
        """Serve a bulk result file, or authenticate and run one GraphQL operation."""
        bulk = BULK_PATH_RE.match(request.path)
        if bulk is not None and request.method == "GET":
            return self.bulk.download(bulk["id"])
        path = GRAPHQL_PATH_RE.match(request.path)
        if path is None or request.method != "POST":
            return Response(404, {"errors": "Not Found"})
        token = request.headers.get("x-shopify-access-token", "")
        if not hmac.compare_digest(token.encode(), self.settings.consumer_secret.encode()):
            return Response(401, {"errors": UNRECOGNISED_LOGIN})
        body = self._body(request)
        if isinstance(body, Response):
            return body
        self.bulk.base_url = base_url
        return self._run(*body, api_version=path["version"])

    def _body(self, request: Request) -> tuple[str, dict[str, Any], str | None] | Response:
        if request.headers.get("content-type", "").startswith("application/graphql"):
            return request.body.decode(errors="replace"), {}, None
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return Response(400, {"errors": {"query": "Required parameter missing or invalid"}})
        return body["query"], body.get("variables") or {}, body.get("operationName")

    def _run(
        self, query: str, variables: dict[str, Any], operation_name: str | None, api_version: str = "2025-10"
    ) -> Response:
        prepared = self._prepare(query, variables, operation_name)
        if isinstance(prepared, Response):
            return prepared
        document, cost, requested = prepared
        self.bucket.refill(self.settings.clock())
        if self.bucket.available < requested:
            return self._throttled(requested)
        self.bucket.available -= requested
        context = ExecContext(api_version=api_version)
        result = execute_sync(self.schema, document, context_value=context, variable_values=variables,
                              operation_name=operation_name)  # fmt: skip
        actual = cost.actual(result.data)
        self.bucket.available = min(self.bucket.maximum, self.bucket.available + requested - actual)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["extensions"] = self._cost(requested, actual)
        if context.search:
            body["extensions"]["search"] = context.search
        return Response(200, body)

    def _prepare(
        self, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> tuple[DocumentNode, QueryCost, int] | Response:
        """Parse, validate and price an operation; errors come back as Shopify words them (HTTP 200)."""
        try:
            document = parse(query)
        except GraphQLError as exc:
            return graphql_errors(exc.formatted)
        errors = validate(self.schema, document)
        if errors:
            return graphql_errors(*(e.formatted for e in errors))
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return graphql_errors({"message": "An operation name is required"})
        cost = QueryCost(self.schema, operation, _fragments(document), variables)
        try:
            requested = cost.requested()
        except CostError as exc:
            return graphql_errors({"message": str(exc), "locations": _locations(exc), "path": exc.path})
        if requested > SINGLE_QUERY_MAX_COST:
            return graphql_errors(_max_cost_error(requested))
        return document, cost, requested

    def _throttled(self, requested: int | None) -> Response:
        error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOC}}
        return Response(200, {"errors": [error], "extensions": self._cost(requested, None)})

    def _requested_cost(self, request: Request) -> int | None:
        """The cost a request would be charged, when it parses (for throttled answers)."""
        body = self._body(request)
        prepared = body if isinstance(body, Response) else self._prepare(*body)
        return None if isinstance(prepared, Response) else prepared[2]

    def _cost(self, requested: int | None, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": self.bucket.status(),
            }
        }

    # schema and resolvers ------------------------------------------------------------------------

    def _schema(self) -> GraphQLSchema:
        schema = build_shop_schema()
        query = schema.query_type
        assert query is not None
        for root in STREAMS:
            query.fields[root].resolve = self._root_connection(root)
        for single, root in SINGLE_FIELDS.items():
            query.fields[single].resolve = self._single(root)
        query.fields["currentBulkOperation"].resolve = lambda _root, _info, type="QUERY": self.bulk.current(type)
        query.fields["bulkOperation"].resolve = lambda _root, info, id: self.bulk.by_id(id, info.context.api_version)
        mutation = schema.mutation_type
        assert mutation is not None
        mutation.fields["bulkOperationRunQuery"].resolve = lambda _root, info, query, groupObjects=None: self.bulk.run(
            query, info.context.api_version
        )
        for type_name, graphql_type in schema.type_map.items():
            if type_name in ("QueryRoot", "Mutation") or not isinstance(graphql_type, GraphQLObjectType):
                continue
            for name, definition in graphql_type.fields.items():
                if get_named_type(definition.type).name.endswith("Connection"):
                    definition.resolve = _nested_connection(name)
        return schema

    def close(self) -> None:
        """Stop background work (bulk exports still running) when the emulator stops."""
        self.bulk.stop()

    def index(self) -> payloads.ShopIndex:
        """Cross-stream lookups, rebuilt when the dataset changes."""
        version = (self.dataset.version, len(self.dataset.orders) + len(self.dataset.customers))
        if self._index is None or self._index[0] != version:
            self._index = (version, self._build_index())
        return self._index[1]

    def _build_index(self) -> payloads.ShopIndex:
        ds = self.dataset
        idx = payloads.ShopIndex(
            shop_domain=self.shop_domain,
            customers={c["id"]: c for c in ds.customers},
            products={p["id"]: p for p in ds.products},
            companies={c["id"]: c for c in ds.companies},
            contacts_by_customer={c["customer_id"]: c for c in ds.company_contacts},
        )
        for contact in ds.company_contacts:
            idx.contacts_by_company.setdefault(contact["company_id"], []).append(contact)
        for order in ds.orders:
            if order["customer_id"]:
                idx.order_counts[order["customer_id"]] = idx.order_counts.get(order["customer_id"], 0) + 1
                spent = round(order["total"] * 100) - sum(round(r["amount"] * 100) for r in order["refunds"])
                idx.amounts_spent[order["customer_id"]] = idx.amounts_spent.get(order["customer_id"], 0) + spent
        return idx

    def _view(self, stream: str, sort_key: str) -> tuple[list[tuple[Any, int]], list[dict[str, Any]]]:
        """Records sorted by (sort value, id) with their keys, cached until the dataset changes."""
        records = self.dataset.records(stream)
        version = (self.dataset.version, len(records))
        cached = self._views.get((stream, sort_key))
        if cached is None or cached[0] != version:
            value = SORT_VALUES[sort_key]
            ordered = sorted(records, key=lambda r: (value(r), int(r["id"])))
            cached = (version, [(value(r), int(r["id"])) for r in ordered], ordered)
            self._views[(stream, sort_key)] = cached
        return cached[1], cached[2]

    def _root_connection(self, root: str) -> Callable[..., dict[str, Any]]:
        stream, mapper = STREAMS[root]

        def resolve(
            _root: Any,
            info: Any,
            *,
            first: int | None = None,
            after: str | None = None,
            query: str | None = None,
            reverse: bool = False,
            sortKey: str = "ID",
        ) -> dict[str, Any]:
            context: ExecContext = info.context
            keys, records = self._view(stream, sortKey)
            checks = _search(query, root, context)
            limit, after = (context.bulk_batch, context.bulk_after) if context.bulk else (first, after)
            picked: list[tuple[tuple[Any, int], dict[str, Any]]] = []
            has_next = False
            for position in _positions(keys, after, reverse):
                record = records[position]
                if not all(check(record) for check in checks):
                    continue
                if limit is not None and len(picked) == limit:
                    has_next = True
                    break
                picked.append((keys[position], record))
            idx = self.index()
            edges = [{"cursor": encode_cursor(key[1], key[0]), "node": mapper(r, idx)} for key, r in picked]
            context.bulk_next = edges[-1]["cursor"] if has_next else None
            return _connection(edges, has_next, has_previous=after is not None)

        return resolve

    def _single(self, root: str) -> Callable[..., dict[str, Any] | None]:
        stream, mapper = STREAMS[root]

        def resolve(_root: Any, _info: Any, id: str) -> dict[str, Any] | None:
            wanted = payloads.gid_number(id)
            record = next((r for r in self.dataset.records(stream) if r["id"] == wanted), None)
            return None if record is None else mapper(record, self.index())

        return resolve


def _positions(keys: list[tuple[Any, int]], after: str | None, reverse: bool) -> Iterator[int]:
    """Indexes of the sorted view strictly after the cursor, in the requested direction."""
    if after is None:
        yield from (range(len(keys) - 1, -1, -1) if reverse else range(len(keys)))
        return
    last = decode_cursor(after)
    if reverse:
        yield from range(bisect.bisect_left(keys, last) - 1, -1, -1)
    else:
        yield from range(bisect.bisect_right(keys, last), len(keys))


def _connection(edges: list[dict[str, Any]], has_next: bool, has_previous: bool) -> dict[str, Any]:
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _nested_connection(name: str) -> Callable[..., dict[str, Any]]:
    """Resolver paging a child list held by the parent payload (line items, contacts, locations...)."""

    def resolve(parent: dict[str, Any], info: Any, first: int | None = None, after: str | None = None) -> dict:
        items = parent.get(name) or []
        items = items(info) if callable(items) else items
        start = 0
        if after is not None:
            _, last_id = decode_cursor(after)
            ids = [int(payloads.gid_number(item["id"])) for item in items]
            start = ids.index(last_id) + 1 if last_id in ids else len(ids)
        limit = None if info.context.bulk or first is None else first
        page = items[start:] if limit is None else items[start : start + limit]
        edges = [{"cursor": encode_cursor(int(payloads.gid_number(n["id"])), None), "node": n} for n in page]
        return _connection(edges, has_next=start + len(page) < len(items), has_previous=start > 0)

    return resolve


def _search(query: str | None, root: str, context: ExecContext) -> list[Callable[[dict[str, Any]], bool]]:
    """Predicates for Shopify search syntax terms on `updated_at`, `created_at` and `id`.

    Terms Shopify would not understand here are ignored with a warning in `extensions.search`,
    as Shopify does.
    """
    if not query:
        return []
    checks, warnings = [], []
    for term in _terms(query):
        if term.upper() in ("AND", ""):
            continue
        name, _, raw = term.partition(":")
        operator = next((op for op in ("<=", ">=", "<", ">") if raw.startswith(op)), "")
        value = raw[len(operator) :].strip("'\"")
        check = _time_check(name, operator, value) if name in SEARCH_TIME_FIELDS else None
        if name == "id" and value.isdigit():
            check = _id_check(operator, int(value))
        if check is None:
            warnings.append({"field": name if raw else None, "message": "Invalid search field for this query."})
            continue
        checks.append(check)
    if warnings:
        context.search.append({"path": [root], "query": query, "warnings": warnings})
    return checks


def _terms(query: str) -> list[str]:
    """Split on spaces outside quotes."""
    terms, current, quote = [], "", ""
    for char in query:
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        if char == " " and not quote:
            terms.append(current)
            current = ""
            continue
        current += char
    return [*terms, current]


def _time_check(name: str, operator: str, value: str) -> Callable[[dict[str, Any]], bool] | None:
    """Compare canonical `...Z` second-precision strings; a fractional bound moves to the right side."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    bound, fraction = moment.strftime("%Y-%m-%dT%H:%M:%SZ"), bool(moment.microsecond)
    if operator == ">=" and fraction:
        operator = ">"
    elif operator == "<" and fraction:
        operator = "<="
    compare: dict[str, Callable[[str], bool]] = {
        ">": lambda v: v > bound,
        ">=": lambda v: v >= bound,
        "<": lambda v: v < bound,
        "<=": lambda v: v <= bound,
        "": lambda v: v == bound,
    }
    return lambda record: record.get(name) is not None and compare[operator](record[name])


def _id_check(operator: str, value: int) -> Callable[[dict[str, Any]], bool]:
    compare: dict[str, Callable[[int], bool]] = {
        ">": lambda v: v > value,
        ">=": lambda v: v >= value,
        "<": lambda v: v < value,
        "<=": lambda v: v <= value,
        "": lambda v: v == value,
    }
    return lambda record: compare[operator](int(record["id"]))


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _locations(exc: CostError) -> list[dict[str, int]]:
    loc = exc.node.loc
    if loc is None:
        return []
    location = loc.source.get_location(loc.start)
    return [{"line": location.line, "column": location.column}]


def _max_cost_error(cost: int) -> dict[str, Any]:
    return {
        "message": (
            f"Query cost is {cost}, which exceeds the single query max cost limit ({SINGLE_QUERY_MAX_COST}).\n\n"
            f"See {RATE_LIMITS_DOC} for more information on how the\ncost of a query is calculated.\n\n"
            "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
            "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"
        ),
        "extensions": {
            "code": "MAX_COST_EXCEEDED",
            "cost": cost,
            "maxCost": SINGLE_QUERY_MAX_COST,
            "documentation": RATE_LIMITS_DOC,
        },
    }
