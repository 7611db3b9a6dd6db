"""Shopify GraphQL Admin API nodes → canonical records; what has no canonical home lands in `extra`.

Node shapes are the ones `shopify_queries` selects (field names as the GraphQL Admin API has
them). Ids are the numeric tails of Shopify global ids (`gid://shopify/Order/1001` → `"1001"`);
the full gid stays in `extra.admin_graphql_api_id`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from source_store.native import NativeRecord, UnmappableRecordError, to_date, to_int, to_money, to_text, to_timestamp

# OrderDisplayFinancialStatus → canonical financial_status (EXPIRED: the authorisation lapsed unpaid)
FINANCIAL_STATUSES = {
    "PENDING": "pending",
    "AUTHORIZED": "authorized",
    "PARTIALLY_PAID": "authorized",
    "PAID": "paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "REFUNDED": "refunded",
    "VOIDED": "voided",
    "EXPIRED": "failed",
}
FULFILLMENT_STATUSES = {
    "FULFILLED": "fulfilled",
    "PARTIALLY_FULFILLED": "partial",
    "UNFULFILLED": "unfulfilled",
    "OPEN": "unfulfilled",
    "IN_PROGRESS": "unfulfilled",
    "ON_HOLD": "unfulfilled",
    "PENDING_FULFILLMENT": "unfulfilled",
    "SCHEDULED": "unfulfilled",
    "RESTOCKED": "unfulfilled",
}
# CustomerState: ENABLED has an account; DISABLED is Shopify's default for customers who never
# activated one (checkout-created), so a guest; INVITED/DECLINED were asked and have not joined.
ACCOUNT_STATES = {"ENABLED": "registered", "DISABLED": "guest", "INVITED": "guest", "DECLINED": "guest"}
# Shopify's default B2B role names; a custom "Approver" role stands for order-approval permission.
ROLE_NAMES = {"location admin": "admin", "ordering only": "buyer", "approver": "approver"}
APPROVAL_STATUSES = frozenset({"pending", "approved", "rejected"})
APPROVAL_ATTRIBUTE = "approval_status"  # order custom attribute written by the B2B approval flow
CHECKOUT_EMAIL_ATTRIBUTE = "email"  # guest email on an abandoned checkout with no Customer
PAYMENT_TERMS_PREPAID = "prepaid"


def gid_tail(value: Any) -> str | None:
    """The numeric tail of a global id, as a string; None when absent."""
    if not value:
        return None
    return str(value).rsplit("/", 1)[-1].split("?", 1)[0] or None


def _record_id(record: NativeRecord) -> str:
    value = gid_tail(record.take("id"))
    if value is None:
        raise UnmappableRecordError(f"field id is missing (fields present: {sorted(record.raw)})")
    return value


def _extra(record: NativeRecord) -> dict[str, Any]:
    return record.extra(admin_graphql_api_id=record.raw.get("id"))


def connection_nodes(value: Any) -> list[Any]:
    """Nodes of a connection selected as `nodes` or `edges { node }` (bulk rows arrive as `nodes`)."""
    if not isinstance(value, Mapping):
        return list(value) if isinstance(value, list) else []
    if isinstance(value.get("nodes"), list):
        return value["nodes"]
    return [edge.get("node") for edge in value.get("edges") or [] if isinstance(edge, Mapping)]


def address(raw: Any) -> dict[str, Any] | None:
    """A MailingAddress → canonical address; the extra native fields are kept beside the canonical ones."""
    if not isinstance(raw, Mapping):
        return None
    canonical = {
        "first_name": to_text(raw.get("firstName")),
        "last_name": to_text(raw.get("lastName")),
        "company": to_text(raw.get("company")),
        "address1": to_text(raw.get("address1")),
        "address2": to_text(raw.get("address2")),
        "city": to_text(raw.get("city")),
        "province": to_text(raw.get("provinceCode")) or to_text(raw.get("province")),
        "postcode": to_text(raw.get("zip")),
        "country": to_text(raw.get("countryCodeV2")) or to_text(raw.get("country")),
        "phone": to_text(raw.get("phone")),
    }
    used = {"firstName", "lastName", "company", "address1", "address2", "city", "provinceCode", "zip", "phone"}
    used |= {"countryCodeV2"} if raw.get("countryCodeV2") else set()
    canonical.update({key: value for key, value in raw.items() if key not in used and value is not None})
    return canonical if any(value is not None for value in canonical.values()) else None


def _attributes(raw: Any) -> dict[str, Any]:
    return {item.get("key"): item.get("value") for item in raw or [] if isinstance(item, Mapping)}


def map_customer(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A Customer node → canonical customer."""
    record = NativeRecord(raw)
    default_address = address(record.take("defaultAddress"))
    addresses = [address(item) for item in record.take("addresses") or []]
    consent = record.at("emailMarketingConsent.marketingState")
    profiles = record.take("companyContactProfiles") or []
    company = next((gid_tail((p.get("company") or {}).get("id")) for p in profiles if isinstance(p, Mapping)), None)
    state = record.raw.get("state")
    return {
        "id": _record_id(record),
        "email": record.text("email") or to_text((raw.get("defaultEmailAddress") or {}).get("emailAddress")),
        "phone": record.text("phone") or to_text((raw.get("defaultPhoneNumber") or {}).get("phoneNumber")),
        "first_name": record.text("firstName"),
        "last_name": record.text("lastName"),
        "account_state": ACCOUNT_STATES.get(state) if state else None,
        "accepts_marketing": None if consent is None else consent == "SUBSCRIBED",
        "marketing_consent_updated_at": record.timestamp("emailMarketingConsent.consentUpdatedAt"),
        "tags": [tag for tag in (to_text(t) for t in record.take("tags") or []) if tag],
        "company_id": company,
        "birthdate": record.converted("birthDate.value", to_date),
        "default_address": default_address,
        "addresses": [item for item in addresses if item] or ([default_address] if default_address else []),
        "created_at": record.timestamp("createdAt"),
        "updated_at": record.timestamp("updatedAt"),
        "extra": _extra(record),
    }


