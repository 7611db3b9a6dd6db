"""Behaviour of the CRM emulator's Salesforce dialect, driven over HTTP like a real client would."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest
import requests

from store2crm.sandbox.crm_emulator import CrmEmulator, UnknownDialectError
from store2crm.sandbox.crm_emulator.salesforce_locks import LockRegistry
from store2crm.sandbox.crm_emulator.salesforce_schema import checksum

TOKEN = "00DSb0000000001!sandbox"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/services/data/v62.0"
EXT = "Store2crm_External_Id__c"
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
    """One Enterprise org for the module (stopping servers costs time); tests needing options start their own."""
    shared_clock = FakeClock()
    with CrmEmulator("salesforce", TOKEN, "enterprise", clock=shared_clock, licences=10) as emulator:
        yield emulator, shared_clock


@pytest.fixture
def clock(shared: tuple[CrmEmulator, FakeClock]) -> FakeClock:
    return shared[1]


@pytest.fixture
def crm(shared: tuple[CrmEmulator, FakeClock]) -> CrmEmulator:
    """The shared org, wiped clean, its clock back at START and no faults configured."""
    emulator, shared_clock = shared
    shared_clock.now = START
    emulator.configure_faults(error_rate=0.0, rate_limit_storm=0, partial_failure_rate=0.0, downtime_seconds=0)
    emulator.reset()
    return emulator


def call(crm: CrmEmulator, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", AUTH)
    return requests.request(method, crm.base_url + path, json=body, headers=headers, timeout=10, **kwargs)


def account(ext: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, EXT: ext, "Name": f"Account {ext}", **fields}


def contact(ext: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, EXT: ext, "LastName": f"Last {ext}", **fields}


def upsert(crm: CrmEmulator, sobject: str, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    response = call(
        crm, "PATCH", f"{API}/composite/sobjects/{sobject}/{EXT}", {"allOrNone": all_or_none, "records": records}
    )
    assert response.status_code == 200, response.text
    return response.json()


def by_ext(crm: CrmEmulator, name: str) -> dict[str, dict[str, Any]]:
    return {record[EXT]: record for record in crm.objects(name)}


def read_csv(response: requests.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


# -- sObject Collections upsert ------------------------------------------------------------------


def test_upsert_creates_then_updates_with_created_flags_and_timestamps(crm: CrmEmulator, clock: FakeClock) -> None:
    first = upsert(crm, "Account", [account("A1"), account("A2")])
    assert [(r["success"], r["created"], r["errors"]) for r in first] == [(True, True, []), (True, True, [])]
    assert all(r["id"].startswith("001") and len(r["id"]) == 18 for r in first)

    clock.advance(60)
    second = upsert(crm, "Account", [account("A1", Name="Renamed"), account("A3")])
    assert (second[0]["id"], second[0]["created"]) == (first[0]["id"], False)
    assert second[1]["created"] is True
    stored = by_ext(crm, "companies")
    assert stored["A1"]["Name"] == "Renamed"
    assert stored["A1"]["CreatedDate"] == "2026-11-01T09:00:00.000+0000"
    assert stored["A1"]["SystemModstamp"] == stored["A1"]["LastModifiedDate"] == "2026-11-01T09:01:00.000+0000"
    assert len(crm.objects("Account")) == 3


def test_ids_are_case_safe_18_characters() -> None:
    assert checksum("001A0000006Vm9r") == "IAC"  # documented example of the 15 → 18 conversion


def test_more_than_200_records_is_refused_whole(crm: CrmEmulator) -> None:
    assert len(upsert(crm, "Account", [account(f"A{i}") for i in range(200)])) == 200
    response = call(
        crm, "PATCH", f"{API}/composite/sobjects/Account/{EXT}", {"records": [account(f"B{i}") for i in range(201)]}
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert len(crm.objects("Account")) == 200


def test_per_record_errors_come_back_with_http_200(crm: CrmEmulator) -> None:
    results = upsert(
        crm,
        "Contact",
        [
            contact("C1", Email="ok@example.com"),
            {"attributes": {"type": "Contact"}, EXT: "C2", "FirstName": "No last name"},
            contact("C3", Birthdate="31/01/1990"),
            contact("C4", Email="not-an-email"),
            {"attributes": {"type": "Contact"}, "LastName": "No external id"},
        ],
    )
    assert results[0]["success"] is True
    errors = [r["errors"][0] for r in results[1:]]
    assert [e["statusCode"] for e in errors] == [
        "REQUIRED_FIELD_MISSING",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_EMAIL_ADDRESS",
        "MISSING_ARGUMENT",
    ]
    assert errors[0] == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [LastName]",
        "fields": ["LastName"],
    }
    assert list(by_ext(crm, "contacts")) == ["C1"]


def test_unknown_field_and_wrong_type_refuse_the_request(crm: CrmEmulator) -> None:
    unknown = call(crm, "PATCH", f"{API}/composite/sobjects/Account/{EXT}", {"records": [account("A1", Colour="red")]})
    assert unknown.status_code == 400
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    mixed = call(crm, "PATCH", f"{API}/composite/sobjects/Account/{EXT}", {"records": [contact("C1")]})
    assert mixed.status_code == 400
    not_external = call(crm, "PATCH", f"{API}/composite/sobjects/Account/Name", {"records": [account("A1")]})
    assert not_external.status_code == 404
    assert crm.objects("Account") == []


def test_all_or_none_rolls_back_every_record(crm: CrmEmulator) -> None:
    upsert(crm, "Account", [account("A1")])
    results = upsert(
        crm, "Account", [account("A1", Name="Changed"), account("A2"), account("A3", Name="")], all_or_none=True
    )
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert {ext: r["Name"] for ext, r in by_ext(crm, "Account").items()} == {"A1": "Account A1"}


def test_parent_by_external_id_and_missing_parent(crm: CrmEmulator) -> None:
    parents = upsert(crm, "Account", [account("P1")])
    results = upsert(
        crm,
        "Account",
        [
            account("C1", Parent={EXT: "P1"}),
            account("C2", Parent={EXT: "nope"}),
            account("C3", ParentId=parents[0]["id"]),
        ],
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0] == {
        "statusCode": "INVALID_FIELD",
        "message": f"Foreign key external ID: nope not found for field {EXT} in entity Account",
        "fields": [],
    }
    stored = by_ext(crm, "Account")
    assert stored["C1"]["ParentId"] == stored["C3"]["ParentId"] == parents[0]["id"]


def test_children_resolve_against_parents_from_earlier_requests_only(crm: CrmEmulator) -> None:
    results = upsert(crm, "Account", [account("P1"), account("C1", Parent={EXT: "P1"})])
    assert [r["success"] for r in results] == [True, False]


def test_contact_and_opportunity_link_to_their_account(crm: CrmEmulator) -> None:
    account_id = upsert(crm, "Account", [account("A1")])[0]["id"]
    assert upsert(crm, "Contact", [contact("C1", Account={EXT: "A1"})])[0]["success"]
    deal = {
        "attributes": {"type": "Opportunity"},
        EXT: "O1",
        "Name": "First order",
        "StageName": "Closed Won",
        "CloseDate": "2026-11-01",
        "Amount": 120.5,
        "AccountId": account_id,
    }
    assert upsert(crm, "Opportunity", [deal])[0]["success"]
    stored = by_ext(crm, "deals")["O1"]
    assert (stored["IsWon"], stored["IsClosed"], stored["Probability"], stored["Amount"]) == (True, True, 100.0, 120.5)
    links = {(a["fromObjectType"], a["field"], a["toObjectId"]) for a in crm.associations()}
    assert links == {("Contact", "AccountId", account_id), ("Opportunity", "AccountId", account_id)}
    bad = upsert(
        crm, "Contact", [contact("C2", AccountId="003Sb0000000001AAA"), contact("C3", AccountId="001Sb00000000ZZAAA")]
    )
    assert [r["errors"][0]["statusCode"] for r in bad] == ["MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"]


def test_duplicate_external_id_in_one_request_fails_each_copy(crm: CrmEmulator) -> None:
    results = upsert(crm, "Account", [account("A1"), account("A1")])
    assert [r["errors"][0]["statusCode"] for r in results] == ["DUPLICATE_VALUE", "DUPLICATE_VALUE"]


def test_unique_external_id_refuses_a_second_create(crm: CrmEmulator) -> None:
    assert call(crm, "POST", f"{API}/sobjects/Account", {"Name": "One", EXT: "A1"}).status_code == 201
    second = call(crm, "POST", f"{API}/sobjects/Account", {"Name": "Two", EXT: "A1"})
    assert second.status_code == 400
    assert second.json()[0]["errorCode"] == "DUPLICATE_VALUE"


def test_external_id_matching_several_records() -> None:
    with CrmEmulator("salesforce", TOKEN, "developer", unique_external_id=False) as crm:
        ids = [call(crm, "POST", f"{API}/sobjects/Account", {"Name": n, EXT: "A1"}).json()["id"] for n in "xy"]
        results = upsert(crm, "Account", [account("A1")])
        assert results[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
        assert ids[0] in results[0]["errors"][0]["message"]
        single = call(crm, "PATCH", f"{API}/sobjects/Account/{EXT}/A1", {"Name": "z"})
        assert single.status_code == 300
        assert single.json() == [f"{API}/sobjects/Account/{record_id}" for record_id in ids]


def test_single_record_upsert_answers_201_then_200(crm: CrmEmulator) -> None:
    created = call(crm, "PATCH", f"{API}/sobjects/Account/{EXT}/A1", {"Name": "One"})
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = call(crm, "PATCH", f"{API}/sobjects/Account/{EXT}/A1", {"Name": "Two"})
    assert (updated.status_code, updated.json()["created"], updated.json()["id"]) == (200, False, created.json()["id"])
    fetched = call(crm, "GET", f"{API}/sobjects/Account/{created.json()['id']}").json()
    assert fetched["Name"] == "Two"
    assert fetched["attributes"]["type"] == "Account"


def test_update_by_id_answers_204_and_stamps_the_change(crm: CrmEmulator, clock: FakeClock) -> None:
    created = call(crm, "PATCH", f"{API}/sobjects/Contact/{EXT}/C1", {"LastName": "Lee"}).json()
    clock.advance(3600)
    saved = call(crm, "PATCH", f"{API}/sobjects/Contact/{created['id']}", {"HasOptedOutOfEmail": True})
    assert (saved.status_code, saved.text) == (204, "")
    fetched = call(crm, "GET", f"{API}/sobjects/Contact/{created['id']}").json()
    assert fetched["HasOptedOutOfEmail"] is True
    assert fetched["LastName"] == "Lee"
    assert pendulum.parse(fetched["SystemModstamp"]) == START.add(seconds=3600)


def test_update_by_id_explains_what_it_refuses(crm: CrmEmulator) -> None:
    created = call(crm, "PATCH", f"{API}/sobjects/Contact/{EXT}/C1", {"LastName": "Lee"}).json()
    missing = call(crm, "PATCH", f"{API}/sobjects/Contact/003000000000000AAA", {"LastName": "Kim"})
    assert (missing.status_code, missing.json()[0]["errorCode"]) == (404, "NOT_FOUND")
    unknown = call(crm, "PATCH", f"{API}/sobjects/Contact/{created['id']}", {"Shoe_Size__c": 42})
    assert (unknown.status_code, unknown.json()[0]["errorCode"]) == (400, "INVALID_FIELD")
    not_an_object = call(crm, "PATCH", f"{API}/sobjects/Contact/{created['id']}", ["LastName"])
    assert (not_an_object.status_code, not_an_object.json()[0]["errorCode"]) == (400, "JSON_PARSER_ERROR")


# -- SOQL query ------------------------------------------------------------------------------------


def test_query_pages_by_2000_on_system_modstamp(crm: CrmEmulator, clock: FakeClock) -> None:
    load_contacts(crm, range(300))
    clock.advance(3600)
    load_contacts(crm, range(300, 4_500))
    soql = (
        "SELECT Id, LastName, Account.Name FROM Contact "
        "WHERE SystemModstamp > 2026-11-01T09:30:00Z ORDER BY SystemModstamp"
    )
    page = call(crm, "GET", f"{API}/query", params={"q": soql}).json()
    assert (page["totalSize"], page["done"], len(page["records"])) == (4_200, False, 2_000)
    assert page["records"][0]["attributes"]["type"] == "Contact"
    assert set(page["records"][0]) == {"attributes", "Id", "LastName", "Account"}
    seen = [r["Id"] for r in page["records"]]
    while not page["done"]:
        assert page["nextRecordsUrl"].startswith(f"{API}/query/01g")
        page = call(crm, "GET", page["nextRecordsUrl"]).json()
        seen.extend(r["Id"] for r in page["records"])
    assert len(seen) == len(set(seen)) == 4_200


def load_contacts(crm: CrmEmulator, numbers: range) -> None:
    for start in range(numbers.start, numbers.stop, 200):
        upsert(crm, "Contact", [contact(f"C{n}") for n in range(start, min(start + 200, numbers.stop))])


def test_query_filters_orders_and_limits(crm: CrmEmulator) -> None:
    upsert(crm, "Account", [account("A1", NumberOfEmployees=5), account("A2", NumberOfEmployees=50), account("A3")])
    upsert(crm, "Contact", [contact("C1", Account={EXT: "A2"})])
    soql = (
        "SELECT Name, NumberOfEmployees FROM Account WHERE NumberOfEmployees >= 5 AND Name != 'x' "
        "ORDER BY NumberOfEmployees DESC LIMIT 1"
    )
    body = call(crm, "GET", f"{API}/query", params={"q": soql}).json()
    assert (body["totalSize"], body["done"], body["records"][0]["Name"]) == (1, True, "Account A2")
    parent = "SELECT LastName, Account.Store2crm_External_Id__c FROM Contact"
    record = call(crm, "GET", f"{API}/query", params={"q": parent}).json()["records"][0]
    assert record["Account"][EXT] == "A2"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        ("SELECT Colour FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Lead__x", "INVALID_TYPE"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01'", "INVALID_FIELD"),
    ],
)
def test_bad_queries_answer_400_with_the_salesforce_code(crm: CrmEmulator, soql: str, code: str) -> None:
    response = call(crm, "GET", f"{API}/query", params={"q": soql})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


def test_unknown_query_locator(crm: CrmEmulator) -> None:
    response = call(crm, "GET", f"{API}/query/01gSb0000000001AAA-2000")
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- Bulk API 2.0 ----------------------------------------------------------------------------------


def test_bulk_ingest_job_lifecycle_and_result_csvs(crm: CrmEmulator) -> None:
    upsert(crm, "Account", [account("A1")])
    job = call(
        crm,
        "POST",
        f"{API}/jobs/ingest",
        {
            "object": "Contact",
            "externalIdFieldName": EXT,
            "operation": "upsert",
            "contentType": "CSV",
            "lineEnding": "LF",
        },
    ).json()
    assert (job["state"], job["contentUrl"]) == ("Open", f"services/data/v62.0/jobs/ingest/{job['id']}/batches")
    data = f"{EXT},LastName,Email,Account.{EXT}\nC1,One,one@example.com,A1\nC2,,two@example.com,A1\nC3,Three,,nope\n"
    upload = call(
        crm,
        "PUT",
        f"{API}/jobs/ingest/{job['id']}/batches",
        data=data.encode(),
        headers=AUTH | {"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = call(crm, "PATCH", f"{API}/jobs/ingest/{job['id']}", {"state": "UploadComplete"}).json()
    assert closed["state"] == "UploadComplete"
    assert call(crm, "GET", f"{API}/jobs/ingest/{job['id']}/successfulResults/").status_code == 400
    assert call(crm, "GET", f"{API}/jobs/ingest/{job['id']}").json()["state"] == "InProgress"
    done = call(crm, "GET", f"{API}/jobs/ingest/{job['id']}").json()
    assert (done["state"], done["numberRecordsProcessed"], done["numberRecordsFailed"]) == ("JobComplete", 3, 2)

    success = call(crm, "GET", f"{API}/jobs/ingest/{job['id']}/successfulResults/")
    assert success.headers["Content-Type"] == "text/csv"
    rows = read_csv(success)
    assert [(r["sf__Created"], r[EXT]) for r in rows] == [("true", "C1")]
    assert rows[0]["sf__Id"] == by_ext(crm, "Contact")["C1"]["Id"]
    failed = read_csv(call(crm, "GET", f"{API}/jobs/ingest/{job['id']}/failedResults/"))
    assert [r["sf__Error"].split(":")[0] for r in failed] == ["REQUIRED_FIELD_MISSING", "INVALID_FIELD"]
    assert by_ext(crm, "Contact")["C1"]["AccountId"] == by_ext(crm, "Account")["A1"]["Id"]


def test_bulk_job_completes_on_the_clock_and_refuses_bad_settings(crm: CrmEmulator, clock: FakeClock) -> None:
    job = call(
        crm, "POST", f"{API}/jobs/ingest", {"object": "Account", "externalIdFieldName": EXT, "operation": "upsert"}
    ).json()
    call(crm, "PUT", f"{API}/jobs/ingest/{job['id']}/batches", data=f"{EXT},Name\nA1,One\n".encode())
    call(crm, "PATCH", f"{API}/jobs/ingest/{job['id']}", {"state": "UploadComplete"})
    clock.advance(10)
    assert call(crm, "GET", f"{API}/jobs/ingest/{job['id']}").json()["state"] == "JobComplete"
    again = call(crm, "PUT", f"{API}/jobs/ingest/{job['id']}/batches", data=b"Name\nx\n")
    assert again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    wrong = call(
        crm, "POST", f"{API}/jobs/ingest", {"object": "Account", "externalIdFieldName": "Name", "operation": "upsert"}
    )
    assert (wrong.status_code, wrong.json()[0]["errorCode"]) == (400, "INVALIDJOB")


def test_bulk_upload_cap() -> None:
    with CrmEmulator("salesforce", TOKEN, "developer", bulk_upload_cap_bytes=30) as crm:
        job = call(
            crm, "POST", f"{API}/jobs/ingest", {"object": "Account", "externalIdFieldName": EXT, "operation": "upsert"}
        ).json()
        assert call(crm, "PUT", f"{API}/jobs/ingest/{job['id']}/batches", data=b"Name\nshort\n").status_code == 201
        too_big = call(crm, "PUT", f"{API}/jobs/ingest/{job['id']}/batches", data=b"Name\n" + b"x" * 20 + b"\n")
        assert too_big.status_code == 400


# -- limits, auth, faults -------------------------------------------------------------------------


def test_limits_header_and_resource_follow_edition_and_licences(crm: CrmEmulator) -> None:
    response = call(crm, "GET", f"{API}/limits")
    assert response.headers["Sforce-Limit-Info"] == "api-usage=1/110000"
    assert response.json()["DailyApiRequests"] == {"Max": 110_000, "Remaining": 109_999}
    with CrmEmulator("salesforce", TOKEN, "developer") as developer:
        assert call(developer, "GET", f"{API}/limits").json()["DailyApiRequests"]["Max"] == 15_000
    with pytest.raises(ValueError, match="valid editions"):
        CrmEmulator("salesforce", TOKEN, "starter")


def test_over_the_daily_allocation_answers_403_until_the_rolling_day_frees_calls() -> None:
    clock = FakeClock()
    with CrmEmulator("salesforce", TOKEN, "developer", clock=clock, daily_limit=2) as crm:
        call(crm, "GET", f"{API}/limits")
        clock.advance(3600)
        call(crm, "GET", f"{API}/limits")
        refused = call(crm, "GET", f"{API}/limits")
        assert refused.status_code == 403
        assert refused.json() == [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
        assert "Retry-After" not in refused.headers
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"
        clock.advance(86_400 - 3600)
        assert call(crm, "GET", f"{API}/limits").status_code == 200


def test_bad_token_is_invalid_session(crm: CrmEmulator) -> None:
    response = call(crm, "GET", f"{API}/limits", headers={"Authorization": "Bearer expired"})
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert crm.call_count(status=401) == 1


def test_storms_errors_and_downtime(crm: CrmEmulator) -> None:
    crm.configure_faults(rate_limit_storm=1)
    assert call(crm, "GET", f"{API}/limits").json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    crm.configure_faults(error_rate=1.0, error_statuses=(503,))
    assert call(crm, "GET", f"{API}/limits").status_code == 503
    crm.configure_faults(error_rate=0.0, downtime_seconds=60)
    assert call(crm, "GET", f"{API}/limits").json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    with CrmEmulator("salesforce", TOKEN, "developer", rate_limit_storm=1, storm_status=503) as stormy:
        assert call(stormy, "GET", f"{API}/limits").status_code == 503


# -- row locks ------------------------------------------------------------------------------------


def test_children_of_a_locked_parent_fail_with_unable_to_lock_row(crm: CrmEmulator) -> None:
    upsert(crm, "Account", [account("A1"), account("A2")])
    held = call(crm, "POST", "/_sandbox/locks", {"hold": [{"sobject": "Account", "external_id": "A1"}]})
    assert held.status_code == 200
    results = upsert(crm, "Contact", [contact("C1", Account={EXT: "A1"}), contact("C2", Account={EXT: "A2"})])
    assert [r["success"] for r in results] == [False, True]
    error = results[0]["errors"][0]
    assert error["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert error["message"].startswith("unable to obtain exclusive access to this record or 1 records: 001")
    call(crm, "DELETE", "/_sandbox/locks")
    assert upsert(crm, "Contact", [contact("C1", Account={EXT: "A1"})])[0]["success"]


def test_injected_partial_failures_are_lock_errors(crm: CrmEmulator) -> None:
    crm.configure_faults(partial_failure_rate=1.0)
    results = upsert(crm, "Account", [account("A1"), account("A2")])
    assert {r["errors"][0]["statusCode"] for r in results} == {"UNABLE_TO_LOCK_ROW"}


def test_second_in_flight_holder_of_a_row_is_blocked() -> None:
    locks = LockRegistry()
    row = ("Account", "001Sb0000000001IAA")
    with locks.holding("first", [row]), locks.holding("second", [row]):
        assert locks.blocked("first", [row]) == []
        assert locks.blocked("second", [row]) == [row]
    assert locks.blocked("third", [row]) == []


# -- inspection -----------------------------------------------------------------------------------


def test_stats_aliases_and_registry(crm: CrmEmulator) -> None:
    upsert(crm, "Account", [account("A1")])
    assert crm.call_count(f"PATCH {API}/composite/sobjects/Account/{EXT}", 200) == 1
    stats = requests.get(f"{crm.base_url}/_sandbox/stats", timeout=10).json()
    assert stats["dialect"] == "salesforce"
    assert stats["objects"] == {"Account": 1, "Contact": 0, "Opportunity": 0}
    assert requests.get(f"{crm.base_url}/_sandbox/objects/companies", timeout=10).json()["results"][0][EXT] == "A1"
    with pytest.raises(UnknownDialectError, match="salesforce"):
        CrmEmulator("pipedrive")
