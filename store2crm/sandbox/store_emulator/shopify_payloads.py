"""Canonical sandbox records mapped to Shopify GraphQL Admin API objects (field names as Shopify's schema has them).

Values that are expensive or point at other records are callables: graphql-core's default resolver
calls them only when the query selects the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store2crm.sandbox.store_emulator.woocommerce_payloads import allocate

GID = "gid://shopify"
METAFIELD_NAMESPACE = "store2crm"  # app-owned metafields for canonical fields Shopify has no home for
BIRTH_DATE_METAFIELD = ("facts", "birth_date")  # Shopify's standard customer metafield definition
# Shopify's company contact roles; "Approver" stands for order-approval permission (Plus B2B)
ROLE_NAMES = {"admin": "Location admin", "buyer": "Ordering only", "approver": "Approver"}
PAYMENT_TERMS = {"net_15": 15, "net_30": 30, "net_60": 60}
# canonical financial status -> OrderDisplayFinancialStatus (Shopify has no FAILED: a failed
# authorisation shows as EXPIRED)
FINANCIAL = {
    "pending": "PENDING",
    "authorized": "AUTHORIZED",
    "paid": "PAID",
    "partially_refunded": "PARTIALLY_REFUNDED",
    "refunded": "REFUNDED",
    "voided": "VOIDED",
    "failed": "EXPIRED",
}
Resolver = Callable[..., Any]


def gid(kind: str, record_id: Any) -> str:
    """A Shopify global id (`gid://shopify/Customer/123`)."""
    return f"{GID}/{kind}/{record_id}"


def gid_number(value: str) -> str:
    """The numeric tail of a global id (`gid://shopify/Order/1001` -> `1001`)."""
    return value.rsplit("/", 1)[-1].split("?", 1)[0]


@dataclass
class ShopIndex:
    """Lookups across streams that the mappers need, rebuilt by the dialect when the dataset changes."""

    shop_domain: str
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts_by_company: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    contacts_by_customer: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_counts: dict[str, int] = field(default_factory=dict)
    amounts_spent: dict[str, int] = field(default_factory=dict)


def _cents(value: float | None) -> int:
    return round((value or 0) * 100)


def money(cents: int, currency: str = "USD") -> dict[str, Any]:
    """A MoneyBag in the shop's currency (presentment equals shop money: one-currency store)."""
    amount = {"amount": f"{cents / 100:.2f}", "currencyCode": currency}
    return {"shopMoney": amount, "presentmentMoney": amount}


def _metafield(owner: str, namespace: str, key: str, value: Any, kind: str) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    return {
        "id": gid("Metafield", f"{owner}-{namespace}-{key}"),
        "namespace": namespace,
        "key": key,
        "value": str(value),
        "type": kind,
    }


def _metafield_resolver(owner: str, fields: dict[tuple[str, str], tuple[Any, str]]) -> Resolver:
    """`metafield(namespace:, key:)`: the app namespace is the default, as for app-owned metafields."""

    def resolve(_info: Any, key: str, namespace: str | None = None) -> dict[str, Any] | None:
        value, kind = fields.get((namespace or METAFIELD_NAMESPACE, key), (None, ""))
        return _metafield(owner, namespace or METAFIELD_NAMESPACE, key, value, kind)

    return resolve


def mailing_address(raw: dict[str, Any] | None, address_id: str) -> dict[str, Any] | None:
    """A MailingAddress."""
    if not raw:
        return None
    names = [raw.get("first_name"), raw.get("last_name")]
    return {
        "id": gid("MailingAddress", f"{address_id}?model_name=CustomerAddress"),
        "firstName": raw.get("first_name"),
        "lastName": raw.get("last_name"),
        "name": " ".join(n for n in names if n) or None,
        "company": raw.get("company"),
        "address1": raw.get("address1"),
        "address2": raw.get("address2"),
        "city": raw.get("city"),
        "province": raw.get("province"),
        "provinceCode": raw.get("province"),
        "country": {"US": "United States", "CA": "Canada"}.get(raw.get("country") or "", raw.get("country")),
        "countryCodeV2": raw.get("country"),
        "zip": raw.get("postcode"),
        "phone": raw.get("phone"),
    }


