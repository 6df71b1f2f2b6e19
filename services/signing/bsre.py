"""BSrE (Balai Sertifikasi Elektronik, BSSN) as the signer: the national CA's e-sign service
signs the PDF with the official's certificate, which never leaves BSrE.

The protocol: BSrE's e-sign API version 2 (`BSRE_API=v2`, the default; the one BKD's other
systems and most regional ones call), HTTP Basic with the client id and secret BSrE issued us:

    POST {BSRE_URL}/api/v2/sign/pdf          application/json
         {"nik": ..., "passphrase": ... | "totp": <the official's BeSign code>,
          "signatureProperties": [{"tampilan": "INVISIBLE"}], "file": [<the PDF, base64>]}
      200  application/json {"time": <ms>, "file": [<the signed PDF, base64>]}
      4xx  application/json {"status_code": <BSrE code>, "error": "..."}
           2031 wrong passphrase; 2011 NIK not registered, 2021 NIK without a certificate
      401  wrong client credentials ({"timestamp", "status", "error", "path"})
      500  BSrE failed (it answers so for a PDF it cannot read, too)
    POST {BSRE_URL}/api/v2/user/check/status  {"nik": ...}
      200  {"status_code": ..., "message": ..., "status": "ISSUE" | "NOT_REGISTERED" |
           "NO_CERTIFICATE" | ...}: ISSUE is a certificate that signs

Version 1 (`BSRE_API=v1`, older agreements): `POST /api/sign/pdf` multipart (file, nik,
passphrase, tampilan=invisible) answered with the PDF itself, and `GET /api/user/status/{nik}`;
the same error codes. Observed shapes are in docs/operations.md "BSrE's e-sign service"; check
them against the agreement's documentation before going live.

The passphrase (or the BeSign code) is the official's: typed at the moment of signing, carried
in memory from the gateway over RPC to the signing service and on to BSrE, then dropped. It is
never stored, never put in an event or an error, and never logged (shared/logging.py masks every
key naming a pass* or otp). A wrong passphrase or code, an unregistered NIK, BSrE unreachable
or too slow each leave the document unsigned and waiting for the official
(`waiting_passphrase`): never half done.
"""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.signing.exceptions import SigningError
from shared.errors import ConfigError

#: the e-sign API versions spoken, and their paths
SIGN_PATHS = {"v2": "/api/v2/sign/pdf", "v1": "/api/sign/pdf"}
STATUS_PATHS = {"v2": "/api/v2/user/check/status", "v1": "/api/user/status/{nik}"}
#: BSrE's own codes in an error body
WRONG_PASSPHRASE = 2031
NOT_REGISTERED = 2011
NO_CERTIFICATE = 2021
#: a NIK BSrE will not sign for: unknown, or without a certificate (code, or v2's status)
UNKNOWN_NIK_CODES = (NOT_REGISTERED, NO_CERTIFICATE)
UNKNOWN_NIK_STATUSES = ("NOT_REGISTERED", "NO_CERTIFICATE")
#: the user status of a certificate that signs (v2)
ISSUED = "ISSUE"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BsreError(SigningError):
    """What BSrE (or the official's credentials for it) left undone: the document goes back
    to the official (`waiting_passphrase`), nothing counted against it."""


class PassphraseRequired(BsreError):
    """BSrE signs only with the official's passphrase, given when they sign."""

    code = "passphrase_required"
    http_status = 422


class PassphraseWrong(BsreError):
    code = "bsre_passphrase_wrong"
    http_status = 422


class OtpWrong(BsreError):
    code = "bsre_otp_wrong"
    http_status = 422


class OtpUnsupported(BsreError):
    """BSrE's e-sign API version 1 signs with the passphrase only."""

    code = "bsre_otp_unsupported"
    http_status = 422


class NotRegistered(BsreError):
    code = "bsre_not_registered"
    http_status = 422


class Unavailable(BsreError):
    """BSrE did not answer in time or answered with a server error: try again later."""

    code = "bsre_unavailable"
    http_status = 503
    transient = True


class Refused(BsreError):
    """BSrE refused us (our client credentials, a request it does not understand) or sent
    back something that is not our document signed: for BKD's operators, not the official."""

    code = "bsre_refused"
    http_status = 503  # BSrE, behind us, did not do it: not the official's to fix


class NotInForce(BsreError):
    """BSrE signed, but the long-term validation data could not be added (services/signing/
    ltv.py `extend`): the official's certificate is revoked or expired at the CA, or the CA's
    responders or our TSA did not answer. The signature is not kept; the document waits."""

    code = "signer_certificate_not_in_force"
    http_status = 422


