"""Default mapping of the crm_* streams to HubSpot contacts, companies and deals."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pendulum

from destination_crm.crms.base import Link, ObjectWrite, RecordRejected, content_hash

# HubSpot's default deal pipeline and its stage ids (knowledge.hubspot.com, "Set up and customize pipelines").
DEFAULT_PIPELINE = "default"
DEAL_STAGES = {"open": "appointmentscheduled", "won": "closedwon", "lost": "closedlost"}

# The unique custom property that companies and deals are upserted by (idProperty needs hasUniqueValue).
EXTERNAL_ID_PROPERTY = "store2crm_external_id"

# Associations v4 HUBSPOT_DEFINED type ids (api-facts.md): the direction is from -> to.
CONTACT_TO_COMPANY = 279
PARENT_TO_CHILD_COMPANY = 13
DEAL_TO_CONTACT = 3
DEAL_TO_COMPANY = 341


@dataclass(frozen=True)
class LinkSpec:
    """A foreign key column that becomes an association; `from_other` when the other object is the `from` end."""

    column: str
    to_stream: str
    type_id: int
    from_other: bool = False

    def link(self, stream: str, external_id: str, other: str) -> Link:
        """The association between this record and the object its column names."""
        if self.from_other:
            return Link(self.to_stream, other, stream, external_id, self.type_id)
        return Link(stream, external_id, self.to_stream, other, self.type_id)


Converter = Callable[[Any], str]


def as_text(value: Any) -> str:
    """Text as HubSpot stores it; null clears the property."""
    return "" if value is None else str(value)


def as_number(value: Any) -> str:
    """A decimal string without exponent (HubSpot number properties take strings)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"expected a number, got {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    text = format(number.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def as_bool(value: Any) -> str:
    """'true' or 'false', the option values of a HubSpot booleancheckbox."""
    if value is None:
        return ""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return "true" if value else "false"


def as_datetime(value: Any) -> str:
    """ISO 8601 in UTC with milliseconds, one of the two datetime forms HubSpot accepts."""
    if value is None or value == "":
        return ""
    try:
        moment = pendulum.parse(str(value))
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise ValueError(f"expected an ISO 8601 timestamp, got {value!r}") from exc
    if not isinstance(moment, pendulum.DateTime):
        raise ValueError(f"expected an ISO 8601 timestamp, got {value!r}")
    return moment.in_timezone("UTC").format("YYYY-MM-DDTHH:mm:ss.SSS[Z]")


def as_deal_stage(value: Any) -> str:
    """The default-pipeline stage for a canonical stage (open, won, lost)."""
    if value not in DEAL_STAGES:
        raise ValueError(f"expected one of {', '.join(DEAL_STAGES)}, got {value!r}")
    return DEAL_STAGES[value]


@dataclass(frozen=True)
class PropertyDefinition:
    """A custom HubSpot property the destination creates before writing to it."""

    name: str
    label: str
    type: str
    field_type: str
    unique: bool = False

    def create_body(self, group_name: str) -> dict[str, Any]:
        """Body of `POST {prefix}/properties/{object}` (name, label, type, fieldType, groupName required)."""
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": group_name,
            "description": "Written by store2crm.",
        }
        if self.unique:
            body["hasUniqueValue"] = True
        if self.type == "bool":
            body["options"] = [
                {"label": "Yes", "value": "true", "displayOrder": 0},
                {"label": "No", "value": "false", "displayOrder": 1},
            ]
        return body


def text_property(name: str, label: str, *, unique: bool = False) -> PropertyDefinition:
    """A single-line text property."""
    return PropertyDefinition(name, label, "string", "text", unique)


def number_property(name: str, label: str) -> PropertyDefinition:
    """A number property."""
    return PropertyDefinition(name, label, "number", "number")


def datetime_property(name: str, label: str) -> PropertyDefinition:
    """A date-and-time property."""
    return PropertyDefinition(name, label, "datetime", "date")


def bool_property(name: str, label: str) -> PropertyDefinition:
    """A yes/no checkbox property."""
    return PropertyDefinition(name, label, "bool", "booleancheckbox")


