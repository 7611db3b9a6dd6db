"""Unit tests of HubSpot error handling, backoff, the retry loop and 207 parsing, on hand-built answers."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ResponseAction
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import ObjectWrite
from destination_crm.crms.hubspot import match_outcomes
from destination_crm.crms.hubspot_errors import HubSpotBackoffStrategy, HubSpotErrorHandler
from destination_crm.http import CrmHttpClient

LOGGER = logging.getLogger("test")


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else json.dumps(body).encode()
    response.headers.update(headers or {})
    response.url = "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"
    return response


class QueuedSession(requests.Session):
    """Answers requests from a queue, recording what was asked."""

    def __init__(self, answers: list[requests.Response | Exception]) -> None:
        super().__init__()
        self.answers = answers
        self.sent: list[tuple[str, str]] = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url))
        item = self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def client(answers: list[requests.Response | Exception], waits: list[float]) -> tuple[CrmHttpClient, QueuedSession]:
    session = QueuedSession(answers)
    http = CrmHttpClient(
        base_url="https://api.hubapi.com",
        headers={"Authorization": "Bearer pat-secret"},
        error_handler=HubSpotErrorHandler(LOGGER),
        backoff_strategy=HubSpotBackoffStrategy(),
        sleep=waits.append,
        logger=LOGGER,
        session=session,
    )
    return http, session


TEN_SECONDLY = {"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "errorType": "RATE_LIMIT"}


def test_a_429_storm_is_waited_out_for_the_rolling_window():
    waits: list[float] = []
    storm = [answer(429, TEN_SECONDLY, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}) for _ in range(3)]
    http, session = client([*storm, answer(200, {"results": []})], waits)
    assert http.request("POST", "/crm/v3/objects/contacts/batch/upsert").status_code == 200
    assert waits == [10.0, 10.0, 10.0]
    assert http.calls == 4 == len(session.sent)


def test_retry_after_wins_over_the_window_length():
    waits: list[float] = []
    headers = {"Retry-After": "2", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    http, _ = client([answer(429, TEN_SECONDLY, headers), answer(200, {})], waits)
    http.request("GET", "/x")
    assert waits == [2.0]


def test_daily_limit_stops_with_a_clear_error_without_waiting():
    waits: list[float] = []
    http, _ = client([answer(429, {"status": "error", "policyName": "DAILY"})], waits)
    with pytest.raises(AirbyteTracedException, match="daily API limit") as raised:
        http.request("GET", "/x")
    assert raised.value.failure_type == FailureType.transient_error
    assert waits == []


def test_server_errors_and_network_errors_are_retried_with_exponential_backoff():
    waits: list[float] = []
    answers = [answer(502), requests.ConnectionError("reset"), answer(503), answer(200, {})]
    http, _ = client(answers, waits)
    http.request("GET", "/x")
    assert waits == [1.0, 2.0, 4.0]


def test_retries_give_up_after_the_cdk_default_of_five():
    waits: list[float] = []
    http, session = client([answer(500) for _ in range(6)], waits)
    with pytest.raises(AirbyteTracedException, match="gave up after 6 attempts"):
        http.request("GET", "/x")
    assert len(session.sent) == 6


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"category": "INVALID_AUTHENTICATION"}, "access token .*crm.objects.contacts.write"),
        (
            403,
            {
                "category": "MISSING_SCOPES",
                "errors": [{"context": {"requiredGranularScopes": ["crm.schemas.deals.write"]}}],
            },
            "lacks scopes; it needs crm.schemas.deals.write",
        ),
        (404, {}, "check hubspot.base_url and hubspot.api_prefix"),
    ],
)
def test_config_errors_fail_at_once_saying_what_to_fix(status, body, message):
    http, session = client([answer(status, body)], [])
    with pytest.raises(AirbyteTracedException, match=message) as raised:
        http.request("GET", "/x")
    assert raised.value.failure_type == FailureType.config_error
    assert "pat-secret" not in str(raised.value) and "pat-secret" not in raised.value.internal_message
    assert len(session.sent) == 1


@pytest.mark.parametrize("status", [400, 409])
def test_record_level_rejections_are_left_to_the_caller(status):
    resolution = HubSpotErrorHandler(LOGGER).interpret_response(answer(status, {}))
    assert resolution.response_action == ResponseAction.IGNORE


def writes(*ids: str) -> list[ObjectWrite]:
    return [ObjectWrite("crm_deals", i, i, {"store2crm_external_id": i}, "h") for i in ids]


def test_207_errors_are_matched_back_by_object_write_trace_id():
    body = {
        "status": "COMPLETE",
        "results": [
            {"id": "11", "new": True, "objectWriteTraceId": "0", "properties": {}},
            {"id": "13", "new": False, "objectWriteTraceId": "2", "properties": {}},
        ],
        "numErrors": 1,
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Property values were not valid",
                "context": {"objectWriteTraceId": ["1"]},
                "errors": [{"message": "1.5x is not a valid number for amount"}],
            }
        ],
    }
    first, second, third = match_outcomes(writes("a", "b", "c"), body, "store2crm_external_id")
    assert (first.crm_id, first.created, first.accepted) == ("11", True, True)
    assert second.error == "VALIDATION_ERROR Property values were not valid; 1.5x is not a valid number for amount"
    assert (third.crm_id, third.created) == ("13", False)


def test_results_without_trace_ids_match_on_the_id_property_and_nothing_is_silently_lost():
    body = {
        "results": [{"id": "7", "new": True, "properties": {"store2crm_external_id": "B"}}],
        "errors": [{"category": "CONFLICT", "message": "mystery"}],
    }
    a, b = match_outcomes(writes("a", "b"), body, "store2crm_external_id")
    assert b.crm_id == "7"
    assert a.error == "CONFLICT mystery"
