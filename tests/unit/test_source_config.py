"""Config table: valid and invalid configs and the error each gives, plus the spec/registry contract."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from airbyte_cdk.models import Status

from source_store import SourceStore
from source_store.config import STREAM_CONCURRENCY, ConfigError, parse_config
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


@pytest.mark.parametrize(("platform", "expected"), [("woocommerce", 2), ("magento", 2), ("shopify", 2), ("files", 1)])
def test_max_concurrent_streams_defaults_per_platform(platform, expected):
    assert parse_config({**VALID, "platform": platform, platform: {}}).max_concurrent_streams == expected


@pytest.mark.parametrize(
    ("platform", "value", "message"),
    [
        ("woocommerce", 0, "max_concurrent_streams must be a positive integer, got 0"),
        ("woocommerce", "2", "max_concurrent_streams must be a positive integer, got '2'"),
        ("woocommerce", True, "max_concurrent_streams must be a positive integer, got True"),
        ("woocommerce", 5, "max_concurrent_streams is 5 but woocommerce allows at most 4 \\(WooCommerce publishes no"),
        ("magento", 9, "max_concurrent_streams is 9 but magento allows at most 4"),
        ("shopify", 5, "shopify allows at most 4 \\(all streams of a shop draw on one calculated-cost bucket"),
        ("files", 5, "files allows at most 4"),
        ("custom_rest", 2, "max_concurrent_streams does not apply to platform 'custom_rest'.*remove the field"),
    ],
)
def test_max_concurrent_streams_outside_the_platform_limits_says_what_to_set(platform, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**VALID, "platform": platform, platform: {}, "max_concurrent_streams": value})


def test_max_concurrent_streams_within_the_cap_is_kept():
    assert parse_config({**VALID, "max_concurrent_streams": 4}).max_concurrent_streams == 4
    assert (
        parse_config(
            {**VALID, "platform": "shopify", "shopify": {}, "max_concurrent_streams": 1}
        ).max_concurrent_streams
        == 1
    )


def test_spec_max_concurrent_streams_has_no_default_so_each_platform_keeps_its_own():
    spec = json.loads(resources.files("source_store").joinpath("spec.json").read_text())
    field = spec["connectionSpecification"]["properties"]["max_concurrent_streams"]
    assert field["type"] == "integer"
    assert "default" not in field  # a UI-filled default would break Shopify (cap 1) and custom REST
    assert field["minimum"] == 1
    assert field["maximum"] == max(limits.maximum for limits in STREAM_CONCURRENCY.values())
    assert set(STREAM_CONCURRENCY) == set(PLATFORMS) - {"custom_rest"}
