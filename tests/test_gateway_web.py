"""The web application's files as the gateway serves them (services/gateway/web.py): one page for
every application address, assets with an ETag, the content security policy on every answer,
nothing outside web/ reachable, and the settings the page reads before anyone logs in.

And what the web application needs of the API (issue 16), through real HTTP, identity, records,
requests, verification and signing: the clear-screen lock's unlock (a wrong password counts like
a failed login, nothing is issued), a pegawai's own requests, staff's scoped list, the
eligibility overview, the paged signed documents and the inbox polled by cursor."""

from pathlib import Path

import pytest

from services.gateway.web import CONTENT_SECURITY_POLICY, WebFiles
from services.records.service import RecordsService
from services.requests.service import RequestsService
from services.signing.service import SigningService
from services.verification.service import VerificationService
from shared.errors import ConfigError
from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.gateway_helpers import conformance_problems, http_login
from tests.helpers import RelayThread
from tests.identity_helpers import PASSWORD, employee_for
from tests.test_verification_queue import KK

ROOT = Path(__file__).resolve().parent.parent / "web"


@pytest.fixture
def gateway(start_gateway):
    client, _, _ = start_gateway(WEB_LOCK_STAFF_SECONDS=600)
    return client


def test_every_application_address_answers_the_one_page_with_its_policy(gateway):
    for path in ("/", "/verifikasi/3f1c2a9e-0000-4000-8000-000000000000"):
        answer = gateway.call("GET", path)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"].startswith("text/html")
        assert answer.body == (ROOT / "index.html").read_text()
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in \
            CONTENT_SECURITY_POLICY
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-cache"


def test_assets_have_their_type_and_an_etag_that_saves_the_download(gateway):
    answer = gateway.call("GET", "/assets/js/app.js")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    etag = {k.lower(): v for k, v in answer.headers.items()}["etag"]
    again = gateway.call("GET", "/assets/js/app.js", headers={"If-None-Match": etag})
    assert again.status == 304 and not again.body
    css = gateway.call("GET", "/assets/app.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/verifikasi/bukan-id-dokumen", "/assets/../pyproject.toml",
                                  "/assets/%2e%2e/pyproject.toml",
                                  "/assets/js/../../config.yaml", "/assets/vendor/README.md",
                                  "/assets/.hidden", "/assets/nothing.js", "/assets/js",
                                  "/assets/" + "x" * 300,  # too long for the file system
                                  "/assets/%E1%B9%B0%CC%BA%CC%BA" * 40])
def test_nothing_outside_the_application_s_files_is_served(gateway, path):
    answer = gateway.call("GET", path)
    assert answer.status == 404, (path, answer.status)
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_the_page_reads_its_lock_and_poll_settings_without_login(gateway):
    answer = gateway.call("GET", "/api/web/config")
    assert answer.status == 200
    assert answer.body["idle_lock_seconds"] == {"staff": 600, "pegawai": 1800}
    assert answer.body["poll_seconds"] == 30 and answer.body["max_upload_bytes"] > 0


def test_bad_settings_stop_the_gateway_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as bad:
        WebFiles.from_config({"WEB_LOCK_STAFF_SECONDS": 5})
    assert bad.value.field == "WEB_LOCK_STAFF_SECONDS"
    with pytest.raises(ConfigError) as missing:
        WebFiles.from_config({"WEB_ROOT": str(tmp_path)})
    assert missing.value.field == "WEB_ROOT"


WRONG = "Salah-Sandi-123"


@pytest.fixture
def web(start_gateway, database_url):
    client, people, config = start_gateway(RecordsService, RequestsService,
                                           VerificationService, SigningService,
                                           GATEWAY_LOGIN_BURST=50)
    relays = [RelayThread(database_url, log, log, config["AMQP_URI"], name="web-api")
              for log in ("records", "requests")]
    for relay in relays:
        relay.__enter__()
    yield client, people
    for relay in relays:
        relay.__exit__(None, None, None)


def conforms(method, rule, answer):
    assert not conformance_problems(method, rule, answer), conformance_problems(method, rule,
                                                                                answer)
    return answer


def test_unlock_takes_the_password_again_and_counts_a_wrong_one_like_a_failed_login(web):
    client, people = web
    nip = people.pegawai()
    token = http_login(client, people, nip)
    ok = conforms("POST", "/api/auth/unlock",
                  client.call("POST", "/api/auth/unlock", token=token,
                              body={"password": PASSWORD}))
    assert ok.status == 204 and ok.body is None  # no token issued
    for _ in range(5):
        wrong = conforms("POST", "/api/auth/unlock", client.call(
            "POST", "/api/auth/unlock", token=token, body={"password": WRONG}))
        assert (wrong.status, wrong.code, wrong.body["field"]) == (401, "login_failed",
                                                                   "password")
    # the budget of this source for this account is spent: unlock and login alike wait
    throttled = client.call("POST", "/api/auth/unlock", token=token, body={"password": PASSWORD})
    assert (throttled.status, throttled.code) == (429, "login_throttled")
    assert int(throttled.headers["Retry-After"]) > 0
    login = client.call("POST", "/api/auth/login", body={"login": nip, "password": PASSWORD})
    assert (login.status, login.code) == (429, "login_throttled")
    # the session itself was never ended: the token still reads
    assert client.call("GET", "/api/me", token=token).status == 200

    # staff: the OTP too; a session ended or an account disabled meanwhile is a 401
    admin_login = people.staff(["administrator"])
    admin = http_login(client, people, admin_login)
    needs = client.call("POST", "/api/auth/unlock", token=admin, body={"password": PASSWORD})
    assert (needs.status, needs.code, needs.body["field"]) == (401, "totp_required", "otp")
    unlocked = client.call("POST", "/api/auth/unlock", token=admin, body={
        "password": PASSWORD, "otp": people.otp(admin_login)})
    assert unlocked.status == 204, unlocked.body
    other = people.pegawai()
    other_token = http_login(client, people, other)
    assert client.call("POST", f"/api/accounts/{other}/disable", token=admin,
                       body={"reason": "pindah instansi"}).status == 200
    gone = client.call("POST", "/api/auth/unlock", token=other_token,
                       body={"password": PASSWORD})
    assert gone.status == 401
    assert client.call("POST", "/api/auth/logout", token=admin).status == 204
    assert client.call("POST", "/api/auth/unlock", token=admin,
                       body={"password": PASSWORD, "otp": "123456"}).status == 401
    missing = client.call("POST", "/api/auth/unlock", token=token, body={})
    assert (missing.status, missing.body["field"]) == (422, "password")


