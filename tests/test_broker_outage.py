"""Services ride out a broker outage (issue 12, defect 13).

RabbitMQ stopped for 9 seconds once killed the signing service's container for good. Here real
service processes (`nameko run`, as `make up` starts them) and an outbox relay reach RabbitMQ
through a TCP proxy of the test's own (tests/broker_proxy.py), which plays the broker going away:
every connection closed, new ones refused, for OUTAGE seconds. The machine's RabbitMQ, shared
with other test runs, is never touched."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml
from nameko.standalone.rpc import ClusterRpcProxy, ServiceRpcProxy

from services.records.service import RecordsService
from services.registry import service_classes
from shared.db import Database
from shared.service import ServiceBase
from shared.testing import wait_for
from shared.topology import declare
from tests.broker_proxy import BrokerProxy
from tests.helpers import fetch, signed
from tests.identity_helpers import employee_for, unique_nip
from tests.records_helpers import ADMIN, principal

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = 10.0


class Process:
    """One service process started the way `make up` starts it, logging to a file."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                lines.append(entry)
        return lines

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def outage_stack(database_url, rabbit_config, tmp_path, keystore_dir, container_factory,
                 service_config):
    """signing and verification (`nameko run`) and a relay of records' log, all reaching the
    broker through a proxy the test can cut, and records (in this process, on the broker
    itself) to make changes with; yields (proxy, processes, direct AMQP URI, records config)."""
    amqp = rabbit_config["AMQP_URI"]
    container_factory(RecordsService, service_config).start()
    # as `simasn migrate` does: queues exist before the first event is relayed
    declare(amqp, list(service_classes().values()))
    proxy = BrokerProxy().start()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        **{k: v for k, v in service_config.items() if k.startswith("CALLER_")},
        "AMQP_URI": proxy.uri(amqp), "DATABASE_URL": database_url,
        "DOCUMENT_ROOT": str(tmp_path / "documents"), "SIGNING_KEYSTORE_DIR": str(keystore_dir),
        "SIGNING_PROCESSES": 0, "LOG_LEVEL": "INFO", "CONSUMER_RETRY_BASE_DELAY": 0.01}))
    # this relay starts at records' current head: earlier tests' events are not ours
    relay_name = f"outage-{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO records.relay_checkpoint (relay, position) "
                    "SELECT %s, last_position FROM records.event_log_head WHERE id = 1",
                    (relay_name,))
    conn.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    nameko = str(Path(sys.executable).with_name("nameko"))
    processes = {
        name: Process(name, [nameko, "run", "--config", str(config),
                             f"services.{name}.service:{cls}"], tmp_path, env)
        for name, cls in (("signing", "SigningService"), ("verification", "VerificationService"))}
    processes["relay"] = Process("relay", [sys.executable, "-m", "tests.crash.relay_main",
                                           database_url, "records", proxy.uri(amqp), relay_name],
                                 tmp_path, env)
    try:
        yield proxy, processes, amqp, service_config
    finally:
        if proxy.is_cut:  # a failed test: let them reach the broker to stop
            proxy.restore()
        for process in processes.values():
            process.stop()
        proxy.stop()


def _answers(rpc, service: str) -> bool:
    try:
        return getattr(rpc, service).health.call_async().result()["status"] == "ok"
    except Exception:  # not up yet: unknown service, or no answer within the proxy's timeout
        return False


def _propose_change(records: dict) -> str:
    """A pegawai proposes a change to their record through the records service (running in
    this process, on the real broker); returns the verification queue item it should make."""
    nip = unique_nip()
    with ServiceRpcProxy("records", records, context_data=signed(ADMIN, records)) as admin:
        admin.register_employee(employee_for(nip), "data awal")
    pegawai = signed(principal(nip, ["pegawai"]), records)
    with ServiceRpcProxy("records", records, context_data=pegawai) as own:
        proposed = own.propose_change(nip, {"changes": {"address": "Jl. Pahlawan 1"}})
    return f"change:{nip}:{proposed['change_id']}"


def _queued(database_url: str, item: str) -> bool:
    return bool(fetch(database_url, "SELECT 1 FROM verification.queue_items WHERE item_id = %s",
                      (item,)))


@pytest.mark.slow
def test_services_and_the_relay_ride_out_a_broker_outage(database_url, outage_stack):
    proxy, processes, amqp, records = outage_stack
    with ClusterRpcProxy({"AMQP_URI": amqp}, timeout=5) as rpc, \
            ClusterRpcProxy({"AMQP_URI": amqp}, timeout=120) as patient:
        for service in ("signing", "verification"):
            wait_for(lambda s=service: _answers(rpc, s), timeout=90, message=f"{service} up")
        before = _propose_change(records)
        wait_for(lambda: _queued(database_url, before), timeout=30, message="relay + consumer")

        # a call in flight when the broker goes: signing's health blocked on its log's head
        lock = psycopg2.connect(database_url)
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE signing.event_log_head IN ACCESS EXCLUSIVE MODE")
        in_flight = patient.signing.health.call_async()
        wait_for(lambda: fetch(database_url, "SELECT 1 FROM pg_locks l JOIN pg_class c ON "
                               "c.oid = l.relation WHERE c.relname = 'event_log_head' AND "
                               "NOT l.granted"), timeout=30, message="health blocked")

        proxy.cut()
        during = _propose_change(records)  # committed while the relay cannot publish
        lock.rollback()  # the blocked call finishes; its answer has no broker to go to
        lock.close()
        time.sleep(OUTAGE)  # the outage itself, not a wait for something to happen
        proxy.restore()

        # the call in flight is answered (its request is delivered again), new calls too
        assert in_flight.result()["status"] == "ok"
        for service in ("signing", "verification"):
            wait_for(lambda s=service: _answers(rpc, s), timeout=60, message=f"{service} back")
        wait_for(lambda: _queued(database_url, during), timeout=60,
                 message="the event committed during the outage, relayed and handled")
        after = _propose_change(records)
        wait_for(lambda: _queued(database_url, after), timeout=60, message="a later event")

    for name, process in processes.items():
        assert process.alive, f"{name} died: {process.log_path.read_text()[-3000:]}"
        killed = [e for e in process.log_lines() if str(e.get("event", "")).startswith("killing")]
        assert not killed, f"{name}'s container was killed: {killed}"


