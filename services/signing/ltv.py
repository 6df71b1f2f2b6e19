"""Long-term validation (PAdES B-LT / B-LTA) with pyHanko: what a signature embeds at signing,
the archive time stamp added over it, and the judgement "valid at signing time" years later.

- Signing at B-LT: the signer's chain and the OCSP responses (or CRLs) of its CA, fetched at
  signing from the responders the certificates name, go into the document security store
  (DSS). B-LTA adds a document time stamp over that, and the TSA's own revocation data after
  it. A fresh ValidationContext per signature: certvalidator caches what it fetched, and a
  cached "good" must never stand in for a revocation that happened since.
- Renewal (`renew`): before the last archive time stamp's TSA certificate expires, its
  revocation data goes into the DSS and a new document time stamp covers everything.
- Judging (`judge`): ETSI EN 319 102-1 long-term validation (pyHanko's `ades_lta_validation`)
  with the embedded data only — the chain of document time stamps proves when the signature
  and its revocation data existed, so a certificate that expired or was revoked after the
  signing time does not make the signature invalid. Embedded revocation data is accepted
  whatever its age (the responders of a CA may be long gone); when asked, the CA's current
  OCSP answer is consulted as well (`current_status`): revoked before the proved signing time
  means invalid, revoked after means still valid.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io

import requests
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate, AdESPassed
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation import ades, generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    FreshnessReqType,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
#: embedded revocation data is accepted at any age: it proves the status at the time it was
#: produced, and the chain of time stamps proves when that was
_ANY_AGE = dt.timedelta(days=365 * 200)
_REVINFO_POLICY = CertRevTrustPolicy(
    RevocationCheckingPolicy(RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
                             RevocationCheckingRule.CRL_OR_OCSP_REQUIRED),
    freshness=_ANY_AGE, freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION)
#: what the AdES sub-indication says, as our signature codes
_ADES_CODES = {
    "REVOKED_NO_POE": "revoked_certificate", "REVOKED_CA_NO_POE": "revoked_certificate",
    "REVOKED": "revoked_certificate",
    "OUT_OF_BOUNDS_NO_POE": "expired", "OUT_OF_BOUNDS_NOT_REVOKED": "expired",
    "EXPIRED": "expired", "NOT_YET_VALID": "expired", "NO_POE": "expired",
    "HASH_FAILURE": "modified", "SIG_CRYPTO_FAILURE": "modified",
}


def signing_context(trust_roots, timeout: float) -> ValidationContext:
    """What B-LT signing validates the signer (and TSA) with: fetching from the responders the
    certificates name, a fresh one per signature."""
    return ValidationContext(trust_roots=list(trust_roots), allow_fetching=True,
                             revocation_mode="hard-fail",
                             fetcher_backend=RequestsFetcherBackend(per_request_timeout=timeout))


def level_of(reader: PdfFileReader, embedded) -> str:
    """B-B (a signature), B-T (with a signature time stamp, or a document time stamp over it:
    EN 319 142-1 allows either), B-LT (and revocation data in the DSS), B-LTA (and a document
    time stamp after the signature and its revocation data)."""
    archive = [ts for ts in reader.embedded_timestamp_signatures
               if ts.signed_revision > embedded.signed_revision]
    if signature_timestamp(embedded) is None and not archive:
        return "B-B"
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        has_revinfo = bool(dss.ocsps or dss.crls)
    except NoDSSFoundError:
        has_revinfo = False
    if not has_revinfo:
        return "B-T"
    return "B-LTA" if archive else "B-LT"


def timestamp_time(reader: PdfFileReader, embedded) -> dt.datetime | None:
    """When a time stamp proves `embedded` existed: its signature time stamp, else the first
    document time stamp after it (a signature made elsewhere, raised by `extend`)."""
    token = signature_timestamp(embedded)
    if token is not None:
        return _tst_time(token)
    after = [ts for ts in reader.embedded_timestamp_signatures
             if ts.signed_revision > embedded.signed_revision]
    return (after[0].self_reported_timestamp or _tst_time(after[0].signed_data)) if after \
        else None


def signature_timestamp(embedded):
    """The signature time stamp token (SignedData) of `embedded`, or None (B-B)."""
    return next(generic_cms.extract_tst_data_iter(embedded.signer_info, signed=False), None)


def archive_timestamps(reader: PdfFileReader) -> list[dict]:
    """The document time stamps, oldest first: when, and until when its TSA certificate
    holds (the renewal job adds a fresh one before the last one's ends)."""
    found = []
    for ts in reader.embedded_timestamp_signatures:
        cert = ts.signer_cert
        found.append({"at": ts.self_reported_timestamp or _tst_time(ts.signed_data),
                      "tsa": cert.subject.native.get("common_name"),
                      "tsa_not_after": cert["tbs_certificate"]["validity"]["not_after"].native})
    return found


def _tst_time(signed_data) -> dt.datetime | None:
    try:
        return signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    except Exception:  # noqa: BLE001 - a damaged token: no time
        return None


def revocation_evidence(reader: PdfFileReader, signer_cert) -> list[dict]:
    """The embedded OCSP responses (and CRLs) that speak about the signer's certificate."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return []
    serial = signer_cert.serial_number if signer_cert is not None else None
    evidence = []
    for ref in dss.ocsps:
        response = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
        basic = response.basic_ocsp_response["tbs_response_data"]
        for single in basic["responses"]:
            if single["cert_id"]["serial_number"].native != serial:
                continue
            status = single["cert_status"]
            evidence.append({
                "kind": "ocsp", "produced_at": basic["produced_at"].native.isoformat(),
                "status": status.name,
                "revoked_at": (status.chosen["revocation_time"].native.isoformat()
                               if status.name == "revoked" else None)})
    from asn1crypto import crl as asn1_crl

    for ref in dss.crls:
        crl = asn1_crl.CertificateList.load(ref.get_object().data)
        revoked = [r for r in crl["tbs_cert_list"]["revoked_certificates"]
                   if r["user_certificate"].native == serial]
        evidence.append({
            "kind": "crl", "produced_at": crl["tbs_cert_list"]["this_update"].native.isoformat(),
            "status": "revoked" if revoked else "good",
            "revoked_at": (revoked[0]["revocation_date"].native.isoformat() if revoked
                           else None)})
    return evidence


@dataclasses.dataclass(frozen=True)
class CurrentStatus:
    """What the CA's OCSP responder says now (None fields: it could not be asked)."""

    reachable: bool
    status: str | None = None
    revoked_at: dt.datetime | None = None
    produced_at: dt.datetime | None = None


def current_status(signer_cert: asn1_x509.Certificate, trust_roots,
                   timeout: float) -> CurrentStatus:
    """Ask the OCSP responder the signer's certificate names (AIA) about it now. The answer
    counts only if it is signed by the issuing root or a responder certificate that root
    issued; anything else (no URL, unreachable, garbage) is `reachable=False`."""
    cert = x509.load_der_x509_certificate(signer_cert.dump())
    issuer = next((x509.load_der_x509_certificate(root.dump()) for root in trust_roots
                   if root.subject == signer_cert.issuer), None)
    if issuer is None:
        return CurrentStatus(False)
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        url = next(d.access_location.value for d in aia
                   if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP)
    except (x509.ExtensionNotFound, StopIteration):
        return CurrentStatus(False)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    try:
        answer = requests.post(url, data=request.public_bytes(serialization.Encoding.DER),
                               headers={"Content-Type": "application/ocsp-request"},
                               timeout=timeout)
        answer.raise_for_status()
        response = ocsp.load_der_ocsp_response(answer.content)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return CurrentStatus(False)
        if response.serial_number != cert.serial_number or not _signed_by_ca(response, issuer):
            return CurrentStatus(False)
    except (requests.RequestException, ValueError):
        return CurrentStatus(False)
    status = response.certificate_status.name.lower()
    return CurrentStatus(True, status, response.revocation_time_utc,
                         response.produced_at_utc)


def _signed_by_ca(response, issuer: x509.Certificate) -> bool:
    """The OCSP answer is signed by the CA itself or by a responder certificate it issued for
    OCSP signing."""
    from cryptography.hazmat.primitives.asymmetric import padding

    candidates = [issuer]
    for delegated in response.certificates:
        try:
            delegated.verify_directly_issued_by(issuer)
            eku = delegated.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except Exception:  # noqa: BLE001,S112 - not issued by the CA or no EKU: not a responder
            continue
        if x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku:
            candidates.append(delegated)
    for candidate in candidates:
        try:
            candidate.public_key().verify(response.signature, response.tbs_response_bytes,
                                          padding.PKCS1v15(),
                                          response.signature_hash_algorithm)
            return True
        except Exception:  # noqa: BLE001,S112 - not this key: try the next
            continue
    return False


@dataclasses.dataclass(frozen=True)
class LongTermVerdict:
    ok: bool
    #: one of pdfsign's signature codes when not ok
    code: str
    #: the earliest time the signature is proved to have existed (its time stamp)
    proved_at: dt.datetime | None
    archive: list
    subindication: str | None


def judge(embedded, trust_roots, moment: dt.datetime | None) -> LongTermVerdict:
    """ETSI long-term validation of `embedded` at `moment` (default now) with what the file
    embeds only: valid when the signature held at the time its time stamps prove."""
    when = moment or dt.datetime.now(dt.UTC)
    if signature_timestamp(embedded) is None:
        return _judge_by_document_timestamps(embedded, trust_roots, when)
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=list(trust_roots)),
            revinfo_policy=_REVINFO_POLICY),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))
    result = asyncio.run(ades.ades_lta_validation(
        embedded, spec, timing_info=ValidationTimingInfo(when, when, False)))
    subindic = result.ades_subindic
    archive = archive_timestamps(embedded.reader)
    proved = _proved_signing_time(embedded, result)
    if subindic == AdESPassed.OK:
        return LongTermVerdict(True, "valid", proved, archive, subindic.name)
    code = _ADES_CODES.get(subindic.name, "untrusted")
    if isinstance(subindic, AdESIndeterminate) and subindic.name.startswith("REVOKED"):
        code = "revoked_certificate"
    return LongTermVerdict(False, code, proved, archive, subindic.name)


