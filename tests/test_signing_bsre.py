"""BSrE as the signer (issue 20 part 3), against a local stand-in speaking BSrE's protocol
(tests/bsre_server.py) and the signing service over real RabbitMQ and PostgreSQL: a document
waits for its official's passphrase; the official signs with it (the result validates against
our roots and is our PDF with a signature appended); a wrong passphrase, a NIK without a
certificate, BSrE too slow, failing or gone each leave the document unsigned and waiting, with a
clear error to the official and nothing half done; the passphrase is never stored."""

import json
import shutil
import uuid

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.signing import bsre
from services.signing.keystore import Keystore
from services.signing.service import SigningService
from shared.errors import ConfigError, Forbidden, ValidationFailed
from shared.objectstore import FileSystemStore
from tests.bsre_server import CLIENT, LocalBsre
from tests.helpers import raises_code, signed
from tests.records_helpers import ADMIN, principal

pytestmark = pytest.mark.timeout(180)

SYSTEM = principal("service:verification", ["system"])
NIK = "3578010101700001"
UNREGISTERED_NIK = "3578010101700099"
PASSPHRASE = "Rahasia#Pejabat-2026"
NEWCOMER = principal("kabid.bkd", ["administrator"])


@pytest.fixture
def bsre_stack(container_factory, service_config, keystore_dir, tmp_path):
    """The signing service with SIGNING_BACKEND=bsre: its key store names the officials' NIKs
    (admin.bkd registered at the stand-in, kabid.bkd not); the stand-in holds admin.bkd's key."""
    directory = tmp_path / "keystore-bsre"
    shutil.copytree(keystore_dir, directory)
    index = json.loads((directory / "keystore.json").read_text())
    official = Keystore(keystore_dir).signer("admin.bkd")
    index["signers"]["admin.bkd"] = {"nik": NIK, "name": "Dr. Budi Santoso, M.Si.",
                                     "jabatan": "Kepala Badan Kepegawaian Daerah"}
    index["signers"]["kabid.bkd"] = {"nik": UNREGISTERED_NIK, "name": "Ir. Kabid",
                                     "jabatan": "Kepala Bidang"}
    (directory / "keystore.json").write_text(json.dumps(index))
    with LocalBsre({NIK: (PASSPHRASE, official)}) as server:
        config = {**service_config, "SIGNING_KEYSTORE_DIR": str(directory),
                  "SIGNING_BACKEND": "bsre", "BSRE_URL": server.url,
                  "BSRE_CLIENT_ID": CLIENT[0], "BSRE_CLIENT_SECRET": CLIENT[1],
                  "BSRE_READ_TIMEOUT": 2}
        container_factory(SigningService, config).start()

        def call(context):
            return ServiceRpcProxy("signing", config, context_data=signed(context, config))

        yield call, server, FileSystemStore(config["DOCUMENT_ROOT"])


def issued(call, signer=ADMIN["actor_id"]) -> dict:
    with call(SYSTEM) as signing:
        return signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": "KARPEG", "signer": signer,
            "values": {"nama_lengkap": "Uji BSrE"}})


def document(call, document_id) -> dict:
    with call(ADMIN) as admin:
        return admin.get_document(document_id)


def test_a_document_waits_for_the_passphrase_and_is_signed_by_bsre_with_it(
        bsre_stack, database_url):
    call, server, store = bsre_stack
    waiting = issued(call)
    assert waiting["status"] == "waiting_passphrase" and waiting["sha256"] is None, waiting
    assert waiting["attempts"] == 0 and server.attempts == 0  # nothing sent without it
    with call(ADMIN) as admin:
        assert waiting["document_id"] in {
            d["document_id"] for d in admin.list_documents("waiting_passphrase")}
        done = admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    assert done["status"] == "signed" and done["number"] == waiting["number"], done
    assert done["signer_name"] == "Dr. Budi Santoso, M.Si." and done["pades_level"] == "B-B"
    assert server.signed == 1
    pdf = store.read(done["sha256"])
    with call({}) as public:
        answer = public.verify_document(done["document_id"])
    assert answer["valid"] and answer["status"] == "valid", answer
    assert answer["signature"]["signer"]  # the certificate BSrE signed with, as embedded

    # signed once: asking again answers the signed document, BSrE is not called again
    with call(ADMIN) as admin:
        again = admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    assert again["sha256"] == done["sha256"] and server.signed == 1
    assert pdf.startswith(b"%PDF")

    # the passphrase is nowhere: not in the log, not on the document's row
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM signing.events WHERE payload::text LIKE %s OR "
                    "metadata::text LIKE %s", (f"%{PASSPHRASE}%", f"%{PASSPHRASE}%"))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM signing.documents WHERE "
                    "documents::text LIKE %s", (f"%{PASSPHRASE}%",))
        assert cur.fetchone()[0] == 0


