"""Salesforce's error taxonomy and quota header: fatal, retriable, over the daily limit, per-record errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING

from destination_crm.quota import BudgetExhausted, DailyBudget

# Every REST answer carries `Sforce-Limit-Info: api-usage=used/max` (api-facts.md, Salesforce).
LIMIT_INFO_HEADER = "Sforce-Limit-Info"
LIMIT_INFO = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")  # not per-app-api-usage=
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
INVALID_SESSION_ID = "INVALID_SESSION_ID"
# Exponential backoff for 5xx and network errors: 1, 2, 4, 8, 16 s.
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0

SESSION_REJECTED = (
    "Salesforce rejected the access token (HTTP 401 INVALID_SESSION_ID): the session expired or the token is "
    "wrong; get a new OAuth access token for a user with API Enabled and put it in salesforce.access_token"
)
LIMIT_EXCEEDED = (
    "Salesforce's daily API request limit for this org is used up (HTTP 403 REQUEST_LIMIT_EXCEEDED, rolling 24 h): "
    "the remaining records wait for the next run; see Setup > Company Information > API Requests, "
    "or raise the allocation"
)
FORBIDDEN = "Salesforce refused the call (HTTP 403 {code}): {message}; check the user's profile and permission sets"
NOT_FOUND = (
    "Salesforce answered 404 for {path}: {message}; check salesforce.instance_url, salesforce.api_version "
    "and that the external id field salesforce.external_id_field exists on the object"
)


def error_items(response: requests.Response) -> list[dict[str, Any]]:
    """The REST error list `[{"errorCode", "message"}]` of an answer (empty when it has none)."""
    try:
        body = response.json()
    except ValueError:
        return []
    if isinstance(body, dict):
        body = [body]
    return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []


def first_error(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message) of an error answer."""
    items = error_items(response)
    if not items:
        return f"HTTP {response.status_code}", response.text[:200]
    item = items[0]
    return str(item.get("errorCode") or item.get("statusCode") or ""), str(item.get("message") or "")


def describe_errors(errors: Any) -> tuple[str, str | None]:
    """A record's `errors[]` as one text (`CODE: message [fields]; ...`) and the first code."""
    parts: list[str] = []
    codes: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        code = str(error.get("statusCode") or error.get("errorCode") or "UNKNOWN")
        codes.append(code)
        fields = error.get("fields") or []
        named = f" [{', '.join(str(f) for f in fields)}]" if fields else ""
        parts.append(f"{code}: {error.get('message') or ''}{named}")
    return "; ".join(parts) or "Salesforce gave no reason", codes[0] if codes else None


SALESFORCE_ERROR_MAPPING: dict[int | str | type[Exception], ErrorResolution] = {
    **DEFAULT_ERROR_MAPPING,
    # 400s are the caller's to read (a whole request refused, a bulk job in the wrong state).
    400: ErrorResolution(ResponseAction.IGNORE),
    401: ErrorResolution(ResponseAction.FAIL, FailureType.config_error, SESSION_REJECTED),
}


class SalesforceErrorHandler(HttpStatusErrorHandler):
    """Maps Salesforce answers to CDK response actions; network errors retry unless `retry_network` is off."""

    def __init__(self, logger: logging.Logger, *, retry_network: bool = True) -> None:
        super().__init__(logger, error_mapping=SALESFORCE_ERROR_MAPPING)
        self._retry_network = retry_network

    def interpret_response(self, response_or_exception: requests.Response | Exception | None = None) -> ErrorResolution:
        """Resolve one answer (or network error) into SUCCESS, IGNORE, RETRY or FAIL."""
        if isinstance(response_or_exception, requests.RequestException) and not isinstance(
            response_or_exception, requests.HTTPError
        ):
            message = f"network error talking to Salesforce: {type(response_or_exception).__name__}"
            action = ResponseAction.RETRY if self._retry_network else ResponseAction.FAIL
            return ErrorResolution(action, FailureType.transient_error, message)
        if isinstance(response_or_exception, requests.Response):
            status = response_or_exception.status_code
            if status == 403:
                return forbidden(response_or_exception)
            if status == 404:
                return not_found(response_or_exception)
        return super().interpret_response(response_or_exception)


def forbidden(response: requests.Response) -> ErrorResolution:
    """A 403: the daily limit (stop the run, no Retry-After to wait for), else a permission problem."""
    code, message = first_error(response)
    if code == REQUEST_LIMIT_EXCEEDED:
        return ErrorResolution(ResponseAction.FAIL, FailureType.transient_error, LIMIT_EXCEEDED)
    return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, FORBIDDEN.format(code=code, message=message))


def not_found(response: requests.Response) -> ErrorResolution:
    """A 404 on a fixed API path: the instance URL, API version or external id field is wrong."""
    path = urlsplit(response.url).path if response.url else "the request"
    _, message = first_error(response)
    return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, NOT_FOUND.format(path=path, message=message))


class SalesforceBackoffStrategy(BackoffStrategy):
    """1, 2, 4 ... s (at most 60) for 5xx and network errors; Salesforce sends no Retry-After."""

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float:
        """Exponential wait for retry `attempt_count`."""
        return min(RETRY_BASE_SECONDS * 2 ** (attempt_count - 1), RETRY_MAX_SECONDS)


def limit_info(headers: Mapping[str, str]) -> tuple[int, int] | None:
    """(used, max) from `Sforce-Limit-Info: api-usage=used/max`, None when absent or malformed."""
    found = LIMIT_INFO.search(headers.get(LIMIT_INFO_HEADER) or "")
    return (int(found[1]), int(found[2])) if found else None


class SalesforcePacer:
    """Keeps the daily budget from `Sforce-Limit-Info` on every answer; refuses calls it has no room for."""

    def __init__(self, budget: DailyBudget) -> None:
        self.budget = budget
        self.limit_hit = False  # Salesforce said REQUEST_LIMIT_EXCEEDED in this run

    def before_call(self) -> None:
        """Raise BudgetExhausted (naming the 403 when Salesforce gave one) rather than make a call."""
        try:
            self.budget.before_call()
        except BudgetExhausted as spent:
            raise BudgetExhausted(LIMIT_EXCEEDED if self.limit_hit else str(spent)) from None

    def after_response(self, response: requests.Response) -> None:
        """Take the remaining allocation from the answer's header."""
        usage = limit_info(response.headers)
        if usage is not None:
            used, maximum = usage
            self.budget.after_response(max(0, maximum - used))

    def exhaust(self) -> None:
        """Salesforce answered 403 REQUEST_LIMIT_EXCEEDED: no further call today."""
        self.limit_hit = True
        self.budget.exhaust()
