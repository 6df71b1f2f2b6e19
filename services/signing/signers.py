"""Where the signatures are computed. pyHanko is CPU-bound pure Python: in the Nameko process
it would hold the GIL — and, called directly, the eventlet hub — for every signature. By
default signatures are made in SIGNING_PROCESSES worker processes (services/signing/worker.py,
each holding the key store), talked to over pipes that eventlet waits on cooperatively, so the
service keeps answering while a worker signs and the signatures use another core.
SIGNING_PROCESSES=0 signs in the service process itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import eventlet
from eventlet import tpool
from eventlet.queue import LightQueue
from eventlet.semaphore import Semaphore

from services.signing import pdfsign
from services.signing.exceptions import SigningError
from services.signing.keystore import Keystore, backend
from services.signing.worker import read_message, write_message

ROOT = Path(__file__).resolve().parents[2]
#: seconds a worker may take for one signature (the TSA's own timeout is 10 s)
WORKER_TIMEOUT = 60


def timestamper_for(tsa_url: str | None):
    """A pyHanko timestamper for SIGNING_TSA_URL, made afresh for each document: a
    TimeStamper keeps the TSA certificates of its first answer for its lifetime, so a
    long-lived one, after the TSA moved to its next certificate, would embed the old
    certificate's validation data beside a time stamp made with the new one — a B-LTA
    document, or a renewal, that no longer validates once that data is needed."""
    if not tsa_url:
        return None
    # the requests-based client: synchronous, it waits inside the signing call
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    return RequestsHTTPTimeStamper(tsa_url, timeout=10)


def renew(pool: SignerPool, pdf: bytes) -> bytes:
    """A fresh archive time stamp over `pdf` (B-LTA renewal), in an OS thread: it waits on
    the TSA and the CA's responders."""
    from services.signing import ltv

    timestamper = pool.timestamper
    if timestamper is None:
        raise SigningError("pembaruan cap waktu arsip perlu SIGNING_TSA_URL",
                           field="SIGNING_TSA_URL")
    return tpool.execute(ltv.renew, pdf, pool.keystore.trust_roots, timestamper,
                         pool.fetch_timeout)


class WorkerFailed(SigningError):
    code = "signing_worker_failed"
    http_status = 503
    transient = True


