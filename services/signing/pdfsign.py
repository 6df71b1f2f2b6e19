"""Signing a PDF with pyHanko (PAdES baseline: B-B, B-T with a time stamp) and judging a
signed PDF. pyHanko's synchronous API runs its own event loop: callers inside a Nameko service
run these through `eventlet.tpool.execute` (services/signing/service.py)."""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass

from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext

from services.signing import ltv
from shared.contracts.signing import SIGNATURE_REASONS
from shared.logging import get_logger

FIELD_NAME = "TTE_SIMASN"
#: where the visible stamp sits on the last page (points from bottom left; A4 is 595 x 842)
STAMP_BOX = (300, 60, 560, 150)
STAMP_TEXT = ("Ditandatangani secara elektronik oleh:\n%(signer)s\n%(jabatan)s\n"
              "Waktu: %(waktu)s")
RESERVED_BYTES = 10240
TIMESTAMP_BYTES = 12288
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
log = get_logger(__name__)

# pyHanko logs every failed path search with a traceback; the verdict carries the reason and
# what could not be read is logged by `_unreadable`
logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)


def sign(pdf: bytes, signer, *, name: str, jabatan: str, reason: str,
         location: str = "Surabaya", timestamper=None, page: int = -1,
         level: str | None = None, trust_roots=(), fetch_timeout: float = 10) -> bytes:
    """`pdf` with a PAdES signature and a visible stamp (signer, position, time). `level`:
    B-B, B-T (needs `timestamper`), B-LT (and the chain's revocation data, fetched from the
    responders the certificates name and checked against `trust_roots`: a revoked signer
    certificate fails here) or B-LTA (and a document time stamp over it all); default B-T
    with a timestamper, else B-B."""
    level = level or ("B-T" if timestamper is not None else "B-B")
    if level not in ltv.LEVELS:
        raise ValueError(f"unknown PAdES level {level}")
    if level != "B-B" and timestamper is None:
        raise ValueError(f"PAdES {level} needs a time-stamping authority (SIGNING_TSA_URL)")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if page < 0:
        page = int(writer.root["/Pages"]["/Count"]) + page
    long_term = level in ("B-LT", "B-LTA")
    meta = PdfSignatureMetadata(
        field_name=FIELD_NAME, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=reason[:200], location=location, name=name,
        embed_validation_info=long_term, use_pades_lta=level == "B-LTA",
        validation_context=(ltv.signing_context(trust_roots, fetch_timeout) if long_term
                            else None))
    pdf_signer = PdfSigner(
        meta, signer=signer, timestamper=timestamper,
        stamp_style=TextStampStyle(stamp_text=STAMP_TEXT, border_width=1),
        new_field_spec=SigFieldSpec(FIELD_NAME, on_page=page, box=STAMP_BOX))
    out = io.BytesIO()
    # room for the CMS blob, given up front: otherwise pyHanko signs once more just to measure
    # it. The signer's certificate, signed attributes and an RSA signature take ~4 KB (a
    # certificate naming its OCSP responder and CRL, as a public CA's do, more than 8 KB hex
    # with the rest), a time stamp token with its TSA certificate ~4 KB more; too small a
    # reservation fails loudly.
    reserved = RESERVED_BYTES + (TIMESTAMP_BYTES if level != "B-B" else 0)
    try:
        pdf_signer.sign_pdf(writer, output=out, bytes_reserved=reserved,
                            appearance_text_params={
                                "signer": name, "jabatan": jabatan,
                                "waktu": dt.datetime.now(WIB).strftime("%d-%m-%Y %H:%M:%S WIB")})
    except PyHankoSigningError as exc:
        if not long_term:
            raise
        # B-LT checks the signer's certificate (and the TSA's) before signing: revoked,
        # expired or no answer from the CA's responders
        cause = exc.__cause__ or exc
        raise CertificateNotInForce(
            f"sertifikat tidak dapat diperiksa atau tidak berlaku: {type(cause).__name__}: "
            f"{cause}"[:500]) from exc
    return out.getvalue()


class CertificateNotInForce(ValueError):
    """Signing at B-LT/B-LTA found the signer's (or the TSA's) certificate revoked, expired, or
    its status not obtainable from the CA's responders: nothing was signed."""


@dataclass(frozen=True)
class Verdict:
    """What a signed PDF says about itself, judged against our trust roots."""

    valid: bool
    #: one of shared.contracts.signing.SIGNATURE_REASONS: valid | no_signature | not_a_pdf |
    #: modified | untrusted | expired | revoked_certificate | invalid_signature
    code: str
    signer: str | None = None
    signer_serial: str | None = None
    signed_at: str | None = None
    timestamped: bool = False
    pades_level: str | None = None
    #: "valid at signing time": the time the signature time stamp proves (None: B-B, only
    #: the signer's own claim in `signed_at`)
    proved_signing_time: str | None = None
    #: the document time stamps (B-LTA): when, by which TSA, until when its certificate holds
    archive_timestamps: tuple = ()
    #: the embedded OCSP responses / CRLs about the signer's certificate
    revocation_evidence: tuple = ()
    #: what the CA's responder says now, when asked (None: not asked or not reachable)
    current_revocation: dict | None = None

    @property
    def reason(self) -> str:
        """The fixed message of the code (Bahasa Indonesia): never a library's words."""
        return SIGNATURE_REASONS[self.code]

    def as_dict(self) -> dict:
        return {**self.__dict__, "archive_timestamps": list(self.archive_timestamps),
                "revocation_evidence": list(self.revocation_evidence), "reason": self.reason}


_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "untrusted",
    "OUT_OF_BOUNDS_NO_POE": "expired",
    "OUT_OF_BOUNDS_NOT_REVOKED": "expired",
    "REVOKED_NO_POE": "revoked_certificate",
    "REVOKED_CA_NO_POE": "revoked_certificate",
}


