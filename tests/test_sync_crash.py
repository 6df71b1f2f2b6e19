"""Issue 14 crash test (Y-16, Y-36): a region pushes a generated feed over both transports at once
(registrations, then data pokok changes and history entries of a few hundred employees, in batches,
with duplicates and reordering): even batches over HTTP through the gateway, odd ones published
over AMQP as the region's own broker user (`simasn broker region`), two streams side by side, while
the sync and records services, each a `nameko run` process of its own, are SIGKILLed at random
moments and restarted (at least 20 kills). The region retries a batch whose outcome it does not
know as a region would: its events in a new batch (an HTTP answer that did not come, a publish the
broker did not confirm), answered `duplicate` when they had arrived. A message sync took but did
not ack before it was killed is redelivered: taken then, or acked quietly when its batch was
recorded. At the end every event is accounted for in the sync log, every batch the region sent over
either transport was recorded, none dead-lettered, applied_through is the last sequence, and
records equals the state the feed leads to, employee by employee.

The acceptance run is 20,000 events (`SIMASN_SYNC_CRASH_EVENTS=20000`); `make test` runs a
smaller feed (CRASH_EVENTS below) to keep the suite's time on a 2-core runner."""

import os
import random
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from nameko.standalone.rpc import ServiceRpcProxy

from shared.testing import wait_for
from tests.gateway_helpers import free_port
from tests.helpers import fetch as query
from tests.helpers import signed
from tests.identity_helpers import employee_for, rpc, unique_nip
from tests.sync_helpers import batch_recorded, region_client, sync_log
from tests.test_crash_recovery import Proc

ROOT = Path(__file__).resolve().parent.parent
#: events in the feed: 20,000 is the acceptance run of issue 14
CRASH_EVENTS = int(os.environ.get("SIMASN_SYNC_CRASH_EVENTS", "2000"))
KILLS = 20
REGION = "3507"
ADMIN = {"actor_id": "admin:crash", "actor_role": "administrator",
         "actor_roles": ["administrator"], "actor_scope": []}
