"""Public verification: is this PDF (or the document behind this QR link) one SIMASN issued,
intact, validly signed, and still in force? Answers carry no personal data: the document's title,
number, signer and dates, never the employee's name or NIP."""

from __future__ import annotations

import hashlib
import re

from services.signing import issuing, pdfsign

_ID_IN_PDF = re.compile(rb"SIMASN Jatim ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                        rb"[0-9a-f]{12})")


def _public(uow, document: dict) -> dict:
    successor = None
    if document["superseded_by"]:
        successor = uow.execute("SELECT number FROM documents WHERE document_id = :id",
                                {"id": document["superseded_by"]}).scalar()
    return {key: document[key] for key in (
        "document_id", "title", "number", "signer_name", "jabatan", "signed_at", "pades_level",
        "status", "revoked_reason", "revoked_at", "superseded_by")} | {
        "superseded_by_number": successor}


def _answer(uow, document: dict, verdict: pdfsign.Verdict, sha256: str) -> dict:
    public = _public(uow, document)
    if not verdict.valid:
        status, code, reason = "not_valid", verdict.code, verdict.reason
    elif document["status"] == "revoked":
        status, code = "revoked", "revoked"
        reason = f"dokumen telah dicabut: {document['revoked_reason']}"
    elif document["status"] == "superseded":
        status, code = "superseded", "superseded"
        reason = ("dokumen telah diganti dengan dokumen nomor "
                  f"{public['superseded_by_number'] or '-'}")
    else:
        status, code, reason = "valid", "valid", ("dokumen asli, utuh, dan ditandatangani "
                                                  "secara elektronik oleh pejabat yang berwenang")
    return {"valid": status == "valid", "status": status, "code": code, "reason": reason,
            "sha256": sha256, "document": public, "signature": verdict.as_dict()}


def by_upload(uow, pdf: bytes, trust_roots, check=pdfsign.verify) -> dict:
    """`check(pdf, roots)` judges the signature (the service runs pyHanko in an OS thread).
    Judge uploaded bytes: valid only if they are exactly the bytes SIMASN signed and stored
    (any changed byte changes the SHA-256), the signature holds, and the document stands."""
    sha256 = hashlib.sha256(pdf).hexdigest()
    verdict = check(pdf, trust_roots)
    row = uow.execute("SELECT document_id FROM documents WHERE sha256 = :h ORDER BY created_at "
                      "DESC LIMIT 1", {"h": sha256}).first()
    if row is not None:
        return _answer(uow, issuing.get(uow, str(row[0])), verdict, sha256)
    found = _ID_IN_PDF.search(pdf)
    similar = None
    if found:
        similar = uow.execute("SELECT number FROM documents WHERE document_id = "
                              "CAST(:id AS uuid)", {"id": found.group(1).decode()}).scalar()
    if verdict.code in ("not_a_pdf", "no_signature"):
        code, reason = verdict.code, verdict.reason
    elif similar:
        code, reason = "modified", (f"berkas ini tidak sama dengan dokumen nomor {similar} yang "
                                    "diterbitkan SIMASN: isinya telah diubah")
    elif not verdict.valid:
        code, reason = verdict.code, verdict.reason
    else:
        code, reason = "not_issued", "dokumen ini tidak tercatat sebagai terbitan SIMASN Jatim"
    return {"valid": False, "status": "not_valid", "code": code, "reason": reason,
            "sha256": sha256, "document": None, "signature": verdict.as_dict()}


def by_id(uow, document_id: str, store, trust_roots, check=pdfsign.verify) -> dict:
    """The QR link: the registered document, its stored PDF re-checked."""
    document = issuing.get(uow, document_id)
    if document["sha256"] is None:
        return {"valid": False, "status": "not_valid", "code": "not_signed_yet",
                "reason": "dokumen belum selesai ditandatangani", "sha256": None,
                "document": _public(uow, document), "signature": None}
    pdf = store.read(document["sha256"])
    if hashlib.sha256(pdf).hexdigest() != document["sha256"]:
        verdict = pdfsign.Verdict(False, "modified", "berkas tersimpan tidak utuh")
    else:
        verdict = check(pdf, trust_roots)
    return _answer(uow, document, verdict, document["sha256"])