def customer_node(customer: dict[str, Any], idx: ShopIndex) -> dict[str, Any]:
    """A Customer (registered accounts are ENABLED)."""
    customer_id = customer["id"]
    email, phone = customer.get("email"), customer.get("phone")
    marketing = "SUBSCRIBED" if customer.get("accepts_marketing") else "NOT_SUBSCRIBED"
    address = mailing_address(customer.get("default_address"), customer_id)
    names = [customer.get("first_name"), customer.get("last_name")]
    return {
        "id": gid("Customer", customer_id),
        "firstName": customer.get("first_name"),
        "lastName": customer.get("last_name"),
        "displayName": " ".join(n for n in names if n) or email or "",
        "email": email,
        "phone": phone,
        "state": "ENABLED",
        "verifiedEmail": True,
        "tags": list(customer.get("tags") or []),
        "note": None,
        "createdAt": customer["created_at"],
        "updatedAt": customer["updated_at"],
        "numberOfOrders": lambda _info: str(idx.order_counts.get(customer_id, 0)),
        "amountSpent": lambda _info: money(idx.amounts_spent.get(customer_id, 0))["shopMoney"],
        "defaultAddress": address,
        "addresses": lambda _info, first=None: ([address] if address else [])[:first],
        "defaultEmailAddress": {"emailAddress": email, "marketingState": marketing} if email else None,
        "defaultPhoneNumber": {"phoneNumber": phone} if phone else None,
        "emailMarketingConsent": {
            "marketingState": marketing,
            "marketingOptInLevel": "SINGLE_OPT_IN" if customer.get("accepts_marketing") else None,
            "consentUpdatedAt": customer["updated_at"] if customer.get("accepts_marketing") else None,
        },
        "companyContactProfiles": lambda _info: [
            company_contact_node(c, idx) for c in [idx.contacts_by_customer.get(customer_id)] if c
        ],
        "metafield": _metafield_resolver(
            gid("Customer", customer_id), {BIRTH_DATE_METAFIELD: (customer.get("birthdate"), "date")}
        ),
    }


def _customer_ref(customer_id: str | None, idx: ShopIndex) -> Resolver:
    def resolve(_info: Any) -> dict[str, Any] | None:
        customer = idx.customers.get(customer_id or "")
        return customer_node(customer, idx) if customer else None

    return resolve


def _product_ref(product_id: str | None, idx: ShopIndex) -> Resolver:
    def resolve(_info: Any) -> dict[str, Any] | None:
        product = idx.products.get(product_id or "")
        return product_node(product, idx) if product else None

    return resolve


def _variant_ref(product_id: str | None, idx: ShopIndex) -> Resolver:
    def resolve(_info: Any) -> dict[str, Any] | None:
        product = idx.products.get(product_id or "")
        return _variant(product) if product else None

    return resolve


def _variant(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid("ProductVariant", product["id"]),
        "title": "Default Title",
        "sku": product.get("sku"),
        "price": f"{product.get('price') or 0:.2f}",
    }


def _line_items(order: dict[str, Any], idx: ShopIndex) -> list[dict[str, Any]]:
    items = order.get("line_items") or []
    subtotals = [_cents(item["total"]) for item in items]
    discounts = allocate(_cents(order.get("discount_total")), subtotals)
    currency = order.get("currency") or "USD"
    return [
        {
            "id": gid("LineItem", item["id"]),
            "name": item.get("title"),
            "title": item.get("title"),
            "sku": item.get("sku"),
            "quantity": item.get("quantity") or 0,
            "originalUnitPriceSet": money(_cents(item.get("price")), currency),
            "originalTotalSet": money(subtotal, currency),
            "discountedTotalSet": money(subtotal - discount, currency),
            "totalDiscountSet": money(discount, currency),
            "product": _product_ref(item.get("product_id"), idx),
            "variant": _variant_ref(item.get("product_id"), idx),
        }
        for item, subtotal, discount in zip(items, subtotals, discounts, strict=True)
    ]


def _purchasing_entity(order: dict[str, Any], idx: ShopIndex) -> Resolver:
    """A B2B order's PurchasingCompany, else the ordering Customer (the union's two members)."""

    def resolve(_info: Any) -> dict[str, Any] | None:
        company = idx.companies.get(order.get("company_id") or "")
        if company is not None:
            contact = idx.contacts_by_customer.get(order.get("customer_id") or "")
            return {
                "__typename": "PurchasingCompany",
                "company": company_node(company, idx),
                "location": company_location(company, idx),
                "contact": company_contact_node(contact, idx) if contact else None,
            }
        customer = idx.customers.get(order.get("customer_id") or "")
        return {**customer_node(customer, idx), "__typename": "Customer"} if customer else None

    return resolve


