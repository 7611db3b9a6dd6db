"""Default mapping of the crm_* streams to Salesforce Account, Contact and Opportunity, and request shaping."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

import pendulum

from destination_crm.crms.base import ObjectWrite, RecordRejected, content_hash

DEFAULT_EXTERNAL_ID_FIELD = "Store2crm_External_Id__c"
# Opportunity stages of a default org (Setup > Opportunity Stages); our three states map onto them.
OPPORTUNITY_STAGES = {"open": "Prospecting", "won": "Closed Won", "lost": "Closed Lost"}
# Salesforce requires Contact.LastName; Web-to-Lead fills a missing one with this same placeholder.
MISSING_LAST_NAME = "[not provided]"
# Bulk API 2.0 CSV: this value sets a field to null (an empty cell leaves the field as it is).
CSV_NULL = "#N/A"
# Fields sent as JSON numbers (the rest are strings); properties hold every value as text for hashing.
NUMERIC_FIELDS = frozenset({"Amount"})


@dataclass(frozen=True)
class Lookup:
    """A foreign key column written as a relationship by external id (`Parent.<ext field>`) or cleared by id."""

    column: str
    relationship: str
    id_field: str


@dataclass(frozen=True)
class SObjectMapping:
    """How one stream becomes one sObject: the field builder, its lookups and how to order a batch.

    `hierarchy` names a lookup to the same sObject (Account `Parent`): parents go in earlier requests.
    `group_by` names the lookup whose children share a request (so no two requests race for its lock).
    """

    sobject: str
    build: Callable[[Mapping[str, Any]], dict[str, str]]
    lookups: tuple[Lookup, ...] = ()
    hierarchy: str | None = None
    group_by: str | None = None

    def map(self, stream: str, record: Mapping[str, Any], external_id_field: str) -> ObjectWrite:
        """The ObjectWrite of one record: flat field names, `Rel.<ext field>` for lookups, '' for null."""
        external_id = record.get("external_id")
        if external_id in (None, ""):
            raise RecordRejected(f"{stream} record has no external_id: every row needs one")
        external_id = str(external_id)
        try:
            properties = self.build(record)
        except (ValueError, TypeError) as bad:
            raise RecordRejected(f"{stream} record {external_id}: {bad}") from bad
        for lookup in self.lookups:
            other = record.get(lookup.column)
            if other in (None, ""):
                properties[lookup.id_field] = ""  # clears a link removed in the store
            else:
                properties[f"{lookup.relationship}.{external_id_field}"] = str(other)
        return ObjectWrite(
            stream=stream,
            external_id=external_id,
            id_value=external_id,
            properties=properties,
            content_hash=content_hash(external_id, properties),
        )

    @staticmethod
    def map_properties(write: ObjectWrite, properties: dict[str, str]) -> ObjectWrite:
        """The same write with other properties (and their hash)."""
        return replace(write, properties=properties, content_hash=content_hash(write.id_value, properties))


def text(value: Any) -> str:
    """Text as Salesforce stores it; '' is null."""
    return "" if value is None else str(value).strip()


def number(value: Any) -> str:
    """A decimal string without exponent; '' for null."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        parsed = Decimal(str(value))
    except InvalidOperation as bad:
        raise ValueError(f"expected a number, got {value!r}") from bad
    if not parsed.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    formatted = format(parsed.normalize(), "f")
    return "0" if formatted in {"-0", "0"} else formatted


def close_date(record: Mapping[str, Any]) -> str:
    """Opportunity.CloseDate (required): the day it closed, else the day it was created (expected close)."""
    for column in ("closed_at", "created_at"):
        value = record.get(column)
        if value not in (None, ""):
            try:
                return pendulum.parse(str(value)).in_timezone("UTC").date().isoformat()
            except ValueError as bad:  # pendulum's ParserError is a ValueError
                raise ValueError(f"field {column}: not a timestamp: {value!r}") from bad
    raise ValueError("fields closed_at and created_at are both empty: Opportunity.CloseDate is required")


def account_fields(record: Mapping[str, Any]) -> dict[str, str]:
    """Account: Name (required; the domain when the store has no name) and Website."""
    name = text(record.get("name")) or text(record.get("domain"))
    if not name:
        raise ValueError("fields name and domain are both empty: Account.Name is required")
    return {"Name": name, "Website": text(record.get("domain"))}


def contact_fields(record: Mapping[str, Any], segments_field: str | None = None) -> dict[str, str]:
    """Contact: names, email, phone and mailing city/country; LastName falls back to a placeholder.

    With `segments_field` (a custom text field, `salesforce.segments_field`), the store's segment
    memberships go there as the `;`-separated `segments` column ('' when none, which clears the field).
    """
    fields = {
        "FirstName": text(record.get("first_name")),
        "LastName": text(record.get("last_name")) or MISSING_LAST_NAME,
        "Email": text(record.get("email")),
        "Phone": text(record.get("phone")),
        "MailingCity": text(record.get("city")),
        "MailingCountry": text(record.get("country")),
    }
    if segments_field:
        fields[segments_field] = text(record.get("segments"))
    return fields


