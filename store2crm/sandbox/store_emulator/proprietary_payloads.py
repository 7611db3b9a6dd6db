"""Canonical sandbox records as the made-up "Acme Commerce" API v2 sends them.

Acme is a proprietary store platform of the kind custom REST exists for: records nest their
fields in groups (`profile`, `contact`, `money`, `timestamps`), amounts are integer cents, dates
use the platform's own `DD.MM.YYYY HH:MM:SS` (UTC) format and ids are integers called `uid`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ACME_DATE_FORMAT = "%d.%m.%Y %H:%M:%S"  # every Acme date, in payloads and in the updated_since/before filters


def acme_date(value: str | None) -> str | None:
    """A canonical ISO 8601 UTC timestamp in Acme's date format."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).strftime(ACME_DATE_FORMAT)


def cents(amount: float | None) -> int | None:
    """A canonical decimal amount as integer cents."""
    return None if amount is None else round(amount * 100)


def uid(record_id: str | None) -> int | None:
    """A canonical string id as Acme's integer uid."""
    return None if record_id is None else int(record_id)


def _timestamps(record: dict[str, Any], *extra: str) -> dict[str, str | None]:
    stamps = {"created": acme_date(record.get("created_at")), "modified": acme_date(record.get("updated_at"))}
    stamps.update({name.removesuffix("_at"): acme_date(record.get(name)) for name in extra})
    return stamps


def _line(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "line_uid": uid(item["id"]),
        "item": {"uid": uid(item["product_id"]), "sku": item["sku"], "name": item["title"], "group": item["category"]},
        "qty": item["quantity"],
        "unit_price_cents": cents(item["price"]),
        "line_total_cents": cents(item["total"]),
    }


def customer_payload(customer: dict[str, Any]) -> dict[str, Any]:
    """An Acme customer."""
    return {
        "uid": uid(customer["id"]),
        "profile": {
            "first_name": customer["first_name"],
            "last_name": customer["last_name"],
            "birthday": customer["birthdate"],
        },
        "contact": {"email": customer["email"], "phone": customer["phone"]},
        "consent": {"newsletter": customer["accepts_marketing"]},
        "account": {"kind": customer["account_state"], "labels": list(customer["tags"])},
        "business": {"account_uid": uid(customer["company_id"])},
        "addresses": {"default": customer["default_address"], "all": customer["addresses"]},
        "timestamps": _timestamps(customer),
    }


def order_payload(order: dict[str, Any]) -> dict[str, Any]:
    """An Acme sales order; refunds travel inside it."""
    return {
        "uid": uid(order["id"]),
        "number": order["order_number"],
        "buyer": {"customer_uid": uid(order["customer_id"]), "email": order["email"], "phone": order["phone"]},
        "addresses": {"billing": order["billing_address"], "shipping": order["shipping_address"]},
        "money": {
            "currency": order["currency"],
            "subtotal_cents": cents(order["subtotal"]),
            "discount_cents": cents(order["discount_total"]),
            "shipping_cents": cents(order["shipping_total"]),
            "tax_cents": cents(order["tax_total"]),
            "total_cents": cents(order["total"]),
        },
        "lines": [_line(item) for item in order["line_items"]],
        "refunds": [
            {
                "uid": uid(refund["id"]),
                "amount_cents": cents(refund["amount"]),
                "note": refund["reason"],
                "created": acme_date(refund["created_at"]),
            }
            for refund in order["refunds"]
        ],
        "state": {"payment": order["financial_status"], "delivery": order["fulfillment_status"]},
        "b2b": {
            "account_uid": uid(order["company_id"]),
            "po_number": order["purchase_order_number"],
            "approval": order["approval_status"],
        },
        "timestamps": _timestamps(order, "cancelled_at"),
    }


def cart_payload(checkout: dict[str, Any]) -> dict[str, Any]:
    """An Acme cart left before payment (a canonical abandoned checkout)."""
    return {
        "uid": uid(checkout["id"]),
        "customer_uid": uid(checkout["customer_id"]),
        "contact": {"email": checkout["email"], "phone": checkout["phone"]},
        "money": {"currency": checkout["currency"], "total_cents": cents(checkout["total"])},
        "lines": [_line(item) for item in checkout["line_items"]],
        "timestamps": _timestamps(checkout, "completed_at"),
    }


def activity_payload(event: dict[str, Any]) -> dict[str, Any]:
    """An Acme activity entry (a canonical behaviour event); immutable, dated when it happened."""
    return {
        "uid": uid(event["id"]),
        "kind": event["type"],
        "visitor": {
            "anonymous_id": event["anonymous_id"],
            "session": event["session_id"],
            "customer_uid": uid(event["customer_id"]),
            "email": event["email"],
        },
        "context": {"url": event["url"], "item_uid": uid(event["product_id"]), "group": event["category"]},
        "value_cents": cents(event["value"]),
        "occurred": acme_date(event["occurred_at"]),
    }


def item_payload(product: dict[str, Any]) -> dict[str, Any]:
    """An Acme catalog item."""
    return {
        "uid": uid(product["id"]),
        "name": product["title"],
        "sku": product["sku"],
        "group": {"name": product["category"]},
        "pricing": {"currency": "USD", "amount_cents": cents(product["price"])},
        "visibility": product["status"],
        "timestamps": _timestamps(product),
    }


def business_account_payload(company: dict[str, Any]) -> dict[str, Any]:
    """An Acme business account (a canonical company)."""
    return {
        "uid": uid(company["id"]),
        "legal_name": company["name"],
        "web": {"domain": company["domain"]},
        "parent_uid": uid(company["parent_id"]),
        "terms": {"price_list": company["price_tier"], "payment": company["payment_terms"]},
        "credit": {"limit_cents": cents(company["credit_limit"]), "used_cents": cents(company["credit_used"])},
        "timestamps": _timestamps(company),
    }


def member_payload(contact: dict[str, Any]) -> dict[str, Any]:
    """An Acme business account member (a canonical company contact)."""
    return {
        "uid": uid(contact["id"]),
        "account_uid": uid(contact["company_id"]),
        "customer_uid": uid(contact["customer_id"]),
        "permission": contact["role"],
        "timestamps": _timestamps(contact),
    }