def _unreadable(stage: str, code: str, exc: Exception) -> Verdict:
    """A file from anyone broke the reader: the detail goes to our log, the caller gets the
    fixed reason of `code`."""
    log.info("pdf_signature_unreadable", stage=stage, code=code, error=type(exc).__name__,
             detail=str(exc)[:500])
    return Verdict(False, code)


def _contents_padding_clean(embedded) -> bool:
    """The signature's /Contents is reserved space: the CMS blob, then zero padding. The byte
    ranges the signature covers exclude it, so a byte changed in the padding would go unseen
    by the cryptography; we require the padding to be untouched."""
    try:
        contents = bytes(embedded.sig_object["/Contents"])
        used = len(cms.ContentInfo.load(contents).dump())
    except Exception:  # noqa: BLE001 - unreadable contents: not clean
        return False
    return not any(contents[used:])


def verify(pdf: bytes, trust_roots, moment=None, online: float | None = None) -> Verdict:
    """Judge the last signature of `pdf`. Valid only when the signature is intact, covers the
    whole file (nothing appended after signing), and the certificate chains to a trusted root
    and was in force — at the time its time stamp proves, with the revocation data it embeds
    (B-LT, B-LTA: services/signing/ltv.py), years later and offline. `online`: a timeout in
    seconds to also ask the CA's OCSP responder now (a revocation before the proved signing
    time makes it invalid, one after does not); None asks nobody. Never raises for what is in
    the file: a file that does not open is `not_a_pdf`, one whose signature cannot be read or
    checked `invalid_signature`."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    except Exception as exc:  # noqa: BLE001 - a file from anyone: malformed in any way
        return _unreadable("open", "not_a_pdf", exc)
    try:
        signatures = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 - the PDF opens, its signature dictionary is garbage
        return _unreadable("signature_dictionary", "invalid_signature", exc)
    if not signatures:
        return Verdict(False, "no_signature")
    try:
        regular = [sig for sig in signatures if sig.sig_object_type != "/DocTimeStamp"]
        if not regular:
            return Verdict(False, "no_signature")
        if not pdf.rstrip(b"\r\n").endswith(b"%%EOF"):
            return Verdict(False, "modified")  # bytes after the last revision
        return _judge(reader, regular[-1], trust_roots, moment, online)
    except Exception as exc:  # noqa: BLE001 - a damaged signature breaks pyHanko and
        # asn1crypto in many ways (AttributeError, decimal errors, ...): each means "not valid"
        return _unreadable("validation", "invalid_signature", exc)


def _judge(reader, embedded, trust_roots, moment, online) -> Verdict:
    if not _contents_padding_clean(embedded):
        return Verdict(False, "modified")
    level = ltv.level_of(reader, embedded)
    status = validate_pdf_signature(
        embedded, ValidationContext(trust_roots=list(trust_roots), allow_fetching=False,
                                    moment=moment))
    cert = status.signing_cert
    common = {"signer": cert.subject.native.get("common_name") if cert else None,
              "signer_serial": cert.subject.native.get("serial_number") if cert else None,
              "signed_at": (status.signer_reported_dt.isoformat()
                            if status.signer_reported_dt else None),
              # a signature time stamp, or a document time stamp over a signature made elsewhere
              "timestamped": level != "B-B",
              "pades_level": level,
              "revocation_evidence": tuple(ltv.revocation_evidence(reader, cert))}
    if not status.intact or not status.valid:
        return Verdict(False, "modified", **common)
    # the document time stamps of B-LTA come after the signature: everything else appended
    # after signing is a modification
    archive_only = all(ts.signed_revision > embedded.signed_revision
                       for ts in reader.embedded_timestamp_signatures) and \
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE and not (
            level != "B-B" and archive_only and status.modification_level is not
            None and status.modification_level.name in ("NONE", "LTA_UPDATES")):
        return Verdict(False, "modified", **common)
    if level in ("B-LT", "B-LTA"):
        long_term = ltv.judge(embedded, trust_roots, moment)
        proved = long_term.proved_at
        common |= {"proved_signing_time": proved.isoformat() if proved else None,
                   "archive_timestamps": tuple(
                       {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                        for k, v in item.items()} for item in long_term.archive)}
        verdict = (Verdict(True, "valid", **common) if long_term.ok
                   else Verdict(False, long_term.code, **common))
    else:
        proved = ltv.timestamp_time(reader, embedded)
        common["proved_signing_time"] = proved.isoformat() if proved else None
        if not status.bottom_line:
            indic = getattr(status.trust_problem_indic, "name", None)
            return Verdict(False, _PROBLEMS.get(indic, "untrusted"), **common)
        verdict = Verdict(True, "valid", **common)
    if online is None or cert is None:
        return verdict
    return _with_current_status(verdict, cert, trust_roots, online, proved, status)


def _with_current_status(verdict: Verdict, cert, trust_roots, timeout: float, proved,
                         status) -> Verdict:
    """The CA's answer now: a revocation at or before the time the signature is proved to
    exist (its time stamp; else the signer's own claim) makes it invalid."""
    current = ltv.current_status(cert, trust_roots, timeout)
    if not current.reachable:
        return verdict
    answer = {"kind": "ocsp", "status": current.status,
              "revoked_at": current.revoked_at.isoformat() if current.revoked_at else None,
              "produced_at": current.produced_at.isoformat() if current.produced_at else None}
    signed = proved or status.signer_reported_dt
    fields = {**verdict.__dict__, "current_revocation": answer}
    if current.status == "revoked" and (signed is None or current.revoked_at <= signed):
        fields |= {"valid": False, "code": "revoked_certificate"}
    return Verdict(**fields)
