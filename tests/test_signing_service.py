"""The signing service over real RabbitMQ and PostgreSQL (issue 6): an approved request's output
is rendered from the record, numbered, signed by the approving administrator, stored, logged,
and the request completes (through the outbox relays); public verification; revocation and
re-issue; numbers unique and gapless under 8 concurrent signers; a missing key waits."""

import base64
import hashlib
import io
import json
import uuid

import eventlet
import psycopg2
import pytest
from nameko.events import SERVICE_POOL, event_handler
from nameko.standalone.rpc import ServiceRpcProxy
from pyhanko.pdf_utils.reader import PdfFileReader

from services.records.service import RecordsService
from services.requests.service import RequestsService
from services.signing import pki
from services.signing.service import SigningService
from shared.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from shared.objectstore import FileSystemStore
from shared.testing import wait_for
from tests.helpers import RelayThread, raises_code, signed
from tests.records_helpers import ADMIN, FASIL, new_person, principal
from tests.test_verification_queue import KK, submitted_request
from tests.tsa_server import LocalTsa

pytestmark = pytest.mark.timeout(180)

SYSTEM = principal("service:verification", ["system"])
VERDICT = {"original": True, "legible": True, "matches_record": True}


@pytest.fixture
def stack(container_factory, service_config, database_url):
    for service in (RecordsService, RequestsService, SigningService):
        container_factory(service, service_config).start()
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])
    name = f"signing-{uuid.uuid4().hex[:8]}"
    relays = [RelayThread(database_url, source, source, service_config["AMQP_URI"], name=name)
              for source in ("requests", "signing")]
    for relay in relays:
        relay.__enter__()

    def call(context, service="signing"):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    yield call, store
    for relay in relays:
        relay.__exit__(None, None, None)


def registered(call):
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    return nip


def approved_request(call, store, nip, admin=ADMIN):
    request = submitted_request(call, store, nip)
    with call(FASIL, "requests") as requests:
        claimed = requests.start_verification(request["request_id"],
                                              {"expected_version": request["version"]})
        verified = requests.verify_request(request["request_id"], {
            "expected_version": claimed["version"], "checks": {c: VERDICT for c in KK}})
    with call(admin, "requests") as requests:
        return requests.decide_request(request["request_id"], {
            "expected_version": verified["version"], "approve": True,
            "reason": "memenuhi syarat", "outcome": {"nomor_kartu": "0001234567890"}})


def request_of(call, nip, request_id):
    with call(principal(nip, ["pegawai"]), "requests") as requests:
        return requests.get_request(request_id)


def verify_bytes(call, pdf: bytes) -> dict:
    with call({}) as public:
        return public.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})


def test_an_approved_request_ends_with_a_signed_document_and_completes(stack):
    call, store = stack
    nip = registered(call)
    approved = approved_request(call, store, nip)
    assert approved["state"] == "signing"
    rid = approved["request_id"]
    wait_for(lambda: request_of(call, nip, rid)["state"] == "completed", timeout=60,
             message="signed by the signing service, completed by requests")
    request = request_of(call, nip, rid)
    with call(principal(nip, ["pegawai"])) as own:
        document = own.request_output(rid)
    assert document["status"] == "signed" and document["sha256"] == request["output_sha256"]
    assert document["signer"] == ADMIN["actor_id"]  # the administrator who approved
    assert document["signer_name"] == "Dr. Budi Santoso, M.Si."
    assert document["number"].startswith("800.1.6.5/") and document["as_of"]
    pdf = store.read(document["sha256"])
    assert hashlib.sha256(pdf).hexdigest() == document["sha256"]
    page = PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"][0]["/Contents"].data
    assert nip.encode() in page and document["number"].encode() in page

    answer = verify_bytes(call, pdf)
    assert answer["valid"] and answer["status"] == "valid", answer
    assert answer["document"]["number"] == document["number"]
    assert answer["signature"]["signer"] == "Dr. Budi Santoso, M.Si."
    assert nip not in str(answer)  # no personal data on the public page
    with call({}) as public:
        by_link = public.verify_document(document["document_id"])
    assert by_link["valid"] and by_link["document"]["number"] == document["number"]

    # the employee may read it; another employee may not; the log says who downloaded it
    with call(principal(registered(call), ["pegawai"])) as stranger:
        with pytest.raises(NotFound):
            stranger.get_document(document["document_id"])
        with pytest.raises(NotFound):
            stranger.authorize_download(document["document_id"])
    with call(principal(nip, ["pegawai"])) as own:
        assert own.authorize_download(document["document_id"])["sha256"] == document["sha256"]