#: what the official reads (Bahasa Indonesia); BSrE's own words go to last_error
MESSAGES = {
    PassphraseRequired: "masukkan passphrase sertifikat elektronik Anda untuk menandatangani",
    PassphraseWrong: "passphrase sertifikat elektronik salah; dokumen belum ditandatangani, "
                     "silakan coba lagi",
    OtpWrong: "kode OTP BeSign salah atau sudah kedaluwarsa; dokumen belum ditandatangani, "
              "minta kode baru di aplikasi BeSign lalu coba lagi",
    OtpUnsupported: "penandatanganan dengan kode OTP belum tersedia pada layanan BSrE yang "
                    "dipakai; gunakan passphrase",
    NotRegistered: "NIK penandatangan belum terdaftar atau sertifikatnya tidak aktif di BSrE",
    Unavailable: "layanan BSrE tidak dapat dihubungi; dokumen belum ditandatangani, coba lagi "
                 "beberapa saat lagi",
    NotInForce: "status sertifikat penandatangan tidak dapat dipastikan berlaku (dicabut, "
                "kedaluwarsa, atau layanan pemeriksaan CA/cap waktu tidak menjawab); dokumen "
                "belum ditandatangani, coba lagi atau hubungi admin BKD",
}


class BsreClient:
    """One BSrE account (the application's client id and secret), speaking `api` ("v2" or
    "v1"). Connection attempts that never reached BSrE are retried (`connect_retries`, with
    backoff); a request BSrE received is never sent twice by us, so a timeout after sending is
    answered `Unavailable`."""

    def __init__(self, url: str, username: str, password: str, *, connect_timeout: float = 5,
                 read_timeout: float = 60, ca_bundle: str | None = None,
                 connect_retries: int = 2, api: str = "v2"):
        parts = urlsplit(url or "")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError("BSRE_URL harus URL https BSrE", field="BSRE_URL")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            # the passphrase travels in the request: plain HTTP only to a local stand-in
            raise ConfigError("BSRE_URL harus https (http hanya untuk pengganti lokal)",
                              field="BSRE_URL")
        if not username or not password:
            raise ConfigError("BSRE_CLIENT_ID dan BSRE_CLIENT_SECRET wajib untuk BSrE",
                              field="BSRE_CLIENT_ID")
        if api not in SIGN_PATHS:
            raise ConfigError(f"BSRE_API harus salah satu dari {', '.join(SIGN_PATHS)}",
                              field="BSRE_API")
        self.url, self.api = url.rstrip("/"), api
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.auth = (username, password)
        self.session.verify = ca_bundle or True
        retry = Retry(total=connect_retries, connect=connect_retries, read=0, status=0,
                      other=0, redirect=0, allowed_methods=None, backoff_factor=0.5,
                      raise_on_status=False)
        self.session.mount(self.url, HTTPAdapter(max_retries=retry))

    def _send(self, method: str, path: str, **request) -> requests.Response:
        try:
            return self.session.request(method, self.url + path, timeout=self.timeout,
                                        **request)
        except requests.RequestException as exc:
            # the message names the failure, never the request's fields
            raise Unavailable(MESSAGES[Unavailable], field="signer",
                              details={"reason": type(exc).__name__}) from None

    def sign_pdf(self, pdf: bytes, nik: str, passphrase: str | None = None, *,
                 totp: str | None = None, file_name: str = "dokumen.pdf") -> bytes:
        """`pdf` signed by the certificate of `nik`, as BSrE returns it; the official's
        passphrase, or (v2) the one-time code of their BeSign app."""
        if not passphrase and not totp:
            raise PassphraseRequired(MESSAGES[PassphraseRequired], field="passphrase")
        if self.api == "v1":
            if totp:
                raise OtpUnsupported(MESSAGES[OtpUnsupported], field="totp")
            answer = self._send(
                "POST", SIGN_PATHS["v1"],
                files={"file": (file_name, io.BytesIO(pdf), "application/pdf")},
                data={"nik": nik, "passphrase": passphrase, "tampilan": "invisible"})
            if answer.status_code != 200:
                raise error_of(answer)
            return _pdf(answer.content, answer)
        secret = {"totp": totp} if totp else {"passphrase": passphrase}
        answer = self._send("POST", SIGN_PATHS["v2"], json={
            "nik": nik, **secret, "signatureProperties": [{"tampilan": "INVISIBLE"}],
            "file": [base64.b64encode(pdf).decode("ascii")]})
        if answer.status_code != 200:
            raise error_of(answer, otp=bool(totp))
        body = _json_body(answer)
        files = body.get("file")
        if not isinstance(files, list) or len(files) != 1 or not isinstance(files[0], str):
            if body.get("status_code") is not None or body.get("error"):
                raise error_of(answer, otp=bool(totp))  # a refusal answered 200
            raise Refused("BSrE menjawab tanpa PDF", field="signer",
                          details={"content_type": answer.headers.get("Content-Type"),
                                   "keys": sorted(body)[:10]})
        try:
            signed = base64.b64decode(files[0], validate=True)
        except ValueError:
            raise Refused("BSrE menjawab dengan berkas yang bukan base64", field="signer",
                          details={"content_type": answer.headers.get("Content-Type")}) from None
        return _pdf(signed, answer)

    def user_status(self, nik: str) -> dict:
        """BSrE's answer about `nik`'s certificate (for an operator checking the set-up):
        {"nik", "status", "active", "bsre_code", "message"}; a NIK BSrE does not know, or one
        without a certificate, is `NotRegistered`."""
        if self.api == "v1":
            answer = self._send("GET", STATUS_PATHS["v1"].format(nik=nik))
        else:
            answer = self._send("POST", STATUS_PATHS["v2"], json={"nik": nik})
        if answer.status_code != 200:
            raise error_of(answer)
        body = _json_body(answer)
        code, status = bsre_code(body), body.get("status")
        if code in UNKNOWN_NIK_CODES or status in UNKNOWN_NIK_STATUSES:
            raise error_of(answer)  # v2 answers an unknown NIK 200 too
        # v1 answers 200 only for a NIK whose certificate is in force
        active = status == ISSUED if self.api == "v2" else True
        return {"nik": nik, "status": status, "active": active, "bsre_code": code,
                "message": str(body.get("message") or body.get("error") or "")[:300]}

    def close(self) -> None:
        self.session.close()


