"""Magento 2 / Adobe Commerce REST dialect: bearer auth, searchCriteria filters, sorting and paging."""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.server import Request, Response
from store2crm.sandbox.store_emulator import magento_payloads as payloads
from store2crm.sandbox.store_emulator import magento_search as search
from store2crm.sandbox.store_emulator.base import DialectSettings, MalformedPick
from store2crm.sandbox.store_emulator.faults import BAD_DATE, BAD_MONEY, Fault

ROUTE_RE = re.compile(r"^/rest/(?:(?P<store>[a-z0-9_]+)/)?V1/(?P<route>.+?)/?$")
CRITERIA_RE = re.compile(r"^searchCriteria((?:\[[^\]]*\])*)$")
# Web API input limits (Stores > Configuration > Services > Web API Limits), off by default
INPUT_LIMIT_MAX_PAGE_SIZE = 300
INPUT_LIMIT_DEFAULT_PAGE_SIZE = 20
CONDITIONS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "from", "to", "like", "nlike", "in", "nin", "null", "notnull")
MALFORMED_DATE_KEYS = ("created_at",)
MALFORMED_MONEY_KEYS = ("grand_total", "price", "credit_limit")
NOT_AUTHORISED = "The consumer isn't authorized to access %resources."

Row = Any
Getter = Callable[[Row], Any]


def magento_error(status: int, message: str, **parameters: Any) -> Response:
    """A Magento Web API error body: `message` with `%name` placeholders and their `parameters`."""
    body: dict[str, Any] = {"message": message}
    if parameters:
        body["parameters"] = parameters
    return Response(status, body)


def no_route() -> Response:
    """Magento's 404 for a path (or method) no route matches."""
    return magento_error(404, "Request does not match any route.")


def _stamps(created: Callable[[Row], str], updated: Callable[[Row], str]) -> dict[str, Getter]:
    return {
        "created_at": lambda r: payloads.magento_date(created(r)),
        "updated_at": lambda r: payloads.magento_date(updated(r)),
    }


@dataclass(frozen=True)
class Collection:
    """One searchCriteria list endpoint: its rows, mapper, ACL resource and the fields it filters on quickly.

    Filters and sorts on other fields read the mapped payload (slower, same answer).
    """

    route: str
    resource: str
    rows: Callable[[Dataset], list[Row]]
    mapper: Callable[[Row, payloads.PayloadContext], dict[str, Any]]
    fields: dict[str, Getter]
    stream: str


def _by_id(record: dict[str, Any]) -> int:
    return int(record["id"])


COLLECTIONS = (
    Collection("orders", "Magento_Sales::actions_view", lambda d: d.orders, payloads.order_payload,
               {"entity_id": _by_id, **_stamps(lambda r: r["created_at"], lambda r: r["updated_at"])}, "orders"),
    Collection("customers/search", "Magento_Customer::customer", lambda d: d.customers, payloads.customer_payload,
               {"entity_id": _by_id, "id": _by_id, **_stamps(lambda r: r["created_at"], lambda r: r["updated_at"])},
               "customers"),
    Collection("products", "Magento_Catalog::products", lambda d: d.products, payloads.product_payload,
               {"entity_id": _by_id, **_stamps(lambda r: r["created_at"], lambda r: r["updated_at"])}, "products"),
    Collection("creditmemos", "Magento_Sales::sales_creditmemo",
               lambda d: [(o, r) for o in d.orders for r in o["refunds"]],
               lambda row, _ctx: payloads.creditmemo_payload(*row),
               {"entity_id": lambda row: int(row[1]["id"]), "order_id": lambda row: int(row[0]["id"]),
                **_stamps(lambda row: row[1]["created_at"], lambda row: row[1]["created_at"])}, "refunds"),
    Collection("carts/search", "Magento_Cart::manage", lambda d: d.abandoned_checkouts, payloads.cart_payload,
               {"entity_id": _by_id, **_stamps(lambda r: r["created_at"], lambda r: r["updated_at"])},
               "abandoned_checkouts"),
    Collection("categories/list", "Magento_Catalog::categories",
               lambda d: sorted({p.get("category") or "Uncategorized" for p in d.products}),
               lambda name, _ctx: payloads.category_payload(name),
               {"entity_id": payloads.category_id, "name": lambda name: name}, "categories"),
    Collection("company", "Magento_Company::index", lambda d: d.companies, payloads.company_payload,
               {"entity_id": _by_id}, "companies"),
    Collection("companyCredits", "Magento_Company::credit", lambda d: d.companies,
               lambda company, _ctx: payloads.company_credit_payload(company),
               {"entity_id": _by_id, "company_id": _by_id}, "companies"),
)  # fmt: skip
ROUTES = {c.route: c for c in COLLECTIONS}
ORDER_ITEM_RE = re.compile(r"^orders/(?P<id>\d+)$")
CUSTOMER_ITEM_RE = re.compile(r"^customers/(?P<id>\d+)$")
PRODUCT_ITEM_RE = re.compile(r"^products/(?P<sku>[^/]+)$")
CART_TOTALS_RE = re.compile(r"^carts/(?P<id>\d+)/totals$")
ITEM_ROUTES = (
    (ORDER_ITEM_RE, "Magento_Sales::actions_view"),
    (CUSTOMER_ITEM_RE, "Magento_Customer::customer"),
    (CART_TOTALS_RE, "Magento_Cart::manage"),
    (PRODUCT_ITEM_RE, "Magento_Catalog::products"),
)
ENTITY_MISSING = "The entity that was requested doesn't exist. Verify the entity and try again."
PRODUCT_MISSING = "The product that was requested doesn't exist. Verify the product and try again."


