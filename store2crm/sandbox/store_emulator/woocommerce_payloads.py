"""Canonical sandbox records mapped to WooCommerce REST v3 (and companion-plugin) payloads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

WOOCOMMERCE_VERSION = "9.3.3"
CUSTOMER_ROLE = "customer"
TAX_RATE_PERCENT = "8.0000"  # matches the generator's TAX_BASIS_POINTS
# WooCommerce order item ids are one global sequence; these bases keep our synthetic
# shipping/tax/coupon line ids clear of the generated product line item ids.
SHIPPING_LINE_ID_BASE = 10_000_000
TAX_LINE_ID_BASE = 20_000_000
COUPON_LINE_ID_BASE = 30_000_000
CUSTOMER_META_KEYS = ("accepts_marketing", "birthdate", "b2b_company_id", "customer_tags")
ORDER_META_KEYS = ("_b2b_company_id", "_purchase_order_number", "_approval_status")
PAID_FINANCIAL = ("paid", "partially_refunded", "refunded")
PRODUCT_STATUS = {"active": "publish", "archived": "private", "draft": "draft"}
COUPON_CODE = "save10"


@dataclass(frozen=True)
class PayloadContext:
    """What a mapper needs besides the record: where the site lives and its timezone."""

    base_url: str
    namespace: str
    timezone: ZoneInfo
    paying_customers: frozenset[str] = frozenset()


def order_status(order: dict[str, Any]) -> str:
    """The WooCommerce status for a canonical order's financial/fulfilment/cancel state."""
    financial = order["financial_status"]
    if order.get("cancelled_at") or financial == "voided":
        return "cancelled"
    if financial == "refunded":
        return "refunded"
    if financial in ("pending", "failed"):
        return financial
    if financial == "authorized":
        return "on-hold"
    return "completed" if order["fulfillment_status"] == "fulfilled" else "processing"


def money(value: float | None) -> str:
    """A WooCommerce decimal string (`"12.50"`)."""
    return f"{value or 0:.2f}"


def _cents(value: float | None) -> int:
    return round((value or 0) * 100)


def wc_dates(name: str, value: str | None, ctx: PayloadContext) -> dict[str, str | None]:
    """`<name>` in the site's timezone and `<name>_gmt`, both `YYYY-MM-DDTHH:MM:SS` without offset."""
    if value is None:
        return {name: None, f"{name}_gmt": None}
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = moment.astimezone(ctx.timezone)
    return {name: local.strftime("%Y-%m-%dT%H:%M:%S"), f"{name}_gmt": moment.strftime("%Y-%m-%dT%H:%M:%S")}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int_id(value: str | None) -> int:
    return int(value) if value else 0


def _meta(record_id: str, keys: tuple[str, ...], values: dict[str, Any]) -> list[dict[str, Any]]:
    """`meta_data` entries with ids stable per record and key."""
    return [
        {"id": int(record_id) * 10 + keys.index(key), "key": key, "value": value}
        for key, value in values.items()
        if value not in (None, "")
    ]


def _links(ctx: PayloadContext, route: str, record_id: str) -> dict[str, list[dict[str, str]]]:
    collection = f"{ctx.base_url}{ctx.namespace}/{route}"
    return {"self": [{"href": f"{collection}/{record_id}"}], "collection": [{"href": collection}]}


def _address(address: dict[str, Any] | None, with_email: bool) -> dict[str, str]:
    address = address or {}
    payload = {
        "first_name": _text(address.get("first_name")),
        "last_name": _text(address.get("last_name")),
        "company": _text(address.get("company")),
        "address_1": _text(address.get("address1")),
        "address_2": _text(address.get("address2")),
        "city": _text(address.get("city")),
        "state": _text(address.get("province")),
        "postcode": _text(address.get("postcode")),
        "country": _text(address.get("country")),
    }
    if with_email:
        payload["email"] = _text(address.get("email"))
    payload["phone"] = _text(address.get("phone"))
    return payload


