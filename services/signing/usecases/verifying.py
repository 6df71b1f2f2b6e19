"""Public verification: is this PDF (or the document behind this QR link) one SIMASN issued,
intact, validly signed, and still in force? Answers carry no personal data: the document's title,
number, signer and dates, never the employee's name or NIP. Every answer is one of the documented
codes with its fixed message (shared.contracts.signing.VERIFICATION_REASONS)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from eventlet import tpool

from services.signing import pdfsign
from services.signing.usecases import issuing
from shared.contracts.signing import VERIFICATION_REASONS
from shared.errors import ValidationFailed
from shared.logging import get_logger

log = get_logger(__name__)

_ID_IN_PDF = re.compile(rb"SIMASN Jatim ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                        rb"[0-9a-f]{12})")


def _checker(online: float | None):
    """pyHanko's validation runs its own event loop: in an OS thread, never on the hub.
    `online`: seconds to also ask the CA's OCSP responder (SIGNING_VERIFY_ONLINE), or None."""
    def check(pdf: bytes, trust_roots):
        return tpool.execute(pdfsign.verify, pdf, trust_roots, None, online)
    return check


def document(uow, store, trust_roots, document_id, online: float | None = None) -> dict:
    """The QR link's answer, the signature judged in an OS thread."""
    return by_id(uow, str(document_id)[:64], store, trust_roots, _checker(online))


def upload(uow, pdf_base64: str, trust_roots, online: float | None = None) -> dict:
    """The answer for uploaded bytes (base64, as the RPC carries them), judged in an OS
    thread."""
    try:
        pdf = base64.b64decode(pdf_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("pdf_base64 bukan base64 yang sah", field="pdf_base64") from None
    return by_upload(uow, pdf, trust_roots, _checker(online))


def _public(uow, document: dict) -> dict:
    successor = None
    if document["superseded_by"]:
        successor = uow.execute("SELECT number FROM documents WHERE document_id = :id",
                                {"id": document["superseded_by"]}).scalar()
    return {key: document[key] for key in (
        "document_id", "title", "number", "signer_name", "jabatan", "signed_at", "pades_level",
        "status", "revoked_reason", "revoked_at", "superseded_by")} | {
        "superseded_by_number": successor}


def _verdict(code: str, sha256: str | None, document: dict | None,
             signature: pdfsign.Verdict | None) -> dict:
    """An answer: a documented code and its fixed message; the data the caller may see is in
    `document` and `signature`, never in the reason."""
    status = code if code in ("valid", "revoked", "superseded") else "not_valid"
    return {"valid": code == "valid", "status": status, "code": code,
            "reason": VERIFICATION_REASONS[code], "sha256": sha256, "document": document,
            "signature": signature.as_dict() if signature is not None else None}


def _answer(uow, document: dict, verdict: pdfsign.Verdict, sha256: str) -> dict:
    if not verdict.valid:
        code = verdict.code
    elif document["status"] in ("revoked", "superseded"):
        code = document["status"]  # the reason and the successor are in the document's data
    else:
        code = "valid"
    return _verdict(code, sha256, _public(uow, document), verdict)


def by_upload(uow, pdf: bytes, trust_roots, check=pdfsign.verify) -> dict:
    """`check(pdf, roots)` judges the signature (the service runs pyHanko in an OS thread).
    Judge uploaded bytes: valid only if they are exactly the bytes SIMASN signed and stored
    (any changed byte changes the SHA-256), the signature holds, and the document stands."""
    sha256 = hashlib.sha256(pdf).hexdigest()
    verdict = check(pdf, trust_roots)
    row = uow.execute("SELECT document_id FROM documents WHERE sha256 = :h ORDER BY created_at "
                      "DESC LIMIT 1", {"h": sha256}).first()
    if row is None:  # an earlier revision, before an archive time stamp was renewed
        row = uow.execute("SELECT document_id FROM document_revisions WHERE sha256 = :h "
                          "LIMIT 1", {"h": sha256}).first()
    if row is not None:
        return _answer(uow, issuing.get(uow, str(row[0])), verdict, sha256)
    found = _ID_IN_PDF.search(pdf)
    similar = None
    if found:
        similar = uow.execute("SELECT number FROM documents WHERE document_id = "
                              "CAST(:id AS uuid)", {"id": found.group(1).decode()}).scalar()
    if verdict.code in ("not_a_pdf", "no_signature"):
        code = verdict.code
    elif similar:
        code = "modified"  # it names a document SIMASN issued, but is not its bytes
    elif not verdict.valid:
        code = verdict.code
    else:
        code = "not_issued"
    return _verdict(code, sha256, None, verdict)


def by_id(uow, document_id: str, store, trust_roots, check=pdfsign.verify) -> dict:
    """The QR link: the registered document, its stored PDF re-checked."""
    document = issuing.get(uow, document_id)
    if document["sha256"] is None:
        return _verdict("not_signed_yet", None, _public(uow, document), None)
    pdf = store.read(document["sha256"])
    if hashlib.sha256(pdf).hexdigest() != document["sha256"]:
        log.error("stored_document_altered", document_id=document["document_id"])
        verdict = pdfsign.Verdict(False, "modified")
    else:
        verdict = check(pdf, trust_roots)
    return _answer(uow, document, verdict, document["sha256"])
