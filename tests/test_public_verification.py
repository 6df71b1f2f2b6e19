"""Anonymous public verification answers only documented reasons (issue 12, defect 10): whatever
an anonymous caller uploads (random bytes, a truncated or malformed PDF, a PDF whose signature
dictionary is garbage), the answer's `code` is one of the documented codes and its `reason` the
fixed message of that code; no text of pyHanko, asn1crypto or any exception reaches the caller.
The detail of what could not be read is logged by the signing service."""

import base64
import random
import re
import uuid

import pytest
import structlog
from nameko.standalone.rpc import ServiceRpcProxy

from services.signing import pdfsign, pki
from services.signing.keystore import Keystore
from services.signing.service import SigningService
from shared.contracts.signing import (
    SIGNATURE_REASONS,
    VERIFICATION_REASONS,
    VERIFICATION_STATUSES,
)
from shared.objectstore import FileSystemStore
from tests.helpers import signed
from tests.records_helpers import ADMIN, principal
from tests.test_signing_pdf import rendered

pytestmark = pytest.mark.timeout(180)

SYSTEM = principal("service:verification", ["system"])
#: fields of an answer that carry data (the registered document, the certificate's subject),
#: not a verdict: everything else must be a documented code, status or message
DATA_KEYS = {"document", "sha256", "signer", "signer_serial", "signed_at", "pades_level",
             "proved_signing_time", "archive_timestamps", "revocation_evidence",
             "current_revocation"}
DOCUMENTED = (set(VERIFICATION_REASONS) | set(VERIFICATION_REASONS.values())
              | set(SIGNATURE_REASONS.values()) | set(VERIFICATION_STATUSES))


def _replace(pdf: bytes, pattern: bytes, replacement: bytes) -> bytes:
    """`pdf` with the first match of `pattern` overwritten in place (same length: the offsets
    in the cross-reference table stay right, so only the signature dictionary is garbage)."""
    found = re.search(pattern, pdf)
    assert found, pattern
    assert len(replacement) <= len(found.group(0))
    return pdf[:found.start()] + replacement.ljust(len(found.group(0))) + pdf[found.end():]


