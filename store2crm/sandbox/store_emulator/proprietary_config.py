"""The custom REST config that reads the proprietary (Acme Commerce) dialect into the canonical model, config only.

Every canonical field comes from a mapping rule: nested groups by dotted path, integer cents with
`cents`, Acme's `DD.MM.YYYY HH:MM:SS` dates with `date_format`, line items and refunds with
`each`. Six collections page with the body's `pagination.next_cursor`, the activity feed with the
`Link` header; all take `updated_since` (inclusive) and `updated_before` (exclusive) in Acme's
date format, so every stream is read in windows of `WINDOW` with a STATE after each.
"""

from __future__ import annotations

from typing import Any

from store2crm.sandbox.store_emulator.proprietary import API_PREFIX
from store2crm.sandbox.store_emulator.proprietary_payloads import ACME_DATE_FORMAT

BODY_CURSOR = {"type": "cursor", "next_path": "pagination.next_cursor", "param": "cursor", "size_param": "limit"}
LINK_HEADER = {"type": "link_header", "size_param": "limit"}
WINDOW = "P30D"  # one STATE per 30 days of changes: a killed read resumes from the last closed window
SINCE = {"param": "updated_since", "format": ACME_DATE_FORMAT, "end_param": "updated_before", "step": WINDOW}


def acme_date(path: str) -> dict[str, str]:
    """A rule reading an Acme date."""
    return {"path": path, "date_format": ACME_DATE_FORMAT}


def acme_cents(path: str) -> dict[str, Any]:
    """A rule reading Acme integer cents."""
    return {"path": path, "cents": True}


def timestamps(*extra: str) -> dict[str, Any]:
    """`created_at`, `updated_at` and the named extra `<name>_at` fields from Acme's `timestamps` group."""
    names = ("created_at", "updated_at", *extra)
    sources = {"created_at": "created", "updated_at": "modified"}
    return {name: acme_date(f"timestamps.{sources.get(name, name.removesuffix('_at'))}") for name in names}


LINE_ITEM = {
    "id": "line_uid",
    "product_id": "item.uid",
    "sku": "item.sku",
    "title": "item.name",
    "category": "item.group",
    "quantity": "qty",
    "price": acme_cents("unit_price_cents"),
    "total": acme_cents("line_total_cents"),
}
REFUND = {"id": "uid", "amount": acme_cents("amount_cents"), "reason": "note", "created_at": acme_date("created")}

FIELDS: dict[str, dict[str, Any]] = {
    "customers": {
        "id": "uid",
        "first_name": "profile.first_name",
        "last_name": "profile.last_name",
        "birthdate": "profile.birthday",
        "email": "contact.email",
        "phone": "contact.phone",
        "accepts_marketing": "consent.newsletter",
        "account_state": "account.kind",
        "tags": "account.labels",
        "company_id": "business.account_uid",
        "default_address": "addresses.default",
        "addresses": "addresses.all",
        **timestamps(),
    },
    "orders": {
        "id": "uid",
        "order_number": "number",
        "customer_id": "buyer.customer_uid",
        "email": "buyer.email",
        "phone": "buyer.phone",
        "billing_address": "addresses.billing",
        "shipping_address": "addresses.shipping",
        "currency": "money.currency",
        "subtotal": acme_cents("money.subtotal_cents"),
        "discount_total": acme_cents("money.discount_cents"),
        "shipping_total": acme_cents("money.shipping_cents"),
        "tax_total": acme_cents("money.tax_cents"),
        "total": acme_cents("money.total_cents"),
        "line_items": {"path": "lines", "each": LINE_ITEM},
        "refunds": {"path": "refunds", "each": REFUND},
        "financial_status": "state.payment",
        "fulfillment_status": "state.delivery",
        "company_id": "b2b.account_uid",
        "purchase_order_number": "b2b.po_number",
        "approval_status": "b2b.approval",
        **timestamps("cancelled_at"),
    },
    "abandoned_checkouts": {
        "id": "uid",
        "customer_id": "customer_uid",
        "email": "contact.email",
        "phone": "contact.phone",
        "currency": "money.currency",
        "total": acme_cents("money.total_cents"),
        "line_items": {"path": "lines", "each": LINE_ITEM},
        **timestamps("completed_at"),
    },
    "events": {
        "id": "uid",
        "type": "kind",
        "anonymous_id": "visitor.anonymous_id",
        "session_id": "visitor.session",
        "customer_id": "visitor.customer_uid",
        "email": "visitor.email",
        "url": "context.url",
        "product_id": "context.item_uid",
        "category": "context.group",
        "value": acme_cents("value_cents"),
        "occurred_at": acme_date("occurred"),
    },
    "products": {
        "id": "uid",
        "title": "name",
        "sku": "sku",
        "category": "group.name",
        "price": acme_cents("pricing.amount_cents"),
        "status": "visibility",
        **timestamps(),
    },
    "companies": {
        "id": "uid",
        "name": "legal_name",
        "domain": "web.domain",
        "parent_id": "parent_uid",
        "price_tier": "terms.price_list",
        "payment_terms": "terms.payment",
        "credit_limit": acme_cents("credit.limit_cents"),
        "credit_used": acme_cents("credit.used_cents"),
        **timestamps(),
    },
    "company_contacts": {
        "id": "uid",
        "company_id": "account_uid",
        "customer_id": "customer_uid",
        "role": "permission",
        **timestamps(),
    },
}
PATHS = {
    "customers": "customers",
    "orders": "sales/orders",
    "abandoned_checkouts": "carts/abandoned",
    "events": "activity",
    "products": "catalog/items",
    "companies": "business/accounts",
    "company_contacts": "business/members",
}


def stream_spec(stream: str, api_key: str) -> dict[str, Any]:
    """One stream's custom REST declaration (the activity feed takes a bearer token, the rest the key header)."""
    spec: dict[str, Any] = {
        "path": f"{API_PREFIX}/{PATHS[stream]}",
        "records_path": "data.items",
        "pagination": LINK_HEADER if stream == "events" else BODY_CURSOR,
        "cursor": SINCE,
        "fields": FIELDS[stream],
    }
    if stream == "events":
        spec["auth"] = {"type": "bearer", "token": api_key}
    return spec


def custom_rest_config(base_url: str, api_key: str, *, store_id: str = "acme", **overrides: Any) -> dict[str, Any]:
    """A complete source-store config reading every stream of an Acme store at `base_url` with `api_key`."""
    config: dict[str, Any] = {
        "platform": "custom_rest",
        "store_id": store_id,
        "start_date": "2015-01-01T00:00:00Z",
        "page_size": 100,
        "custom_rest": {
            "base_url": base_url,
            "auth": {"type": "api_key", "header": "X-Api-Key", "key": api_key},
            "streams": {stream: stream_spec(stream, api_key) for stream in FIELDS},
        },
    }
    return {**config, **overrides}
