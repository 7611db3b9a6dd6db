"""HTTP for CRM modules: the CDK's error handler and backoff strategy, with injectable sleep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler, ResponseAction
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# Same ceiling as airbyte-cdk's HttpClient (_DEFAULT_MAX_RETRY, _DEFAULT_MAX_TIME).
MAX_RETRIES = 5
MAX_WAIT_SECONDS = 600.0
REQUEST_TIMEOUT_SECONDS = 60.0

Sleep = Callable[[float], None]


class Pacer(Protocol):
    """Consulted around every attempt: may wait, or raise to refuse a call the quota has no room for."""

    def before_call(self) -> None:
        """Wait or refuse before one attempt."""
        ...

    def after_response(self, response: requests.Response) -> None:
        """Learn from an answer's quota headers."""
        ...


class CrmHttpClient:
    """Sends requests, waits out rate limits and retries transient failures.

    airbyte-cdk's HttpClient sleeps inside its `backoff` decorators with `time.sleep`, which tests
    could only fake by patching globally, and prints rate-limit stream statuses to stdout. This
    client keeps the CDK's decisions (ErrorHandler -> ResponseAction, BackoffStrategy -> seconds)
    and owns only the loop, so time is injected through `sleep`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        error_handler: ErrorHandler,
        backoff_strategy: BackoffStrategy,
        sleep: Sleep,
        logger: logging.Logger,
        session: requests.Session | None = None,
        pacer: Pacer | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = session or requests.Session()
        self._session.headers.update(headers)
        self._error_handler = error_handler
        self._backoff = backoff_strategy
        self._sleep = sleep
        self._logger = logger
        self._pacer = pacer
        self._timeout = timeout
        self.calls = 0
        self.last_response: requests.Response | None = None

    def request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> requests.Response:
        """Send until the error handler calls the answer final; raise AirbyteTracedException on FAIL."""
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            outcome = self._send(method, path, json, params)
            resolution = self._error_handler.interpret_response(outcome)
            action = resolution.response_action
            if isinstance(outcome, requests.Response) and action in (
                ResponseAction.SUCCESS,
                ResponseAction.IGNORE,
            ):
                return outcome
            message = resolution.error_message or f"{method} {path} failed"
            failure_type = resolution.failure_type or FailureType.system_error
            if action not in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED):
                raise AirbyteTracedException(
                    message=message, internal_message=f"{method} {path}: {message}", failure_type=failure_type
                )
            if action == ResponseAction.RETRY and attempt > MAX_RETRIES:
                raise AirbyteTracedException(
                    message=f"{message} (gave up after {attempt} attempts)",
                    internal_message=f"{method} {path}: {message}",
                    failure_type=failure_type,
                )
            wait = self._backoff.backoff_time(outcome, attempt) or 0.0
            if waited + wait > MAX_WAIT_SECONDS:
                raise AirbyteTracedException(
                    message=f"{message} (still failing after waiting {waited:.0f} s)",
                    internal_message=f"{method} {path}: {message}",
                    failure_type=failure_type,
                )
            self._logger.info("%s %s: %s; retrying in %.1f s", method, path, message, wait)
            self._sleep(wait)
            waited += wait

    def _send(
        self, method: str, path: str, body: Any, params: Mapping[str, str] | None
    ) -> requests.Response | requests.RequestException:
        if self._pacer is not None:
            self._pacer.before_call()
        self.calls += 1
        try:
            response = self._session.request(
                method, self._base_url + path, json=body, params=params, timeout=self._timeout
            )
        except requests.RequestException as exc:
            return exc
        self.last_response = response
        if self._pacer is not None:
            self._pacer.after_response(response)
        return response
