"""The signers' keys and certificates, and the roots a signature is trusted against.

Only the signing service reads the key store. By default it is a directory of PKCS#12 files with
an index, `keystore.json` (`simasn pki init` writes one for development; in production the files
are the BSrE certificates, mounted from a Secret):

    {"format": 1, "trust_roots": ["root-ca.pem"],
     "signers": {"<account id>": {"pkcs12": "signers/x.p12", "passphrase_file": "signers/x.pass",
                                   "name": "Nama Pejabat", "jabatan": "Kepala BKD"}},
     "seal": {...}, "tsa": {...}}

With SIGNING_BACKEND=bsre an official's entry names their NIK instead (`{"nik": ..., "name":
..., "jabatan": ...}`): BSrE holds the key (services/signing/bsre.py); the seal and the trust roots
stay here.

With SIGNING_BACKEND=pkcs11 (formerly SIGNING_KEYSTORE=pkcs11) the keys stay on a token
(SIGNING_PKCS11_MODULE, the token label and PIN file); the index then names a key label per
signer instead of a PKCS#12 file.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from services.signing.exceptions import NoSigningKey
from shared.errors import ConfigError


@dataclass(frozen=True)
class SignerIdentity:
    """Who a key belongs to, as the visible stamp shows it."""

    account_id: str
    name: str
    jabatan: str


class Keystore:
    def __init__(self, directory: str | Path, kind: str = "pkcs12",
                 pkcs11: dict | None = None):
        self.directory = Path(directory)
        self.kind = kind
        self.pkcs11 = pkcs11 or {}
        self._lock = threading.Lock()
        self._signers: dict[str, signers.Signer] = {}
        self._load_index()
        if kind == "pkcs11":
            self._check_pkcs11()

    def _load_index(self) -> None:
        index_path = self.directory / "keystore.json"
        try:
            self._mtime = index_path.stat().st_mtime_ns
            self.index = json.loads(index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{index_path} tidak ada: jalankan `simasn pki init` (pengembangan)"
                              " atau pasang key store BSrE", field="SIGNING_KEYSTORE_DIR") from None
        except ValueError as exc:
            raise ConfigError(f"{index_path} bukan JSON yang sah: {exc}",
                              field="SIGNING_KEYSTORE_DIR") from None
        if not isinstance(self.index.get("signers"), dict):
            raise ConfigError(f"{index_path}: 'signers' harus berupa objek",
                              field="SIGNING_KEYSTORE_DIR")
        roots = []
        for name in self.index.get("trust_roots") or []:
            roots.extend(load_certs_from_pemder([str(self.directory / name)]))
        if not roots:
            raise ConfigError(f"{index_path}: tidak ada trust_roots", field="SIGNING_KEYSTORE_DIR")
        self.trust_roots: list[asn1_x509.Certificate] = roots

    def refresh(self) -> None:
        """Pick up a changed index (a new official's certificate, a replaced one) without a
        restart; documents waiting for a key are then signed by the timer."""
        try:
            mtime = (self.directory / "keystore.json").stat().st_mtime_ns
        except OSError:
            return
        if mtime != self._mtime:
            with self._lock:
                previous = (self.index, self.trust_roots, self._mtime)
                try:
                    self._load_index()
                except ConfigError:
                    # a half-edited index: keep signing with the one we had
                    self.index, self.trust_roots, _ = previous
                    self._mtime = mtime
                    return
                self._signers.clear()

    @classmethod
    def from_config(cls, config: dict) -> Keystore:
        kind = "pkcs11" if backend(config) == "pkcs11" else str(
            config.get("SIGNING_KEYSTORE") or "pkcs12")
        if kind not in ("pkcs12", "pkcs11"):
            raise ConfigError("SIGNING_KEYSTORE harus pkcs12 atau pkcs11", field="SIGNING_KEYSTORE")
        directory = config.get("SIGNING_KEYSTORE_DIR") or "var/keystore"
        return cls(directory, kind, {
            "module": config.get("SIGNING_PKCS11_MODULE"),
            "token": config.get("SIGNING_PKCS11_TOKEN"),
            "pin_file": config.get("SIGNING_PKCS11_PIN_FILE")})

    def _check_pkcs11(self) -> None:
        for key in ("module", "token", "pin_file"):
            if not self.pkcs11.get(key):
                raise ConfigError(f"SIGNING_PKCS11_{key.upper()} wajib untuk key store pkcs11",
                                  field=f"SIGNING_PKCS11_{key.upper()}")
        try:
            import pkcs11  # noqa: F401 - python-pkcs11, only needed with a token
        except ImportError:
            raise ConfigError("key store pkcs11 perlu paket python-pkcs11",
                              field="SIGNING_KEYSTORE") from None

    def identity(self, account_id: str) -> SignerIdentity:
        self.refresh()
        entry = self._entry(account_id)
        return SignerIdentity(account_id, entry["name"], entry["jabatan"])

    def has(self, account_id: str) -> bool:
        self.refresh()
        return account_id in self.index["signers"]

    def _entry(self, account_id: str) -> dict:
        if account_id == "seal" and "seal" in self.index:
            return self.index["seal"]
        entry = self.index["signers"].get(account_id)
        if entry is None:
            raise NoSigningKey(f"belum ada sertifikat tanda tangan elektronik untuk {account_id}",
                               field="signer", details={"signer": account_id})
        return entry

    def nik(self, account_id: str) -> str:
        """The NIK under which BSrE holds the official's certificate (SIGNING_BACKEND=bsre)."""
        self.refresh()
        nik = str(self._entry(account_id).get("nik") or "")
        if not nik:
            raise NoSigningKey(f"NIK penandatangan {account_id} belum diisi di key store",
                               field="signer", details={"signer": account_id})
        return nik

    def certificate(self, account_id: str):
        """The signer's certificate (asn1crypto), as embedded in its signatures."""
        return self.signer(account_id).signing_cert

    def signer(self, account_id: str) -> signers.Signer:
        """The pyHanko signer of `account_id` ('seal' for the service's own seal), loaded once."""
        with self._lock:
            cached = self._signers.get(account_id)
            if cached is None:
                cached = self._signers[account_id] = self._load(self._entry(account_id))
            return cached

    def _load(self, entry: dict) -> signers.Signer:
        if self.kind == "pkcs11":
            from pyhanko.config.pkcs11 import TokenCriteria
            from pyhanko.sign import pkcs11 as hanko_pkcs11

            pin = Path(self.pkcs11["pin_file"]).read_text(encoding="utf-8").strip()
            session = hanko_pkcs11.open_pkcs11_session(
                self.pkcs11["module"], token_criteria=TokenCriteria(label=self.pkcs11["token"]),
                user_pin=pin)
            return hanko_pkcs11.PKCS11Signer(session, key_label=entry["key_label"],
                                             cert_label=entry.get("cert_label"))
        try:
            data = (self.directory / entry["pkcs12"]).read_bytes()
            passphrase = (self.directory / entry["passphrase_file"]).read_bytes().strip()
        except (OSError, KeyError) as exc:
            raise ConfigError(f"berkas kunci penandatangan tidak terbaca: {exc}",
                              field="SIGNING_KEYSTORE_DIR") from None
        loaded = signers.SimpleSigner.load_pkcs12_data(data, [], passphrase=passphrase)
        # embed the signer's own certificate only: a verifier takes the root from its own trust
        # list, and an embedded copy of it would be bytes no signature covers
        return CachedKeySigner(signing_key=loaded.signing_key, signing_cert=loaded.signing_cert,
                               cert_registry=SimpleCertificateStore())


class CachedKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner parses (and, in `cryptography`, fully checks) the private key on
    every signature: about 50 ms for RSA-2048, more than the rest of the signing. The key of
    a key store entry is parsed once, when it is loaded."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._private_key = serialization.load_der_private_key(self.signing_key.dump(),
                                                               password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism != "rsassa_pkcs1v15" or not isinstance(self._private_key, RSAPrivateKey):
            return super().sign_raw(data, digest_algorithm)  # other key types: pyHanko's way
        return self._private_key.sign(data, PKCS1v15(),
                                      get_pyca_cryptography_hash(digest_algorithm))


def backend(config: dict) -> str:
    """SIGNING_BACKEND: `local` (PKCS#12 files), `pkcs11` (a token; SIGNING_PKCS11_*) or `bsre`
    (BSrE's e-sign service; BSRE_*)."""
    value = str(config.get("SIGNING_BACKEND") or "").strip()
    if not value:  # before SIGNING_BACKEND: the key store's kind said it
        return "pkcs11" if config.get("SIGNING_KEYSTORE") == "pkcs11" else "local"
    if value not in ("local", "pkcs11", "bsre"):
        raise ConfigError("SIGNING_BACKEND harus local, pkcs11 atau bsre",
                          field="SIGNING_BACKEND")
    return value
