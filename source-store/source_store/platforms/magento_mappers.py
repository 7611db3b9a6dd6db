"""Magento 2 / Adobe Commerce REST payloads → canonical records; what has no canonical home lands in `extra`.

Payloads are the `/V1/...` data interfaces (OrderInterface, CustomerInterface, ProductInterface,
CartInterface, Adobe Commerce B2B CompanyInterface). Magento writes UTC times as
`YYYY-MM-DD HH:MM:SS`. Related records fetched beside a page (credit memos, cart totals,
company credit, category names) reach the mappers under the `_related` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from source_store.native import NativeRecord, UnmappableRecordError, to_date, to_int, to_money, to_text, to_timestamp

RELATED = "_related"
# Magento order state → (financial_status, fulfillment_status)
ORDER_STATES: dict[str, tuple[str | None, str | None]] = {
    "new": ("pending", "unfulfilled"),
    "pending_payment": ("pending", "unfulfilled"),
    "payment_review": ("pending", "unfulfilled"),
    "processing": ("paid", "unfulfilled"),
    "holded": ("authorized", "unfulfilled"),
    "complete": ("paid", "fulfilled"),
    "closed": ("refunded", None),
    "canceled": ("voided", "unfulfilled"),
}
CANCELED_STATUS = "canceled"
APPROVAL_HOLD_WORD = "approval"  # B2B purchase-order approval puts the order on hold with this comment
# Default Adobe Commerce B2B job titles of company users → canonical roles
ROLE_TITLES = {"company administrator": "admin", "approver": "approver", "buyer": "buyer"}
ADDRESS_FIELDS = (
    "firstname",
    "lastname",
    "company",
    "street",
    "city",
    "region",
    "region_code",
    "postcode",
    "country_id",
    "telephone",
    "email",
)


def _record_id(record: NativeRecord, key: str) -> str:
    value = record.take(key)
    if value in (None, "", 0):
        raise UnmappableRecordError(f"field {key} is missing (fields present: {sorted(record.raw)})")
    return str(value)


def address(raw: Any) -> dict[str, Any] | None:
    """An order or customer address → canonical address; other native fields kept beside."""
    if not isinstance(raw, Mapping):
        return None
    street = [line for line in raw.get("street") or [] if line]
    region = raw.get("region")
    region_code = (region.get("region_code") if isinstance(region, Mapping) else raw.get("region_code")) or None
    canonical = {
        "first_name": to_text(raw.get("firstname")),
        "last_name": to_text(raw.get("lastname")),
        "company": to_text(raw.get("company")),
        "address1": to_text(street[0]) if street else None,
        "address2": to_text(", ".join(street[1:])) if len(street) > 1 else None,
        "city": to_text(raw.get("city")),
        "province": to_text(region_code) or (to_text(region) if not isinstance(region, Mapping) else None),
        "postcode": to_text(raw.get("postcode")),
        "country": to_text(raw.get("country_id")),
        "phone": to_text(raw.get("telephone")),
    }
    if raw.get("email"):
        canonical["email"] = to_text(raw.get("email"))
    canonical.update({k: v for k, v in raw.items() if k not in ADDRESS_FIELDS and v not in (None, "", [])})
    return canonical if any(canonical.get(k) for k in ("address1", "city", "country", "phone", "last_name")) else None


def _custom_attributes(raw: Any) -> dict[str, Any]:
    return {a.get("attribute_code"): a.get("value") for a in raw or [] if isinstance(a, Mapping)}


def map_customer(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/V1/customers/search` item → canonical customer (Magento lists only accounts)."""
    record = NativeRecord(raw)
    addresses = [item for item in record.take("addresses") or [] if isinstance(item, Mapping)]
    default_id = str(raw.get("default_billing") or "")
    default = next((a for a in addresses if str(a.get("id")) == default_id), addresses[0] if addresses else None)
    extension = dict(record.take("extension_attributes") or {})
    subscribed = extension.pop("is_subscribed", None)
    company = extension.pop("company_attributes", None) or {}
    attributes = _custom_attributes(record.take("custom_attributes"))
    tags = attributes.pop("customer_tags", None)
    return {
        "id": _record_id(record, "id"),
        "email": record.text("email"),
        "phone": to_text((default or {}).get("telephone")),
        "first_name": record.text("firstname"),
        "last_name": record.text("lastname"),
        "account_state": "registered",
        "accepts_marketing": subscribed if isinstance(subscribed, bool) else None,
        "tags": [tag.strip() for tag in str(tags).split(",") if tag.strip()] if tags else [],
        "company_id": str(company["company_id"]) if company.get("company_id") else None,
        "birthdate": record.converted("dob", to_date),
        "default_address": address(default),
        "addresses": [a for a in (address(item) for item in addresses) if a],
        "created_at": record.timestamp("created_at"),
        "updated_at": record.timestamp("updated_at"),
        "extra": record.extra(
            extension_attributes=extension or None,
            custom_attributes=[{"attribute_code": k, "value": v} for k, v in attributes.items()] or None,
            company_attributes=company or None,
        ),
    }


