"""Salesforce sObject schemas for the emulator: Account, Contact, Opportunity, their fields, ids and value rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

EXTERNAL_ID_FIELD = "Store2crm_External_Id__c"  # the destination's unique external-id custom field
SEGMENTS_FIELD = "Store2crm_Segments__c"  # Contact custom Long Text Area for `salesforce.segments_field`
LONG_TEXT_AREA_LENGTH = 32_768  # the length Setup proposes for a new Long Text Area field
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")  # REST API guide: 15- or 18-character ids
CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"  # the case-safe 18-character id suffix alphabet
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SANDBOX_POD = "Sb"  # instance part of generated ids, any two characters
SANDBOX_USER_ID = "005Sb00000000AAAAA"  # owner/creator of every record (005 = User)
SALESFORCE_EDITIONS: dict[str, tuple[int, int]] = {  # api-facts.md: (daily API calls, extra calls per licence)
    "developer": (15_000, 0),
    "professional": (100_000, 1_000),
    "enterprise": (100_000, 1_000),
}
DEFAULT_STAGES: dict[str, tuple[int, bool, bool]] = {  # default Opportunity stages: probability, closed, won
    "Prospecting": (10, False, False),
    "Qualification": (10, False, False),
    "Needs Analysis": (20, False, False),
    "Value Proposition": (50, False, False),
    "Id. Decision Makers": (60, False, False),
    "Perception Analysis": (70, False, False),
    "Proposal/Price Quote": (75, False, False),
    "Negotiation/Review": (90, False, False),
    "Closed Won": (100, True, True),
    "Closed Lost": (0, True, False),
}
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMERIC_KINDS = frozenset({"int", "double", "currency", "percent"})
TEXT_KINDS = frozenset({"string", "textarea", "email", "phone", "url", "picklist"})


class FieldError(Exception):
    """One record's field problem, as a Salesforce error: statusCode, message and the fields involved."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = fields or []

    def as_error(self) -> dict[str, Any]:
        """The error object of a per-record result (`errors[]` of SaveResult/UpsertResult)."""
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


@dataclass(frozen=True)
class Field:
    """One sObject field as describe() would present it (name, type, length, createable/updateable)."""

    name: str
    label: str
    kind: str
    length: int | None = None
    required: bool = False
    writable: bool = True
    reference_to: str | None = None
    relationship: str | None = None


@dataclass(frozen=True)
class SObjectType:
    """One sObject: its name, 3-character key prefix and fields by API name."""

    name: str
    key_prefix: str
    fields: dict[str, Field] = field(default_factory=dict)

    def relationship(self, name: str) -> Field | None:
        """The lookup field whose relationship name is `name` (`Parent` → ParentId)."""
        return next((f for f in self.fields.values() if f.relationship == name), None)


def _fields(*specs: Field) -> dict[str, Field]:
    return {spec.name: spec for spec in specs}


def _system_fields() -> tuple[Field, ...]:
    return (
        Field("Id", "Record ID", "id", 18, writable=False),
        Field("IsDeleted", "Deleted", "boolean", writable=False),
        Field("OwnerId", "Owner ID", "reference", 18, writable=False, reference_to="User"),
        Field("CreatedDate", "Created Date", "datetime", writable=False),
        Field("CreatedById", "Created By ID", "reference", 18, writable=False, reference_to="User"),
        Field("LastModifiedDate", "Last Modified Date", "datetime", writable=False),
        Field("LastModifiedById", "Last Modified By ID", "reference", 18, writable=False, reference_to="User"),
        Field("SystemModstamp", "System Modstamp", "datetime", writable=False),
        Field(EXTERNAL_ID_FIELD, "Store2crm External Id", "string", 255),
    )


def _address(prefix: str, label: str) -> tuple[Field, ...]:
    return (
        Field(f"{prefix}Street", f"{label} Street", "textarea", 255),
        Field(f"{prefix}City", f"{label} City", "string", 40),
        Field(f"{prefix}State", f"{label} State/Province", "string", 80),
        Field(f"{prefix}PostalCode", f"{label} Zip/Postal Code", "string", 20),
        Field(f"{prefix}Country", f"{label} Country", "string", 80),
    )


