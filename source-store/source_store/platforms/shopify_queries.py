"""GraphQL documents the Shopify module sends: one node selection per stream, paged or bulk.

A node selection is written once as a function of how nested connections are rendered: with
`first` and `pageInfo` for paged reads (so an overflowing child list can be fetched on), or
bare `edges { node }` for bulk operations (Shopify's bulk queries take no `first`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Nested = Callable[[str, str, int], str]
"""Render a nested connection: (field, node selection, first) → GraphQL text."""

MONEY = "shopMoney { amount currencyCode }"
ADDRESS = "firstName lastName company address1 address2 city province provinceCode country countryCodeV2 zip phone"
# Sizes of nested connections and lists per node. They are kept small because Shopify prices a
# query by `first` x node cost and refuses any query above 1000 points; a child list longer than
# its connection's `first` is fetched on with follow-up queries (see ShopifyStream), so nothing is cut.
LINE_ITEMS_FIRST = 10
REFUNDS_FIRST = 10  # `Order.refunds` is a list with an optional size limit, not a connection (no cursor)
CONTACTS_FIRST = 10
ROLE_ASSIGNMENTS_FIRST = 3
ADDRESSES_FIRST = 3
FOLLOW_UP_FIRST = 50  # child nodes per follow-up query


def paged(field: str, selection: str, first: int) -> str:
    """A nested connection with a size and `pageInfo`, for paged reads."""
    return f"{field}(first: {first}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {selection} }} }}"


def bulk(field: str, selection: str, _first: int) -> str:
    """A nested connection as bulk operations want it: no size, `edges { node }`."""
    return f"{field} {{ edges {{ node {{ {selection} }} }} }}"


def sized_list(nested: Nested, field: str, selection: str, first: int) -> str:
    """A plain list field (no cursor): capped at `first` in paged reads, whole in bulk ones (bulk has no cost cap)."""
    if nested is bulk:
        return f"{field} {{ {selection} }}"
    return f"{field}(first: {first}) {{ {selection} }}"


LINE_ITEM = (
    f"id name title sku quantity originalUnitPriceSet {{ {MONEY} }} originalTotalSet {{ {MONEY} }} "
    "product { id productType }"
)
CHECKOUT_LINE_ITEM = (
    f"id title sku quantity originalUnitPriceSet {{ {MONEY} }} originalTotalPriceSet {{ {MONEY} }} "
    "product { id productType }"
)
REFUND = f"id createdAt note totalRefundedSet {{ {MONEY} }}"
CONTACT = (
    "id isMainContact title createdAt updatedAt customer { id } "
    f"roleAssignments(first: {ROLE_ASSIGNMENTS_FIRST}) {{ nodes {{ role {{ name }} }} }}"
)


def customer(nested: Nested) -> str:
    """Customer node selection."""
    return (
        "id firstName lastName email phone state tags note verifiedEmail createdAt updatedAt "
        f"defaultAddress {{ {ADDRESS} }} addresses(first: {ADDRESSES_FIRST}) {{ {ADDRESS} }} "
        "emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt } "
        'birthDate: metafield(namespace: "facts", key: "birth_date") { value } '
        "companyContactProfiles { company { id } }"
    )


def order(nested: Nested) -> str:
    """Order node selection: line items (connection) and refunds (list) inside."""
    return (
        "id name email phone createdAt updatedAt processedAt cancelledAt cancelReason closedAt currencyCode "
        "displayFinancialStatus displayFulfillmentStatus poNumber tags test "
        f"subtotalPriceSet {{ {MONEY} }} totalDiscountsSet {{ {MONEY} }} totalShippingPriceSet {{ {MONEY} }} "
        f"totalTaxSet {{ {MONEY} }} totalPriceSet {{ {MONEY} }} "
        f"customer {{ id }} billingAddress {{ {ADDRESS} }} shippingAddress {{ {ADDRESS} }} "
        f"{sized_list(nested, 'refunds', REFUND, REFUNDS_FIRST)} "
        "customAttributes { key value } "
        "purchasingEntity { ... on PurchasingCompany { company { id } location { id } } } "
        + nested("lineItems", LINE_ITEM, LINE_ITEMS_FIRST)
    )


def abandoned_checkout(nested: Nested) -> str:
    """AbandonedCheckout node selection."""
    return (
        "id name abandonedCheckoutUrl createdAt updatedAt completedAt "
        f"customer {{ id email phone }} billingAddress {{ phone }} customAttributes {{ key value }} "
        f"totalPriceSet {{ {MONEY} }} " + nested("lineItems", CHECKOUT_LINE_ITEM, LINE_ITEMS_FIRST)
    )


def product(nested: Nested) -> str:
    """Product node selection (the first variant carries SKU and price)."""
    return (
        "id title handle status productType vendor tags createdAt updatedAt "
        "priceRangeV2 { minVariantPrice { amount currencyCode } } " + nested("variants", "id sku price", 1)
    )


def company(namespace: str) -> Callable[[Nested], str]:
    """Company node selection; canonical fields Shopify has no column for are app metafields in `namespace`."""

    def selection(nested: Nested) -> str:
        metafields = " ".join(
            f'{alias}: metafield(namespace: "{namespace}", key: "{key}") {{ value }}'
            for alias, key in (
                ("domain", "domain"),
                ("parentCompany", "parent_company_id"),
                ("priceTier", "price_tier"),
                ("creditLimit", "credit_limit"),
                ("creditUsed", "credit_used"),
            )
        )
        location = (
            "id buyerExperienceConfiguration { checkoutToDraft "
            "paymentTermsTemplate { name paymentTermsType dueInDays } }"
        )
        return f"id name externalId note createdAt updatedAt customerSince {metafields} " + nested(
            "locations", location, 1
        )

    return selection


def company_with_contacts(nested: Nested) -> str:
    """Company node selection for the company_contacts stream: only its contacts."""
    return "id updatedAt " + nested("contacts", CONTACT, CONTACTS_FIRST)


@dataclass(frozen=True)
class FollowUp:
    """How to fetch the rest of a nested connection of one node: `query($id, $after) { single(id) { field } }`."""

    field: str
    single: str
    selection: str

    def document(self) -> str:
        """The follow-up query."""
        return (
            f"query Rest($id: ID!, $after: String) {{ node: {self.single}(id: $id) {{ "
            f"{self.field}(first: {FOLLOW_UP_FIRST}, after: $after) "
            f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {self.selection} }} }} }} }}"
        )


@dataclass(frozen=True)
class WholeList:
    """How to fetch a capped list of one node whole when a page hit its cap: `query($id) { single(id) { field } }`.

    Lists such as `Order.refunds` have no cursor to page on; a page query caps them (cost is
    priced by the cap), so a node whose list came back full is asked again for the list alone, uncapped.
    """

    field: str
    single: str
    selection: str
    cap: Callable[[], int]

    def document(self) -> str:
        """The whole-list query."""
        return f"query WholeList($id: ID!) {{ node: {self.single}(id: $id) {{ {self.field} {{ {self.selection} }} }} }}"


def page_query(root: str, selection: str, sort_key: str | None, filtered: bool) -> str:
    """One page of a root connection, keyset-paged by Shopify's cursor."""
    arguments = ["first: $first", "after: $after"]
    if filtered:
        arguments.append("query: $query")
    if sort_key:
        arguments.append(f"sortKey: {sort_key}")
    declared = "$first: Int!, $after: String" + (", $query: String" if filtered else "")
    return (
        f"query Page({declared}) {{ "
        f"{root}({', '.join(arguments)}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {selection} }} }} }}"
    )


def bulk_query(root: str, selection: str, search: str | None) -> str:
    """The query a bulk operation runs: the whole root connection, filtered like a paged read."""
    arguments = f'(query: "{search}")' if search else ""
    return f"{{ {root}{arguments} {{ edges {{ node {{ {selection} }} }} }} }}"


RUN_BULK = (
    "mutation RunBulk($query: String!) { bulkOperationRunQuery(query: $query) "
    "{ bulkOperation { id status } userErrors { field message } } }"
)
BULK_OPERATION_FIELDS = "id status errorCode objectCount rootObjectCount url partialDataUrl query"
POLL_BULK = f"query PollBulk {{ currentBulkOperation {{ {BULK_OPERATION_FIELDS} }} }}"
BULK_BY_ID = f"query BulkById($id: ID!) {{ bulkOperation(id: $id) {{ {BULK_OPERATION_FIELDS} }} }}"
CHECK = "query Check { customers(first: 1) { nodes { id } } }"