def customer_payload(customer: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /wc/v3/customers item."""
    email = customer["email"] or ""
    billing = {**(customer.get("default_address") or {}), "email": email, "phone": customer.get("phone")}
    meta = {
        "accepts_marketing": "yes" if customer.get("accepts_marketing") else "no",
        "birthdate": customer.get("birthdate"),
        "b2b_company_id": customer.get("company_id"),
        "customer_tags": ",".join(customer.get("tags") or []),
    }
    return {
        "id": int(customer["id"]),
        **wc_dates("date_created", customer["created_at"], ctx),
        **wc_dates("date_modified", customer["updated_at"], ctx),
        "email": email,
        "first_name": _text(customer.get("first_name")),
        "last_name": _text(customer.get("last_name")),
        "role": CUSTOMER_ROLE,
        "username": email.split("@")[0].lower(),
        "billing": _address(billing, with_email=True),
        "shipping": _address(customer.get("default_address"), with_email=False),
        "is_paying_customer": customer["id"] in ctx.paying_customers,
        "avatar_url": "https://secure.gravatar.com/avatar/"
        + hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
        + "?s=96&d=mm&r=g",
        "meta_data": _meta(customer["id"], CUSTOMER_META_KEYS, meta),
        "_links": _links(ctx, "customers", customer["id"]),
    }


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` cents across lines by weight; the last line takes the rounding remainder."""
    total = sum(weights) or 1
    shares = [amount * w // total for w in weights[:-1]]
    return [*shares, amount - sum(shares)]


def _order_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    items = order.get("line_items") or []
    subtotals = [_cents(item["total"]) for item in items]
    discounts = allocate(_cents(order.get("discount_total")), subtotals)
    totals = [s - d for s, d in zip(subtotals, discounts, strict=True)]
    taxes = allocate(_cents(order.get("tax_total")), totals)
    lines = []
    for item, subtotal, total, tax in zip(items, subtotals, totals, taxes, strict=True):
        lines.append(
            {
                "id": int(item["id"]),
                "name": _text(item.get("title")),
                "product_id": _int_id(item.get("product_id")),
                "variation_id": 0,
                "quantity": item.get("quantity") or 0,
                "tax_class": "",
                "subtotal": money(subtotal / 100),
                "subtotal_tax": money(tax / 100),
                "total": money(total / 100),
                "total_tax": money(tax / 100),
                "taxes": [{"id": 1, "total": money(tax / 100), "subtotal": money(tax / 100)}],
                "meta_data": [],
                "sku": _text(item.get("sku")),
                "price": item.get("price") or 0,
                "parent_name": None,
            }
        )
    return lines


def _order_dates(order: dict[str, Any], status: str) -> dict[str, Any]:
    paid = order["created_at"] if order["financial_status"] in PAID_FINANCIAL else None
    completed = None
    if status in ("completed", "refunded"):
        refunds = order.get("refunds") or []
        completed = min(r["created_at"] for r in refunds) if refunds else order["updated_at"]
    return {"date_paid": paid, "date_completed": completed}


def order_payload(order: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /wc/v3/orders item, refunds embedded as `{id, reason, total}` with negative totals."""
    order_id = order["id"]
    status = order_status(order)
    order_key = "wc_order_" + hashlib.md5(order_id.encode(), usedforsecurity=False).hexdigest()[:13]
    shipping = _cents(order.get("shipping_total"))
    dates = _order_dates(order, status)
    b2b = bool(order.get("company_id"))
    meta = {
        "_b2b_company_id": order.get("company_id"),
        "_purchase_order_number": order.get("purchase_order_number"),
        "_approval_status": order.get("approval_status"),
    }
    billing = {**(order.get("billing_address") or {}), "email": order.get("email"), "phone": order.get("phone")}
    payload = {
        "id": int(order_id),
        "parent_id": 0,
        "status": status,
        "currency": order.get("currency") or "USD",
        "version": WOOCOMMERCE_VERSION,
        "prices_include_tax": False,
        "date_created": wc_dates("date_created", order["created_at"], ctx)["date_created"],
        "date_modified": wc_dates("date_modified", order["updated_at"], ctx)["date_modified"],
        "discount_total": money(order.get("discount_total")),
        "discount_tax": "0.00",
        "shipping_total": money(order.get("shipping_total")),
        "shipping_tax": "0.00",
        "cart_tax": money(order.get("tax_total")),
        "total": money(order.get("total")),
        "total_tax": money(order.get("tax_total")),
        "customer_id": _int_id(order.get("customer_id")),
        "order_key": order_key,
        "billing": _address(billing, with_email=True),
        "shipping": _address(order.get("shipping_address"), with_email=False),
        "payment_method": "cheque" if b2b else "stripe",
        "payment_method_title": "Invoice (purchase order)" if b2b else "Credit Card (Stripe)",
        "transaction_id": f"ch_{order_key[9:]}" if dates["date_paid"] and not b2b else "",
        "customer_ip_address": "",
        "customer_user_agent": "",
        "created_via": "checkout",
        "customer_note": "",
        "date_completed": wc_dates("date_completed", dates["date_completed"], ctx)["date_completed"],
        "date_paid": wc_dates("date_paid", dates["date_paid"], ctx)["date_paid"],
        "cart_hash": "",
        "number": _text(order.get("order_number") or order_id),
        "meta_data": _meta(order_id, ORDER_META_KEYS, meta),
        "line_items": _order_lines(order),
        "tax_lines": _tax_lines(order),
        "shipping_lines": [
            {
                "id": SHIPPING_LINE_ID_BASE + int(order_id),
                "method_title": "Flat rate" if shipping else "Free shipping",
                "method_id": "flat_rate" if shipping else "free_shipping",
                "instance_id": "1",
                "total": money(shipping / 100),
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [],
            }
        ],
        "fee_lines": [],
        "coupon_lines": _coupon_lines(order),
        "refunds": [
            {"id": int(r["id"]), "reason": _text(r.get("reason")), "total": "-" + money(r["amount"])}
            for r in order.get("refunds") or []
        ],
        "payment_url": f"{ctx.base_url}/checkout/order-pay/{order_id}/?pay_for_order=true&key={order_key}",
        "is_editable": status in ("pending", "on-hold"),
        "needs_payment": status in ("pending", "failed"),
        "needs_processing": True,
        "date_created_gmt": wc_dates("date_created", order["created_at"], ctx)["date_created_gmt"],
        "date_modified_gmt": wc_dates("date_modified", order["updated_at"], ctx)["date_modified_gmt"],
        "date_completed_gmt": wc_dates("d", dates["date_completed"], ctx)["d_gmt"],
        "date_paid_gmt": wc_dates("d", dates["date_paid"], ctx)["d_gmt"],
        "currency_symbol": "$",
        "_links": _links(ctx, "orders", order_id),
    }
    if order.get("customer_id"):
        payload["_links"]["customer"] = [{"href": f"{ctx.base_url}{ctx.namespace}/customers/{order['customer_id']}"}]
    return payload


def _tax_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    if not _cents(order.get("tax_total")):
        return []
    return [
        {
            "id": TAX_LINE_ID_BASE + int(order["id"]),
            "rate_code": "US-TAX-1",
            "rate_id": 1,
            "label": "Tax",
            "compound": False,
            "tax_total": money(order.get("tax_total")),
            "shipping_tax_total": "0.00",
            "rate_percent": float(TAX_RATE_PERCENT),
            "meta_data": [],
        }
    ]


def _coupon_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    if not _cents(order.get("discount_total")):
        return []
    return [
        {
            "id": COUPON_LINE_ID_BASE + int(order["id"]),
            "code": COUPON_CODE,
            "discount": money(order.get("discount_total")),
            "discount_tax": "0.00",
            "meta_data": [],
        }
    ]


def refund_payload(order: dict[str, Any], refund: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /wc/v3/orders/<id>/refunds item."""
    route = f"orders/{order['id']}/refunds"
    return {
        "id": int(refund["id"]),
        **wc_dates("date_created", refund["created_at"], ctx),
        "amount": money(refund["amount"]),
        "reason": _text(refund.get("reason")),
        "refunded_by": 1,
        "refunded_payment": True,
        "meta_data": [],
        "line_items": [],
        "tax_lines": [],
        "shipping_lines": [],
        "fee_lines": [],
        "_links": {
            **_links(ctx, route, refund["id"]),
            "up": [{"href": f"{ctx.base_url}{ctx.namespace}/orders/{order['id']}"}],
        },
    }


def product_payload(product: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /wc/v3/products item (simple products)."""
    slug = (product.get("sku") or product["id"]).lower()
    category = product.get("category") or "Uncategorized"
    price = money(product.get("price"))
    return {
        "id": int(product["id"]),
        "name": _text(product.get("title")),
        "slug": slug,
        "permalink": f"{ctx.base_url}/product/{slug}/",
        **wc_dates("date_created", product["created_at"], ctx),
        **wc_dates("date_modified", product["updated_at"], ctx),
        "type": "simple",
        "status": PRODUCT_STATUS.get(product.get("status") or "active", "publish"),
        "featured": False,
        "catalog_visibility": "visible",
        "description": "",
        "short_description": "",
        "sku": _text(product.get("sku")),
        "price": price,
        "regular_price": price,
        "sale_price": "",
        "on_sale": False,
        "purchasable": True,
        "total_sales": 0,
        "virtual": False,
        "downloadable": False,
        "tax_status": "taxable",
        "tax_class": "",
        "manage_stock": False,
        "stock_quantity": None,
        "stock_status": "instock",
        "categories": [{"id": category_id(category), "name": category, "slug": category.lower()}],
        "tags": [],
        "images": [],
        "attributes": [],
        "meta_data": [],
        "_links": _links(ctx, "products", product["id"]),
    }


def category_id(name: str) -> int:
    """A stable product_cat term id for a category name."""
    return 15 + int(hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:6], 16) % 10_000


def abandoned_checkout_payload(checkout: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /store2crm/v1/abandoned-checkouts item."""
    items = checkout.get("line_items") or []
    return {
        "id": int(checkout["id"]),
        "status": "recovered" if checkout.get("completed_at") else "abandoned",
        "customer_id": _int_id(checkout.get("customer_id")),
        "email": _text(checkout.get("email")),
        "phone": _text(checkout.get("phone")),
        "currency": checkout.get("currency") or "USD",
        "total": money(checkout.get("total")),
        "line_items": [
            {
                "id": int(item["id"]),
                "name": _text(item.get("title")),
                "product_id": _int_id(item.get("product_id")),
                "sku": _text(item.get("sku")),
                "quantity": item.get("quantity") or 0,
                "price": item.get("price") or 0,
                "total": money(item.get("total")),
                "meta_data": [{"id": int(item["id"]) * 10, "key": "category", "value": item.get("category")}],
            }
            for item in items
        ],
        **wc_dates("date_created", checkout["created_at"], ctx),
        **wc_dates("date_modified", checkout["updated_at"], ctx),
        **wc_dates("date_completed", checkout.get("completed_at"), ctx),
        "meta_data": [],
        "_links": _links(ctx, "abandoned-checkouts", checkout["id"]),
    }


def event_payload(event: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /store2crm/v1/events item; events are immutable, so modified equals created (occurred)."""
    return {
        "id": int(event["id"]),
        "type": event["type"],
        "anonymous_id": _text(event.get("anonymous_id")),
        "customer_id": _int_id(event.get("customer_id")),
        "email": _text(event.get("email")),
        "session_id": _text(event.get("session_id")),
        "url": _text(event.get("url")),
        "product_id": _int_id(event.get("product_id")),
        "category": _text(event.get("category")),
        "value": None if event.get("value") is None else money(event["value"]),
        **wc_dates("date_created", event["occurred_at"], ctx),
        **wc_dates("date_modified", event["occurred_at"], ctx),
        "meta_data": [],
        "_links": _links(ctx, "events", event["id"]),
    }


def company_payload(company: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /store2crm/v1/companies item."""
    return {
        "id": int(company["id"]),
        "name": _text(company.get("name")),
        "domain": _text(company.get("domain")),
        "parent_id": _int_id(company.get("parent_id")),
        "price_tier": _text(company.get("price_tier")),
        "credit_limit": money(company.get("credit_limit")),
        "credit_used": money(company.get("credit_used")),
        "payment_terms": _text(company.get("payment_terms")),
        **wc_dates("date_created", company["created_at"], ctx),
        **wc_dates("date_modified", company["updated_at"], ctx),
        "meta_data": [],
        "_links": _links(ctx, "companies", company["id"]),
    }


def company_contact_payload(contact: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /store2crm/v1/company-contacts item."""
    return {
        "id": int(contact["id"]),
        "company_id": _int_id(contact.get("company_id")),
        "customer_id": _int_id(contact.get("customer_id")),
        "role": _text(contact.get("role")),
        **wc_dates("date_created", contact["created_at"], ctx),
        **wc_dates("date_modified", contact["updated_at"], ctx),
        "meta_data": [],
        "_links": _links(ctx, "company-contacts", contact["id"]),
    }
