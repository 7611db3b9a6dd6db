"""Canonical sandbox records mapped to Magento 2 / Adobe Commerce REST payloads (`/V1/...` data interfaces)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from store2crm.sandbox.store_emulator.woocommerce_payloads import allocate

STORE_ID = 1
WEBSITE_ID = 1
STORE_NAME = "Main Website\nMain Website Store\nDefault Store View"
GUEST_GROUP_ID = 0  # Magento's NOT LOGGED IN customer group
GENERAL_GROUP_ID = 1
COMPANY_GROUP_IDS = {"bronze": 4, "silver": 5, "gold": 6, "platinum": 7}  # one customer group per shared catalog
DEFAULT_ATTRIBUTE_SET_ID = 4
ROOT_CATEGORY_ID = 2  # "Default Category"
TAX_PERCENT = 8  # matches the generator's TAX_BASIS_POINTS
CREDITMEMO_STATE_REFUNDED = 2  # Magento\Sales\Model\Order\Creditmemo::STATE_REFUNDED
REGIONS = {
    "CA": "California", "NY": "New York", "IL": "Illinois", "MA": "Massachusetts", "WA": "Washington",
    "CO": "Colorado", "TX": "Texas", "GA": "Georgia", "FL": "Florida", "OR": "Oregon", "ON": "Ontario",
    "BC": "British Columbia",
}  # fmt: skip
ROLE_TITLES = {"admin": "Company Administrator", "approver": "Approver", "buyer": "Buyer"}
# canonical (financial status, fulfilment) -> Magento (state, status); cancellations handled first
PAYMENT_STATES = {
    "pending": ("new", "pending"),
    "failed": ("pending_payment", "pending_payment"),
    "authorized": ("holded", "holded"),
    "refunded": ("closed", "closed"),
}


@dataclass(frozen=True)
class PayloadContext:
    """What a mapper needs besides the record: company names, contacts' roles and each company's admin."""

    company_names: dict[str, str]
    contact_roles: dict[str, str]
    company_admins: dict[str, str]


def magento_date(value: str | None) -> str | None:
    """`2026-03-04T10:11:12Z` as Magento writes UTC timestamps: `2026-03-04 10:11:12`."""
    return None if value is None else value.replace("T", " ").rstrip("Z")


def _amount(value: float | None) -> float:
    return round(value or 0, 2)


def _cents(value: float | None) -> int:
    return round((value or 0) * 100)


def category_id(name: str) -> int:
    """A stable catalog category id for a category name."""
    return 3 + int(hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:6], 16) % 10_000


def order_state(order: dict[str, Any]) -> tuple[str, str]:
    """Magento (state, status) for a canonical order."""
    financial = order["financial_status"]
    if order.get("cancelled_at") or financial == "voided":
        return "canceled", "canceled"
    if financial in PAYMENT_STATES:
        return PAYMENT_STATES[financial]
    return ("complete", "complete") if order["fulfillment_status"] == "fulfilled" else ("processing", "processing")


def address(raw: dict[str, Any] | None, kind: str, entity_id: int, parent_id: int, email: str | None) -> dict:
    """A sales order address (OrderAddressInterface)."""
    raw = raw or {}
    street = [line for line in (raw.get("address1"), raw.get("address2")) if line]
    return {
        "address_type": kind,
        "city": raw.get("city"),
        "company": raw.get("company"),
        "country_id": raw.get("country"),
        "email": email,
        "entity_id": entity_id,
        "firstname": raw.get("first_name"),
        "lastname": raw.get("last_name"),
        "parent_id": parent_id,
        "postcode": raw.get("postcode"),
        "region": REGIONS.get(raw.get("province") or "", raw.get("province")),
        "region_code": raw.get("province"),
        "street": street,
        "telephone": raw.get("phone"),
    }


def _order_items(order: dict[str, Any], order_id: int) -> list[dict[str, Any]]:
    items = order.get("line_items") or []
    subtotals = [_cents(item["total"]) for item in items]
    discounts = allocate(_cents(order.get("discount_total")), subtotals)
    taxes = allocate(_cents(order.get("tax_total")), [s - d for s, d in zip(subtotals, discounts, strict=True)])
    stamp = {"created_at": magento_date(order["created_at"]), "updated_at": magento_date(order["updated_at"])}
    return [
        {
            "item_id": int(item["id"]),
            "order_id": order_id,
            "sku": item.get("sku"),
            "name": item.get("title"),
            "product_id": int(item["product_id"]) if item.get("product_id") else None,
            "product_type": "simple",
            "qty_ordered": item.get("quantity") or 0,
            "price": _amount(item.get("price")),
            "base_price": _amount(item.get("price")),
            "original_price": _amount(item.get("price")),
            "row_total": subtotal / 100,
            "base_row_total": subtotal / 100,
            "discount_amount": discount / 100,
            "tax_amount": tax / 100,
            "tax_percent": TAX_PERCENT,
            "row_total_incl_tax": (subtotal + tax) / 100,
            "store_id": STORE_ID,
            "is_virtual": 0,
            **stamp,
        }
        for item, subtotal, discount, tax in zip(items, subtotals, discounts, taxes, strict=True)
    ]


def _status_histories(order: dict[str, Any], order_id: int) -> list[dict[str, Any]]:
    """Order comments; a cancellation is only visible here (Magento has no cancelled_at column)."""
    histories = []
    if order.get("cancelled_at"):
        histories.append(("canceled", "Order canceled.", order["cancelled_at"]))
    if order.get("approval_status") == "pending":
        histories.append(("holded", "Awaiting purchase order approval.", order["updated_at"]))
    return [
        {
            "comment": comment,
            "created_at": magento_date(at),
            "entity_id": order_id * 10 + i,
            "entity_name": "order",
            "is_customer_notified": 0,
            "is_visible_on_front": 0,
            "parent_id": order_id,
            "status": status,
        }
        for i, (status, comment, at) in enumerate(histories)
    ]


def order_payload(order: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /V1/orders item (OrderInterface)."""
    order_id = int(order["id"])
    state, status = order_state(order)
    billing = order.get("billing_address") or {}
    email = order.get("email")
    refunded = sum(_cents(r["amount"]) for r in order.get("refunds") or []) / 100
    paid = _amount(order.get("total")) if order["financial_status"] not in ("pending", "failed", "voided") else 0
    currency = order.get("currency") or "USD"
    company_id = order.get("company_id")
    payload: dict[str, Any] = {
        "base_currency_code": currency,
        "base_grand_total": _amount(order.get("total")),
        "base_subtotal": _amount(order.get("subtotal")),
        "base_total_refunded": refunded,
        "billing_address_id": order_id * 10 + 1,
        "created_at": magento_date(order["created_at"]),
        "customer_email": email,
        "customer_firstname": billing.get("first_name"),
        "customer_lastname": billing.get("last_name"),
        "customer_group_id": GENERAL_GROUP_ID if order.get("customer_id") else GUEST_GROUP_ID,
        "customer_is_guest": 0 if order.get("customer_id") else 1,
        "customer_note_notify": 1,
        "discount_amount": -_amount(order.get("discount_total")),
        "entity_id": order_id,
        "global_currency_code": currency,
        "grand_total": _amount(order.get("total")),
        "increment_id": f"{order_id:09d}",
        "order_currency_code": currency,
        "shipping_amount": _amount(order.get("shipping_total")),
        "shipping_description": "Flat Rate - Fixed" if order.get("shipping_total") else "Free Shipping - Free",
        "state": state,
        "status": status,
        "store_currency_code": currency,
        "store_id": STORE_ID,
        "store_name": STORE_NAME,
        "subtotal": _amount(order.get("subtotal")),
        "tax_amount": _amount(order.get("tax_total")),
        "total_due": round(_amount(order.get("total")) - paid, 2),
        "total_item_count": len(order.get("line_items") or []),
        "total_paid": paid,
        "total_qty_ordered": sum(item.get("quantity") or 0 for item in order.get("line_items") or []),
        "total_refunded": refunded,
        "updated_at": magento_date(order["updated_at"]),
        "items": _order_items(order, order_id),
        "billing_address": address(billing, "billing", order_id * 10 + 1, order_id, email),
        "payment": {
            "account_status": None,
            "additional_information": [],
            "amount_ordered": _amount(order.get("total")),
            "amount_paid": paid,
            "entity_id": order_id,
            "method": "purchaseorder" if company_id else "checkmo",
            "parent_id": order_id,
            "po_number": order.get("purchase_order_number"),
        },
        "status_histories": _status_histories(order, order_id),
        "extension_attributes": {
            "shipping_assignments": [
                {
                    "shipping": {
                        "address": address(
                            order.get("shipping_address"), "shipping", order_id * 10 + 2, order_id, email
                        ),
                        "method": "flatrate_flatrate" if order.get("shipping_total") else "freeshipping_freeshipping",
                        "total": {"shipping_amount": _amount(order.get("shipping_total"))},
                    }
                }
            ],
        },
    }
    if order.get("customer_id"):
        payload["customer_id"] = int(order["customer_id"])
    if company_id:
        payload["extension_attributes"]["company_order_attributes"] = {
            "order_id": order_id,
            "company_id": int(company_id),
            "company_name": ctx.company_names.get(company_id),
        }
    return payload