@pytest.fixture
def proxied_gateway(container_factory, identity_config):
    """Identity and a caching gateway replica (in this process) whose broker connections all go
    through a proxy the test can cut; yields (proxy, client, cache, people, containers)."""
    from services.gateway.service import GatewayService
    from services.identity.service import IdentityService
    from tests.gateway_helpers import Client, free_port
    from tests.identity_helpers import People
    from tests.test_gateway_sessions import cache_of

    proxy = BrokerProxy().start()
    port = free_port()
    config = {**identity_config, "AMQP_URI": proxy.uri(identity_config["AMQP_URI"]),
              "SESSION_LEASE_SECONDS": 3, "GATEWAY_SESSION_CACHE_SECONDS": 300,
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}
    containers = [container_factory(IdentityService, config),
                  container_factory(GatewayService, config)]
    for container in containers:
        container.start()
    cache = cache_of(containers[1])
    people = People({**identity_config})
    try:
        yield proxy, Client(f"http://127.0.0.1:{port}"), cache, people, containers
    finally:
        people.close()
        if proxy.is_cut:  # a failed test: let them reach the broker to stop
            proxy.restore()
        for container in reversed(containers):
            container.stop()
        proxy.stop()


@pytest.mark.slow
def test_the_gateway_fence_queue_and_identity_come_back_after_a_broker_outage(proxied_gateway):
    from tests.gateway_helpers import http_login

    proxy, client, cache, people, containers = proxied_gateway
    wait_for(lambda: cache.enabled, timeout=30, message="a session-cache lease")
    nip = people.pegawai()
    token = http_login(client, people, nip)

    proxy.cut()
    wait_for(lambda: not cache.listening, timeout=30, message="the fence queue to notice")
    assert not cache.enabled, "no cache while revocations cannot reach this replica"
    # the gateway itself answers: its health, and a call it cannot make is a 503, not a 500
    assert client.call("GET", "/health").status == 200
    down = client.call("GET", "/api/me", token=token)
    assert (down.status, down.code) == (503, "service_unavailable"), down.body
    time.sleep(OUTAGE)  # the outage itself
    proxy.restore()

    wait_for(lambda: cache.enabled, timeout=90, message="the fence queue and lease back")
    assert all(not c._died.ready() for c in containers), "a container died"
    assert client.call("GET", "/api/me", token=token).status == 200
    handled = cache.fences_handled
    assert client.call("POST", "/api/auth/logout", token=token).status == 204
    assert cache.fences_handled > handled, "the logout's fence reached the reconnected queue"
    assert client.call("GET", "/api/me", token=token).status == 401


@pytest.mark.slow
def test_an_event_handled_while_the_broker_goes_is_not_lost_and_the_consumer_lives(
        database_url, rabbit_config, container_factory, service_config):
    """The handler commits while the broker is away: its ack has nowhere to go. The container
    lives, and the event, delivered again after the reconnect, is not applied twice."""
    import eventlet

    from shared.consumer import idempotent_handler
    from shared.testing import create_scratch_log
    from tests.helpers import RelayThread, append_things, create_effects_table

    source, consumer = create_scratch_log(database_url), create_scratch_log(database_url)
    create_effects_table(database_url, consumer)
    entered, release = eventlet.Event(), eventlet.Event()

    class Slow(ServiceBase):
        name = consumer
        db = Database()

        @idempotent_handler(source, "ThingHappened")
        def on_thing(self, uow, event):
            uow.execute("INSERT INTO effects (position, event_id) VALUES (:p, :e)",
                        {"p": event.position, "e": event.event_id})
            if not entered.ready():
                entered.send()
                release.wait()

    proxy = BrokerProxy().start()
    config = {**service_config, "DB_ROLE_PER_SERVICE": False,
              "AMQP_URI": proxy.uri(rabbit_config["AMQP_URI"])}
    container = container_factory(Slow, config)
    container.start()
    try:
        with RelayThread(database_url, source, source, rabbit_config["AMQP_URI"]):
            append_things(database_url, source, 1)
            entered.wait()
            proxy.cut()
            release.send()  # commits, then acks on a dead connection
            wait_for(lambda: fetch(database_url, f"SELECT count(*) FROM {consumer}.effects")
                     [0][0] == 1, message="the handler's commit")
            time.sleep(2)  # a short outage
            proxy.restore()
            append_things(database_url, source, 1)
            wait_for(lambda: fetch(database_url, f"SELECT count(*) FROM {consumer}.effects")
                     [0][0] == 2, timeout=60, message="a later event after the reconnect")
        assert not container._died.ready(), "the consumer's container died"
        rows = fetch(database_url, f"SELECT position FROM {consumer}.effects ORDER BY 1")
        assert rows == [(1,), (2,)], "each event applied once"
    finally:
        if proxy.is_cut:
            proxy.restore()
        container.stop()
        proxy.stop()