def _line_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = NativeRecord(raw)
    product = record.take("product") or {}
    return {
        "id": gid_tail(record.take("id")),
        "product_id": gid_tail(product.get("id")),
        "sku": record.text("sku"),
        "title": record.text("title") or record.text("name"),
        "category": to_text(product.get("productType")),
        "quantity": to_int(record.take("quantity")),
        "price": record.money("originalUnitPriceSet.shopMoney.amount"),
        "total": record.money("originalTotalSet.shopMoney.amount")
        if "originalTotalSet" in raw
        else record.money("originalTotalPriceSet.shopMoney.amount"),
        "extra": record.extra(),
    }


def _refund(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = NativeRecord(raw)
    return {
        "id": gid_tail(record.take("id")),
        "amount": record.money("totalRefundedSet.shopMoney.amount"),
        "reason": record.text("note"),
        "created_at": record.timestamp("createdAt"),
        "extra": record.extra(),
    }


def map_order(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An Order node (line items and refunds inside) → canonical order."""
    record = NativeRecord(raw)
    billing = address(record.take("billingAddress"))
    entity = record.raw.get("purchasingEntity") or {}
    company_id = gid_tail((entity.get("company") or {}).get("id")) if isinstance(entity, Mapping) else None
    if company_id or not entity:
        record.take("purchasingEntity")
    attributes = _attributes(record.raw.get("customAttributes"))
    approval = attributes.get(APPROVAL_ATTRIBUTE)
    if approval in APPROVAL_STATUSES and len(attributes) == 1:
        record.take("customAttributes")
    financial = record.raw.get("displayFinancialStatus")
    fulfillment = record.raw.get("displayFulfillmentStatus")
    name = record.text("name")
    return {
        "id": _record_id(record),
        "order_number": name.removeprefix("#") if name else None,
        "customer_id": gid_tail((record.take("customer") or {}).get("id")),
        "email": record.text("email"),
        "phone": record.text("phone") or (billing or {}).get("phone"),
        "billing_address": billing,
        "shipping_address": address(record.take("shippingAddress")),
        "currency": record.text("currencyCode"),
        "subtotal": record.money("subtotalPriceSet.shopMoney.amount"),
        "discount_total": record.money("totalDiscountsSet.shopMoney.amount"),
        "shipping_total": record.money("totalShippingPriceSet.shopMoney.amount"),
        "tax_total": record.money("totalTaxSet.shopMoney.amount"),
        "total": record.money("totalPriceSet.shopMoney.amount"),
        "financial_status": FINANCIAL_STATUSES.get(financial) if financial else None,
        "fulfillment_status": FULFILLMENT_STATUSES.get(fulfillment) if fulfillment else None,
        "cancelled_at": record.timestamp("cancelledAt"),
        "deleted_at": None,  # deletions reach us only through the orders/delete webhook
        "line_items": [_line_item(item) for item in connection_nodes(record.take("lineItems")) if item],
        "refunds": [_refund(item) for item in record.take("refunds") or [] if isinstance(item, Mapping)],
        "company_id": company_id,
        "purchase_order_number": record.text("poNumber"),
        "approval_status": approval if approval in APPROVAL_STATUSES else None,
        "created_at": record.timestamp("createdAt"),
        "updated_at": record.timestamp("updatedAt"),
        "extra": _extra(record),
    }


def map_abandoned_checkout(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An AbandonedCheckout node → canonical abandoned checkout."""
    record = NativeRecord(raw)
    customer = record.take("customer") or {}
    billing = address(record.take("billingAddress")) or {}
    attributes = _attributes(record.raw.get("customAttributes"))
    if set(attributes) <= {CHECKOUT_EMAIL_ATTRIBUTE}:
        record.take("customAttributes")
    return {
        "id": _record_id(record),
        "email": to_text(customer.get("email")) or to_text(attributes.get(CHECKOUT_EMAIL_ATTRIBUTE)),
        "phone": to_text(customer.get("phone")) or billing.get("phone"),
        "customer_id": gid_tail(customer.get("id")),
        "currency": record.text("totalPriceSet.shopMoney.currencyCode"),
        "total": record.money("totalPriceSet.shopMoney.amount"),
        "line_items": [_line_item(item) for item in connection_nodes(record.take("lineItems")) if item],
        "created_at": record.timestamp("createdAt"),
        "updated_at": record.timestamp("updatedAt"),
        "completed_at": record.timestamp("completedAt"),
        "extra": _extra(record),
    }


def map_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A Product node → canonical product: SKU and price of the first variant, category = product type."""
    record = NativeRecord(raw)
    variants = connection_nodes(record.raw.get("variants"))
    first = variants[0] if variants and isinstance(variants[0], Mapping) else {}
    if len(variants) <= 1:
        record.take("variants")
    price = to_money(first.get("price"))
    if price is None:
        price = record.money("priceRangeV2.minVariantPrice.amount")
    status = record.text("status")
    return {
        "id": _record_id(record),
        "title": record.text("title"),
        "sku": to_text(first.get("sku")),
        "category": record.text("productType"),
        "price": price,
        "status": status.lower() if status else None,
        "created_at": record.timestamp("createdAt"),
        "updated_at": record.timestamp("updatedAt"),
        "extra": _extra(record),
    }


def _payment_terms(location: Mapping[str, Any]) -> str | None:
    config = location.get("buyerExperienceConfiguration") or {}
    template = config.get("paymentTermsTemplate") or {}
    if template.get("paymentTermsType") == "NET" and template.get("dueInDays"):
        return f"net_{template['dueInDays']}"
    if template:
        return to_text(template.get("name"))
    return PAYMENT_TERMS_PREPAID if config.get("checkoutToDraft") else None


def map_company(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A Company node → canonical company; domain, parent, tier and credit come from app metafields."""
    record = NativeRecord(raw)
    locations = connection_nodes(record.take("locations"))
    first_location = locations[0] if locations and isinstance(locations[0], Mapping) else {}
    return {
        "id": _record_id(record),
        "name": record.text("name"),
        "domain": record.text("domain.value"),
        "parent_id": gid_tail(record.at("parentCompany.value")),
        "price_tier": record.text("priceTier.value"),
        "credit_limit": record.money("creditLimit.value"),
        "credit_used": record.money("creditUsed.value"),
        "payment_terms": _payment_terms(first_location),
        "created_at": record.timestamp("createdAt"),
        "updated_at": record.timestamp("updatedAt"),
        "extra": record.extra(admin_graphql_api_id=raw.get("id"), locations=locations[1:] or None),
    }


def company_contacts(company: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The CompanyContact nodes of a Company node, each told its company (for `map_company_contact`)."""
    for contact in connection_nodes(company.get("contacts")):
        if isinstance(contact, Mapping):
            yield {**contact, "company": {"id": company.get("id")}}


def map_company_contact(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A CompanyContact node (with its company) → canonical company contact; role from the role assignment."""
    record = NativeRecord(raw)
    assignments = connection_nodes(record.take("roleAssignments"))
    names = [to_text((a.get("role") or {}).get("name")) for a in assignments if isinstance(a, Mapping)]
    roles = [ROLE_NAMES.get(name.lower()) for name in names if name]
    role = next((r for r in ("admin", "approver", "buyer") if r in roles), None)
    if role is None and record.raw.get("isMainContact"):
        role = "admin"
    return {
        "id": _record_id(record),
        "company_id": gid_tail((record.take("company") or {}).get("id")),
        "customer_id": gid_tail((record.take("customer") or {}).get("id")),
        "role": role,
        "created_at": record.timestamp("createdAt"),
        "updated_at": record.timestamp("updatedAt"),
        "extra": record.extra(admin_graphql_api_id=raw.get("id"), role_names=names or None),
    }


__all__ = [
    "company_contacts",
    "connection_nodes",
    "gid_tail",
    "map_abandoned_checkout",
    "map_company",
    "map_company_contact",
    "map_customer",
    "map_order",
    "map_product",
    "to_timestamp",
]
