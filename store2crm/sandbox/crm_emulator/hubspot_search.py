"""HubSpot CRM search (`POST .../objects/{object}/search`) as the emulator serves it: filters, sorts, paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from store2crm.sandbox.crm_emulator.hubspot_errors import Reject, error_response
from store2crm.sandbox.crm_emulator.store import StoredRecord

# Search guide, "Limitations": 200 results a page, 10,000 results per query; paging past them is a 400.
SEARCH_PAGE_MAX = 200
SEARCH_PAGE_DEFAULT = 10
SEARCH_RESULT_CAP = 10_000
# Changelog "Expanded filtering capabilities" (2024): 5 filter groups, 10 filters a group, 25 in all.
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
# Search guide, "Limitations": about 5 requests a second per account, outside the usual rate-limit headers.
SEARCH_REQUESTS_PER_SECOND = 5

Render = Callable[[StoredRecord, list[str]], dict[str, Any]]


def _bad(message: str) -> Reject:
    return Reject(error_response(400, message, "VALIDATION_ERROR"))


def _comparable(value: str | None, kind: str) -> Any:
    """Dates compare as epoch milliseconds (HubSpot takes ms or ISO 8601 in filters), numbers as floats."""
    if value is None or value == "":
        return None
    if kind in ("datetime", "date"):
        if value.lstrip("-").isdigit():
            return int(value)
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise _bad(f"{value} is not a valid date: use epoch milliseconds or ISO 8601") from None
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            raise _bad(f"{value} is not a valid number") from None
    return value.casefold()


def _matches(record: StoredRecord, flt: dict[str, Any], kinds: dict[str, str]) -> bool:
    name = flt.get("propertyName")
    operator = flt.get("operator")
    if name not in kinds:
        raise _bad(f"There was a problem with the request: property {name!r} does not exist")
    kind = kinds[name]
    held = _comparable(record.properties.get(name), kind)
    if operator == "HAS_PROPERTY":
        return held is not None
    if operator == "NOT_HAS_PROPERTY":
        return held is None
    if operator in ("IN", "NOT_IN"):
        wanted = {_comparable(str(v), kind) for v in flt.get("values") or []}
        return (held in wanted) == (operator == "IN")
    value = _comparable(None if flt.get("value") is None else str(flt["value"]), kind)
    if operator == "BETWEEN":
        high = _comparable(None if flt.get("highValue") is None else str(flt["highValue"]), kind)
        return held is not None and value <= held <= high
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "EQ": lambda a, b: a == b,
        "NEQ": lambda a, b: a != b,
        "LT": lambda a, b: a is not None and a < b,
        "LTE": lambda a, b: a is not None and a <= b,
        "GT": lambda a, b: a is not None and a > b,
        "GTE": lambda a, b: a is not None and a >= b,
    }
    if operator not in comparisons:
        raise _bad(f"operator {operator!r} is not supported; use one of {', '.join(comparisons)}, IN, BETWEEN, ...")
    return comparisons[operator](held, value)


def _filter_groups(body: dict[str, Any]) -> list[list[dict[str, Any]]]:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise _bad("Invalid input JSON: filterGroups must be a list of objects")
    filters = [g.get("filters") or [] for g in groups]
    if (
        len(filters) > MAX_FILTER_GROUPS
        or any(len(f) > MAX_FILTERS_PER_GROUP for f in filters)
        or sum(len(f) for f in filters) > MAX_FILTERS
    ):
        raise _bad(
            f"Too many filters: at most {MAX_FILTER_GROUPS} filterGroups, {MAX_FILTERS_PER_GROUP} filters a group "
            f"and {MAX_FILTERS} in all"
        )
    return filters


def _sort_key(body: dict[str, Any], kinds: dict[str, str]) -> tuple[str, bool]:
    """The one sort HubSpot honours: a property and a direction (`{"propertyName", "direction"}` or "-name")."""
    sorts = body.get("sorts") or []
    if not sorts:
        return "hs_object_id", False
    first = sorts[0]
    if isinstance(first, str):
        name, descending = first.lstrip("-"), first.startswith("-")
    else:
        name, descending = first.get("propertyName"), first.get("direction") == "DESCENDING"
    if name not in kinds:
        raise _bad(f"cannot sort on unknown property {name!r}")
    return name, descending


def search(
    records: list[StoredRecord],
    body: Any,
    *,
    kinds: dict[str, str],
    default_properties: list[str],
    render: Render,
    result_cap: int = SEARCH_RESULT_CAP,
) -> dict[str, Any]:
    """The search answer: `total`, one page of `results` and `paging.next.after` while more remain."""
    if not isinstance(body, dict):
        raise _bad("Invalid input JSON: expected a search request object")
    groups = _filter_groups(body)
    limit = body.get("limit", SEARCH_PAGE_DEFAULT)
    if not isinstance(limit, int) or not 1 <= limit <= SEARCH_PAGE_MAX:
        raise _bad(f"limit must be between 1 and {SEARCH_PAGE_MAX}")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise _bad(f"after must be a number, got {after!r}")
    offset = int(after)
    if offset >= result_cap:
        raise _bad(f"The search API returns at most {result_cap} results per query; narrow the filters to see more")
    hits = [r for r in records if not groups or any(all(_matches(r, f, kinds) for f in g) for g in groups)]
    name, descending = _sort_key(body, kinds)
    present = [r for r in hits if r.properties.get(name)]
    absent = [r for r in hits if not r.properties.get(name)]
    present.sort(key=lambda r: (_comparable(r.properties[name], kinds[name]), int(r.id)), reverse=descending)
    ordered = present + absent
    asked = body.get("properties") or []
    names = [n for n in asked if n in kinds] if asked else default_properties
    page = ordered[offset : min(offset + limit, result_cap)]
    answer: dict[str, Any] = {"total": len(ordered), "results": [render(r, names) for r in page]}
    if offset + limit < min(len(ordered), result_cap):
        answer["paging"] = {"next": {"after": str(offset + limit)}}
    return answer
