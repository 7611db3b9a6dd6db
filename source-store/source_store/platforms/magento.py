"""Magento 2 / Adobe Commerce platform: REST `/rest/V1` searchCriteria reads with an integration bearer token."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler, HttpStatusErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.budget import store_budget
from source_store.config import ConfigError, StoreConfig, connection_base_url, connection_text
from source_store.cursor import parse_timestamp
from source_store.pagination import PaginationLoopError
from source_store.platforms import magento_mappers as mappers
from source_store.platforms.connection_check import ConnectionProbe, probe_connection
from source_store.platforms.shopify import MIN_THROTTLE_WAIT_SECONDS
from source_store.retrying_client import install
from source_store.streams import Mapper, StoreStream
from source_store.timing import REAL_CLOCK, REAL_SLEEP, Clock, Sleep

NAME = "magento"
# Stores > Configuration > Services > Web API Limits caps pageSize at 300 when input limits are on.
MAX_PAGE_SIZE = 300
LOOKUP_PAGE_SIZE = 100
MAX_RETRIES = 5
MAX_RETRY_TIME = timedelta(minutes=10)
REQUEST_TIMEOUT_SECONDS = 60
MAGENTO_TIME = "%Y-%m-%d %H:%M:%S"  # how Magento writes and compares UTC datetimes
SETUP_HELP = (
    "in the Magento admin → System → Extensions → Integrations, add an integration with the resources listed, "
    "activate it and copy its Access Token; since 2.4.4 also set Stores → Configuration → Services → OAuth → "
    "Consumer Settings → 'Allow OAuth Access Tokens to be used as standalone Bearer tokens' to Yes"
)
CRITERIA = "searchCriteria"


@dataclass(frozen=True)
class Resource:
    """A data-only declaration of one Magento search endpoint behind a canonical stream."""

    name: str
    route: str
    acl: str  # the ACL resource the integration needs (Magento names it in its 401 body)
    mapper: Mapper
    id_field: str = "entity_id"
    item_id: str = "id"  # the id key in the returned items
    incremental: bool = True  # filter and sort on updated_at
    b2b: bool = False  # Adobe Commerce B2B only: a 404 means the module is absent, read as empty
    keep: Callable[[Mapping[str, Any]], bool] | None = None
    enrich: str | None = None  # name of the MagentoStream method adding `_related` to a page


def _is_company_user(item: Mapping[str, Any]) -> bool:
    return bool(((item.get("extension_attributes") or {}).get("company_attributes") or {}).get("company_id"))


RESOURCES = (
    Resource("customers", "customers/search", "Magento_Customer::customer", mappers.map_customer, item_id="id"),
    Resource(
        "orders",
        "orders",
        "Magento_Sales::actions_view",
        mappers.map_order,
        item_id="entity_id",
        enrich="_with_refunds",
    ),
    Resource(
        "abandoned_checkouts",
        "carts/search",
        "Magento_Cart::manage",
        mappers.map_abandoned_checkout,
        enrich="_with_cart_totals",
    ),
    Resource("products", "products", "Magento_Catalog::products", mappers.map_product, enrich="_with_categories"),
    # /V1/company has no timestamps: every read lists all companies (a full refresh stream).
    Resource(
        "companies",
        "company",
        "Magento_Company::index",
        mappers.map_company,
        incremental=False,
        b2b=True,
        enrich="_with_credit",
    ),
    # No company-user endpoint: company users are the customers carrying company_attributes.
    Resource(
        "company_contacts",
        "customers/search",
        "Magento_Customer::customer",
        mappers.map_company_contact,
        keep=_is_company_user,
        enrich="_with_super_users",
    ),
)


def criteria(
    groups: Iterable[Iterable[tuple[str, Any, str]]],
    *,
    sort: Iterable[str] = (),
    page_size: int | None = None,
    page: int | None = None,
) -> dict[str, Any]:
    """SearchCriteria query parameters: groups are AND-ed, the filters inside a group OR-ed."""
    params: dict[str, Any] = {}
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"{CRITERIA}[filter_groups][{g}][filters][{f}]"
            params |= {f"{prefix}[field]": field, f"{prefix}[value]": value, f"{prefix}[condition_type]": condition}
    for i, field in enumerate(sort):
        params |= {f"{CRITERIA}[sortOrders][{i}][field]": field, f"{CRITERIA}[sortOrders][{i}][direction]": "ASC"}
    if page_size is not None:
        params[f"{CRITERIA}[pageSize]"] = page_size
    if page is not None:
        params[f"{CRITERIA}[currentPage]"] = page
    return params or {CRITERIA: ""}


@dataclass(frozen=True)
class Position:
    """Keyset position: the (updated_at, id) of the last record read."""

    updated_at: str | None
    record_id: int


class MagentoBackoff(BackoffStrategy):
    """`Retry-After` for 429/503 (a throttle or maintenance page in front of Magento); else CDK default."""

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        """Seconds to wait, or None for exponential backoff."""
        if not isinstance(response_or_exception, requests.Response):
            return None
        value = response_or_exception.headers.get("Retry-After")
        try:
            return max(float(value), MIN_THROTTLE_WAIT_SECONDS) if value else None
        except ValueError:
            return None


@dataclass(frozen=True)
class MagentoConnection:
    """The validated `magento` connection object."""

    base_url: str
    access_token: str
    store_code: str | None

    @property
    def rest_root(self) -> str:
        """`<base>/rest/V1/` or `<base>/rest/<store_code>/V1/`."""
        scope = f"{self.store_code}/" if self.store_code else ""
        return f"{self.base_url}/rest/{scope}V1/"

    @property
    def host(self) -> str:
        """The store host, for messages."""
        return urlsplit(self.base_url).netloc


def magento_connection(config: StoreConfig) -> MagentoConnection:
    """Validate the `magento` connection object, naming the field at fault."""
    raw = config.connection
    token = connection_text(config, ("base_url", "access_token"))["access_token"]
    base_url = connection_base_url(config, "a URL such as https://shop.example.com")
    if urlsplit(base_url).path.endswith(("/rest", "/rest/V1")):
        raise ConfigError("magento.base_url is the store root, without /rest/V1")
    store_code = raw.get("store_code")
    if store_code is not None and (not isinstance(store_code, str) or not store_code.strip().isidentifier()):
        raise ConfigError(f"magento.store_code {store_code!r} is not a Magento store view code such as 'default'")
    if config.page_size > MAX_PAGE_SIZE:
        raise ConfigError(f"page_size {config.page_size} exceeds Magento's searchCriteria maximum of {MAX_PAGE_SIZE}")
    return MagentoConnection(base_url, token, store_code.strip() if store_code else None)


class MagentoStream(StoreStream):
    """One searchCriteria endpoint read as a keyset: never a page number past the first.

    Each request asks for page 1 of "updated_at ≥ floor AND (updated_at > t OR (updated_at = t AND
    entity_id > i))", sorted updated_at then entity_id, where (t, i) is the last record read; the
    read ends when a page holds all of `total_count`. Magento answers a page past the end with
    the last page again, and page numbers shift when records change mid-read; a keyset never asks
    for a later page, so neither can duplicate or skip a record. A page whose last record is not
    past the previous position is refused (no loop).
    """

    def __init__(
        self,
        resource: Resource,
        config: StoreConfig,
        connection: MagentoConnection,
        sleep: Sleep,
        budget: APIBudget | None = None,
    ) -> None:
        self.resource = resource
        self.connection = connection
        self._position: Position | None = None
        self._has_next = False
        self._categories: dict[str, str] | None = None
        super().__init__(
            name=resource.name,
            cursor_field="updated_at",
            ordered=True,
            mapper=resource.mapper,
            config=config,
            authenticator=None,
        )
        install(self, TokenAuthenticator(connection.access_token), sleep, api_budget=budget)

    @property
    def cursor_field(self) -> str | list[str]:
        """`updated_at`, or none for an endpoint without timestamps (full refresh only)."""
        return "updated_at" if self.resource.incremental else []

    @property
    def is_resumable(self) -> bool:
        """A snapshot endpoint is re-read whole (the CDK's resumable full refresh would re-read page 1 forever)."""
        return self.resource.incremental

    @property
    def url_base(self) -> str:
        """The REST root."""
        return self.connection.rest_root

    def path(self, **_: Any) -> str:
        """The search route below `/V1/`."""
        return self.resource.route

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        """One keyset traversal from the window's floor."""
        self._position, self._has_next = None, False
        yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        """Filter, sort and size of the next keyset page (always currentPage 1)."""
        position = self._position
        groups: list[list[tuple[str, Any, str]]] = []
        if self.resource.incremental:
            since = self.window.floor.strftime(MAGENTO_TIME)
            if position is not None and position.updated_at:
                since = max(since, position.updated_at)
            groups.append([("updated_at", since, "gteq")])
            if position is not None:
                groups.append(
                    [("updated_at", position.updated_at, "gt"), (self.resource.id_field, position.record_id, "gt")]
                )
            sort = ("updated_at", self.resource.id_field)
        else:
            if position is not None:
                groups.append([(self.resource.id_field, position.record_id, "gt")])
            sort = (self.resource.id_field,)
        return criteria(groups, sort=sort, page_size=self.config.page_size, page=1)

    def request_kwargs(self, *_: Any, **__: Any) -> Mapping[str, Any]:
        """Never wait forever on a silent store."""
        return {"timeout": REQUEST_TIMEOUT_SECONDS}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The keyset position, while `total_count` says records remain beyond this page."""
        if not self._has_next or self._position is None:
            return None
        return {"updated_at": self._position.updated_at, "id": self._position.record_id}

    def parse_response(self, response: requests.Response, **_: Any) -> Iterable[Mapping[str, Any]]:
        """Map one page; enrich it with related records; stop once it held all of `total_count`."""
        if self.resource.b2b and response.status_code == requests.codes.not_found:
            self._has_next = False
            self.window.finish_traversal()
            return
        body = response.json()
        if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
            raise AirbyteTracedException(
                message=f"{self.name}: /V1/{self.resource.route} did not answer with a searchCriteria result",
                failure_type=FailureType.system_error,
            )
        items = [item for item in body["items"] if isinstance(item, Mapping)]
        total = body.get("total_count")
        if not isinstance(total, int):
            raise AirbyteTracedException(
                message=f"{self.name}: /V1/{self.resource.route} answered without total_count",
                failure_type=FailureType.system_error,
            )
        self._advance(items)
        self._has_next = bool(items) and len(items) < total
        if self.resource.enrich:
            items = getattr(self, self.resource.enrich)(items)
        if self.resource.keep is not None:
            items = [item for item in items if self.resource.keep(item)]
        yield from self.emit_page(items, last_page=not self._has_next)

    def get_error_handler(self) -> ErrorHandler | None:
        """CDK defaults (429/5xx/timeouts retried) with errors that say what to fix."""
        host = self.connection.host
        route = f"/rest/V1/{self.resource.route}"
        overrides = {
            401: _fail(f"integration token rejected by {host} for {route} (needs {self.resource.acl}); {SETUP_HELP}"),
            403: _fail(f"the integration may not read {route} on {host} (needs {self.resource.acl}); {SETUP_HELP}"),
            404: _fail(f"{host} has no {route}: is magento.base_url the store root (without /rest)?"),
        }
        if self.resource.b2b:
            overrides[404] = ErrorResolution(
                response_action=ResponseAction.IGNORE,
                error_message=f"{host} has no {route}: Adobe Commerce B2B is not installed, so {self.name} is empty",
            )
        return HttpStatusErrorHandler(
            logger=self.logger,
            error_mapping={**DEFAULT_ERROR_MAPPING, **overrides},
            max_retries=MAX_RETRIES,
            max_time=MAX_RETRY_TIME,
        )

    def get_backoff_strategy(self) -> BackoffStrategy:
        """Honour `Retry-After`."""
        return MagentoBackoff()

    # keyset --------------------------------------------------------------------------------------

    def _advance(self, items: list[Mapping[str, Any]]) -> None:
        if not items:
            return
        last = items[-1]
        record_id = _int(last.get(self.resource.item_id))
        moment = parse_timestamp(last.get("updated_at")) if self.resource.incremental else None
        if record_id is None or (self.resource.incremental and moment is None):
            raise AirbyteTracedException(
                message=(
                    f"{self.name}: record {last.get(self.resource.item_id)!r} has no usable "
                    f"{self.resource.item_id}/updated_at to page on (updated_at={last.get('updated_at')!r})"
                ),
                failure_type=FailureType.system_error,
            )
        position = Position(moment.strftime(MAGENTO_TIME) if moment else None, record_id)
        previous = self._position
        if previous is not None and (position.updated_at or "", position.record_id) <= (
            previous.updated_at or "",
            previous.record_id,
        ):
            raise PaginationLoopError(
                f"{self.name}: /V1/{self.resource.route} served a page ending at {position} after {previous}; "
                "refusing to loop"
            )
        self._position = position

    # related records -----------------------------------------------------------------------------

    def lookup(self, route: str, groups: list[list[tuple[str, Any, str]]]) -> Iterator[Mapping[str, Any]]:
        """Every item of a small search, paged by number and stopped on `total_count`, never on a short page."""
        page, seen = 1, 0
        while True:
            params = criteria(groups, sort=("entity_id",), page_size=LOOKUP_PAGE_SIZE, page=page)
            _, response = self._http_client.send_request(
                http_method="GET",
                url=self.connection.rest_root + route,
                request_kwargs={"timeout": REQUEST_TIMEOUT_SECONDS},
                params=params,
            )
            body = response.json() if response.status_code == 200 else {"items": [], "total_count": 0}
            items = body.get("items") or []
            yield from items
            seen += len(items)
            if not items or seen >= int(body.get("total_count") or 0):
                return
            page += 1

    def _with_refunds(self, orders: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        ids = ",".join(str(order.get("entity_id")) for order in orders)
        memos: dict[str, list[Mapping[str, Any]]] = {}
        if ids:
            for memo in self.lookup("creditmemos", [[("order_id", ids, "in")]]):
                memos.setdefault(str(memo.get("order_id")), []).append(memo)
        return [{**order, mappers.RELATED: {"refunds": memos.get(str(order.get("entity_id")), [])}} for order in orders]

    def _with_cart_totals(self, carts: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """One `/V1/carts/{id}/totals` call per quote: the search result carries no grand total."""
        enriched = []
        for cart in carts:
            _, response = self._http_client.send_request(
                http_method="GET",
                url=f"{self.connection.rest_root}carts/{cart.get('id')}/totals",
                request_kwargs={"timeout": REQUEST_TIMEOUT_SECONDS},
            )
            totals = response.json() if response.status_code == 200 else {}
            enriched.append({**cart, mappers.RELATED: {"totals": totals}})
        return enriched

    def _with_categories(self, products: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        if self._categories is None:
            self._categories = {
                str(c.get("id")): str(c.get("name")) for c in self.lookup("categories/list", []) if c.get("name")
            }
        enriched = []
        for product in products:
            links = ((product.get("extension_attributes") or {}).get("category_links")) or []
            names = [self._categories.get(str(link.get("category_id"))) for link in links]
            enriched.append({**product, mappers.RELATED: {"categories": [n for n in names if n]}})
        return enriched

    def _with_credit(self, companies: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        ids = ",".join(str(company.get("id")) for company in companies)
        credit = {str(c.get("company_id")): c for c in self.lookup("companyCredits", [[("company_id", ids, "in")]])}
        return [{**c, mappers.RELATED: {"credit": credit.get(str(c.get("id")))}} for c in companies]

    def _with_super_users(self, customers: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        company_ids = {
            str(((c.get("extension_attributes") or {}).get("company_attributes") or {}).get("company_id"))
            for c in customers
            if _is_company_user(c)
        }
        admins: set[str] = set()
        if company_ids:
            groups = [[("entity_id", ",".join(sorted(company_ids)), "in")]]
            admins = {str(c.get("super_user_id")) for c in self.lookup("company", groups) if c.get("super_user_id")}
        return [{**c, mappers.RELATED: {"super_user": str(c.get("id")) in admins}} for c in customers]

    def _canonical(self, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        if self.resource.incremental:
            return super()._canonical(raw)
        try:  # a snapshot stream has no cursor to admit records by
            record = self._mapper(raw)
        except ValueError as error:
            self.counts["skipped"] += 1
            self.logger.error(f"{self.name}: record skipped, it cannot be mapped: {error}")
            return None
        return {**record, "platform": self.config.platform, "store_id": self.config.store_id}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _fail(message: str) -> ErrorResolution:
    return ErrorResolution(
        response_action=ResponseAction.FAIL, failure_type=FailureType.config_error, error_message=message
    )


def streams(config: StoreConfig, *, sleep: Sleep = REAL_SLEEP, clock: Clock = REAL_CLOCK) -> list[Stream]:
    """Every canonical stream Magento provides (no `events`: Magento keeps no behaviour events).

    Retries wait through `sleep`; `clock` is unused (a Magento read keeps no time of its own).
    """
    connection = magento_connection(config)
    budget = store_budget(config.requests_per_second)
    return [MagentoStream(resource, config, connection, sleep, budget) for resource in RESOURCES]


def check_connection(config: StoreConfig, logger: logging.Logger) -> str | None:
    """Ask for one order with the configured token; what is wrong, or None when it works."""
    connection = magento_connection(config)
    host = connection.host
    probe = ConnectionProbe(
        platform=NAME,
        host=host,
        send=lambda timeout: requests.get(
            connection.rest_root + "orders",
            params=criteria([], page_size=1, page=1),
            headers={"Authorization": f"Bearer {connection.access_token}"},
            timeout=timeout,
        ),
        request_name="GET /rest/V1/orders",
        status_problems={
            requests.codes.unauthorized: (
                f"integration token rejected by {host} for /rest/V1/orders (needs Magento_Sales::actions_view); "
                f"{SETUP_HELP}"
            ),
            requests.codes.not_found: (
                f"{host} has no Magento REST API at /rest/V1/orders: is magento.base_url the store root?"
            ),
        },
        body_problem=_search_result_problem,
        accepted=f"Magento at {host} accepted the integration token",
    )
    return probe_connection(probe, logger)


def _search_result_problem(body: Any, host: str) -> str | None:
    if isinstance(body, Mapping) and "total_count" in body:
        return None
    return f"{host} answered /rest/V1/orders with something other than a Magento search result"