def test_a_changed_byte_anywhere_is_not_valid_and_revocation_shows(stack, database_url):
    call, store = stack
    nip = registered(call)
    with call(SYSTEM) as signing:
        issued = signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": "TEGURAN_TERTULIS",
            "signer": ADMIN["actor_id"], "nip": nip, "confidential": True})
    assert issued["status"] == "signed", issued
    pdf = store.read(issued["sha256"])
    assert verify_bytes(call, pdf)["valid"]
    step = max(1, len(pdf) // 97)
    for position in list(range(0, len(pdf), step)) + [len(pdf) - 1]:
        changed = bytearray(pdf)
        changed[position] ^= 0x01
        answer = verify_bytes(call, bytes(changed))
        assert not answer["valid"] and answer["status"] == "not_valid", position
    answer = verify_bytes(call, pdf[: len(pdf) // 2])
    assert not answer["valid"]

    with call(FASIL) as fasilitator:
        with pytest.raises(Forbidden):
            fasilitator.revoke_document(issued["document_id"], {"reason": "salah orang"})
    with call(ADMIN) as admin:
        with pytest.raises(ValidationFailed):
            admin.revoke_document(issued["document_id"], {"reason": "x"})  # a reason is due
        revoked = admin.revoke_document(issued["document_id"], {
            "reason": "teguran dibatalkan setelah klarifikasi", "decree": "800/123/204/2026"})
    assert revoked["status"] == "revoked"
    answer = verify_bytes(call, pdf)
    assert not answer["valid"] and answer["status"] == "revoked"
    assert answer["document"]["revoked_reason"] == "teguran dibatalkan setelah klarifikasi"
    with call({}) as public:
        assert public.verify_document(issued["document_id"])["status"] == "revoked"
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_type, metadata->>'actor_id' FROM signing.events WHERE "
                        "stream_id = %s ORDER BY version", (f"document:{issued['document_id']}",))
            assert cur.fetchall() == [("DocumentNumberAssigned", SYSTEM["actor_id"]),
                                      ("DocumentSigned", SYSTEM["actor_id"]),
                                      ("DocumentRevoked", ADMIN["actor_id"])]
    finally:
        conn.close()


def test_a_reissued_document_supersedes_the_old_one(stack):
    call, store = stack
    nip = registered(call)
    with call(SYSTEM) as signing:
        old = signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": "IZIN_BELAJAR",
            "signer": ADMIN["actor_id"], "nip": nip})
    with call(ADMIN) as admin:
        new = admin.reissue_document(old["document_id"], {"reason": "salah ketik unit kerja"})
        with raises_code("signing_error"):  # a superseded document is not replaced twice
            admin.reissue_document(old["document_id"], {"reason": "sekali lagi diganti"})
    assert new["status"] == "signed" and new["number"] != old["number"]
    assert new["subject"] == old["subject"]
    answer = verify_bytes(call, store.read(old["sha256"]))
    assert answer["status"] == "superseded"
    assert answer["document"]["superseded_by_number"] == new["number"]
    assert verify_bytes(call, store.read(new["sha256"]))["valid"]


def _kp_pembina_letters(database_url) -> list[tuple[int, str]]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT seq, status FROM signing.documents WHERE document_type = "
                        "'surat_lulus_kp_pembina' ORDER BY seq")
            return cur.fetchall()
    finally:
        conn.close()


def test_numbers_stay_unique_and_gapless_under_8_concurrent_signers(stack, database_url):
    call, _ = stack
    # letters this year's sequence gave out before (other tests of the run share the database)
    before = len(_kp_pembina_letters(database_url))

    def signer(index):
        numbers = []
        with call(SYSTEM) as signing:
            for turn in range(4):
                numbers.append(signing.issue_document({
                    "subject": f"case:{uuid.uuid4()}", "document_key": "UJIAN_KP_PEMBINA",
                    "signer": ADMIN["actor_id"], "values": {"nama_lengkap": f"Uji {index}"}})
                    ["number"])
        return numbers

    numbers = [n for t in [eventlet.spawn(signer, i) for i in range(8)] for n in t.wait()]
    assert len(numbers) == len(set(numbers)) == 32
    sequences = sorted(int(n.split("/")[1]) for n in numbers)
    rows = _kp_pembina_letters(database_url)
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM signing.events WHERE event_type = "
                        "'DocumentNumberAssigned' AND payload->>'document_type' = "
                        "'surat_lulus_kp_pembina'")
            assigned = cur.fetchone()[0]
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # no gap, no repeat
    assert sequences == list(range(before + 1, before + 33)) and assigned == before + 32
    assert {r[1] for r in rows} == {"signed"}


