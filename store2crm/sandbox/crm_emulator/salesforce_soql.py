"""The SOQL subset the Salesforce emulator answers, parsed and run over in-memory records.

Grammar (keywords case-insensitive):
    SELECT field[, field...] FROM sObject
    [WHERE field op literal [AND field op literal...]]
    [ORDER BY field [ASC|DESC][, ...]] [LIMIT n]
Fields are API names or one parent hop (`Account.Store2crm_External_Id__c`, `Parent.Name`; SELECT only);
`op` is one of = != <> < <= > >=; literals are 'quoted strings', numbers, true, false, null, dates
(2026-01-31) and dateTimes (2026-01-01T00:00:00Z, offsets allowed). No OR, sub-queries, functions or GROUP BY.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store2crm.sandbox.crm_emulator.salesforce_schema import (
    NUMERIC_KINDS,
    SOBJECTS,
    Field,
    SObjectType,
    parse_datetime,
    sf_datetime,
)

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<datetime>\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<comma>,)|(?P<word>[A-Za-z_][\w.]*))"
)
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
KEYWORDS = frozenset({"select", "from", "where", "and", "order", "by", "asc", "desc", "limit"})


class SoqlError(ValueError):
    """A query Salesforce would refuse: MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE, with its message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Condition:
    """`field op value` with the value already in the stored form of the field."""

    field: str
    op: str
    value: Any

    def holds(self, record: dict[str, Any]) -> bool:
        """Whether a record satisfies the condition (ordering comparisons never match null)."""
        actual = record.get(self.field)
        if actual is None or self.value is None:
            return OPERATORS[self.op](actual, self.value) if self.op in ("=", "!=", "<>") else False
        return OPERATORS[self.op](actual, self.value)


@dataclass
class Query:
    """A parsed query: the sObject, selected (relationship, field) pairs, filters, ordering and limit."""

    sobject: SObjectType
    fields: list[tuple[str | None, str]] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None

    def run(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The matching records, ordered and limited."""
        rows = [r for r in records if all(c.holds(r) for c in self.conditions)]
        for name, descending in reversed(self.order):
            # SOQL puts nulls first when ascending and last when descending
            rows.sort(key=lambda r, n=name: (r.get(n) is not None, r.get(n)), reverse=descending)
        return rows if self.limit is None else rows[: self.limit]


def parse(soql: str) -> Query:
    """Parse a query of the supported subset; SoqlError says what Salesforce would answer otherwise."""
    tokens = _tokens(soql)
    cursor = _Cursor(tokens)
    cursor.expect("select")
    selected = [cursor.word()]
    while cursor.accept_comma():
        selected.append(cursor.word())
    cursor.expect("from")
    sobject = _sobject(cursor.word())
    query = Query(sobject, [_selected(sobject, name) for name in selected])
    if cursor.accept("where"):
        query.conditions.append(_condition(sobject, cursor))
        while cursor.accept("and"):
            query.conditions.append(_condition(sobject, cursor))
    if cursor.accept("order"):
        cursor.expect("by")
        query.order.append(_ordering(sobject, cursor))
        while cursor.accept_comma():
            query.order.append(_ordering(sobject, cursor))
    if cursor.accept("limit"):
        kind, text = cursor.next()
        if kind != "number" or not text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}' after LIMIT")
        query.limit = int(text)
    if not cursor.done():
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{cursor.peek()[1]}'")
    return query


def _tokens(soql: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = soql.strip()
    while position < len(text):
        found = TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[position:].split()[0]}'")
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


class _Cursor:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self._tokens = tokens
        self._at = 0

    def done(self) -> bool:
        return self._at >= len(self._tokens)

    def peek(self) -> tuple[str, str]:
        return self._tokens[self._at] if not self.done() else ("end", "<end of query>")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self._at += 1
        return token

    def accept(self, keyword: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.lower() == keyword:
            self._at += 1
            return True
        return False

    def accept_comma(self) -> bool:
        if self.peek()[0] == "comma":
            self._at += 1
            return True
        return False

    def expect(self, keyword: str) -> None:
        if not self.accept(keyword):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}', expected {keyword.upper()}")

    def word(self) -> str:
        kind, text = self.next()
        if kind != "word" or text.lower() in KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
        return text


def _sobject(name: str) -> SObjectType:
    found = next((spec for key, spec in SOBJECTS.items() if key.lower() == name.lower()), None)
    if found is None:
        message = (
            f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
            "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
            "appropriate names."
        )
        raise SoqlError("INVALID_TYPE", message)
    return found


def _field(sobject: SObjectType, name: str) -> Field:
    found = next((spec for key, spec in sobject.fields.items() if key.lower() == name.lower()), None)
    if found is None:
        message = (
            f"No such column '{name}' on entity '{sobject.name}'. If you are attempting to use a custom field, be "
            "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call "
            "for the appropriate names."
        )
        raise SoqlError("INVALID_FIELD", message)
    return found


def _selected(sobject: SObjectType, name: str) -> tuple[str | None, str]:
    if "." not in name:
        return None, _field(sobject, name).name
    relationship, _, target_field = name.partition(".")
    lookup = next((s for s in sobject.fields.values() if (s.relationship or "").lower() == relationship.lower()), None)
    if lookup is None or lookup.reference_to not in SOBJECTS:
        message = f"Didn't understand relationship '{relationship}' in field path. Please reference your WSDL."
        raise SoqlError("INVALID_FIELD", message)
    return lookup.relationship, _field(SOBJECTS[lookup.reference_to or ""], target_field).name


def _ordering(sobject: SObjectType, cursor: _Cursor) -> tuple[str, bool]:
    name = _field(sobject, cursor.word()).name
    if cursor.accept("desc"):
        return name, True
    cursor.accept("asc")
    return name, False


def _condition(sobject: SObjectType, cursor: _Cursor) -> Condition:
    spec = _field(sobject, cursor.word())
    kind, op = cursor.next()
    if kind != "op":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}', expected a comparison operator")
    return Condition(spec.name, op, _literal(spec, *cursor.next()))


def _literal(spec: Field, kind: str, text: str) -> Any:
    if kind == "word" and text.lower() == "null":
        return None
    expected = {"datetime": "datetime", "date": "date", "boolean": "word"}.get(spec.kind)
    if spec.kind in NUMERIC_KINDS:
        expected = "number"
    if expected is None:
        expected = "string"
    if kind != expected or (expected == "word" and text.lower() not in ("true", "false")):
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{spec.name}' must be of type {spec.kind} "
            f"and should{' not' if expected != 'string' else ''} be enclosed in quotes",
        )
    if expected == "datetime":
        return sf_datetime(parse_datetime(text).timestamp())
    if expected == "date":
        return text
    if expected == "word":
        return text.lower() == "true"
    if expected == "number":
        return float(text)
    return re.sub(r"\\(.)", r"\1", text[1:-1])
