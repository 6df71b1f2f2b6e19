"""A development PKI: a provincial root CA and the certificates signed by it.

`simasn pki init` uses it to create a key store for development and tests: a root CA, one signer
certificate per official, a seal certificate for the service itself (audit checkpoints) and a
time-stamping authority. In production none of this runs: the certificates come from the national
e-signature CA (BSrE) and are only configured (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)

KEY_BITS = 2048
ORGANIZATION = "Pemerintah Provinsi Jawa Timur"


@dataclass(frozen=True)
class Issued:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


def _name(common_name: str, unit: str | None = None, serial: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if serial:
        parts.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_root(common_name: str = "SIMASN Jatim Root CA (pengembangan)",
              years: int = 10) -> Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = _name(common_name, "Badan Kepegawaian Daerah")
    start = _now() - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(key, cert)


def issue(root: Issued, common_name: str, *, unit: str | None = None,
          serial: str | None = None, not_before: dt.datetime | None = None,
          not_after: dt.datetime | None = None, timestamping: bool = False,
          revocation_url: str | None = None) -> Issued:
    """A leaf certificate under `root`: a document signer (digitalSignature + nonRepudiation,
    as PAdES validators expect) or, with `timestamping`, a time-stamping authority. With
    `revocation_url` it names where its status is answered, as a public CA's certificates do:
    the OCSP responder `<url>/ocsp` (Authority Information Access) and the CRL `<url>/crl`
    (CRL distribution point) — long-term validation embeds their answers at signing."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    start = not_before or (_now() - dt.timedelta(minutes=5))
    end = not_after or min(start + dt.timedelta(days=365 * 2),
                           root.certificate.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(_name(common_name, unit, serial))
               .issuer_name(root.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True,
                                            content_commitment=not timestamping,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   root.key.public_key()), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if revocation_url:
        base = revocation_url.rstrip("/")
        builder = (builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(f"{base}/ocsp"))]),
            critical=False)
                   .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                       [x509.UniformResourceIdentifier(f"{base}/crl")], None, None, None)]),
                       critical=False))
    if timestamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return Issued(key, builder.sign(root.key, hashes.SHA256()))


def issue_ocsp_responder(root: Issued, days: int = 3650) -> Issued:
    """The certificate the CA's OCSP responder signs its answers with: short-lived, marked
    id-pkix-ocsp-nocheck (nobody asks whether the responder itself is revoked)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    start = _now() - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(_name("SIMASN Jatim OCSP (pengembangan)"))
            .issuer_name(root.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(min(start + dt.timedelta(days=days),
                                 root.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                           critical=True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root.key.public_key()), critical=False)
            .sign(root.key, hashes.SHA256()))
    return Issued(key, cert)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pkcs12_bytes(issued: Issued, chain: list[x509.Certificate], passphrase: bytes,
                 friendly_name: str) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode()[:64], issued.key, issued.certificate, chain,
        serialization.BestAvailableEncryption(passphrase))


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_entry(directory: Path, root: Issued, account_id: str, display_name: str,
                jabatan: str, issued: Issued | None = None,
                revocation_url: str | None = None) -> dict:
    """A PKCS#12 file and its passphrase file for one signer; returns its key store entry."""
    issued = issued or issue(root, display_name, unit=jabatan, serial=account_id,
                             revocation_url=revocation_url)
    passphrase = secrets.token_urlsafe(24).encode()
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in account_id)
    (directory / "signers").mkdir(parents=True, exist_ok=True)
    _write_secret(directory / "signers" / f"{safe}.p12",
                  pkcs12_bytes(issued, [root.certificate], passphrase, display_name))
    _write_secret(directory / "signers" / f"{safe}.pass", passphrase)
    return {"pkcs12": f"signers/{safe}.p12", "passphrase_file": f"signers/{safe}.pass",
            "name": display_name, "jabatan": jabatan}


def init(directory: str | Path, signers: list[dict], force: bool = False,
         revocation_url: str | None = None, tsa_not_after: dt.datetime | None = None) -> dict:
    """Create a development key store in `directory`: root CA, one PKCS#12 per signer
    ({account_id, name, jabatan}), the service's seal and a TSA. Refuses to overwrite an
    existing key store unless `force` (a second root would orphan every signed document).
    `revocation_url`: where the development CA answers OCSP and CRL requests
    (tests/revocation_server.py); it is kept in the index so later certificates name it too.
    `tsa_not_after`: the TSA certificate's end (tests of the archive time stamp renewal)."""
    directory = Path(directory)
    index_path = directory / "keystore.json"
    if index_path.exists() and not force:
        raise FileExistsError(f"{index_path} sudah ada; pakai --force untuk membuat ulang")
    directory.mkdir(parents=True, exist_ok=True)
    root = make_root()
    (directory / "root-ca.pem").write_bytes(pem(root.certificate))
    root_pass = secrets.token_urlsafe(24).encode()
    _write_secret(directory / "root-ca.key", root.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(root_pass)))
    _write_secret(directory / "root-ca.pass", root_pass)
    index = {"format": 1, "trust_roots": ["root-ca.pem"], "signers": {}}
    if revocation_url:
        index["revocation_url"] = revocation_url
    for signer in signers:
        index["signers"][signer["account_id"]] = write_entry(
            directory, root, signer["account_id"], signer["name"], signer["jabatan"],
            revocation_url=revocation_url)
    index["seal"] = write_entry(directory, root, "seal", "SIMASN Jatim (segel layanan)",
                                "Sistem Informasi Manajemen ASN Terintegrasi",
                                revocation_url=revocation_url)
    tsa = issue(root, "SIMASN Jatim TSA (pengembangan)", timestamping=True,
                revocation_url=revocation_url, not_after=tsa_not_after)
    index["tsa"] = write_entry(directory, root, "tsa", "SIMASN Jatim TSA (pengembangan)",
                               "Time-Stamping Authority", issued=tsa)
    index_path.write_text(json.dumps(index, indent=2, ensure_ascii=False), encoding="utf-8")
    return index


def load_root(directory: str | Path) -> Issued:
    directory = Path(directory)
    cert = x509.load_pem_x509_certificate((directory / "root-ca.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / "root-ca.key").read_bytes(),
                                             (directory / "root-ca.pass").read_bytes())
    return Issued(key, cert)


def renew_tsa(directory: str | Path, not_after: dt.datetime | None = None) -> dict:
    """A new certificate for the development TSA (the old one about to expire): archive time
    stamps from now on carry it (tests of `simasn signing renew-timestamps`)."""
    directory = Path(directory)
    index_path = directory / "keystore.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    root = load_root(directory)
    issued = issue(root, "SIMASN Jatim TSA (pengembangan)", timestamping=True,
                   revocation_url=index.get("revocation_url"), not_after=not_after)
    index["tsa"] = write_entry(directory, root, f"tsa-{issued.certificate.serial_number:x}",
                               "SIMASN Jatim TSA (pengembangan)", "Time-Stamping Authority",
                               issued=issued)
    temporary = index_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(index, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, index_path)
    return index


def add_signer(directory: str | Path, account_id: str, name: str, jabatan: str) -> dict:
    """A certificate for one more official, under the development root; the running signing
    service picks up the changed key store without a restart."""
    directory = Path(directory)
    index_path = directory / "keystore.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    entry = write_entry(directory, load_root(directory), account_id, name, jabatan,
                        revocation_url=index.get("revocation_url"))
    index["signers"][account_id] = entry
    temporary = index_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(index, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, index_path)  # readers see the old index or the new one, never half
    return entry