class CriteriaError(ValueError):
    """A searchCriteria parameter Magento would reject; carries the response to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.body)
        self.response = response


@dataclass
class Criteria:
    """Parsed searchCriteria: AND of filter groups (each an OR of filters), sort orders, paging."""

    filter_groups: list[list[dict[str, str]]]
    sort_orders: list[dict[str, str]]
    page_size: int | None
    current_page: int | None

    def echo(self) -> dict[str, Any]:
        """The `search_criteria` object Magento returns beside the items."""
        echo: dict[str, Any] = {"filter_groups": [{"filters": group} for group in self.filter_groups]}
        if self.sort_orders:
            echo["sort_orders"] = self.sort_orders
        if self.page_size is not None:
            echo["page_size"] = self.page_size
        if self.current_page is not None:
            echo["current_page"] = self.current_page
        return echo


class MagentoDialect:
    """Answers Magento 2 REST `/rest/V1/...` requests from a Dataset (caller holds the lock)."""

    name = "magento"

    def __init__(self, dataset: Dataset, settings: DialectSettings) -> None:
        self.dataset = dataset
        self.settings = settings
        self.input_limits = bool(settings.options.get("input_limits", False))
        self._tables: dict[str, tuple[tuple[int, ...], search.Table]] = {}
        self._indexes: dict[str, tuple[tuple[int, ...], dict[str, dict[str, Any]]]] = {}

    def describe(self, base_url: str) -> str:
        """One line telling a user where the store is and how to authenticate."""
        return f"Magento 2 store at {base_url} (REST {base_url}/rest/V1) access_token={self.settings.consumer_secret}"

    def is_api_call(self, request: Request) -> bool:
        """Every request reaches Magento, so every one can fail."""
        return True

    def fault_response(self, fault: Fault, request: Request, retry_after: int) -> Response:
        """Magento's error bodies for a throttle in front of it, maintenance mode and an internal error."""
        if fault.kind == "throttled":
            return Response(429, {"message": "Too Many Requests"}, {"Retry-After": str(retry_after)})
        if fault.kind == "down":
            return Response(503, {"message": "Service Temporarily Unavailable"}, {"Retry-After": str(retry_after)})
        report = f"webapi-{self.settings.faults.injected['error']:013x}"
        return magento_error(
            fault.status, f"Internal Error. Details are available in Magento log file. Report ID: {report}"
        )

    def malform(self, request: Request, response: Response, pick: MalformedPick) -> None:
        """Give picked items of a search response a zero date or a non-numeric amount."""
        match = ROUTE_RE.match(request.path)
        collection = ROUTES.get(match["route"]) if match else None
        if collection is None or not isinstance(response.body, dict):
            return
        for item in response.body.get("items", []):
            record_id = item.get("entity_id", item.get("id"))
            kind = pick(collection.stream, str(record_id))
            for key in (MALFORMED_DATE_KEYS if kind == "date" else MALFORMED_MONEY_KEYS) if kind else ():
                if key in item:
                    item[key] = BAD_DATE if kind == "date" else BAD_MONEY

    def handle(self, request: Request, base_url: str) -> Response:
        """Route, authorise (bearer token), then answer a search or single-entity request."""
        match = ROUTE_RE.match(request.path)
        if match is None or request.method != "GET":
            return no_route()
        route = match["route"]
        collection = ROUTES.get(route)
        resource = collection.resource if collection else _item_resource(route)
        if resource is None:
            return no_route()
        if not self._authorised(request):
            return magento_error(401, NOT_AUTHORISED, resources=resource)
        if collection is not None:
            return self._search(collection, request)
        return self._item(route)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        expected = self.settings.consumer_secret.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

    def _context(self) -> payloads.PayloadContext:
        contacts = self.dataset.company_contacts
        return payloads.PayloadContext(
            company_names={c["id"]: c["name"] for c in self.dataset.companies},
            contact_roles={c["customer_id"]: c["role"] for c in contacts},
            company_admins={c["company_id"]: c["customer_id"] for c in reversed(contacts) if c["role"] == "admin"},
        )

    # searches ------------------------------------------------------------------------------------

    def _search(self, collection: Collection, request: Request) -> Response:
        try:
            criteria = self._criteria(request)
        except CriteriaError as exc:
            return exc.response
        table, ctx = self._table(collection), self._context()
        mapped: dict[int, dict[str, Any]] = {}

        def value(index: int, field: str) -> Any:
            column = table.column(field)
            if column is not None:
                return column[index]
            if index not in mapped:
                mapped[index] = collection.mapper(table.rows[index], ctx)
            return mapped[index].get(field)

        groups = [[(f["field"], search.predicate(f)) for f in group] for group in criteria.filter_groups]

        def matches(index: int) -> bool:
            return all(any(test(value(index, field)) for field, test in group) for group in groups)

        ordered = table.order(criteria.sort_orders)
        if ordered is not None:  # every sort field is quick: an index range scan, as MySQL would do
            bounds = table.bounds(ordered, criteria.sort_orders, criteria.filter_groups)
            positions = [i for i in ordered[bounds.start : bounds.sure] if matches(i)] + ordered[bounds.sure :]
        else:
            positions = [i for i in range(len(table.rows)) if matches(i)]
            for order in [search.TIE_BREAK, *reversed(criteria.sort_orders)]:
                positions.sort(key=lambda i, o=order: search.sort_key(value(i, o["field"])),
                               reverse=order["direction"].upper() == "DESC")  # fmt: skip
        page = self._page(positions, criteria)
        items = [mapped.get(i) or collection.mapper(table.rows[i], ctx) for i in page]
        return Response(200, {"items": items, "search_criteria": criteria.echo(), "total_count": len(positions)})

    def _table(self, collection: Collection) -> search.Table:
        """The collection's rows and their quick columns, rebuilt when the dataset changes."""
        version = self._version()
        cached = self._tables.get(collection.route)
        if cached is None or cached[0] != version:
            cached = (version, search.Table(collection.rows(self.dataset), collection.fields))
            self._tables[collection.route] = cached
        return cached[1]

    def _version(self) -> tuple[int, ...]:
        """Changes whenever the dataset does (mutations bump `version`; appends change a length)."""
        ds = self.dataset
        lengths = (ds.orders, ds.customers, ds.products, ds.companies, ds.abandoned_checkouts, ds.company_contacts)
        return (ds.version, *map(len, lengths))

    def _page(self, rows: list[int], criteria: Criteria) -> list[int]:
        """One page; a page past the end is the LAST page again, as Magento's collections clamp it."""
        size = criteria.page_size
        if size is None and self.input_limits:
            size = INPUT_LIMIT_DEFAULT_PAGE_SIZE
        if not size:
            return rows
        last = max(1, math.ceil(len(rows) / size))
        page = min(max(criteria.current_page or 1, 1), last)
        return rows[(page - 1) * size : page * size]

    def _criteria(self, request: Request) -> Criteria:
        tree: dict[str, Any] = {}
        present = False
        for key, raw in request.query_pairs:
            match = CRITERIA_RE.match(key)
            if match is None:
                continue
            present = True
            parts = re.findall(r"\[([^\]]*)\]", match[1])
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise CriteriaError(magento_error(400, "Invalid searchCriteria parameter."))
            if parts:
                node[parts[-1]] = raw
        if not present:
            raise CriteriaError(magento_error(400, '"%fieldName" is required. Enter and try again.',
                                              fieldName="searchCriteria"))  # fmt: skip
        criteria = Criteria(
            filter_groups=[_filters(group) for _, group in _indexed(tree.get("filter_groups"))],
            sort_orders=[_sort_order(order) for _, order in _indexed(tree.get("sortOrders"))],
            page_size=_int_param(tree.get("pageSize")),
            current_page=_int_param(tree.get("currentPage")),
        )
        if self.input_limits and (criteria.page_size or 0) > INPUT_LIMIT_MAX_PAGE_SIZE:
            raise CriteriaError(magento_error(400, f"Maximum SearchCriteria pageSize is {INPUT_LIMIT_MAX_PAGE_SIZE}"))
        return criteria

    # single entities -----------------------------------------------------------------------------

    def _item(self, route: str) -> Response:
        """GET /V1/orders/{id}, /V1/customers/{id}, /V1/carts/{id}/totals or /V1/products/{sku}."""
        ctx, ds = self._context(), self.dataset
        if match := ORDER_ITEM_RE.match(route):
            order = self._find("orders", match["id"])
            return _found(order and payloads.order_payload(order, ctx), magento_error(404, ENTITY_MISSING))
        if match := CUSTOMER_ITEM_RE.match(route):
            customer = self._find("customers", match["id"])
            return _found(customer and payloads.customer_payload(customer, ctx), _no_such("customerId", match["id"]))
        if match := CART_TOTALS_RE.match(route):
            checkout = self._find("abandoned_checkouts", match["id"])
            return _found(checkout and payloads.cart_totals_payload(checkout), _no_such("cartId", match["id"]))
        sku = route.removeprefix("products/")
        product = next((p for p in ds.products if (p.get("sku") or p["id"]) == sku), None)
        return _found(product and payloads.product_payload(product, ctx), magento_error(404, PRODUCT_MISSING))

    def _find(self, stream: str, record_id: str) -> dict[str, Any] | None:
        """A record by id, from an index rebuilt when the dataset changes (not a scan per call: one call per cart)."""
        version = self._version()
        cached = self._indexes.get(stream)
        if cached is None or cached[0] != version:
            cached = (version, {record["id"]: record for record in self.dataset.records(stream)})
            self._indexes[stream] = cached
        return cached[1].get(record_id)