class _Worker:
    def __init__(self, settings: dict):
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell, no user input
            [sys.executable, "-m", "services.signing.worker", json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        if not self._receive()[0].get("ready"):
            raise WorkerFailed("proses penandatangan tidak siap", field="signer")

    def _receive(self) -> tuple[dict, bytes]:
        message = read_message(self.process.stdout)
        if message is None:
            raise WorkerFailed("proses penandatangan berhenti", field="signer")
        return message

    def sign(self, account_id: str, pdf: bytes, options: dict) -> bytes:
        if self.process.poll() is not None:
            raise WorkerFailed("proses penandatangan berhenti", field="signer")
        # a worker that dies mid-exchange can leave a green pipe waiting: bounded
        with eventlet.Timeout(WORKER_TIMEOUT,
                              WorkerFailed("proses penandatangan tidak menjawab",
                                           field="signer")):
            write_message(self.process.stdin, {"account_id": account_id, "options": options},
                          pdf)
            header, signed = self._receive()
        if header.get("ok"):
            return signed
        raise SigningError(f"penandatanganan gagal: {header.get('type')}: "
                           f"{header.get('error')}", field="signer")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class _FreshTimestamper:
    """`timestamper`: a fresh one per use (`timestamper_for`), or None without a TSA."""

    tsa_url: str | None = None

    @property
    def timestamper(self):
        return timestamper_for(self.tsa_url)


class SignerPool(_FreshTimestamper):
    """`sign(account_id, pdf, name=, jabatan=, reason=, level=)` -> signed bytes. `level`
    (B-B, B-T, B-LT, B-LTA) defaults to `default_level`: B-LTA with a TSA, B-B without.
    Whatever computes the signature (the key store's PKCS#12 keys, or a PKCS#11 token through
    the same `Keystore.signer`) only needs to be a pyHanko Signer; BSrE, which signs the whole
    PDF itself, is `RemoteSigner` below, with the same `sign`."""

    def __init__(self, keystore: Keystore, processes: int, tsa_url: str | None,
                 default_level: str | None = None, fetch_timeout: float = 10):
        self.keystore = keystore
        self.processes = processes
        self.tsa_url = tsa_url or None
        self.default_level = default_level or ("B-LTA" if self.tsa_url else "B-B")
        self.fetch_timeout = fetch_timeout
        self.settings = {"directory": str(keystore.directory), "kind": keystore.kind,
                         "pkcs11": keystore.pkcs11, "tsa_url": self.tsa_url,
                         "fetch_timeout": fetch_timeout}
        # slots: None until a worker is started in it (lazily, at its first document)
        self.idle: LightQueue = LightQueue()
        for _ in range(processes):
            self.idle.put(None)
        self.workers: set[_Worker] = set()
        self._in_process = Semaphore(1)

    @property
    def pades_level(self) -> str:
        return self.default_level

    def sign(self, account_id: str, pdf: bytes, **options) -> bytes:
        options.setdefault("level", self.default_level)
        if self.processes == 0:
            return self._sign_here(account_id, pdf, options)
        worker = self.idle.get()
        try:
            if worker is None:
                worker = _Worker(self.settings)
                self.workers.add(worker)
            signed = worker.sign(account_id, pdf, options)
        except (WorkerFailed, OSError, EOFError, ValueError) as exc:
            # a worker died (killed, out of memory): its slot starts a fresh one next time;
            # this document fails and is tried again
            if worker is not None:
                self.workers.discard(worker)
                worker.close()
            self.idle.put(None)
            if isinstance(exc, WorkerFailed):
                raise
            raise WorkerFailed(f"proses penandatangan gagal: {exc}", field="signer") from exc
        except BaseException:
            self.idle.put(worker)
            raise
        self.idle.put(worker)
        return signed

    def _sign_here(self, account_id: str, pdf: bytes, options: dict) -> bytes:
        signer = self.keystore.signer(account_id)
        if self.tsa_url is not None:  # waits on the network: in an OS thread
            return tpool.execute(pdfsign.sign, pdf, signer, timestamper=self.timestamper,
                                 trust_roots=self.keystore.trust_roots,
                                 fetch_timeout=self.fetch_timeout, **options)
        with self._in_process:  # pyHanko runs its own asyncio loop: one at a time
            return pdfsign.sign(pdf, signer, **options)

    def close(self) -> None:
        for worker in list(self.workers):
            worker.close()
        self.workers.clear()


class RemoteSigner(_FreshTimestamper):
    """BSrE as the signer, behind the pool's interface: `sign(account_id, pdf, name=, jabatan=,
    reason=, level=, passphrase=)` -> signed bytes. The official's key index entry names their
    NIK (`{"nik": ..., "name": ..., "jabatan": ...}`); BSrE signs with their certificate once
    they give their passphrase (services/signing/bsre.py). What comes back is accepted only if
    it is our PDF with a signature appended that is valid against our trust roots: BSrE must
    not be able to change a word of the document. BSrE signs at B-B or B-T; with a TSA the
    signature is then raised to `level` (default B-LTA) by us (services/signing/ltv.py
    `extend`: the CA's revocation data and a document time stamp, the signed bytes
    untouched), so the renewal job keeps it verifiable as it does our own signatures."""

    needs_passphrase = True

    def __init__(self, keystore: Keystore, client, tsa_url: str | None = None,
                 default_level: str | None = None, fetch_timeout: float = 10):
        self.keystore = keystore
        self.client = client
        self.tsa_url = tsa_url or None
        self.default_level = default_level or ("B-LTA" if tsa_url else "B-B")
        self.fetch_timeout = fetch_timeout

    @property
    def pades_level(self) -> str:
        return self.default_level

    def sign(self, account_id: str, pdf: bytes, *, passphrase: str | None = None,
             totp: str | None = None, level: str | None = None, **_options) -> bytes:
        from services.signing import bsre, ltv

        nik = self.keystore.nik(account_id)
        signed = self.client.sign_pdf(pdf, nik, passphrase, totp=totp)  # or PassphraseRequired
        if not signed.startswith(pdf) or len(signed) <= len(pdf):
            raise bsre.Refused("BSrE mengembalikan PDF yang bukan dokumen kita bertanda tangan",
                               field="signer")
        # pyHanko's validation runs its own event loop: in an OS thread
        verdict = tpool.execute(pdfsign.verify, signed, self.keystore.trust_roots)
        if not verdict.valid:
            raise bsre.Refused(f"tanda tangan dari BSrE tidak sah ({verdict.code})",
                               field="signer", details={"verdict": verdict.code})
        target = level or self.default_level
        if target == "B-B":
            return signed
        try:  # waits on the CA's responders and the TSA: in an OS thread
            return tpool.execute(ltv.extend, signed, target, self.keystore.trust_roots,
                                 self.timestamper, self.fetch_timeout)
        except (ltv.NotExtended, ValueError) as exc:
            raise bsre.NotInForce(bsre.MESSAGES[bsre.NotInForce], field="signer",
                                  details={"level": target, "reason": str(exc)[:300]}) from exc

    def official_status(self, account_id: str) -> dict:
        """Whether BSrE would sign for `account_id` now: the NIK its key store entry names
        (shown masked) and BSrE's status of that NIK's certificate."""
        from services.signing import bsre

        nik = self.keystore.nik(account_id)
        try:
            status = self.client.user_status(nik)
        except bsre.NotRegistered as exc:
            status = {"status": exc.details.get("bsre_status") or "NOT_REGISTERED",
                      "active": False, "bsre_code": exc.details.get("bsre_code"),
                      "message": exc.message}
        return {"account_id": account_id, "nik": nik[:4] + "*" * (len(nik) - 8) + nik[-4:],
                "status": status.get("status"), "active": bool(status.get("active")),
                "bsre_code": status.get("bsre_code"), "message": status.get("message") or ""}

    def close(self) -> None:
        self.client.close()


def signers_from_config(config: dict, keystore: Keystore, processes: int,
                        tsa_url: str | None, default_level: str | None = None,
                        fetch_timeout: float = 10):
    """SIGNING_BACKEND: `local` (PKCS#12 files), `pkcs11` (a token; SIGNING_PKCS11_*) or
    `bsre` (BSrE's e-sign service; BSRE_*)."""
    if backend(config) == "bsre":
        from services.signing import bsre

        return RemoteSigner(keystore, bsre.client_from_config(config), tsa_url,
                            default_level, fetch_timeout)
    return SignerPool(keystore, processes, tsa_url, default_level, fetch_timeout)