def _judge_by_document_timestamps(embedded, trust_roots, when: dt.datetime) -> LongTermVerdict:
    """A signature without a time stamp of its own (made elsewhere at B-B, raised by `extend`):
    pyHanko's ETSI validation insists on a signature time stamp, so the same reasoning is done
    here with its public parts. The first document time stamp after the signature proves when
    it existed (T1); each document time stamp must hold at the time the next one proves (the
    last one at `when`), with the embedded revocation data only; the signer's chain must hold
    at T1 with the embedded revocation data only."""
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    reader = embedded.reader
    archive = archive_timestamps(reader)
    stamps = sorted((ts for ts in reader.embedded_timestamp_signatures
                     if ts.signed_revision > embedded.signed_revision),
                    key=lambda ts: ts.signed_revision)
    if not stamps:
        return LongTermVerdict(False, "expired", None, archive, "NO_POE")
    times = [ts.self_reported_timestamp or _tst_time(ts.signed_data) for ts in stamps]
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None

    def context(moment: dt.datetime) -> ValidationContext:
        """Validation at `moment` with the DSS's certificates and revocation data only."""
        kwargs = {"trust_roots": list(trust_roots), "allow_fetching": False, "moment": moment,
                  "revocation_mode": "hard-fail", "revinfo_policy": _REVINFO_POLICY}
        return dss.as_validation_context(kwargs) if dss else ValidationContext(**kwargs)

    for stamp, until in zip(stamps, [*times[1:], when], strict=True):
        status = validate_pdf_timestamp(stamp, context(until))
        if not (status.intact and status.valid and status.trusted):
            return LongTermVerdict(False, _problem_code(status), times[0], archive,
                                   "TIMESTAMP_CHAIN")
    status = validate_pdf_signature(embedded, context(times[0]), skip_diff=True)
    if not (status.intact and status.valid):
        return LongTermVerdict(False, "modified", times[0], archive, "HASH_FAILURE")
    if not status.bottom_line:
        return LongTermVerdict(False, _problem_code(status), times[0], archive,
                               "SIGNER_AT_POE")
    return LongTermVerdict(True, "valid", times[0], archive, "OK")


