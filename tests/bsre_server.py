"""A stand-in for BSrE's e-sign service in tests: the same endpoints, HTTP Basic client
credentials, status codes and error bodies as the real one (services/signing/bsre.py documents
the protocol), signing with a development CA key through pyHanko so the result validates.

    POST /api/v2/sign/pdf            JSON: nik, passphrase, signatureProperties, file[base64]
    POST /api/v2/user/check/status   JSON: nik
    POST /api/sign/pdf               (v1) multipart: file, nik, passphrase, tampilan
    GET  /api/user/status/<nik>      (v1)

`tsa_url`: BSrE time-stamps its signatures (PAdES B-T) with that TSA, as the real service does
with its own; without it the stand-in signs at B-B. Knobs for the faults a test needs: `delay`
(seconds before answering a signature: a read timeout), `fail_next` ((status, body) answered
once instead of signing), `substitute` (another PDF signed instead of ours), `stop()` (BSrE
gone).
`signed` counts the signatures it made (a document must never be signed twice by our side);
`paths` lists the paths asked, in order. `no_certificate`: NIKs BSrE knows without a
certificate (2021)."""

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
        self.paths: list[str] = []
        self.no_certificate: set[str] = set()
        #: NIK -> the one-time code its official's BeSign app shows now (v2 signs with either)
        self.totps: dict[str, str] = {}
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
        self.paths.append(request.path)
        if not self._client_ok(request):  # BSrE's gateway answers as Spring does
            return _json({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
                          "status": 401, "error": "Unauthorized", "path": request.path}, 401)
        route = (request.method, request.path)
        if route == ("POST", "/api/v2/user/check/status"):
            return self._status((request.get_json(silent=True) or {}).get("nik", ""), 2)
        if request.method == "GET" and request.path.startswith("/api/user/status/"):
            return self._status(request.path.rsplit("/", 1)[-1], 1)
        if route == ("POST", "/api/v2/sign/pdf"):
            body = request.get_json(silent=True) or {}
            files = body.get("file") or []
            try:
                pdf = base64.b64decode(files[0], validate=True) if len(files) == 1 else None
            except (ValueError, TypeError):
                pdf = None
            return self._sign(pdf, str(body.get("nik") or ""),
                              str(body.get("passphrase") or ""), version=2,
                              totp=str(body.get("totp") or ""))
        if route == ("POST", "/api/sign/pdf"):
            upload = request.files.get("file")
            return self._sign(upload.read() if upload is not None else None,
                              request.form.get("nik", ""), request.form.get("passphrase", ""),
                              version=1)
        return _json({"error": "Not Found", "status_code": 404}, 404)

    def _status(self, nik: str, version: int) -> Response:
        if nik in self.officials and nik not in self.no_certificate:
            return _json({"status_code": 1111, "message": "Sertifikat AKTIF",
                          "status": "ISSUE"}, 200)
        code, status = ((2021, "NO_CERTIFICATE") if nik in self.no_certificate
                        else (2011, "NOT_REGISTERED"))
        if version == 1:
            return _json({"error": "User tidak terdaftar", "status_code": code}, 404)
        return _json({"status_code": code, "message": "User tidak terdaftar",
                      "status": status}, 200)

    def _sign(self, pdf: bytes | None, nik: str, passphrase: str, *, version: int,
              totp: str = "") -> Response:
        self.attempts += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_next is not None:
            (status, body), self.fail_next = self.fail_next, None
            return _json(body, status)
        if pdf is None or not nik or not (passphrase or totp):
            return _json({"error": "Parameter tidak lengkap", "status_code": 2000}, 400)
        if not pdf.startswith(b"%PDF"):
            return _json({"error": "Internal Server Error", "status_code": 500}, 500)
        if nik not in self.officials or nik in self.no_certificate:
            code = 2021 if nik in self.no_certificate else 2011
            return _json({"error": "User tidak terdaftar", "status_code": code}, 400)
        expected, signer = self.officials[nik]
        if totp:
            if totp != self.totps.get(nik):
                return _json({"error": "Kode TOTP tidak valid atau kedaluwarsa",
                              "status_code": 400}, 400)
        elif passphrase != expected:
            return _json({"error": "Passphrase anda salah !!!", "status_code": 2031}, 400)
        pdf = self.substitute or pdf
        started = time.monotonic()
        with self._lock:
            out = io.BytesIO()
            signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                             signers.PdfSignatureMetadata(
                                 field_name="BSrE", subfilter=SigSeedSubFilter.PADES,
                                 md_algorithm="sha256"),
                             signer=signer, timestamper=self.timestamper, output=out)
            self.signed += 1
        if version == 1:
            return Response(out.getvalue(), mimetype="application/pdf",
                            headers={"id_dokumen": f"bsre-{self.signed}"})
        return _json({"time": int((time.monotonic() - started) * 1000),
                      "file": [base64.b64encode(out.getvalue()).decode("ascii")]}, 200)

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