@dataclass(frozen=True)
class ObjectMapping:
    """How one crm_* stream becomes one HubSpot object type."""

    stream: str
    object_type: str
    group_name: str
    id_property: str
    id_column: str
    columns: Mapping[str, tuple[str, Converter]]
    constants: Mapping[str, str] = field(default_factory=dict)
    custom_properties: tuple[PropertyDefinition, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    owned: frozenset[str] = frozenset()  # properties the CRM owns: never written, left out of the hash

    def map(self, record: Mapping[str, Any]) -> ObjectWrite:
        """Map one record; RecordRejected names the record and the field at fault."""
        external_id = as_text(record.get("external_id")).strip()
        if not external_id:
            raise RecordRejected(f"{self.stream} record has no external_id")
        id_value = as_text(record.get(self.id_column)).strip()
        if not id_value:
            raise RecordRejected(
                f"{self.stream} record {external_id}: {self.id_column} is empty, "
                f"and HubSpot upserts {self.object_type} by {self.id_property}"
            )
        properties = {k: v for k, v in self.constants.items() if k not in self.owned}
        for column, (prop, convert) in self.columns.items():
            if prop in self.owned:
                continue
            try:
                properties[prop] = convert(record.get(column))
            except ValueError as exc:
                raise RecordRejected(f"{self.stream} record {external_id}: field {column}: {exc}") from exc
        properties[self.id_property] = id_value
        links = tuple(
            spec.link(self.stream, external_id, other)
            for spec in self.links
            if (other := as_text(record.get(spec.column)).strip())
        )
        return ObjectWrite(
            stream=self.stream,
            external_id=external_id,
            id_value=id_value,
            properties=properties,
            content_hash=content_hash(id_value, properties),
            links=links,
        )


CONTACTS = ObjectMapping(
    stream="crm_contacts",
    object_type="contacts",
    group_name="contactinformation",
    id_property="email",
    id_column="email",
    columns={
        "first_name": ("firstname", as_text),
        "last_name": ("lastname", as_text),
        "phone": ("phone", as_text),
        "city": ("city", as_text),
        "country": ("country", as_text),
        "external_id": (EXTERNAL_ID_PROPERTY, as_text),
        "accepts_marketing": ("store2crm_accepts_marketing", as_bool),
        "is_registered": ("store2crm_is_registered", as_bool),
        "count_orders": ("store2crm_count_orders", as_number),
        "total_revenue": ("store2crm_total_revenue", as_number),
        "first_order_at": ("store2crm_first_order_at", as_datetime),
        "last_order_at": ("store2crm_last_order_at", as_datetime),
        "segments": ("store2crm_segments", as_text),
        "company_external_id": ("store2crm_company_external_id", as_text),
    },
    custom_properties=(
        # Not unique: contacts are keyed on email, and HubSpot merges contacts sharing one.
        text_property(EXTERNAL_ID_PROPERTY, "store2crm external id"),
        bool_property("store2crm_accepts_marketing", "Accepts marketing (store)"),
        bool_property("store2crm_is_registered", "Registered store account"),
        number_property("store2crm_count_orders", "Store orders"),
        number_property("store2crm_total_revenue", "Store revenue (net of refunds)"),
        datetime_property("store2crm_first_order_at", "First store order"),
        datetime_property("store2crm_last_order_at", "Last store order"),
        PropertyDefinition("store2crm_segments", "Store segments", "string", "textarea"),
        text_property("store2crm_company_external_id", "Store company external id"),
    ),
    links=(LinkSpec("company_external_id", "crm_companies", CONTACT_TO_COMPANY),),
)

COMPANIES = ObjectMapping(
    stream="crm_companies",
    object_type="companies",
    group_name="companyinformation",
    id_property=EXTERNAL_ID_PROPERTY,
    id_column="external_id",
    columns={
        "name": ("name", as_text),
        "domain": ("domain", as_text),
        "parent_external_id": ("store2crm_parent_external_id", as_text),
        "price_tier": ("store2crm_price_tier", as_text),
        "credit_limit": ("store2crm_credit_limit", as_number),
        "credit_used": ("store2crm_credit_used", as_number),
        "payment_terms": ("store2crm_payment_terms", as_text),
        "count_orders": ("store2crm_count_orders", as_number),
        "total_revenue": ("store2crm_total_revenue", as_number),
    },
    custom_properties=(
        text_property(EXTERNAL_ID_PROPERTY, "store2crm external id", unique=True),
        text_property("store2crm_parent_external_id", "Parent company external id"),
        text_property("store2crm_price_tier", "Price tier"),
        number_property("store2crm_credit_limit", "Credit limit"),
        number_property("store2crm_credit_used", "Credit used"),
        text_property("store2crm_payment_terms", "Payment terms"),
        number_property("store2crm_count_orders", "Store orders"),
        number_property("store2crm_total_revenue", "Store revenue (net of refunds)"),
    ),
    links=(LinkSpec("parent_external_id", "crm_companies", PARENT_TO_CHILD_COMPANY, from_other=True),),
)

DEALS = ObjectMapping(
    stream="crm_deals",
    object_type="deals",
    group_name="dealinformation",
    id_property=EXTERNAL_ID_PROPERTY,
    id_column="external_id",
    columns={
        "deal_name": ("dealname", as_text),
        "amount": ("amount", as_number),
        "stage": ("dealstage", as_deal_stage),
        "created_at": ("createdate", as_datetime),
        "closed_at": ("closedate", as_datetime),
        # deal_currency_code only takes currencies enabled in the portal, so the currency goes in text.
        "currency": ("store2crm_currency", as_text),
        "order_status": ("store2crm_order_status", as_text),
        "contact_external_id": ("store2crm_contact_external_id", as_text),
        "company_external_id": ("store2crm_company_external_id", as_text),
    },
    constants={"pipeline": DEFAULT_PIPELINE},
    custom_properties=(
        text_property(EXTERNAL_ID_PROPERTY, "store2crm external id", unique=True),
        text_property("store2crm_currency", "Order currency"),
        text_property("store2crm_order_status", "Order status"),
        text_property("store2crm_contact_external_id", "Contact external id"),
        text_property("store2crm_company_external_id", "Company external id"),
    ),
    links=(
        LinkSpec("contact_external_id", "crm_contacts", DEAL_TO_CONTACT),
        LinkSpec("company_external_id", "crm_companies", DEAL_TO_COMPANY),
    ),
)

DEFAULT_MAPPINGS: dict[str, ObjectMapping] = {m.stream: m for m in (COMPANIES, CONTACTS, DEALS)}