def test_a_document_waits_for_a_missing_key_and_is_signed_once_it_is_there(
        stack, keystore_dir):
    call, store = stack
    newcomer = principal(f"admin.{uuid.uuid4().hex[:6]}", ["administrator"])
    nip = registered(call)
    rid = approved_request(call, store, nip, admin=newcomer)["request_id"]

    def waiting():
        with call(ADMIN) as admin:
            return [d for d in admin.list_documents("waiting_key") if d["request_id"] == rid]

    wait_for(waiting, timeout=60, message="no key: the document waits, named")
    document = waiting()[0]
    assert newcomer["actor_id"] in document["last_error"] and document["number"]
    assert request_of(call, nip, rid)["state"] == "signing"
    with call(SYSTEM) as signing:
        with pytest.raises(ValidationFailed):  # asked directly, refused at once
            signing.issue_document({"subject": "case:x1", "document_key": "TEGURAN_TERTULIS",
                                    "signer": newcomer["actor_id"]})

    pki.add_signer(keystore_dir, newcomer["actor_id"], "Dra. Sri Wahyuni", "Sekretaris BKD")
    retried = retried_until_signed(call, document["document_id"])
    assert retried["number"] == document["number"]
    assert retried["signer_name"] == "Dra. Sri Wahyuni"
    wait_for(lambda: request_of(call, nip, rid)["state"] == "completed", timeout=60,
             message="the request completes once its document is signed")


def retried_until_signed(call, document_id: str) -> dict:
    """The administrator's retry, asked again until the answer is signed. The service's own
    timer may be trying the document at that very moment (begun before the cause was fixed):
    its claim wins and the retry answers the document as it stands, so the administrator asks
    again, as the page lets them."""
    def retried():
        with call(ADMIN) as admin:
            answer = admin.retry_document(document_id)
        return answer if answer["status"] == "signed" else None

    return wait_for(retried, timeout=60, message="signed on retry")


def test_who_may_ask_for_what(stack):
    call, _ = stack
    order = {"subject": f"case:{uuid.uuid4()}", "document_key": "TEGURAN_TERTULIS",
             "signer": ADMIN["actor_id"]}
    with call(FASIL) as fasilitator:
        with pytest.raises(Forbidden):
            fasilitator.issue_document(order)
        with pytest.raises(Forbidden):
            fasilitator.list_documents()
    with call({}) as anonymous:
        with pytest.raises(Unauthorized):
            anonymous.issue_document(order)
        with pytest.raises(NotFound):
            anonymous.verify_document(str(uuid.uuid4()))
        with pytest.raises(ValidationFailed):
            anonymous.verify_pdf({"pdf_base64": "%%% not base64"})
        assert anonymous.verify_pdf({"pdf_base64": base64.b64encode(b"MZ fake").decode()})[
            "code"] == "not_a_pdf"
    with call(SYSTEM) as signing:
        with pytest.raises(ValidationFailed):
            signing.issue_document({**order, "document_key": "TIDAK_ADA"})
        with pytest.raises(ValidationFailed):
            signing.issue_document({**order, "subject": "no colon here"})
        # the key store signs here: there is no BSrE to ask about an official
        with raises_code("not_bsre"):
            signing.official_status(ADMIN["actor_id"])