def opportunity_fields(record: Mapping[str, Any]) -> dict[str, str]:
    """Opportunity: Name, Amount, CloseDate and StageName, all required but Amount."""
    stage = record.get("stage")
    if stage not in OPPORTUNITY_STAGES:
        raise ValueError(f"field stage: {stage!r} is not one of {', '.join(OPPORTUNITY_STAGES)}")
    try:
        amount = number(record.get("amount"))
    except ValueError as bad:
        raise ValueError(f"field amount: {bad}") from bad
    return {
        "Name": text(record.get("deal_name")) or f"Order {record.get('external_id')}",
        "Amount": amount,
        "CloseDate": close_date(record),
        "StageName": OPPORTUNITY_STAGES[stage],
    }


def salesforce_mappings(segments_field: str | None = None) -> dict[str, SObjectMapping]:
    """The mapping of every stream, in write order; `segments_field` adds the Contact's segments field."""
    return {
        "crm_companies": SObjectMapping(
            "Account",
            account_fields,
            (Lookup("parent_external_id", "Parent", "ParentId"),),
            hierarchy="Parent",
            group_by="Parent",
        ),
        "crm_contacts": SObjectMapping(
            "Contact",
            partial(contact_fields, segments_field=segments_field),
            (Lookup("company_external_id", "Account", "AccountId"),),
            group_by="Account",
        ),
        "crm_deals": SObjectMapping(
            "Opportunity",
            opportunity_fields,
            (
                Lookup("company_external_id", "Account", "AccountId"),
                Lookup("contact_external_id", "Contact", "ContactId"),
            ),
            group_by="Account",
        ),
    }


DEFAULT_MAPPINGS: dict[str, SObjectMapping] = salesforce_mappings()


# -- request shaping --------------------------------------------------------------------------------


def json_record(sobject: str, write: ObjectWrite, external_id_field: str) -> dict[str, Any]:
    """One sObject Collections record: `attributes`, the external id, fields, `Rel: {ext: id}` lookups."""
    payload: dict[str, Any] = {"attributes": {"type": sobject}, external_id_field: write.external_id}
    for name, value in write.properties.items():
        relationship, _, field = name.partition(".")
        if field:
            payload[relationship] = {field: value}
        elif value == "":
            payload[name] = None
        elif name in NUMERIC_FIELDS:
            payload[name] = float(value)
        else:
            payload[name] = value
    return payload


def csv_body(writes: list[ObjectWrite], external_id_field: str) -> bytes:
    """Bulk API 2.0 ingest CSV: one column per field any write sets; #N/A for null, '' to leave as is."""
    columns = [external_id_field]
    for write in writes:
        columns.extend(name for name in write.properties if name not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for write in writes:
        values = {external_id_field: write.external_id}
        values.update({name: value or CSV_NULL for name, value in write.properties.items()})
        writer.writerow([values.get(column, "") for column in columns])
    return out.getvalue().encode()


def parent_of(write: ObjectWrite, relationship: str, external_id_field: str) -> str:
    """The external id a write's lookup names ('' when none)."""
    return write.properties.get(f"{relationship}.{external_id_field}", "")


def hierarchy_levels(writes: list[ObjectWrite], relationship: str, external_id_field: str) -> list[list[ObjectWrite]]:
    """Split writes so every parent in the batch goes in an earlier level than its children.

    Salesforce resolves `Parent: {ext: id}` against data already saved when the request arrives, so a
    parent and its child in one request fail the child. A cycle stops the walk; its members go last
    and Salesforce judges them.
    """
    by_id = {write.external_id: write for write in writes}
    depth: dict[str, int] = {}
    for write in writes:
        chain: list[str] = []
        current: str | None = write.external_id
        while current is not None and current not in depth and current not in chain:
            chain.append(current)
            parent = parent_of(by_id[current], relationship, external_id_field)
            current = parent if parent in by_id else None
        if current is None:
            base = -1  # the chain's top has no parent in this batch
        elif current in depth:
            base = depth[current]
        else:
            base = len(writes)  # a cycle: after everything else
        for offset, external_id in enumerate(reversed(chain), start=1):
            depth[external_id] = base + offset
    levels: dict[int, list[ObjectWrite]] = {}
    for write in writes:
        levels.setdefault(depth[write.external_id], []).append(write)
    return [levels[key] for key in sorted(levels)]


def grouped_by_parent(
    writes: Iterable[ObjectWrite], relationship: str | None, external_id_field: str
) -> list[ObjectWrite]:
    """Siblings side by side, so the children of one parent share a request instead of racing for its lock."""
    ordered = list(writes)
    if relationship is None:
        return ordered
    return sorted(ordered, key=lambda w: parent_of(w, relationship, external_id_field))


def chunks(writes: list[ObjectWrite], size: int) -> list[list[ObjectWrite]]:
    """Consecutive slices of at most `size`."""
    return [writes[start : start + size] for start in range(0, len(writes), size)]
