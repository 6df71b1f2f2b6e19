"""RPC as our services speak it (shared/rpc.py): errors arrive by their contract (code, status)
whatever class raised them, every call has a deadline, and a context claiming an actor is
believed only with a caller token."""

import time
import uuid

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from shared.errors import Conflict, SimasnError
from shared.rpc import RpcProxy, rpc
from tests.helpers import signed


class SlotTaken(Conflict):
    """Defined here, as a service defines its own errors in services/<name>/exceptions.py."""

    code = "slot_taken"
    http_status = 409
    title = "Slot sudah terisi"
    transient = False


def _services(tag: str):
    class Backend:
        name = f"backend_{tag}"

        @rpc
        def refuse(self):
            raise SlotTaken("slot sk_pangkat sudah terisi", field="slot")

        @rpc
        def crash(self):
            raise RuntimeError("a bug")

        @rpc
        def slow(self, seconds):
            eventlet.sleep(seconds)
            return "late"

        @rpc
        def whoami(self):
            return None

    class Front:
        name = f"front_{tag}"
        backend = RpcProxy(f"backend_{tag}")
        patient = RpcProxy(f"backend_{tag}", signs={"slow"})

        @rpc
        def ask(self, method, *args, proxy="backend"):
            try:
                return {"result": getattr(getattr(self, proxy), method)(*args)}
            except SimasnError as exc:
                return {"type": f"{type(exc).__module__}.{type(exc).__name__}",
                        "code": exc.code, "status": exc.http_status, "field": exc.field,
                        "transient": exc.transient, "message": exc.message}

    return Backend, Front


@pytest.fixture
def pair(container_factory, service_config):
    tag = uuid.uuid4().hex[:8]
    backend, front = _services(tag)
    config = {**service_config, "RPC_TIMEOUT": 0.5, "RPC_SIGNING_TIMEOUT": 2}
    for cls in (backend, front):
        container_factory(cls, config).start()
    return front.name, config


def test_a_service_error_crosses_by_code_and_status_not_by_class(pair):
    """The caller never imported SlotTaken's module in the deployed system (the gateway never
    imports a backend's exceptions.py): it gets the nearest shared class (Conflict) with the
    same contract."""
    front, config = pair
    with ServiceRpcProxy(front, config) as proxy:
        answer = proxy.ask("refuse")
    assert answer == {"type": "shared.errors.Conflict", "code": "slot_taken", "status": 409,
                      "field": "slot", "transient": False,
                      "message": "slot sk_pangkat sudah terisi"}


def test_a_crash_is_not_dressed_as_a_contract_error(pair):
    front, config = pair
    with ServiceRpcProxy(front, config) as proxy, pytest.raises(Exception) as crashed:
        proxy.ask("crash")
    assert not isinstance(crashed.value, SimasnError)


def test_a_call_nobody_answers_in_time_is_a_503(pair):
    front, config = pair
    with ServiceRpcProxy(front, config) as proxy:
        answer = proxy.ask("slow", 3)
    assert answer["code"] == "service_timeout" and answer["status"] == 503


def test_a_call_that_answers_once_a_document_is_signed_waits_longer(pair):
    """A method named in `signs` (it answers once a document is signed: signing queues
    behind other documents, BSrE takes its time) waits RPC_SIGNING_TIMEOUT and, through a
    service that is not signing, RPC_TIMEOUT more; every other method keeps RPC_TIMEOUT."""
    front, config = pair
    with ServiceRpcProxy(front, config) as proxy:
        assert proxy.ask("slow", 1.5, proxy="patient") == {"result": "late"}
        assert proxy.ask("slow", 1.5)["code"] == "service_timeout"
        assert proxy.ask("slow", 3, proxy="patient")["code"] == "service_timeout"


