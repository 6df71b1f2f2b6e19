"""BSrE's signatures kept verifiable for decades (issue 20): BSrE signs at B-T (its own time
stamp) or B-B; the signing service raises what BSrE returns to B-LTA itself — the CA's OCSP
answers for the official's certificate in the DSS and a document time stamp over it — so the
renewal job reaches it like any other document. Against the BSrE stand-in
(tests/bsre_server.py), the test CA's responders and TSA, the signing service over real
RabbitMQ and PostgreSQL: the official signs with their passphrase, the document is B-LTA; the
certificate revoked later, the archive time stamp renewed, judged past every certificate's
expiry — valid at signing time. An official whose certificate is already revoked: BSrE's
signature is not kept, the document keeps waiting, the official is told why."""

import base64
import datetime as dt
import io
import json
import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from pyhanko.pdf_utils.reader import PdfFileReader

from services.signing import ltv, pdfsign, pki
from services.signing.service import SigningService
from shared.objectstore import FileSystemStore
from tests.bsre_server import CLIENT, LocalBsre
from tests.helpers import raises_code, signed
from tests.ltv_helpers import dev_ca, fresh_b_lta
from tests.records_helpers import ADMIN, principal

pytestmark = pytest.mark.timeout(240)

SYSTEM = principal("service:verification", ["system"])
NIK = "3578010101700001"
PASSPHRASE = "Rahasia#Pejabat-2026"
NOW = dt.datetime.now(dt.UTC)
#: past the official's certificate (60 days) and the first TSA certificate (30 days)
LATER = NOW + dt.timedelta(days=90)


@pytest.fixture(params=["B-T", "B-B"], ids=["bsre-timestamps", "bsre-bare"])
def bsre_ltv(request, container_factory, service_config, tmp_path):
    """The signing service with SIGNING_BACKEND=bsre and a TSA; the stand-in holds the
    official's key (issued by the test CA, naming its responders) and signs at the level of
    the parameter."""
    with dev_ca(tmp_path / "keystore", ADMIN["actor_id"], "Dr. Budi Santoso, M.Si.",
                "Kepala BKD", signer_not_after=NOW + dt.timedelta(days=60),
                tsa_not_after=NOW + dt.timedelta(days=30)) as ca:
        official = ca.keystore.signer(ADMIN["actor_id"])
        certificate = ca.keystore.certificate(ADMIN["actor_id"])
        index = json.loads((ca.directory / "keystore.json").read_text())
        index["signers"][ADMIN["actor_id"]] = {"nik": NIK, "name": "Dr. Budi Santoso, M.Si.",
                                               "jabatan": "Kepala BKD"}
        (ca.directory / "keystore.json").write_text(json.dumps(index))
        bsre_tsa = ca.tsa.url if request.param == "B-T" else None
        with LocalBsre({NIK: (PASSPHRASE, official)}, tsa_url=bsre_tsa) as bsre:
            config = {**service_config, "SIGNING_KEYSTORE_DIR": str(ca.directory),
                      "SIGNING_BACKEND": "bsre", "BSRE_URL": bsre.url,
                      "BSRE_CLIENT_ID": CLIENT[0], "BSRE_CLIENT_SECRET": CLIENT[1],
                      "SIGNING_TSA_URL": ca.tsa.url, "SIGNING_REVOCATION_TIMEOUT": 5}
            container_factory(SigningService, config).start()

            def call(context):
                return ServiceRpcProxy("signing", config, context_data=signed(context, config))

            yield {"call": call, "store": FileSystemStore(config["DOCUMENT_ROOT"]),
                   "ca": ca, "certificate": certificate, "bsre": bsre,
                   "bsre_level": request.param}


def issue_and_wait(call) -> dict:
    with call(SYSTEM) as signing:
        waiting = signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": "PENSIUN",
            "signer": ADMIN["actor_id"], "values": {"nama_lengkap": "Uji BSrE Arsip"}})
    assert waiting["status"] == "waiting_passphrase", waiting
    return waiting


def verify(call, pdf: bytes) -> dict:
    with call({}) as public:
        return public.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})


def test_bsre_s_signature_is_raised_to_b_lta_renewed_and_valid_years_later(bsre_ltv):
    call, store, ca = bsre_ltv["call"], bsre_ltv["store"], bsre_ltv["ca"]
    waiting = issue_and_wait(call)
    with call(ADMIN) as admin:
        done = admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    assert done["status"] == "signed" and done["pades_level"] == "B-LTA", done
    assert bsre_ltv["bsre"].signed == 1
    first = store.read(done["sha256"])
    reader = PdfFileReader(io.BytesIO(first))
    (bsre_signature,) = reader.embedded_regular_signatures
    assert bsre_signature.field_name == "BSrE"  # BSrE's signature, ours only added to it
    assert (ltv.signature_timestamp(bsre_signature) is not None) == \
        (bsre_ltv["bsre_level"] == "B-T")
    assert bsre_signature.signer_cert.serial_number == bsre_ltv["certificate"].serial_number

    fresh_b_lta(verify(call, first))

    # revoked after signing; the TSA moves to its next certificate; the renewal reaches it
    ca.responders.revoke(bsre_ltv["certificate"])
    ca.tsa.use(pki.renew_tsa(ca.directory))
    with call(ADMIN) as admin:
        # the run's database may hold other tests' documents: this one's outcome counts
        assert admin.renew_timestamps()["renewed"] >= 1
        renewed_doc = admin.get_document(done["document_id"])
    renewed = store.read(renewed_doc["sha256"])
    assert renewed.startswith(first)

    later = pdfsign.verify(renewed, ca.keystore.trust_roots, moment=LATER)
    assert later.valid and later.code == "valid", later
    assert len(later.archive_timestamps) == 2
    proved = dt.datetime.fromisoformat(later.proved_signing_time)
    assert NOW - dt.timedelta(minutes=5) < proved < dt.datetime.now(dt.UTC)
    # without the renewal the first TSA certificate has ended: nothing proves it any more
    assert pdfsign.verify(first, ca.keystore.trust_roots, moment=LATER).code == "expired"


def test_an_official_already_revoked_is_not_kept_and_the_document_waits(bsre_ltv):
    call, ca = bsre_ltv["call"], bsre_ltv["ca"]
    ca.responders.revoke(bsre_ltv["certificate"], NOW - dt.timedelta(hours=1))
    waiting = issue_and_wait(call)
    with call(ADMIN) as admin, raises_code("signer_certificate_not_in_force") as caught:
        admin.sign_document(waiting["document_id"], {"passphrase": PASSPHRASE})
    assert "revoked" in caught.value.details["reason"].lower(), caught.value.details
    with call(ADMIN) as admin:
        after = admin.get_document(waiting["document_id"])
    assert after["status"] == "waiting_passphrase" and after["sha256"] is None, after
    assert after["last_error"].startswith("NotInForce") and "Revoked" in after["last_error"]
