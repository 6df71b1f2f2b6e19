"""A stand-in for BSrE's e-sign service in tests: the same endpoints, HTTP Basic client
credentials, status codes and error bodies as the real one (services/signing/bsre.py documents
the protocol), signing with a development CA key through pyHanko so the result validates.

    POST /api/sign/pdf            multipart: file, nik, passphrase, tampilan
    GET  /api/user/status/<nik>

`tsa_url`: BSrE time-stamps its signatures (PAdES B-T) with that TSA, as the real service does
with its own; without it the stand-in signs at B-B. Knobs for the faults a test needs: `delay`
(seconds before answering a signature: a read timeout), `fail_next` ((status, body) answered
once instead of signing), `substitute` (another PDF signed instead of ours), `stop()` (BSrE
gone).
`signed` counts the signatures it made (a document must never be signed twice by our side)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CLIENT = ("simasn-jatim", "rahasia-klien-bsre")


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class LocalBsre:
    """`officials`: NIK -> (passphrase, pyHanko signer holding that official's key)."""

    def __init__(self, officials: dict[str, tuple[str, signers.Signer]],
                 tsa_url: str | None = None):
        self.officials = officials
        self.timestamper = None
        if tsa_url:
            from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

            self.timestamper = RequestsHTTPTimeStamper(tsa_url, timeout=10)
        self.delay = 0.0
        self.fail_next: tuple[int, dict] | None = None
        #: bytes signed instead of the PDF sent (a BSrE that would change the document)
        self.substitute: bytes | None = None
        self.signed = 0
        self.attempts = 0
        self._lock = threading.Lock()  # pyHanko runs its own event loop: one at a time
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _client_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, secret) == CLIENT

    @Request.application
    def app(self, request: Request) -> Response:
        if not self._client_ok(request):
            return _json({"error": "Unauthorized", "status_code": 401}, 401)
        if request.method == "GET" and request.path.startswith("/api/user/status/"):
            nik = request.path.rsplit("/", 1)[-1]
            if nik not in self.officials:
                return _json({"error": "User tidak terdaftar", "status_code": 2011}, 404)
            return _json({"status_code": 1111, "message": "Sertifikat AKTIF"}, 200)
        if request.method != "POST" or request.path != "/api/sign/pdf":
            return _json({"error": "Not Found", "status_code": 404}, 404)
        return self._sign(request)

    def _sign(self, request: Request) -> Response:
        self.attempts += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_next is not None:
            (status, body), self.fail_next = self.fail_next, None
            return _json(body, status)
        upload = request.files.get("file")
        nik, passphrase = request.form.get("nik", ""), request.form.get("passphrase", "")
        if upload is None or not nik or not passphrase:
            return _json({"error": "Parameter tidak lengkap", "status_code": 2000}, 400)
        if nik not in self.officials:
            return _json({"error": "User tidak terdaftar", "status_code": 2011}, 400)
        expected, signer = self.officials[nik]
        if passphrase != expected:
            return _json({"error": "Passphrase anda salah", "status_code": 2031}, 400)
        pdf = self.substitute or upload.read()
        with self._lock:
            out = io.BytesIO()
            signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                             signers.PdfSignatureMetadata(
                                 field_name="BSrE", subfilter=SigSeedSubFilter.PADES,
                                 md_algorithm="sha256"),
                             signer=signer, timestamper=self.timestamper, output=out)
            self.signed += 1
        return Response(out.getvalue(), mimetype="application/pdf",
                        headers={"id_dokumen": f"bsre-{self.signed}"})

    def __enter__(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        """BSrE gone: nothing listens on its port any more."""
        self.server.shutdown()
        self.server.server_close()

    def __exit__(self, *exc):
        if self.thread.is_alive():
            self.stop()
