"""Each role's main journeys through the gateway's HTTP API only, against the deployed stack
(every service in its own process, the relay carrying events between them): a pegawai's request
from draft to a signed PDF that the public verification accepts (and rejects after a one-byte
change), a record change proposed and verified, a fake document reported and a written warning
issued, an access request granted and revoked."""

from __future__ import annotations

import itertools
import time
import urllib.error
import urllib.request

import pyotp
import pytest

from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.e2e.harness import NEW_PASSWORD, activate, register_pegawai, submit_kgb

pytestmark = pytest.mark.timeout(300)
PDF = {"Content-Type": "application/pdf"}
_serial = itertools.count(101)  # this module's NIPs and logins; other files use their own


def _download(stack, path: str, token: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(stack.url + path,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - our gateway
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _new_nip(born: str = "19850312", cpns: str = "201003", gender: str = "2") -> str:
    return f"{born}{cpns}{gender}{next(_serial):03d}"


def _new_pegawai(stack, client, admin: str, fasilitator: str, opd: str = "dinkes") -> str:
    """An employee as BKD and the OPD register one (harness.register_pegawai)."""
    return register_pegawai(stack, _new_nip(), opd, admin=admin, registrar=fasilitator,
                            name="Siti Aminah")


def test_a_kgb_request_ends_in_a_signed_letter_that_the_public_check_accepts(stack, client):
    admin = stack.login("admin.bkd")
    fasilitator = stack.login("fas.dinkes1")
    other_opd = stack.login("fas.dindik1")
    nip = _new_pegawai(stack, client, admin, fasilitator)
    pegawai = stack.login(nip, NEW_PASSWORD)
    rid, docs, submitted = submit_kgb(stack, nip, pegawai)
    assert client.call("GET", f"/api/requests/{rid}", token=other_opd).status == 404

    claimed = client.call("POST", f"/api/requests/{rid}/verification", token=fasilitator,
                          body={"expected_version": submitted["version"]})
    assert claimed.status == 200, claimed.body
    verdict = {"original": True, "legible": True, "matches_record": True}
    verified = client.call("POST", f"/api/requests/{rid}/verify", token=fasilitator, body={
        "expected_version": claimed.body["version"], "checks": {c: verdict for c in docs}})
    assert verified.status == 200 and verified.body["state"] == "under_approval", verified.body
    approved = client.call("POST", f"/api/requests/{rid}/decision", token=admin, body={
        "expected_version": verified.body["version"], "approve": True,
        "reason": "memenuhi syarat KGB", "outcome": {"tmt": "2026-04-01", "gaji_pokok": 4_150_000}})
    assert approved.status == 200, approved.body

    # the signing service (its own process) signs; the relay carries DocumentSigned back
    wait_for(lambda: client.call("GET", f"/api/requests/{rid}", token=pegawai).body["state"]
             == "completed", timeout=90, message="the letter is signed and the request completed")
    output = client.call("GET", f"/api/requests/{rid}/output", token=pegawai)
    assert output.status == 200 and output.body["status"] == "signed", output.body
    status, headers, letter = _download(
        stack, f"/api/signed-documents/{output.body['document_id']}/pdf", pegawai)
    assert status == 200 and letter.startswith(b"%PDF"), (status, letter[:200])
    assert headers["Content-Type"] == "application/pdf"

    checked = client.call("POST", "/api/public/verification", raw=letter, headers=PDF)
    assert checked.status == 200 and checked.body["valid"], checked.body
    assert checked.body["document"]["number"] == output.body["number"]
    tampered = bytearray(letter)
    tampered[len(tampered) // 3] ^= 0x01
    refused = client.call("POST", "/api/public/verification", raw=bytes(tampered), headers=PDF)
    assert refused.status == 200 and not refused.body["valid"], refused.body
    qr = client.call("GET", f"/api/public/verification/{output.body['document_id']}")
    assert qr.status == 200 and qr.body["valid"]


def test_a_record_change_is_proposed_with_a_document_and_verified(stack, client):
    fasilitator = stack.login("fas.dinkes2")
    nip = next(n for n, opd in stack.seeded.pegawai.items() if opd == "dinkes")
    pegawai = stack.login(nip)
    upload = client.call("POST", "/api/documents", token=pegawai,
                         raw=pdf_with_text(marker=f"ktp-{nip}"), headers=PDF)
    assert upload.status == 201, upload.body
    proposal = client.call("POST", f"/api/employees/{nip}/proposals", token=pegawai,
                           body={"changes": {"address": "Jl. Ahmad Yani 117, Surabaya"}})
    assert proposal.status == 201 and proposal.body["pending_changes"], proposal.body
    queue = client.call("GET", "/api/verification/queue", token=fasilitator)
    assert queue.status == 200
    decided = client.call("POST", f"/api/employees/{nip}/proposals/decision", token=fasilitator,
                          body={"change_id": proposal.body["change_id"], "apply": True,
                                "reason": "sesuai KTP", "expected_version":
                                    proposal.body["version"]})
    assert decided.status == 200 and decided.body["address"] == "Jl. Ahmad Yani 117, Surabaya"
    history = client.call("GET", f"/api/employees/{nip}/fields/address/history", token=pegawai)
    assert history.status == 200 and history.body[-1]["value"] == "Jl. Ahmad Yani 117, Surabaya"


def test_a_fake_document_is_reported_and_a_written_warning_issued(stack, client):
    admin = stack.login("admin.bkd")
    fasilitator = stack.login("fas.dinkes1")
    nip = _new_pegawai(stack, client, admin, fasilitator)
    pegawai = stack.login(nip, NEW_PASSWORD)
    rid, docs, submitted = submit_kgb(stack, nip, pegawai)
    claimed = client.call("POST", f"/api/requests/{rid}/verification", token=fasilitator,
                          body={"expected_version": submitted["version"]})
    assert claimed.status == 200, claimed.body
    document = next(iter(docs))
    case = client.call("POST", "/api/verification/fake-documents", token=fasilitator, body={
        "request_id": rid, "document": document,
        "note": "nomor SK tidak terdaftar di BKD dan tanda tangan dipindai"})
    assert case.status == 201, case.body
    issued = client.call("POST", f"/api/verification/fake-documents/{case.body['case_id']}/issue",
                         token=admin, body={"reason": "terbukti tidak asli"})
    assert issued.status == 200, issued.body

    def the_warning():
        cases = client.call("GET", "/api/verification/fake-documents", token=admin).body
        mine = [c for c in cases if c["case_id"] == case.body["case_id"]]
        return mine and mine[0]

    wait_for(the_warning, timeout=60, message="the case is listed")
    listed = client.call("GET", "/api/signed-documents", token=admin,
                         ).body
    wait_for(lambda: any(d.get("subject") == f"case:{case.body['case_id']}" and
                         d["status"] == "signed" for d in
                         client.call("GET", "/api/signed-documents", token=admin).body),
             timeout=90, message="the teguran tertulis is signed")
    assert isinstance(listed, list)
    # the pegawai is told in their inbox
    inbox = client.call("GET", "/api/me/inbox", token=pegawai)
    assert inbox.status == 200


def test_an_access_request_is_granted_and_then_revoked(stack, client):
    admin = stack.login("admin.bkd")
    requester = stack.login("fas.dishub1")
    login = f"fas.dishub{next(_serial)}"
    email = f"{login}@dishub.jatimprov.go.id"
    asked = client.call("POST", "/api/access-requests", token=requester, body={
        "role": "fasilitator", "opd_scope": ["dishub"],
        "subject": {"login": login, "display_name": "Bagus Santoso", "email": email},
        "justification": "SK Kadishub tentang penunjukan fasilitator SIMASN"})
    assert asked.status == 201, asked.body
    granted = client.call("POST", f"/api/access-requests/{asked.body['request_id']}/approve",
                          token=admin, body={"note": "sesuai SK penunjukan"})
    assert granted.status == 200 and granted.body["status"] == "approved", granted.body
    activate(stack, email)
    first = client.call("POST", "/api/auth/login", body={"login": login,
                                                         "password": NEW_PASSWORD})
    assert first.status == 200 and first.body["status"] == "totp_enrollment_required", first.body
    enrolled = client.call("POST", "/api/auth/totp/confirm", body={
        "enrollment_token": first.body["enrollment_token"],
        "otp": pyotp.TOTP(first.body["totp_secret"]).now(), "device": "laptop"})
    assert enrolled.status == 200, enrolled.body
    token = enrolled.body["access_token"]
    # the role waits for the person's integrity pact (issue 17 part 5): signed, it works at once
    assert client.call("GET", "/api/verification/queue", token=token).status == 403
    totp = pyotp.TOTP(first.body["totp_secret"])
    signed = client.call("POST", "/api/me/integrity-pacts", token=token, body={
        "role": "fasilitator", "password": NEW_PASSWORD,
        "otp": totp.at(time.time() + totp.interval)})
    assert signed.status == 201 and signed.body["opd_scope"] == ["dishub"], signed.body
    pdf = client.call("GET", f"/api/signed-documents/{signed.body['document_id']}", token=admin)
    assert pdf.status == 200 and pdf.body["status"] == "signed", pdf.body
    assert client.call("GET", "/api/verification/queue", token=token).status == 200

    revoked = client.call("POST", f"/api/accounts/{login}/roles/revoke", token=admin, body={
        "role": "fasilitator", "reason": "mutasi ke OPD lain"})
    assert revoked.status == 200 and "fasilitator" not in revoked.body["roles"], revoked.body
    after = client.call("GET", "/api/verification/queue", token=token)
    assert after.status in (401, 403), after.body  # at once: the session cache is fenced


def test_bkd_finds_every_seeded_employee_and_a_fasilitator_only_their_opd(stack, client):
    """The employee list (issue 15) in the deployed topology: the reporting process catches up
    from the records log through its feed and the bus, with its own broker user."""
    admin = stack.login("admin.bkd")
    fasilitator = stack.login("fas.dindik1")
    seeded = stack.seeded.pegawai

    def everyone():
        found, offset = [], 0
        while True:
            page = client.call("GET", f"/api/employees?sort=nip&limit=100&offset={offset}",
                               token=admin)
            assert page.status == 200, page.body
            found += page.body["items"]
            if not page.body["has_more"]:
                return found
            offset += 100

    listed = wait_for(lambda: (lambda items: items if set(seeded) <= {i["nip"] for i in items}
                               else None)(everyone()), timeout=60,
                      message="the list shows every seeded employee")
    assert all("catatan_kesehatan" not in i and "nik" not in i for i in listed)
    own = client.call("GET", "/api/employees?limit=100", token=fasilitator)
    assert own.status == 200, own.body
    assert {i["opd_id"] for i in own.body["items"]} <= {"dindik"}
    assert {n for n, opd in seeded.items() if opd == "dindik"} <= {
        i["nip"] for i in own.body["items"]}
    nip = next(iter(seeded))
    exact = client.call("GET", f"/api/employees?nip={nip}", token=admin)
    assert [i["nip"] for i in exact.body["items"]] == [nip]


def test_monev_rolls_up_the_seeded_province_per_opd_and_per_fasilitator(stack, client):
    """Monev (issue 15 part 3) in the deployed topology: the reporting process follows the
    records log (presence of fields and documents) and identity's (the fasilitators' OPDs)
    through their feeds and the bus, with its own broker user."""
    admin = stack.login("admin.bkd")
    seeded = stack.seeded.pegawai
    fasilitators = {login for login, (role, _) in stack.seeded.staff.items()
                    if role == "fasilitator"}
    assert fasilitators

    def rows(group: str, token: str) -> dict:
        answer = client.call("GET", f"/api/monev/completeness?group={group}", token=token)
        assert answer.status == 200, answer.body
        key = "account_id" if group == "fasilitator" else "opd_id"
        return {r[key]: r for r in answer.body["items"]}

    wanted = {opd: sum(1 for o in seeded.values() if o == opd) for opd in set(seeded.values())}
    seen = {}

    def rolled_up():
        seen.update(rows("opd", admin))
        return seen if all(opd in seen and seen[opd]["employees"] >= n
                           for opd, n in wanted.items()) else None

    try:
        # the read model follows the records log of everything the tests before this one wrote
        # (thousands of events by now), through its feed and the bus, on a loaded machine
        by_opd = wait_for(rolled_up, timeout=120,
                          message="every seeded employee is in the completeness rollup")
    except AssertionError as late:
        # what the next reader needs: what was rolled up, and how far each read model is
        ready = client.call("GET", "/health/ready").body
        reporting = (ready or {}).get("services", {}).get("reporting") \
            if isinstance(ready, dict) else ready
        raise AssertionError(f"{late}\nwanted {wanted}\nrolled up "
                             f"{ {k: v['employees'] for k, v in seen.items()} }\n"
                             f"reporting: {reporting}") from None
    assert all(0 <= r["percent"] <= 100 and r["required"] >= r["present"]
               for r in by_opd.values())
    by_fasilitator = wait_for(lambda: (lambda found: found if fasilitators <= set(found)
                                       else None)(rows("fasilitator", admin)), timeout=60,
                              message="every seeded fasilitator is in the rollup")
    mine = rows("fasilitator", stack.login("fas.dindik1"))
    assert list(mine) == ["fas.dindik1"] and mine["fas.dindik1"]["opd_ids"] == \
        by_fasilitator["fas.dindik1"]["opd_ids"]
    assert set(rows("opd", stack.login("fas.dindik1"))) <= {"dindik"}
    nip = next(n for n, opd in seeded.items() if opd == "dindik")
    missing = client.call("GET", f"/api/monev/completeness/employees/{nip}", token=admin)
    assert missing.status == 200 and missing.body["nip"] == nip, missing.body
    workload = client.call("GET", "/api/monev/workload", token=admin)
    assert workload.status == 200 and isinstance(workload.body["items"], list), workload.body
