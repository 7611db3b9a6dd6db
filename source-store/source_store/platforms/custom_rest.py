"""Custom REST platform: a proprietary store API described in config, read by a generated declarative manifest.

The user's config says, per stream, where the endpoint is, how to authenticate and page, which
request parameter carries the cursor, where records sit and how payload fields map onto the
canonical schema. From it we generate an airbyte-cdk declarative manifest (the format the
Connector Builder writes): `HttpRequester` with a Bearer/Basic/API-key authenticator,
`DefaultPaginator` (page number, offset, cursor in body, Link header), `DpathExtractor`,
`DatetimeBasedCursor` with the lookback window, and one `CustomTransformation`
(`CanonicalMapping`) for the field mapping. HTTP, retries, paging and state are the CDK's; the
retry wait goes through the injectable `sleep` (see `custom_rest_runtime`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from airbyte_cdk.sources.declarative.interpolation.macros import duration as cdk_duration
from airbyte_cdk.sources.declarative.transformations import RecordTransformation

from source_store.changes import CHANGES_KEY, nulled
from source_store.config import ConfigError, StoreConfig
from source_store.cursor import format_timestamp, parse_timestamp
from source_store.platforms.custom_rest_runtime import StoreDeclarativeSource
from source_store.timing import REAL_CLOCK, REAL_SLEEP, Clock, Sleep, utc_now

NAME = "custom_rest"
CANONICAL_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CANONICAL_CURSORS = {"events": "occurred_at"}  # every other stream's cursor is updated_at
AUTH_KINDS = ("bearer", "basic", "api_key", "none")
PAGINATION_KINDS = ("page_number", "offset", "cursor", "link_header", "none")
RULE_KEYS = frozenset({"path", "cast", "date_format", "cents", "join", "separator", "value", "each"})
READ_UNTIL = "read_until"  # runtime config key: the injected clock's present, the upper bound of every read
RETRY_AFTER_HEADER = "Retry-After"
# The windowed cursor's unit (the state keeps whole seconds): a window ends one unit before the next one starts.
GRANULARITY, GRANULARITY_ISO = timedelta(seconds=1), "PT1S"


def streams(config: StoreConfig, *, sleep: Sleep = REAL_SLEEP, clock: Clock = REAL_CLOCK) -> list[Any]:
    """The declarative source's streams (the source delegates reads to `declarative_source`)."""
    source = declarative_source(config, {}, sleep=sleep, clock=clock)
    return source.streams(config=runtime_config(config, clock))


def check_connection(config: StoreConfig, logger: logging.Logger) -> str | None:
    """Validate the stream declarations, then let the CDK read one page of the first stream."""
    source = declarative_source(config, {})
    status = source.check(logger, runtime_config(config))
    return None if status.status.value == "SUCCEEDED" else str(status.message)


def declarative_source(
    config: StoreConfig,
    raw_config: Mapping[str, Any],
    catalog: Any = None,
    state: Any = None,
    *,
    sleep: Sleep = REAL_SLEEP,
    clock: Clock = REAL_CLOCK,
) -> StoreDeclarativeSource:
    """The declarative source of the generated manifest (`raw_config` is not needed here).

    Its HTTP retries wait through `sleep`; `clock` is the present its reads end at.
    """
    return StoreDeclarativeSource(
        catalog=catalog,
        config=runtime_config(config, clock),
        state=state,
        source_config=build_manifest(config),
        sleep=sleep,
    )


def runtime_config(config: StoreConfig, clock: Clock = REAL_CLOCK) -> dict[str, Any]:
    """The config the generated manifest interpolates (secrets stay out of the manifest itself)."""
    return {
        "start_date": format_timestamp(config.start_date),
        READ_UNTIL: format_timestamp(utc_now(clock)),
        "custom_rest": dict(config.connection),
    }


