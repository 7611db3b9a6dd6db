"""HubSpot's error taxonomy: which answers are fatal, retriable, rate limits or per-record rejections."""

from __future__ import annotations

import logging
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

# Scopes a private app token needs for what the destination does (developers.hubspot.com, "Scopes").
REQUIRED_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
)

# 429 body `policyName` values (developers.hubspot.com, "API usage guidelines and limits").
POLICY_TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
POLICY_DAILY = "DAILY"
# The burst window is a rolling 10 s; wait a whole one when the answer does not say how long.
DEFAULT_WINDOW_SECONDS = 10.0
INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"
DAILY_REMAINING_HEADER = "X-HubSpot-RateLimit-Daily-Remaining"
# Exponential backoff for 5xx and network errors: 1, 2, 4, 8, 16 s.
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0

TOKEN_REJECTED = (
    "HubSpot rejected the access token (HTTP 401): create a private app token with the "
    f"{', '.join(REQUIRED_SCOPES)} scopes and put it in hubspot.access_token"
)
SCOPES_MISSING = "HubSpot refused the call (HTTP 403): the private app token lacks scopes; it needs {scopes}"
NOT_FOUND = (
    "HubSpot answered 404 for {path}: check hubspot.base_url and hubspot.api_prefix "
    "(e.g. https://api.hubapi.com and /crm/v3)"
)
DAILY_LIMIT = (
    "HubSpot's daily API limit for this account is used up (429 DAILY); the limit resets at midnight "
    "in the account's time zone: run the sync again then, or buy the API limit increase"
)


def body_of(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a HubSpot answer, empty when there is none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def missing_scopes(body: dict[str, Any]) -> list[str]:
    """Scopes a 403 MISSING_SCOPES answer names (errors[].context.requiredGranularScopes)."""
    names: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") or {} if isinstance(error, dict) else {}
        for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
            names.extend(str(s) for s in context.get(key) or [])
    return names


# 400 and 409 are the caller's to read: a rejected batch is split to find the record at fault,
# and an existing property is fine.
HUBSPOT_ERROR_MAPPING: dict[int | str | type[Exception], ErrorResolution] = {
    **DEFAULT_ERROR_MAPPING,
    400: ErrorResolution(ResponseAction.IGNORE),
    409: ErrorResolution(ResponseAction.IGNORE),
    401: ErrorResolution(ResponseAction.FAIL, FailureType.config_error, TOKEN_REJECTED),
}


class HubSpotErrorHandler(HttpStatusErrorHandler):
    """Maps HubSpot answers to CDK response actions; a 429 waits unless the DAILY policy is exhausted."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, error_mapping=HUBSPOT_ERROR_MAPPING)

    def interpret_response(self, response_or_exception: requests.Response | Exception | None = None) -> ErrorResolution:
        """Resolve one answer (or network error) into SUCCESS, IGNORE, RETRY, RATE_LIMITED or FAIL."""
        if isinstance(response_or_exception, requests.RequestException) and not isinstance(
            response_or_exception, requests.HTTPError
        ):
            return ErrorResolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"network error talking to HubSpot: {type(response_or_exception).__name__}",
            )
        if isinstance(response_or_exception, requests.Response):
            status = response_or_exception.status_code
            if status == 403:
                return scopes_missing(response_or_exception)
            if status == 404:
                return not_found(response_or_exception)
            if status == 429:
                return rate_limited(response_or_exception)
        return super().interpret_response(response_or_exception)


def scopes_missing(response: requests.Response) -> ErrorResolution:
    """A 403: the token lacks scopes (named from the answer when it lists them)."""
    scopes = missing_scopes(body_of(response)) or list(REQUIRED_SCOPES)
    return ErrorResolution(
        ResponseAction.FAIL, FailureType.config_error, SCOPES_MISSING.format(scopes=", ".join(scopes))
    )


def not_found(response: requests.Response) -> ErrorResolution:
    """A 404 on a fixed API path means the base URL or prefix is wrong."""
    path = urlsplit(response.url).path if response.url else "the request"
    return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, NOT_FOUND.format(path=path))


def rate_limited(response: requests.Response) -> ErrorResolution:
    """A 429: wait out the rolling window, but stop when the daily quota is gone."""
    policy = body_of(response).get("policyName")
    if policy == POLICY_DAILY:
        return ErrorResolution(ResponseAction.FAIL, FailureType.transient_error, DAILY_LIMIT)
    return ErrorResolution(
        ResponseAction.RATE_LIMITED,
        FailureType.transient_error,
        f"HubSpot rate limit reached ({policy or 'HTTP 429'})",
    )


class HubSpotBackoffStrategy(BackoffStrategy):
    """Seconds to wait: the rate-limit window for 429s, exponential for 5xx and network errors."""

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float:
        """Retry-After, else the reported window, else a 10 s window; 1, 2, 4 ... s for other retries."""
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429:
            return rate_limit_wait(response_or_exception.headers)
        return min(RETRY_BASE_SECONDS * 2 ** (attempt_count - 1), RETRY_MAX_SECONDS)


def rate_limit_wait(headers: requests.structures.CaseInsensitiveDict[str]) -> float:
    """How long a 429 asks to wait, from Retry-After or the rolling-window length."""
    for name, scale in (("Retry-After", 1.0), (INTERVAL_HEADER, 0.001)):
        try:
            seconds = float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
        if seconds > 0:
            return seconds
    return DEFAULT_WINDOW_SECONDS
