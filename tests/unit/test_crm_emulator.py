"""Behaviour of the CRM emulator's HubSpot dialect, driven over HTTP like a real client would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest
import requests

from store2crm.sandbox.crm_emulator import CrmEmulator, UnknownDialectError, serve_crm

TOKEN = "pat-sandbox"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
COMPANIES = "/crm/v3/objects/companies"


START = pendulum.datetime(2026, 11, 1, 9, 0, 0, tz="UTC")


class FakeClock:
    """Time that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now = self.now.add(seconds=seconds)


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[CrmEmulator, FakeClock]]:
    """One default emulator for the module: stopping a server costs half a second."""
    shared_clock = FakeClock()
    with CrmEmulator(clock=shared_clock) as emulator:
        yield emulator, shared_clock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def crm(shared: tuple[CrmEmulator, FakeClock]) -> CrmEmulator:
    """The shared emulator, wiped clean, its clock back at START and no faults configured."""
    emulator, shared_clock = shared
    shared_clock.now = START
    emulator.configure_faults(error_rate=0.0, rate_limit_storm=0, reset_rate=0.0, timeout_rate=0.0)
    emulator.configure_faults(partial_failure_rate=0.0, downtime_seconds=0)
    emulator.reset()
    return emulator


def post(crm: CrmEmulator, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(crm.base_url + path, json=body, headers=AUTH if headers is None else headers, timeout=5)


def get(crm: CrmEmulator, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(crm.base_url + path, headers=AUTH if headers is None else headers, timeout=5)


def upsert_contacts(crm: CrmEmulator, *inputs: dict[str, Any]) -> requests.Response:
    return post(crm, f"{CONTACTS}/batch/upsert", {"inputs": list(inputs)})


def by_email(email: str, trace: str | None = None, **properties: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": email, "idProperty": "email", "properties": properties}
    if trace is not None:
        item["objectWriteTraceId"] = trace
    return item


# -- batch upsert -------------------------------------------------------------------------------


def test_upsert_creates_then_updates_the_same_contact(crm: CrmEmulator, shared: tuple[CrmEmulator, FakeClock]) -> None:
    _, clock = shared
    created = upsert_contacts(crm, by_email("Ada@Example.com", firstname="Ada"))
    clock.advance(60)
    updated = upsert_contacts(crm, by_email("ada@example.com", lastname="Lovelace"))

    assert created.status_code == 200 and updated.status_code == 200
    first, second = created.json()["results"][0], updated.json()["results"][0]
    assert (first["new"], second["new"]) == (True, False)
    assert first["id"] == second["id"]
    assert second["properties"]["email"] == "ada@example.com"
    assert second["properties"]["firstname"] == "Ada" and second["properties"]["lastname"] == "Lovelace"
    assert second["properties"]["hs_object_id"] == first["id"]
    assert second["properties"]["createdate"] == "2026-11-01T09:00:00.000Z"
    assert second["properties"]["lastmodifieddate"] == "2026-11-01T09:01:00.000Z"
    assert second["updatedAt"] == "2026-11-01T09:01:00.000Z"
    assert updated.json()["status"] == "COMPLETE"
    assert [c["id"] for c in crm.objects("contacts")] == [first["id"]]


def test_date_versioned_path_reaches_the_same_objects(crm: CrmEmulator) -> None:
    upsert_contacts(crm, by_email("ada@example.com"))
    response = post(crm, "/crm/objects/2026-03/0-1/batch/upsert", {"inputs": [by_email("ada@example.com")]})

    assert response.status_code == 200
    assert response.json()["results"][0]["new"] is False
    assert crm.call_count("POST /crm/v3/objects/contacts/batch/upsert") == 2


def test_upsert_by_a_property_that_is_not_unique_is_rejected(crm: CrmEmulator) -> None:
    response = post(
        crm, f"{COMPANIES}/batch/upsert", {"inputs": [{"id": "acme.com", "idProperty": "domain", "properties": {}}]}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert "non-unique 0-2 property domain" in body["message"]
    assert crm.objects("companies") == []


def test_upsert_by_a_custom_unique_property(crm: CrmEmulator) -> None:
    created = post(
        crm,
        "/crm/v3/properties/companies",
        {
            "name": "external_id",
            "label": "External id",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
            "hasUniqueValue": True,
        },
    )
    item = {"id": "shop:1:42", "idProperty": "external_id", "properties": {"name": "Acme"}}
    first = post(crm, f"{COMPANIES}/batch/upsert", {"inputs": [item]})
    again = post(crm, f"{COMPANIES}/batch/upsert", {"inputs": [{**item, "properties": {"name": "Acme Ltd"}}]})

    assert created.status_code == 201 and created.json()["hasUniqueValue"] is True
    assert first.json()["results"][0]["new"] is True
    assert again.json()["results"][0]["new"] is False
    assert [c["properties"]["name"] for c in crm.objects("companies")] == ["Acme Ltd"]
    assert crm.objects("companies")[0]["properties"]["external_id"] == "shop:1:42"


def test_a_batch_of_more_than_100_inputs_is_rejected(crm: CrmEmulator) -> None:
    hundred = [by_email(f"p{i}@example.com") for i in range(100)]

    accepted = upsert_contacts(crm, *hundred)
    rejected = upsert_contacts(crm, *hundred, by_email("one-more@example.com"))

    assert accepted.status_code == 200 and len(accepted.json()["results"]) == 100
    assert rejected.status_code == 400
    assert rejected.json()["category"] == "VALIDATION_ERROR"
    assert "maximum number of inputs supported in a batch is 100" in rejected.json()["message"]
    assert len(crm.objects("contacts")) == 100


def test_scalar_values_are_read_as_text(crm: CrmEmulator) -> None:
    response = upsert_contacts(crm, by_email("ada@example.com", zip=12345, firstname=True))

    assert response.status_code == 200
    properties = response.json()["results"][0]["properties"]
    assert (properties["zip"], properties["firstname"]) == ("12345", "true")


def test_an_object_value_fails_the_whole_request(crm: CrmEmulator) -> None:
    response = upsert_contacts(crm, by_email("ok@example.com"), by_email("bad@example.com", city={"name": "Ghent"}))

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert "inputs[1].properties.city" in response.json()["message"]
    assert crm.objects("contacts") == []


def test_duplicate_ids_in_one_upsert_batch_are_rejected(crm: CrmEmulator) -> None:
    response = upsert_contacts(crm, by_email("ada@example.com"), by_email("ADA@example.com"))

    assert response.status_code == 400
    assert "Duplicate IDs" in response.json()["message"]


def test_unknown_read_only_and_malformed_properties_are_named(crm: CrmEmulator) -> None:
    response = upsert_contacts(crm, by_email("ada@example.com", shoe_size="42", hs_object_id="7"))
    bad_email = post(crm, f"{CONTACTS}/batch/create", {"inputs": [{"properties": {"email": "not-an-email"}}]})

    assert response.status_code == 400
    codes = {(e["code"], e["context"]["propertyName"][0]) for e in response.json()["errors"]}
    assert codes == {("PROPERTY_DOESNT_EXIST", "shoe_size"), ("READ_ONLY_VALUE", "hs_object_id")}
    assert response.json()["message"].startswith("Property values were not valid: [")
    assert bad_email.json()["errors"][0]["code"] == "INVALID_EMAIL"


# -- create, update, read, partial failure ------------------------------------------------------


def test_contact_email_is_unique_and_a_conflict_fails_the_batch(crm: CrmEmulator) -> None:
    existing = upsert_contacts(crm, by_email("ada@example.com")).json()["results"][0]["id"]

    response = post(
        crm,
        f"{CONTACTS}/batch/create",
        {"inputs": [{"properties": {"email": "new@example.com"}}, {"properties": {"email": "ADA@example.com"}}]},
    )

    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert response.json()["message"] == f"Contact already exists. Existing ID: {existing}"
    assert [c["properties"]["email"] for c in crm.objects("contacts")] == ["ada@example.com"]


def test_partial_failure_is_207_with_errors_matched_by_trace_id(crm: CrmEmulator) -> None:
    existing = upsert_contacts(crm, by_email("ada@example.com")).json()["results"][0]["id"]
    inputs = [
        {"properties": {"email": "bob@example.com"}, "objectWriteTraceId": "t-ok"},
        {"properties": {"email": "cy@example.com", "shoe_size": "42"}, "objectWriteTraceId": "t-bad-prop"},
        {"properties": {"email": "ada@example.com"}, "objectWriteTraceId": "t-dup"},
    ]

    response = post(crm, f"{CONTACTS}/batch/create", {"inputs": inputs})

    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 2
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["t-ok"]
    errors = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert errors["t-bad-prop"]["category"] == "VALIDATION_ERROR"
    assert "PROPERTY_DOESNT_EXIST" in errors["t-bad-prop"]["message"]
    assert errors["t-dup"]["category"] == "CONFLICT"
    assert errors["t-dup"]["context"]["existingId"] == [existing]
    assert all(e["status"] == "error" for e in body["errors"])
    assert sorted(c["properties"]["email"] for c in crm.objects("contacts")) == ["ada@example.com", "bob@example.com"]


def test_upsert_partial_failure_keeps_the_good_inputs(crm: CrmEmulator) -> None:
    response = upsert_contacts(
        crm, by_email("ok@example.com", "a", firstname="Ok"), by_email("bad@example.com", "b", shoe_size="9")
    )

    assert response.status_code == 207
    assert [r["objectWriteTraceId"] for r in response.json()["results"]] == ["a"]
    assert response.json()["errors"][0]["context"]["objectWriteTraceId"] == ["b"]
    assert [c["properties"]["email"] for c in crm.objects("contacts")] == ["ok@example.com"]


def test_update_of_unknown_ids_reports_them_together(crm: CrmEmulator) -> None:
    known = upsert_contacts(crm, by_email("ada@example.com")).json()["results"][0]["id"]
    inputs = [
        {"id": known, "properties": {"firstname": "Ada"}},
        {"id": "9991", "properties": {"firstname": "Nobody"}},
        {"id": "9992", "properties": {"firstname": "Nobody"}},
    ]

    response = post(crm, f"{CONTACTS}/batch/update", {"inputs": inputs})

    assert response.status_code == 207
    assert [r["properties"]["firstname"] for r in response.json()["results"]] == ["Ada"]
    (error,) = response.json()["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND" and error["context"]["ids"] == ["9991", "9992"]


def test_batch_read_returns_asked_properties_and_missing_ids(crm: CrmEmulator) -> None:
    known = upsert_contacts(crm, by_email("ada@example.com", city="Ghent")).json()["results"][0]["id"]

    response = post(
        crm, f"{CONTACTS}/batch/read", {"inputs": [{"id": known}, {"id": "404"}], "properties": ["city", "zip"]}
    )

    default = post(crm, f"{CONTACTS}/batch/read", {"inputs": [{"id": known}]})

    assert response.status_code == 207
    assert response.json()["results"][0]["properties"] == {"city": "Ghent", "zip": None}
    assert response.json()["errors"][0]["context"]["ids"] == ["404"]
    assert default.status_code == 200 and "city" not in default.json()["results"][0]["properties"]


def test_list_pages_with_limit_and_after_and_get_by_id(crm: CrmEmulator) -> None:
    ids = [r["id"] for r in upsert_contacts(crm, *(by_email(f"p{i}@example.com") for i in range(5))).json()["results"]]

    first = get(crm, f"{CONTACTS}?limit=2").json()
    second = get(crm, f"{CONTACTS}?limit=2&after={first['paging']['next']['after']}").json()
    last = get(crm, f"{CONTACTS}?limit=2&after={second['paging']['next']['after']}").json()
    one = get(crm, f"{CONTACTS}/{ids[3]}?properties=email")
    missing = get(crm, f"{CONTACTS}/424242")

    assert [r["id"] for r in first["results"] + second["results"] + last["results"]] == ids
    assert "paging" not in last
    assert first["paging"]["next"]["link"].startswith(crm.base_url)
    assert set(first["results"][0]["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert one.json()["properties"] == {"email": "p3@example.com"}
    assert missing.status_code == 404


# -- properties and associations ----------------------------------------------------------------


def test_properties_api_creates_reads_and_refuses_duplicates(crm: CrmEmulator) -> None:
    spec = {"name": "segments", "label": "Segments", "type": "string", "fieldType": "textarea", "groupName": "g"}

    created = post(crm, "/crm/v3/properties/contacts", spec)
    again = post(crm, "/crm/v3/properties/contacts", spec)
    default = post(crm, "/crm/v3/properties/contacts", {**spec, "name": "email"})
    incomplete = post(crm, "/crm/v3/properties/contacts", {"name": "x", "label": "X"})
    one = get(crm, "/crm/v3/properties/contacts/segments")
    listing = get(crm, "/crm/v3/properties/contacts").json()["results"]
    usable = upsert_contacts(crm, by_email("ada@example.com", segments="vip;b2b"))

    assert created.status_code == 201
    assert created.json()["hasUniqueValue"] is False and created.json()["fieldType"] == "textarea"
    assert again.status_code == 409 and default.status_code == 409
    assert again.json()["category"] == "OBJECT_ALREADY_EXISTS"
    assert incomplete.status_code == 400 and "[type, fieldType, groupName]" in incomplete.json()["message"]
    assert one.json()["label"] == "Segments"
    assert {"email", "segments", "hs_object_id"} <= {p["name"] for p in listing}
    assert usable.json()["results"][0]["properties"]["segments"] == "vip;b2b"


def test_properties_batch_create_reports_existing_ones(crm: CrmEmulator) -> None:
    def spec(name: str) -> dict[str, str]:
        return {"name": name, "label": name, "type": "number", "fieldType": "number", "groupName": "dealinformation"}

    response = post(crm, "/crm/v3/properties/deals/batch/create", {"inputs": [spec("margin"), spec("amount")]})

    assert response.status_code == 207
    assert [p["name"] for p in response.json()["results"]] == ["margin"]
    assert response.json()["errors"][0]["context"]["name"] == ["amount"]


def test_associations_are_stored_with_hubspot_type_ids(crm: CrmEmulator) -> None:
    contact = upsert_contacts(crm, by_email("ada@example.com")).json()["results"][0]["id"]
    company = post(crm, f"{COMPANIES}/batch/create", {"inputs": [{"properties": {"name": "Acme"}}]}).json()
    company_id = company["results"][0]["id"]
    link = {
        "from": {"id": contact},
        "to": {"id": company_id},
        "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279},
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1},
        ],
    }

    created = post(crm, "/crm/v4/associations/contacts/companies/batch/create", {"inputs": [link]})
    wrong_type = post(
        crm,
        "/crm/v4/associations/contacts/companies/batch/create",
        {"inputs": [{**link, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}]}]},
    )
    missing = post(
        crm, "/crm/v4/associations/contacts/companies/batch/create", {"inputs": [{**link, "to": {"id": "999"}}]}
    )

    assert created.status_code == 201
    assert created.json()["results"] == [
        {
            "fromObjectTypeId": "0-1",
            "fromObjectId": contact,
            "toObjectTypeId": "0-2",
            "toObjectId": company_id,
            "labels": ["Primary"],
        }
    ]
    assert {(a["toObjectId"], a["associationTypeId"]) for a in crm.associations()} == {
        (company_id, 279),
        (company_id, 1),
    }
    assert wrong_type.status_code == 400
    assert missing.status_code == 207 and missing.json()["numErrors"] == 1
    assert len(get(crm, "/_sandbox/associations").json()["results"]) == 2


# -- auth and rate limits -----------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer pat-wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401_and_uses_no_quota(crm: CrmEmulator, headers: dict[str, str]) -> None:
    response = get(crm, CONTACTS, headers=headers)

    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"
    assert response.json()["message"].startswith("Authentication credentials not found.")
    assert TOKEN not in response.text
    assert "X-HubSpot-RateLimit-Remaining" not in response.headers
    assert get(crm, CONTACTS).headers["X-HubSpot-RateLimit-Remaining"] == "99"


def test_rate_limit_headers_and_429_body_when_the_window_is_full(clock: FakeClock) -> None:
    with CrmEmulator(clock=clock, window_limit=3, window_seconds=2) as crm:
        seen = [get(crm, CONTACTS) for _ in range(4)]

    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
    assert seen[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert seen[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "2000"
    assert seen[0].headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert seen[2].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249997"
    body = seen[3].json()
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert "correlationId" in body


def test_the_window_rolls_over_when_the_clock_moves(clock: FakeClock) -> None:
    with CrmEmulator(clock=clock, window_limit=2) as crm:
        get(crm, CONTACTS)
        clock.advance(6)
        get(crm, CONTACTS)
        full = get(crm, CONTACTS)
        clock.advance(4)  # the first call is now 10 s old and leaves the window
        freed = get(crm, CONTACTS)
        still_full = get(crm, CONTACTS)

    assert (full.status_code, freed.status_code, still_full.status_code) == (429, 200, 429)


def test_the_daily_limit_and_its_reset_at_midnight_utc(clock: FakeClock) -> None:
    with CrmEmulator(clock=clock, daily_limit=2) as crm:
        allowed = [get(crm, CONTACTS) for _ in range(2)]
        refused = get(crm, CONTACTS)
        clock.now = clock.now.add(days=1).start_of("day")
        next_day = get(crm, CONTACTS)

    assert [r.status_code for r in allowed] == [200, 200]
    assert allowed[1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    assert refused.json()["message"] == "You have reached your daily limit."
    assert next_day.status_code == 200 and next_day.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"


@pytest.mark.parametrize(
    ("tier", "per_window", "per_day"),
    [("free", "100", "250000"), ("professional", "190", "625000"), ("enterprise", "190", "1000000")],
)
def test_tiers_carry_hubspots_published_limits(tier: str, per_window: str, per_day: str) -> None:
    with CrmEmulator(tier=tier) as crm:
        headers = get(crm, CONTACTS).headers

    assert (headers["X-HubSpot-RateLimit-Max"], headers["X-HubSpot-RateLimit-Daily"]) == (per_window, per_day)


def test_unknown_dialect_and_tier_name_the_valid_ones() -> None:
    with pytest.raises(UnknownDialectError, match="valid dialects: hubspot"):
        CrmEmulator(dialect="pipedrive")
    with pytest.raises(ValueError, match="valid tiers: free, starter, professional, enterprise"):
        CrmEmulator(tier="platinum")


def test_an_epoch_seconds_clock_is_accepted() -> None:
    with CrmEmulator(clock=lambda: 1_793_523_600.5) as crm:
        created = upsert_contacts(crm, by_email("ada@example.com")).json()["results"][0]

    assert created["createdAt"] == "2026-11-01T09:00:00.500Z"


# -- faults, inspection, serving ----------------------------------------------------------------


def test_a_forced_429_storm_then_recovery(crm: CrmEmulator) -> None:
    crm.configure_faults(rate_limit_storm=2)

    statuses = [get(crm, CONTACTS).status_code for _ in range(3)]

    assert statuses == [429, 429, 200]
    assert crm.call_count(status=429) == 2


def test_the_error_rate_is_reproducible_from_the_seed(crm: CrmEmulator) -> None:
    def run() -> list[int]:
        crm.configure_faults(error_rate=0.5, seed=7)
        return [get(crm, CONTACTS).status_code for _ in range(20)]

    first, second = run(), run()

    assert first == second
    assert {s for s in first if s != 200} <= {500, 502, 503, 504}
    assert 0 < sum(s != 200 for s in first) < 20


def test_faults_can_be_set_over_http(crm: CrmEmulator) -> None:
    settings = post(crm, "/_sandbox/faults", {"error_rate": 1.0, "error_statuses": [503]}, headers={})

    assert settings.json()["error_rate"] == 1.0
    assert get(crm, CONTACTS).status_code == 503
    assert post(crm, "/_sandbox/faults", {"error_rate": 2}, headers={}).status_code == 400


def test_sandbox_inspection_stats_and_reset(crm: CrmEmulator) -> None:
    upsert_contacts(crm, by_email("ada@example.com"))
    get(crm, CONTACTS, headers={})

    objects = get(crm, "/_sandbox/objects/contacts", headers={}).json()["results"]
    stats = get(crm, "/_sandbox/stats", headers={}).json()
    upsert_key = "POST /crm/v3/objects/contacts/batch/upsert"

    assert [o["properties"]["email"] for o in objects] == ["ada@example.com"]
    assert stats["calls"]["by_endpoint"][upsert_key] == {"200": 1}
    assert stats["calls"]["by_endpoint"]["GET /crm/v3/objects/contacts"] == {"401": 1}
    assert stats["objects"]["contacts"] == 1
    assert crm.call_count(upsert_key) == 1 and crm.call_count(status=401) == 1
    assert get(crm, "/_sandbox/objects/tickets", headers={}).status_code == 404

    assert post(crm, "/_sandbox/reset", None, headers={}).status_code == 200
    assert crm.objects("contacts") == [] and crm.call_count() == 0
    assert get(crm, CONTACTS).headers["X-HubSpot-RateLimit-Remaining"] == "99"


def test_concurrent_upserts_of_one_email_make_one_contact(crm: CrmEmulator) -> None:
    def hammer() -> None:
        for _ in range(5):
            upsert_contacts(crm, by_email("ada@example.com", firstname="Ada"))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(crm.objects("contacts")) == 1
    assert crm.call_count("POST /crm/v3/objects/contacts/batch/upsert", 200) == 20


def test_serve_crm_prints_url_and_token_and_stops_cleanly() -> None:
    stop, ready = threading.Event(), threading.Event()
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        ready.set()

    server = threading.Thread(target=serve_crm, kwargs={"tier": "professional", "stop": stop, "echo": echo})
    server.start()
    try:
        assert ready.wait(5)
        base_url = lines[0].split(" at ")[1].split(" ")[0]
        response = requests.get(base_url + CONTACTS, headers=AUTH, timeout=5)
    finally:
        stop.set()
        server.join(5)

    assert len(lines) == 1 and TOKEN in lines[0] and base_url.startswith("http://127.0.0.1:")
    assert response.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert not server.is_alive()


# -- search and connection faults ----------------------------------------------------------------


def test_search_filters_on_lastmodifieddate_sorts_and_pages(crm, shared):
    _, clock = shared
    upsert_contacts(crm, *(by_email(f"p{n}@example.com") for n in range(3)))
    clock.advance(60)
    cutoff = int(clock.now.timestamp() * 1000)
    upsert_contacts(crm, by_email("p1@example.com", firstname="Changed"), by_email("p9@example.com"))
    body = {
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(cutoff)}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "firstname"],
        "limit": 1,
    }
    first = post(crm, f"{CONTACTS}/search", body)
    assert first.status_code == 200 and "X-HubSpot-RateLimit-Remaining" not in first.headers
    page = first.json()
    assert page["total"] == 2 and page["paging"]["next"]["after"] == "1"
    second = post(crm, f"{CONTACTS}/search", {**body, "after": "1"}).json()
    assert {r["properties"]["email"] for r in page["results"] + second["results"]} == {
        "p1@example.com",
        "p9@example.com",
    }
    assert "paging" not in second
    assert post(crm, f"{CONTACTS}/search", {**body, "limit": 201}).status_code == 400
    assert post(crm, f"{CONTACTS}/search", {**body, "after": "10000"}).status_code == 400


def test_downtime_answers_503_until_it_ends(crm, shared):
    _, clock = shared
    crm.configure_faults(downtime_seconds=30)
    assert get(crm, CONTACTS).status_code == 503
    clock.advance(30)
    assert get(crm, CONTACTS).status_code == 200


def test_a_timeout_applies_the_write_but_drops_the_answer(crm):
    crm.configure_faults(timeout_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        upsert_contacts(crm, by_email("lost@example.com"))
    crm.configure_faults(timeout_rate=0.0)
    assert [c["properties"]["email"] for c in crm.objects("contacts")] == ["lost@example.com"]


def test_partial_failures_fail_single_inputs_of_a_multi_status_batch(crm):
    crm.configure_faults(partial_failure_rate=1.0)
    answer = upsert_contacts(crm, by_email("a@example.com", "0"), by_email("b@example.com", "1"))
    crm.configure_faults(partial_failure_rate=0.0)
    assert answer.status_code == 207 and answer.json()["numErrors"] == 2
    assert crm.objects("contacts") == []
