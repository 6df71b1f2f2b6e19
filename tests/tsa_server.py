"""A time-stamping authority for tests: RFC 3161 over HTTP, answering with the key store's TSA
certificate (pyHanko's DummyTimeStamper does the RFC 3161 part)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from asn1crypto import tsp
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class LocalTsa:
    def __init__(self, keystore_dir: Path, index: dict):
        self.keystore_dir = keystore_dir
        self.use(index)
        self.requests = 0
        #: while above 0, every request is held this many seconds before it is answered: a
        #: signing that is slow but alive (tests/test_signing_takeover.py). Every request, not
        #: the next one only: a replica's start-up checkpoint may come first and must not take
        #: the hold meant for the document
        self.hold_seconds = 0.0
        #: set when a held request comes in
        self.held = threading.Event()
        #: time.monotonic() of the last request's arrival (None: none yet)
        self.last_request_at: float | None = None
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def use(self, index: dict) -> None:
        """Answer with the index's TSA certificate from now on (its next certificate, after
        `pki.renew_tsa`)."""
        entry = index["tsa"]
        tsa = signers.SimpleSigner.load_pkcs12_data(
            (self.keystore_dir / entry["pkcs12"]).read_bytes(), [],
            passphrase=(self.keystore_dir / entry["passphrase_file"]).read_bytes().strip())
        self.stamper = DummyTimeStamper(tsa_cert=tsa.signing_cert, tsa_key=tsa.signing_key)

    @Request.application
    def app(self, request: Request) -> Response:
        if request.mimetype != "application/timestamp-query":
            return Response("timestamp queries only", status=415)
        self.last_request_at = time.monotonic()
        delay = self.hold_seconds
        if delay:
            self.held.set()
            time.sleep(delay)
        answer = self.stamper.request_tsa_response(tsp.TimeStampReq.load(request.get_data()))
        self.requests += 1
        return Response(answer.dump(), mimetype="application/timestamp-reply")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