def test_a_wrong_passphrase_tells_the_official_and_the_document_stays_signable(bsre_stack):
    call, server, _ = bsre_stack
    waiting = issued(call)
    with call(ADMIN) as admin:
        with raises_code("bsre_passphrase_wrong") as caught:
            admin.sign_document(waiting["document_id"], {"passphrase": "salah-ketik"})
    assert caught.value.field == "passphrase" and "passphrase" in str(caught.value)
    assert "salah-ketik" not in str(caught.value.details)
    after = document(call, waiting["document_id"])
    assert after["status"] == "waiting_passphrase" and after["attempts"] == 0
    assert "salah-ketik" not in (after["last_error"] or "")
    with call(ADMIN) as admin:
        done = admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    assert done["status"] == "signed" and server.signed == 1


def test_the_official_signs_with_the_one_time_code_of_their_besign_app(bsre_stack):
    """Instead of the passphrase, the code BeSign shows now (BSrE v2): a stale code tells the
    official to ask for a new one and the document waits; both at once are refused before
    anything is sent; the code is stored nowhere."""
    call, server, _ = bsre_stack
    server.totps[NIK] = "730154"
    waiting = issued(call)
    with call(ADMIN) as admin:
        with pytest.raises(ValidationFailed) as both:
            admin.sign_document(waiting["document_id"],
                                {"passphrase": PASSPHRASE, "totp": "730154"})
        assert both.value.field == "totp"
        with pytest.raises(ValidationFailed):
            admin.sign_document(waiting["document_id"], {"totp": "73O154"})
        assert server.attempts == 0
        with raises_code("bsre_otp_wrong"):
            admin.sign_document(waiting["document_id"], {"totp": "111111"})
        assert document(call, waiting["document_id"])["status"] == "waiting_passphrase"
        done = admin.sign_document(waiting["document_id"], {"totp": "730154"})
    assert done["status"] == "signed" and server.signed == 1
    assert "730154" not in json.dumps(document(call, waiting["document_id"]))


def test_only_the_named_official_signs_and_a_retry_never_does(bsre_stack):
    call, server, _ = bsre_stack
    waiting = issued(call)
    with call(principal("admin.lain", ["administrator"])) as other:
        with pytest.raises(Forbidden):
            other.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    with call(ADMIN) as admin:
        # a retry (like the timer, whose list never holds it) has no passphrase
        admin.retry_document(waiting["document_id"])
    assert document(call, waiting["document_id"])["status"] == "waiting_passphrase"
    assert server.attempts == 0


def test_a_nik_without_a_certificate_at_bsre_is_named(bsre_stack):
    call, _, _ = bsre_stack
    waiting = issued(call, signer=NEWCOMER["actor_id"])
    with call(NEWCOMER) as official:
        with raises_code("bsre_not_registered"):
            official.sign_document(waiting["document_id"], {"passphrase": "apa-saja"})
    after = document(call, waiting["document_id"])
    assert after["status"] == "waiting_passphrase" and after["sha256"] is None


def test_an_administrator_asks_whether_bsre_would_sign_for_an_official(bsre_stack):
    """`simasn signing official-status`: the NIK the key store names, masked, and BSrE's
    status of its certificate; nobody but an administrator (or the system) may ask."""
    call, _, _ = bsre_stack
    with call(ADMIN) as admin:
        ready = admin.official_status("admin.bkd")
        unknown = admin.official_status("kabid.bkd")
    assert ready["active"] and ready["status"] == "ISSUE", ready
    assert ready["nik"] == NIK[:4] + "********" + NIK[-4:]
    assert not unknown["active"] and unknown["status"] == "NOT_REGISTERED"
    assert unknown["bsre_code"] == 2011 and UNREGISTERED_NIK not in str(unknown)
    with call(principal("fas.dinkes1", ["fasilitator"], ["dinkes"])) as other:
        with pytest.raises(Forbidden):
            other.official_status("admin.bkd")


def test_bsre_slow_failing_or_gone_leaves_the_document_waiting_never_half_done(bsre_stack):
    call, server, _ = bsre_stack
    waiting = issued(call)
    server.delay = 3  # past BSRE_READ_TIMEOUT (2 s): the answer is never read
    with call(ADMIN) as admin:
        with raises_code("bsre_unavailable"):
            admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    server.delay = 0
    after = document(call, waiting["document_id"])
    assert after["status"] == "waiting_passphrase" and after["sha256"] is None

    server.fail_next = (500, {"error": "Internal Server Error", "status_code": 500})
    with call(ADMIN) as admin:
        with raises_code("bsre_unavailable"):
            admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
        done = admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    assert done["status"] == "signed"

    # one DocumentSigned, whatever BSrE did with the request whose answer we never read
    with call(ADMIN) as admin:
        assert [d for d in admin.list_documents("signed")
                if d["number"] == waiting["number"]] == [done]

    second = issued(call)
    server.stop()
    with call(ADMIN) as admin:
        with raises_code("bsre_unavailable"):
            admin.sign_document(second["document_id"], {"passphrase": PASSPHRASE})
    assert document(call, second["document_id"])["status"] == "waiting_passphrase"


