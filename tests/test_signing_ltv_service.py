"""Long-term validation through the signing service (issue 20), over real RabbitMQ and
PostgreSQL, signing in its worker process: with a TSA configured a document is signed at PAdES
B-LTA (the CA's OCSP answers embedded, fetched from the test's responder); public verification
answers the proved signing time and the evidence; the signer revoked later, the archive time
stamp renewed by the service (a new revision stored, the old bytes still verify as this
document, an event logged) — and judged past the certificates' expiry it is still valid at
signing time. A document asked for after the signer's revocation is not signed."""

import base64
import datetime as dt
import io
import json
import uuid

import psycopg2
import pytest
import yaml
from nameko.standalone.rpc import ServiceRpcProxy
from pyhanko.pdf_utils.reader import PdfFileReader

from services.signing import ltv, pdfsign, pki
from services.signing.service import SigningService
from shared.objectstore import FileSystemStore
from simasn_cli.main import main as cli_main
from tests.helpers import signed
from tests.ltv_helpers import dev_ca, fresh_b_lta
from tests.records_helpers import ADMIN, principal

pytestmark = pytest.mark.timeout(240)

SYSTEM = principal("service:verification", ["system"])
NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(days=90)


@pytest.fixture
def ltv_stack(container_factory, service_config, tmp_path):
    """A key store of its own whose certificates name the test's OCSP responder and CRL; the
    signer's certificate ends in 60 days, the TSA's in 30 (inside the renewal window)."""
    with dev_ca(tmp_path / "keystore", ADMIN["actor_id"], "Dr. Budi Santoso, M.Si.",
                "Kepala BKD", signer_not_after=NOW + dt.timedelta(days=60),
                tsa_not_after=NOW + dt.timedelta(days=30)) as ca:
        config = {**service_config, "SIGNING_KEYSTORE_DIR": str(ca.directory),
                  "SIGNING_TSA_URL": ca.tsa.url, "SIGNING_VERIFY_ONLINE": "true",
                  "SIGNING_REVOCATION_TIMEOUT": 5}
        container_factory(SigningService, config).start()

        def call(context):
            return ServiceRpcProxy("signing", config, context_data=signed(context, config))

        yield {"call": call, "store": FileSystemStore(config["DOCUMENT_ROOT"]),
               "config": config, "directory": ca.directory, "keystore": ca.keystore,
               "responders": ca.responders, "tsa": ca.tsa}


def issue(call, name="Uji Arsip"):
    with call(SYSTEM) as signing:
        return signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": "PENSIUN",
            "signer": ADMIN["actor_id"], "values": {"nama_lengkap": name}})


def verify(call, pdf: bytes) -> dict:
    with call({}) as public:
        return public.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})


def test_a_b_lta_document_is_renewed_and_stays_valid_at_signing_time(ltv_stack, tmp_path,
                                                                     monkeypatch, capsys,
                                                                     database_url):
    call, store = ltv_stack["call"], ltv_stack["store"]
    keystore, responders = ltv_stack["keystore"], ltv_stack["responders"]
    issued = issue(call)
    assert issued["status"] == "signed" and issued["pades_level"] == "B-LTA", issued
    # the event names the signer's certificate, not the document time stamp's TSA (the last
    # signature in a B-LTA file)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT payload->>'certificate_serial' FROM signing.events WHERE "
                    "event_type = 'DocumentSigned' AND stream_id LIKE %s",
                    (f"%{issued['document_id']}",))
        assert cur.fetchone()[0] == str(keystore.certificate(ADMIN["actor_id"]).serial_number)
    first = store.read(issued["sha256"])
    signature = fresh_b_lta(verify(call, first))
    assert signature["current_revocation"]["status"] == "good"  # the CA, asked now

    responders.revoke(keystore.certificate(ADMIN["actor_id"]))  # after signing
    index = pki.renew_tsa(ltv_stack["directory"])
    ltv_stack["tsa"].use(index)  # the TSA's next certificate
    with call(ADMIN) as admin:
        # the run's database may hold other tests' documents (their TSAs gone): this one's
        # outcome is what counts
        counts = admin.renew_timestamps()
        assert counts["renewed"] >= 1, counts
        renewed_doc = admin.get_document(issued["document_id"])
        admin.renew_timestamps()  # not due any more: the new TSA certificate lasts years
        unchanged = admin.get_document(issued["document_id"])
    assert renewed_doc["sha256"] != issued["sha256"]
    assert unchanged["sha256"] == renewed_doc["sha256"]
    # the operator's command asks the running service the same
    config_file = tmp_path / "cli.yaml"
    config_file.write_text(yaml.safe_dump({k: v for k, v in ltv_stack["config"].items()
                                           if isinstance(v, (str, int, float))}))
    monkeypatch.setenv("SIMASN_CONFIG", str(config_file))
    assert cli_main(["signing", "renew-timestamps", "--timeout", "120"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"renewed", "skipped", "failed"}
    renewed = store.read(renewed_doc["sha256"])
    assert renewed.startswith(first)  # the signed revision untouched

    answer = verify(call, renewed)
    assert answer["valid"] and answer["document"]["number"] == issued["number"], answer
    assert len(answer["signature"]["archive_timestamps"]) == 2
    # revoked after the proved signing time: the CA's answer is shown, the verdict stands
    assert answer["signature"]["current_revocation"]["status"] == "revoked"
    old_copy = verify(call, first)  # a copy downloaded before the renewal
    assert old_copy["valid"] and old_copy["document"]["number"] == issued["number"], old_copy
    with call({}) as public:
        by_link = public.verify_document(issued["document_id"])
    assert by_link["valid"] and by_link["sha256"] == renewed_doc["sha256"]

    # years later, offline: past the signer's and the first TSA's certificates
    later = pdfsign.verify(renewed, keystore.trust_roots, moment=LATER)
    assert later.valid, later
    assert pdfsign.verify(first, keystore.trust_roots, moment=LATER).code == "expired"
    stamps = ltv.archive_timestamps(PdfFileReader(io.BytesIO(renewed)))
    assert stamps[0]["tsa_not_after"] < LATER < stamps[1]["tsa_not_after"]


def test_a_document_asked_for_after_the_signer_s_revocation_is_not_signed(ltv_stack):
    call = ltv_stack["call"]
    ltv_stack["responders"].revoke(ltv_stack["keystore"].certificate(ADMIN["actor_id"]))
    issued = issue(call, "Uji Setelah Dicabut")
    assert issued["status"] == "failed" and issued["sha256"] is None, issued
    assert "CertificateNotInForce" in issued["last_error"], issued


def test_after_the_tsa_moves_to_its_next_certificate_new_documents_carry_its_data(ltv_stack):
    """The same running service (its signing worker started) signs before and after the TSA
    moves to its next certificate: the second document embeds the new certificate's
    validation data, so its time stamp proves the signing time offline after the signer's
    certificate ended (a timestamper kept from the first document would embed the old one's)."""
    call, store, keystore = ltv_stack["call"], ltv_stack["store"], ltv_stack["keystore"]
    assert issue(call, "Uji Sebelum Pergantian TSA")["status"] == "signed"
    ltv_stack["tsa"].use(pki.renew_tsa(ltv_stack["directory"]))
    second = issue(call, "Uji Sesudah Pergantian TSA")
    assert second["status"] == "signed", second
    verdict = pdfsign.verify(store.read(second["sha256"]), keystore.trust_roots, moment=LATER)
    assert verdict.valid, verdict
    (stamp,) = verdict.archive_timestamps
    assert dt.datetime.fromisoformat(stamp["tsa_not_after"]) > LATER