def creditmemo_payload(order: dict[str, Any], refund: dict[str, Any]) -> dict[str, Any]:
    """GET /V1/creditmemos item (CreditmemoInterface); the reason travels as the customer note."""
    amount = _amount(refund["amount"])
    stamp = magento_date(refund["created_at"])
    return {
        "entity_id": int(refund["id"]),
        "order_id": int(order["id"]),
        "increment_id": f"{int(refund['id']):09d}",
        "state": CREDITMEMO_STATE_REFUNDED,
        "grand_total": amount,
        "base_grand_total": amount,
        "subtotal": amount,
        "order_currency_code": order.get("currency") or "USD",
        "customer_note": refund.get("reason") or None,
        "store_id": STORE_ID,
        "created_at": stamp,
        "updated_at": stamp,
        "items": [],
        "comments": [],
    }


def _customer_address(customer: dict[str, Any]) -> dict[str, Any]:
    raw = customer.get("default_address") or {}
    province = raw.get("province") or ""
    return {
        "id": int(customer["id"]),
        "customer_id": int(customer["id"]),
        "region": {"region_code": province, "region": REGIONS.get(province, province), "region_id": 0},
        "country_id": raw.get("country"),
        "street": [line for line in (raw.get("address1"), raw.get("address2")) if line],
        "company": raw.get("company"),
        "telephone": customer.get("phone") or raw.get("phone"),
        "postcode": raw.get("postcode"),
        "city": raw.get("city"),
        "firstname": customer.get("first_name"),
        "lastname": customer.get("last_name"),
        "default_shipping": True,
        "default_billing": True,
    }


