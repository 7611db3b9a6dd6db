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
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorHandler,
    HttpStatusErrorHandler,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.requests_native_auth import BasicHttpAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_store.config import ConfigError, StoreConfig
from source_store.cursor import format_timestamp
from source_store.pagination import PageNumberPaginator
from source_store.platforms.woocommerce_mappers import (
    map_abandoned_checkout,
    map_company,
    map_company_contact,
    map_customer,
    map_event,
    map_order,
    map_product,
)
from source_store.streams import Mapper, StoreStream

NAME = "woocommerce"
MAX_PAGE_SIZE = 100  # WooCommerce REST API docs, "Pagination": per_page is capped at 100.
TOTAL_PAGES_HEADER = "X-WP-TotalPages"  # WooCommerce REST API docs, "Pagination".
CORE_API = "wp-json/wc/v3/"
COMPANION_API = "wp-json/store2crm/v1/"  # docs/contracts.md: companion plugin namespace.
# `modified_after` keeps records modified strictly after the given second.
MODIFIED_AFTER_EXCLUSIVE = timedelta(seconds=1)
MAX_RETRIES = 5
MAX_RETRY_TIME = timedelta(minutes=10)
REQUEST_TIMEOUT_SECONDS = 60
CHECK_TIMEOUT_SECONDS = 30
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


RESOURCES = (
    Resource("customers", CORE_API + "customers", map_customer, modified_filter=False),
    Resource("orders", CORE_API + "orders", map_order),
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
    """One WooCommerce endpoint, paged with `page`/`per_page` and `X-WP-TotalPages`.

    Endpoints with a `modified_after` filter are asked for `orderby=modified&order=asc`, so the
    state advances after every page. `customers` has no modified filter in WooCommerce: every
    incremental read scans all customers (`role=all`, ⌈customers / page_size⌉ requests) and keeps
    those with `date_modified_gmt` at or after the cursor; its state moves only once the whole
    scan is done, since the scan is in id order, not modification order.
    """

    def __init__(self, resource: Resource, config: StoreConfig) -> None:
        self.resource = resource
        self._connection = woocommerce_connection(config)
        self._paginator = PageNumberPaginator(TOTAL_PAGES_HEADER)
        super().__init__(
            name=resource.name,
            cursor_field=resource.cursor_field,
            ordered=resource.modified_filter,
            mapper=resource.mapper,
            config=config,
            authenticator=BasicHttpAuthenticator(self._connection["consumer_key"], self._connection["consumer_secret"]),
        )

    @property
    def url_base(self) -> str:
        """The store's site root, with a trailing slash so paths join below it."""
        return self._connection["base_url"].rstrip("/") + "/"

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
        """Read every page of one traversal, with a fresh paginator."""
        self._paginator = PageNumberPaginator(TOTAL_PAGES_HEADER)
        yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        """Paging, ordering and the `modified_after` lower bound (GMT, no offset)."""
        params: dict[str, Any] = {"per_page": self.config.page_size, "page": self._paginator.page}
        if not self.resource.modified_filter:
            return {**params, "role": "all", "orderby": "id", "order": "asc"}
        after = format_timestamp(self.window.floor - MODIFIED_AFTER_EXCLUSIVE).removesuffix("Z")
        return {**params, "modified_after": after, "dates_are_gmt": "true", "orderby": "modified", "order": "asc"}

    def request_kwargs(self, *_: Any, **__: Any) -> Mapping[str, Any]:
        """Never wait forever on a silent store."""
        return {"timeout": REQUEST_TIMEOUT_SECONDS}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        """Delegate to this traversal's paginator."""
        return self._paginator.next_page_token()

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
        has_next = self._paginator.observe(response, len(body))
        yield from self.emit_page(body, last_page=not has_next)

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
        return RetryAfterBackoff()

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


def _fail(message: str) -> ErrorResolution:
    return ErrorResolution(
        response_action=ResponseAction.FAIL, failure_type=FailureType.config_error, error_message=message
    )


def woocommerce_connection(config: StoreConfig) -> Mapping[str, str]:
    """Validate the `woocommerce` connection object: base_url, consumer_key, consumer_secret."""
    connection = config.connection
    for key in ("base_url", "consumer_key", "consumer_secret"):
        value = connection.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"woocommerce.{key} is required")
    parts = urlsplit(connection["base_url"].strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"woocommerce.base_url {connection['base_url']!r} is not an http(s) URL such as https://shop.example.com"
        )
    if config.page_size > MAX_PAGE_SIZE:
        raise ConfigError(f"page_size {config.page_size} exceeds WooCommerce's per_page maximum of {MAX_PAGE_SIZE}")
    return {key: connection[key].strip() for key in ("base_url", "consumer_key", "consumer_secret")}


def streams(config: StoreConfig) -> list[Stream]:
    """Every canonical stream, read from WooCommerce."""
    return [WooCommerceStream(resource, config) for resource in RESOURCES]


def check_connection(config: StoreConfig, logger: logging.Logger) -> str | None:
    """Ask for one order with the configured key; return what is wrong, or None when it works."""
    connection = woocommerce_connection(config)
    host = urlsplit(connection["base_url"]).netloc
    try:
        response = requests.get(
            connection["base_url"].rstrip("/") + "/" + CORE_API + "orders",
            params={"per_page": 1},
            auth=(connection["consumer_key"], connection["consumer_secret"]),
            timeout=CHECK_TIMEOUT_SECONDS,
        )
    except requests.Timeout:
        return f"{host} did not answer within {CHECK_TIMEOUT_SECONDS} s"
    except requests.RequestException as error:
        return f"cannot reach {host} ({type(error).__name__}); check woocommerce.base_url"
    problem = _check_problem(response, connection["base_url"])
    if problem is None:
        logger.info(f"WooCommerce at {host} accepted the consumer key")
    return problem


def _check_problem(response: requests.Response, base_url: str) -> str | None:
    parts = urlsplit(base_url)
    host = parts.netloc
    https_hint = ""
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        https_hint = " (WooCommerce accepts key/secret authentication over HTTPS only: use https://)"
    by_status = {
        requests.codes.unauthorized: f"consumer key/secret rejected by {host}; {KEY_HELP}{https_hint}",
        requests.codes.forbidden: f"the consumer key may not read orders on {host}; {KEY_HELP}",
        requests.codes.not_found: (
            f"{host} has no WooCommerce REST API at /{CORE_API}: is base_url the WordPress site root, "
            "WooCommerce active, and permalinks not set to 'Plain'?"
        ),
    }
    if response.status_code in by_status:
        return by_status[response.status_code]
    if not response.ok:
        return f"{host} answered HTTP {response.status_code} to GET /{CORE_API}orders"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, list):
        return f"{host} answered /{CORE_API}orders with something other than a WooCommerce JSON list"
    return None