def build_manifest(config: StoreConfig) -> dict[str, Any]:
    """The declarative manifest for the `custom_rest` connection object; ConfigError names what is wrong."""
    connection = config.connection
    base_url = connection.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError("custom_rest.base_url must be an http(s) URL")
    declared = connection.get("streams")
    if not isinstance(declared, Mapping) or not declared:
        raise ConfigError("custom_rest.streams must map at least one canonical stream name to its endpoint")
    unknown = sorted(set(declared) - set(_canonical_streams()))
    if unknown:
        raise ConfigError(f"custom_rest.streams: unknown stream(s) {', '.join(unknown)}")
    shared_auth = connection.get("auth") or {"type": "none"}
    stream_models = []
    for name, spec in sorted(declared.items()):
        own = isinstance(spec, Mapping) and spec.get("auth")
        where = f"['streams']['{name}']['auth']" if own else "['auth']"
        authenticator = _authenticator(own or shared_auth, where)
        stream_models.append(_stream(name, spec, base_url, authenticator, config))
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": [stream_models[0]["name"]]},
        "streams": stream_models,
        "spec": {
            "type": "Spec",
            "connection_specification": json.loads(resources.files("source_store").joinpath("spec.json").read_text())[
                "connectionSpecification"
            ],
        },
    }


def _canonical_streams() -> list[str]:
    folder = resources.files("source_store").joinpath("schemas")
    return sorted(entry.name.removesuffix(".json") for entry in folder.iterdir() if entry.name.endswith(".json"))


def _authenticator(auth: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    """The CDK authenticator; secrets are interpolated from the config at run time, never copied."""
    kind = auth.get("type")
    secret = "{{ config['custom_rest']" + where
    if kind == "bearer":
        _require(auth, "token", "custom_rest.auth")
        return {"type": "BearerAuthenticator", "api_token": secret + "['token'] }}"}
    if kind == "basic":
        _require(auth, "username", "custom_rest.auth")
        return {
            "type": "BasicHttpAuthenticator",
            "username": secret + "['username'] }}",
            "password": secret + ".get('password', '') }}",
        }
    if kind == "api_key":
        _require(auth, "header", "custom_rest.auth")
        _require(auth, "key", "custom_rest.auth")
        return {
            "type": "ApiKeyAuthenticator",
            "api_token": secret + "['key'] }}",
            "inject_into": {"type": "RequestOption", "inject_into": "header", "field_name": auth["header"]},
        }
    if kind == "none":
        return None
    raise ConfigError(f"custom_rest.auth.type {kind!r} is not one of {', '.join(AUTH_KINDS)}")


def _stream(
    name: str, spec: Any, base_url: str, authenticator: dict[str, Any] | None, config: StoreConfig
) -> dict[str, Any]:
    where = f"custom_rest.streams.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be an object")
    _require(spec, "path", where)
    fields = spec.get("fields")
    if not isinstance(fields, Mapping) or "id" not in fields:
        raise ConfigError(f"{where}.fields must map canonical fields to payload paths, `id` included")
    for field, rule in fields.items():
        check_rule(rule, f"{where}.fields.{field}")
    cursor_field = CANONICAL_CURSORS.get(name, "updated_at")
    requester: dict[str, Any] = {
        "type": "HttpRequester",
        "url_base": base_url.rstrip("/") + "/",
        "path": str(spec["path"]).lstrip("/"),
        "http_method": "GET",
        "request_parameters": dict(spec.get("params") or {}),
        "error_handler": {
            "type": "DefaultErrorHandler",
            "backoff_strategies": [{"type": "WaitTimeFromHeader", "header": RETRY_AFTER_HEADER}],
        },
    }
    if authenticator:
        requester["authenticator"] = authenticator
    stream: dict[str, Any] = {
        "type": "DeclarativeStream",
        "name": name,
        "primary_key": ["id"],
        "schema_loader": {
            "type": "InlineSchemaLoader",
            "schema": json.loads(resources.files("source_store").joinpath(f"schemas/{name}.json").read_text()),
        },
        "retriever": {
            "type": "SimpleRetriever",
            "requester": requester,
            "record_selector": {
                "type": "RecordSelector",
                "extractor": {"type": "DpathExtractor", "field_path": _dotted(spec.get("records_path", ""))},
            },
            "paginator": _paginator(spec.get("pagination") or {"type": "none"}, config.page_size, where),
        },
        "transformations": [
            {
                "type": "CustomTransformation",
                "class_name": "source_store.platforms.custom_rest.CanonicalMapping",
                "mapping": json.dumps(fields),
                "platform": NAME,
                "store_id": config.store_id,
            }
        ],
    }
    cursor = spec.get("cursor")
    if cursor:
        stream["incremental_sync"] = _cursor(cursor, cursor_field, config, where)
        request_format = cursor.get("format", CANONICAL_FORMAT)
        requester["request_parameters"][cursor["param"]] = _lower_bound(request_format)
        if cursor.get("end_param"):
            requester["request_parameters"][cursor["end_param"]] = _upper_bound(request_format)
    return stream


