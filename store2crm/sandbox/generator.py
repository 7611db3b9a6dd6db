"""Deterministic sandbox store data: canonical records, planted duplicates and their ground truth."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pendulum

DEFAULT_NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
HISTORY_DAYS = 730
DAY = 86_400
STREAMS = (
    "customers",
    "orders",
    "abandoned_checkouts",
    "events",
    "products",
    "companies",
    "company_contacts",
)
PERSON_STREAMS = ("customers", "orders", "abandoned_checkouts", "events", "company_contacts")

DUPLICATE_SHARE = 0.10  # api-facts.md: stores gather 8-12% duplicate customer records a year
REGISTERED_SHARE = 0.65
PHONE_SHARE = 0.8
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
CONSUMER_DOMAINS = ("example.com", "example.org", "mail.example", "gmail.com", "gmail.com", "googlemail.com")
ALT_EMAIL_DOMAIN = "example.net"  # only duplicates use it, so it never collides with a base email
# Unlinked duplicates (a guest order under another mailbox, no phone) use their own domain.
UNLINKED_EMAIL_DOMAIN = "example.info"
CURRENCY = "USD"
TAX_BASIS_POINTS = 800
FREE_SHIPPING_CENTS = 7_500
SHIPPING_CENTS = 795
# NANP reserves 555-01XX for fiction; 555-XXXX in real area codes is still unassigned in practice.
AREA_CODES = (
    "415", "212", "312", "617", "206", "303", "512", "404", "305", "702", "503", "612", "215", "619",
    "713", "214", "602", "801", "919", "615", "416", "604", "514", "403", "720", "646", "510", "408",
    "650", "718",
)  # fmt: skip
PHONES_PER_AREA = 10_000

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Paul", "Kimberly", "Andrew", "Emily", "Joshua", "Donna", "Kevin", "Michelle", "Brian", "Carol",
    "Priya", "Amanda", "Wei", "Melissa", "Omar", "Deborah", "Lucas", "Stephanie", "Mateo", "Rebecca",
    "Noah", "Sharon", "Ethan", "Laura", "Aiden", "Cynthia", "Yuki", "Amy", "Liam", "Angela",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Kim", "Chen", "Singh", "Okafor", "Schmidt", "Rossi", "Dubois", "Tanaka", "Kowalski",
)  # fmt: skip
CITIES = (
    ("San Francisco", "CA", "941", "US"), ("New York", "NY", "100", "US"), ("Chicago", "IL", "606", "US"),
    ("Boston", "MA", "021", "US"), ("Seattle", "WA", "981", "US"), ("Denver", "CO", "802", "US"),
    ("Austin", "TX", "787", "US"), ("Atlanta", "GA", "303", "US"), ("Miami", "FL", "331", "US"),
    ("Portland", "OR", "972", "US"), ("Toronto", "ON", "M5V", "CA"), ("Vancouver", "BC", "V6B", "CA"),
)  # fmt: skip
STREETS = ("Market St", "Main St", "Oak Ave", "Pine St", "Maple Dr", "Cedar Ln", "Elm St", "Lake Rd")
CATEGORIES = {
    "Apparel": ("Tee", "Hoodie", "Jacket", "Cap", "Socks", "Scarf"),
    "Footwear": ("Runner", "Sneaker", "Boot", "Sandal", "Loafer"),
    "Home": ("Mug", "Candle", "Throw", "Vase", "Lamp", "Cushion"),
    "Kitchen": ("Knife Set", "Skillet", "Kettle", "Grinder", "Cutting Board"),
    "Outdoors": ("Tent", "Backpack", "Bottle", "Lantern", "Hammock"),
    "Beauty": ("Serum", "Balm", "Cleanser", "Mask", "Lotion"),
    "Electronics": ("Earbuds", "Charger", "Speaker", "Cable", "Power Bank"),
    "Office": ("Notebook", "Pen Set", "Desk Mat", "Planner", "Monitor Stand"),
}
ADJECTIVES = ("Classic", "Everyday", "Summit", "Coastal", "Urban", "Heritage", "Nordic", "Essential", "Pro")
PRICE_RANGES_CENTS = {
    "Apparel": (1_500, 12_000),
    "Footwear": (4_000, 18_000),
    "Home": (900, 9_000),
    "Kitchen": (1_200, 25_000),
    "Outdoors": (1_500, 40_000),
    "Beauty": (800, 6_000),
    "Electronics": (1_000, 30_000),
    "Office": (500, 8_000),
}
COMPANY_WORDS = (
    "Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Adatum", "Proseware",
    "Lucerne", "Alpine", "Coho", "Humongous", "Margie", "Woodgrove", "Trey", "Blue Yonder",
)  # fmt: skip
COMPANY_SUFFIXES = ("Holdings", "Group", "Industries", "Partners", "Trading", "Supply")
SUBSIDIARY_SUFFIXES = ("West", "East", "Retail", "Logistics", "Europe", "Labs")
PRICE_TIERS = ("bronze", "silver", "gold", "platinum")
PAYMENT_TERMS = ("prepaid", "net_15", "net_30", "net_60")
CONTACT_ROLES = ("admin", "approver", "buyer", "buyer")
REFUND_REASONS = ("Damaged in transit", "Wrong size", "Changed mind", "Late delivery", "")
GMAIL_TAGS = ("shop", "promo", "orders", "deals")
BROWSE_TYPES = ("page_view", "product_view", "search", "product_view", "add_to_cart")
SHOP_URL = "https://shop.example.com"


def iso(ts: int) -> str:
    """Format epoch seconds as an ISO 8601 UTC string (`2026-03-04T10:11:12Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def money(cents: int) -> float:
    """Cents to a float rounded to 2 dp."""
    return round(cents / 100, 2)


def normalize_email(email: str | None) -> str | None:
    """Lower/trim an email; for gmail.com/googlemail.com also drop dots and `+tags` in the local part."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def normalize_phone(phone: str | None) -> str | None:
    """Normalise a NANP phone to E.164 (`+14155550134`); None when it is not a 10/11-digit number."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 10:
        digits = "1" + digits
    if len(digits) != 11 or not digits.startswith("1"):
        return None
    return "+" + digits


@dataclass(slots=True)
class Person:
    """One true person behind one or more store records."""

    key: str
    index: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    address: dict[str, str]
    first_seen: int
    registered: bool
    accepts_marketing: bool
    birthdate: str | None
    company_id: str | None = None
    customer_ids: list[str] = field(default_factory=list)
    account_created: int | None = None


@dataclass
class Dataset:
    """Generated canonical records of one store, the true person behind each, and a mutator."""

    now: pendulum.DateTime
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    abandoned_checkouts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    companies: list[dict[str, Any]] = field(default_factory=list)
    company_contacts: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[tuple[str, str], str] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict, repr=False)
    version: int = 0
    _next_id: dict[str, int] = field(default_factory=dict, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def records(self, stream: str) -> list[dict[str, Any]]:
        """The list of records of one stream (raises KeyError for an unknown stream)."""
        if stream not in STREAMS:
            raise KeyError(f"unknown stream {stream!r}; valid: {', '.join(STREAMS)}")
        return getattr(self, stream)

    def person_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Records that stand for a person in the store: customer accounts and guest orders."""
        for customer in self.customers:
            yield "customers", customer
        for order in self.orders:
            if order["customer_id"] is None:
                yield "orders", order

    def duplicate_rate(self) -> float:
        """Share of person records whose person already has another person record."""
        persons = [self.truth[(stream, r["id"])] for stream, r in self.person_records()]
        return 1 - len(set(persons)) / len(persons) if persons else 0.0

    def people_with_email(self) -> set[str]:
        """Person keys with at least one customer or order record carrying an email."""
        keys = {self.truth[("customers", c["id"])] for c in self.customers if c["email"]}
        keys.update(self.truth[("orders", o["id"])] for o in self.orders if o["email"])
        return keys

    def mutate(self, count: int, now: pendulum.DateTime) -> list[tuple[str, str]]:
        """Apply `count` store-side changes at `now`, bump `updated_at`, and return what changed."""
        mutator = _Mutator(self, int(now.int_timestamp))
        changed = [mutator.one() for _ in range(count)]
        self.version += 1
        return changed

    def allocate_id(self, sequence: str) -> str:
        """Next integer id (as a string) of a sequence; refunds share the `orders` post-id sequence."""
        value = self._next_id[sequence]
        self._next_id[sequence] = value + 1
        return str(value)


def generate(
    seed: int = 42,
    scale: int = 500,
    now: pendulum.DateTime | None = None,
    *,
    unlinked_duplicate_share: float = 0.0,
) -> Dataset:
    """Generate a store of `scale` true people, deterministically for a seed and `now`.

    `unlinked_duplicate_share` turns that share of the planted duplicate guest orders into ones
    that share no identifier with their person: same name (maybe mistyped) and address, another
    mailbox, no phone. Only name + address matching can find those. The default (0.0) keeps every
    duplicate sharing a normalised email or phone.
    """
    if not 0.0 <= unlinked_duplicate_share <= 1.0:
        raise ValueError("unlinked_duplicate_share must be between 0 and 1")
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if scale > len(AREA_CODES) * PHONES_PER_AREA:
        raise ValueError(f"scale above {len(AREA_CODES) * PHONES_PER_AREA} would reuse phone numbers")
    return _Builder(seed, scale, now or DEFAULT_NOW, unlinked_duplicate_share).build()


class _Names:
    """Random picks shared by the builder and the mutator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def phone_format(self, e164: str) -> str:
        """One of the formats people type a NANP number in."""
        area, exchange, line = e164[2:5], e164[5:8], e164[8:]
        return self.rng.choice(
            (
                e164,
                f"+1 {area}-{exchange}-{line}",
                f"({area}) {exchange} {line}",
                f"{area}{exchange}{line}",
                f"{area}.{exchange}.{line}",
            )
        )

    def typo(self, name: str) -> str:
        """A plausible typing slip: swap, drop or double a letter."""
        if len(name) < 4:
            return name + name[-1]
        i = self.rng.randrange(1, len(name) - 1)
        kind = self.rng.randrange(3)
        if kind == 0:
            return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        if kind == 1:
            return name[:i] + name[i + 1 :]
        return name[:i] + name[i] + name[i:]

    def email_variant(self, email: str) -> str:
        """The same mailbox written differently (case; for gmail also dots and +tags)."""
        local, _, domain = email.rpartition("@")
        if domain in GMAIL_DOMAINS and self.rng.random() < 0.7:
            bare = local.replace(".", "")
            cut = self.rng.randrange(1, len(bare))
            local = bare[:cut] + "." + bare[cut:]
            if self.rng.random() < 0.5:
                local += "+" + self.rng.choice(GMAIL_TAGS)
        else:
            local = local.capitalize() if self.rng.random() < 0.5 else local.upper()
        if self.rng.random() < 0.3:
            domain = domain.upper()
        return f"{local}@{domain}"

    def amount_cents(self, low: int, high: int) -> int:
        """A price ending in .99, .50 or .00."""
        dollars = self.rng.randrange(low // 100, high // 100)
        return dollars * 100 + self.rng.choice((99, 50, 0, 99))


@dataclass(slots=True)
class _OrderPlan:
    person: Person
    created: int
    guest: bool
    duplicate: bool = False
    company_id: str | None = None
    unlinked: bool = False


class _Records:
    """Record makers shared by the builder and the mutator (identities, addresses, baskets, orders)."""

    def __init__(self, ds: Dataset, rng: random.Random, now: int) -> None:
        self.ds = ds
        self.rng = rng
        self.names = _Names(rng)
        self.now = now
        self.active_products = [p for p in ds.products if p["status"] == "active"]
        self.company_names = {c["id"]: c["name"] for c in ds.companies}

    def when(self, low: int, high: int | None = None) -> int:
        """A random epoch second in [low, high), high defaulting to now."""
        return self.rng.randrange(low, max(low + 1, high if high is not None else self.now))

    def identity(self, person: Person, duplicate: bool, new_mailbox: bool = False) -> dict[str, Any]:
        """Names, email and phone as one record carries them; duplicates get dirtier variants.

        `new_mailbox` (a second account) needs an email string the store has not seen: a gmail
        +tag of the person's address, or a different address sharing the person's phone.
        """
        first, last, email = person.first_name, person.last_name, person.email
        phone = self.names.phone_format(person.phone) if person.phone else None
        if duplicate:
            if self.rng.random() < 0.3:
                first = self.names.typo(first)
            elif self.rng.random() < 0.2:
                last = self.names.typo(last)
            gmail = email.rpartition("@")[2] in GMAIL_DOMAINS
            if person.phone and (self.rng.random() < 0.2 or (new_mailbox and not gmail)):
                email = f"{person.first_name[0]}{person.last_name}{person.index + 1}@{ALT_EMAIL_DOMAIN}".lower()
            elif new_mailbox:
                email = f"{email.rpartition('@')[0]}+{self.rng.choice(GMAIL_TAGS)}@{email.rpartition('@')[2]}"
            else:
                email = self.names.email_variant(email)
        return {"first_name": first, "last_name": last, "email": email, "phone": phone}

    def unlinked_identity(self, person: Person) -> dict[str, Any]:
        """A record of the person under a mailbox no other person uses and no phone (maybe a name typo)."""
        first, last = person.first_name, person.last_name
        if self.rng.random() < 0.3:
            first = self.names.typo(first)
        email = f"{first[0]}.{last}.{person.index + 1}@{UNLINKED_EMAIL_DOMAIN}".lower()
        return {"first_name": first, "last_name": last, "email": email, "phone": None}

    def address(self, person: Person, ident: dict[str, Any], company: str | None) -> dict[str, Any]:
        """A canonical address object for one record of a person."""
        return {
            "first_name": ident["first_name"],
            "last_name": ident["last_name"],
            "company": company,
            **person.address,
            "phone": ident["phone"],
            "email": ident["email"],
        }

    def company_name_of(self, person: Person) -> str | None:
        """The person's company name, for address `company` fields."""
        if person.company_id is None:
            return None
        return self.company_names[person.company_id]

    def order(self, plan: _OrderPlan) -> dict[str, Any]:
        """Append a new order for a plan (status fields left for the caller) and record its truth."""
        person = plan.person
        ident = self.unlinked_identity(person) if plan.unlinked else self.identity(person, plan.duplicate)
        billing = self.address(person, ident, self.company_name_of(person))
        customer_id = None if plan.guest else person.customer_ids[0]
        order_id = self.ds.allocate_id("orders")
        order: dict[str, Any] = {
            "id": order_id,
            "order_number": order_id,
            "customer_id": customer_id,
            "email": ident["email"],
            "phone": ident["phone"],
            "billing_address": billing,
            "shipping_address": billing,  # one shared object: orders ship to the billing address
            "currency": CURRENCY,
            **self.basket(),
            "company_id": plan.company_id,
            "purchase_order_number": None,
            "approval_status": None,
            "refunds": [],
            "cancelled_at": None,
            "created_at": iso(plan.created),
            "updated_at": iso(plan.created),
        }
        self.ds.orders.append(order)
        self.ds.truth[("orders", order_id)] = person.key
        return order

    def line_items(self) -> list[dict[str, Any]]:
        """1-4 distinct active products with quantities, priced from the catalogue."""
        items = []
        for product in self.rng.sample(self.active_products, self.rng.randint(1, 4)):
            quantity = self.rng.choice((1, 1, 1, 2, 3))
            items.append(
                {
                    "id": self.ds.allocate_id("line_items"),
                    "product_id": product["id"],
                    "sku": product["sku"],
                    "title": product["title"],
                    "category": product["category"],
                    "quantity": quantity,
                    "price": product["price"],
                    "total": money(round(product["price"] * 100) * quantity),
                }
            )
        return items

    def basket(self) -> dict[str, Any]:
        """Line items and totals worked in cents so subtotal - discount + shipping + tax == total."""
        items = self.line_items()
        subtotal = sum(round(item["total"] * 100) for item in items)
        discount = subtotal // 10 if self.rng.random() < 0.2 else 0
        shipping = 0 if subtotal - discount >= FREE_SHIPPING_CENTS else SHIPPING_CENTS
        tax = (subtotal - discount) * TAX_BASIS_POINTS // 10_000
        return {
            "line_items": items,
            "subtotal": money(subtotal),
            "discount_total": money(discount),
            "shipping_total": money(shipping),
            "tax_total": money(tax),
            "total": money(subtotal - discount + shipping + tax),
        }


class _Builder(_Records):
    """Builds one Dataset; every random draw happens in a fixed order so a seed replays exactly."""

    def __init__(self, seed: int, scale: int, now: pendulum.DateTime, unlinked_duplicate_share: float = 0.0) -> None:
        now_utc = now.in_timezone("UTC")
        super().__init__(
            Dataset(now=now_utc, _rng=random.Random(f"{seed}:mutate")), random.Random(seed), now_utc.int_timestamp
        )
        self.scale = scale
        self.unlinked_duplicate_share = unlinked_duplicate_share
        self.start = self.now - HISTORY_DAYS * DAY
        self.ds._next_id = {
            "customers": 2,
            "orders": 1001,
            "line_items": 1,
            "products": 101,
            "companies": 501,
            "company_contacts": 1,
            "abandoned_checkouts": 1,
            "events": 1,
        }

    def build(self) -> Dataset:
        """Generate every stream in dependency order."""
        self._products()
        contact_slots = self._companies()
        self._people(contact_slots)
        duplicate_plans = self._duplicate_plans()
        self._customers(duplicate_plans)
        self._company_contacts()
        self._orders(duplicate_plans)
        self._abandoned_checkouts()
        self._events()
        return self.ds

    # products and companies ------------------------------------------------------------------------

    def _products(self) -> None:
        categories = list(CATEGORIES)
        for i in range(50 + self.scale // 20):
            category = categories[i % len(categories)]
            noun = self.rng.choice(CATEGORIES[category])
            created = self.when(self.start - 180 * DAY, self.start)
            updated = self.when(created, self.now) if self.rng.random() < 0.3 else created
            pid = self.ds.allocate_id("products")
            self.ds.products.append(
                {
                    "id": pid,
                    "title": f"{self.rng.choice(ADJECTIVES)} {noun} {i + 1}",
                    "sku": f"{category[:3].upper()}-{i + 1:05d}",
                    "category": category,
                    "price": money(self.names.amount_cents(*PRICE_RANGES_CENTS[category])),
                    "status": "active" if self.rng.random() < 0.95 else "archived",
                    "created_at": iso(created),
                    "updated_at": iso(updated),
                }
            )
        self.active_products = [p for p in self.ds.products if p["status"] == "active"]

    def _companies(self) -> list[tuple[str, str]]:
        """Create parents with 1-3 subsidiaries plus standalone firms; return (company, role) slots."""
        used: set[str] = set()
        slots: list[tuple[str, str]] = []
        for _ in range(max(2, self.scale // 100)):
            parent = self._company(self._company_name(used), None)
            slots += self._contact_slots(parent["id"])
            for suffix in self.rng.sample(SUBSIDIARY_SUFFIXES, self.rng.randint(1, 3)):
                child = self._company(f"{parent['name']} {suffix}", parent["id"])
                slots += self._contact_slots(child["id"])
        for _ in range(max(1, self.scale // 200)):
            slots += self._contact_slots(self._company(self._company_name(used), None)["id"])
        return slots

    def _company_name(self, used: set[str]) -> str:
        base = f"{self.rng.choice(COMPANY_WORDS)} {self.rng.choice(COMPANY_SUFFIXES)}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base} {n}"
        used.add(name)
        return name

    def _company(self, name: str, parent_id: str | None) -> dict[str, Any]:
        limit = self.rng.choice((10_000, 25_000, 50_000, 100_000)) * 100
        created = self.when(self.start, self.start + 180 * DAY)
        company = {
            "id": self.ds.allocate_id("companies"),
            "name": name,
            "domain": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".example",
            "parent_id": parent_id,
            "price_tier": self.rng.choice(PRICE_TIERS),
            "credit_limit": money(limit),
            "credit_used": money(self.rng.randrange(0, limit // 2)),
            "payment_terms": self.rng.choice(PAYMENT_TERMS),
            "created_at": iso(created),
            "updated_at": iso(self.when(created)),
        }
        self.ds.companies.append(company)
        return company

    def _contact_slots(self, company_id: str) -> list[tuple[str, str]]:
        return [(company_id, role) for role in CONTACT_ROLES[: self.rng.randint(1, 4)]]

    # people and their records -----------------------------------------------------------------------

    def _people(self, contact_slots: list[tuple[str, str]]) -> None:
        self.contact_roles: dict[str, tuple[str, str]] = {}
        domains = {c["id"]: c["domain"] for c in self.ds.companies}
        for i in range(self.scale):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            slot = contact_slots[i] if i < len(contact_slots) else None
            domain = domains[slot[0]] if slot else self.rng.choice(CONSUMER_DOMAINS)
            # the person index in the local part keeps every normalised email unique per person
            local = self.rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last[0]}")).lower()
            phone = None
            if slot or self.rng.random() < PHONE_SHARE:
                line = (i * 7_919) % PHONES_PER_AREA
                phone = f"+1{AREA_CODES[i // PHONES_PER_AREA]}555{line:04d}"
            city, state, zip_prefix, country = self.rng.choice(CITIES)
            person = Person(
                key=f"person-{i + 1:06d}",
                index=i,
                first_name=first,
                last_name=last,
                email=f"{local}{i + 1}@{domain}",
                phone=phone,
                address={
                    "address1": f"{self.rng.randint(1, 9999)} {self.rng.choice(STREETS)}",
                    "address2": None,
                    "city": city,
                    "province": state,
                    "postcode": zip_prefix + (f"{self.rng.randint(0, 99):02d}" if country == "US" else " 1A1"),
                    "country": country,
                },
                first_seen=self.when(self.start, self.now - DAY),
                registered=bool(slot) or self.rng.random() < REGISTERED_SHARE,
                accepts_marketing=self.rng.random() < 0.55,
                birthdate=self._birthdate() if self.rng.random() < 0.4 else None,
                company_id=slot[0] if slot else None,
            )
            if slot:
                self.contact_roles[person.key] = slot
            self.ds.people[person.key] = person
        self.people = list(self.ds.people.values())

    def _birthdate(self) -> str:
        return f"{self.rng.randint(1950, 2004)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"

    def _duplicate_plans(self) -> list[tuple[str, Person]]:
        """Plan the extra records that make ~10% of person records duplicates."""
        count = round(self.scale * DUPLICATE_SHARE / (1 - DUPLICATE_SHARE))
        plans = []
        for _ in range(count):
            person = self.rng.choice(self.people)
            can_open_account = person.phone or person.email.rpartition("@")[2] in GMAIL_DOMAINS
            second_account = person.registered and can_open_account and self.rng.random() < 0.3
            kind = "customers" if second_account else "orders"
            # only drawn when asked for, so the default replays the same data as before
            if kind == "orders" and self.unlinked_duplicate_share and self.rng.random() < self.unlinked_duplicate_share:
                kind = "unlinked"
            plans.append((kind, person))
        return plans

    def _customers(self, duplicate_plans: list[tuple[str, Person]]) -> None:
        self.company_names = {c["id"]: c["name"] for c in self.ds.companies}
        pending = [(p.first_seen + self.when(0, 30 * DAY), p, False) for p in self.people if p.registered]
        pending += [(self.when(p.first_seen), p, True) for kind, p in duplicate_plans if kind == "customers"]
        pending.sort(key=lambda item: (item[0], item[1].index))
        for opened, person, duplicate in pending:
            created = min(opened, self.now)
            ident = self.identity(person, duplicate, new_mailbox=duplicate)
            address = self.address(person, ident, self.company_name_of(person))
            tags = ["b2b"] if person.company_id else []
            if self.rng.random() < 0.1:
                tags.append("vip")
            customer = {
                "id": self.ds.allocate_id("customers"),
                **ident,
                "account_state": "registered",
                "accepts_marketing": person.accepts_marketing,
                "tags": tags,
                "company_id": person.company_id,
                "birthdate": person.birthdate,
                "default_address": address,
                "addresses": [address],
                "created_at": iso(created),
                "updated_at": iso(self.when(created) if self.rng.random() < 0.3 else created),
            }
            self.ds.customers.append(customer)
            self.ds.truth[("customers", customer["id"])] = person.key
            person.customer_ids.append(customer["id"])
            if person.account_created is None:
                person.account_created = created

    def _company_contacts(self) -> None:
        created_at = {c["id"]: c["created_at"] for c in self.ds.customers}
        for person in self.people:
            if person.key not in self.contact_roles:
                continue
            company_id, role = self.contact_roles[person.key]
            created = created_at[person.customer_ids[0]]
            contact = {
                "id": self.ds.allocate_id("company_contacts"),
                "company_id": company_id,
                "customer_id": person.customer_ids[0],
                "role": role,
                "created_at": created,
                "updated_at": created,
            }
            self.ds.company_contacts.append(contact)
            self.ds.truth[("company_contacts", contact["id"])] = person.key

    def _orders(self, duplicate_plans: list[tuple[str, Person]]) -> None:
        plans: list[_OrderPlan] = []
        for person in self.people:
            if not person.registered:
                plans.append(_OrderPlan(person, self.when(person.first_seen), guest=True))
                continue
            for _ in range(self.rng.choice((0, 1, 1, 2, 2, 3, 4, 5)) + (2 if person.company_id else 0)):
                created = self.when(person.account_created)
                plans.append(_OrderPlan(person, created, False, False, person.company_id))
        for kind, person in duplicate_plans:
            if kind in ("orders", "unlinked"):
                created = self.when(person.first_seen)
                plans.append(_OrderPlan(person, created, guest=True, duplicate=True, unlinked=kind == "unlinked"))
        plans.sort(key=lambda plan: (plan.created, plan.person.index))
        for plan in plans:
            self._settle(self.order(plan), plan)

    def _settle(self, order: dict[str, Any], plan: _OrderPlan) -> None:
        """Pick a lifecycle outcome and the timestamps, refunds and B2B fields that go with it."""
        created = plan.created
        updated = min(self.now, created + self.rng.randint(60, 5 * DAY))
        if plan.company_id:
            order["purchase_order_number"] = f"PO-{self.rng.randint(10_000, 99_999)}"
            order["approval_status"] = self.rng.choices(("approved", "pending", "rejected"), (85, 10, 5))[0]
        if order["approval_status"] == "pending":
            outcome = "on_hold"
        elif order["approval_status"] == "rejected":
            outcome = "cancelled"
        else:
            outcome = self.rng.choices(
                ("completed", "processing", "pending", "on_hold", "cancelled", "refunded", "partial", "failed"),
                (70, 8, 5, 3, 5, 4, 4, 1),
            )[0]
        financial, fulfillment = {
            "completed": ("paid", "fulfilled"),
            "processing": ("paid", "unfulfilled"),
            "pending": ("pending", "unfulfilled"),
            "on_hold": ("authorized", "unfulfilled"),
            "cancelled": ("voided", "unfulfilled"),
            "refunded": ("refunded", "fulfilled"),
            "partial": ("partially_refunded", "fulfilled"),
            "failed": ("failed", "unfulfilled"),
        }[outcome]
        order["financial_status"], order["fulfillment_status"] = financial, fulfillment
        order["updated_at"] = iso(updated)
        if outcome == "cancelled":
            order["cancelled_at"] = iso(updated)
        elif outcome in ("refunded", "partial"):
            total = round(order["total"] * 100)
            amount = total if outcome == "refunded" else total * self.rng.randint(20, 60) // 100
            add_refund(self.ds, order, amount, self.rng.choice(REFUND_REASONS), updated)

    # abandoned checkouts and behaviour --------------------------------------------------------------

    def _abandoned_checkouts(self) -> None:
        pending = []
        for person in self.people:
            if self.rng.random() < 0.15:
                pending.append((self.when(person.first_seen), person))
        pending.sort(key=lambda item: (item[0], item[1].index))
        for created, person in pending:
            basket = self.basket()
            completed = None
            if self.rng.random() < 0.3:
                completed = min(self.now, created + self.rng.randint(600, 3 * DAY))
            account = person.account_created
            logged_in = account is not None and created >= account and self.rng.random() < 0.7
            checkout = {
                "id": self.ds.allocate_id("abandoned_checkouts"),
                "email": person.email if self.rng.random() < 0.8 else self.names.email_variant(person.email),
                "phone": self.names.phone_format(person.phone) if person.phone else None,
                "customer_id": person.customer_ids[0] if logged_in else None,
                "currency": CURRENCY,
                "total": basket["total"],
                "line_items": basket["line_items"],
                "created_at": iso(created),
                "updated_at": iso(completed or created),
                "completed_at": iso(completed) if completed else None,
            }
            self.ds.abandoned_checkouts.append(checkout)
            self.ds.truth[("abandoned_checkouts", checkout["id"])] = person.key

    def _events(self) -> None:
        pending: list[tuple[int, int, Person, dict[str, Any]]] = []
        for person in self.people:
            if self.rng.random() < 0.4:
                pending += self._session(person)
            if person.accepts_marketing and self.rng.random() < 0.4:
                pending += self._marketing(person)
            if self.rng.random() < 0.05:
                pending.append(self._known_event(person, "ticket_opened", self.when(person.first_seen)))
            if person.phone and self.rng.random() < 0.05:
                pending.append(self._known_event(person, "sms_reply", self.when(person.first_seen)))
        pending.sort(key=lambda item: (item[0], item[1]))
        for occurred, _, person, event in pending:
            event["id"] = self.ds.allocate_id("events")
            event["occurred_at"] = iso(occurred)
            self.ds.events.append(event)
            self.ds.truth[("events", event["id"])] = person.key

    def _event(self, person: Person, at: int, kind: str, **fields: Any) -> tuple[int, int, Person, dict]:
        event = {
            "id": None,
            "type": kind,
            "anonymous_id": None,
            "customer_id": None,
            "email": None,
            "session_id": None,
            "url": None,
            "product_id": None,
            "category": None,
            "value": None,
            "occurred_at": None,
            **fields,
        }
        return at, person.index, person, event

    def _session(self, person: Person) -> list[tuple[int, int, Person, dict]]:
        """Anonymous browsing that may end in a login (links the anonymous id) or a guest checkout."""
        at = self.when(person.account_created or person.first_seen)
        session = {"anonymous_id": f"anon-{self.rng.getrandbits(64):016x}", "session_id": None}
        session["session_id"] = f"sess-{self.rng.getrandbits(48):012x}"
        out = []
        for _ in range(self.rng.randint(2, 6)):
            at += self.rng.randint(5, 300)
            out.append(self._browse(person, at, session))
        roll = self.rng.random()
        if person.customer_ids and roll < 0.5:
            session["customer_id"] = person.customer_ids[0]
            at += self.rng.randint(5, 120)
            out.append(self._event(person, at, "login", url=f"{SHOP_URL}/my-account/", **session))
            for _ in range(self.rng.randint(0, 2)):
                at += self.rng.randint(5, 300)
                out.append(self._browse(person, at, session))
        elif not person.customer_ids and roll < 0.3:
            at += self.rng.randint(5, 120)
            out.append(
                self._event(person, at, "checkout_started", url=f"{SHOP_URL}/checkout/", email=person.email, **session)
            )
        return [item for item in out if item[0] <= self.now]

    def _browse(self, person: Person, at: int, session: dict[str, Any]) -> tuple[int, int, Person, dict]:
        kind = self.rng.choice(BROWSE_TYPES)
        if kind == "search":
            term = self.rng.choice(list(CATEGORIES)).lower()
            return self._event(person, at, kind, url=f"{SHOP_URL}/?s={term}", **session)
        if kind == "page_view":
            return self._event(person, at, kind, url=f"{SHOP_URL}/", **session)
        product = self.rng.choice(self.active_products)
        return self._event(
            person,
            at,
            kind,
            url=f"{SHOP_URL}/product/{product['sku'].lower()}/",
            product_id=product["id"],
            category=product["category"],
            value=product["price"] if kind == "add_to_cart" else None,
            **session,
        )

    def _marketing(self, person: Person) -> list[tuple[int, int, Person, dict]]:
        at = self.when(person.first_seen)
        out = [self._known_event(person, "email_open", at)]
        if self.rng.random() < 0.5:
            out.append(self._known_event(person, "email_click", at + self.rng.randint(10, 3_600)))
        return [item for item in out if item[0] <= self.now]

    def _known_event(self, person: Person, kind: str, at: int) -> tuple[int, int, Person, dict]:
        customer_id = person.customer_ids[0] if person.customer_ids else None
        return self._event(person, at, kind, email=person.email, customer_id=customer_id)


def add_refund(ds: Dataset, order: dict[str, Any], amount_cents: int, reason: str, at: int) -> None:
    """Record a refund on an order and set its financial status from the refunded sum."""
    order["refunds"].append(
        {"id": ds.allocate_id("orders"), "amount": money(amount_cents), "reason": reason, "created_at": iso(at)}
    )
    refunded = sum(round(r["amount"] * 100) for r in order["refunds"])
    full = refunded >= round(order["total"] * 100)
    order["financial_status"] = "refunded" if full else "partially_refunded"
    order["updated_at"] = iso(at)


class _Mutator(_Records):
    """Store-side changes applied by `Dataset.mutate`."""

    def __init__(self, ds: Dataset, now: int) -> None:
        super().__init__(ds, ds._rng, now)

    def one(self) -> tuple[str, str]:
        """Apply one random change; fall back to a new order when the picked kind finds no target."""
        kind = self.rng.choices(("order", "cancel", "refund", "profile", "credit"), (35, 15, 15, 25, 10))[0]
        change = getattr(self, f"_{kind}")()
        return change or self._order()

    def _order(self) -> tuple[str, str]:
        person = self.ds.people[self.rng.choice(tuple(self.ds.people))]
        plan = _OrderPlan(person, self.now, guest=not person.customer_ids, company_id=person.company_id)
        order = self.order(plan)
        order["financial_status"], order["fulfillment_status"] = "paid", "unfulfilled"
        if person.company_id:
            order["purchase_order_number"] = f"PO-{self.rng.randint(10_000, 99_999)}"
            order["approval_status"] = "pending"
            order["financial_status"] = "authorized"
        return "orders", order["id"]

    def _pick_order(self, financial: tuple[str, ...], fulfillment: str) -> dict[str, Any] | None:
        orders = self.ds.orders
        for _ in range(20):
            order = orders[self.rng.randrange(len(orders))]
            if order["financial_status"] in financial and order["fulfillment_status"] == fulfillment:
                return order
        return None

    def _cancel(self) -> tuple[str, str] | None:
        order = self._pick_order(("pending", "authorized", "paid"), "unfulfilled")
        if order is None or order["cancelled_at"]:
            return None
        order["financial_status"] = "voided"
        order["cancelled_at"] = order["updated_at"] = iso(self.now)
        if order["approval_status"] == "pending":
            order["approval_status"] = "rejected"
        return "orders", order["id"]

    def _refund(self) -> tuple[str, str] | None:
        order = self._pick_order(("paid",), "fulfilled")
        if order is None:
            return None
        total = round(order["total"] * 100)
        amount = total if self.rng.random() < 0.5 else total * self.rng.randint(20, 60) // 100
        add_refund(self.ds, order, amount, self.rng.choice(REFUND_REASONS), self.now)
        return "orders", order["id"]

    def _profile(self) -> tuple[str, str] | None:
        if not self.ds.customers:
            return None
        customer = self.ds.customers[self.rng.randrange(len(self.ds.customers))]
        person = self.ds.people[self.ds.truth[("customers", customer["id"])]]
        edit = self.rng.randrange(3)
        if edit == 0:
            customer["accepts_marketing"] = not customer["accepts_marketing"]
        elif edit == 1 and person.phone:
            customer["phone"] = self.names.phone_format(person.phone)
        else:
            customer["last_name"] = self.rng.choice(LAST_NAMES)
        customer["default_address"] = {
            **customer["default_address"],
            "last_name": customer["last_name"],
            "phone": customer["phone"],
        }
        customer["addresses"] = [customer["default_address"]]
        customer["updated_at"] = iso(self.now)
        return "customers", customer["id"]

    def _credit(self) -> tuple[str, str] | None:
        if not self.ds.companies:
            return None
        company = self.ds.companies[self.rng.randrange(len(self.ds.companies))]
        limit = round(company["credit_limit"] * 100)
        company["credit_used"] = money(self.rng.randrange(0, limit))
        company["updated_at"] = iso(self.now)
        return "companies", company["id"]
