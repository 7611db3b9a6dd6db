"""WooCommerce payloads → canonical records; whatever has no canonical home lands in `extra`.

Core payloads follow the WooCommerce REST API v3 documentation. The companion plugin
(`/wp-json/store2crm/v1/...`) uses WooCommerce conventions: integer ids, `date_*_gmt`
timestamps without offset, money as decimal strings, `meta_data` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from source_store.changes import nulled
from source_store.native import NativeRecord, UnmappableRecordError, to_int, to_money, to_text, to_timestamp

# WooCommerce order status → (financial_status, fulfillment_status); WooCommerce keeps one status.
ORDER_STATUSES: dict[str, tuple[str | None, str | None]] = {
    "pending": ("pending", "unfulfilled"),
    "checkout-draft": ("pending", "unfulfilled"),
    # On hold: payment promised (e.g. authorised, not captured), stock already reserved.
    "on-hold": ("authorized", "unfulfilled"),
    "processing": ("paid", "unfulfilled"),
    "completed": ("paid", "fulfilled"),
    "cancelled": ("voided", "unfulfilled"),
    "refunded": ("refunded", None),
    "failed": ("failed", "unfulfilled"),
}
TRASH_STATUS = "trash"  # WooCommerce REST docs: order status enum includes `trash`
TRASH_META_STATUS = "_wp_trash_meta_status"  # wp_trash_post() saves the pre-trash status here
ADDRESS_FIELDS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "company": "company",
    "address_1": "address1",
    "address_2": "address2",
    "city": "city",
    "state": "province",
    "postcode": "postcode",
    "country": "country",
    "phone": "phone",
    "email": "email",
}
APPROVAL_STATUSES = frozenset({"pending", "approved", "rejected"})
CONTACT_ROLES = frozenset({"buyer", "approver", "admin"})
EVENT_TYPES = frozenset(
    {
        "page_view",
        "product_view",
        "add_to_cart",
        "checkout_started",
        "search",
        "login",
        "email_open",
        "email_click",
        "sms_reply",
        "ticket_opened",
    }
)


MalformedRecordError = UnmappableRecordError  # the name this module's callers know


class Payload(NativeRecord):
    """A WooCommerce record read field by field (see `NativeRecord`), plus its `meta_data` entries.

    WooCommerce writes 0 for "no reference", keeps plugin fields in `meta_data` (a list of
    `{key, value}`), and the entries read are dropped from the `meta_data` left in `extra`.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        super().__init__(raw)
        self._meta = {entry.get("key"): entry for entry in raw.get("meta_data") or [] if isinstance(entry, Mapping)}
        self._meta_read: set[str] = set()

    def record_id(self) -> str:
        """The record's own id as a string; a record without one cannot be keyed."""
        value = _ref(self.take("id"))
        if value is None:
            raise UnmappableRecordError(f"field id is missing or 0 (fields present: {sorted(self.raw)})")
        return value

    def ref(self, key: str) -> str | None:
        """An id pointing at another record; WooCommerce writes 0 for "none"."""
        return _ref(self.take(key))

    def choice(self, key: str, allowed: frozenset[str]) -> str | None:
        """A value from a closed set; anything else stays in `extra`."""
        return self.converted(key, _one_of(allowed))

    def meta(self, key: str, convert: Callable[[Any], Any]) -> Any:
        """The converted value of one `meta_data` entry; unconvertible entries stay in `extra`."""
        entry = self._meta.get(key)
        if entry is None:
            return None
        value = entry.get("value")
        converted = None if value is None or value == "" else convert(value)
        if converted is not None or value is None or value == "":
            self._meta_read.add(key)
        else:
            self.changes.append(nulled(f"meta_data.{key}"))
        return converted

    def extra(self, **additions: Any) -> dict[str, Any]:
        """Every field not read, with `meta_data` reduced to its unread entries."""
        leftovers = super().extra(**additions)
        if "meta_data" in leftovers:
            unread = [
                entry
                for entry in leftovers.pop("meta_data") or []
                if not (isinstance(entry, Mapping) and entry.get("key") in self._meta_read)
            ]
            if unread:
                leftovers["meta_data"] = unread
        return leftovers