def check_rule(rule: Any, where: str) -> None:
    """A mapping rule is a dotted path or an object with `path`, `join` or `value` (and `each` holds rules)."""
    if isinstance(rule, str) and rule.strip():
        return
    if not isinstance(rule, Mapping) or set(rule) - RULE_KEYS or not {"path", "join", "value"} & set(rule):
        raise ConfigError(f"{where} must be a payload path or an object with path, join or value")
    each = rule.get("each")
    if each is None:
        return
    if "path" not in rule or not isinstance(each, Mapping) or not each:
        raise ConfigError(f"{where}.each must map the fields of every element of the list at `path`")
    for field, inner in each.items():
        check_rule(inner, f"{where}.each.{field}")


def _paginator(pagination: Mapping[str, Any], page_size: int, where: str) -> dict[str, Any]:
    kind = pagination.get("type")
    size = int(pagination.get("page_size", page_size))
    size_option = None
    if pagination.get("size_param"):
        size_option = {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": pagination["size_param"],
        }
    if kind == "none":
        return {"type": "NoPagination"}
    if kind == "page_number":
        strategy = {"type": "PageIncrement", "page_size": size, "start_from_page": int(pagination.get("first_page", 1))}
        token = {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": pagination.get("param", "page"),
        }
    elif kind == "offset":
        strategy = {"type": "OffsetIncrement", "page_size": size}
        token = {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": pagination.get("param", "offset"),
        }
    elif kind == "cursor":
        _require(pagination, "next_path", f"{where}.pagination")
        value = "{{ response" + "".join(f"['{part}']" for part in _dotted(pagination["next_path"])) + " }}"
        stop = "{{ not response" + "".join(f".get('{part}', {{}})" for part in _dotted(pagination["next_path"])) + " }}"
        strategy = {"type": "CursorPagination", "cursor_value": value, "stop_condition": stop, "page_size": size}
        token = {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": pagination.get("param", "cursor"),
        }
    elif kind == "link_header":
        strategy = {
            "type": "CursorPagination",
            "cursor_value": "{{ headers['link']['next']['url'] }}",
            "stop_condition": "{{ 'next' not in headers.get('link', {}) }}",
            "page_size": size,
        }
        token = {"type": "RequestPath"}
    else:
        raise ConfigError(f"{where}.pagination.type {kind!r} is not one of {', '.join(PAGINATION_KINDS)}")
    paginator: dict[str, Any] = {
        "type": "DefaultPaginator",
        "pagination_strategy": strategy,
        "page_token_option": token,
    }
    if size_option:
        paginator["page_size_option"] = size_option
    return paginator


def _cursor(cursor: Mapping[str, Any], cursor_field: str, config: StoreConfig, where: str) -> dict[str, Any]:
    """The CDK cursor; its state keeps the canonical ISO 8601 format whatever format the API's parameter takes.

    States saved in the parameter's format (before the state was canonical) are still read.
    """
    _require(cursor, "param", f"{where}.cursor")
    request_format = str(cursor.get("format", CANONICAL_FORMAT))
    if "'" in request_format or "{" in request_format:
        raise ConfigError(f"{where}.cursor.format must be a strftime pattern without quotes or braces")
    step = _window_step(cursor, f"{where}.cursor")
    lookback = int(config.lookback.total_seconds())
    model: dict[str, Any] = {
        "type": "DatetimeBasedCursor",
        "cursor_field": cursor_field,
        "datetime_format": CANONICAL_FORMAT,
        "cursor_datetime_formats": list(dict.fromkeys([CANONICAL_FORMAT, request_format])),
        "start_datetime": {
            "type": "MinMaxDatetime",
            "datetime": "{{ config['start_date'] }}",
            "datetime_format": CANONICAL_FORMAT,
        },
        "end_datetime": {
            "type": "MinMaxDatetime",
            "datetime": "{{ config['" + READ_UNTIL + "'] }}",
            "datetime_format": CANONICAL_FORMAT,
        },
        "is_data_feed": False,
    }
    if lookback:
        model["lookback_window"] = f"PT{lookback}S"
    if step:
        model["step"] = step
        model["cursor_granularity"] = GRANULARITY_ISO
    return model