def order_node(order: dict[str, Any], idx: ShopIndex) -> dict[str, Any]:
    """An Order with its line items (a connection) and refunds (a list)."""
    currency = order.get("currency") or "USD"
    refunded = sum(_cents(r["amount"]) for r in order.get("refunds") or [])
    total = _cents(order.get("total"))
    attributes = [{"key": "approval_status", "value": order["approval_status"]}] if order.get("approval_status") else []
    return {
        "id": gid("Order", order["id"]),
        "name": f"#{order.get('order_number') or order['id']}",
        "email": order.get("email"),
        "phone": order.get("phone"),
        "createdAt": order["created_at"],
        "updatedAt": order["updated_at"],
        "processedAt": order["created_at"],
        "cancelledAt": order.get("cancelled_at"),
        "cancelReason": "DECLINED"
        if order.get("approval_status") == "rejected"
        else ("CUSTOMER" if order.get("cancelled_at") else None),
        "closedAt": order["updated_at"] if order["fulfillment_status"] == "fulfilled" else None,
        "currencyCode": currency,
        "displayFinancialStatus": FINANCIAL.get(order["financial_status"], "PENDING"),
        "displayFulfillmentStatus": "FULFILLED" if order["fulfillment_status"] == "fulfilled" else "UNFULFILLED",
        "subtotalPriceSet": money(_cents(order.get("subtotal")), currency),
        "totalDiscountsSet": money(_cents(order.get("discount_total")), currency),
        "totalShippingPriceSet": money(_cents(order.get("shipping_total")), currency),
        "totalTaxSet": money(_cents(order.get("tax_total")), currency),
        "totalPriceSet": money(total, currency),
        "totalRefundedSet": money(refunded, currency),
        "currentTotalPriceSet": money(total - refunded, currency),
        "customer": _customer_ref(order.get("customer_id"), idx),
        "billingAddress": mailing_address(order.get("billing_address"), f"{order['id']}1"),
        "shippingAddress": mailing_address(order.get("shipping_address"), f"{order['id']}2"),
        "lineItems": _line_items(order, idx),
        "refunds": lambda _info, first=None: [
            {
                "id": gid("Refund", r["id"]),
                "createdAt": r["created_at"],
                "updatedAt": r["created_at"],
                "note": r.get("reason") or None,
                "totalRefundedSet": money(_cents(r["amount"]), currency),
            }
            for r in order.get("refunds") or []
        ][:first],
        "poNumber": order.get("purchase_order_number"),
        "purchasingEntity": _purchasing_entity(order, idx),
        "customAttributes": attributes,
        "tags": [],
        "test": False,
    }


def abandoned_checkout_node(checkout: dict[str, Any], idx: ShopIndex) -> dict[str, Any]:
    """An AbandonedCheckout; a guest's email (no Customer to hang it on here) travels as a custom attribute."""
    currency = checkout.get("currency") or "USD"
    items = checkout.get("line_items") or []
    billing = {"phone": checkout.get("phone")} if checkout.get("phone") else None
    return {
        "id": gid("AbandonedCheckout", checkout["id"]),
        "name": f"#{checkout['id']}",
        "abandonedCheckoutUrl": f"https://{idx.shop_domain}/checkouts/recover/{checkout['id']}",
        "createdAt": checkout["created_at"],
        "updatedAt": checkout["updated_at"],
        "completedAt": checkout.get("completed_at"),
        "customer": _customer_ref(checkout.get("customer_id"), idx),
        "billingAddress": mailing_address(billing, f"{checkout['id']}3"),
        "customAttributes": [{"key": "email", "value": checkout["email"]}] if checkout.get("email") else [],
        "discountCodes": [],
        "note": "",
        "taxesIncluded": False,
        "subtotalPriceSet": money(sum(_cents(i.get("total")) for i in items), currency),
        "totalPriceSet": money(_cents(checkout.get("total")), currency),
        "lineItems": [
            {
                "id": gid("AbandonedCheckoutLineItem", item["id"]),
                "title": item.get("title"),
                "sku": item.get("sku"),
                "quantity": item.get("quantity") or 0,
                "originalUnitPriceSet": money(_cents(item.get("price")), currency),
                "originalTotalPriceSet": money(_cents(item.get("total")), currency),
                "product": _product_ref(item.get("product_id"), idx),
            }
            for item in items
        ],
    }


