"""Config table: valid and invalid configs and the error each gives, plus the spec/registry contract."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from airbyte_cdk.models import Status

from source_store import SourceStore
from source_store.config import ConfigError, parse_config
from source_store.platforms import PLATFORMS, get_platform
from source_store.platforms.woocommerce import RetryAfterBackoff, retry_after_seconds, woocommerce_connection

VALID = {
    "platform": "woocommerce",
    "store_id": "eu-shop",
    "start_date": "2024-01-01T00:00:00Z",
    "woocommerce": {
        "base_url": "https://shop.example.com",
        "consumer_key": "ck_0123456789abcdef",
        "consumer_secret": "cs_0123456789abcdef",
    },
}


def test_valid_config_with_defaults():
    config = parse_config(VALID)
    assert config.platform == "woocommerce"
    assert config.store_id == "eu-shop"
    assert config.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert config.page_size == 100
    assert config.lookback == timedelta(0)
    assert woocommerce_connection(config)["base_url"] == "https://shop.example.com"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"platform": None}, "platform is required"),
        ({"store_id": ""}, "store_id is required"),
        ({"start_date": "last tuesday"}, "start_date must be an ISO 8601"),
        ({"page_size": 0}, "page_size must be a positive integer"),
        ({"page_size": "100"}, "page_size must be a positive integer"),
        ({"lookback_window_seconds": -5}, "lookback_window_seconds must be a non-negative"),
        ({"woocommerce": None}, "no 'woocommerce' connection object"),
    ],
)
def test_invalid_common_fields(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**VALID, **change})


@pytest.mark.parametrize(
    ("connection", "page_size", "message"),
    [
        ({"base_url": "shop.example.com"}, 100, "is not an http\\(s\\) URL"),
        ({"base_url": "ftp://shop.example.com"}, 100, "is not an http\\(s\\) URL"),
        ({"consumer_key": ""}, 100, "woocommerce.consumer_key is required"),
        ({"consumer_secret": None}, 100, "woocommerce.consumer_secret is required"),
        ({}, 101, "exceeds WooCommerce's per_page maximum of 100"),
    ],
)
def test_invalid_woocommerce_connection(connection, page_size, message):
    config = parse_config({**VALID, "page_size": page_size, "woocommerce": {**VALID["woocommerce"], **connection}})
    with pytest.raises(ConfigError, match=message):
        woocommerce_connection(config)


def test_unknown_platform_lists_the_valid_ones():
    valid = ", ".join(sorted(PLATFORMS))
    with pytest.raises(ConfigError, match=f"unknown platform 'shopfy'; valid platforms: {valid}"):
        get_platform("shopfy")


def test_spec_enum_matches_the_registry_and_marks_secrets():
    spec = json.loads(resources.files("source_store").joinpath("spec.json").read_text())
    properties = spec["connectionSpecification"]["properties"]
    assert properties["platform"]["enum"] == sorted(PLATFORMS)
    for name in PLATFORMS:
        assert name in properties, f"spec has no connection object for platform {name}"
    woo = properties["woocommerce"]["properties"]
    assert woo["consumer_key"]["airbyte_secret"] is True
    assert woo["consumer_secret"]["airbyte_secret"] is True
    assert properties["page_size"]["maximum"] == 100


def test_check_reports_config_errors_without_secrets():
    status = SourceStore().check(logging.getLogger("test"), {**VALID, "platform": "magento2"})
    assert status.status == Status.FAILED
    assert status.message == f"unknown platform 'magento2'; valid platforms: {', '.join(sorted(PLATFORMS))}"


def test_retry_after_header_in_seconds_or_http_date():
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Sun, 01 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sun, 01 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("soon", now) is None
    assert RetryAfterBackoff(clock=lambda: now).backoff_time(None, 1) is None


def test_requests_per_second_gives_every_stream_of_a_store_one_shared_budget():
    from source_store.platforms import woocommerce  # noqa: PLC0415

    streams = woocommerce.streams(parse_config({**VALID, "requests_per_second": 4}))
    budgets = {id(stream._http_client._api_budget) for stream in streams}
    assert len(budgets) == 1
    [policy] = streams[0]._http_client._api_budget._policies
    assert [(rate.limit, rate.interval) for rate in policy._bucket.rates] == [(4, 1000)]
    with pytest.raises(ConfigError, match="requests_per_second must be a positive number"):
        parse_config({**VALID, "requests_per_second": 0})