def _json_body(answer: requests.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        raise Refused("BSrE menjawab tanpa JSON", field="signer",
                      details={"http_status": answer.status_code,
                               "content_type": answer.headers.get("Content-Type")}) from None
    if not isinstance(body, dict):
        raise Refused("BSrE menjawab dengan JSON yang tidak dikenal", field="signer",
                      details={"http_status": answer.status_code})
    return body


def _pdf(content: bytes, answer: requests.Response) -> bytes:
    if not content.startswith(b"%PDF"):
        raise Refused("BSrE menjawab tanpa PDF", field="signer",
                      details={"content_type": answer.headers.get("Content-Type")})
    return content


def bsre_code(body: dict) -> int | None:
    """BSrE's own code in a body, a number whether it came as one or as digits."""
    code = body.get("status_code")
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def error_of(answer: requests.Response, *, otp: bool = False) -> SigningError:
    """BSrE's refusal as our error: the official's mistakes (passphrase or one-time code,
    certificate) with a message they can act on; the rest for BKD's operators with BSrE's own
    words. With `otp` (signed with a BeSign code), the passphrase's code 2031 or a refusal
    naming the OTP is a wrong or expired code."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    said = str(body.get("error") or body.get("message") or answer.reason or "")[:300]
    code = bsre_code(body)
    status = body.get("status") if isinstance(body.get("status"), str) else None
    details = {"http_status": answer.status_code, "bsre_code": code, "bsre_status": status,
               "bsre_message": said}
    names_otp = "otp" in said.lower() and answer.status_code < 500 and answer.status_code not in (
        401, 403, 404)
    if otp and (code == WRONG_PASSPHRASE or names_otp):
        return OtpWrong(MESSAGES[OtpWrong], field="totp", details=details)
    if code == WRONG_PASSPHRASE:
        return PassphraseWrong(MESSAGES[PassphraseWrong], field="passphrase", details=details)
    if code in UNKNOWN_NIK_CODES or status in UNKNOWN_NIK_STATUSES or answer.status_code == 404:
        return NotRegistered(MESSAGES[NotRegistered], field="signer", details=details)
    if answer.status_code >= 500 or answer.status_code in (408, 429):
        return Unavailable(MESSAGES[Unavailable], field="signer", details=details)
    return Refused(f"BSrE menolak permintaan (HTTP {answer.status_code}): {said}",
                   field="signer", details=details)


def client_from_config(config: dict) -> BsreClient:
    def number(key: str, default: float) -> float:
        try:
            value = float(config.get(key) or default)
            if value <= 0:
                raise ValueError
            return value
        except (TypeError, ValueError):
            raise ConfigError(f"{key} harus angka positif", field=key) from None

    return BsreClient(str(config.get("BSRE_URL") or ""),
                      str(config.get("BSRE_CLIENT_ID") or ""),
                      str(config.get("BSRE_CLIENT_SECRET") or ""),
                      connect_timeout=number("BSRE_CONNECT_TIMEOUT", 5),
                      read_timeout=number("BSRE_READ_TIMEOUT", 60),
                      ca_bundle=str(config.get("BSRE_CA_BUNDLE") or "") or None,
                      api=str(config.get("BSRE_API") or "v2").strip().lower())
