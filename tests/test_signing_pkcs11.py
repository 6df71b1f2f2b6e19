"""SIGNING_BACKEND=pkcs11 against a real PKCS#11 token (issue 20 part 3): SoftHSM (Debian's
softhsm2, installed by `scripts/infra.sh softhsm`) with a token initialised in a temporary
directory, an official's key imported into it and their certificate from the development CA
beside it; the key never leaves the token, pyHanko's PKCS11Signer signs behind our signer
interface — in the service process and in a signing worker process — and the result validates
against the key store's roots."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from services.signing import pdfsign, pki
from services.signing.keystore import Keystore
from services.signing.signers import SignerPool, signers_from_config
from tests.document_samples import pdf_with_text

pytestmark = pytest.mark.timeout(120)

MODULE = os.environ.get("SOFTHSM2_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
TOKEN, USER_PIN, SO_PIN = "simasn-uji", "204060", "10203040"
ACCOUNT, LABEL = "pejabat.token", "pejabat-token"


@pytest.fixture(scope="module")
def token_keystore(tmp_path_factory, keystore_dir):
    """A key store whose official `pejabat.token` has their key on a SoftHSM token. One per
    module: SoftHSM reads SOFTHSM2_CONF once per process, when the library is initialised."""
    tmp_path = tmp_path_factory.mktemp("softhsm")
    with pytest.MonkeyPatch.context() as patch:
        yield _token(tmp_path, keystore_dir, patch)


def _token(tmp_path: Path, keystore_dir: Path, monkeypatch) -> dict:
    assert Path(MODULE).exists() and shutil.which("softhsm2-util"), (
        "SoftHSM missing: run `scripts/infra.sh softhsm` (apt-get install softhsm2)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))  # the library and the workers read it
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN,
                    "--so-pin", SO_PIN, "--pin", USER_PIN], check=True, capture_output=True)

    issued = pki.issue(pki.load_root(keystore_dir), "Dr. Pemegang Token", unit="Sekretaris BKD",
                       serial=ACCOUNT)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    subprocess.run(["softhsm2-util", "--import", str(key_file), "--token", TOKEN,
                    "--label", LABEL, "--id", "01", "--pin", USER_PIN],
                   check=True, capture_output=True)
    key_file.unlink()  # from here on the key is only on the token
    _store_certificate(issued.certificate)

    directory = tmp_path / "keystore"
    shutil.copytree(keystore_dir, directory)
    index = json.loads((directory / "keystore.json").read_text())
    index["signers"][ACCOUNT] = {"key_label": LABEL, "name": "Dr. Pemegang Token",
                                 "jabatan": "Sekretaris BKD"}
    (directory / "keystore.json").write_text(json.dumps(index))
    (tmp_path / "pin").write_text(USER_PIN)
    return {"SIGNING_BACKEND": "pkcs11", "SIGNING_KEYSTORE_DIR": str(directory),
            "SIGNING_PKCS11_MODULE": MODULE, "SIGNING_PKCS11_TOKEN": TOKEN,
            "SIGNING_PKCS11_PIN_FILE": str(tmp_path / "pin")}


def _store_certificate(certificate) -> None:
    """The official's certificate on the token beside the key, under the same label (what
    pyHanko's PKCS11Signer looks up when the index names only a key label)."""
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=USER_PIN) as session:
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509, Attribute.TOKEN: True,
            Attribute.LABEL: LABEL, Attribute.ID: b"\x01",
            Attribute.SUBJECT: certificate.subject.public_bytes(),
            Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER)})


def _sign_and_judge(sign, keystore) -> pdfsign.Verdict:
    signed = sign(ACCOUNT, pdf_with_text(marker="token"), name="Dr. Pemegang Token",
                  jabatan="Sekretaris BKD", reason="Uji PKCS#11")
    return pdfsign.verify(signed, keystore.trust_roots)


def test_a_key_on_a_token_signs_through_our_signer_interface(token_keystore):
    keystore = Keystore.from_config(token_keystore)
    assert keystore.kind == "pkcs11"
    in_process = signers_from_config(token_keystore, keystore, 0, None)
    verdict = _sign_and_judge(in_process.sign, keystore)
    assert verdict.valid and verdict.code == "valid", verdict
    assert verdict.signer == "Dr. Pemegang Token" and verdict.signer_serial == ACCOUNT


def test_a_signing_worker_process_opens_the_token_itself(token_keystore):
    keystore = Keystore.from_config(token_keystore)
    pool = SignerPool(keystore, 1, None)
    try:
        verdict = _sign_and_judge(pool.sign, keystore)
    finally:
        pool.close()
    assert verdict.valid, verdict