def _window_step(cursor: Mapping[str, Any], where: str) -> str | None:
    """The validated `step` (ISO 8601 duration) of a windowed cursor, or None for one window up to the read's start.

    Windows need both `end_param` (the API's upper-bound filter) and `step`: without an upper
    bound every window would read up to the present, so only one window is made.
    """
    end_param, step = cursor.get("end_param"), cursor.get("step")
    if end_param is None and step is None:
        return None
    if not isinstance(end_param, str) or not end_param.strip():
        raise ConfigError(
            f"{where}.step needs {where}.end_param: name the API's upper-bound filter (e.g. updated_before), "
            "or remove step to read the stream as one window"
        )
    if end_param == cursor.get("param"):
        raise ConfigError(f"{where}.end_param must differ from {where}.param (the lower bound)")
    if step is None:
        raise ConfigError(f"{where}.end_param needs {where}.step: the window size as an ISO 8601 duration, e.g. P30D")
    length = _duration(step)
    if length < GRANULARITY or length % GRANULARITY:
        raise ConfigError(
            f"{where}.step must be an ISO 8601 duration of whole seconds, at least one, in weeks, days, hours, "
            f"minutes or seconds (e.g. P30D or PT12H), not {step!r}"
        )
    return str(step)


def _duration(text: Any) -> timedelta:
    """An ISO 8601 duration as the CDK parses `step`; zero when not one (months and years have no fixed length)."""
    try:
        parsed = cdk_duration(str(text))
    except ValueError:  # isodate's ISO8601Error is a ValueError
        return timedelta(0)
    return parsed if isinstance(parsed, timedelta) else timedelta(0)


def _lower_bound(request_format: str) -> str:
    """The request parameter value: the slice's start (cursor minus lookback) in the API's own format."""
    return (
        "{{ format_datetime(stream_interval.start_time, '" + request_format + "') "
        "if stream_interval and stream_interval.start_time else None }}"
    )


def _upper_bound(request_format: str) -> str:
    """The upper-bound parameter: the window's end plus one unit (the next window's start), in the API's format.

    Windows are `[start, end]` with `end` one unit before the next window's start, so an
    exclusive filter (`before`) given the next start reads every record once, and an inclusive one
    (`at or before`) reads records exactly on a boundary twice (staging dedupes on id). A format
    coarser than seconds truncates both bounds alike, so windows still meet.
    """
    return (
        "{{ format_datetime(str_to_datetime(stream_interval.end_time) + duration('"
        + GRANULARITY_ISO
        + "'), '"
        + request_format
        + "') if stream_interval and stream_interval.end_time else None }}"
    )


def _dotted(path: Any) -> list[str]:
    return [part for part in str(path or "").split(".") if part]


def _require(spec: Mapping[str, Any], key: str, where: str) -> None:
    if spec.get(key) in (None, ""):
        raise ConfigError(f"{where}.{key} is required")


