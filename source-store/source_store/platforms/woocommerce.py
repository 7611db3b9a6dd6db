"""WooCommerce platform: REST API v3 plus the store2crm companion plugin, read with key/secret auth."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorHandler,
    HttpStatusErrorHandler,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.requests_native_auth import BasicHttpAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.budget import store_budget
from source_store.config import ConfigError, StoreConfig, connection_base_url, connection_text
from source_store.cursor import format_timestamp, parse_timestamp
from source_store.keyset import KeysetTraversal
from source_store.pagination import PageNumberPaginator
from source_store.platforms.connection_check import ConnectionProbe, probe_connection
from source_store.platforms.woocommerce_mappers import (
    map_abandoned_checkout,
    map_company,
    map_company_contact,
    map_customer,
    map_event,
    map_order,
    map_product,
)
from source_store.retrying_client import install
from source_store.streams import Mapper, StoreStream
from source_store.timing import REAL_CLOCK, REAL_SLEEP, Clock, Sleep, utc_now

NAME = "woocommerce"
MAX_PAGE_SIZE = 100  # WooCommerce REST API docs, "Pagination": per_page is capped at 100.
TOTAL_PAGES_HEADER = "X-WP-TotalPages"  # WooCommerce REST API docs, "Pagination".
TOTAL_HEADER = "X-WP-Total"  # WooCommerce REST API docs, "Pagination".
MODIFIED_KEY = "date_modified_gmt"  # what `orderby=modified` sorts on, in GMT
# WooCommerce REST docs: `status` takes a list; `any` leaves out trashed orders, so trash is asked for by name.
ORDERS_WITH_TRASH = "any,trash"
CORE_API = "wp-json/wc/v3/"
COMPANION_API = "wp-json/store2crm/v1/"  # docs/contracts.md: companion plugin namespace.
# `modified_after` keeps records modified strictly after the given second.
MODIFIED_AFTER_EXCLUSIVE = timedelta(seconds=1)
MAX_RETRIES = 5
MAX_RETRY_TIME = timedelta(minutes=10)
REQUEST_TIMEOUT_SECONDS = 60
KEY_HELP = "create a read key in WooCommerce → Settings → Advanced → REST API"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Resource:
    """A data-only declaration of one WooCommerce endpoint behind a canonical stream."""

    name: str
    path: str
    mapper: Mapper
    cursor_field: str = "updated_at"
    modified_filter: bool = True
    companion: bool = False
    refunds: bool = False


RESOURCES = (
    Resource("customers", CORE_API + "customers", map_customer, modified_filter=False),
    Resource("orders", CORE_API + "orders", map_order, refunds=True),
    Resource("abandoned_checkouts", COMPANION_API + "abandoned-checkouts", map_abandoned_checkout, companion=True),
    Resource("events", COMPANION_API + "events", map_event, cursor_field="occurred_at", companion=True),
    Resource("products", CORE_API + "products", map_product),
    Resource("companies", COMPANION_API + "companies", map_company, companion=True),
    Resource("company_contacts", COMPANION_API + "company-contacts", map_company_contact, companion=True),
)


class RetryAfterBackoff(BackoffStrategy):
    """Wait as long as a 429/503 `Retry-After` header asks (seconds or HTTP date); else CDK default."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None for the CDK's exponential backoff."""
        if not isinstance(response_or_exception, requests.Response):
            return None
        return retry_after_seconds(response_or_exception.headers.get("Retry-After"), self._clock())


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse a `Retry-After` value (RFC 9110: delay-seconds or HTTP-date) into seconds from `now`."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((moment - now).total_seconds(), 0.0)


