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

import pytest
import yaml
from nameko.standalone.rpc import ServiceRpcProxy
from pyhanko.pdf_utils.reader import PdfFileReader

from services.signing import ltv, pdfsign, pki
from services.signing.keystore import Keystore
from services.signing.service import SigningService
from shared.objectstore import FileSystemStore
from simasn_cli.main import main as cli_main
from tests.helpers import signed
from tests.records_helpers import ADMIN, principal
from tests.revocation_server import RevocationServer
from tests.tsa_server import LocalTsa

pytestmark = pytest.mark.timeout(240)

SYSTEM = principal("service:verification", ["system"])
NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(days=90)


@pytest.fixture
def ltv_stack(container_factory, service_config, tmp_path):
    """A key store of its own whose certificates name the test's OCSP responder and CRL; the
    signer's certificate ends in 60 days, the TSA's in 30 (inside the renewal window)."""
    directory = tmp_path / "keystore"
    with RevocationServer(directory) as responders:
        pki.init(directory, [], revocation_url=responders.url,
                 tsa_not_after=NOW + dt.timedelta(days=30))
        root = pki.load_root(directory)
        index = json.loads((directory / "keystore.json").read_text())
        index["signers"][ADMIN["actor_id"]] = pki.write_entry(
            directory, root, ADMIN["actor_id"], "Dr. Budi Santoso, M.Si.", "Kepala BKD",
            issued=pki.issue(root, "Dr. Budi Santoso, M.Si.", unit="Kepala BKD",
                             serial=ADMIN["actor_id"], revocation_url=responders.url,
                             not_after=NOW + dt.timedelta(days=60)))
        (directory / "keystore.json").write_text(json.dumps(index))
        with LocalTsa(directory, index) as tsa:
            config = {**service_config, "SIGNING_KEYSTORE_DIR": str(directory),
                      "SIGNING_TSA_URL": tsa.url, "SIGNING_VERIFY_ONLINE": "true",
                      "SIGNING_REVOCATION_TIMEOUT": 5}
            container_factory(SigningService, config).start()

            def call(context):
                return ServiceRpcProxy("signing", config,
                                       context_data=signed(context, config))

            yield {"call": call, "store": FileSystemStore(config["DOCUMENT_ROOT"]),
                   "config": config,
                   "directory": directory, "keystore": Keystore(directory),
                   "responders": responders, "tsa": tsa}


def issue(call, name="Uji Arsip"):
    with call(SYSTEM) as signing:
        return signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": "PENSIUN",
            "signer": ADMIN["actor_id"], "values": {"nama_lengkap": name}})


def verify(call, pdf: bytes) -> dict:
    with call({}) as public:
        return public.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})


def test_a_b_lta_document_is_renewed_and_stays_valid_at_signing_time(ltv_stack, tmp_path,
                                                                     monkeypatch, capsys):
    call, store = ltv_stack["call"], ltv_stack["store"]
    keystore, responders = ltv_stack["keystore"], ltv_stack["responders"]
    issued = issue(call)
    assert issued["status"] == "signed" and issued["pades_level"] == "B-LTA", issued
    first = store.read(issued["sha256"])
    answer = verify(call, first)
    assert answer["valid"], answer
    signature = answer["signature"]
    assert signature["pades_level"] == "B-LTA" and signature["proved_signing_time"]
    assert len(signature["archive_timestamps"]) == 1
    assert [e["status"] for e in signature["revocation_evidence"]] == ["good"]
    assert signature["current_revocation"]["status"] == "good"  # the CA, asked now

    responders.revoke(keystore.certificate(ADMIN["actor_id"]))  # after signing
    index = pki.renew_tsa(ltv_stack["directory"])
    ltv_stack["tsa"].use(index)  # the TSA's next certificate
    with call(ADMIN) as admin:
        counts = admin.renew_timestamps()
        assert counts["renewed"] >= 1 and counts["failed"] == 0, counts
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
    assert json.loads(capsys.readouterr().out)["failed"] == 0
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
