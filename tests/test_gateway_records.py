"""Employee records through the gateway, as a frontend uses them: register, propose, decide,
read the current record, one field's history, and the record as of a moment."""

import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from services.records.service import RecordsService
from tests.gateway_helpers import http_login
from tests.identity_helpers import PASSWORD, employee_for, unique_nip

JABATAN = {"jenis_jabatan": "fungsional", "nama_jabatan": "Analis", "tmt": "2016-01-01"}


@pytest.fixture
def stack(start_gateway):
    client, people, _ = start_gateway(RecordsService)
    return client, people


token_of = http_login


def test_a_record_through_the_gateway_with_its_history(stack):
    client, people = stack
    fasilitator = token_of(client, people, people.staff(["fasilitator"], ["dinkes"]))
    nip = unique_nip()
    people.boot.create({"login": nip, "display_name": "Siti", "roles": ["pegawai"],
                        "email": f"{nip}@mail.test", "home_opd": "dinkes"}, PASSWORD)
    pegawai = token_of(client, people, nip)

    created = client.call("POST", "/api/employees", token=fasilitator,
                          body={**employee_for(nip), "address": "Jl. Lama 1"})
    assert created.status == 201, created.body
    time.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    proposal = client.call("POST", f"/api/employees/{nip}/proposals", token=pegawai,
                           body={"changes": {"address": "Jl. Baru 2"}})
    assert proposal.status == 201 and proposal.body["pending_changes"]
    decided = client.call("POST", f"/api/employees/{nip}/proposals/decision", token=fasilitator,
                          body={"change_id": proposal.body["change_id"], "apply": True,
                                "reason": "sesuai KTP",
                                "expected_version": proposal.body["version"]})
    assert decided.status == 200 and decided.body["address"] == "Jl. Baru 2"

    history = client.call("GET", f"/api/employees/{nip}/fields/address/history", token=pegawai)
    assert [(h["value"], h["reason"]) for h in history.body] == [
        ("Jl. Lama 1", "data awal"), ("Jl. Baru 2", "sesuai KTP")]
    assert history.body[1]["actor_role"] == "fasilitator"
    past = client.call("GET", f"/api/employees/{nip}?as_of={quote(before)}", token=pegawai)
    assert past.status == 200 and past.body["address"] == "Jl. Lama 1"
    stale = client.call("POST", f"/api/employees/{nip}/histories", token=fasilitator,
                        body={"history": "jabatan", "entry": JABATAN,
                              "expected_version": created.body["version"],
                              "reason": "SK jabatan"})
    assert stale.status == 409 and stale.body["code"] == "concurrency_conflict"
    assert stale.body["errors"]["current_version"] == decided.body["version"]


def test_an_import_through_the_gateway_and_uploads_refused_before_they_are_read(stack):
    import http.client
    import os

    from shared.testing import wait_for

    client, people = stack
    fasilitator = token_of(client, people, people.staff(["fasilitator"], ["dinkes"]))
    other = token_of(client, people, people.staff(["fasilitator"], ["dindik"]))
    good, bad = employee_for(unique_nip()), employee_for(unique_nip())
    lines = ["nip;nama;tanggal_lahir;jenis_kelamin;status;tmt_cpns"] + [
        f"{p['nip']};{p['name']};{p['date_of_birth']};{p['gender']};PNS;{p['tmt_cpns']}"
        for p in (good, bad)]
    lines[2] = lines[2].replace(";PNS;", ";PNSX;")
    data = "\n".join(lines).encode()
    headers = {"Content-Type": "text/csv"}

    started = client.call("POST", "/api/employee-imports?opd_id=dinkes&file_name=dinkes.csv",
                          token=fasilitator, raw=data, headers=headers)
    assert started.status == 202, started.body
    url = f"/api/employee-imports/{started.body['import_id']}"
    wait_for(lambda: client.call("GET", url, token=fasilitator).body["status"] == "completed",
             message="import completed")
    report = client.call("GET", url, token=fasilitator).body
    assert (report["registered"], report["invalid"]) == (1, 1)
    assert report["problems"][0]["row"] == 3 and report["problems"][0]["problems"][0][
        "field"] == "status"
    assert client.call("GET", f"/api/employees/{good['nip']}", token=fasilitator).status == 200
    assert client.call("GET", url, token=other).status == 404

    refused = client.call("POST", "/api/employee-imports?opd_id=dinkes", token=other, raw=data,
                          headers=headers)
    assert refused.status == 403 and refused.body["field"] == "opd_id"
    empty = client.call("POST", "/api/employee-imports?opd_id=dinkes", token=fasilitator,
                        raw=b"", headers=headers)
    assert empty.status == 422 and empty.body["field"] == "file"

    # a 200 MB upload announced in Content-Length is refused before its body is read
    host, port = client.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/api/employee-imports?opd_id=dinkes")
    conn.putheader("Authorization", f"Bearer {fasilitator}")
    conn.putheader("Content-Type", "text/csv")
    conn.putheader("Content-Length", str(200 << 20))
    conn.endheaders()
    conn.send(os.urandom(64 << 10))  # only 64 KB of the announced 200 MB ever leave
    answer = conn.getresponse()
    assert answer.status == 413
    conn.close()
