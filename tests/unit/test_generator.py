"""Generator: determinism, planted duplicates, identifier hygiene, totals and B2B hierarchy."""

from __future__ import annotations

from collections import defaultdict

import pendulum
import pytest

from store2crm.sandbox.generator import STREAMS, generate, normalize_email, normalize_phone

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=7, scale=600, now=NOW)


def identifiers(record):
    """Every normalised email/phone a record carries, top level and in its addresses."""
    emails, phones = {normalize_email(record.get("email"))}, {normalize_phone(record.get("phone"))}
    for key in ("default_address", "billing_address", "shipping_address"):
        address = record.get(key) or {}
        emails.add(normalize_email(address.get("email")))
        phones.add(normalize_phone(address.get("phone")))
    return emails - {None}, phones - {None}


def test_same_seed_same_data_and_other_seed_differs():
    first, second = generate(seed=3, scale=200, now=NOW), generate(seed=3, scale=200, now=NOW)
    for stream in STREAMS:
        assert first.records(stream) == second.records(stream)
    assert first.truth == second.truth
    assert generate(seed=4, scale=200, now=NOW).customers != first.customers


def test_normalisers():
    assert normalize_email("  John.Smith+promo@GoogleMail.com ") == "johnsmith@googlemail.com"
    assert normalize_email("John.Smith+promo@example.com") == "john.smith+promo@example.com"
    formats = ["+1 415-555-0134", "(415) 555 0134", "4155550134", "+14155550134", "415.555.0134"]
    assert {normalize_phone(p) for p in formats} == {"+14155550134"}


def test_duplicate_rate_within_field_range(dataset):
    assert 0.08 <= dataset.duplicate_rate() <= 0.12


def test_every_duplicate_shares_an_identifier_with_its_person(dataset):
    for stream, record in dataset.person_records():
        person = dataset.people[dataset.truth[(stream, record["id"])]]
        emails, phones = identifiers(record)
        assert normalize_email(person.email) in emails or normalize_phone(person.phone) in phones, record["id"]


def test_no_identifier_is_shared_by_two_people(dataset):
    owners = defaultdict(set)
    for stream in ("customers", "orders", "abandoned_checkouts", "events"):
        for record in dataset.records(stream):
            emails, phones = identifiers(record)
            for value in emails | phones:
                owners[value].add(dataset.truth[(stream, record["id"])])
    shared = {value: people for value, people in owners.items() if len(people) > 1}
    assert not shared


def test_duplicates_include_guest_checkouts_of_account_holders(dataset):
    account_holders = {dataset.truth[("customers", c["id"])] for c in dataset.customers}
    guest_orders_of_holders = [
        o for o in dataset.orders if o["customer_id"] is None and dataset.truth[("orders", o["id"])] in account_holders
    ]
    assert guest_orders_of_holders
    assert dataset.people_with_email() == set(dataset.people)


def test_order_totals_add_up_and_lines_match_products(dataset):
    products = {p["id"]: p for p in dataset.products}
    for order in dataset.orders:
        expected = order["subtotal"] - order["discount_total"] + order["shipping_total"] + order["tax_total"]
        assert order["total"] == pytest.approx(expected, abs=0.005)
        assert order["subtotal"] == pytest.approx(sum(i["total"] for i in order["line_items"]), abs=0.005)
        assert 1 <= len(order["line_items"]) <= 4
        for item in order["line_items"]:
            product = products[item["product_id"]]
            assert (item["sku"], item["category"], item["price"]) == (
                product["sku"],
                product["category"],
                product["price"],
            )
        refunded = sum(r["amount"] for r in order["refunds"])
        assert refunded <= order["total"] + 0.005
        if order["financial_status"] == "refunded":
            assert refunded == pytest.approx(order["total"], abs=0.005)


