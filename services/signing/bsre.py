"""BSrE (Balai Sertifikasi Elektronik, BSSN) as the signer: the national CA's e-sign service
signs the PDF with the official's certificate, which never leaves BSrE.

The protocol (BSrE e-sign API, the one provincial and regency systems call; see
docs/operations.md "Produksi: BSrE"):

    POST {BSRE_URL}/api/sign/pdf     HTTP Basic (the client id and secret BSrE issued us)
         multipart/form-data: file (the PDF), nik, passphrase, tampilan=invisible
      200  application/pdf: the signed PDF (our bytes with the signature appended)
      4xx  application/json {"error": "...", "status_code": <BSrE code>}
           2031 wrong passphrase, 2011 the NIK has no (active) certificate
      401  wrong client credentials
    GET  {BSRE_URL}/api/user/status/{nik}   the certificate status of an official

The passphrase is the official's: typed at the moment of signing, carried in memory from the
gateway over RPC to the signing service and on to BSrE, then dropped. It is never stored, never
put in an event or an error, and never logged (shared/logging.py masks every key naming a
pass*). A wrong passphrase, an unregistered NIK, BSrE unreachable or too slow each leave the
document unsigned and waiting for the official (`waiting_passphrase`): never half done.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.signing.exceptions import SigningError
from shared.errors import ConfigError

SIGN_PATH = "/api/sign/pdf"
STATUS_PATH = "/api/user/status/{nik}"
#: BSrE's own codes in an error body
WRONG_PASSPHRASE = 2031
NOT_REGISTERED = 2011
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class PassphraseRequired(SigningError):
    """BSrE signs only with the official's passphrase, given when they sign."""

    code = "passphrase_required"
    http_status = 422


class PassphraseWrong(SigningError):
    code = "bsre_passphrase_wrong"
    http_status = 422


class NotRegistered(SigningError):
    code = "bsre_not_registered"
    http_status = 422


class Unavailable(SigningError):
    """BSrE did not answer in time or answered with a server error: try again later."""

    code = "bsre_unavailable"
    http_status = 503
    transient = True


class Refused(SigningError):
    """BSrE refused us (our client credentials, a request it does not understand) or sent
    back something that is not our document signed: for BKD's operators, not the official."""

    code = "bsre_refused"
    http_status = 503  # BSrE, behind us, did not do it: not the official's to fix


class NotInForce(SigningError):
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
    NotRegistered: "NIK penandatangan belum terdaftar atau sertifikatnya tidak aktif di BSrE",
    Unavailable: "layanan BSrE tidak dapat dihubungi; dokumen belum ditandatangani, coba lagi "
                 "beberapa saat lagi",
    NotInForce: "status sertifikat penandatangan tidak dapat dipastikan berlaku (dicabut, "
                "kedaluwarsa, atau layanan pemeriksaan CA/cap waktu tidak menjawab); dokumen "
                "belum ditandatangani, coba lagi atau hubungi admin BKD",
}


class BsreClient:
    """One BSrE account (the application's client id and secret). Connection attempts that
    never reached BSrE are retried (`connect_retries`, with backoff); a request BSrE received
    is never sent twice by us, so a timeout after sending is answered `Unavailable`."""

    def __init__(self, url: str, username: str, password: str, *, connect_timeout: float = 5,
                 read_timeout: float = 60, ca_bundle: str | None = None,
                 connect_retries: int = 2):
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
        self.url = url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.auth = (username, password)
        self.session.verify = ca_bundle or True
        retry = Retry(total=connect_retries, connect=connect_retries, read=0, status=0,
                      other=0, redirect=0, allowed_methods=None, backoff_factor=0.5,
                      raise_on_status=False)
        self.session.mount(self.url, HTTPAdapter(max_retries=retry))

    def sign_pdf(self, pdf: bytes, nik: str, passphrase: str, *,
                 file_name: str = "dokumen.pdf") -> bytes:
        """`pdf` signed by the certificate of `nik`, as BSrE returns it."""
        if not passphrase:
            raise PassphraseRequired(MESSAGES[PassphraseRequired], field="passphrase")
        try:
            answer = self.session.post(
                self.url + SIGN_PATH, timeout=self.timeout,
                files={"file": (file_name, io.BytesIO(pdf), "application/pdf")},
                data={"nik": nik, "passphrase": passphrase, "tampilan": "invisible"})
        except requests.RequestException as exc:
            # the message names the URL and the failure, never the form's fields
            raise Unavailable(MESSAGES[Unavailable], field="signer",
                              details={"reason": type(exc).__name__}) from None
        if answer.status_code == 200:
            if not answer.content.startswith(b"%PDF"):
                raise Refused("BSrE menjawab tanpa PDF", field="signer",
                              details={"content_type": answer.headers.get("Content-Type")})
            return answer.content
        raise error_of(answer)

    def user_status(self, nik: str) -> dict:
        """BSrE's answer about `nik`'s certificate (for an operator checking the set-up)."""
        try:
            answer = self.session.get(self.url + STATUS_PATH.format(nik=nik),
                                      timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unavailable(MESSAGES[Unavailable], field="signer",
                              details={"reason": type(exc).__name__}) from None
        if answer.status_code == 200:
            return answer.json()
        raise error_of(answer)

    def close(self) -> None:
        self.session.close()


def error_of(answer: requests.Response) -> SigningError:
    """BSrE's refusal as our error: the official's mistakes (passphrase, certificate) with a
    message they can act on; the rest for BKD's operators with BSrE's own words."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    said = str(body.get("error") or body.get("message") or answer.reason or "")[:300]
    code = body.get("status_code")
    details = {"http_status": answer.status_code, "bsre_code": code, "bsre_message": said}
    if code == WRONG_PASSPHRASE:
        return PassphraseWrong(MESSAGES[PassphraseWrong], field="passphrase", details=details)
    if code == NOT_REGISTERED or answer.status_code == 404:
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
                      ca_bundle=str(config.get("BSRE_CA_BUNDLE") or "") or None)