def _problem_code(status) -> str:
    """What a failed pyHanko status says, as our signature codes."""
    indic = getattr(status.trust_problem_indic, "name", "") or ""
    if "REVOKED" in indic:
        return "revoked_certificate"
    if "OUT_OF_BOUNDS" in indic or "EXPIRED" in indic or "NO_POE" in indic:
        return "expired"
    return "untrusted"


def _proved_signing_time(embedded, result) -> dt.datetime | None:
    """The signature time stamp's time, else the first document time stamp's (pyHanko's best
    signature time when it is earlier than the validation moment is the same thing)."""
    return timestamp_time(embedded.reader, embedded) or result.best_signature_time


def renew(pdf: bytes, trust_roots, timestamper, timeout: float) -> bytes:
    """`pdf` with the last document time stamp's validation data in the DSS and a new
    document time stamp over everything (PAdES B-LTA renewal)."""
    context = signing_context(trust_roots, timeout)
    output = PdfTimeStamper(timestamper).update_archival_timestamp_chain(
        PdfFileReader(io.BytesIO(pdf)), context, in_place=False)
    return output.getvalue()


RANK = {level: rank for rank, level in enumerate(LEVELS)}


class NotExtended(ValueError):
    """A signature made elsewhere could not be raised to the level asked: the signer's
    certificate (or the TSA's) is revoked or expired, or the CA's responders did not answer.
    Nothing is added."""


