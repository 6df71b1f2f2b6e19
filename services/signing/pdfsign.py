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
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext

from shared.contracts.signing import SIGNATURE_REASONS
from shared.logging import get_logger

FIELD_NAME = "TTE_SIMASN"
#: where the visible stamp sits on the last page (points from bottom left; A4 is 595 x 842)
STAMP_BOX = (300, 60, 560, 150)
STAMP_TEXT = ("Ditandatangani secara elektronik oleh:\n%(signer)s\n%(jabatan)s\n"
              "Waktu: %(waktu)s")
RESERVED_BYTES = 8192
TIMESTAMP_BYTES = 12288
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
log = get_logger(__name__)

# pyHanko logs every failed path search with a traceback; the verdict carries the reason and
# what could not be read is logged by `_unreadable`
logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)


def sign(pdf: bytes, signer, *, name: str, jabatan: str, reason: str,
         location: str = "Surabaya", timestamper=None, page: int = -1) -> bytes:
    """`pdf` with a PAdES signature and a visible stamp (signer, position, time)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if page < 0:
        page = int(writer.root["/Pages"]["/Count"]) + page
    meta = PdfSignatureMetadata(field_name=FIELD_NAME, subfilter=SigSeedSubFilter.PADES,
                                md_algorithm="sha256", reason=reason[:200], location=location,
                                name=name)
    pdf_signer = PdfSigner(
        meta, signer=signer, timestamper=timestamper,
        stamp_style=TextStampStyle(stamp_text=STAMP_TEXT, border_width=1),
        new_field_spec=SigFieldSpec(FIELD_NAME, on_page=page, box=STAMP_BOX))
    out = io.BytesIO()
    # room for the CMS blob, given up front: otherwise pyHanko signs once more just to measure
    # it. The signer's certificate, signed attributes and an RSA signature take ~2 KB, a time
    # stamp token with its TSA certificate ~4 KB more; too small a reservation fails loudly.
    reserved = RESERVED_BYTES + (TIMESTAMP_BYTES if timestamper is not None else 0)
    pdf_signer.sign_pdf(writer, output=out, bytes_reserved=reserved,
                        appearance_text_params={
                            "signer": name, "jabatan": jabatan,
                            "waktu": dt.datetime.now(WIB).strftime("%d-%m-%Y %H:%M:%S WIB")})
    return out.getvalue()


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

    @property
    def reason(self) -> str:
        """The fixed message of the code (Bahasa Indonesia): never a library's words."""
        return SIGNATURE_REASONS[self.code]

    def as_dict(self) -> dict:
        return {**self.__dict__, "reason": self.reason}


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


def verify(pdf: bytes, trust_roots, moment=None) -> Verdict:
    """Judge the last signature of `pdf`. Valid only when the signature is intact, covers the
    whole file (nothing appended after signing), and the certificate chains to a trusted root
    and was in force. Never raises for what is in the file: a file that does not open is
    `not_a_pdf`, one whose signature cannot be read or checked `invalid_signature`."""
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
        return _judge(signatures[-1], trust_roots, moment)
    except Exception as exc:  # noqa: BLE001 - a damaged signature breaks pyHanko and
        # asn1crypto in many ways (AttributeError, decimal errors, ...): each means "not valid"
        return _unreadable("validation", "invalid_signature", exc)


def _judge(embedded, trust_roots, moment) -> Verdict:
    if not _contents_padding_clean(embedded):
        return Verdict(False, "modified")
    status = validate_pdf_signature(
        embedded, ValidationContext(trust_roots=list(trust_roots), allow_fetching=False,
                                    moment=moment))
    cert = status.signing_cert
    common = {"signer": cert.subject.native.get("common_name") if cert else None,
              "signer_serial": cert.subject.native.get("serial_number") if cert else None,
              "signed_at": (status.signer_reported_dt.isoformat()
                            if status.signer_reported_dt else None),
              "timestamped": status.timestamp_validity is not None,
              "pades_level": "B-T" if status.timestamp_validity is not None else "B-B"}
    if not status.intact or not status.valid:
        return Verdict(False, "modified", **common)
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return Verdict(False, "modified", **common)  # something appended after signing
    if not status.bottom_line:
        indic = getattr(status.trust_problem_indic, "name", None)
        return Verdict(False, _PROBLEMS.get(indic, "untrusted"), **common)
    return Verdict(True, "valid", **common)