@dataclass
class CanonicalMapping(RecordTransformation):
    """Maps one proprietary payload onto the canonical record, in place.

    `mapping` (JSON) maps each canonical field to a dotted payload path, or to an object with
    `path` plus one transform: `cast` (string, integer, number, boolean), `date_format` (strptime
    pattern; output is UTC ISO 8601), `cents` (divide by 100), `join` (list of paths) with
    `separator`, `value` (a constant), or `each` (rules applied to every element of the list at
    `path`, for line items and refunds). Payload fields the mapping never reads are kept in
    `extra`; a value that cannot be converted is nulled, kept raw in `extra` and noted in
    `extra._changes`.
    """

    mapping: str
    platform: str
    store_id: str
    parameters: InitVar[Mapping[str, Any]] = None  # the CDK passes $parameters

    def __post_init__(self, parameters: Mapping[str, Any] | None) -> None:
        self._fields: dict[str, Any] = json.loads(self.mapping)

    def transform(
        self, record: dict[str, Any], config: Any = None, stream_state: Any = None, stream_slice: Any = None
    ) -> None:
        """Replace the payload in `record` with its canonical form."""
        payload = dict(record)
        used: set[str] = set()
        changes: list[dict[str, str]] = []
        canonical: dict[str, Any] = {}
        for field, rule in self._fields.items():
            canonical[field] = map_field(payload, rule, field, used, changes)
        extra = {key: value for key, value in payload.items() if key not in used}
        for note in changes:
            extra.setdefault(note.pop("raw_key"), note.pop("raw_value"))
        if changes:
            extra[CHANGES_KEY] = changes
        record.clear()
        record.update(canonical)
        record["platform"] = self.platform
        record["store_id"] = self.store_id
        record["extra"] = extra


def map_field(payload: Mapping[str, Any], rule: Any, field: str, used: set[str], changes: list[dict[str, Any]]) -> Any:
    """One canonical value from the payload by a mapping rule (see CanonicalMapping)."""
    if isinstance(rule, str):
        rule = {"path": rule}
    if "value" in rule:
        return rule["value"]
    if "join" in rule:
        parts = [_get(payload, path, used) for path in rule["join"]]
        text = str(rule.get("separator", " ")).join(str(part) for part in parts if part not in (None, ""))
        return text or None
    if "each" in rule:
        return _map_each(payload, rule, field, used, changes)
    raw = _get(payload, rule["path"], used)
    if raw is None or raw == "":
        return None
    converted = _convert(raw, rule, field)
    if converted is None:
        top = _dotted(rule["path"])[0]
        used.discard(top)
        changes.append({**nulled(field), "raw_key": top, "raw_value": payload.get(top)})
    elif field in ("id",) or field.endswith("_id"):
        converted = str(converted)
    return converted


def _map_each(
    payload: Mapping[str, Any], rule: Mapping[str, Any], field: str, used: set[str], changes: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """Every element of the list at `path` mapped by the `each` rules; notes name it (`line_items[2].price`)."""
    raw = _get(payload, rule["path"], used)
    if raw is None:
        return None
    top = _dotted(rule["path"])[0]
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        used.discard(top)
        changes.append({**nulled(field), "raw_key": top, "raw_value": payload.get(top)})
        return None
    mapped = []
    for index, item in enumerate(raw):
        inner: list[dict[str, Any]] = []
        mapped.append({name: map_field(item, sub_rule, name, set(), inner) for name, sub_rule in rule["each"].items()})
        for note in inner:
            note.update(field=f"{field}[{index}].{note['field']}", raw_key=top, raw_value=payload.get(top))
            used.discard(top)
        changes.extend(inner)
    return mapped


def _get(payload: Mapping[str, Any], path: str, used: set[str]) -> Any:
    parts = _dotted(path)
    if parts:
        used.add(parts[0])
    value: Any = payload
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _convert(raw: Any, rule: Mapping[str, Any], field: str) -> Any:
    if rule.get("cents"):
        amount = _decimal(raw)
        return float(amount / 100) if amount is not None else None
    if rule.get("date_format"):
        try:
            moment = datetime.strptime(str(raw), rule["date_format"])
        except ValueError:
            return None
        return format_timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    cast = rule.get("cast")
    if cast in CASTERS:
        return CASTERS[cast](raw)
    if field.endswith("_at"):  # timestamps without a format must already be ISO 8601
        moment = parse_timestamp(raw)
        return format_timestamp(moment) if moment else None
    return raw


def _number(raw: Any) -> float | None:
    amount = _decimal(raw)
    return float(amount) if amount is not None else None


def _integer(raw: Any) -> int | None:
    amount = _decimal(raw)
    return int(amount) if amount is not None and amount == amount.to_integral_value() else None


def _boolean(raw: Any) -> bool | None:
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(str(raw).lower())


CASTERS = {"string": str, "integer": _integer, "number": _number, "boolean": _boolean}


def _decimal(raw: Any) -> Decimal | None:
    try:
        amount = Decimal(str(raw))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
