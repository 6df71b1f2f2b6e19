"""The development CA's revocation services for tests: an OCSP responder (RFC 6960, POST
`/ocsp`) and a CRL (`/crl`, DER), over HTTP on a free port in a thread, answering for the
certificates the key store's root issued (services/signing/pki.py `issue(revocation_url=)`).
`revoke(serial, at)` revokes a certificate as of a given time; both answers show it from then
on. The CRL is signed by the root; OCSP answers by a delegated responder certificate the root
issues (EKU OCSPSigning, id-pkix-ocsp-nocheck), as public CAs do: a validator then needs no
revocation data for the responder itself, which long-term validation relies on."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.signing import pki

#: how long an answer is fresh (nextUpdate - thisUpdate)
FRESH_FOR = dt.timedelta(days=7)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RevocationServer:
    """Start it (a context manager) before `pki.init(revocation_url=server.url)`; it reads the
    root's key from the key store at its first request."""

    def __init__(self, keystore_dir: Path | None = None):
        self.keystore_dir = keystore_dir
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.revoked: dict[int, dt.datetime] = {}
        self.requests = {"ocsp": 0, "crl": 0}
        self._root: pki.Issued | None = None
        self._responder: pki.Issued | None = None
        self.available = True

    @property
    def root(self) -> pki.Issued:
        if self._root is None:
            self._root = pki.load_root(self.keystore_dir)
        return self._root

    @property
    def responder(self) -> pki.Issued:
        if self._responder is None:
            self._responder = pki.issue_ocsp_responder(self.root)
        return self._responder

    def revoke(self, certificate, at: dt.datetime | None = None) -> None:
        """Revoke `certificate` (cryptography or asn1crypto, or its serial) as of `at`
        (default: now)."""
        serial = certificate if isinstance(certificate, int) else certificate.serial_number
        when = at or dt.datetime.now(dt.UTC)
        # OCSP and CRLs carry whole seconds: rounded up, never earlier than asked, or a
        # revocation "now" could land before a signature made in the same second
        if when.microsecond:
            when = when.replace(microsecond=0) + dt.timedelta(seconds=1)
        self.revoked[serial] = when

    @Request.application
    def app(self, request: Request) -> Response:
        if not self.available:
            return Response("unavailable", status=503)
        if request.path == "/crl":
            self.requests["crl"] += 1
            return Response(self.crl(), mimetype="application/pkix-crl")
        if request.path == "/ocsp" and request.method == "POST":
            self.requests["ocsp"] += 1
            return Response(self.ocsp(request.get_data()),
                            mimetype="application/ocsp-response")
        return Response("not found", status=404)

    def crl(self) -> bytes:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.root.certificate.subject)
                   .last_update(now - dt.timedelta(minutes=1))
                   .next_update(now + FRESH_FOR)
                   .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.root.key.public_key()), critical=False))
        for serial, at in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(at).build())
        return builder.sign(self.root.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def ocsp(self, body: bytes) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(body)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                    serialization.Encoding.DER)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        revoked_at = self.revoked.get(request.serial_number)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number, algorithm=request.hash_algorithm,
            cert_status=(ocsp.OCSPCertStatus.REVOKED if revoked_at
                         else ocsp.OCSPCertStatus.GOOD),
            this_update=now - dt.timedelta(minutes=1), next_update=now + FRESH_FOR,
            revocation_time=revoked_at, revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.responder.certificate
                       ).certificates([self.responder.certificate])
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                builder = builder.add_extension(extension.value, critical=False)
        return builder.sign(self.responder.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
