"""`check` for the HTTP store platforms: send one cheap request and explain, in the user's terms, how it failed.

WooCommerce, Shopify and Magento differ only in the request, in what each HTTP status means on
that platform and in what a healthy body looks like; the network failures, the unexpected
statuses and the success line are handled here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

CHECK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ConnectionProbe:
    """One request proving that a store connection works, and what each way of failing it means."""

    platform: str  # the config object to fix ("check <platform>.base_url")
    host: str
    send: Callable[[float], requests.Response]  # sends the request with this timeout (seconds)
    request_name: str  # how "answered HTTP <status> to ..." names the request
    body_problem: Callable[[Any, str], str | None]  # (JSON body or None, host): what is wrong with a 2xx answer
    accepted: str  # logged when the store accepted the credentials
    status_problems: Mapping[int, str] = field(default_factory=dict)


def json_or_none(response: requests.Response) -> Any:
    """The response's JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def probe_connection(probe: ConnectionProbe, logger: logging.Logger) -> str | None:
    """Send the probe's request: what is wrong with the connection, or None (and a log line) when it works."""
    try:
        response = probe.send(CHECK_TIMEOUT_SECONDS)
    except requests.Timeout:
        return f"{probe.host} did not answer within {CHECK_TIMEOUT_SECONDS} s"
    except requests.RequestException as error:
        return f"cannot reach {probe.host} ({type(error).__name__}); check {probe.platform}.base_url"
    problem = probe.status_problems.get(response.status_code)
    if problem is None and not response.ok:
        problem = f"{probe.host} answered HTTP {response.status_code} to {probe.request_name}"
    if problem is None:
        problem = probe.body_problem(json_or_none(response), probe.host)
    if problem is None:
        logger.info(probe.accepted)
    return problem
