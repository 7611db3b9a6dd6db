"""How the Magento dialect evaluates a searchCriteria: filter predicates, MySQL-like ordering, an index per sort.

A collection's rows are held in a `Table` for one dataset version, with each quickly readable
field as a column and the row order of each sort computed once (as MySQL keeps an index), so a
keyset page costs a scan of the rows past its position instead of a mapping and sort of them all.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

DATE_FIELDS = ("created_at", "updated_at", "converted_at")
RANGE_FLOOR_CONDITIONS = ("gt", "gteq", "from")
ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "eq": lambda order: order == 0,
    "neq": lambda order: order != 0,
    "gt": lambda order: order > 0,
    "gteq": lambda order: order >= 0,
    "from": lambda order: order >= 0,
    "lt": lambda order: order < 0,
    "lteq": lambda order: order <= 0,
    "to": lambda order: order <= 0,
}
TIE_BREAK = {"field": "entity_id", "direction": "ASC"}

Predicate = Callable[[Any], bool]


class Bounds(NamedTuple):
    """Sorted positions before `start` match no filter group; from `sure` on they match all of them."""

    start: int
    sure: int


def normalise(field: str, raw: str) -> str:
    """Date filter values in any ISO 8601 form compare like MySQL DATETIME text (`YYYY-MM-DD HH:MM:SS`)."""
    if field not in DATE_FIELDS:
        return raw
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return raw
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def comparer(raw: str) -> Callable[[Any], int]:
    """-1/0/1 comparing a field value with `raw`: numerically when both are numbers, else as text ignoring case."""
    number, text = _number(raw), raw.casefold()  # MySQL's default collation ignores case

    def compare(value: Any) -> int:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float) and number is not None:
            return (value > number) - (value < number)
        left = str(value).casefold()
        return (left > text) - (left < text)

    return compare


def membership(raw: str) -> Predicate:
    """Whether a value equals one of the comma-separated members of `raw` (as `comparer` compares)."""
    numbers: set[float] = set()
    words: set[str] = set()
    texts: set[str] = set()
    for member in (part.strip() for part in raw.split(",")):
        texts.add(member.casefold())
        number = _number(member)
        if number is None:
            words.add(member.casefold())
        else:
            numbers.add(number)

    def found(value: Any) -> bool:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float):
            return value in numbers or str(value).casefold() in words
        return str(value).casefold() in texts

    return found


def predicate(flt: dict[str, str]) -> Predicate:
    """One filter as a test of a field value; its value is parsed once, not once per row."""
    condition, raw = flt["condition_type"], normalise(flt["field"], flt["value"])
    if condition == "null":
        return lambda value: value is None
    if condition == "notnull":
        return lambda value: value is not None
    if condition in ("in", "nin"):
        found = membership(raw)
        wanted = condition == "in"
        # SQL: a comparison with NULL is never true
        return lambda value: value is not None and found(value) == wanted
    if condition in ("like", "nlike"):
        pattern = re.compile("^" + re.escape(raw).replace("%", ".*").replace("_", ".") + "$", re.IGNORECASE | re.DOTALL)
        wanted = condition == "like"
        return lambda value: value is not None and (pattern.match(str(value)) is not None) == wanted
    compare, test = comparer(raw), ORDER_TESTS[condition]
    return lambda value: value is not None and test(compare(value))


def sort_key(value: Any) -> tuple[int, Any]:
    """NULLs first (MySQL ascending order), then numbers, then text."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value).casefold())


class Table:
    """A collection's rows for one dataset version: columns of its quick fields and the row order of each sort."""

    def __init__(self, rows: list[Any], getters: dict[str, Callable[[Any], Any]]) -> None:
        self.rows = rows
        self.getters = getters
        self._columns: dict[str, list[Any]] = {}
        self._orders: dict[tuple[tuple[str, str], ...], list[int]] = {}
        self._kinds: dict[str, str | None] = {}

    def column(self, field: str) -> list[Any] | None:
        """Every row's value of a quick field (None for a field read from the mapped payload)."""
        if field not in self.getters:
            return None
        if field not in self._columns:
            getter = self.getters[field]
            self._columns[field] = [getter(row) for row in self.rows]
        return self._columns[field]

    def order(self, sort_orders: Sequence[dict[str, str]]) -> list[int] | None:
        """Row positions in `sort_orders` order, entity_id breaking ties; None when a sort field is not quick.

        Stable sorts from the last key to the first, as the search always did (MySQL would leave ties to chance).
        """
        signature = tuple((o["field"], o["direction"].upper()) for o in [*sort_orders, TIE_BREAK])
        if signature not in self._orders:
            columns = [self.column(field) for field, _ in signature]
            if any(column is None for column in columns):
                return None
            positions = list(range(len(self.rows)))
            for (_, direction), column in zip(reversed(signature), reversed(columns), strict=True):
                positions.sort(key=lambda i, c=column: sort_key(c[i]), reverse=direction == "DESC")
            self._orders[signature] = positions
        return self._orders[signature]

    def bounds(self, positions: list[int], sort_orders: Sequence[dict[str, str]], groups: list[list[dict]]) -> Bounds:
        """Which sorted positions need the filters evaluated, from `gt`/`gteq`/`from` floors on the first sort field.

        Rows below such a floor fail it, rows from it on pass it: a group (an OR) made only of such
        floors fails everywhere before its lowest one; a group holding one passes everywhere after
        it. Used only for an ascending first sort over a column of text only or of whole numbers
        only, where the sort order and the filters' comparison agree.
        """
        everything = Bounds(0, len(positions) if groups else 0)
        if not sort_orders or sort_orders[0]["direction"].upper() != "ASC":
            return everything
        field = sort_orders[0]["field"]
        column, kind = self.column(field), self._kind(field)
        if column is None or kind is None:
            return everything
        start, sure = 0, 0
        for group in groups:
            floors = [_floor_position(column, kind, positions, f) for f in group if _is_floor(f, field)]
            floors = [floor for floor in floors if floor is not None]
            if floors and len(floors) == len(group):
                start = max(start, min(floors))
            sure = max(sure, min(floors) if floors else len(positions))
        return Bounds(start, max(start, sure))

    def _kind(self, field: str) -> str | None:
        """`text` or `integer` when every value of a quick field is of that type, else None."""
        if field not in self._kinds:
            column = self.column(field) or [None]
            if all(isinstance(value, str) for value in column):
                self._kinds[field] = "text"
            elif all(isinstance(value, int) and not isinstance(value, bool) for value in column):
                self._kinds[field] = "integer"
            else:
                self._kinds[field] = None
        return self._kinds[field]


def _is_floor(flt: dict[str, str], field: str) -> bool:
    return flt["field"] == field and flt["condition_type"] in RANGE_FLOOR_CONDITIONS


def _floor_position(column: list[Any], kind: str, positions: list[int], flt: dict[str, str]) -> int | None:
    """The first sorted position passing a floor filter (all later ones pass too); None when types make it unsafe."""
    raw = normalise(flt["field"], flt["value"])
    find = bisect.bisect_right if flt["condition_type"] == "gt" else bisect.bisect_left
    if kind == "text":
        return find(positions, raw.casefold(), key=lambda i: column[i].casefold())
    number = _number(raw)
    if number is None:  # an integer column compared with text compares as text
        return None
    return find(positions, number, key=lambda i: column[i])