def map_company_contact(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A B2B customer (one with `company_attributes`) → canonical company contact, keyed by customer id.

    Adobe Commerce links a customer to at most one company, so the customer id identifies the link.
    """
    record = NativeRecord(
        {"id": raw.get("id"), "created_at": raw.get("created_at"), "updated_at": raw.get("updated_at")}
    )
    company = ((raw.get("extension_attributes") or {}).get("company_attributes")) or {}
    title = to_text(company.get("job_title"))
    role = ROLE_TITLES.get(title.lower()) if title else None
    related = raw.get(RELATED) or {}
    if related.get("super_user"):
        role = "admin"
    customer_id = _record_id(record, "id")
    return {
        "id": customer_id,
        "company_id": str(company["company_id"]) if company.get("company_id") else None,
        "customer_id": customer_id,
        "role": role,
        "created_at": record.timestamp("created_at"),
        "updated_at": record.timestamp("updated_at"),
        "extra": {"job_title": title, "status": company.get("status"), "telephone": company.get("telephone")},
    }


def _cancelled_at(histories: list[Mapping[str, Any]], state: Any, updated_at: str | None) -> str | None:
    stamps = [to_timestamp(h.get("created_at")) for h in histories if h.get("status") == CANCELED_STATUS]
    stamps = [stamp for stamp in stamps if stamp]
    if stamps:
        return min(stamps)
    return updated_at if state == CANCELED_STATUS else None  # no comment kept: the last change is the best clue


def _line_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = NativeRecord(raw)
    product = record.take("product_id")
    return {
        "id": to_text(record.take("item_id")),
        "product_id": to_text(product),
        "sku": record.text("sku"),
        "title": record.text("name"),
        "category": None,
        "quantity": to_int(record.take("qty_ordered") if "qty_ordered" in raw else record.take("qty")),
        "price": record.money("price"),
        "total": record.money("row_total") if "row_total" in raw else _row_total(raw),
        "extra": record.extra(),
    }


def _row_total(raw: Mapping[str, Any]) -> float | None:
    """A cart item carries no row total: price x qty (before discounts, as the canonical line total)."""
    price, quantity = to_money(raw.get("price")), to_int(raw.get("qty"))
    return round(price * quantity, 2) if price is not None and quantity is not None else None


def _refund(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = NativeRecord(raw)
    return {
        "id": to_text(record.take("entity_id")),
        "amount": record.money("grand_total"),
        "reason": record.text("customer_note"),
        "created_at": record.timestamp("created_at"),
        "extra": record.extra(),
    }


def map_order(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/V1/orders` item (credit memos under `_related.refunds`) → canonical order."""
    record = NativeRecord(raw)
    related = record.take(RELATED) or {}
    billing = address(record.take("billing_address"))
    extension = dict(record.take("extension_attributes") or {})
    assignments = extension.pop("shipping_assignments", None) or []
    shipping = address(((assignments[0] or {}).get("shipping") or {}).get("address")) if assignments else None
    company = extension.pop("company_order_attributes", None) or {}
    payment = record.take("payment") or {}
    histories = [h for h in record.take("status_histories") or [] if isinstance(h, Mapping)]
    state = record.take("state")
    financial, fulfillment = ORDER_STATES.get(state, (None, None))
    refunds = [_refund(memo) for memo in related.get("refunds") or []]
    refunded = to_money(raw.get("total_refunded")) or sum(r["amount"] or 0 for r in refunds)
    if financial == "paid" and refunded:
        financial = "partially_refunded"
    updated_at = record.timestamp("updated_at")
    on_approval_hold = any(
        h.get("status") == "holded" and APPROVAL_HOLD_WORD in str(h.get("comment") or "").lower() for h in histories
    )
    discount = record.money("discount_amount")
    is_guest = record.take("customer_is_guest")
    return {
        "id": _record_id(record, "entity_id"),
        "order_number": record.text("increment_id"),
        "customer_id": None if is_guest else to_text(record.take("customer_id")),
        "email": record.text("customer_email"),
        "phone": (billing or {}).get("phone"),
        "billing_address": billing,
        "shipping_address": shipping,
        "currency": record.text("order_currency_code"),
        "subtotal": record.money("subtotal"),
        "discount_total": abs(discount) if discount is not None else None,
        "shipping_total": record.money("shipping_amount"),
        "tax_total": record.money("tax_amount"),
        "total": record.money("grand_total"),
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "cancelled_at": _cancelled_at(histories, state, updated_at),
        "deleted_at": None,  # Magento's REST API has no deleted-orders feed
        "line_items": [
            _line_item(i) for i in record.take("items") or [] if isinstance(i, Mapping) and not i.get("parent_item_id")
        ],
        "refunds": refunds,
        "company_id": str(company["company_id"]) if company.get("company_id") else None,
        "purchase_order_number": to_text(payment.get("po_number")),
        "approval_status": "pending" if on_approval_hold else None,
        "created_at": record.timestamp("created_at"),
        "updated_at": updated_at,
        "extra": record.extra(
            state=state,
            status_histories=histories or None,
            payment_method=payment.get("method"),
            extension_attributes=extension or None,
        ),
    }


def map_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/V1/products` item (category names under `_related.categories`) → canonical product."""
    record = NativeRecord(raw)
    related = record.take(RELATED) or {}
    status = record.take("status")
    return {
        "id": _record_id(record, "id"),
        "title": record.text("name"),
        "sku": record.text("sku"),
        "category": (related.get("categories") or [None])[0],
        "price": record.money("price"),
        # Magento\Catalog\Model\Product\Attribute\Source\Status: 1 enabled, 2 disabled
        "status": {1: "active", 2: "disabled"}.get(to_int(status) or 0),
        "created_at": record.timestamp("created_at"),
        "updated_at": record.timestamp("updated_at"),
        "extra": record.extra(),
    }


def map_abandoned_checkout(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/V1/carts/search` quote (its totals under `_related.totals`) → canonical abandoned checkout."""
    record = NativeRecord(raw)
    totals = (record.take(RELATED) or {}).get("totals") or {}
    customer = record.take("customer") or {}
    billing = record.take("billing_address") or {}
    currency = record.take("currency") or {}
    return {
        "id": _record_id(record, "id"),
        "email": to_text(customer.get("email")) or to_text(billing.get("email")),
        "phone": to_text(billing.get("telephone")),
        "customer_id": to_text(customer.get("id")),
        "currency": to_text(currency.get("quote_currency_code")),
        "total": to_money(totals.get("grand_total")),
        "line_items": [_line_item(i) for i in record.take("items") or [] if isinstance(i, Mapping)],
        "created_at": record.timestamp("created_at"),
        "updated_at": record.timestamp("updated_at"),
        "completed_at": record.timestamp("converted_at"),
        "extra": record.extra(),
    }


def map_company(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A `/V1/company` item (its credit under `_related.credit`) → canonical company.

    Magento's company has no timestamps, hierarchy link, named price tier or payment terms in REST;
    the customer group (Magento's shared-catalog price list) stays in `extra`.
    """
    record = NativeRecord(raw)
    credit = (record.take(RELATED) or {}).get("credit") or {}
    email = record.text("company_email")
    balance = to_money(credit.get("balance"))
    return {
        "id": _record_id(record, "id"),
        "name": record.text("company_name"),
        "domain": email.rsplit("@", 1)[-1].lower() if email and "@" in email else None,
        "parent_id": None,
        "price_tier": None,
        "credit_limit": to_money(credit.get("credit_limit")),
        "credit_used": -balance if balance is not None else None,
        "payment_terms": None,
        "created_at": None,
        "updated_at": None,
        "extra": record.extra(company_email=email, credit_currency=credit.get("currency_code")),
    }
