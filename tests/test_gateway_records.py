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
