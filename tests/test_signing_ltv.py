"""Long-term validation (issue 20): a development CA whose OCSP responder and CRL the test runs
(tests/revocation_server.py), a TSA whose certificate is about to expire. A decree signed at
PAdES B-LTA, its signer revoked later, its archive time stamp renewed with the TSA's next
certificate, then judged with the clock past the signer's and the first TSA's expiry: still
valid at signing time, offline, with the evidence. Without the embedded data (the DSS cut
off) or without the renewal it is not. A signature made after the revocation is invalid."""

import datetime as dt
import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

from services.signing import ltv, pdfsign, pki
from tests.ltv_helpers import dev_ca
from tests.test_signing_pdf import rendered
from tests.tsa_server import LocalTsa

pytestmark = pytest.mark.timeout(180)

SIGNER = "kepala.bkd"
NOW = dt.datetime.now(dt.UTC)
#: the signer's certificate ends in 60 days, the first TSA's in 30
SIGNER_END = NOW + dt.timedelta(days=60)
TSA_END = NOW + dt.timedelta(days=30)
#: "years later": past both
LATER = NOW + dt.timedelta(days=90)


@pytest.fixture
def ca(tmp_path):
    """A key store whose certificates name the test's responders; the signer's certificate
    short-lived, the TSA's about to expire."""
    with dev_ca(tmp_path, SIGNER, "Dr. Budi Santoso, M.Si.", "Kepala BKD",
                signer_not_after=SIGNER_END, tsa_not_after=TSA_END) as made:
        yield made.directory, made.keystore, made.responders, made.tsa


def sign(keystore, tsa, level="B-LTA") -> bytes:
    return pdfsign.sign(rendered("KENAIKAN_PANGKAT"), keystore.signer(SIGNER),
                        name="Dr. Budi Santoso, M.Si.", jabatan="Kepala BKD",
                        reason="SK kenaikan pangkat",
                        timestamper=RequestsHTTPTimeStamper(tsa.url, timeout=10), level=level,
                        trust_roots=keystore.trust_roots)


def renew_with_next_tsa(directory, keystore, pdf) -> bytes:
    """The TSA got its next certificate; the renewal job's step for one document."""
    index = pki.renew_tsa(directory)
    with LocalTsa(directory, index) as next_tsa:
        return ltv.renew(pdf, keystore.trust_roots,
                         RequestsHTTPTimeStamper(next_tsa.url, timeout=10), timeout=10)


def without_dss(pdf: bytes) -> bytes:
    """The file as it was when signed: the revision the signature covers, nothing after (no
    DSS, no document time stamp)."""
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures[0]
    _, _, start, length = embedded.sig_object["/ByteRange"]
    return pdf[:start + length]


def test_a_b_lta_decree_revoked_later_stays_valid_at_signing_time_years_later(ca):
    directory, keystore, responders, tsa = ca
    pdf = sign(keystore, tsa)
    assert responders.requests["ocsp"] >= 1  # revocation data fetched at signing
    today = pdfsign.verify(pdf, keystore.trust_roots)
    assert today.valid and today.pades_level == "B-LTA", today
    assert len(today.archive_timestamps) == 1
    (evidence,) = [e for e in today.revocation_evidence if e["kind"] == "ocsp"]
    assert evidence["status"] == "good"

    responders.revoke(keystore.certificate(SIGNER))  # after signing
    renewed = renew_with_next_tsa(directory, keystore, pdf)
    assert renewed.startswith(pdf)  # an incremental update: the signed bytes untouched

    verdict = pdfsign.verify(renewed, keystore.trust_roots, moment=LATER)
    assert verdict.valid and verdict.code == "valid", verdict
    assert verdict.pades_level == "B-LTA"
    proved = dt.datetime.fromisoformat(verdict.proved_signing_time)
    assert NOW - dt.timedelta(minutes=5) < proved < dt.datetime.now(dt.UTC)
    assert len(verdict.archive_timestamps) == 2
    first, second = verdict.archive_timestamps
    assert dt.datetime.fromisoformat(first["tsa_not_after"]) < LATER  # expired, renewed
    assert dt.datetime.fromisoformat(second["tsa_not_after"]) > LATER

    # the CA, asked now, says revoked — but after the proved signing time: still valid
    asked = pdfsign.verify(renewed, keystore.trust_roots, moment=LATER, online=5)
    assert asked.valid, asked
    assert asked.current_revocation["status"] == "revoked"
    assert dt.datetime.fromisoformat(asked.current_revocation["revoked_at"]) >= \
        proved.replace(microsecond=0)


def test_without_the_renewal_or_without_the_embedded_data_it_is_not_valid_years_later(ca):
    directory, keystore, responders, tsa = ca
    pdf = sign(keystore, tsa)
    # the archive time stamp's TSA certificate expired and nothing renewed it
    stale = pdfsign.verify(pdf, keystore.trust_roots, moment=LATER)
    assert not stale.valid and stale.code == "expired", stale
    # the DSS and the document time stamp cut off: a B-T signature whose certificate expired
    stripped = without_dss(renew_with_next_tsa(directory, keystore, pdf))
    assert pdfsign.verify(stripped, keystore.trust_roots).pades_level == "B-T"
    bare = pdfsign.verify(stripped, keystore.trust_roots, moment=LATER)
    assert not bare.valid and bare.code == "expired", bare