def test_with_a_time_stamping_authority_the_signature_is_pades_b_t(
        container_factory, service_config, keystore_dir):
    """SIGNING_TSA_URL set and SIGNING_PADES_LEVEL B-T: every signature carries an RFC 3161
    time stamp (B-LTA, the default with a TSA: tests/test_signing_ltv_service.py)."""
    index = json.loads((keystore_dir / "keystore.json").read_text())
    with LocalTsa(keystore_dir, index) as tsa:
        container_factory(SigningService, {**service_config, "SIGNING_TSA_URL": tsa.url,
                                           "SIGNING_PADES_LEVEL": "B-T"}).start()
        with ServiceRpcProxy("signing", service_config,
                             context_data=signed(SYSTEM, service_config)) as signing:
            issued = signing.issue_document({
                "subject": f"case:{uuid.uuid4()}", "document_key": "KARPEG",
                "signer": ADMIN["actor_id"], "values": {"nama_lengkap": "Uji Stempel Waktu"}})
            assert issued["status"] == "signed" and issued["pades_level"] == "B-T", issued
            assert tsa.requests >= 1  # pyHanko asks once more to size the signature
            pdf = FileSystemStore(service_config["DOCUMENT_ROOT"]).read(issued["sha256"])
            answer = signing.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})
    assert answer["valid"] and answer["signature"]["timestamped"]
    assert answer["signature"]["pades_level"] == "B-T"


def test_an_issued_written_warning_is_signed_by_the_administrator_who_issued_it(
        container_factory, service_config, database_url):
    from services.verification.service import VerificationService

    for service in (RecordsService, RequestsService, VerificationService, SigningService):
        container_factory(service, service_config).start()
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])

    def call(context, service="signing"):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    relays = [RelayThread(database_url, log, log, service_config["AMQP_URI"], name="teguran")
              for log in ("verification", "signing")]
    for relay in relays:
        relay.__enter__()
    try:
        nip = registered(call)
        request = submitted_request(call, store, nip)
        with call(FASIL, "verification") as verification:
            case = verification.report_fake_document({
                "request_id": request["request_id"], "document": "kk",
                "note": "cap dinas hasil tempelan"})
        with call(ADMIN, "verification") as verification:
            verification.issue_warning(case["case_id"], {"reason": "terbukti tidak asli"})

        def signed_letters():
            with call(ADMIN) as signing:
                return [d for d in signing.list_documents("signed")
                        if d["subject"] == f"case:{case['case_id']}"]

        wait_for(signed_letters, timeout=60, message="the teguran tertulis is signed")
        (document,) = signed_letters()
    finally:
        for relay in relays:
            relay.__exit__(None, None, None)
    assert document["document_key"] == "TEGURAN_TERTULIS" and document["confidential"]
    assert document["signer"] == ADMIN["actor_id"] and document["nip"] == nip
    page = PdfFileReader(io.BytesIO(store.read(document["sha256"]))).root["/Pages"]["/Kids"][0][
        "/Contents"].data
    assert nip.encode() in page and b"\\(kk\\)" in page
    with call(principal(nip, ["pegawai"])) as own:
        assert own.get_document(document["document_id"])["number"] == document["number"]
    with call(FASIL) as fasilitator:
        with pytest.raises(NotFound):  # confidential: BKD and the employee only
            fasilitator.get_document(document["document_id"])


def test_a_corrected_output_replaces_the_request_s_document(stack):
    """Re-issue after a correction to the record: a new number, the record as it is now, signed
    by the administrator who re-issues; the request points at the new PDF (OutputReplaced)."""
    call, store = stack
    nip = registered(call)
    rid = approved_request(call, store, nip)["request_id"]
    wait_for(lambda: request_of(call, nip, rid)["state"] == "completed", timeout=60,
             message="the first output is signed")
    with call(ADMIN, "records") as records:
        # records applies the completed layanan first (the card number): a change made before
        # that would race it for the record's version
        record = wait_for(lambda: (lambda r: r if r.get("nomor_bpjs") else None)(
            records.get_employee(nip)), timeout=60, message="the outcome reaches the record")
        records.record_history(nip, {
            "history": "pangkat", "entry": {"golongan": "III/b", "tmt": "2019-04-01",
                                            "jenis_kp": "reguler"},
            "expected_version": record["version"], "reason": "KP yang terlewat dicatat"})
    with call(ADMIN) as admin:
        old = admin.request_output(rid)
        new = admin.reissue_document(old["document_id"], {"reason": "pangkat terbaru"})
    assert new["status"] == "signed" and new["number"] != old["number"]
    wait_for(lambda: request_of(call, nip, rid)["output_sha256"] == new["sha256"], timeout=60,
             message="the request points at the corrected document")
    assert request_of(call, nip, rid)["state"] == "completed"
    with call(principal(nip, ["pegawai"]), "requests") as requests:
        events = [t["event"] for t in requests.request_timeline(rid)]
    assert events[-2:] == ["RequestCompleted", "OutputReplaced"]
    assert verify_bytes(call, store.read(old["sha256"]))["status"] == "superseded"


