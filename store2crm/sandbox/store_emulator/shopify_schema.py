"""The Shopify GraphQL Admin API schema subset the emulator serves, and its calculated query cost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    value_from_ast,
)

# shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits: scalars and enums 0, objects 1,
# connections sized by `first`; observed responses price `products(first: 10) {nodes {id}}` at 12,
# i.e. 2 for the connection plus `first` times the node. Mutations cost 10.
OBJECT_COST = 1
CONNECTION_BASE_COST = 2
MUTATION_COST = 10
MAX_PAGE_SIZE = 250  # "first cannot exceed 250"
NESTED_CONNECTION_TYPES = (
    "LineItem", "AbandonedCheckoutLineItem", "ProductVariant", "CompanyLocation", "CompanyContact",
    "CompanyContactRoleAssignment",
)  # fmt: skip
ROOT_CONNECTION_TYPES = ("Customer", "Order", "AbandonedCheckout", "Product", "Company")
_SORT_KEYS = {
    "CustomerSortKeys": "CREATED_AT ID UPDATED_AT",
    "OrderSortKeys": "CREATED_AT ID PROCESSED_AT UPDATED_AT",
    "AbandonedCheckoutSortKeys": "CREATED_AT ID",
    "ProductSortKeys": "CREATED_AT ID TITLE UPDATED_AT",
    "CompanySortKeys": "CREATED_AT ID NAME UPDATED_AT",
}
_ROOT_FIELDS = {
    "customers": ("Customer", "CustomerSortKeys"),
    "orders": ("Order", "OrderSortKeys"),
    "abandonedCheckouts": ("AbandonedCheckout", "AbandonedCheckoutSortKeys"),
    "products": ("Product", "ProductSortKeys"),
    "companies": ("Company", "CompanySortKeys"),
}
DEFAULT_SORT = {"orders": "PROCESSED_AT"}  # every other connection defaults to ID

_TYPES = """
scalar DateTime
scalar Decimal
scalar Money
scalar URL
scalar UnsignedInt64

enum CurrencyCode { USD CAD EUR GBP }
enum CountryCode { US CA }
enum CustomerState { DECLINED DISABLED ENABLED INVITED }
enum CustomerEmailMarketingState { INVALID NOT_SUBSCRIBED PENDING REDACTED SUBSCRIBED UNSUBSCRIBED }
enum CustomerEmailAddressMarketingState { INVALID NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED }
enum CustomerMarketingOptInLevel { CONFIRMED_OPT_IN SINGLE_OPT_IN UNKNOWN }
enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }
enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED }
enum OrderDisplayFulfillmentStatus {
  FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT RESTOCKED SCHEDULED UNFULFILLED
}
enum ProductStatus { ACTIVE ARCHIVED DRAFT }
enum PaymentTermsType { FIXED FULFILLMENT NET RECEIPT UNKNOWN }
enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationUserErrorCode { INVALID }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type Attribute { key: String! value: String }
type Metafield { id: ID! namespace: String! key: String! value: String! type: String! }
type MailingAddress {
  id: ID! firstName: String lastName: String name: String company: String address1: String address2: String
  city: String province: String provinceCode: String country: String countryCodeV2: CountryCode zip: String
  phone: String
}

type CustomerEmailAddress { emailAddress: String! marketingState: CustomerEmailAddressMarketingState! }
type CustomerPhoneNumber { phoneNumber: String! }
type CustomerEmailMarketingConsentState {
  marketingState: CustomerEmailMarketingState! marketingOptInLevel: CustomerMarketingOptInLevel
  consentUpdatedAt: DateTime
}
type Customer {
  id: ID! firstName: String lastName: String displayName: String! email: String phone: String
  state: CustomerState! verifiedEmail: Boolean! tags: [String!]! note: String
  createdAt: DateTime! updatedAt: DateTime! numberOfOrders: UnsignedInt64! amountSpent: MoneyV2!
  defaultAddress: MailingAddress addresses(first: Int): [MailingAddress!]!
  defaultEmailAddress: CustomerEmailAddress defaultPhoneNumber: CustomerPhoneNumber
  emailMarketingConsent: CustomerEmailMarketingConsentState
  companyContactProfiles: [CompanyContact!]!
  metafield(namespace: String, key: String!): Metafield
}

