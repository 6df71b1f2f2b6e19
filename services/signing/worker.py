"""A signing worker process (`python -m services.signing.worker`), started by the signing
service (services/signing/signers.py): it holds the key store and signs PDFs it is sent on
stdin, answering on stdout. Each message is two frames (4-byte big-endian length, then the
bytes): a JSON header, then the PDF.

    request:  {"account_id", "options": {"name", "jabatan", "reason", "level"}}, unsigned PDF
    answer:   {"ok": true}, signed PDF | {"ok": false, "type", "error"}, empty
"""

from __future__ import annotations

import json
import struct
import sys

HEADER = struct.Struct(">I")


def _read_exactly(stream, size: int) -> bytes | None:
    """`size` bytes, or None at the end of the stream (a pipe may hand them over in parts)."""
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_frame(stream) -> bytes | None:
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    return _read_exactly(stream, size)


def write_frame(stream, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_message(stream) -> tuple[dict, bytes] | None:
    header = read_frame(stream)
    body = read_frame(stream) if header is not None else None
    if body is None:
        return None
    return json.loads(header), body


def write_message(stream, header: dict, body: bytes = b"") -> None:
    data = json.dumps(header).encode()
    stream.write(HEADER.pack(len(data)) + data + HEADER.pack(len(body)) + body)
    stream.flush()


def main() -> int:
    from services.signing import pdfsign
    from services.signing.keystore import Keystore
    from services.signing.signers import timestamper_for

    settings = json.loads(sys.argv[1])
    keystore = Keystore(settings["directory"], settings["kind"], settings["pkcs11"])
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a library prints must not land in the frames
    write_message(sink, {"ok": True, "ready": True})
    while (message := read_message(source)) is not None:
        header, pdf = message
        try:
            keystore.refresh()
            signed = pdfsign.sign(pdf, keystore.signer(header["account_id"]),
                                  # fresh per document: see timestamper_for
                                  timestamper=timestamper_for(settings["tsa_url"]),
                                  trust_roots=keystore.trust_roots,
                                  fetch_timeout=settings.get("fetch_timeout", 10),
                                  **header["options"])
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the service
            write_message(sink, {"ok": False, "type": type(exc).__name__,
                                 "error": str(exc)[:2000]})
            continue
        write_message(sink, {"ok": True}, signed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
