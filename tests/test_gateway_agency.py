"""The agency web services (issue 17 parts 1, 3 and 4) through real HTTP, identity, records,
RabbitMQ and PostgreSQL, with the gateway's session cache on (as deployed): each scope and field
cut on each agency route, population and purpose refused with their codes, suspension and
expiry taking effect at once (a cached principal does not outlive a suspension), the rate per
minute and the quota per day, and the disclosure log - each pegawai sees exactly the releases of
their own data (agency answers and auditor reads), BKD lists and reports them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.records.service import RecordsService
from tests.gateway_helpers import http_login
from tests.identity_helpers import employee_for, unique_username

pytestmark = pytest.mark.timeout(240)
PURPOSE = "verifikasi-kepesertaan"
HEALTH = "alergi penisilin"


def nik_for(nip: str) -> str:
    """A NIK consistent with the NIP's birth date and gender (a woman's day + 40)."""
    day = int(nip[6:8]) + (40 if nip[14] == "2" else 0)
    return f"357801{day:02d}{nip[4:6]}{nip[2:4]}0001"


def client_body(scopes, **terms) -> dict:
    today = date.today()
    return {"client_kind": "agency", "client_id": unique_username("ins"),
            "name": "BPJS Kesehatan Jatim", "agreement_kind": "PKS",
            "agreement_number": f"PKS/{unique_username('n')}/2026", "scopes": scopes,
            "valid_from": (today - timedelta(days=1)).isoformat(),
            "valid_until": (today + timedelta(days=365)).isoformat(),
            "population_instansi": ["35"], "purposes": [PURPOSE], "reason": "PKS berbagi data",
            **terms}


def token_for(client, registered) -> str:
    answer = client.call("POST", "/api/auth/token", body={
        "client_id": registered["client_id"], "client_secret": registered["client_secret"]})
    assert answer.status == 200, answer.body
    return answer.body["access_token"]


def refused(answer, status, code, field=None):
    assert (answer.status, answer.code) == (status, code), answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    if field is not None:
        assert answer.body["field"] == field, answer.body


def test_agency_reads_are_cut_to_the_agreement_limited_and_logged_as_disclosures(
        start_gateway, own_database):
    # a database of its own: the lists' populations are exactly the employees made here
    client, people, _ = start_gateway(RecordsService, DATABASE_URL=own_database)
    admin = http_login(client, people, people.staff(["administrator"]))
    auditor_name = people.staff(["auditor"])
    auditor = http_login(client, people, auditor_name)
    # two dinkes employees with their own accounts, one of dindik
    mine, other = people.pegawai("dinkes"), people.pegawai("dinkes")
    far = people.pegawai("dindik")
    for nip, opd in ((mine, "dinkes"), (other, "dinkes"), (far, "dindik")):
        created = client.call("POST", "/api/employees", token=admin,
                              body={**employee_for(nip, opd), "nik": nik_for(nip),
                                    "catatan_kesehatan": HEALTH})
        assert created.status == 201, created.body

    # an agreement's terms are checked when it is registered
    bad = client.call("POST", "/api/clients", token=admin,
                      body=client_body(["agency:list"], allowed_fields=["name"],
                                       purposes=[]))
    refused(bad, 422, "validation_failed", "purposes")
    bad = client.call("POST", "/api/clients", token=admin,
                      body=client_body(["agency:list"], allowed_fields=["name", "nik"],
                                       purposes=[PURPOSE]))
    refused(bad, 422, "validation_failed", "allowed_fields")

    # A: both scopes, name/golongan/opd_id and NIK (named as confidential), dinkes only
    full = client.call("POST", "/api/clients", token=admin, body=client_body(
        ["agency:list", "agency:read"], allowed_fields=["name", "golongan", "opd_id", "nik"],
        confidential_fields=["nik"], population_opds=["dinkes"], rate_per_minute=100))
    assert full.status == 201, full.body
    assert full.body["population_opds"] == ["dinkes"] and not full.body["suspended"]
    a = token_for(client, full.body)
    # B: one employee at a time, names only, any OPD of the province, 3 requests a day
    reader = client.call("POST", "/api/clients", token=admin, body=client_body(
        ["agency:read"], allowed_fields=["name"], quota_per_day=3, purposes=["pensiun"]))
    b = token_for(client, reader.body)

    # -- the list: the agreement's population and fields, nothing else ---------------------
    page = client.call("GET", f"/api/agency/employees?purpose={PURPOSE}", token=a)
    assert page.status == 200, page.body
    listed = {item["nip"]: item for item in page.body["items"]}
    assert set(listed) == {mine, other}  # dinkes only
    assert all(set(i) == {"nip", "name", "golongan", "opd_id", "nik"} for i in listed.values())
    assert listed[mine]["nik"] == nik_for(mine) and listed[mine]["opd_id"] == "dinkes"
    assert page.body["disclosure_id"]
    named = client.call("GET", f"/api/agency/employees?purpose={PURPOSE}&fields=name&limit=1",
                        token=a)
    assert named.status == 200 and [set(i) for i in named.body["items"]] == [{"nip", "name"}]
    assert named.body["has_more"]
    for query, status, code, field in (
            ("fields=catatan_kesehatan", 403, "field_not_allowed", "fields"),
            ("fields=name,address", 403, "field_not_allowed", "fields"),
            ("fields=gaji", 422, "validation_failed", "fields"),
            ("opd_id=dindik", 403, "population_not_allowed", "opd_id"),
            ("instansi=3507", 403, "population_not_allowed", "instansi")):
        refused(client.call("GET", f"/api/agency/employees?purpose={PURPOSE}&{query}",
                            token=a), status, code, field)
    refused(client.call("GET", "/api/agency/employees?purpose=pemasaran", token=a), 403,
            "purpose_not_allowed", "purpose")
    refused(client.call("GET", "/api/agency/employees", token=a), 422, "validation_failed",
            "purpose")
    refused(client.call("GET", f"/api/agency/employees?purpose={PURPOSE}", token=b), 403,
            "scope_missing", "scope")
    refused(client.call("GET", f"/api/agency/employees?purpose={PURPOSE}", token=admin), 403,
            "forbidden", "role")  # people use their own routes, never the agency API
    # every route a machine client may call names its scope: an agency's agreement without
    # records:read does not reach the kab/kota's lists either
    for path in ("/api/employees", "/api/reports/headcount", "/api/monev/completeness"):
        refused(client.call("GET", path, token=a), 403, "scope_missing", "scope")
    document = client.call("GET", "/api/openapi.json").body["paths"]
    assert document["/api/agency/employees"]["get"]["x-scope"] == "agency:list"
    assert document["/api/agency/employees/{nip}"]["get"]["x-scope"] == "agency:read"
    assert document["/api/employees"]["get"]["x-scope"] == "records:read"

    # -- one employee: the same cuts; outside the population it is absent ------------------
    one = client.call("GET", f"/api/agency/employees/{mine}?purpose={PURPOSE}&fields=nik",
                      token=a)
    assert one.status == 200 and one.body == {"nip": mine, "nik": nik_for(mine)}
    refused(client.call("GET", f"/api/agency/employees/{far}?purpose={PURPOSE}", token=a),
            404, "not_found", "nip")
    refused(client.call("GET", f"/api/agency/employees/{mine}?purpose={PURPOSE}"
                               "&fields=catatan_kesehatan", token=a),
            403, "field_not_allowed", "fields")
    assert client.call("GET", f"/api/agency/employees/{far}?purpose=pensiun",
                       token=b).body == {"nip": far, "name": "Siti Rahayu"}
    refused(client.call("GET", f"/api/agency/employees/{far}?purpose=pensiun&fields=nik",
                        token=b), 403, "field_not_allowed", "fields")

    # -- the quota per day: B's third and last request today, then refused -----------------
    assert client.call("GET", f"/api/agency/employees/{other}?purpose=pensiun",
                       token=b).status == 200
    assert client.call("GET", f"/api/agency/employees/{mine}?purpose=pensiun",
                       token=b).status == 200
    over = client.call("GET", f"/api/agency/employees/{mine}?purpose=pensiun", token=b)
    refused(over, 429, "quota_exceeded", "client_id")
    assert 0 < int(over.headers["Retry-After"]) <= 86400

    # -- the rate per minute: C may send 2 at once, the third waits ------------------------
    fast = client.call("POST", "/api/clients", token=admin, body=client_body(
        ["agency:read"], allowed_fields=["name"], rate_per_minute=2))
    c = token_for(client, fast.body)
    url = f"/api/agency/employees/{mine}?purpose={PURPOSE}"
    assert [client.call("GET", url, token=c).status for _ in range(2)] == [200, 200]
    limited = client.call("GET", url, token=c)
    refused(limited, 429, "rate_limited", "client_id")
    assert int(limited.headers["Retry-After"]) >= 1

    # -- suspension stops A at once (its principal was cached), reinstating lets it in ----
    client_a = full.body["client_id"]
    suspended = client.call("POST", f"/api/clients/{client_a}/suspend", token=admin,
                            body={"reason": "dugaan penyalahgunaan data"})
    assert suspended.status == 200 and suspended.body["suspended"]
    refused(client.call("GET", url, token=a), 403, "agreement_suspended")
    refused(client.call("POST", "/api/auth/token", body={
        "client_id": client_a, "client_secret": full.body["client_secret"]}), 403,
        "agreement_suspended", "client_id")
    refused(client.call("POST", f"/api/clients/{client_a}/suspend", token=admin,
                        body={"reason": "dugaan penyalahgunaan data"}), 409,
            "agreement_already_suspended")
    assert client.call("POST", f"/api/clients/{client_a}/reinstate", token=admin,
                       body={"reason": "klarifikasi diterima"}).status == 200
    assert client.call("GET", url, token=a).status == 200
    # an agreement not (or no longer) in force: no token, and no answer
    later = client.call("POST", "/api/clients", token=admin, body=client_body(
        ["agency:read"], allowed_fields=["name"],
        valid_from=(date.today() + timedelta(days=2)).isoformat()))
    refused(client.call("POST", "/api/auth/token", body={
        "client_id": later.body["client_id"], "client_secret": later.body["client_secret"]}),
        403, "agreement_expired", "client_id")

    # -- an auditor's read is a disclosure too ---------------------------------------------
    assert client.call("GET", f"/api/employees/{other}", token=auditor).status == 200

    # -- each pegawai sees exactly the releases of their own data --------------------------
    def releases(nip):
        answer = client.call("GET", "/api/me/disclosures",
                             token=http_login(client, people, nip))
        assert answer.status == 200, answer.body
        return [(d["channel"], d["recipient"]["id"], d["purpose"], tuple(d["fields"]))
                for d in answer.body]

    a_id, b_id, c_id = client_a, reader.body["client_id"], fast.body["client_id"]
    every = ("golongan", "name", "nik", "nip", "opd_id")
    first = min(mine, other)  # the one-item page ("fields=name&limit=1") named this one
    assert releases(mine) == [  # newest first
        ("agency_api", a_id, PURPOSE, every),
        ("agency_api", c_id, PURPOSE, ("name", "nip")),
        ("agency_api", c_id, PURPOSE, ("name", "nip")),
        ("agency_api", b_id, "pensiun", ("name", "nip")),
        ("agency_api", a_id, PURPOSE, ("nik", "nip")),
        *([("agency_api", a_id, PURPOSE, ("name", "nip"))] if first == mine else []),
        ("agency_api", a_id, PURPOSE, every)]
    seen = releases(other)
    assert seen[0][:3] == ("auditor_read", auditor_name, "pemeriksaan (audit) data kepegawaian")
    assert "name" in seen[0][3] and "catatan_kesehatan" not in seen[0][3]
    assert seen[1:] == [
        ("agency_api", b_id, "pensiun", ("name", "nip")),
        *([("agency_api", a_id, PURPOSE, ("name", "nip"))] if first == other else []),
        ("agency_api", a_id, PURPOSE, every)]
    assert releases(far) == [("agency_api", b_id, "pensiun", ("name", "nip"))]

    # -- BKD: the log with filters, and the report per agency and purpose ------------------
    logged = client.call("GET", f"/api/disclosures?recipient_id={a_id}", token=auditor)
    assert logged.status == 200 and {d["basis"]["reference"] for d in logged.body} == {
        full.body["agreement_number"]}
    assert {d["channel"] for d in client.call("GET", f"/api/disclosures?nip={far}",
                                              token=admin).body} == {"agency_api"}
    report = client.call("GET", "/api/disclosures/report?channel=agency_api", token=admin)
    assert report.status == 200, report.body
    rows = {(r["recipient"]["id"], r["purpose"]): r for r in report.body["per_recipient"]}
    assert rows[(a_id, PURPOSE)]["subjects"] == 2 and rows[(a_id, PURPOSE)]["disclosures"] == 4
    assert rows[(b_id, "pensiun")]["subjects"] == 3
    refused(client.call("GET", "/api/disclosures/report", token=http_login(
        client, people, far)), 403, "forbidden", "role")