type ProductVariant { id: ID! title: String! sku: String price: Money! }
type ProductPriceRangeV2 { minVariantPrice: MoneyV2! maxVariantPrice: MoneyV2! }
type Product {
  id: ID! title: String! handle: String! status: ProductStatus! productType: String! vendor: String!
  tags: [String!]! createdAt: DateTime! updatedAt: DateTime!
  variants(first: Int, after: String): ProductVariantConnection!
  priceRangeV2: ProductPriceRangeV2!
}

type LineItem {
  id: ID! name: String! title: String! sku: String quantity: Int!
  originalUnitPriceSet: MoneyBag! originalTotalSet: MoneyBag! discountedTotalSet: MoneyBag!
  totalDiscountSet: MoneyBag! product: Product variant: ProductVariant
}
type Refund { id: ID! createdAt: DateTime updatedAt: DateTime! note: String totalRefundedSet: MoneyBag! }
type PurchasingCompany { company: Company! location: CompanyLocation! contact: CompanyContact }
union PurchasingEntity = Customer | PurchasingCompany
type Order {
  id: ID! name: String! email: String phone: String createdAt: DateTime! updatedAt: DateTime!
  processedAt: DateTime! cancelledAt: DateTime cancelReason: OrderCancelReason closedAt: DateTime
  currencyCode: CurrencyCode! displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  subtotalPriceSet: MoneyBag totalDiscountsSet: MoneyBag totalShippingPriceSet: MoneyBag! totalTaxSet: MoneyBag
  totalPriceSet: MoneyBag! totalRefundedSet: MoneyBag! currentTotalPriceSet: MoneyBag!
  customer: Customer billingAddress: MailingAddress shippingAddress: MailingAddress
  lineItems(first: Int, after: String): LineItemConnection!
  refunds(first: Int): [Refund!]!
  poNumber: String purchasingEntity: PurchasingEntity customAttributes: [Attribute!]! tags: [String!]!
  test: Boolean!
}

type AbandonedCheckoutLineItem {
  id: ID! title: String sku: String quantity: Int! originalUnitPriceSet: MoneyBag!
  originalTotalPriceSet: MoneyBag! product: Product
}
type AbandonedCheckout {
  id: ID! name: String! abandonedCheckoutUrl: URL! createdAt: DateTime! updatedAt: DateTime!
  completedAt: DateTime customer: Customer billingAddress: MailingAddress customAttributes: [Attribute!]!
  discountCodes: [String!]! note: String! taxesIncluded: Boolean!
  subtotalPriceSet: MoneyBag! totalPriceSet: MoneyBag!
  lineItems(first: Int, after: String): AbandonedCheckoutLineItemConnection!
}

type PaymentTermsTemplate { id: ID! name: String! paymentTermsType: PaymentTermsType! dueInDays: Int }
type BuyerExperienceConfiguration {
  paymentTermsTemplate: PaymentTermsTemplate checkoutToDraft: Boolean! editableShippingAddress: Boolean!
}
type CompanyLocation {
  id: ID! name: String! createdAt: DateTime! updatedAt: DateTime!
  buyerExperienceConfiguration: BuyerExperienceConfiguration
}
type CompanyContactRole { id: ID! name: String! note: String }
type CompanyContactRoleAssignment { id: ID! role: CompanyContactRole! companyLocation: CompanyLocation! }
type CompanyContact {
  id: ID! isMainContact: Boolean! title: String createdAt: DateTime! updatedAt: DateTime!
  customer: Customer! company: Company!
  roleAssignments(first: Int, after: String): CompanyContactRoleAssignmentConnection!
}
type Company {
  id: ID! name: String! externalId: String note: String createdAt: DateTime! updatedAt: DateTime!
  customerSince: DateTime! mainContact: CompanyContact
  contacts(first: Int, after: String): CompanyContactConnection!
  locations(first: Int, after: String): CompanyLocationConnection!
  metafield(namespace: String, key: String!): Metafield
}

