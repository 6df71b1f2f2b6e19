"""`simasn projections status|rebuild` on the real verification service (issue 13 part 2): a
read model emptied and replayed from zero through the requests feed is the one it was; the
lag of every consumer and source is shown."""

import json
import uuid

import psycopg2

from services.records.events import REGISTRY as RECORDS
from services.requests.events import REGISTRY as REQUESTS
from services.verification.service import VerificationService
from shared.db import Database
from shared.eventstore import NO_STREAM, EventStore, NewEvent
from shared.service import ServiceBase
from shared.testing import wait_for
from simasn_cli.main import main
from tests.helpers import fetch

QUEUE_COLUMNS = ("item_id, kind, stream_version, stage, opd_id, nip, layanan, sla_hari_kerja, "
                 "since, claimed_by, claimed_at, confidential")
INBOX_COLUMNS = "notification_id, recipient, request_id, event, title, body, created_at, read_at"


def source_service(name, registry):
    class Source(ServiceBase):
        db = Database(registry)

    Source.name = name
    return Source


def append_requests(url, count):
    """`count` requests through a few steps each, straight into the requests log; one is a
    disciplinary procedure (withheld on the bus and in the feed)."""
    store = EventStore("requests", REQUESTS)
    conn = psycopg2.connect(url)
    nips = []
    for n in range(count):
        nip = f"19900101201503{3000 + n:04d}"
        nips.append(nip)
        confidential = n == count - 1
        steps = [NewEvent("RequestSubmitted", {
            "eligibility": {}, "layanan": "HUKUMAN_DISIPLIN" if confidential else "KGB",
            "nip": nip, "opd_id": "dkp", "sla_hari_kerja": 5, "confidential": confidential})]
        if n % 3 == 1:
            steps.append(NewEvent("VerificationStarted", {"nip": nip, "verifier": "fas.dkp",
                                                          "confidential": confidential}))
        if n % 3 == 2:
            steps.append(NewEvent("RequestRejected", {"nip": nip, "reason": "tidak lengkap",
                                                      "confidential": confidential}))
        with conn:
            store.append(conn, f"request:{uuid.uuid4()}", "Request", NO_STREAM, steps,
                         {"actor_id": nip, "actor_role": "pegawai",
                          "correlation_id": f"c-{n}"})
    conn.close()
    return nips


def read_model(url):
    return (fetch(url, f"SELECT {QUEUE_COLUMNS} FROM verification.queue_items ORDER BY 1"),
            fetch(url, f"SELECT {INBOX_COLUMNS} FROM verification.inbox ORDER BY 1"))


def run_json(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_rebuild_from_zero_gives_the_same_read_model_and_status_shows_lag(
        own_database, service_config, container_factory, capsys):
    url = own_database
    config = {**service_config, "DATABASE_URL": url, "SUBSCRIPTION_SWEEP_SECONDS": 0.2}
    # 20 events: 12 submitted, 4 verifications started, 4 rejected; the last request is withheld
    # (no OPD in the queue, no notification), so 18 notifications
    append_requests(url, 12)
    for cls in (source_service("requests", REQUESTS), source_service("records", RECORDS),
                VerificationService):
        container_factory(cls, config).start()
    wait_for(lambda: len(read_model(url)[0]) == 12 and len(read_model(url)[1]) == 18,
             message="the queue and the inbox caught up from the requests feed")

    # what is no event's doing survives a rebuild: a claim held, a notification read
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE verification.queue_items SET claimed_by = 'fas.dkp', claimed_at = "
                    "now() WHERE item_id = (SELECT min(item_id) FROM verification.queue_items)")
        cur.execute("UPDATE verification.inbox SET read_at = now() WHERE notification_id = "
                    "'requests:1'")
    before = read_model(url)
    assert {row[4] for row in before[0]} == {"dkp", None}, "the withheld one has no OPD"
    with conn, conn.cursor() as cur:  # a read model gone wrong
        cur.execute("DELETE FROM verification.queue_items WHERE claimed_by IS NULL AND "
                    "stage = 'submitted'")
        cur.execute("UPDATE verification.inbox SET title = 'salah' WHERE read_at IS NULL")
    conn.close()
    assert read_model(url) != before

    assert main(["projections", "rebuild", "verification.queue", "--wait", "60",
                 "--no-progress"]) == 0
    assert read_model(url) == before

    rows = {(r["consumer"], r["source"]): r for r in run_json(capsys, "projections", "status",
                                                               "--json")}
    queue = rows[("verification.queue", "requests")]
    assert (queue["position"], queue["head"], queue["lag"]) == (20, 20, 0)
    assert queue["rebuildable"] is True
    assert rows[("verification.queue", "records")]["lag"] == 0
    signing = rows[("signing.documents", "requests")]
    assert signing["position"] is None and signing["lag"] == 20, "never ran: the whole log"
    assert signing["rebuildable"] is False

    assert main(["projections", "rebuild", "signing.documents", "--wait", "1"]) == 1
    assert main(["projections", "rebuild", "no.such.consumer", "--wait", "1"]) == 1
    assert "not caught up" not in capsys.readouterr().err
