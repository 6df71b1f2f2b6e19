"""Data requests with consent (permintaan data, issue 17 part 2) through the gateway, against
real services: an OPD's fasilitator asks for another OPD's data; BKD decides (never the
requester); each person concerned is asked in the web application's consent list and in their
inbox; the release is a signed export of the consenting persons only, of the requested fields
only, for the requester only, until it expires. No personal data leaves otherwise: a refused
request releases nothing, no consent yet releases nothing, a refusal or no answer keeps the
person out, an expired file is 410, someone else's request is 404. One service start."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from services.records.service import RecordsService
from services.reporting import domain
from services.reporting.service import ReportingService
from services.signing import pki
from services.signing.service import SigningService
from services.verification.service import VerificationService
from shared.contracts.reporting import DATA_REQUEST_FIELDS
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.helpers import fetch
from tests.identity_helpers import PASSWORD, employee_for, unique_nip

pytestmark = pytest.mark.timeout(240)
PURPOSE = "penelitian beban kerja guru untuk kajian kebijakan"


def test_the_requestable_fields_have_headings():
    assert tuple(domain.REQUESTABLE_FIELDS) == DATA_REQUEST_FIELDS
    assert domain.releasable({"1": "given", "2": "refused", "3": "pending"}) == ["1"]
    assert domain.data_request_four_eyes("a", "a") and not domain.data_request_four_eyes("a", "b")


def _problem(answer, status: int, code: str) -> None:
    assert answer.status == status and answer.code == code, (answer.status, answer.body)
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_no_personal_data_leaves_without_an_approved_request_and_consent(
        start_gateway, database_url, keystore_dir):
    client, people, config = start_gateway(
        RecordsService, ReportingService, SigningService, VerificationService,
        EXPORT_POLL_SECONDS=0.2, SUBSCRIPTION_SWEEP_SECONDS=0.2)
    approver_login = people.staff(["administrator"])
    pki.add_signer(keystore_dir, approver_login, "Dr. Hadi Prasetyo, S.H., M.H.",
                   "Kepala Badan Kepegawaian Daerah")
    approver = http_login(client, people, approver_login)
    requester = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    stranger = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))
    auditor = http_login(client, people, people.staff(["auditor"]))

    # four teachers of dindik (three have accounts), one of dinkes
    opd = "dindik"
    nips = [unique_nip() for _ in range(4)]
    names = ["Ani Consent", "Budi Refuses", "Citra Silent", "Dodi NoAccount"]
    outsider = unique_nip()
    for nip, name in zip(nips, names, strict=True):
        answer = client.call("POST", "/api/employees", token=approver,
                             body={**employee_for(nip, opd), "name": name})
        assert answer.status == 201, answer.body
    assert client.call("POST", "/api/employees", token=approver,
                       body=employee_for(outsider, "dinkes")).status == 201
    pegawai = {}
    for nip in nips[:3] + [outsider]:
        people.boot.create({"login": nip, "display_name": "Pegawai", "roles": ["pegawai"],
                            "email": f"{nip}@mail.test", "home_opd": opd}, PASSWORD)
        pegawai[nip] = http_login(client, people, nip)
    wait_for(lambda: fetch(database_url, "SELECT count(*) FROM reporting.employees WHERE "
                                         "nip = ANY(%s)", ([*nips, outsider],))[0][0] == 5,
             timeout=60, message="the employee list holds the four")

    body = {"organisation": "Universitas Airlangga", "purpose": PURPOSE,
            "fields": ["name", "golongan"],
            # the OPD's teachers named (the database is shared with other tests' dindik)
            "population": {"opd_id": opd, "nips": [*nips, outsider]},
            "period_from": "2026-12-01", "period_until": "2027-06-30"}
    filed = client.call("POST", "/api/data-requests", token=requester, body=body)
    assert filed.status == 201 and filed.body["state"] == "submitted", filed.body
    rid = filed.body["request_id"]
    assert filed.body["fields"] == ["name", "golongan"]

    # bad input names its field; a pegawai files nothing
    bad = client.call("POST", "/api/data-requests", token=requester,
                      body={**body, "fields": ["nik"], "period_until": "2025-01-01"})
    _problem(bad, 422, "validation_failed")
    assert client.call("POST", "/api/data-requests", token=pegawai[nips[0]],
                       body=body).status == 403

    # someone else's request: not found, whatever they try
    for method, path, payload in (("GET", f"/api/data-requests/{rid}", None),
                                  ("POST", f"/api/data-requests/{rid}/release",
                                   {"format": "csv"}),
                                  ("GET", f"/api/data-requests/{rid}/file", None)):
        _problem(client.call(method, path, token=stranger, body=payload), 404, "not_found")
    assert [r["request_id"] for r in client.call("GET", "/api/data-requests",
                                                 token=stranger).body] == []
    assert rid in [r["request_id"] for r in client.call("GET", "/api/data-requests",
                                                        token=auditor).body]

    # nothing before the decision; the requester never decides their own (four eyes)
    _problem(client.call("POST", f"/api/data-requests/{rid}/release", token=requester,
                         body={"format": "csv"}), 409, "data_request_state")
    own = client.call("POST", "/api/data-requests", token=approver, body=body).body
    _problem(client.call("POST", f"/api/data-requests/{own['request_id']}/decision",
                         token=approver, body={"approve": True, "reason": "untuk diri sendiri"}),
             403, "four_eyes")

    # a refused request: nothing, ever; nobody is even asked
    refused = client.call("POST", "/api/data-requests", token=requester,
                          body={**body, "population": {"nips": nips[:1]}}).body
    decided = client.call("POST", f"/api/data-requests/{refused['request_id']}/decision",
                          token=approver, body={"approve": False,
                                                "reason": "tujuan tidak sesuai SOP"})
    assert decided.status == 200 and decided.body["state"] == "refused"
    assert decided.body["decision_reason"] == "tujuan tidak sesuai SOP"
    _problem(client.call("POST", f"/api/data-requests/{refused['request_id']}/release",
                         token=requester, body={"format": "csv"}), 409, "data_request_state")
    _problem(client.call("POST", f"/api/me/consents/{refused['request_id']}",
                         token=pegawai[nips[0]], body={"consent": True}), 404, "not_found")

    approved = client.call("POST", f"/api/data-requests/{rid}/decision", token=approver,
                           body={"approve": True, "reason": "sesuai SOP permintaan data"})
    assert approved.status == 200 and approved.body["state"] == "approved", approved.body
    assert approved.body["consents"] == {"given": 0, "refused": 0, "pending": 4}
    _problem(client.call("POST", f"/api/data-requests/{rid}/decision", token=approver,
                         body={"approve": False, "reason": "berubah pikiran"}),
             409, "data_request_state")
    # approved, but nobody has consented yet: nothing to release
    _problem(client.call("POST", f"/api/data-requests/{rid}/release", token=requester,
                         body={"format": "csv"}), 409, "consent_missing")

    # each person sees the consent asked, in the consent list and in their inbox
    asked = client.call("GET", "/api/me/consents", token=pegawai[nips[0]]).body
    assert [(c["request_id"], c["consent"], c["organisation"]) for c in asked] == [
        (rid, "pending", "Universitas Airlangga")]
    assert client.call("GET", "/api/me/consents", token=pegawai[outsider]).body == []
    wait_for(lambda: any(n["request_id"] == rid and n["title"] == "Permintaan persetujuan data"
                         for n in client.call("GET", "/api/me/inbox",
                                              token=pegawai[nips[1]]).body),
             timeout=60, message="the consent request reached the inbox")

    given = client.call("POST", f"/api/me/consents/{rid}", token=pegawai[nips[0]],
                        body={"consent": True})
    assert given.status == 200 and given.body["consent"] == "given", given.body
    assert client.call("POST", f"/api/me/consents/{rid}", token=pegawai[nips[1]],
                       body={"consent": False, "reason": "tidak bersedia"}).body["consent"] \
        == "refused"
    _problem(client.call("POST", f"/api/me/consents/{rid}", token=pegawai[outsider],
                         body={"consent": True}), 404, "not_found")

    released = client.call("POST", f"/api/data-requests/{rid}/release", token=requester,
                           body={"format": "csv"})
    assert released.status == 202 and released.body["state"] == "released", released.body
    assert released.body["consents"] == {"given": 1, "refused": 1, "pending": 2}
    # downloadable for RELEASE_DAYS (the period of use ends later)
    left = datetime.fromisoformat(released.body["export"]["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=13) < left <= timedelta(days=14), left
    # the answers are frozen by the release
    _problem(client.call("POST", f"/api/me/consents/{rid}", token=pegawai[nips[2]],
                         body={"consent": True}), 409, "data_request_state")

    def ready():
        state = client.call("GET", f"/api/data-requests/{rid}", token=requester).body
        return state if state["export"]["status"] != "running" else None
    state = wait_for(ready, timeout=90, message="the release produced")
    assert state["export"]["status"] == "ready" and state["export"]["rows"] == 1, state
    assert state["export"]["document_id"], "the release is signed"

    answer = client.call("GET", f"/api/data-requests/{rid}/file", token=requester)
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/csv")
    text = answer.body if isinstance(answer.body, str) else answer.body.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    # only the consenting person, only the requested fields (no NIP: it was not asked for)
    assert rows == [["Nama", "Gol/ruang"], ["Ani Consent", "III/a"]], rows
    # only the requester downloads it; not through the report routes either
    for token in (approver, stranger):
        _problem(client.call("GET", f"/api/data-requests/{rid}/file", token=token), 404,
                 "not_found")
    export_id = state["export"]["export_id"]
    assert client.call("GET", f"/api/reports/data_request/export/{export_id}/file",
                       token=requester).status == 404

    # every step is an event; the release is a disclosure of exactly the consenting person
    events = [r[0] for r in fetch(database_url, "SELECT event_type FROM reporting.events WHERE "
                                                "stream_id = %s ORDER BY version",
                                  (f"datarequest:{rid}",))]
    assert events == ["DataRequestFiled", "DataRequestApproved", *["ConsentRequested"] * 4,
                      "ConsentGiven", "ConsentRefused", "DataRequestReleased"]
    disclosed = fetch(database_url, "SELECT payload FROM reporting.events WHERE stream_id = %s "
                                    "AND event_type = 'PersonalDataDisclosed'",
                      (f"export:{export_id}",))
    assert len(disclosed) == 1 and disclosed[0][0]["recipient"] == filed.body["requester"]
    assert disclosed[0][0]["subjects"] == 1 and disclosed[0][0]["purpose"] == PURPOSE
    assert fetch(database_url, "SELECT nip FROM reporting.disclosed_subjects WHERE export_id = "
                               "%s", (export_id,)) == [(nips[0],)]

    # the pegawai's own disclosure view (records' log, issue 17 part 3) lists the release of
    # their data, and nobody else's data was released
    (mine,) = client.call("GET", "/api/me/disclosures", token=pegawai[nips[0]]).body
    assert (mine["channel"], mine["basis"], mine["recipient"]["kind"], sorted(mine["fields"]),
            mine["purpose"]) == ("data_request", {"kind": "data_request", "reference": rid},
                                 "requester", ["golongan", "name"], PURPOSE), mine
    assert mine["recipient"]["name"] == "Universitas Airlangga"
    for nip in (nips[1], nips[2], outsider):
        assert client.call("GET", "/api/me/disclosures", token=pegawai[nip]).body == []

    # expired: the file is gone for its requester too
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE reporting.exports SET expires_at = now() - interval '1 second' "
                    "WHERE export_id = %s", (export_id,))
        assert cur.rowcount == 1
    _problem(client.call("GET", f"/api/data-requests/{rid}/file", token=requester), 410,
             "export_expired")
    assert client.call("GET", f"/api/data-requests/{rid}", token=requester).body["export"][
        "status"] == "expired"