type BulkOperation {
  id: ID! status: BulkOperationStatus! errorCode: BulkOperationErrorCode createdAt: DateTime!
  completedAt: DateTime objectCount: UnsignedInt64! rootObjectCount: UnsignedInt64! fileSize: UnsignedInt64
  url: URL partialDataUrl: URL query: String! type: BulkOperationType!
}
type BulkOperationUserError { field: [String!] message: String! code: BulkOperationUserErrorCode }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }
type Mutation { bulkOperationRunQuery(query: String!, groupObjects: Boolean): BulkOperationRunQueryPayload }
"""


def _connection_sdl(node: str) -> str:
    return (
        f"type {node}Edge {{ cursor: String! node: {node}! }}\n"
        f"type {node}Connection {{ edges: [{node}Edge!]! nodes: [{node}!]! pageInfo: PageInfo! }}\n"
    )


def _query_root_sdl() -> str:
    fields = [
        f"  {name}(first: Int, after: String, query: String, reverse: Boolean = false, "
        f"sortKey: {sort} = {DEFAULT_SORT.get(name, 'ID')}): {node}Connection!"
        for name, (node, sort) in _ROOT_FIELDS.items()
    ]
    singles = [f"  {node[0].lower()}{node[1:]}(id: ID!): {node}" for node in ROOT_CONNECTION_TYPES]
    bulk = [
        "  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation",
        "  bulkOperation(id: ID!): BulkOperation",  # API 2026-01 and later (the dialect refuses it before)
    ]
    return "type QueryRoot {\n" + "\n".join(fields + singles + bulk) + "\n}\n"


SDL = (
    "schema { query: QueryRoot mutation: Mutation }\n"
    + _TYPES
    + "".join(f"enum {name} {{ {values} }}\n" for name, values in _SORT_KEYS.items())
    + "".join(_connection_sdl(node) for node in (*ROOT_CONNECTION_TYPES, *NESTED_CONNECTION_TYPES))
    + _query_root_sdl()
)
ROOT_CONNECTIONS = {name: node for name, (node, _) in _ROOT_FIELDS.items()}


def build_shop_schema() -> GraphQLSchema:
    """The schema (resolvers attached by the dialect)."""
    return build_schema(SDL)


class CostError(ValueError):
    """A connection without `first`, or with `first` above 250: Shopify rejects the query before it runs."""

    def __init__(self, message: str, node: FieldNode, path: list[str]) -> None:
        super().__init__(message)
        self.node = node
        self.path = path


class QueryCost:
    """Shopify's calculated cost of one operation: requested (from the query) and actual (from the result)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variables = variables

    def requested(self) -> int:
        """The cost charged before execution; raises CostError for a badly sized connection."""
        if self.operation.operation.value == "mutation":
            return MUTATION_COST * len(self.operation.selection_set.selections)
        root = self.schema.query_type
        assert root is not None
        return self._selection(root, self.operation.selection_set, None, [])

    def actual(self, data: Any) -> int:
        """The cost of what the result holds (fewer nodes than `first` cost less)."""
        if self.operation.operation.value == "mutation":
            return self.requested()
        root = self.schema.query_type
        assert root is not None
        return self._selection(root, self.operation.selection_set, data if isinstance(data, dict) else {}, [])

    # walking --------------------------------------------------------------------------------------

    def _fields(self, parent: Any, selection_set: SelectionSetNode) -> list[tuple[Any, FieldNode]]:
        """(type, field) pairs, fragments flattened; an inline fragment on a union member keeps its type."""
        out: list[tuple[Any, FieldNode]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                out.append((parent, selection))
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment: Any = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
            else:
                assert isinstance(selection, InlineFragmentNode)
                fragment = selection
            condition = fragment.type_condition
            target = self.schema.get_type(condition.name.value) if condition else parent
            out.extend(self._fields(target, fragment.selection_set))
        return out

    def _selection(self, parent: Any, selection_set: SelectionSetNode, data: Any, path: list[str]) -> int:
        if is_abstract_type(parent):
            # a union costs its most expensive member (or, with data, the member it resolved to)
            by_type: dict[str, int] = {}
            for member, node in self._fields(parent, selection_set):
                by_type[member.name] = by_type.get(member.name, 0) + self._field(member, node, data, path)
            return max(by_type.values(), default=0)
        return sum(self._field(owner, node, data, path) for owner, node in self._fields(parent, selection_set))

    def _field(self, owner: Any, node: FieldNode, data: Any, path: list[str]) -> int:
        key = node.alias.value if node.alias else node.name.value
        named = _object_type_of(owner, node.name.value)
        if named is None or node.selection_set is None or (data is not None and key not in data):
            return 0  # scalars, enums, introspection, and union members the value did not resolve to
        value = None if data is None else data[key]
        if named.name.endswith("Connection"):
            return self._connection(named, node, value, [*path, key])
        if data is not None and value is None:
            return 0
        size = self._raw_argument(node, "first")
        if isinstance(value, list):
            return sum(OBJECT_COST + self._selection(named, node.selection_set, item, path) for item in value)
        return int(size or 1) * (OBJECT_COST + self._selection(named, node.selection_set, value, [*path, key]))

    def _connection(self, connection: Any, node: FieldNode, value: Any, path: list[str]) -> int:
        owner_first = self._first(node, path)
        node_type = get_named_type(connection.fields["nodes"].type)
        selection_set = node.selection_set
        assert selection_set is not None
        costs = [0]
        for _, field in self._fields(connection, selection_set):
            inner = self._node_selection(field)
            if inner is None:
                continue
            if value is None:
                costs.append(owner_first * (OBJECT_COST + self._selection(node_type, inner, None, path)))
                continue
            items = value.get(field.alias.value if field.alias else field.name.value) or []
            items = [item.get("node") for item in items] if field.name.value == "edges" else items
            costs.append(sum(OBJECT_COST + self._selection(node_type, inner, item, path) for item in items))
        return CONNECTION_BASE_COST + max(costs)

    def _node_selection(self, field: FieldNode) -> SelectionSetNode | None:
        """The node selection inside `nodes {...}` or `edges { node {...} }`."""
        if field.name.value == "nodes":
            return field.selection_set
        if field.name.value == "edges" and field.selection_set is not None:
            for inner in field.selection_set.selections:
                if isinstance(inner, FieldNode) and inner.name.value == "node":
                    return inner.selection_set
        return None

    def _first(self, node: FieldNode, path: list[str]) -> int:
        first = self._raw_argument(node, "first")
        if first is None:
            raise CostError("you must provide one of first or last", node, path)
        if first > MAX_PAGE_SIZE:
            raise CostError(
                f"The first argument cannot exceed {MAX_PAGE_SIZE}. To query larger amounts of data with fewer "
                "limits, bulk operations should be used instead.",
                node,
                path,
            )
        return int(first)

    def _raw_argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast(argument.value, GraphQLInt, self.variables)
        return None


def _object_type_of(owner: Any, name: str) -> Any:
    """The named object type a field returns, or None for leaves, introspection and unknown fields."""
    if not isinstance(owner, GraphQLObjectType) or name not in owner.fields:
        return None
    named = get_named_type(owner.fields[name].type)
    return None if is_leaf_type(named) else named