def _item_resource(route: str) -> str | None:
    """The ACL resource of a single-entity route, or None when no such route exists."""
    return next((resource for pattern, resource in ITEM_ROUTES if pattern.match(route)), None)


def _found(payload: dict[str, Any] | None, missing: Response) -> Response:
    return missing if payload is None else Response(200, payload)


def _no_such(field: str, value: str) -> Response:
    return magento_error(404, "No such entity with %fieldName = %fieldValue", fieldName=field, fieldValue=int(value))


def _indexed(node: Any) -> list[tuple[int, Any]]:
    """Entries of a `[0]`, `[1]`, ... parameter array in index order."""
    if not isinstance(node, dict):
        return []
    try:
        return sorted((int(k), v) for k, v in node.items())
    except ValueError as exc:
        raise CriteriaError(magento_error(400, "Invalid searchCriteria parameter.")) from exc


def _filters(group: Any) -> list[dict[str, str]]:
    filters = []
    for _, raw in _indexed(group.get("filters") if isinstance(group, dict) else None):
        if not isinstance(raw, dict) or "field" not in raw:
            raise CriteriaError(magento_error(400, '"%fieldName" is required. Enter and try again.', fieldName="field"))
        condition = raw.get("condition_type") or "eq"
        if condition not in CONDITIONS:
            raise CriteriaError(magento_error(400, "Invalid condition type: %type", type=condition))
        filters.append({"field": raw["field"], "value": raw.get("value", ""), "condition_type": condition})
    return filters


def _sort_order(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or "field" not in raw:
        raise CriteriaError(magento_error(400, '"%fieldName" is required. Enter and try again.', fieldName="field"))
    direction = (raw.get("direction") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise CriteriaError(
            magento_error(400, "Sort order direction %direction is not supported.", direction=raw["direction"])
        )
    return {"field": raw["field"], "direction": direction}


def _int_param(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise CriteriaError(
            magento_error(
                400,
                'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                value=raw,
                type="int",
            )
        ) from exc
