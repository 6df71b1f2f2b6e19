"""What only shows when every service runs in its own process: errors crossing processes by
their contract, slow clients against the real HTTP server, and callers that forge who they are
on the broker (issue 12, defects 1, 2 and 3)."""

from __future__ import annotations

import os
import signal
import socket
import time

import eventlet
import pytest
from amqp.exceptions import AccessRefused, NotAllowed
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError
from nameko.standalone.rpc import ClusterRpcProxy

pytestmark = pytest.mark.timeout(240)


# -- 1. errors cross processes by code and status ----------------------------------------------


def test_backend_errors_reach_the_client_with_their_own_code_and_status(stack, client):
    """LoginFailed is defined in services/identity, which the gateway process never imports:
    before, Nameko gave the gateway a RemoteError and the client a 500."""
    nip = next(n for n, opd in stack.seeded.pegawai.items() if opd == "dinkes")
    wrong = client.call("POST", "/api/auth/login", body={"login": nip, "password": "salah-123"})
    unknown = client.call("POST", "/api/auth/login",
                          body={"login": "199001012020121999", "password": "salah-123"})
    for answer in (wrong, unknown):
        assert answer.status == 401, answer.body
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.body["code"] == "login_failed"
    pegawai = stack.login(nip)
    # a requests-service error (unknown layanan) and a records-service one (someone else's record)
    layanan = client.call("GET", "/api/layanan/TIDAK_ADA", token=pegawai)
    assert layanan.status == 404 and layanan.body["code"] != "internal_error", layanan.body
    other = next(n for n in stack.seeded.pegawai if n != nip)
    record = client.call("GET", f"/api/employees/{other}", token=pegawai)
    assert record.status in (403, 404) and record.body["code"] != "internal_error", record.body
    assert "Traceback" not in stack.log("gateway")


# -- 2. slow clients do not freeze the gateway ---------------------------------------------------