ACCOUNT = SObjectType(
    "Account",
    "001",
    _fields(
        *_system_fields(),
        Field("Name", "Account Name", "string", 255, required=True),
        Field("ParentId", "Parent Account ID", "reference", 18, reference_to="Account", relationship="Parent"),
        Field("Type", "Account Type", "picklist", 255),
        Field("Industry", "Industry", "picklist", 255),
        Field("Rating", "Account Rating", "picklist", 255),
        Field("AccountNumber", "Account Number", "string", 40),
        Field("Phone", "Account Phone", "phone", 40),
        Field("Website", "Website", "url", 255),
        Field("AnnualRevenue", "Annual Revenue", "currency"),
        Field("NumberOfEmployees", "Employees", "int"),
        Field("Description", "Account Description", "textarea", 32_000),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
    ),
)
CONTACT = SObjectType(
    "Contact",
    "003",
    _fields(
        *_system_fields(),
        Field("AccountId", "Account ID", "reference", 18, reference_to="Account", relationship="Account"),
        Field("Salutation", "Salutation", "picklist", 40),
        Field("FirstName", "First Name", "string", 40),
        Field("LastName", "Last Name", "string", 80, required=True),
        Field("Name", "Full Name", "string", 121, writable=False),
        Field("Email", "Email", "email", 80),
        Field("Phone", "Business Phone", "phone", 40),
        Field("MobilePhone", "Mobile Phone", "phone", 40),
        Field("Title", "Title", "string", 128),
        Field("Department", "Department", "string", 80),
        Field("LeadSource", "Lead Source", "picklist", 255),
        Field("Birthdate", "Birthdate", "date"),
        Field("HasOptedOutOfEmail", "Email Opt Out", "boolean"),
        Field("DoNotCall", "Do Not Call", "boolean"),
        Field("Description", "Contact Description", "textarea", 32_000),
        *_address("Mailing", "Mailing"),
        Field(SEGMENTS_FIELD, "Store2crm Segments", "textarea", LONG_TEXT_AREA_LENGTH),
    ),
)
OPPORTUNITY = SObjectType(
    "Opportunity",
    "006",
    _fields(
        *_system_fields(),
        Field("AccountId", "Account ID", "reference", 18, reference_to="Account", relationship="Account"),
        Field("ContactId", "Contact ID", "reference", 18, reference_to="Contact", relationship="Contact"),
        Field("Name", "Name", "string", 120, required=True),
        Field("StageName", "Stage", "picklist", 255, required=True),
        Field("CloseDate", "Close Date", "date", required=True),
        Field("Amount", "Amount", "currency"),
        Field("Probability", "Probability (%)", "percent"),
        Field("Type", "Opportunity Type", "picklist", 255),
        Field("LeadSource", "Lead Source", "picklist", 255),
        Field("NextStep", "Next Step", "string", 255),
        Field("Description", "Description", "textarea", 32_000),
        Field("IsClosed", "Closed", "boolean", writable=False),
        Field("IsWon", "Won", "boolean", writable=False),
    ),
)
SOBJECTS: dict[str, SObjectType] = {spec.name: spec for spec in (ACCOUNT, CONTACT, OPPORTUNITY)}
SOBJECT_ALIASES: dict[str, str] = {  # dialect-agnostic names the emulator's inspection also accepts
    "companies": "Account",
    "contacts": "Contact",
    "deals": "Opportunity",
    **{name.lower(): name for name in SOBJECTS},
}


def daily_allocation(edition: str, licences: int) -> int:
    """Daily API calls of an org of this edition with this many user licences."""
    if edition not in SALESFORCE_EDITIONS:
        valid = ", ".join(SALESFORCE_EDITIONS)
        raise ValueError(f"unknown Salesforce edition {edition!r}; valid editions: {valid}")
    if licences < 0:
        raise ValueError("licences cannot be negative")
    base, per_licence = SALESFORCE_EDITIONS[edition]
    return base + per_licence * licences


def record_id(key_prefix: str, sequence: int) -> str:
    """An 18-character case-safe Salesforce id: key prefix, pod, base-62 sequence and checksum."""
    digits = ""
    while sequence:
        sequence, remainder = divmod(sequence, 62)
        digits = BASE62[remainder] + digits
    short = f"{key_prefix}{SANDBOX_POD}{digits.rjust(10, '0')}"
    return short + checksum(short)


def checksum(short_id: str) -> str:
    """The 3-character suffix that turns a 15-character id into its case-insensitive 18-character form."""
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, char in enumerate(short_id[start : start + 5]) if "A" <= char <= "Z")
        suffix += CHECKSUM_ALPHABET[bits]
    return suffix


def sf_datetime(epoch: float) -> str:
    """A dateTime as REST API JSON renders it: `2026-01-31T12:00:00.000+0000`."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """A dateTime from an ISO 8601 string (`Z`, `+0000` or `+00:00` offsets); ValueError when it is not one."""
    normalised = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    moment = datetime.fromisoformat(normalised)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def coerce(spec: Field, value: Any) -> Any:
    """The stored form of a value written to `spec`, or the FieldError Salesforce gives for it."""
    if value is None or (value == "" and spec.kind not in TEXT_KINDS):
        return None
    if spec.kind in TEXT_KINDS or spec.kind == "reference":
        return _text(spec, value)
    if spec.kind == "boolean":
        return _boolean(spec, value)
    if spec.kind in NUMERIC_KINDS:
        return _number(spec, value)
    return _date(spec, value)  # every id and dateTime field of these sObjects is read-only


def _wrong_type(spec: Field, value: Any) -> FieldError:
    return FieldError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{spec.label}: value not of required type: {value}", [spec.name]
    )


def _text(spec: Field, value: Any) -> str | None:
    if isinstance(value, dict | list):
        raise _wrong_type(spec, value)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text == "":
        return None
    if spec.length is not None and len(text) > spec.length:
        message = f"{spec.label}: data value too large: {text} (max length={spec.length})"
        raise FieldError("STRING_TOO_LONG", message, [spec.name])
    if spec.kind == "email" and not EMAIL_PATTERN.match(text):
        raise FieldError("INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {text}", [spec.name])
    return text


def _boolean(spec: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _wrong_type(spec, value)


def _number(spec: Field, value: Any) -> int | float:
    if isinstance(value, bool):
        raise _wrong_type(spec, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _wrong_type(spec, value) from None
    if spec.kind == "int":
        if not number.is_integer():
            raise _wrong_type(spec, value)
        return int(number)
    return number


def _date(spec: Field, value: Any) -> str:
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        raise _wrong_type(spec, value)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise _wrong_type(spec, value) from None
    return value