class WooCommerceStream(StoreStream):
    """One WooCommerce endpoint.

    Endpoints with a `modified_after` filter are read as a keyset traversal (see
    `source_store.keyset`): every request is page 1 of `modified_after=<last second seen - 1 s>`,
    `orderby=modified&order=asc`, with ids already emitted at that second dropped, so records
    changed during the read cannot shift a later record onto a page already read. The read ends
    at the second it started in (`modified_before`), so every second it reads is closed; changes
    after that are the next read's. The state advances after every page.

    `customers` has no modified filter in WooCommerce: every incremental read scans all
    customers (`role=all`, `orderby=id`, ⌈customers / page_size⌉ requests) and keeps those with
    `date_modified_gmt` at or after the cursor; its state moves only once the whole scan is
    done, since the scan is in id order, not modification order.
    """

    def __init__(
        self,
        resource: Resource,
        config: StoreConfig,
        api_budget: APIBudget | None = None,
        *,
        sleep: Sleep = REAL_SLEEP,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.resource = resource
        self.clock = clock
        self._connection = woocommerce_connection(config)
        self._paginator = PageNumberPaginator(TOTAL_PAGES_HEADER)
        self._keyset: KeysetTraversal | None = None
        super().__init__(
            name=resource.name,
            cursor_field=resource.cursor_field,
            ordered=resource.modified_filter,
            mapper=resource.mapper,
            config=config,
            authenticator=None,
        )
        # The CDK's HttpClient, with its retry waits (429 Retry-After, 5xx backoff) through `sleep`.
        auth = BasicHttpAuthenticator(self._connection["consumer_key"], self._connection["consumer_secret"])
        install(self, auth, sleep, api_budget=api_budget)

    @property
    def url_base(self) -> str:
        """The store's site root, with a trailing slash so paths join below it."""
        return self._connection["base_url"] + "/"

    def path(self, **_: Any) -> str:
        """The endpoint path below the site root."""
        return self.resource.path

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        """Read every page of one traversal, with a fresh paginator, then log what was read."""
        self._paginator = PageNumberPaginator(TOTAL_PAGES_HEADER)
        self._keyset = None
        if self.resource.modified_filter:
            # End at the second the read starts in: a closed second can lose records, never gain any.
            self._keyset = KeysetTraversal(self.window.floor, self.config.page_size, until=utc_now(self.clock))
        if self._keyset is None or not self._keyset.done:
            yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        self.logger.info(self.read_summary())

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        """Paging, ordering and the keyset window's `modified_after`/`modified_before` (GMT, no offset)."""
        if self._keyset is None:
            page = {"per_page": self.config.page_size, "page": self._paginator.page}
            return {**page, "role": "all", "orderby": "id", "order": "asc"}
        window = self._keyset.request()
        params: dict[str, Any] = {
            "per_page": self.config.page_size,
            "page": window.page,
            "modified_after": _gmt(window.since - MODIFIED_AFTER_EXCLUSIVE),
            "dates_are_gmt": "true",
            "orderby": "id" if window.by_id else "modified",
            "order": "asc",
        }
        if window.until is not None:
            params["modified_before"] = _gmt(window.until)
        if self.resource.refunds and self._connection.get("include_trashed_orders"):
            params["status"] = ORDERS_WITH_TRASH
        return params

    def request_kwargs(self, *_: Any, **__: Any) -> Mapping[str, Any]:
        """Never wait forever on a silent store."""
        return {"timeout": REQUEST_TIMEOUT_SECONDS}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The keyset window or page number to read next, or None when the traversal is done."""
        if self._keyset is None:
            return self._paginator.next_page_token()
        if self._keyset.done:
            return None
        window = self._keyset.request()
        return {"since": format_timestamp(window.since), "page": window.page, "by_id": window.by_id}

    def parse_response(self, response: requests.Response, **_: Any) -> Iterable[Mapping[str, Any]]:
        """Map one page of records (an absent companion endpoint reads as empty)."""
        if self.resource.companion and response.status_code == requests.codes.not_found:
            self.window.finish_traversal()
            return
        body = response.json()
        if not isinstance(body, list):
            raise AirbyteTracedException(
                message=f"{self.name}: {urlsplit(response.url).path} did not answer with a JSON list",
                failure_type=FailureType.system_error,
            )
        if self._keyset is None:
            last_page = not self._paginator.observe(response, len(body))
        else:
            keys = [(str(raw.get("id")), parse_timestamp(raw.get(MODIFIED_KEY))) for raw in body]
            keep = self._keyset.take(
                keys, total=_int_header(response, TOTAL_HEADER), total_pages=_int_header(response, TOTAL_PAGES_HEADER)
            )
            body = [body[index] for index in keep]
            last_page = self._keyset.done
        if self.resource.refunds and self._connection.get("refund_details", True):
            body = [self._with_dated_refunds(raw) for raw in body]
        yield from self.emit_page(body, last_page=last_page)

    def _with_dated_refunds(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """Replace an order's embedded refunds by `/orders/<id>/refunds`, which dates each refund.

        One request per order that has refunds; orders whose payload embeds an empty list cost
        nothing, and payloads of WooCommerce versions that no longer embed refunds are always asked.
        """
        if "refunds" in raw and not raw.get("refunds"):
            return raw
        if not isinstance(raw.get("id"), int | str) or not str(raw.get("id")).isdigit():
            return raw  # the mapper reports the record without a usable id
        url = f"{self.url_base}{CORE_API}orders/{raw['id']}/refunds"
        refunds: list[Any] = []
        page = 1
        while True:
            _, response = self._http_client.send_request(
                "GET",
                url,
                request_kwargs={"timeout": REQUEST_TIMEOUT_SECONDS},
                params={"per_page": MAX_PAGE_SIZE, "page": page},
            )
            body = response.json()
            refunds.extend(body if isinstance(body, list) else [])
            pages = _int_header(response, TOTAL_PAGES_HEADER) or 1
            if page >= pages or not body:
                return {**raw, "refunds": refunds}
            page += 1

    def get_error_handler(self) -> ErrorHandler | None:
        """CDK defaults (retry 429/5xx/timeouts) with errors that say what to fix."""
        return HttpStatusErrorHandler(
            logger=self.logger,
            error_mapping={**DEFAULT_ERROR_MAPPING, **self._error_overrides()},
            max_retries=MAX_RETRIES,
            max_time=MAX_RETRY_TIME,
        )

    def get_backoff_strategy(self) -> BackoffStrategy:
        """Honour `Retry-After`."""
        return RetryAfterBackoff(clock=lambda: utc_now(self.clock))

    def _error_overrides(self) -> dict[int, ErrorResolution]:
        host = urlsplit(self.url_base).netloc
        overrides = {
            401: _fail(f"consumer key/secret rejected by {host}; {KEY_HELP}"),
            403: _fail(f"the consumer key may not read {self.resource.path} on {host}; {KEY_HELP}"),
            404: _fail(f"{host} has no {self.resource.path}; is base_url the WordPress site root?"),
        }
        if self.resource.companion:
            overrides[404] = ErrorResolution(
                response_action=ResponseAction.IGNORE,
                error_message=(
                    f"{host} has no {self.resource.path}: the store2crm companion plugin is not "
                    f"installed, so {self.name} is empty"
                ),
            )
        return overrides


def _gmt(moment: datetime) -> str:
    return format_timestamp(moment).removesuffix("Z")


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _fail(message: str) -> ErrorResolution:
    return ErrorResolution(
        response_action=ResponseAction.FAIL, failure_type=FailureType.config_error, error_message=message
    )


def woocommerce_connection(config: StoreConfig) -> Mapping[str, Any]:
    """Validate the `woocommerce` connection object: base_url, consumer_key, consumer_secret, options."""
    connection = config.connection
    settings: dict[str, Any] = connection_text(config, ("base_url", "consumer_key", "consumer_secret"))
    settings["base_url"] = connection_base_url(config, "an http(s) URL such as https://shop.example.com")
    if config.page_size > MAX_PAGE_SIZE:
        raise ConfigError(f"page_size {config.page_size} exceeds WooCommerce's per_page maximum of {MAX_PAGE_SIZE}")
    for key in ("include_trashed_orders", "refund_details"):
        if key in connection and not isinstance(connection[key], bool):
            raise ConfigError(f"woocommerce.{key} must be true or false")
    settings["include_trashed_orders"] = connection.get("include_trashed_orders", False)
    settings["refund_details"] = connection.get("refund_details", True)
    return settings


def streams(config: StoreConfig, *, sleep: Sleep = REAL_SLEEP, clock: Clock = REAL_CLOCK) -> list[Stream]:
    """Every canonical stream, read from WooCommerce; retries wait through `sleep`, reads end at `clock`."""
    budget = store_budget(config.requests_per_second)
    return [WooCommerceStream(resource, config, budget, sleep=sleep, clock=clock) for resource in RESOURCES]


def check_connection(config: StoreConfig, logger: logging.Logger) -> str | None:
    """Ask for one order with the configured key; return what is wrong, or None when it works."""
    connection = woocommerce_connection(config)
    base_url = connection["base_url"]
    parts = urlsplit(base_url)
    host = parts.netloc
    https_hint = ""
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        https_hint = " (WooCommerce accepts key/secret authentication over HTTPS only: use https://)"
    probe = ConnectionProbe(
        platform=NAME,
        host=host,
        send=lambda timeout: requests.get(
            base_url + "/" + CORE_API + "orders",
            params={"per_page": 1},
            auth=(connection["consumer_key"], connection["consumer_secret"]),
            timeout=timeout,
        ),
        request_name=f"GET /{CORE_API}orders",
        status_problems={
            requests.codes.unauthorized: f"consumer key/secret rejected by {host}; {KEY_HELP}{https_hint}",
            requests.codes.forbidden: f"the consumer key may not read orders on {host}; {KEY_HELP}",
            requests.codes.not_found: (
                f"{host} has no WooCommerce REST API at /{CORE_API}: is base_url the WordPress site root, "
                "WooCommerce active, and permalinks not set to 'Plain'?"
            ),
        },
        body_problem=_orders_body_problem,
        accepted=f"WooCommerce at {host} accepted the consumer key",
    )
    return probe_connection(probe, logger)


def _orders_body_problem(body: Any, host: str) -> str | None:
    if isinstance(body, list):
        return None
    return f"{host} answered /{CORE_API}orders with something other than a WooCommerce JSON list"
