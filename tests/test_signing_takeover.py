"""Issue 18: a document whose signing process dies is taken over within seconds by another
replica, and one whose signing is slow but alive is never taken — two `nameko run` signing
processes on this test's database and vhost, the signature's time stamp asked of a TSA the test
runs (and holds, to make one signing slow). A document is claimed by a session lock of its
runner's process (shared/claims.py); before, a dead runner's claim had to age past
SIGNING_STALE_SECONDS (120 s) and a live one slower than that was signed twice."""

import json
import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from services.signing.events import REGISTRY
from services.signing.usecases import checkpoints, issuing
from shared.brokerauth import Management, vhost_of
from shared.config import with_user
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore
from shared.testing import wait_for
from tests.helpers import fetch
from tests.test_crash_recovery import Proc
from tests.tsa_server import LocalTsa

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
MANAGEMENT = os.environ.get("SIMASN_TEST_RABBIT_MANAGEMENT", "http://127.0.0.1:15672")
#: how long the slow signing's time stamp is held: past several takeover ticks, inside the
#: signer's 10 s TSA timeout
SLOW_SECONDS = 8


@pytest.fixture
def replicas(service_config, tmp_path, keystore_dir):
    """Two signing processes (started by the test) and the TSA their signatures use."""
    with LocalTsa(keystore_dir, json.loads((keystore_dir / "keystore.json").read_text())) as tsa:
        config = tmp_path / "signing.yaml"
        # B-T: one time stamp a signature, the one the test holds (B-LTA, the default with a
        # TSA, also fetches revocation data, which tests/test_signing_ltv*.py cover)
        config.write_text(yaml.safe_dump({**service_config, "SIGNING_TSA_URL": tsa.url,
                                          "SIGNING_PADES_LEVEL": "B-T",
                                          "SIGNING_CHECKPOINT_SECONDS": 3600}))
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        nameko = str(Path(sys.executable).with_name("nameko"))
        procs = [Proc(f"signing-{n}", [nameko, "run", "--config", str(config),
                                       "services.signing.service:SigningService"], env, tmp_path)
                 for n in (1, 2)]
        try:
            for proc in procs:
                proc.start()
            management = Management(MANAGEMENT, "guest", "guest")
            vhost = vhost_of(service_config["AMQP_URI"]).replace("/", "%2F")
            wait_for(lambda: _consumers(management, vhost) == 2, timeout=90,
                     message="both signing processes consuming")
            # the replicas' start-up checkpoints time-stamped (the next is an hour away): a
            # TSA quiet for longer than the checkpoint timer's tick
            started = time.monotonic()
            wait_for(lambda: time.monotonic() - (tsa.last_request_at or started)
                     > checkpoints.TICK + 1, timeout=60, interval=0.5,
                     message="the start-up checkpoints done")
            yield procs, tsa, service_config["DATABASE_URL"]
        finally:
            for proc in procs:
                proc.kill(signal.SIGTERM)


def _consumers(management, vhost) -> int:
    try:
        return management.call("GET", f"/api/queues/{vhost}/rpc-signing")["consumers"]
    except Exception:  # noqa: BLE001 - not declared yet
        return 0


def enqueue(database_url) -> str:
    engine = make_engine(with_user(database_url, "simasn_signing"), schema="signing")
    try:
        db = ServiceDatabase(engine, EventStore("signing", REGISTRY),
                             {"actor_id": "service:signing", "actor_role": "system"})
        with db.transaction() as uow:
            document_id, _ = issuing.enqueue(uow, issuing.Order(
                subject=f"case:{uuid.uuid4()}", document_key="KARIS_KARSU", signer="admin.bkd",
                values={"nama": "Siti Rahayu"}, as_of="2026-11-30T03:00:00+00:00"))
    finally:
        engine.dispose()
    return document_id


def enqueue_held(tsa, database_url) -> str:
    """A document enqueued while the TSA holds its requests, once a replica has claimed it and
    is inside its signature (waiting for the held time stamp); then the TSA answers at once
    again, so the held request is the only slow one."""
    tsa.hold_seconds = SLOW_SECONDS
    try:
        document_id = enqueue(database_url)
        # the only time stamp asked now is the document's (the fixture waited out the
        # start-up checkpoints)
        wait_for(lambda: tsa.held.is_set() and document(database_url, document_id)[1],
                 timeout=30, message="a replica signing it")
    finally:
        tsa.hold_seconds = 0.0
    return document_id


def document(database_url, document_id):
    rows = fetch(database_url, "SELECT status, runner FROM signing.documents WHERE "
                 "document_id = %s", (document_id,))
    return rows[0]


def signed_events(database_url, document_id) -> int:
    return fetch(database_url, "SELECT count(*) FROM signing.events WHERE stream_id = %s AND "
                 "event_type = 'DocumentSigned'", (f"document:{document_id}",))[0][0]


def runner_pid(runner: str) -> int:
    return int(re.match(r"signing-(\d+)-", runner).group(1))


def test_a_dead_runners_document_is_taken_over_within_seconds(replicas):
    procs, tsa, database_url = replicas
    document_id = enqueue_held(tsa, database_url)
    status, runner = document(database_url, document_id)
    assert status == "pending" and runner
    victim = next(p for p in procs if p.proc.pid == runner_pid(runner))
    survivor = next(p for p in procs if p is not victim)
    killed_at = time.monotonic()
    victim.kill(signal.SIGKILL)
    # taken: the survivor's runner on the row (signing itself takes a few seconds more)
    wait_for(lambda: runner_pid(document(database_url, document_id)[1] or "signing-0-")
             == survivor.proc.pid or document(database_url, document_id)[0] == "signed",
             timeout=30, interval=0.2, message="the document claimed by the other replica")
    took = time.monotonic() - killed_at
    wait_for(lambda: document(database_url, document_id)[0] == "signed", timeout=120,
             message="the document signed by the other replica")
    print(f"taken over {took:.1f} s after the SIGKILL (before: 120 s or more)")
    assert signed_events(database_url, document_id) == 1
    log = (Path(victim.log.name).parent / f"{survivor.name}.log").read_text(errors="replace")
    assert "document_not_signed" not in log


def test_a_slow_live_runner_is_never_replaced(replicas):
    procs, tsa, database_url = replicas
    document_id = enqueue_held(tsa, database_url)
    _, runner = document(database_url, document_id)
    seen = set()

    def signed():
        status, now = document(database_url, document_id)
        if now:
            seen.add(now)
        return status == "signed"
    wait_for(signed, timeout=60, interval=0.2, message="the slow signing finished")
    # the other replica ticked several times meanwhile, and never took the document over
    assert seen == {runner}
    assert signed_events(database_url, document_id) == 1
    assert all(p.proc.poll() is None for p in procs)
    assert runner_pid(runner) in {p.proc.pid for p in procs}