def test_checkpoints_on_demand_and_by_the_timer_sign_every_log_head(
        container_factory, service_config, keystore_dir, database_url):
    from services.signing import checkpoints
    from shared import SERVICES
    from tests.records_helpers import AUDITOR
    from tests.test_audit_cli import append_history

    append_history(database_url, stream="199404042018034004", count=1)  # a log grew
    container_factory(SigningService, {**service_config,
                                       "SIGNING_CHECKPOINT_SECONDS": 0.2}).start()
    roots = checkpoints.load_trust_roots([keystore_dir / "root-ca.pem"])

    def timer_made():
        with ServiceRpcProxy("signing", service_config,
                             context_data=signed(AUDITOR, service_config)) as signing:
            return [c for c in signing.list_checkpoints() if c["trigger"] == "timer"]

    wait_for(timer_made, timeout=30, message="the timer signs the heads")
    with ServiceRpcProxy("signing", service_config,
                         context_data=signed(ADMIN, service_config)) as signing:
        made = signing.sign_checkpoint()
    assert made["trigger"] == "on_demand" and set(made["heads"]) == set(SERVICES)
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT payload FROM signing.events WHERE position = %s",
                        (made["position"],))
            (payload,) = cur.fetchone()
            cur.execute("SELECT last_position, last_hash FROM records.event_log_head")
            records_head = cur.fetchone()
    finally:
        conn.close()
    assert checkpoints.verify_signature(payload, roots)[0]
    # nothing writes to records here: the signed head is the head
    assert (made["heads"]["records"]["position"], made["heads"]["records"]["hash"]) == \
        records_head
    with ServiceRpcProxy("signing", service_config,
                         context_data=signed(AUDITOR, service_config)) as signing:
        with pytest.raises(Forbidden):  # auditors read; they do not write to the logs
            signing.sign_checkpoint()
        assert signing.list_checkpoints()[0]["position"] >= made["position"]
    with ServiceRpcProxy("signing", service_config,
                         context_data=signed(FASIL, service_config)) as signing:
        with pytest.raises(Forbidden):
            signing.list_checkpoints()


def _signing_workers() -> list[int]:
    """This test process's signing worker processes (the service containers run in it)."""
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"services.signing.worker" in command:
            found.append(int(entry.name))
    return found


def test_a_killed_signing_worker_fails_one_document_which_is_then_retried(stack):
    import os
    import signal
    from pathlib import Path

    call, store = stack
    order = {"document_key": "KARPEG", "signer": ADMIN["actor_id"],
             "values": {"nama_lengkap": "Uji Pekerja"}}
    with call(SYSTEM) as signing:
        first = signing.issue_document({**order, "subject": f"case:{uuid.uuid4()}"})
    assert first["status"] == "signed"
    workers = _signing_workers()
    assert workers, "signatures are made in a worker process"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: all(not Path(f"/proc/{pid}/cmdline").read_bytes() if Path(
        f"/proc/{pid}").exists() else True for pid in workers), timeout=10,
             message="the workers are gone")
    with call(SYSTEM) as signing:
        failed = signing.issue_document({**order, "subject": f"case:{uuid.uuid4()}"})
    assert failed["status"] == "failed" and failed["number"]  # numbered, kept for the retry
    assert "proses penandatangan" in failed["last_error"]
    retried = retried_until_signed(call, failed["document_id"])
    assert retried["number"] == failed["number"]
    assert set(_signing_workers()).isdisjoint(workers)  # a fresh worker took the slot
    assert verify_bytes(call, store.read(retried["sha256"]))["valid"]


SEEN_ON_BUS: list[dict] = []


class SigningListener:
    """Stands for any consumer of the signing log's events on the bus."""

    name = "signing_listener"

    @event_handler("signing", "DocumentNumberAssigned", handler_type=SERVICE_POOL)
    def numbered(self, envelope):
        SEEN_ON_BUS.append(envelope)

    @event_handler("signing", "DocumentSigned", handler_type=SERVICE_POOL)
    def signed(self, envelope):
        SEEN_ON_BUS.append(envelope)

    @event_handler("signing", "DocumentDownloaded", handler_type=SERVICE_POOL)
    def downloaded(self, envelope):
        SEEN_ON_BUS.append(envelope)