def _garbage_contents(pdf: bytes) -> bytes:
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    end = pdf.index(b">", start)
    return pdf[:start] + b"ab" * ((end - start) // 2) + pdf[end:]


def hostile_files(signed: bytes, unsigned: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes an anonymous caller uploads, the code the answer must carry)."""
    rng = random.Random(20261201)  # noqa: S311 - test data, not a secret
    files = {f"random {size} bytes": (rng.randbytes(size), "not_a_pdf")
             for size in (1, 64, 4096)}
    files |= {
        "a PDF header and nothing else": (b"%PDF-1.7\n", "not_a_pdf"),
        "a header and an end marker": (b"%PDF-1.7\n%%EOF", "not_a_pdf"),
        "a header, then garbage": (b"%PDF-1.4\n" + rng.randbytes(2000), "not_a_pdf"),
        "an unsigned PDF": (unsigned, "no_signature"),
        "a signed PDF not issued by SIMASN": (signed, "not_issued"),
        "the last byte cut off": (signed[:-1], "modified"),
        "bytes appended": (signed + b"\n% appended\n", "modified"),
        "signature /Type garbage": (_replace(signed, rb"/Type /Sig\b", b"/Type /Xx"),
                                    "invalid_signature"),
        "signature /Contents garbage": (_garbage_contents(signed), "invalid_signature"),
        "signature /Contents a truncated DER blob": (
            _replace(signed, rb"/Contents <[0-9a-fA-F]{40}", b"/Contents <3003020100"),
            "invalid_signature"),
        "signature /ByteRange garbage": (
            _replace(signed, rb"/ByteRange \[[^\]]*\]", b"/ByteRange [0 99999999 -5 x]"),
            "invalid_signature"),
        "signature /ByteRange with a float": (
            _replace(signed, rb"/ByteRange \[[^\]]*\]", b"/ByteRange [0 1.5 20 3e9]"),
            "invalid_signature"),
    }
    for fraction in (0.1, 0.5, 0.9):
        files[f"truncated at {fraction:.0%}"] = (signed[:int(len(signed) * fraction)],
                                                 "not_a_pdf")
    return files


def assert_only_documented(answer: dict) -> None:
    """The answer's verdict is a documented code with its fixed message, and no other text
    (library messages above all) appears anywhere but in the data fields."""
    assert answer["code"] in VERIFICATION_REASONS, answer
    assert answer["reason"] == VERIFICATION_REASONS[answer["code"]], answer
    assert answer["status"] in VERIFICATION_STATUSES, answer
    signature = answer["signature"]
    if signature is not None:
        assert signature["code"] in SIGNATURE_REASONS, answer
        assert signature["reason"] == SIGNATURE_REASONS[signature["code"]], answer

    def texts(value, key=None):
        if key in DATA_KEYS:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                yield from texts(v, k)
        elif isinstance(value, str):
            yield value

    assert set(texts(answer)) <= DOCUMENTED, answer


@pytest.fixture
def signing(container_factory, service_config):
    container_factory(SigningService, service_config).start()

    def call(context):
        return ServiceRpcProxy("signing", service_config,
                               context_data=signed(context, service_config))

    return call, FileSystemStore(service_config["DOCUMENT_ROOT"])


def test_hostile_uploads_are_answered_with_documented_reasons_only(signing, keystore_dir):
    call, store = signing
    keystore = Keystore(keystore_dir)
    signed = pdfsign.sign(rendered("KGB"), keystore.signer(ADMIN["actor_id"]),
                          name="Dr. Budi Santoso, M.Si.", jabatan="Kepala BKD", reason="uji")
    files = hostile_files(signed, rendered("KGB"))
    stranger = pki.make_root("CA lain")
    impostor = pki.issue(stranger, "Dr. Budi Santoso, M.Si.")
    from pyhanko.sign import signers

    other = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12_bytes(impostor, [], b"pw", "x"), [], passphrase=b"pw")
    files["signed by a certificate of another CA"] = (
        pdfsign.sign(rendered("KGB"), other, name="Palsu", jabatan="x", reason="x"),
        "untrusted")

    seen = {}
    with call({}) as public:
        for name, (pdf, expected) in files.items():
            answer = public.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})
            assert_only_documented(answer)
            assert answer["valid"] is False and answer["status"] == "not_valid", name
            assert answer["code"] == expected, (name, answer)
            seen[name] = answer["code"]

        # a document SIMASN issued: valid, then revoked, then (another one) superseded
        with call(SYSTEM) as system:
            issued = [system.issue_document({
                "subject": f"case:{uuid.uuid4()}", "document_key": "KARPEG",
                "signer": ADMIN["actor_id"], "values": {"nama_lengkap": f"Uji {n}"}})
                for n in range(2)]
        pdfs = [store.read(document["sha256"]) for document in issued]
        answer = public.verify_pdf({"pdf_base64": base64.b64encode(pdfs[0]).decode()})
        assert_only_documented(answer)
        seen["issued"] = answer["code"]
        changed = bytearray(pdfs[0])
        changed[len(changed) // 3] ^= 0x01
        answer = public.verify_pdf({"pdf_base64": base64.b64encode(bytes(changed)).decode()})
        assert_only_documented(answer)
        assert answer["code"] == "modified", answer
        with call(ADMIN) as admin:
            admin.revoke_document(issued[0]["document_id"], {
                "reason": "dibatalkan: keputusan keliru", "decree": "800/1/204/2026"})
            successor = admin.reissue_document(issued[1]["document_id"],
                                               {"reason": "penggantian dokumen"})
        for document_id, pdf, name in ((issued[0]["document_id"], pdfs[0], "revoked"),
                                       (issued[1]["document_id"], pdfs[1], "superseded")):
            answer = public.verify_pdf({"pdf_base64": base64.b64encode(pdf).decode()})
            assert_only_documented(answer)
            seen[name] = answer["code"]
            by_link = public.verify_document(document_id)
            assert_only_documented(by_link)
            assert by_link["code"] == answer["code"]
        # what the administrator wrote stays in the document's data, not in the verdict
        assert by_link["document"]["superseded_by_number"] == successor["number"]
        revoked = public.verify_document(issued[0]["document_id"])
        assert revoked["document"]["revoked_reason"] == "dibatalkan: keputusan keliru"

    assert set(seen.values()) == {
        "not_a_pdf", "no_signature", "not_issued", "modified", "invalid_signature",
        "untrusted", "valid", "revoked", "superseded"}
    assert set(seen.values()) <= set(VERIFICATION_REASONS)


def test_the_detail_of_an_unreadable_signature_is_logged_not_answered(keystore_dir):
    keystore = Keystore(keystore_dir)
    signed = pdfsign.sign(rendered("KGB"), keystore.signer(ADMIN["actor_id"]),
                          name="Dr. Budi Santoso, M.Si.", jabatan="Kepala BKD", reason="uji")
    garbage = _replace(signed, rb"/Type /Sig\b", b"/Type /Xx")
    with structlog.testing.capture_logs() as logs:
        verdict = pdfsign.verify(garbage, keystore.trust_roots)
    assert verdict.code == "invalid_signature"
    assert verdict.reason == SIGNATURE_REASONS["invalid_signature"]
    logged = [entry for entry in logs if entry["event"] == "pdf_signature_unreadable"]
    assert logged and "/Sig" in logged[0]["detail"], logs  # pyHanko's own words, in the log
    assert "/Sig" not in str(verdict.as_dict())