def customer_payload(customer: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /V1/customers/search item (CustomerInterface) with the B2B `company_attributes`."""
    customer_id = int(customer["id"])
    extension: dict[str, Any] = {"is_subscribed": bool(customer.get("accepts_marketing"))}
    if customer.get("company_id"):
        extension["company_attributes"] = {
            "customer_id": customer_id,
            "company_id": int(customer["company_id"]),
            "status": 1,
            "job_title": ROLE_TITLES.get(ctx.contact_roles.get(customer["id"], ""), ""),
            "telephone": customer.get("phone"),
        }
    payload: dict[str, Any] = {
        "id": customer_id,
        "group_id": GENERAL_GROUP_ID,
        "default_billing": str(customer_id),
        "default_shipping": str(customer_id),
        "created_at": magento_date(customer["created_at"]),
        "updated_at": magento_date(customer["updated_at"]),
        "created_in": "Default Store View",
        "email": customer.get("email"),
        "firstname": customer.get("first_name"),
        "lastname": customer.get("last_name"),
        "gender": 0,
        "store_id": STORE_ID,
        "website_id": WEBSITE_ID,
        "addresses": [_customer_address(customer)] if customer.get("default_address") else [],
        "disable_auto_group_change": 0,
        "extension_attributes": extension,
        "custom_attributes": [{"attribute_code": "customer_tags", "value": ",".join(customer.get("tags") or [])}],
    }
    if customer.get("birthdate"):
        payload["dob"] = customer["birthdate"]
    return payload


def product_payload(product: dict[str, Any], _ctx: PayloadContext) -> dict[str, Any]:
    """GET /V1/products item (ProductInterface, simple products)."""
    sku = product.get("sku") or product["id"]
    category = category_id(product.get("category") or "Uncategorized")
    return {
        "id": int(product["id"]),
        "sku": sku,
        "name": product.get("title"),
        "attribute_set_id": DEFAULT_ATTRIBUTE_SET_ID,
        "price": _amount(product.get("price")),
        "status": 1 if (product.get("status") or "active") == "active" else 2,
        "visibility": 4,
        "type_id": "simple",
        "created_at": magento_date(product["created_at"]),
        "updated_at": magento_date(product["updated_at"]),
        "weight": 1,
        "extension_attributes": {
            "website_ids": [WEBSITE_ID],
            "category_links": [{"position": 0, "category_id": str(category)}],
        },
        "product_links": [],
        "options": [],
        "media_gallery_entries": [],
        "tier_prices": [],
        "custom_attributes": [
            {"attribute_code": "url_key", "value": sku.lower()},
            {"attribute_code": "category_ids", "value": [str(category)]},
        ],
    }


def category_payload(name: str) -> dict[str, Any]:
    """GET /V1/categories/list item (CategoryInterface) for one product category."""
    category = category_id(name)
    return {
        "id": category,
        "parent_id": ROOT_CATEGORY_ID,
        "name": name,
        "is_active": True,
        "position": 1,
        "level": 2,
        "path": f"1/{ROOT_CATEGORY_ID}/{category}",
        "include_in_menu": True,
        "children": "",
        "custom_attributes": [{"attribute_code": "url_key", "value": name.lower()}],
    }


def cart_payload(checkout: dict[str, Any], _ctx: PayloadContext) -> dict[str, Any]:
    """GET /V1/carts/search item (CartInterface); a recovered checkout is an inactive, converted quote."""
    quote_id = int(checkout["id"])
    items = checkout.get("line_items") or []
    currency = checkout.get("currency") or "USD"
    customer: dict[str, Any] = {"email": checkout.get("email"), "group_id": GUEST_GROUP_ID}
    if checkout.get("customer_id"):
        customer = {"id": int(checkout["customer_id"]), "email": checkout.get("email"), "group_id": GENERAL_GROUP_ID}
    return {
        "id": quote_id,
        "created_at": magento_date(checkout["created_at"]),
        "updated_at": magento_date(checkout["updated_at"]),
        "converted_at": magento_date(checkout.get("completed_at")),
        "is_active": checkout.get("completed_at") is None,
        "is_virtual": False,
        "items": [
            {
                "item_id": int(item["id"]),
                "sku": item.get("sku"),
                "qty": item.get("quantity") or 0,
                "name": item.get("title"),
                "price": _amount(item.get("price")),
                "product_type": "simple",
                "quote_id": str(quote_id),
            }
            for item in items
        ],
        "items_count": len(items),
        "items_qty": sum(item.get("quantity") or 0 for item in items),
        "customer": customer,
        "billing_address": {"email": checkout.get("email"), "telephone": checkout.get("phone")},
        "orig_order_id": 0,
        "currency": {
            "global_currency_code": currency,
            "base_currency_code": currency,
            "store_currency_code": currency,
            "quote_currency_code": currency,
        },
        "customer_is_guest": not checkout.get("customer_id"),
        "customer_note_notify": True,
        "store_id": STORE_ID,
        "extension_attributes": {},
    }


def cart_totals_payload(checkout: dict[str, Any]) -> dict[str, Any]:
    """GET /V1/carts/{cartId}/totals (TotalsInterface), where a quote's grand total lives."""
    items = checkout.get("line_items") or []
    subtotal = sum(_cents(item.get("total")) for item in items) / 100
    currency = checkout.get("currency") or "USD"
    return {
        "grand_total": _amount(checkout.get("total")),
        "base_grand_total": _amount(checkout.get("total")),
        "subtotal": subtotal,
        "base_subtotal": subtotal,
        "base_currency_code": currency,
        "quote_currency_code": currency,
        "items_qty": sum(item.get("quantity") or 0 for item in items),
        "items": [],
        "total_segments": [{"code": "grand_total", "title": "Grand Total", "value": _amount(checkout.get("total"))}],
    }


def company_payload(company: dict[str, Any], ctx: PayloadContext) -> dict[str, Any]:
    """GET /V1/company/ item (Adobe Commerce B2B CompanyInterface); the price tier is its customer group."""
    return {
        "id": int(company["id"]),
        "status": 1,
        "company_name": company.get("name"),
        "legal_name": company.get("name"),
        "company_email": f"accounts@{company.get('domain')}",
        "comment": None,
        "street": [],
        "customer_group_id": COMPANY_GROUP_IDS.get(company.get("price_tier") or "", GENERAL_GROUP_ID),
        "sales_representative_id": 1,
        "reject_reason": None,
        "rejected_at": None,
        "super_user_id": int(ctx.company_admins[company["id"]]) if company["id"] in ctx.company_admins else None,
        "extension_attributes": {
            "applicable_payment_method": 0,
            "use_config_settings": 1,
            "is_purchase_order_enabled": True,
        },
    }


def company_credit_payload(company: dict[str, Any]) -> dict[str, Any]:
    """GET /V1/companyCredits/ item (CreditLimitInterface); balance is negative while credit is used."""
    limit, used = _amount(company.get("credit_limit")), _amount(company.get("credit_used"))
    return {
        "id": int(company["id"]),
        "company_id": int(company["id"]),
        "credit_limit": limit,
        "balance": -used,
        "currency_code": "USD",
        "exceed_limit": False,
        "available_limit": round(limit - used, 2),
    }