def extend(pdf: bytes, level: str, trust_roots, timestamper, timeout: float) -> bytes:
    """`pdf`, whose last signature was made elsewhere (BSrE signs at B-B or B-T), raised to
    `level` by incremental updates that leave the signed bytes untouched:

    - B-LT and B-LTA: the signer's chain and its CA's OCSP responses or CRLs (and the signature
      time stamp's, if any), fetched now and checked hard-fail, go into the DSS;
    - a document time stamp over it all for B-LTA, and for any level above B-B when the
      signature carries no time stamp of its own (it is then what proves the signing time),
      with the TSA's own validation data after it (the renewal job's starting point).

    A signature already at or above `level` is returned as it is."""
    if level not in LEVELS:
        raise ValueError(f"unknown PAdES level {level}")
    reader = PdfFileReader(io.BytesIO(pdf))
    embedded = reader.embedded_regular_signatures[-1]
    have = level_of(reader, embedded)
    if RANK[have] >= RANK[level]:
        return pdf
    if timestamper is None:
        raise ValueError(f"PAdES {level} needs a time-stamping authority (SIGNING_TSA_URL)")
    context = signing_context(trust_roots, timeout)
    long_term = level in ("B-LT", "B-LTA")
    out = pdf
    try:
        if long_term and RANK[have] < RANK["B-LT"]:
            from pyhanko.sign.validation import add_validation_info

            out = add_validation_info(embedded, context, in_place=False, add_vri_entry=False,
                                      force_write=True).getvalue()
        if level == "B-LTA" or signature_timestamp(embedded) is None:
            from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

            out = PdfTimeStamper(timestamper).timestamp_pdf(
                IncrementalPdfFileWriter(io.BytesIO(out)), "sha256",
                validation_context=context if long_term else None,
                in_place=False).getvalue()
    except Exception as exc:  # noqa: BLE001 - pyHanko's path, revocation and TSA errors
        cause = exc.__cause__ or exc
        raise NotExtended(f"tanda tangan tidak dapat dinaikkan ke {level}: "
                          f"{type(cause).__name__}: {cause}"[:500]) from exc
    return out
