"""A development CA for the long-term validation tests (issue 20): a key store whose
certificates name the test's OCSP responder and CRL (tests/revocation_server.py), one signer
whose certificate ends soon, and a TSA (tests/tsa_server.py) whose certificate ends sooner (inside
the renewal window). Shared by the pdf-level, service-level and BSrE tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from services.signing import pki
from services.signing.keystore import Keystore
from tests.revocation_server import RevocationServer
from tests.tsa_server import LocalTsa


@dataclass
class DevCa:
    directory: Path
    keystore: Keystore
    responders: RevocationServer
    tsa: LocalTsa


@contextlib.contextmanager
def dev_ca(directory: Path, signer: str, name: str, jabatan: str, *,
           signer_not_after: dt.datetime, tsa_not_after: dt.datetime):
    """The CA, its responders and the TSA, running for the `with` block."""
    with RevocationServer(directory) as responders:
        pki.init(directory, [], revocation_url=responders.url, tsa_not_after=tsa_not_after)
        root = pki.load_root(directory)
        index = json.loads((directory / "keystore.json").read_text())
        index["signers"][signer] = pki.write_entry(
            directory, root, signer, name, jabatan,
            issued=pki.issue(root, name, unit=jabatan, serial=signer,
                             revocation_url=responders.url, not_after=signer_not_after))
        (directory / "keystore.json").write_text(json.dumps(index))
        with LocalTsa(directory, index) as tsa:
            yield DevCa(directory, Keystore(directory), responders, tsa)


def fresh_b_lta(answer: dict) -> dict:
    """The signature part of a verification answer for a document signed at B-LTA moments
    ago: valid, the signing time proved, one archive time stamp, the CA's embedded "good"."""
    assert answer["valid"], answer
    signature = answer["signature"]
    assert signature["pades_level"] == "B-LTA" and signature["proved_signing_time"]
    assert len(signature["archive_timestamps"]) == 1
    assert [e["status"] for e in signature["revocation_evidence"]] == ["good"]
    return signature
