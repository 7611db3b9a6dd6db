"""HubSpot's CRM schema as the emulator serves it: object types, default properties, association types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROPERTY_REQUIRED_FIELDS = ("name", "label", "type", "fieldType", "groupName")  # properties API guide
PROPERTY_TYPES = frozenset({"bool", "enumeration", "date", "datetime", "string", "number", "phone_number"})

# (name, label, type, fieldType): HubSpot's default properties of each object, the commonly written ones.
_CONTACT_PROPERTIES = (
    ("email", "Email", "string", "text"),
    ("firstname", "First Name", "string", "text"),
    ("lastname", "Last Name", "string", "text"),
    ("phone", "Phone Number", "string", "phonenumber"),
    ("mobilephone", "Mobile Phone Number", "string", "phonenumber"),
    ("company", "Company Name", "string", "text"),
    ("jobtitle", "Job Title", "string", "text"),
    ("website", "Website URL", "string", "text"),
    ("address", "Street Address", "string", "text"),
    ("city", "City", "string", "text"),
    ("state", "State/Region", "string", "text"),
    ("zip", "Postal Code", "string", "text"),
    ("country", "Country/Region", "string", "text"),
    ("date_of_birth", "Date of birth", "string", "text"),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
    ("hs_lead_status", "Lead Status", "enumeration", "radio"),
    ("hs_marketable_status", "Marketing contact status", "enumeration", "booleancheckbox"),
    ("hubspot_owner_id", "Contact owner", "enumeration", "select"),
)
_COMPANY_PROPERTIES = (
    ("name", "Company name", "string", "text"),
    ("domain", "Company Domain Name", "string", "text"),
    ("phone", "Phone Number", "string", "phonenumber"),
    ("address", "Street Address", "string", "text"),
    ("city", "City", "string", "text"),
    ("state", "State/Region", "string", "text"),
    ("zip", "Postal Code", "string", "text"),
    ("country", "Country/Region", "string", "text"),
    ("industry", "Industry", "enumeration", "select"),
    ("website", "Website URL", "string", "text"),
    ("description", "Description", "string", "textarea"),
    ("numberofemployees", "Number of Employees", "number", "number"),
    ("annualrevenue", "Annual Revenue", "number", "number"),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
    ("hubspot_owner_id", "Company owner", "enumeration", "select"),
)
_DEAL_PROPERTIES = (
    ("dealname", "Deal Name", "string", "text"),
    ("amount", "Amount", "number", "number"),
    ("dealstage", "Deal Stage", "enumeration", "radio"),
    ("pipeline", "Pipeline", "enumeration", "select"),
    ("closedate", "Close Date", "datetime", "date"),
    ("deal_currency_code", "Currency", "enumeration", "select"),
    ("dealtype", "Deal Type", "enumeration", "radio"),
    ("description", "Deal Description", "string", "textarea"),
    ("hubspot_owner_id", "Deal owner", "enumeration", "select"),
)


@dataclass(frozen=True)
class ObjectType:
    """A HubSpot CRM object: its names, system properties and the properties a read returns by default."""

    name: str
    type_id: str
    label: str
    group: str
    modified_property: str
    default_read: tuple[str, ...]
    properties: tuple[tuple[str, str, str, str], ...]
    email_keyed: bool = False

    @property
    def singular(self) -> str:
        """`CONTACT`, as HubSpot names the type in messages."""
        return self.label.upper()


OBJECT_TYPES = {
    "contacts": ObjectType(
        "contacts",
        "0-1",
        "Contact",
        "contactinformation",
        "lastmodifieddate",
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        _CONTACT_PROPERTIES,
        email_keyed=True,
    ),
    "companies": ObjectType(
        "companies",
        "0-2",
        "Company",
        "companyinformation",
        "hs_lastmodifieddate",
        ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        _COMPANY_PROPERTIES,
    ),
    "deals": ObjectType(
        "deals",
        "0-3",
        "Deal",
        "dealinformation",
        "hs_lastmodifieddate",
        (
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ),
        _DEAL_PROPERTIES,
    ),
}
# HubSpot accepts the plural, the singular and the type id in paths.
OBJECT_ALIASES = {
    alias: spec.name for spec in OBJECT_TYPES.values() for alias in (spec.name, spec.label.lower(), spec.type_id)
}
# api-facts.md default HUBSPOT_DEFINED association type ids per direction; the value is the label.
ASSOCIATION_TYPES: dict[tuple[str, str], dict[int, str | None]] = {
    ("contacts", "companies"): {279: None, 1: "Primary"},
    ("companies", "contacts"): {280: None, 2: "Primary"},
    ("companies", "companies"): {13: "Parent Company", 14: "Child Company"},
    ("deals", "companies"): {341: None, 5: "Primary"},
    ("companies", "deals"): {342: None, 6: "Primary"},
    ("deals", "contacts"): {3: None},
    ("contacts", "deals"): {4: None},
}


def property_definition(
    name: str, *, label: str, kind: str, field_type: str, group: str, created_at: str, **flags: Any
) -> dict[str, Any]:
    """A property as the properties API returns it."""
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "description": flags.get("description", ""),
        "groupName": group,
        "options": flags.get("options", []),
        "displayOrder": flags.get("displayOrder", -1),
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": bool(flags.get("hasUniqueValue", False)),
        "hidden": bool(flags.get("hidden", False)),
        "hubspotDefined": flags.get("hubspotDefined", False),
        "modificationMetadata": {
            "archivable": not flags.get("hubspotDefined", False),
            "readOnlyDefinition": flags.get("hubspotDefined", False),
            "readOnlyValue": flags.get("readOnlyValue", False),
        },
        "formField": bool(flags.get("formField", False)),
        "createdAt": created_at,
        "updatedAt": created_at,
        "archived": False,
    }


def default_schema(spec: ObjectType, created_at: str) -> dict[str, dict[str, Any]]:
    """The HubSpot-defined properties of an object type, by name; system ones are read-only values."""
    rows = [(*row, False) for row in spec.properties] + [
        ("createdate", "Create Date", "datetime", "date", False),
        (spec.modified_property, "Last Modified Date", "datetime", "date", True),
        ("hs_object_id", "Record ID", "number", "number", True),
    ]
    return {
        name: property_definition(
            name,
            label=label,
            kind=kind,
            field_type=ftype,
            group=spec.group,
            created_at=created_at,
            hubspotDefined=True,
            readOnlyValue=read_only,
        )
        for name, label, kind, ftype, read_only in rows
    }