def test_a_signature_made_after_the_revocation_is_invalid(ca):
    _, keystore, responders, tsa = ca
    responders.revoke(keystore.certificate(SIGNER), NOW - dt.timedelta(hours=1))
    # B-LT/B-LTA signing checks the signer's status first: refused
    with pytest.raises(pdfsign.CertificateNotInForce, match="Revoked"):
        sign(keystore, tsa)
    # a B-T signature made anyway (a stolen key): the CA's answer shows the revocation came
    # before the time stamp
    late = sign(keystore, tsa, level="B-T")
    offline = pdfsign.verify(late, keystore.trust_roots)
    assert offline.valid  # nothing embedded says otherwise...
    verdict = pdfsign.verify(late, keystore.trust_roots, online=5)
    assert not verdict.valid and verdict.code == "revoked_certificate", verdict
    assert verdict.current_revocation["status"] == "revoked"


def test_an_unreachable_responder_leaves_the_embedded_verdict(ca):
    _, keystore, responders, tsa = ca
    pdf = sign(keystore, tsa)
    responders.available = False
    verdict = pdfsign.verify(pdf, keystore.trust_roots, online=2)
    assert verdict.valid and verdict.current_revocation is None


def test_each_renewal_before_the_last_tsa_certificate_ends_carries_it_further(ca):
    """Three years on: the first renewal's TSA certificate (two years) has ended too, so that
    archive time stamp alone no longer proves anything; a second renewal, made while it was
    still in force, with a TSA certificate reaching past then, does."""
    directory, keystore, responders, tsa = ca
    pdf = sign(keystore, tsa)
    responders.revoke(keystore.certificate(SIGNER))  # after signing
    once = renew_with_next_tsa(directory, keystore, pdf)
    three_years = NOW + dt.timedelta(days=3 * 365)
    assert not pdfsign.verify(once, keystore.trust_roots, moment=three_years).valid

    index = pki.renew_tsa(directory, not_after=NOW + dt.timedelta(days=5 * 365))
    with LocalTsa(directory, index) as third_tsa:
        twice = ltv.renew(once, keystore.trust_roots,
                          RequestsHTTPTimeStamper(third_tsa.url, timeout=10), timeout=10)
    verdict = pdfsign.verify(twice, keystore.trust_roots, moment=three_years)
    assert verdict.valid and verdict.code == "valid", verdict
    assert len(verdict.archive_timestamps) == 3


def test_a_signature_made_elsewhere_is_raised_to_the_level_asked(ca):
    """BSrE signs at B-B (or B-T); `ltv.extend` adds the CA's revocation data and a document
    time stamp, the signed bytes untouched. A B-B signature has no time stamp of its own: the
    first document time stamp proves when it existed."""
    directory, keystore, responders, tsa = ca
    bare = sign(keystore, tsa, level="B-B")
    stamper = RequestsHTTPTimeStamper(tsa.url, timeout=10)
    assert ltv.extend(bare, "B-B", keystore.trust_roots, stamper, 10) == bare

    timed = ltv.extend(bare, "B-T", keystore.trust_roots, stamper, 10)
    verdict = pdfsign.verify(timed, keystore.trust_roots)
    assert timed.startswith(bare) and verdict.valid and verdict.pades_level == "B-T", verdict
    assert verdict.proved_signing_time and verdict.timestamped

    archived = ltv.extend(bare, "B-LTA", keystore.trust_roots, stamper, 10)
    assert archived.startswith(bare)
    assert ltv.extend(archived, "B-LTA", keystore.trust_roots, stamper, 10) == archived
    today = pdfsign.verify(archived, keystore.trust_roots)
    assert today.valid and today.pades_level == "B-LTA", today
    assert [e["status"] for e in today.revocation_evidence if e["kind"] == "ocsp"] == ["good"]

    responders.revoke(keystore.certificate(SIGNER))  # after signing
    renewed = renew_with_next_tsa(directory, keystore, archived)
    later = pdfsign.verify(renewed, keystore.trust_roots, moment=LATER)
    assert later.valid and later.code == "valid" and len(later.archive_timestamps) == 2, later
    # not renewed: the first TSA certificate has ended, nothing proves the signing time
    stale = pdfsign.verify(archived, keystore.trust_roots, moment=LATER)
    assert not stale.valid and stale.code == "expired", stale
    # B-T only (no revocation data): the certificate is judged when checked
    assert pdfsign.verify(timed, keystore.trust_roots, moment=LATER).code == "expired"
    # one byte of the signed content changed: not valid, whatever was added after
    flipped = bytearray(renewed)
    flipped[len(bare) // 4] ^= 0x01  # inside the revision BSrE's signature covers
    assert not pdfsign.verify(bytes(flipped), keystore.trust_roots).valid


def test_a_signer_revoked_before_the_extension_is_not_raised(ca):
    _, keystore, responders, tsa = ca
    bare = sign(keystore, tsa, level="B-B")
    responders.revoke(keystore.certificate(SIGNER), NOW - dt.timedelta(hours=1))
    with pytest.raises(ltv.NotExtended, match="Revoked"):
        ltv.extend(bare, "B-LTA", keystore.trust_roots,
                   RequestsHTTPTimeStamper(tsa.url, timeout=10), 10)
