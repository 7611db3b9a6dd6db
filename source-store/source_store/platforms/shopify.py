"""Shopify platform: GraphQL Admin API (versioned path), token auth, cost-aware paging, bulk first syncs."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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
from source_store.cursor import format_timestamp
from source_store.pagination import PaginationLoopError
from source_store.platforms import shopify_mappers as mappers
from source_store.platforms import shopify_queries as queries
from source_store.platforms.connection_check import ConnectionProbe, json_or_none, probe_connection
from source_store.platforms.shopify_bulk import BulkRunner, has_bulk_operation_by_id, reassemble
from source_store.retrying_client import SleepInjectedHttpClient, install
from source_store.streams import Mapper, StoreStream
from source_store.timing import REAL_CLOCK, REAL_SLEEP, Clock, Sleep

NAME = "shopify"
DEFAULT_API_VERSION = "2025-10"
API_VERSION_RE = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")  # shopify.dev: quarterly versions
MAX_FIRST = 250  # shopify.dev GraphQL pagination: "first" cannot exceed 250
SINGLE_QUERY_MAX_COST = 1000  # shopify.dev rate limits: a single query may cost at most 1000 points
# Longest a query waits for the first answer to say how full the cost bucket is (seconds, real time).
FIRST_ANSWER_WAIT_S = 30.0
MIN_THROTTLE_WAIT_SECONDS = 1.0
DEFAULT_BULK_POLL_SECONDS = 5.0
BULK_QUERIES_PER_SHOP = (
    5  # shopify.dev bulk operations: "up to five bulk query operations at a time per shop" (2026-01+)
)
BULK_BATCH = 250  # bulk roots mapped per batch (a "page" for STATE purposes)
# Bytes read at a time from the JSONL download (requests' iter_lines reads 512 by default: a result of
# hundreds of megabytes would take a Python-level read per few lines).
DOWNLOAD_CHUNK_BYTES = 1 << 16
MAX_RETRIES = 8
MAX_RETRY_TIME = timedelta(minutes=15)
REQUEST_TIMEOUT_SECONDS = 60
SETUP_HELP = (
    "in Shopify admin → Settings → Apps and sales channels → Develop apps, give a custom app the read_customers, "
    "read_orders, read_products (and read_companies for B2B) Admin API scopes, install it, and copy its Admin API "
    "access token (shpat_...)"
)


@dataclass(frozen=True)
class Resource:
    """A data-only declaration of one Shopify root connection behind a canonical stream."""

    name: str
    root: str
    selection: Callable[[queries.Nested], str]
    mapper: Mapper
    max_first: int  # largest `first` whose query costs at most SINGLE_QUERY_MAX_COST (see tests)
    sort_key: str | None = "UPDATED_AT"
    filtered: bool = True  # send `query: "updated_at:>='...'"`
    follow_ups: tuple[queries.FollowUp, ...] = ()
    whole_lists: tuple[queries.WholeList, ...] = ()
    explode: Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]] | None = None
    bulk: bool = True

    @property
    def ordered(self) -> bool:
        """Records arrive in cursor order only when Shopify sorts them by UPDATED_AT."""
        return self.sort_key == "UPDATED_AT"


def resources(namespace: str) -> tuple[Resource, ...]:
    """Every stream Shopify provides (no `events`: the Admin API has no storefront behaviour events)."""
    line_items = queries.FollowUp("lineItems", "order", queries.LINE_ITEM)
    checkout_items = queries.FollowUp("lineItems", "abandonedCheckout", queries.CHECKOUT_LINE_ITEM)
    contacts = queries.FollowUp("contacts", "company", queries.CONTACT)
    refunds = queries.WholeList("refunds", "order", queries.REFUND, lambda: queries.REFUNDS_FIRST)
    return (
        Resource("customers", "customers", queries.customer, mappers.map_customer, max_first=100),
        Resource(
            "orders",
            "orders",
            queries.order,
            mappers.map_order,
            max_first=9,
            follow_ups=(line_items,),
            whole_lists=(refunds,),
        ),
        # AbandonedCheckoutSortKeys has no UPDATED_AT: read in id order, state moves once the read ends.
        Resource(
            "abandoned_checkouts",
            "abandonedCheckouts",
            queries.abandoned_checkout,
            mappers.map_abandoned_checkout,
            max_first=14,
            sort_key="ID",
            follow_ups=(checkout_items,),
        ),
        Resource("products", "products", queries.product, mappers.map_product, max_first=100),
        Resource("companies", "companies", queries.company(namespace), mappers.map_company, max_first=90),
        # The Admin API has no root connection of company contacts: every read walks all companies
        # (⌈companies / 9⌉ requests) and keeps contacts changed since the cursor.
        Resource(
            "company_contacts",
            "companies",
            queries.company_with_contacts,
            mappers.map_company_contact,
            max_first=9,
            sort_key="ID",
            filtered=False,
            follow_ups=(contacts,),
            explode=mappers.company_contacts,
            bulk=False,
        ),
    )


@dataclass
class CostThrottle:
    """Shopify's calculated-cost leaky bucket as the last response described it, shared by all streams.

    Before a query, wait until the bucket has refilled enough for the query's cost (the cost the
    same query was charged last time), so a well-behaved read is never THROTTLED. Streams read in
    parallel threads share it: under one lock each query reserves its points from the estimated
    bucket (the last reported level, refilled since, less what other threads reserved and have
    not yet seen answered) and computes its wait; the sleep happens outside the lock. A thread
    has at most one query in flight, so its reservation is released when its answer is observed
    (or replaced by its next one, should an answer never come). Until the first answer reports the
    bucket, one query is out at a time: the bucket may already be drained by another app.
    """

    sleep: Sleep
    clock: Clock
    logger: logging.Logger
    available: float | None = None
    maximum: float | None = None
    restore_rate: float | None = None
    observed_at: float = 0.0
    waited: float = 0.0
    throttled: int = 0
    costs: dict[str, int] = field(default_factory=dict)
    reserved: dict[int, float] = field(default_factory=dict)
    _answered: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def observe(self, body: Any, operation: str | None = None) -> Mapping[str, Any]:
        """Take `extensions.cost` from a response body (and remember `operation`'s cost); returns it ({} if absent)."""
        cost = ((body or {}).get("extensions") or {}).get("cost") or {} if isinstance(body, Mapping) else {}
        status = cost.get("throttleStatus") or {}
        with self._answered:
            # The level was measured when Shopify ran the query, before now: refilling from now under-counts
            # (the safe side), and the answered query's reservation is released.
            self.reserved.pop(threading.get_ident(), None)
            if operation is not None and cost.get("requestedQueryCost") is not None:
                self.costs[operation] = int(cost["requestedQueryCost"])
            if status.get("restoreRate"):
                self.available = float(status.get("currentlyAvailable") or 0)
                self.maximum = float(status.get("maximumAvailable") or self.available)
                self.restore_rate = float(status["restoreRate"])
                self.observed_at = self.clock()
            self._answered.notify_all()
        return cost

    def wait_for(self, operation: str) -> None:
        """Reserve what `operation` cost last time and sleep until the bucket holds it."""
        wait, available, needed = self._reserve(operation)
        if wait <= 0:
            return
        self.logger.info(
            f"Shopify cost bucket holds {available:.0f} of the {needed} points needed; waiting {wait:.1f} s"
        )
        self.sleep(wait)

    def _reserve(self, operation: str) -> tuple[float, float, int]:
        """Under the lock: (seconds to wait, points the bucket is estimated to hold, points reserved)."""
        with self._answered:
            # A query not sent before is assumed to cost the most any single query may cost.
            needed = self.costs.get(operation, SINGLE_QUERY_MAX_COST)
            me = threading.get_ident()
            self.reserved.pop(me, None)
            if self.restore_rate is None and self.reserved:
                # Nothing known of the bucket yet and a query is out: its answer will tell (another
                # app may have drained the bucket). A first query that never answers blocks no one for long.
                self._answered.wait_for(
                    lambda: self.restore_rate is not None or not self.reserved, timeout=FIRST_ANSWER_WAIT_S
                )
            if self.available is None or not self.restore_rate:
                self.reserved[me] = needed  # nothing known yet: the first query goes at once
                return 0.0, 0.0, needed
            available = self._estimate() - sum(self.reserved.values())
            self.reserved[me] = needed
            wait = max(0.0, (needed - available) / self.restore_rate)
            self.waited += wait
            return wait, available, needed

    def _estimate(self) -> float:
        """The last reported level refilled since it was reported (caller holds the lock)."""
        assert self.available is not None and self.restore_rate
        elapsed = max(0.0, self.clock() - self.observed_at)
        return min(self.maximum or float("inf"), self.available + elapsed * self.restore_rate)

    def throttled_wait(self, body: Any) -> float:
        """Seconds until a THROTTLED query fits in the bucket (at least a second)."""
        cost = self.observe(body)
        with self._answered:
            self.throttled += 1
            requested = cost.get("requestedQueryCost")
            if requested is None or self.available is None or not self.restore_rate:
                return MIN_THROTTLE_WAIT_SECONDS
            others = sum(self.reserved.values())
            self.reserved[threading.get_ident()] = float(requested)  # the retry spends it
            return max((float(requested) - self.available + others) / self.restore_rate, MIN_THROTTLE_WAIT_SECONDS)


class ShopifyAccessToken(TokenAuthenticator):
    """`X-Shopify-Access-Token: <token>` (no scheme word)."""

    def __init__(self, token: str) -> None:
        super().__init__(token=token, auth_method="", auth_header="X-Shopify-Access-Token")

    @property
    def token(self) -> str:
        """The bare token."""
        return self._token


def graphql_error_codes(body: Any) -> list[str]:
    """`extensions.code` of each GraphQL error in a response body."""
    if not isinstance(body, Mapping) or not isinstance(body.get("errors"), list):
        return []
    return [str((error.get("extensions") or {}).get("code")) for error in body["errors"] if isinstance(error, Mapping)]


class ShopifyErrorHandler(HttpStatusErrorHandler):
    """HTTP statuses as the CDK maps them, plus GraphQL errors that arrive with HTTP 200."""

    def interpret_response(self, response_or_exception: Any = None) -> ErrorResolution:
        """THROTTLED → rate limited (retry after the bucket refills); other GraphQL errors → fail, explained."""
        response = response_or_exception
        if isinstance(response, requests.Response) and response.status_code == 200:
            if (response.headers.get("Content-Type") or "").startswith("application/jsonl"):
                return super().interpret_response(response)
            body = json_or_none(response)
            codes = graphql_error_codes(body)
            if "THROTTLED" in codes:
                return ErrorResolution(
                    response_action=ResponseAction.RATE_LIMITED,
                    failure_type=FailureType.transient_error,
                    error_message="Shopify answered THROTTLED: the calculated-cost bucket is empty",
                )
            if isinstance(body, Mapping) and body.get("errors"):
                messages = "; ".join(str(e.get("message")) for e in body["errors"] if isinstance(e, Mapping))
                config_error = "ACCESS_DENIED" in codes
                hint = f" ({SETUP_HELP})" if config_error else ""
                return ErrorResolution(
                    response_action=ResponseAction.FAIL,
                    failure_type=FailureType.config_error if config_error else FailureType.system_error,
                    error_message=f"Shopify GraphQL error: {messages}{hint}",
                )
        return super().interpret_response(response_or_exception)


class ShopifyBackoff(BackoffStrategy):
    """THROTTLED: wait until the bucket holds the query's cost; 429/503: `Retry-After`; else CDK default."""

    def __init__(self, throttle: CostThrottle) -> None:
        self._throttle = throttle

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        """Seconds to wait before the next attempt, or None for exponential backoff."""
        if not isinstance(response_or_exception, requests.Response):
            return None
        if response_or_exception.status_code == 200:
            return self._throttle.throttled_wait(json_or_none(response_or_exception))
        retry_after = response_or_exception.headers.get("Retry-After")
        try:
            return max(float(retry_after), MIN_THROTTLE_WAIT_SECONDS) if retry_after else None
        except ValueError:
            return None


@dataclass(frozen=True)
class ShopifyConnection:
    """The validated `shopify` connection object."""

    base_url: str
    access_token: str
    api_version: str
    metafield_namespace: str
    bulk_first_sync: bool
    bulk_poll_seconds: float

    @property
    def graphql_url(self) -> str:
        """The versioned GraphQL Admin API endpoint."""
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    @property
    def host(self) -> str:
        """The shop's host, for messages."""
        return urlsplit(self.base_url).netloc


def shopify_connection(config: StoreConfig) -> ShopifyConnection:
    """Validate the `shopify` connection object, naming the field at fault."""
    raw = config.connection
    token = connection_text(config, ("base_url", "access_token"))["access_token"]
    base_url = connection_base_url(config, "a URL such as https://my-shop.myshopify.com")
    version = raw.get("api_version", DEFAULT_API_VERSION)
    if not isinstance(version, str) or not API_VERSION_RE.match(version):
        raise ConfigError(f"shopify.api_version {version!r} is not a Shopify API version such as {DEFAULT_API_VERSION}")
    namespace = raw.get("metafield_namespace", "store2crm")
    if not isinstance(namespace, str) or not namespace.strip():
        raise ConfigError("shopify.metafield_namespace must be a non-empty string")
    bulk = raw.get("bulk_first_sync", False)
    if not isinstance(bulk, bool):
        raise ConfigError(f"shopify.bulk_first_sync must be true or false, got {bulk!r}")
    poll = raw.get("bulk_poll_seconds", DEFAULT_BULK_POLL_SECONDS)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or poll < 0:
        raise ConfigError(f"shopify.bulk_poll_seconds must be a non-negative number, got {poll!r}")
    return ShopifyConnection(base_url, token, version, namespace.strip(), bulk, float(poll))


class ShopifyStream(StoreStream):
    """One root connection of the GraphQL Admin API, keyset-paged with `first`/`after` and `pageInfo`.

    Incremental reads filter `updated_at:>='<cursor - lookback>'` (inclusive: records on the cursor
    second are read again, downstream dedupes on `id`) and, where Shopify offers it, sort
    `UPDATED_AT`, so the state moves after every page. Shopify's cursor encodes (sort value, id),
    so records changed during the read move behind the cursor and are caught by the next read.
    """

    http_method = "POST"

    def __init__(
        self,
        resource: Resource,
        config: StoreConfig,
        *,
        connection: ShopifyConnection,
        throttle: CostThrottle,
        sleep: Sleep,
        budget: APIBudget | None = None,
    ) -> None:
        self.resource = resource
        self.connection = connection
        self._throttle = throttle
        self._sleep = sleep
        self._next_cursor: str | None = None
        self._previous_cursor: str | None = None
        self._bulk_rows: int = 0
        super().__init__(
            name=resource.name,
            cursor_field="updated_at",
            ordered=resource.ordered,
            mapper=resource.mapper,
            config=config,
            authenticator=None,
        )
        self._auth = ShopifyAccessToken(connection.access_token)
        install(self, self._auth, sleep, api_budget=budget)
        self._query = queries.page_query(
            resource.root, resource.selection(queries.paged), resource.sort_key, resource.filtered
        )

    @property
    def url_base(self) -> str:
        """The versioned Admin API root."""
        return f"{self.connection.base_url}/admin/api/{self.connection.api_version}/"

    def path(self, **_: Any) -> str:
        """Every operation goes to the one GraphQL endpoint."""
        return "graphql.json"

    @property
    def first(self) -> int:
        """Nodes per page: the configured page size within what one query may cost."""
        return min(self.config.page_size, self.resource.max_first, MAX_FIRST)

    def search(self) -> str:
        """The search filter of this read: changed at or after the window's floor."""
        return f"updated_at:>='{format_timestamp(self.window.floor)}'"

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        """A bulk export for a first sync when configured, else a paged traversal."""
        self._next_cursor = self._previous_cursor = None
        if self.connection.bulk_first_sync and self.resource.bulk and self.window.committed is None:
            yield from self._read_bulk()
            return
        yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)

    def request_body_json(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """The page query; waits first until the cost bucket can pay for it."""
        variables: dict[str, Any] = {"first": self.first, "after": (next_page_token or {}).get("after")}
        if self.resource.filtered:
            variables["query"] = self.search()
        self._throttle.wait_for(self.name)
        return {"query": self._query, "variables": variables}

    def request_kwargs(self, *_: Any, **__: Any) -> Mapping[str, Any]:
        """Never wait forever on a silent shop."""
        return {"timeout": REQUEST_TIMEOUT_SECONDS}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The end cursor of the page just parsed, while Shopify says another page follows."""
        return {"after": self._next_cursor} if self._next_cursor else None

    def parse_response(self, response: requests.Response, **_: Any) -> Iterable[Mapping[str, Any]]:
        """Map one page; child lists longer than the query's `first` are completed first."""
        body = response.json()
        self._throttle.observe(body, self.name)
        connection = ((body or {}).get("data") or {}).get(self.resource.root)
        if not isinstance(connection, Mapping):
            raise AirbyteTracedException(
                message=f"{self.name}: Shopify answered without data.{self.resource.root}",
                failure_type=FailureType.system_error,
            )
        page_info = connection.get("pageInfo") or {}
        cursor = page_info.get("endCursor") if page_info.get("hasNextPage") else None
        if cursor is not None and cursor == self._previous_cursor:
            raise PaginationLoopError(f"{self.name}: Shopify handed back the same end cursor twice; refusing to loop")
        self._previous_cursor, self._next_cursor = cursor, cursor
        nodes = [self._complete(node) for node in mappers.connection_nodes(connection) if isinstance(node, Mapping)]
        yield from self.emit_page(self._explode(nodes), last_page=cursor is None)

    def get_error_handler(self) -> ErrorHandler | None:
        """CDK defaults (429/5xx/timeouts retried) plus GraphQL errors, with errors that say what to fix."""
        host = urlsplit(self.connection.base_url).netloc
        overrides = {
            401: _fail(f"access token rejected by {host}; {SETUP_HELP}"),
            402: _fail(f"{host} is frozen for an unpaid Shopify bill (HTTP 402); the API reopens once it is paid"),
            403: _fail(f"the access token may not read {self.name} on {host}; {SETUP_HELP}"),
            404: _fail(
                f"{host} has no Admin API at /admin/api/{self.connection.api_version}/graphql.json: is base_url the "
                "shop's https://<shop>.myshopify.com address and api_version a supported version?"
            ),
            423: _fail(f"{host} is locked by Shopify (HTTP 423); contact Shopify support"),
        }
        return ShopifyErrorHandler(
            logger=self.logger,
            error_mapping={**DEFAULT_ERROR_MAPPING, **overrides},
            max_retries=MAX_RETRIES,
            max_time=MAX_RETRY_TIME,
        )

    def get_backoff_strategy(self) -> BackoffStrategy:
        """Bucket-aware waits for THROTTLED, `Retry-After` for 429/503."""
        return ShopifyBackoff(self._throttle)

    # helpers -------------------------------------------------------------------------------------

    def graphql(self, document: str, variables: Mapping[str, Any], operation: str) -> Mapping[str, Any]:
        """Send one more operation (follow-ups, bulk) through the stream's HTTP client; its `data`."""
        self._throttle.wait_for(operation)
        _, response = self._http_client.send_request(
            http_method="POST",
            url=self.connection.graphql_url,
            request_kwargs={"timeout": REQUEST_TIMEOUT_SECONDS},
            json={"query": document, "variables": dict(variables)},
        )
        body = response.json()
        self._throttle.observe(body, operation)
        return (body or {}).get("data") or {}

    def _complete(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """Fetch the rest of every child connection and capped list that did not fit in the page query."""
        node = dict(node)
        for whole in self.resource.whole_lists:
            items = node.get(whole.field)
            if isinstance(items, list) and len(items) >= whole.cap():
                data = self.graphql(whole.document(), {"id": node.get("id")}, f"{self.name}:{whole.field}")
                node[whole.field] = (data.get("node") or {}).get(whole.field) or items
        for follow_up in self.resource.follow_ups:
            child = node.get(follow_up.field)
            if not isinstance(child, Mapping):
                continue
            nodes = list(mappers.connection_nodes(child))
            info = child.get("pageInfo") or {}
            while info.get("hasNextPage") and info.get("endCursor"):
                data = self.graphql(
                    follow_up.document(), {"id": node.get("id"), "after": info["endCursor"]}, f"{self.name}:rest"
                )
                more = ((data.get("node") or {}).get(follow_up.field)) or {}
                nodes.extend(mappers.connection_nodes(more))
                info = more.get("pageInfo") or {}
            node[follow_up.field] = {"nodes": nodes}
        return node

    def _explode(self, nodes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        if self.resource.explode is None:
            return nodes
        return [child for node in nodes for child in self.resource.explode(node)]

    def _read_bulk(self) -> Iterator[Mapping[str, Any]]:
        """First sync by bulk operation: rows arrive unsorted, so the state moves only at the end."""
        query = queries.bulk_query(self.resource.root, self.resource.selection(queries.bulk), self.search())
        runner = BulkRunner(
            lambda document, variables: self.graphql(document, variables, "bulk"),
            sleep=self._sleep,
            poll_seconds=self.connection.bulk_poll_seconds,
            logger=self.logger,
            by_id=has_bulk_operation_by_id(self.connection.api_version),
        )
        with bulk_slot(self.connection):  # held while the export runs, released before the download
            url = runner.run(query)
        self.window.ordered = False
        try:
            batch: list[Mapping[str, Any]] = []
            for root in reassemble(self._download(url) if url else ()):
                batch.append(root)
                if len(batch) == BULK_BATCH:
                    yield from self.emit_page(batch, last_page=False)
                    batch = []
            yield from self.emit_page(batch, last_page=True)
        finally:
            self.window.ordered = self.resource.ordered

    def _download(self, url: str) -> Iterator[bytes]:
        """Stream the JSONL result. No shop token goes with it: the URL is a signed storage link."""
        client = SleepInjectedHttpClient(
            name=f"{self.name} bulk download",
            logger=self.logger,
            error_handler=HttpStatusErrorHandler(logger=self.logger, max_retries=MAX_RETRIES),
            sleep=self._sleep,
        )
        _, response = client.send_request(
            http_method="GET", url=url, request_kwargs={"stream": True, "timeout": REQUEST_TIMEOUT_SECONDS}
        )
        with response:
            yield from response.iter_lines(chunk_size=DOWNLOAD_CHUNK_BYTES)


def bulk_queries_per_shop(api_version: str) -> int:
    """Bulk query operations an app may run at once on one shop: five from API 2026-01, one before."""
    return BULK_QUERIES_PER_SHOP if has_bulk_operation_by_id(api_version) else 1


_bulk_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_bulk_slots_lock = threading.Lock()


def bulk_slot(connection: ShopifyConnection) -> threading.BoundedSemaphore:
    """The process-wide semaphore bounding this shop's concurrent bulk exports to what its API version allows.

    Streams read in parallel threads take it before `bulkOperationRunQuery`, so they queue here
    instead of being refused by Shopify; keyed by shop, so separate sources of one shop share it.
    """
    key = (connection.host, bulk_queries_per_shop(connection.api_version))
    with _bulk_slots_lock:
        return _bulk_slots.setdefault(key, threading.BoundedSemaphore(key[1]))


def _fail(message: str) -> ErrorResolution:
    return ErrorResolution(
        response_action=ResponseAction.FAIL, failure_type=FailureType.config_error, error_message=message
    )


def streams(
    config: StoreConfig,
    *,
    sleep: Sleep = REAL_SLEEP,
    clock: Clock = REAL_CLOCK,
) -> list[Stream]:
    """Every canonical stream Shopify provides; they share one cost bucket (per app and shop)."""
    connection = shopify_connection(config)
    budget = store_budget(config.requests_per_second)
    throttle = CostThrottle(sleep=sleep, clock=clock, logger=logging.getLogger("airbyte"))
    return [
        ShopifyStream(resource, config, connection=connection, throttle=throttle, sleep=sleep, budget=budget)
        for resource in resources(connection.metafield_namespace)
    ]


def check_connection(config: StoreConfig, logger: logging.Logger) -> str | None:
    """Ask for one customer with the configured token; what is wrong, or None when it works."""
    connection = shopify_connection(config)
    host = connection.host
    probe = ConnectionProbe(
        platform=NAME,
        host=host,
        send=lambda timeout: requests.post(
            connection.graphql_url,
            json={"query": queries.CHECK},
            headers={"X-Shopify-Access-Token": connection.access_token},
            timeout=timeout,
        ),
        request_name="the GraphQL Admin API",
        status_problems={
            requests.codes.unauthorized: f"access token rejected by {host}; {SETUP_HELP}",
            requests.codes.forbidden: f"the access token may not read customers on {host}; {SETUP_HELP}",
            requests.codes.not_found: (
                f"{host} has no Admin API at /admin/api/{connection.api_version}/graphql.json: is base_url the "
                "shop's https://<shop>.myshopify.com address and api_version a supported version?"
            ),
        },
        body_problem=_body_problem,
        accepted=f"Shopify at {host} accepted the access token (API {connection.api_version})",
    )
    return probe_connection(probe, logger)


def _body_problem(body: Any, host: str) -> str | None:
    codes = graphql_error_codes(body)
    if "ACCESS_DENIED" in codes:
        return f"the access token lacks a scope on {host}; {SETUP_HELP}"
    if codes and "THROTTLED" not in codes:
        return f"{host} answered the check query with GraphQL errors: {', '.join(codes)}"
    if not isinstance(body, Mapping) or ("data" not in body and not codes):
        return f"{host} answered with something other than a GraphQL response"
    return None