def product_node(product: dict[str, Any], _idx: ShopIndex) -> dict[str, Any]:
    """A Product with its one default variant; the canonical category is the product type."""
    price = {"amount": f"{product.get('price') or 0:.2f}", "currencyCode": "USD"}
    return {
        "id": gid("Product", product["id"]),
        "title": product.get("title"),
        "handle": (product.get("sku") or product["id"]).lower(),
        "status": (product.get("status") or "active").upper(),
        "productType": product.get("category") or "",
        "vendor": "Sandbox",
        "tags": [],
        "createdAt": product["created_at"],
        "updatedAt": product["updated_at"],
        "variants": [_variant(product)],
        "priceRangeV2": {"minVariantPrice": price, "maxVariantPrice": price},
    }


def company_location(company: dict[str, Any], _idx: ShopIndex) -> dict[str, Any]:
    """A company's one CompanyLocation, holding its payment terms."""
    terms = company.get("payment_terms")
    days = PAYMENT_TERMS.get(terms or "")
    template = None
    if days is not None:
        template = {"id": gid("PaymentTermsTemplate", days), "name": f"Net {days}",
                    "paymentTermsType": "NET", "dueInDays": days}  # fmt: skip
    return {
        "id": gid("CompanyLocation", company["id"]),
        "name": company.get("name"),
        "createdAt": company["created_at"],
        "updatedAt": company["updated_at"],
        "buyerExperienceConfiguration": {
            "paymentTermsTemplate": template,
            "checkoutToDraft": terms == "prepaid",
            "editableShippingAddress": False,
        },
    }


def company_node(company: dict[str, Any], idx: ShopIndex) -> dict[str, Any]:
    """A Company; fields Shopify has no column for live in app metafields (namespace `store2crm`)."""
    owner = gid("Company", company["id"])
    contacts = idx.contacts_by_company.get(company["id"], [])
    main = next((c for c in contacts if c["role"] == "admin"), None)
    return {
        "id": owner,
        "name": company.get("name"),
        "externalId": company["id"],
        "note": None,
        "createdAt": company["created_at"],
        "updatedAt": company["updated_at"],
        "customerSince": company["created_at"],
        "mainContact": lambda _info: company_contact_node(main, idx) if main else None,
        "contacts": lambda _info: [company_contact_node(c, idx) for c in contacts],
        "locations": [company_location(company, idx)],
        "metafield": _metafield_resolver(
            owner,
            {
                (METAFIELD_NAMESPACE, "domain"): (company.get("domain"), "single_line_text_field"),
                (METAFIELD_NAMESPACE, "parent_company_id"): (
                    gid("Company", company["parent_id"]) if company.get("parent_id") else None,
                    "company_reference",
                ),
                (METAFIELD_NAMESPACE, "price_tier"): (company.get("price_tier"), "single_line_text_field"),
                (METAFIELD_NAMESPACE, "credit_limit"): (company.get("credit_limit"), "number_decimal"),
                (METAFIELD_NAMESPACE, "credit_used"): (company.get("credit_used"), "number_decimal"),
            },
        ),
    }


def company_contact_node(contact: dict[str, Any], idx: ShopIndex) -> dict[str, Any]:
    """A CompanyContact with its role assignment at the company's location."""
    company = idx.companies.get(contact["company_id"])
    role = contact.get("role") or "buyer"
    return {
        "id": gid("CompanyContact", contact["id"]),
        "isMainContact": role == "admin",
        "title": None,
        "createdAt": contact["created_at"],
        "updatedAt": contact["updated_at"],
        "customer": _customer_ref(contact.get("customer_id"), idx),
        "company": lambda _info: company_node(company, idx) if company else None,
        "roleAssignments": lambda _info: [
            {
                "id": gid("CompanyContactRoleAssignment", contact["id"]),
                "role": {"id": gid("CompanyContactRole", role), "name": ROLE_NAMES[role], "note": None},
                "companyLocation": company_location(company, idx) if company else None,
            }
        ],
    }
