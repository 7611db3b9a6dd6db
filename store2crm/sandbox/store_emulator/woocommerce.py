"""WooCommerce REST API v3 dialect: auth, routes, params, filters and paging as WooCommerce has them."""

from __future__ import annotations

import base64
import bisect
import hmac
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.server import Request, Response
from store2crm.sandbox.store_emulator import woocommerce_payloads as payloads
from store2crm.sandbox.store_emulator.base import DialectSettings, MalformedPick
from store2crm.sandbox.store_emulator.faults import BAD_DATE, BAD_MONEY, Fault

WC_NAMESPACE = "/wp-json/wc/v3"
PLUGIN_NAMESPACE = "/wp-json/store2crm/v1"  # docs/contracts.md: companion plugin namespace
WOOCOMMERCE_DEFAULT_PER_PAGE = 10  # REST API docs: per_page default 10
WOOCOMMERCE_MAX_PER_PAGE = 100  # REST API docs: per_page max 100
# WC_REST_CRUD_Controller::get_collection_params orderby enum (orders, plugin collections)
CRUD_ORDERBY = ("date", "id", "include", "title", "slug", "modified")
PRODUCT_ORDERBY = (*CRUD_ORDERBY, "price", "popularity", "rating", "menu_order")
CUSTOMER_ORDERBY = ("id", "include", "name", "registered_date")  # customers controller
CUSTOMER_ROLES = (
    "all", "administrator", "editor", "author", "contributor", "subscriber", "customer", "shop_manager",
)  # fmt: skip
ORDER_STATUSES = ("any", "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash")
BOOLEAN_TRUE = ("1", "true", "yes", "on")
BOOLEAN_FALSE = ("", "0", "false", "no", "off")
# rest_parse_date(): the ISO 8601 shapes WordPress accepts for date-time params
WP_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$")
WC_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MALFORMED_DATE_KEYS = ("date_created", "date_created_gmt")
MALFORMED_MONEY_KEYS = ("total", "price", "credit_limit")


def wp_error(status: int, code: str, message: str, **data: Any) -> Response:
    """A WP_Error as the REST server renders it."""
    return Response(status, {"code": code, "message": message, "data": {"status": status, **data}})


def no_route() -> Response:
    """WordPress' 404 for a path (or method) no route matches."""
    return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")


@dataclass(frozen=True)
class Collection:
    """One list endpoint: which stream it serves, how it maps and sorts, which filters it takes."""

    route: str
    namespace: str
    stream: str
    mapper: Callable[[dict[str, Any], payloads.PayloadContext], dict[str, Any]]
    orderby: tuple[str, ...] = CRUD_ORDERBY
    default_orderby: str = "date"
    default_order: str = "desc"
    date_filters: bool = True
    created_field: str = "created_at"
    modified_field: str = "updated_at"


COLLECTIONS = (
    Collection("customers", WC_NAMESPACE, "customers", payloads.customer_payload,
               CUSTOMER_ORDERBY, "name", "asc", date_filters=False),
    Collection("orders", WC_NAMESPACE, "orders", payloads.order_payload),
    Collection("products", WC_NAMESPACE, "products", payloads.product_payload, PRODUCT_ORDERBY),
    Collection("abandoned-checkouts", PLUGIN_NAMESPACE, "abandoned_checkouts", payloads.abandoned_checkout_payload),
    Collection("events", PLUGIN_NAMESPACE, "events", payloads.event_payload,
               created_field="occurred_at", modified_field="occurred_at"),
    Collection("companies", PLUGIN_NAMESPACE, "companies", payloads.company_payload),
    Collection("company-contacts", PLUGIN_NAMESPACE, "company_contacts", payloads.company_contact_payload),
)  # fmt: skip
ROUTES = {f"{c.namespace}/{c.route}": c for c in COLLECTIONS}
ITEM_RE = re.compile(r"^(?P<collection>.+)/(?P<id>\d+)$")
REFUNDS_RE = re.compile(rf"^{WC_NAMESPACE}/orders/(?P<id>\d+)/refunds$")