def test_a_confidential_document_is_only_named_on_the_bus(
        container_factory, service_config, database_url):
    """A written warning (confidential): its events reach consumers with the subject, number
    and hash only — no NIP, no signer, no name — while the log keeps everything."""
    SEEN_ON_BUS.clear()
    container_factory(RecordsService, service_config).start()
    container_factory(SigningService, service_config).start()
    container_factory(SigningListener, service_config).start()
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with ServiceRpcProxy("records", service_config,
                         context_data=signed(ADMIN, service_config)) as records:
        records.register_employee(person, "data awal")
    subject = f"case:{uuid.uuid4()}"
    with ServiceRpcProxy("signing", service_config,
                         context_data=signed(SYSTEM, service_config)) as signing:
        issued = signing.issue_document({"subject": subject, "document_key": "TEGURAN_TERTULIS",
                                         "signer": ADMIN["actor_id"], "nip": nip,
                                         "confidential": True})
    with ServiceRpcProxy("signing", service_config, context_data=signed(principal(nip, ["pegawai"]),
                                                            service_config)) as own:
        own.authorize_download(issued["document_id"])
    mine = lambda: [e for e in SEEN_ON_BUS if e["payload"].get("subject") == subject  # noqa: E731
                    or e["stream_id"].endswith(issued["document_id"])]
    with RelayThread(database_url, "signing", "signing", service_config["AMQP_URI"],
                     name="signing-redaction"):
        wait_for(lambda: len(mine()) == 3, timeout=30, message="the three events on the bus")
    for envelope in mine():
        assert envelope["redacted"] is True and envelope["payload"]["withheld"] is True
        assert set(envelope["payload"]) <= {"confidential", "withheld", "subject",
                                            "request_id", "sha256", "number"}
    text = repr(mine())
    for secret in (nip, "Budi Santoso", "Kepala Badan"):
        assert secret not in text
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT payload->>'nip', payload->>'signer_name' FROM signing.events "
                        "WHERE stream_id = %s AND event_type = 'DocumentSigned'",
                        (f"document:{issued['document_id']}",))
            assert cur.fetchone() == (nip, "Dr. Budi Santoso, M.Si.")  # the log keeps it
    finally:
        conn.close()


def test_the_documents_list_pages_and_filters(stack):
    """The web application's list (issue 16): newest first, `limit` and `offset`, of one
    employee, one kind or one request; the list stays BKD's and the auditors'."""
    call, store = stack
    nip = registered(call)
    rid = approved_request(call, store, nip)["request_id"]
    with call(SYSTEM) as signing:
        for index in range(3):
            signing.issue_document({"subject": f"case:{uuid.uuid4()}",
                                    "document_key": "UJIAN_KP_PEMBINA",
                                    "signer": ADMIN["actor_id"],
                                    "values": {"nama_lengkap": f"Halaman {index}"}})

    def own():
        with call(ADMIN) as admin:
            return admin.list_documents(None, 10, {"nip": nip})

    wait_for(lambda: own() and own()[0]["status"] == "signed", timeout=60,
             message="the request's document is signed")
    (document,) = own()
    assert document["request_id"] == rid and document["nip"] == nip
    kind = "surat_lulus_kp_pembina"
    with call(ADMIN) as admin:
        assert admin.list_documents(None, 10, {"request_id": rid}) == own()
        first = admin.list_documents("signed", 2, {"document_type": kind})
        assert [d["document_type"] for d in first] == [kind, kind]
        assert first[0]["created_at"] >= first[1]["created_at"]
        second = admin.list_documents("signed", 1, {"document_type": kind, "offset": 1})
        assert second == first[1:]
        assert admin.list_documents(None, 5, {"nip": "1" * 18}) == []
        with pytest.raises(ValidationFailed):
            admin.list_documents(None, 5, {"nip": "bukan-nip"})
        assert len(admin.list_documents()) <= 100  # the older call: the newest 100
    with call(FASIL) as fasilitator, pytest.raises(Forbidden):
        fasilitator.list_documents(None, 5, {"nip": nip})
    with call(principal(nip, ["pegawai"])) as pegawai:  # their own, signed ones only
        assert [d["document_id"] for d in pegawai.my_documents({})] == [
            document["document_id"]]
        assert pegawai.my_documents({"offset": 1}) == []
        with pytest.raises(ValidationFailed):
            pegawai.my_documents({"limit": 0})
    with call(principal(registered(call), ["pegawai"])) as someone_else:
        assert someone_else.my_documents({}) == []