SYSTEM = {"actor_id": "service:test", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


def generate_feed(rng: random.Random, count: int) -> tuple[list[dict], dict[str, dict]]:
    """`count` events of one region (sequences 1..count) and the state they lead to: per NIP
    its name and the kinerja years recorded."""
    people = max(20, min(400, count // 50))
    nips = [unique_nip() for _ in range(people)]
    expected = {nip: {"name": "Siti Rahayu", "kinerja": set()} for nip in nips}
    events = []
    for nip in nips:
        data = {k: v for k, v in employee_for(nip).items() if k not in ("reason", "opd_id")}
        events.append({"kind": "employee_registered", "nip": nip,
                       "data": {**data, "opd_id": f"{REGION}.dinkes",
                                "opd_name": "Dinas Kesehatan"}})
    while len(events) < count:
        nip = rng.choice(nips)
        years = expected[nip]["kinerja"]
        if rng.random() < 0.25 and len(years) < 20:
            year = 2025 - len(years)
            years.add(year)
            events.append({"kind": "history_recorded", "nip": nip, "data": {
                "history": "kinerja", "entry": {"tahun": year, "predikat": "Baik"}}})
        else:
            name = f"Pegawai {len(events) + 1}"
            expected[nip]["name"] = name
            events.append({"kind": "data_pokok_changed", "nip": nip,
                           "data": {"changes": {"name": name}}})
    for sequence, event in enumerate(events, 1):
        event.update(sequence=sequence, event_id=str(uuid.uuid4()))
    return events, expected


def batches_of(rng: random.Random, events: list[dict]) -> list[list[dict]]:
    """The feed cut into batches of 20..400, some swapped with the next (reordering) and some
    earlier ones sent again (duplicates)."""
    batches, start = [], 0
    while start < len(events):
        size = rng.randint(20, 400)
        batches.append(events[start:start + size])
        start += size
    for i in range(len(batches) - 1):
        if rng.random() < 0.2:
            batches[i], batches[i + 1] = batches[i + 1], batches[i]
    out = []
    for batch in batches:
        out.append(batch)
        if out and rng.random() < 0.15:
            earlier = rng.choice(out)
            out.append(rng.sample(earlier, min(len(earlier), rng.randint(1, 50))))
    return out


def http_pusher(url, region, key_id, secret):
    """Send one batch until it is answered 200; a failed attempt is retried in a new batch."""
    def push(batch):
        while True:
            try:
                status, answer = region_client.send_batch(url, region, key_id, secret, batch)
            except OSError:  # the gateway dropped the connection or timed out
                status, answer = None, None
            if status == 200:
                return "http", answer["batch_id"]
            assert status is None or status >= 500, (status, answer)  # only transient ones
            time.sleep(0.2)
    return push


def amqp_pusher(amqp_url, region, key_id, secret, recorded):
    """Publish one batch with the reference client (publisher confirms, mandatory) until the
    broker confirms it; a publish not confirmed is published again in a new batch. Paced like a
    region that reads its status before the next batch: it returns once sync recorded the batch
    (which waits in the durable queue while sync is down)."""
    import pika.exceptions

    def push(batch):
        while True:
            try:
                (batch_id,) = region_client.publish_batches(amqp_url, region, key_id, secret,
                                                            [batch])
                break
            except (pika.exceptions.AMQPError, OSError):
                time.sleep(0.2)
        wait_for(lambda: recorded(batch_id), timeout=600, message=f"batch {batch_id} recorded")
        return "amqp", batch_id
    return push


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_sigkilled_sync_and_records_lose_and_double_nothing(own_database, identity_config,
                                                            broker_region, tmp_path):
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    print(f"sync crash test seed {seed}, {CRASH_EVENTS} events")
    port = free_port()
    config = {**identity_config, "DATABASE_URL": own_database, "DB_ROLE_PER_SERVICE": False,
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "RPC_TIMEOUT": 5,
              "SYNC_RETRY_SECONDS": 0.2, "SYNC_RETRY_MAX_SECONDS": 1,
              "SYNC_APPLY_LEASE_SECONDS": 5, "LOG_LEVEL": "INFO"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    nameko = str(Path(sys.executable).with_name("nameko"))
    procs = {name: Proc(name, [nameko, "run", "--config", str(path),
                               f"services.{name}.service:{name.capitalize()}Service"],
                        env, tmp_path) for name in ("records", "sync", "gateway")}
    events, expected = generate_feed(rng, CRASH_EVENTS)
    batches = batches_of(rng, events)
    answers = []
    for proc in procs.values():
        proc.start()
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=60,
                 message="the gateway")
        with rpc(config, ADMIN, service="sync") as sync:
            key = wait_for(lambda: _onboard(sync), timeout=60, message="region onboarded")
        signer = (REGION, key["key_id"], key["secret"])
        pushers = {"http": http_pusher(f"http://127.0.0.1:{port}", *signer),
                   "amqp": amqp_pusher(broker_region(REGION), *signer,
                                       lambda b: batch_recorded(own_database, REGION, b))}
        done = {transport: threading.Event() for transport in pushers}
        failed = []

        def pusher(transport, share):
            try:
                answers.extend(pushers[transport](batch) for batch in share)
            except BaseException as exc:  # said at once below, not after waiting for the feed
                failed.append((transport, exc))
                raise
            finally:
                done[transport].set()

        # both ways in at once: even batches over HTTP, odd ones over AMQP, each in its order
        threads = [threading.Thread(target=pusher, args=(transport, batches[i::2]))
                   for i, transport in enumerate(pushers)]
        for thread in threads:
            thread.start()
        victims = [procs["sync"], procs["records"]]
        kills = 0
        while kills < KILLS or not all(d.is_set() for d in done.values()):
            time.sleep(rng.uniform(0.2, 2.5))  # a random moment of its work
            chosen = rng.choice([[victims[0]], [victims[1]], victims])
            for victim in chosen:
                victim.kill()
                victim.start()
            kills += len(chosen)
            for victim in chosen:  # up again (else it is killed while it starts, for ever)
                wait_for(lambda v=victim: _healthy(config, v.name), timeout=120,
                         message=f"{victim.name} restarted")
        for thread in threads:
            thread.join(timeout=600)
        assert all(d.is_set() for d in done.values()) and not failed, failed
        applied_through = lambda: query(  # noqa: E731
            own_database, "SELECT applied_through FROM sync.regions WHERE code = %s",
            (REGION,))[0][0]
        wait_for(lambda: applied_through() == len(events), timeout=1800,
                 message=f"applied through {len(events)}")
    finally:
        for proc in procs.values():
            proc.kill(signal.SIGTERM)
        print("kills:", {name: proc.kills for name, proc in procs.items()})

    assert procs["sync"].kills + procs["records"].kills >= KILLS
    # every event accounted for in the sync log: each sequence received once and applied once,
    # every event of every batch it took received or duplicate, none refused
    log = sync_log(own_database, REGION)
    by_type = {}
    for entry in log:
        by_type.setdefault(entry["type"], []).append(entry)
    received = sorted(e["sequence"] for e in by_type["SyncEventReceived"])
    assert received == list(range(1, len(events) + 1))
    assert {e["sequence"]: e["event_id"] for e in by_type["SyncEventReceived"]} == {
        e["sequence"]: e["event_id"] for e in events}
    assert sorted(e["sequence"] for e in by_type["SyncEventApplied"]) == received
    assert not by_type.get("SyncEventRefused") and not by_type.get("SyncEventQuarantined")
    assert not by_type.get("SyncAmqpMessageRejected")
    taken = sum(b["event_count"] for b in by_type["SyncBatchReceived"])
    assert taken == len(by_type["SyncEventReceived"]) + len(by_type.get("SyncEventDuplicated", []))
    # every batch the region sent, over either transport, recorded (a redelivered one once)
    recorded = [b["batch_id"] for b in by_type["SyncBatchReceived"]]
    assert len(recorded) == len(set(recorded))
    assert {batch_id for _, batch_id in answers} <= set(recorded)
    assert {transport for transport, _ in answers} == {"http", "amqp"}
    print("batches:", {t: sum(1 for a in answers if a[0] == t) for t in ("http", "amqp")},
          "redelivered after their commit and acked quietly:",
          (tmp_path / "sync.log").read_text(errors="replace").count("sync_amqp_redelivered"))
    statuses = query(own_database, "SELECT status, count(*) FROM sync.inbound WHERE region = %s "
                     "GROUP BY status", (REGION,))
    assert dict(statuses) == {"applied": len(events)}
    # records: each event applied once, and every employee as the feed leaves them
    (changes, distinct), = query(own_database, "SELECT count(*), count(DISTINCT event_id) FROM "
                                 "records.region_changes WHERE region = %s", (REGION,))
    assert changes == distinct == len(events)
    procs["records"].start()
    try:
        with rpc(config, SYSTEM, service="records") as records:
            for nip, want in expected.items():
                record = wait_for(lambda n=nip: _quiet(records.get_employee, n), timeout=60,
                                  message="records answers")
                years = {e["tahun"] for e in record["histories"]["kinerja"]}
                assert (record["name"], years) == (want["name"], want["kinerja"]), nip
    finally:
        procs["records"].kill(signal.SIGTERM)


def _answers(url):
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _onboard(sync):
    try:
        return sync.onboard_region({"region": REGION, "reason": "uji tabrakan"})
    except Exception as exc:  # not yet up: the RPC times out
        if "already" in str(exc).lower() or "sudah" in str(exc):
            raise
        return None


def _healthy(config, service):
    try:
        with ServiceRpcProxy(service, config, context_data=signed(SYSTEM, config),
                             timeout=5) as proxy:
            return proxy.health()["status"] == "ok"
    except Exception:
        return False


def _quiet(call, *args):
    try:
        return call(*args)
    except Exception:
        return None


def test_the_applier_lease_a_dead_replica_leaves_is_configurable():
    """A SIGKILLed sync keeps its regions from the restarted one until its applier lease runs
    out (a fixed 60 s before: each kill of the crash test would stall the feed a minute);
    SYNC_APPLY_LEASE_SECONDS sets it (60 by default, at least 2: renewed at every event)."""
    from services.sync.dependencies import build_settings
    from shared.errors import ConfigError
    from tests.conftest import SYNC_SEAL_KEY

    assert build_settings({"SYNC_KEY_SEAL_KEY": SYNC_SEAL_KEY}).lease_seconds == 60
    assert build_settings({"SYNC_KEY_SEAL_KEY": SYNC_SEAL_KEY,
                           "SYNC_APPLY_LEASE_SECONDS": 5, "LOG_LEVEL": "INFO"}).lease_seconds == 5
    with pytest.raises(ConfigError) as refused:
        build_settings({"SYNC_KEY_SEAL_KEY": SYNC_SEAL_KEY, "SYNC_APPLY_LEASE_SECONDS": 1})
    assert refused.value.field == "SYNC_APPLY_LEASE_SECONDS"
