"""A signing worker process (`python -m services.signing.worker`), started by the signing
service (services/signing/signers.py): it holds the key store and signs PDFs it is sent on
stdin, answering on stdout. Frames: 4-byte big-endian length, then a pickle — between two
processes of ours only, over a pipe nobody else holds.

    request:  (account_id, unsigned_pdf, {"name", "jabatan", "reason"})
    answer:   ("ok", signed_pdf) | ("error", exception type name, message)
"""

from __future__ import annotations

import json
import pickle
import struct
import sys

HEADER = struct.Struct(">I")


def read_frame(stream) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def write_frame(stream, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def main() -> int:
    from services.signing import pdfsign
    from services.signing.keystore import Keystore
    from services.signing.signers import timestamper_for

    settings = json.loads(sys.argv[1])
    keystore = Keystore(settings["directory"], settings["kind"], settings["pkcs11"])
    timestamper = timestamper_for(settings["tsa_url"])
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a library prints must not land in the frames
    write_frame(sink, pickle.dumps(("ready",)))
    while (frame := read_frame(source)) is not None:
        account_id, pdf, options = pickle.loads(frame)
        try:
            keystore.refresh()
            answer = ("ok", pdfsign.sign(pdf, keystore.signer(account_id),
                                         timestamper=timestamper, **options))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the service
            answer = ("error", type(exc).__name__, str(exc)[:2000])
        write_frame(sink, pickle.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