def test_a_signature_waited_through_another_service_outlasts_the_wait_on_signing():
    """The gateway waits for identity, which waits for signing: identity's deadline on signing
    ends first, so the gateway hears identity's answer (signing's timeout, or the pact
    refused), never its own 503 while identity still waits."""
    from shared.rpc import DEFAULT_SIGNING_TIMEOUT, DEFAULT_TIMEOUT, deadlines

    config = {"RPC_TIMEOUT": 8, "RPC_SIGNING_TIMEOUT": 30}
    assert deadlines(config, "signing", {"issue_document"}) == (8, {"issue_document": 30})
    assert deadlines(config, "identity", {"sign_integrity_pact"}) == (
        8, {"sign_integrity_pact": 38})
    assert deadlines({}, "records") == (DEFAULT_TIMEOUT, {})
    assert deadlines({}, "sync", {"produce_berita_acara"})[1] == {
        "produce_berita_acara": DEFAULT_SIGNING_TIMEOUT + DEFAULT_TIMEOUT}


def test_an_actor_claimed_without_a_token_is_refused_before_the_worker_runs(pair):
    front, config = pair
    admin = {"actor_id": "admin.bkd", "actor_role": "administrator",
             "actor_roles": ["administrator"], "actor_scope": []}
    with ServiceRpcProxy(front, config, context_data=admin) as proxy, \
            pytest.raises(SimasnError) as refused:
        proxy.ask("whoami")
    assert refused.value.code == "caller_unverified" and refused.value.http_status == 401
    with ServiceRpcProxy(front, config, context_data=signed(admin, config)) as proxy:
        assert proxy.ask("whoami") == {"result": None}


def test_a_call_made_as_the_caller_starts_gets_its_answer(container_factory, service_config):
    """A timer that fires at start (the catch-up sweep does) calls another service before the
    caller's own reply queue may be declared: Nameko starts every extension at once. A reply
    published to a queue that does not exist yet is dropped by the broker, and the call waited
    its whole deadline (20 s) for an answer that was sent. Every call now waits for its reply
    queue first, so the first call of a starting process is answered like any other."""
    from nameko.timer import timer

    tag = uuid.uuid4().hex[:8]
    backend, _ = _services(tag)
    answers = []

    class Starter:
        name = f"starter_{tag}"
        backend_rpc = RpcProxy(f"backend_{tag}")

        @timer(interval=3600, eager=True)
        def at_start(self):
            started = time.monotonic()
            try:
                answers.append(("ok", self.backend_rpc.whoami(),
                                time.monotonic() - started))
            except SimasnError as exc:
                answers.append((exc.code, None, time.monotonic() - started))

    config = {**service_config, "RPC_TIMEOUT": 5}
    container_factory(backend, config).start()
    for _ in range(5):  # the race is lost on most starts, not all: start several
        container_factory(Starter, config).start()
    deadline = time.monotonic() + 10
    while len(answers) < 5 and time.monotonic() < deadline:
        eventlet.sleep(0.05)
    assert [a[:2] for a in answers] == [("ok", None)] * 5, answers


def test_requests_and_replies_are_transient(pair):
    """RPC messages are worth something only while their caller waits (shared/messaging.py):
    both the request and its reply travel with delivery mode 1; a spy queue bound to the RPC
    exchange sees them."""
    from kombu import Connection, Exchange, Queue

    front, config = pair
    backend = front.replace("front_", "backend_")
    with Connection(config["AMQP_URI"]) as conn:
        spy = Queue(f"spy-{uuid.uuid4().hex[:8]}", Exchange("nameko-rpc", type="topic",
                                                             durable=True),
                    routing_key="#", exclusive=True, auto_delete=True)
        spy(conn.default_channel).declare()
        with ServiceRpcProxy(front, config, context_data={}) as proxy:
            assert proxy.ask("whoami") == {"result": None}
        seen = []
        with conn.SimpleQueue(spy) as queue:
            while True:
                try:
                    message = queue.get(timeout=1)
                except queue.Empty:
                    break
                message.ack()
                seen.append((message.delivery_info["routing_key"],
                             message.properties.get("correlation_id"),
                             message.properties.get("delivery_mode")))
    (request,) = [m for m in seen if m[0] == f"{backend}.whoami"]
    (reply,) = [m for m in seen if m[1] == request[1] and m is not request]
    assert request[2] == 1 and reply[2] == 1, seen
