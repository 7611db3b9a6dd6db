"""airbyte-cdk's HttpClient with its retry wait going through an injectable `sleep`.

The CDK decides everything (ErrorHandler -> ResponseAction, BackoffStrategy -> seconds,
exceptions raised by `HttpClient._send`); only the waiting loop is ours. The CDK waits inside
`backoff` decorators with `time.sleep` (plus one extra second per rate-limit retry), which a
test could only fake by patching a module globally; here the wait is a constructor argument.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.exceptions import (
    BaseBackoffException,
    RateLimitBackoffException,
    UserDefinedBackoffException,
)
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.auth import AuthBase

from source_store.timing import Sleep

# backoff.expo as the CDK's default handler uses it: 1, 2, 4, ... seconds, capped here at a minute.
MAX_DEFAULT_WAIT_SECONDS = 60.0


class SleepInjectedHttpClient(HttpClient):
    """HttpClient whose retries wait through `sleep`; tries and total wait obey the error handler's limits."""

    def __init__(self, *args: Any, sleep: Sleep = time.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = sleep

    def _send_with_retry(
        self,
        request: requests.PreparedRequest,
        request_kwargs: Mapping[str, Any],
        log_formatter: Callable[[requests.Response], Any] | None = None,
        exit_on_rate_limit: bool | None = False,
    ) -> requests.Response:
        max_tries = max(0, self._max_retries) + 1
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send(
                    request, request_kwargs, log_formatter=log_formatter, exit_on_rate_limit=exit_on_rate_limit
                )
            except BaseBackoffException as error:
                if isinstance(error, UserDefinedBackoffException):
                    wait = float(error.backoff)
                else:
                    wait = min(2.0 ** (attempt - 1), MAX_DEFAULT_WAIT_SECONDS)
                if attempt >= max_tries or waited + wait > self._max_time:
                    raise _exhausted(self._name, error, attempt, waited) from error
                self._logger.info(f"{self._name}: {error}; retry {attempt} of {max_tries - 1} in {wait:.1f} s")
                self._sleep(wait)
                waited += wait


def _exhausted(name: str, error: BaseBackoffException, attempts: int, waited: float) -> AirbyteTracedException:
    rate_limited = isinstance(error, RateLimitBackoffException) or (
        isinstance(error.response, requests.Response) and error.response.status_code == requests.codes.too_many_requests
    )
    what = "rate limited" if rate_limited else "still failing"
    return AirbyteTracedException(
        message=f"{name}: {what} after {attempts} attempts and {waited:.0f} s of waiting: {error}",
        internal_message=f"{name}: retries exhausted: {error}",
        failure_type=FailureType.transient_error if rate_limited else (error.failure_type or FailureType.system_error),
    )


def install(stream: HttpStream, authenticator: AuthBase | None, sleep: Sleep, api_budget: Any = None) -> None:
    """Give an HttpStream a SleepInjectedHttpClient built as HttpStream.__init__ builds its own."""
    stream._http_client = SleepInjectedHttpClient(
        name=stream.name,
        logger=stream.logger,
        error_handler=stream.get_error_handler(),
        api_budget=api_budget,
        authenticator=authenticator,
        use_cache=stream.use_cache,
        backoff_strategy=stream.get_backoff_strategy(),
        message_repository=InMemoryMessageRepository(),
        sleep=sleep,
    )