def test_a_signed_pdf_that_is_not_our_document_is_refused(bsre_stack):
    """BSrE cannot change a word: a validly signed PDF that is not ours byte for byte plus a
    signature is refused, and the document waits."""
    from tests.document_samples import pdf_with_text

    call, server, _ = bsre_stack
    waiting = issued(call)
    server.substitute = pdf_with_text(marker="bukan dokumen SIMASN")
    with call(ADMIN) as admin:
        with raises_code("bsre_refused"):
            admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    server.substitute = None
    after = document(call, waiting["document_id"])
    assert after["status"] == "waiting_passphrase" and after["sha256"] is None
    assert "bukan dokumen kita" in after["last_error"]


def test_the_client_refuses_plain_http_and_names_bad_client_credentials():
    with pytest.raises(ConfigError):
        bsre.BsreClient("http://esign.bssn.go.id", *CLIENT)
    with pytest.raises(ConfigError):
        bsre.BsreClient("https://esign.bssn.go.id", "", "")
    with LocalBsre({}) as server:
        client = bsre.BsreClient(server.url, CLIENT[0], "bukan-rahasianya")
        with pytest.raises(bsre.Refused) as caught:
            client.sign_pdf(b"%PDF-1.7", NIK, PASSPHRASE)
        assert caught.value.details["http_status"] == 401
        good = bsre.BsreClient(server.url, *CLIENT)
        with pytest.raises(bsre.NotRegistered):
            good.user_status(NIK)


@pytest.mark.parametrize("api", ["v2", "v1"])
def test_the_client_speaks_each_e_sign_api_version_and_maps_its_answers(keystore_dir, api):
    """BSRE_API=v2 (JSON, the signed PDF base64 in `file`, status by POST) or v1 (multipart,
    the PDF itself, status by GET): the same signature, the same errors by BSrE's codes, the
    status of an official's certificate read the same way."""
    from tests.document_samples import pdf_with_text

    official = Keystore(keystore_dir).signer("admin.bkd")
    pdf = pdf_with_text(marker="SK uji protokol BSrE")
    with LocalBsre({NIK: (PASSPHRASE, official), UNREGISTERED_NIK: ("x", official)}) as server:
        server.no_certificate.add(UNREGISTERED_NIK)
        client = bsre.client_from_config({"BSRE_URL": server.url, "BSRE_CLIENT_ID": CLIENT[0],
                                          "BSRE_CLIENT_SECRET": CLIENT[1], "BSRE_API": api})
        signed_pdf = client.sign_pdf(pdf, NIK, PASSPHRASE)
        assert signed_pdf.startswith(pdf) and len(signed_pdf) > len(pdf)
        assert server.paths[-1] == bsre.SIGN_PATHS[api] and server.signed == 1

        with pytest.raises(bsre.PassphraseWrong) as wrong:
            client.sign_pdf(pdf, NIK, "salah-ketik")
        assert wrong.value.details["bsre_code"] == 2031
        assert "salah-ketik" not in str(wrong.value.details)
        with pytest.raises(bsre.NotRegistered) as unknown:
            client.sign_pdf(pdf, "3578010101709999", PASSPHRASE)
        assert unknown.value.details["bsre_code"] == 2011
        with pytest.raises(bsre.NotRegistered) as no_certificate:
            client.sign_pdf(pdf, UNREGISTERED_NIK, "x")
        assert no_certificate.value.details["bsre_code"] == 2021

        status = client.user_status(NIK)
        assert status["active"] and status["nik"] == NIK
        assert server.paths[-1].startswith(bsre.STATUS_PATHS[api].split("{")[0])
        for nik in ("3578010101709999", UNREGISTERED_NIK):
            with pytest.raises(bsre.NotRegistered):
                client.user_status(nik)

        server.fail_next = (500, {"error": "Internal Server Error", "status_code": 500})
        with pytest.raises(bsre.Unavailable):
            client.sign_pdf(pdf, NIK, PASSPHRASE)
        assert server.signed == 1

        # the one-time code of the official's BeSign app instead of the passphrase: v2 only
        server.totps[NIK] = "482913"
        if api == "v1":
            with pytest.raises(bsre.OtpUnsupported):
                client.sign_pdf(pdf, NIK, totp="482913")
            assert server.signed == 1
            return
        assert client.sign_pdf(pdf, NIK, totp="482913").startswith(pdf)
        with pytest.raises(bsre.OtpWrong) as stale:
            client.sign_pdf(pdf, NIK, totp="000000")
        assert stale.value.field == "totp" and "000000" not in str(stale.value.details)
        server.fail_next = (400, {"error": "Passphrase anda salah !!!", "status_code": 2031})
        with pytest.raises(bsre.OtpWrong):
            client.sign_pdf(pdf, NIK, totp="482913")
        assert server.signed == 2


