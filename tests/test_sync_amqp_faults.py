"""Issue 14, the AMQP push under faults (Y-38): sync (a `nameko run` process of its own, reaching
RabbitMQ or PostgreSQL through a TCP proxy of the test's, tests/broker_proxy.py) SIGKILLed after
it committed a batch and before its ack reached the broker: the message is redelivered and acked
quietly, nothing doubled; the database unreachable: the message is requeued and taken when it is
back; and the same events sent at the same moment over HTTP and over AMQP: one received, the
other duplicate, applied once."""

import json
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import yaml

from services.records.service import RecordsService
from services.sync.service import SyncService
from shared import brokerauth
from shared.testing import wait_for
from tests.broker_proxy import BrokerProxy
from tests.gateway_helpers import http_login
from tests.helpers import fetch as query
from tests.identity_helpers import rpc, unique_nip
from tests.sync_helpers import (
    accounted,
    batch_recorded,
    change,
    management,
    onboard,
    region_client,
    sync_log,
    wait_status,
)
from tests.test_crash_recovery import Proc
from tests.test_sync_apply import registration
from tests.test_sync_crash import ADMIN

ROOT = Path(__file__).resolve().parent.parent
NIP = "198503152010012003"


def waiting_on_the_region(url) -> int:
    """How many batches wait for the region's row (usecases/regions.lock) the test holds."""
    return query(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND query LIKE 'SELECT * FROM regions WHERE code%%FOR UPDATE'")[0][0]


@pytest.fixture
def sync_process(own_database, identity_config, tmp_path):
    """Start sync as a process of its own with config overrides; stopped at the end."""
    started = []

    def start(**overrides):
        config = {**identity_config, "DATABASE_URL": own_database, "DB_ROLE_PER_SERVICE": False,
                  "LOG_LEVEL": "INFO", **overrides}
        path = tmp_path / "sync-config.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        nameko = str(Path(sys.executable).with_name("nameko"))
        proc = Proc("sync", [nameko, "run", "--config", str(path),
                             "services.sync.service:SyncService"], env, tmp_path)
        proc.start()
        started.append(proc)
        return proc

    start.log = lambda: (tmp_path / "sync.log").read_text(errors="replace")
    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def proxies():
    made = []

    def make(host, port):
        made.append(BrokerProxy(host, port).start())
        return made[-1]

    yield make
    for proxy in made:
        proxy.stop()


def onboarded(identity_config, region="3507"):
    """The region onboarded through sync's RPC (as the gateway's route does), once sync is up."""
    def attempt():
        try:
            with rpc(identity_config, ADMIN, service="sync") as sync:
                return sync.onboard_region({"region": region, "reason": "uji gangguan AMQP"})
        except Exception as exc:  # not yet up: the RPC times out
            if "sudah" in str(exc) or "already" in str(exc).lower():
                raise
            return None
    key = wait_for(attempt, timeout=60, message="sync up, region onboarded")
    return region, key["key_id"], key["secret"]


def queue_depth(request, vhost):
    found = management(request).call("GET", f"/api/queues/{vhost}/"
                                            f"{brokerauth.REGION_BATCH_QUEUE}")
    return found.get("messages")


def test_sync_killed_between_the_commit_and_the_ack_the_redelivery_is_acked_quietly(
        request, own_database, identity_config, rabbit_config, sync_process, proxies,
        broker_region):
    amqp = urlsplit(identity_config["AMQP_URI"])
    proxy = proxies(amqp.hostname, amqp.port or 5672)
    sync = sync_process(AMQP_URI=proxy.uri(identity_config["AMQP_URI"]))
    region, key_id, secret = onboarded(identity_config)
    url = broker_region(region)
    body = json.dumps({"events": [change(1, NIP)]}).encode()
    headers = region_client.batch_headers(region, key_id, secret, body)
    batch_id = headers["X-Simasn-Batch-Id"]
    # hold sync inside the batch's transaction: the region's row locked by the test
    holder = psycopg2.connect(own_database)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT 1 FROM sync.regions WHERE code = %s FOR UPDATE", (region,))
        region_client.publish_batches(url, region, key_id, secret, [[]], headers=[headers],
                                      bodies=[body])
        wait_for(lambda: waiting_on_the_region(own_database) == 1, timeout=30,
                 message="sync holding the message")
        proxy.pause()  # from now on nothing sync sends reaches the broker: not its ack either
    finally:
        holder.rollback()
        holder.close()
    wait_for(lambda: batch_recorded(own_database, region, batch_id), timeout=30,
             message="the batch committed")
    sync.kill()  # SIGKILL, its ack unsent; the broker sees the connection end
    proxy.cut()
    proxy.resume()
    proxy.restore()
    assert sync.kills == 1
    sync.start()
    wait_for(lambda: "sync_amqp_redelivered" in sync_process.log(), timeout=60,
             message="the redelivery acked quietly")
    wait_for(lambda: queue_depth(request, rabbit_config["vhost"]) == 0, timeout=30,
             message="the queue empty")
    assert not sync_log(own_database, region, "SyncAmqpMessageRejected")
    assert [b["batch_id"] for b in sync_log(own_database, region, "SyncBatchReceived")] == [
        batch_id]
    assert accounted(own_database, region)["received"] == 1


def test_the_database_unreachable_the_message_is_requeued_and_taken_when_it_is_back(
        own_database, identity_config, sync_process, proxies, broker_region):
    database = urlsplit(own_database)
    proxy = proxies(database.hostname, database.port or 5432)
    through = urlunsplit(database._replace(netloc=database.netloc.replace(
        f"{database.hostname}:{database.port or 5432}", f"127.0.0.1:{proxy.port}")))
    sync_process(DATABASE_URL=through)
    region, key_id, secret = onboarded(identity_config)
    url = broker_region(region)
    proxy.cut()  # PostgreSQL gone for sync (connections closed, new ones refused)
    (batch_id,) = region_client.publish_batches(url, region, key_id, secret,
                                                [[change(1, NIP), change(2, NIP)]])
    failures = lambda: sync_process.log().count(  # noqa: E731
        "error handling worker <WorkerContext [sync.receive_published_batch]")
    wait_for(lambda: failures() >= 2, timeout=60, message="the message tried, requeued, again")
    assert not batch_recorded(own_database, region, batch_id)
    proxy.restore()
    wait_for(lambda: batch_recorded(own_database, region, batch_id), timeout=60,
             message="the batch taken once the database is back")
    assert not sync_log(own_database, region, "SyncAmqpMessageRejected")
    assert accounted(own_database, region)["received"] == 2


def test_the_same_events_over_http_and_amqp_at_once_one_received_one_duplicate(
        start_gateway, own_database, broker_region):
    client, people, config = start_gateway(SyncService, RecordsService,
                                           DATABASE_URL=own_database)
    admin = http_login(client, people, people.staff(["administrator"]))
    region = onboard(client, admin, "3507")
    url = broker_region("3507")
    nip = unique_nip()
    feed = [registration(1, nip), *(change(s, nip) for s in range(2, 7))]
    for pair in ([feed[0], feed[1]], feed[2:4], feed[4:]):
        # the region's row locked by the test: both batches arrive and wait on it together
        holder = psycopg2.connect(own_database)
        try:
            with holder.cursor() as cur:
                cur.execute("SELECT 1 FROM sync.regions WHERE code = '3507' FOR UPDATE")
            answers = []
            sender = threading.Thread(target=lambda p=pair: answers.append(region.send(p)))
            sender.start()
            region_client.publish_batches(url, "3507", region.key_id, region.secret, [pair])
            wait_for(lambda: waiting_on_the_region(own_database) == 2, timeout=30,
                     message="both batches waiting together")
        finally:
            holder.rollback()
            holder.close()
        sender.join(timeout=30)
        assert answers[0][0] == 200
        # applied before the next pair: no applier at work while the test holds the region
        wait_status(client, admin, "3507",
                    lambda s, last=pair[-1]["sequence"]: s["applied_through"] == last, "applied")
    assert len(sync_log(own_database, "3507", "SyncBatchReceived")) == 6
    tally = accounted(own_database, "3507")
    assert (tally["received"], tally["duplicate"], tally["applied"]) == (6, 6, list(range(1, 7)))
    for sequence in range(1, 7):  # each one received over one transport, the other's duplicate
        assert [e["sequence"] for e in sync_log(own_database, "3507", "SyncEventDuplicated")
                ].count(sequence) == 1
    (changes, distinct), = query(own_database, "SELECT count(*), count(DISTINCT event_id) FROM "
                                 "records.region_changes WHERE region = '3507'")
    assert changes == distinct == 6
    with rpc(config, {"actor_id": "service:test", "actor_role": "system",
                      "actor_roles": ["system"], "actor_scope": []}, service="records") as records:
        assert records.get_employee(nip)["name"] == "Pegawai 6"