def test_the_lists_the_web_application_reads(web):
    client, people = web
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    other = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))
    auditor = http_login(client, people, people.staff(["auditor"]))
    nip = people.pegawai("dinkes")
    pegawai = http_login(client, people, nip)
    assert client.call("POST", "/api/employees", token=fasilitator,
                       body=employee_for(nip)).status == 201

    eligibility = conforms("GET", "/api/me/eligibility",
                           client.call("GET", "/api/me/eligibility", token=pegawai))
    assert eligibility.status == 200 and eligibility.body["nip"] == nip
    card = next(i for i in eligibility.body["layanan"] if i["kode"] == "KARTU_KESEHATAN")
    assert card["may_submit"] and all("on_record" in d for d in card["documents_required"])
    assert "HUKDIS" not in {i["kode"] for i in eligibility.body["layanan"]}
    staff_view = conforms("GET", "/api/employees/<nip>/eligibility", client.call(
        "GET", f"/api/employees/{nip}/eligibility", token=fasilitator))
    assert [i["kode"] for i in staff_view.body["layanan"]] == [
        i["kode"] for i in eligibility.body["layanan"]]
    assert client.call("GET", f"/api/employees/{nip}/eligibility", token=other).status == 404

    draft = client.call("POST", "/api/requests", token=pegawai, body={
        "layanan": "KARTU_KESEHATAN", "nip": nip, "options": {"tanggungan": "sendiri"}})
    assert draft.status == 201, draft.body
    rid = draft.body["request_id"]
    mine = conforms("GET", "/api/me/requests",
                    client.call("GET", "/api/me/requests?state=draft", token=pegawai))
    assert [i["request_id"] for i in mine.body["items"]] == [rid]
    assert mine.body["items"][0]["layanan_name"] and mine.body["has_more"] is False
    bad = client.call("GET", "/api/me/requests?limit=0", token=pegawai)
    assert (bad.status, bad.body["field"]) == (422, "limit")
    refused = client.call("GET", "/api/requests", token=pegawai)
    assert refused.status == 403
    listed = conforms("GET", "/api/requests", client.call(
        "GET", f"/api/requests?nip={nip}&state=draft&limit=10", token=fasilitator))
    assert [i["request_id"] for i in listed.body["items"]] == [rid]
    assert client.call("GET", f"/api/requests?nip={nip}", token=other).body["items"] == []
    assert [i["request_id"] for i in client.call(
        "GET", f"/api/requests?nip={nip}&layanan=KARTU_KESEHATAN", token=auditor
    ).body["items"]] == [rid]
    backwards = client.call("GET", "/api/requests?submitted_from=2026-02-01&submitted_to="
                                   "2026-01-01", token=auditor)
    assert (backwards.status, backwards.body["field"]) == (422, "submitted_from")

    first = conforms("GET", "/api/me/inbox/updates",
                     client.call("GET", "/api/me/inbox/updates", token=pegawai))
    assert first.body == {"items": [], "unread": 0, "has_more": False, "cursor": "0"}
    sha = client.call("POST", "/api/documents", token=pegawai, raw=pdf_with_text(marker=nip),
                      headers={"Content-Type": "application/pdf"}).body["sha256"]
    documents = client.call("PUT", f"/api/requests/{rid}/documents", token=pegawai, body={
        "documents": {code: sha for code in KK}, "expected_version": draft.body["version"]})
    submitted = client.call("POST", f"/api/requests/{rid}/submit", token=pegawai,
                            body={"expected_version": documents.body["version"]})
    assert submitted.status == 200, submitted.body
    wait_for(lambda: client.call("GET", "/api/me/inbox/updates", token=pegawai
                                 ).body["unread"] == 1, timeout=30,
             message="the submission is in the inbox")
    told = conforms("GET", "/api/me/inbox/updates",
                    client.call("GET", "/api/me/inbox/updates", token=pegawai)).body
    assert [n["request_id"] for n in told["items"]] == [rid] and told["cursor"] != "0"
    again = client.call("GET", f"/api/me/inbox/updates?after={told['cursor']}",
                        token=pegawai).body
    assert again == {"items": [], "unread": 1, "has_more": False, "cursor": told["cursor"]}
    listed = client.call("GET", "/api/me/requests", token=pegawai).body["items"]
    assert listed[0]["state"] == "submitted" and listed[0]["submitted_at"]
    assert client.call("GET", "/api/me/inbox/updates?after=abc", token=pegawai).status == 422

    documents = conforms("GET", "/api/signed-documents", client.call(
        "GET", f"/api/signed-documents?limit=5&offset=0&nip={nip}", token=auditor))
    assert documents.status == 200 and documents.body == []
    too_many = client.call("GET", "/api/signed-documents?limit=201", token=auditor)
    assert (too_many.status, too_many.body["field"]) == (422, "limit")