def map_customer(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/wc/v3/customers` item → canonical customer (every listed customer has an account)."""
    payload = Payload(raw)
    billing = _address(payload.take("billing"))
    shipping = _address(payload.take("shipping"))
    tags = payload.meta("customer_tags", to_text)
    return {
        "id": payload.record_id(),
        "email": payload.text("email"),
        "phone": (billing or {}).get("phone"),
        "first_name": payload.text("first_name"),
        "last_name": payload.text("last_name"),
        "account_state": "registered",
        "accepts_marketing": payload.meta("accepts_marketing", _yes_no),
        "tags": [tag.strip() for tag in tags.split(",") if tag.strip()] if tags else [],
        "company_id": payload.meta("b2b_company_id", _ref),
        "birthdate": payload.meta("birthdate", _date),
        "default_address": billing,
        "addresses": [address for address in (billing, shipping) if address],
        "created_at": payload.timestamp("date_created_gmt"),
        "updated_at": payload.timestamp("date_modified_gmt"),
        "extra": payload.extra(),
    }


def map_order(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/wc/v3/orders` item → canonical order; the native `status` stays in `extra`."""
    payload = Payload(raw)
    billing = _address(payload.take("billing"))
    line_items = [_line_item(item) for item in payload.take("line_items") or []]
    refunds = [_refund(refund) for refund in payload.take("refunds") or []]
    updated_at = payload.timestamp("date_modified_gmt")
    total = payload.money("total")
    status = payload.raw.get("status")
    trashed = status == TRASH_STATUS
    if trashed:  # WordPress keeps the status an order had before it was trashed
        status = payload.meta(TRASH_META_STATUS, to_text) or status
    financial, fulfillment = ORDER_STATUSES.get(status, (None, None))
    refunded = sum(refund["amount"] or 0 for refund in refunds)
    if financial == "paid" and refunded > 0:
        financial = "partially_refunded"
    return {
        "id": payload.record_id(),
        "order_number": payload.text("number"),
        "customer_id": payload.ref("customer_id"),
        "email": (billing or {}).get("email"),
        "phone": (billing or {}).get("phone"),
        "billing_address": billing,
        "shipping_address": _address(payload.take("shipping")),
        "currency": payload.text("currency"),
        "subtotal": _sum(item["extra"].get("subtotal") for item in line_items),
        "discount_total": payload.money("discount_total"),
        "shipping_total": payload.money("shipping_total"),
        "tax_total": payload.money("total_tax"),
        "total": total,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        # WooCommerce stores no cancellation time; the last modification is the closest record of it.
        "cancelled_at": updated_at if status == "cancelled" else None,
        # Trashing an order is its last modification; WooCommerce keeps the time in meta as well.
        "deleted_at": updated_at if trashed else None,
        "line_items": line_items,
        "refunds": refunds,
        "company_id": payload.meta("_b2b_company_id", _ref),
        "purchase_order_number": payload.meta("_purchase_order_number", to_text),
        "approval_status": payload.meta("_approval_status", _one_of(APPROVAL_STATUSES)),
        "created_at": payload.timestamp("date_created_gmt"),
        "updated_at": updated_at,
        "extra": payload.extra(),
    }


def map_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/wc/v3/products` item → canonical product; `category` is the first category's name."""
    payload = Payload(raw)
    categories = payload.raw.get("categories") or []
    first_category = categories[0] if categories and isinstance(categories[0], Mapping) else {}
    return {
        "id": payload.record_id(),
        "title": payload.text("name"),
        "sku": payload.text("sku"),
        "category": to_text(first_category.get("name")),
        "price": payload.money("price"),
        "status": payload.text("status"),
        "created_at": payload.timestamp("date_created_gmt"),
        "updated_at": payload.timestamp("date_modified_gmt"),
        "extra": payload.extra(),
    }


def map_abandoned_checkout(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A companion-plugin abandoned checkout → canonical abandoned checkout."""
    payload = Payload(raw)
    billing = _address(payload.take("billing")) or {}
    return {
        "id": payload.record_id(),
        "email": payload.text("email") or billing.get("email"),
        "phone": payload.text("phone") or billing.get("phone"),
        "customer_id": payload.ref("customer_id"),
        "currency": payload.text("currency"),
        "total": payload.money("total"),
        "line_items": [_line_item(item) for item in payload.take("line_items") or []],
        "created_at": payload.timestamp("date_created_gmt"),
        "updated_at": payload.timestamp("date_modified_gmt"),
        "completed_at": payload.timestamp("date_completed_gmt"),
        "extra": payload.extra(),
    }


def map_event(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A companion-plugin event → canonical event; events are immutable, created = occurred."""
    payload = Payload(raw)
    occurred_at = payload.timestamp("date_created_gmt")
    if to_timestamp(payload.raw.get("date_modified_gmt")) == occurred_at:
        payload.take("date_modified_gmt")
    return {
        "id": payload.record_id(),
        "type": payload.choice("type", EVENT_TYPES),
        "anonymous_id": payload.text("anonymous_id"),
        "customer_id": payload.ref("customer_id"),
        "email": payload.text("email"),
        "session_id": payload.text("session_id"),
        "url": payload.text("url"),
        "product_id": payload.ref("product_id"),
        "category": payload.text("category"),
        "value": payload.money("value"),
        "occurred_at": occurred_at,
        "extra": payload.extra(),
    }


def map_company(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A companion-plugin company → canonical company; `parent_id` 0 means a top-level company."""
    payload = Payload(raw)
    return {
        "id": payload.record_id(),
        "name": payload.text("name"),
        "domain": payload.text("domain"),
        "parent_id": payload.ref("parent_id"),
        "price_tier": payload.text("price_tier"),
        "credit_limit": payload.money("credit_limit"),
        "credit_used": payload.money("credit_used"),
        "payment_terms": payload.text("payment_terms"),
        "created_at": payload.timestamp("date_created_gmt"),
        "updated_at": payload.timestamp("date_modified_gmt"),
        "extra": payload.extra(),
    }


def map_company_contact(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A companion-plugin company contact → canonical link between a company and a customer."""
    payload = Payload(raw)
    return {
        "id": payload.record_id(),
        "company_id": payload.ref("company_id"),
        "customer_id": payload.ref("customer_id"),
        "role": payload.choice("role", CONTACT_ROLES),
        "created_at": payload.timestamp("date_created_gmt"),
        "updated_at": payload.timestamp("date_modified_gmt"),
        "extra": payload.extra(),
    }


def _line_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    payload = Payload(raw)
    return {
        "id": payload.ref("id"),
        "product_id": payload.ref("product_id"),
        "sku": payload.text("sku"),
        "title": payload.text("name"),
        "category": payload.meta("category", to_text),  # companion-plugin line items carry it as meta
        "quantity": to_int(payload.take("quantity")),
        "price": payload.money("price"),
        "total": payload.money("total"),
        "extra": payload.extra(),
    }


def _refund(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An embedded refund (`total`, negative) or a `/orders/<id>/refunds` item (`amount`, dated).

    Canonical amounts are positive; only the refunds endpoint says when a refund happened.
    """
    payload = Payload(raw)
    amount = payload.money("amount") if "amount" in raw else payload.money("total")
    return {
        "id": payload.ref("id"),
        "amount": abs(amount) if amount is not None else None,
        "reason": payload.text("reason"),
        "created_at": payload.timestamp("date_created_gmt"),
        "extra": payload.extra(),
    }


def _address(raw: Any) -> dict[str, Any] | None:
    """A WooCommerce billing/shipping object → canonical address; all-empty becomes None."""
    if not isinstance(raw, Mapping):
        return None
    address: dict[str, Any] = {canonical: to_text(raw.get(native)) for native, canonical in ADDRESS_FIELDS.items()}
    address.update({key: value for key, value in raw.items() if key not in ADDRESS_FIELDS})
    return address if any(value is not None for value in address.values()) else None


def _ref(value: Any) -> str | None:
    if value in (None, "", 0, "0"):
        return None
    return str(value)


def _sum(values: Any) -> float | None:
    amounts = [to_money(value) for value in values]
    if any(amount is None for amount in amounts):
        return None
    return float(sum(Decimal(str(amount)) for amount in amounts))


def _yes_no(value: Any) -> bool | None:
    return {"yes": True, "no": False}.get(str(value).strip().lower()) if value is not None else None


def _date(value: Any) -> str | None:
    # Stricter than native.to_date (which drops a time part): a birthdate meta must be a bare date.
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        return None


def _one_of(allowed: frozenset[str]) -> Callable[[Any], str | None]:
    return lambda value: value if value in allowed else None