def _slow_client(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 5000\r\n\r\n{\"login\": ")
    return sock


def test_fifty_slow_clients_do_not_hold_health_or_login(stack, client):
    """Twelve connections sending their body slowly froze every route: the body was read inside
    one of the ten worker slots, with no socket timeout."""
    host, port = stack.url.removeprefix("http://").split(":")
    slow = [_slow_client((host, int(port))) for _ in range(50)]
    try:
        for sock in slow:  # still sending, a byte at a time
            sock.sendall(b" ")
        started = time.monotonic()
        health = client.call("GET", "/health")
        login = client.call("POST", "/api/auth/login",
                            body={"login": "199001012020121999", "password": "x" * 12})
        elapsed = time.monotonic() - started
        assert health.status == 200
        assert login.status == 401 and login.body["code"] == "login_failed"
        print(f"/health and a login answered in {elapsed:.3f}s beside 50 slow clients")
        # a body that never completes is refused (408) and its connection closed
        sock = slow[0]
        sock.settimeout(60)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    finally:
        for sock in slow:
            sock.close()


# -- 13. a service that stops answering: 503 within the RPC deadline ---------------------------


def test_a_service_that_stops_answering_gives_503_within_the_rpc_deadline(stack, client):
    """The public verification route waited 60 s for an RPC that nobody would answer."""
    pid = int((stack.run_dir / "pids" / "signing.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = client.call("GET", "/api/public/verification/"
                                    "00000000-0000-4000-8000-000000000000")
        waited = time.monotonic() - started
        assert answer.status == 503 and answer.body["code"] == "service_timeout", answer.body
        assert answer.headers["Content-Type"] == "application/problem+json"
        print(f"503 after {waited:.1f}s (RPC_TIMEOUT {stack.env['SIMASN_RPC_TIMEOUT']}s)")
        assert client.call("GET", "/health/ready").status == 503
    finally:
        os.kill(pid, signal.SIGCONT)


# -- 3. the broker: forged callers, least privilege per process -------------------------------


def _rpc(uri: str, service: str, method: str, context: dict, *args):
    with ClusterRpcProxy({"AMQP_URI": uri}, context_data=context, timeout=15) as cluster:
        return getattr(getattr(cluster, service), method)(*args)


FORGED_ADMIN = {"actor_id": "admin.bkd", "actor_role": "administrator",
                "actor_roles": ["administrator"], "actor_scope": []}


def test_a_forged_caller_context_is_refused(stack):
    """With the gateway's own broker login (the internet-facing pod) and no caller token, an
    administrator context claimed in the headers answered identity.list_accounts."""
    for claimed in (FORGED_ADMIN, {**FORGED_ADMIN, "caller_token": "eyJhbGciOiJub25lIn0.e30."}):
        with pytest.raises(Exception) as refused:
            _rpc(stack.broker_uri("gateway"), "identity", "list_accounts", claimed, {})
        assert getattr(refused.value, "code", None) == "caller_unverified", refused.value
    # a system context too: only a backend holding the services' key may claim one
    system = {"actor_id": "service:signing", "actor_role": "system", "actor_roles": ["system"]}
    with pytest.raises(Exception) as refused:
        _rpc(stack.broker_uri("gateway"), "requests", "get_request", system,
             "00000000-0000-0000-0000-000000000000")
    assert getattr(refused.value, "code", None) == "caller_unverified"


def test_a_process_cannot_call_what_it_has_no_business_calling(stack):
    """signing reads records, requests and verification; never identity."""
    with pytest.raises((AccessRefused, NotAllowed, OperationalError)) as refused:
        with Connection(stack.broker_uri("signing"), connect_timeout=5) as conn:
            channel = conn.channel()
            Producer(channel).publish({"args": [], "kwargs": {}},
                                      exchange=Exchange("nameko-rpc", type="topic",
                                                        durable=True),
                                      routing_key="identity.list_accounts",
                                      reply_to="00000000-0000-0000-0000-000000000000",
                                      retry=False)
            channel.basic_qos(0, 1, False)  # a synchronous call: the refusal arrives here
    assert "ACCESS_REFUSED" in str(refused.value) or "access" in str(refused.value).lower()


def test_a_process_cannot_consume_another_process_queue(stack):
    with pytest.raises((AccessRefused, NotAllowed, OperationalError)) as refused:
        with Connection(stack.broker_uri("signing"), connect_timeout=5) as conn:
            channel = conn.channel()
            queue = Queue("rpc-records", exchange=Exchange("nameko-rpc", type="topic",
                                                           durable=True),
                          routing_key="records.*", durable=True, channel=channel,
                          no_declare=True)
            with Consumer(channel, [queue], callbacks=[lambda body, message: None]):
                conn.drain_events(timeout=1)
    assert "ACCESS_REFUSED" in str(refused.value) or "access" in str(refused.value).lower()


def test_a_process_cannot_snoop_rpc_calls_with_a_wildcard_binding(stack):
    """The gateway may bind its reply queues by their UUID only: binding `#` or `records.*` on
    nameko-rpc would copy every call to it."""
    with pytest.raises((AccessRefused, NotAllowed, OperationalError)):
        with Connection(stack.broker_uri("gateway"), connect_timeout=5) as conn:
            channel = conn.channel()
            name = "rpc.reply-gateway-00000000-0000-0000-0000-000000000001"
            Queue(name, exchange=Exchange("nameko-rpc", type="topic", durable=True),
                  routing_key="records.*", auto_delete=True, channel=channel).declare()


def test_the_backends_answer_through_their_own_users(stack, client):
    """The whole stack runs on least-privilege users: every service healthy behind the
    gateway, and a request that crosses three services works."""
    ready = client.call("GET", "/health/ready")
    assert ready.status == 200, ready.body
    eventlet.sleep(0)


def test_readiness_tells_anyone_only_whether_each_backend_is_up(stack, client):
    """/health/ready needs no login: it answers each backend's status and database, not its log
    position or its relay's lag, leader and held events (operators read those with simasn)."""
    answer = client.call("GET", "/health/ready")
    assert answer.status == 200, answer.body
    assert set(answer.body["services"]) == {"identity", "records", "requests", "verification",
                                            "signing", "reporting", "sync"}
    for name, health in answer.body["services"].items():
        assert set(health) == {"service", "status", "database"}, (name, health)
    operator = stack.cli("health", "--service", "records")
    assert '"relay"' in operator.stdout and '"log_position"' in operator.stdout