def test_a_v2_answer_without_our_signed_pdf_is_refused_and_a_refusal_answered_200_is_read():
    """What BSrE v2 may answer 200 with besides {"file": [<PDF>]}: a refusal with its code
    (read by the code), no file, a file that is not base64, more than one file, or a body that
    is not JSON: never taken for a signature."""
    pdf = b"%PDF-1.7 uji"
    with LocalBsre({}) as server:
        client = bsre.BsreClient(server.url, *CLIENT)
        server.fail_next = (200, {"status_code": "2031", "error": "Passphrase anda salah !!!"})
        with pytest.raises(bsre.PassphraseWrong):
            client.sign_pdf(pdf, NIK, PASSPHRASE)
        for body in ({"time": 12}, {"file": ["bukan base64 %%%"]}, {"file": []},
                     {"file": ["JVBERi0=", "JVBERi0="]}, {"file": ["aGFsbw=="]}):
            server.fail_next = (200, body)
            with pytest.raises(bsre.Refused):
                client.sign_pdf(pdf, NIK, PASSPHRASE)
        with pytest.raises(ConfigError):
            bsre.client_from_config({"BSRE_URL": server.url, "BSRE_CLIENT_ID": CLIENT[0],
                                     "BSRE_CLIENT_SECRET": CLIENT[1], "BSRE_API": "v3"})


@pytest.fixture
def bsre_requests_stack(container_factory, service_config, keystore_dir, tmp_path,
                        database_url):
    """Records, requests and signing (BSrE) with the relays between them: an approved
    request's output waits for the approving official's passphrase."""
    from services.records.service import RecordsService
    from services.requests.service import RequestsService
    from tests.helpers import RelayThread

    directory = tmp_path / "keystore-bsre"
    shutil.copytree(keystore_dir, directory)
    index = json.loads((directory / "keystore.json").read_text())
    official = Keystore(keystore_dir).signer("admin.bkd")
    index["signers"]["admin.bkd"] = {"nik": NIK, "name": "Dr. Budi Santoso, M.Si.",
                                     "jabatan": "Kepala Badan Kepegawaian Daerah"}
    (directory / "keystore.json").write_text(json.dumps(index))
    with LocalBsre({NIK: (PASSPHRASE, official)}) as server:
        config = {**service_config, "SIGNING_KEYSTORE_DIR": str(directory),
                  "SIGNING_BACKEND": "bsre", "BSRE_URL": server.url,
                  "BSRE_CLIENT_ID": CLIENT[0], "BSRE_CLIENT_SECRET": CLIENT[1]}
        for service in (RecordsService, RequestsService, SigningService):
            container_factory(service, config).start()
        name = f"bsre-{uuid.uuid4().hex[:8]}"
        relays = [RelayThread(database_url, source, source, config["AMQP_URI"], name=name)
                  for source in ("requests", "signing")]
        for relay in relays:
            relay.__enter__()

        def call(context, service="signing"):
            return ServiceRpcProxy(service, config, context_data=signed(context, config))

        try:
            yield call, server, FileSystemStore(config["DOCUMENT_ROOT"])
        finally:
            for relay in relays:
                relay.__exit__(None, None, None)


def test_an_approved_request_waits_for_the_official_and_completes_once_signed(
        bsre_requests_stack):
    from shared.testing import wait_for
    from tests.test_signing_service import approved_request, registered, request_of

    call, server, store = bsre_requests_stack
    nip = registered(call)
    rid = approved_request(call, store, nip)["request_id"]

    def output():
        with call(ADMIN) as admin:
            try:
                return admin.request_output(rid)
            except Exception:  # noqa: BLE001 - not numbered yet
                return None

    wait_for(lambda: (output() or {}).get("status") == "waiting_passphrase", timeout=60,
             message="the output waits for the approving official's passphrase")
    document = output()
    with call(ADMIN) as admin:
        with raises_code("bsre_passphrase_wrong"):
            admin.sign_document(document["document_id"], {"passphrase": "keliru"})
    assert request_of(call, nip, rid)["state"] == "signing"  # still the official's to sign
    with call(ADMIN) as admin:
        done = admin.sign_document(document["document_id"], {"passphrase": PASSPHRASE})
    assert done["status"] == "signed" and done["number"] == document["number"]
    wait_for(lambda: request_of(call, nip, rid)["state"] == "completed", timeout=60,
             message="the request completes once BSrE signed its output")
    assert request_of(call, nip, rid)["output_sha256"] == done["sha256"]
    assert server.signed == 1