@dataclass
class ListParams:
    """Validated collection query parameters."""

    page: int = 1
    per_page: int = WOOCOMMERCE_DEFAULT_PER_PAGE
    offset: int | None = None
    order: str = "desc"
    orderby: str = "date"
    include: list[str] | None = None
    exclude: frozenset[str] = frozenset()
    after: str | None = None
    before: str | None = None
    modified_after: str | None = None
    modified_before: str | None = None
    statuses: frozenset[str] | None = None
    customer: str | None = None
    role: str = "customer"
    email: str | None = None


class WooCommerceDialect:
    """Answers WooCommerce REST v3 and companion-plugin requests from a Dataset (caller holds the lock)."""

    name = "woocommerce"

    def __init__(self, dataset: Dataset, settings: DialectSettings) -> None:
        self.dataset = dataset
        self.settings = settings
        self.timezone = ZoneInfo(settings.site_timezone)
        self._views: dict[tuple, tuple[list[dict[str, Any]], list[str]]] = {}
        self._paying: tuple[int, frozenset[str]] = (-1, frozenset())

    def describe(self, base_url: str) -> str:
        """One line telling a user where the store is and how to authenticate."""
        return (
            f"WooCommerce store at {base_url} (REST {WC_NAMESPACE}, plugin {PLUGIN_NAMESPACE}) "
            f"consumer_key={self.settings.consumer_key} consumer_secret={self.settings.consumer_secret}"
        )

    def is_api_call(self, request: Request) -> bool:
        """Every request reaches WordPress, so every one can fail."""
        return True

    def fault_response(self, fault: Fault, request: Request, retry_after: int) -> Response:
        """Store API's rate-limit error, WordPress maintenance mode, or its critical-error response."""
        headers = {"Retry-After": str(retry_after)}
        if fault.kind == "throttled":
            response = wp_error(429, "rate_limit_exceeded", "Too many requests. Please wait and try again.")
        elif fault.kind == "down":
            response = wp_error(503, "maintenance", "Briefly unavailable for scheduled maintenance.")
        else:
            response = wp_error(
                fault.status, "internal_server_error", "There has been a critical error on this website."
            )
            headers = {}
        response.headers.update(headers)
        return response

    def malform(self, request: Request, response: Response, pick: MalformedPick) -> None:
        """Give picked records of a list (or item) response a zero date or a non-numeric amount."""
        path = request.path.rstrip("/")
        item = ITEM_RE.match(path)
        collection = ROUTES.get(path) or (ROUTES.get(item["collection"]) if item else None)
        if collection is None:
            return
        records = response.body if isinstance(response.body, list) else [response.body]
        for record in records:
            kind = pick(collection.stream, str(record.get("id")))
            keys = MALFORMED_DATE_KEYS if kind == "date" else MALFORMED_MONEY_KEYS
            for key in keys if kind else ():
                if key in record:
                    record[key] = BAD_DATE if kind == "date" else BAD_MONEY

    def handle(self, request: Request, base_url: str) -> Response:
        """Route one request the way WordPress does: auth errors, then route, then params, then permission."""
        if not request.path.startswith((WC_NAMESPACE, PLUGIN_NAMESPACE)):
            return no_route()
        key, secret = self._credentials(request)
        if key == self.settings.consumer_key and not hmac.compare_digest(
            (secret or "").encode(), self.settings.consumer_secret.encode()
        ):
            return wp_error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        if request.method != "GET":
            return no_route()
        return self._route(request, base_url, authorised=key == self.settings.consumer_key)

    def _route(self, request: Request, base_url: str, authorised: bool) -> Response:
        path = request.path.rstrip("/")
        if path in ROUTES:
            return self._list(ROUTES[path], request, base_url, authorised)
        refunds = REFUNDS_RE.match(path)
        if refunds:
            return self._refunds(refunds["id"], request, base_url, authorised)
        item = ITEM_RE.match(path)
        if item and item["collection"] in ROUTES:
            return self._item(ROUTES[item["collection"]], item["id"], base_url, authorised)
        return no_route()

    # auth ----------------------------------------------------------------------------------------

    @staticmethod
    def _credentials(request: Request) -> tuple[str | None, str | None]:
        """Consumer key/secret from HTTP Basic, else from the query string (both allowed over HTTPS)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                return None, None
            key, _, secret = decoded.partition(":")
            return key, secret
        return request.query.get("consumer_key"), request.query.get("consumer_secret")

    @staticmethod
    def _cannot_view(listing: bool) -> Response:
        message = "Sorry, you cannot list resources." if listing else "Sorry, you cannot view this resource."
        return wp_error(401, "woocommerce_rest_cannot_view", message)

    # list endpoints ------------------------------------------------------------------------------

    def _list(self, collection: Collection, request: Request, base_url: str, authorised: bool) -> Response:
        params, errors = self._parse(collection, request)
        if errors:
            return wp_error(
                400,
                "rest_invalid_param",
                f"Invalid parameter(s): {', '.join(errors)}",
                params={name: message for name, (_, message) in errors.items()},
                details={
                    name: {"code": code, "message": message, "data": None} for name, (code, message) in errors.items()
                },
            )
        if not authorised:
            return self._cannot_view(listing=True)
        records = self._select(collection, params)
        ctx = self._context(base_url, collection.namespace)
        return self._page(records, params, request, base_url, lambda r: collection.mapper(r, ctx))

    def _page(
        self,
        records: list[dict[str, Any]],
        params: ListParams,
        request: Request,
        base_url: str,
        mapper: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Response:
        """Slice one page and add X-WP-Total, X-WP-TotalPages and Link as WC_REST_CRUD_Controller does."""
        total = len(records)
        pages = math.ceil(total / params.per_page)
        start = params.offset if params.offset is not None else (params.page - 1) * params.per_page
        if self.settings.faults.settings.repeat_last_page and total and start >= total:
            start = (pages - 1) * params.per_page
        body = [mapper(record) for record in records[start : start + params.per_page]]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        kept = [(k, v) for k, v in request.query_pairs if k != "page"]
        links = []
        if params.page > 1:
            prev_page = min(params.page - 1, pages)
            links.append(f'<{base_url}{request.path}?{urlencode([*kept, ("page", prev_page)])}>; rel="prev"')
        if pages > params.page:
            links.append(f'<{base_url}{request.path}?{urlencode([*kept, ("page", params.page + 1)])}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return Response(200, body, headers)

    def _parse(self, collection: Collection, request: Request) -> tuple[ListParams, dict[str, tuple[str, str]]]:
        """Validate params like rest_validate_request_arg; unknown params are ignored, as WordPress does."""
        query = request.query
        errors: dict[str, tuple[str, str]] = {}
        params = ListParams(order=collection.default_order, orderby=collection.default_orderby)
        params.page = _integer(query, "page", 1, minimum=1, maximum=None, errors=errors)
        params.per_page = _integer(
            query, "per_page", WOOCOMMERCE_DEFAULT_PER_PAGE, minimum=1, maximum=WOOCOMMERCE_MAX_PER_PAGE, errors=errors
        )
        if "offset" in query:
            params.offset = _integer(query, "offset", 0, minimum=0, maximum=None, errors=errors)
        params.order = _enum(query, "order", params.order, ("asc", "desc"), errors)
        params.orderby = _enum(query, "orderby", params.orderby, collection.orderby, errors)
        params.include = _ids(query.get("include")) or None
        params.exclude = frozenset(_ids(query.get("exclude")))
        if collection.stream == "customers":
            params.role = _enum(query, "role", "customer", CUSTOMER_ROLES, errors)
            params.email = query.get("email") or None
        if collection.date_filters:
            self._parse_dates(query, params, errors)
        if collection.stream == "orders":
            statuses = [s.strip() for s in query.get("status", "any").split(",") if s.strip()]
            invalid = [s for s in statuses if s not in ORDER_STATUSES]
            if invalid:
                errors["status"] = ("rest_not_in_enum", f"status[0] is not one of {', '.join(ORDER_STATUSES)}.")
            if "any" not in statuses:
                params.statuses = frozenset(statuses)
            if query.get("customer"):
                params.customer = str(_integer(query, "customer", 0, minimum=0, maximum=None, errors=errors))
        return params, errors

    def _parse_dates(self, query: dict[str, str], params: ListParams, errors: dict[str, tuple[str, str]]) -> None:
        raw_gmt = query.get("dates_are_gmt", "false").lower()
        if raw_gmt not in BOOLEAN_TRUE + BOOLEAN_FALSE:
            errors["dates_are_gmt"] = ("rest_invalid_type", "dates_are_gmt is not of type boolean.")
        zone = ZoneInfo("UTC") if raw_gmt in BOOLEAN_TRUE else self.timezone
        for name in ("after", "before", "modified_after", "modified_before"):
            if name not in query:
                continue
            moment = _parse_date(query[name], zone)
            if moment is None:
                errors[name] = ("rest_invalid_date", "Invalid date.")
                continue
            # WP_Date_Query is exclusive both ways at second precision: round toward the open end
            if name.endswith("before") and moment.microsecond:
                moment += timedelta(seconds=1)
            setattr(params, name, moment.strftime(WC_TIME_FORMAT))

    def _select(self, collection: Collection, params: ListParams) -> list[dict[str, Any]]:
        """Filtered records in response order; modified ranges use a bisect on a cached sorted view."""
        if params.modified_after or params.modified_before:
            records, keys = self._view(collection, "modified", "asc")
            lo = bisect.bisect_right(keys, params.modified_after) if params.modified_after else 0
            hi = bisect.bisect_left(keys, params.modified_before) if params.modified_before else len(keys)
            chosen = self._filter(collection, records[lo:hi], params)
            if params.orderby == "include" or (params.orderby, params.order) != ("modified", "asc"):
                chosen.sort(key=self._sort_key(collection, params), reverse=params.order == "desc")
            return chosen
        if params.orderby == "include":
            chosen = self._filter(collection, self.dataset.records(collection.stream), params)
            chosen.sort(key=self._sort_key(collection, params), reverse=params.order == "desc")
            return chosen
        records, _ = self._view(collection, params.orderby, params.order)
        return self._filter(collection, records, params)

    def _filter(self, collection: Collection, records: list[dict[str, Any]], params: ListParams) -> list[dict]:
        checks = self._checks(collection, params)
        if not checks:
            return list(records)
        return [record for record in records if all(check(record) for check in checks)]

    def _checks(self, collection: Collection, params: ListParams) -> list[Callable[[dict[str, Any]], bool]]:
        checks: list[Callable[[dict[str, Any]], bool]] = []
        created = collection.created_field
        if params.include is not None:
            included = frozenset(params.include)
            checks.append(lambda r: r["id"] in included)
        if params.exclude:
            checks.append(lambda r: r["id"] not in params.exclude)
        if params.after:
            checks.append(lambda r: r[created] > params.after)
        if params.before:
            checks.append(lambda r: r[created] < params.before)
        if params.statuses is not None:
            checks.append(lambda r: payloads.order_status(r) in params.statuses)
        if params.customer is not None:
            checks.append(lambda r: (r["customer_id"] or "0") == params.customer)
        if collection.stream == "customers":
            if params.role not in ("all", "customer"):
                checks.append(lambda r: False)  # every generated account has the customer role
            if params.email:
                email = params.email.lower()
                checks.append(lambda r: (r["email"] or "").lower() == email)
        return checks

    def _sort_key(self, collection: Collection, params: ListParams) -> Callable[[dict[str, Any]], Any]:
        """Sort key for an orderby; ties break on id in the same direction, like WP's `<orderby> ID`."""
        if params.orderby == "include":
            position = {record_id: i for i, record_id in enumerate(params.include or [])}
            return lambda r: position.get(r["id"], len(position))
        modified, created = collection.modified_field, collection.created_field
        value_of: Callable[[dict[str, Any]], Any] | None = {
            "modified": lambda r: r[modified],
            "date": lambda r: r[created],
            "registered_date": lambda r: r[created],
            "name": lambda r: f"{r.get('first_name') or ''} {r.get('last_name') or ''}".lower(),
            "title": lambda r: (r.get("title") or r.get("name") or "").lower(),
            "slug": lambda r: (r.get("sku") or r.get("domain") or "").lower(),
            "price": lambda r: r.get("price") or 0,
        }.get(params.orderby)
        if value_of is None:  # id, and orderings our data has no column for (popularity, rating, menu_order)
            return lambda r: int(r["id"])
        return lambda r: (value_of(r), int(r["id"]))

    def _view(self, collection: Collection, orderby: str, order: str) -> tuple[list[dict[str, Any]], list[str]]:
        """A sorted copy of a stream, cached until the dataset changes (mutate bumps `version`)."""
        records = self.dataset.records(collection.stream)
        cache_key = (collection.stream, orderby, order, self.dataset.version, len(records))
        if cache_key not in self._views:
            key = self._sort_key(collection, ListParams(orderby=orderby))
            ordered = sorted(records, key=key, reverse=order == "desc")
            keys = [r[collection.modified_field] for r in ordered] if orderby == "modified" else []
            self._views = {k: v for k, v in self._views.items() if k[0] != cache_key[0] or k[3:] == cache_key[3:]}
            self._views[cache_key] = (ordered, keys)
        return self._views[cache_key]

    def _context(self, base_url: str, namespace: str) -> payloads.PayloadContext:
        version = self.dataset.version + len(self.dataset.orders)
        if self._paying[0] != version:
            paying = frozenset(
                o["customer_id"]
                for o in self.dataset.orders
                if o["customer_id"] and o["financial_status"] in payloads.PAID_FINANCIAL
            )
            self._paying = (version, paying)
        return payloads.PayloadContext(base_url, namespace, self.timezone, self._paying[1])

    # single items and refunds --------------------------------------------------------------------

    def _find(self, stream: str, record_id: str) -> dict[str, Any] | None:
        return next((r for r in self.dataset.records(stream) if r["id"] == record_id), None)

    def _item(self, collection: Collection, record_id: str, base_url: str, authorised: bool) -> Response:
        if not authorised:
            return self._cannot_view(listing=False)
        record = self._find(collection.stream, record_id)
        if record is None:
            return _invalid_id(collection.stream)
        return Response(200, collection.mapper(record, self._context(base_url, collection.namespace)))

    def _refunds(self, order_id: str, request: Request, base_url: str, authorised: bool) -> Response:
        # the refunds controller extends the orders controller, so it takes the same list params
        params, errors = self._parse(ROUTES[f"{WC_NAMESPACE}/orders"], request)
        if errors:
            return wp_error(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(errors)}")
        if not authorised:
            return self._cannot_view(listing=True)
        order = self._find("orders", order_id)
        if order is None:
            return wp_error(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
        refunds = sorted(order["refunds"], key=lambda r: (r["created_at"], int(r["id"])), reverse=True)
        ctx = self._context(base_url, WC_NAMESPACE)
        return self._page(refunds, params, request, base_url, lambda r: payloads.refund_payload(order, r, ctx))


def _invalid_id(stream: str) -> Response:
    """The 404 each WooCommerce controller returns for an unknown id."""
    if stream == "orders":
        return wp_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    if stream == "products":
        return wp_error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return wp_error(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")


def _integer(
    query: dict[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None,
    errors: dict[str, tuple[str, str]],
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = ("rest_invalid_type", f"{name} is not of type integer.")
        return default
    if maximum is not None and not minimum <= value <= maximum:
        errors[name] = ("rest_out_of_bounds", f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)")
        return default
    if value < minimum:
        errors[name] = ("rest_out_of_bounds", f"{name} must be greater than or equal to {minimum}")
        return default
    return value


def _enum(query: dict[str, str], name: str, default: str, allowed: tuple[str, ...], errors: dict) -> str:
    value = query.get(name, default)
    if value not in allowed:
        errors[name] = ("rest_not_in_enum", f"{name} is not one of {', '.join(allowed[:-1])} and {allowed[-1]}.")
        return default
    return value


def _ids(raw: str | None) -> list[str]:
    """wp_parse_id_list: comma/space separated, absint, unique, order kept."""
    seen: dict[str, None] = {}
    for part in re.split(r"[\s,]+", raw or ""):
        if part.strip().lstrip("-").isdigit() and int(part) != 0:
            seen.setdefault(str(abs(int(part))), None)
    return list(seen)


def _parse_date(raw: str, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 param as a UTC datetime; a value without offset is read in `zone`."""
    if not WP_DATE_RE.match(raw.strip()):
        return None
    text = raw.strip().replace(" ", "T").replace("t", "T").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(ZoneInfo("UTC"))