def test_company_hierarchy_and_contacts(dataset):
    companies = {c["id"]: c for c in dataset.companies}
    children = defaultdict(list)
    for company in dataset.companies:
        if company["parent_id"]:
            children[company["parent_id"]].append(company["id"])
    assert children
    for parent_id, kids in children.items():
        assert companies[parent_id]["parent_id"] is None
        assert 1 <= len(kids) <= 3
    assert all(c["credit_used"] <= c["credit_limit"] for c in dataset.companies)
    customers = {c["id"] for c in dataset.customers}
    assert {c["role"] for c in dataset.company_contacts} <= {"buyer", "approver", "admin"}
    assert all(c["customer_id"] in customers and c["company_id"] in companies for c in dataset.company_contacts)
    b2b = [o for o in dataset.orders if o["company_id"]]
    assert b2b and all(o["purchase_order_number"] for o in b2b)
    assert any(o["approval_status"] == "pending" for o in b2b)


def test_anonymous_sessions_link_through_login(dataset):
    sessions = defaultdict(list)
    for event in dataset.events:
        if event["session_id"]:
            sessions[event["session_id"]].append(event)
    logins = [e for e in dataset.events if e["type"] == "login"]
    assert logins and all(e["customer_id"] and e["anonymous_id"] for e in logins)
    never_identified = [s for s in sessions.values() if not any(e["customer_id"] or e["email"] for e in s)]
    assert never_identified
    for session in sessions.values():
        assert len({dataset.truth[("events", e["id"])] for e in session}) == 1


def test_truth_covers_every_person_stream(dataset):
    for stream in ("customers", "orders", "abandoned_checkouts", "events", "company_contacts"):
        assert all((stream, r["id"]) in dataset.truth for r in dataset.records(stream))


def test_timestamps_are_utc_iso_and_not_in_the_future(dataset):
    limit = "2026-11-01T00:00:00Z"
    for stream in ("customers", "orders", "products", "companies"):
        for record in dataset.records(stream):
            assert record["created_at"] <= record["updated_at"] <= limit
            assert record["updated_at"].endswith("Z") and len(record["updated_at"]) == 20


def test_mutate_changes_records_bumps_updated_at_and_keeps_truth():
    dataset = generate(seed=11, scale=300, now=NOW)
    later = NOW.add(days=1)
    stamp = "2026-11-02T00:00:00Z"
    before_orders = len(dataset.orders)
    changed = dataset.mutate(40, later)
    assert len(changed) == 40
    kinds = {stream for stream, _ in changed}
    assert "orders" in kinds and kinds <= {"orders", "customers", "companies"}
    for stream, record_id in changed:
        record = next(r for r in dataset.records(stream) if r["id"] == record_id)
        assert record["updated_at"] == stamp
        if stream != "companies":
            assert (stream, record_id) in dataset.truth
    assert len(dataset.orders) > before_orders
    again = generate(seed=11, scale=300, now=NOW)
    assert again.mutate(40, later) == changed


def test_unlinked_duplicates_share_no_identifier_but_name_and_address():
    ds = generate(seed=7, scale=600, now=NOW, unlinked_duplicate_share=1.0)
    unlinked = [o for o in ds.orders if (o["email"] or "").endswith("@example.info")]
    assert unlinked
    for order in unlinked:
        person = ds.people[ds.truth[("orders", order["id"])]]
        emails, phones = identifiers(order)
        assert normalize_email(person.email) not in emails and not phones
        assert order["billing_address"]["address1"] == person.address["address1"]
        assert order["billing_address"]["postcode"] == person.address["postcode"]
        assert order["billing_address"]["last_name"] == person.last_name
    owners = defaultdict(set)
    for order in unlinked:
        owners[order["email"]].add(ds.truth[("orders", order["id"])])
    assert all(len(people) == 1 for people in owners.values())


def test_unlinked_duplicate_share_is_validated_and_defaults_to_none():
    assert not any((o["email"] or "").endswith("@example.info") for o in generate(seed=7, scale=300, now=NOW).orders)
    with pytest.raises(ValueError, match="unlinked_duplicate_share"):
        generate(seed=7, scale=10, now=NOW, unlinked_duplicate_share=1.5)
