"""RPC as every SIMASN service speaks it, on top of Nameko's:

- **Errors cross by contract, not by class.** Nameko rebuilds a remote exception only if its
  class is importable in the caller's process; the gateway never imports a backend's
  `exceptions.py`, so `LoginFailed` arrived as `RemoteError` and was answered 500. A SimasnError
  raised by a service therefore leaves it as `shared.errors.SimasnError` (or the shared subclass
  it is) with its code, HTTP status, title, message and field in the payload: every caller, in
  any process, rebuilds the same error.
- **Callers are verified** (shared/callers.py): a request that names an actor must carry a
  caller token, checked before a worker is spawned; what the token vouches for replaces what
  the headers claim.
- **Every call has a deadline** (RPC_TIMEOUT seconds, default 20): a service nobody answers
  for gives `service_timeout` (503), never a caller waiting for ever. A call that answers only
  once a document is signed (`RpcProxy(..., signs=...)`) waits RPC_SIGNING_TIMEOUT (default
  90: BSrE's own read timeout is 60), and RPC_TIMEOUT more when it is made through another
  service, so the service that waited on signing tells its caller, not the caller's deadline.
- **A broker outage kills no container**: a reply that cannot be published leaves the request
  to be delivered again after the reconnect (shared/messaging.py).
"""

from __future__ import annotations

import uuid

import eventlet
from nameko.amqp.publish import UndeliverableMessage
from nameko.exceptions import UnknownService, get_module_path
from nameko.exceptions import registry as remote_error_registry
from nameko.rpc import MethodProxy, Rpc, RpcReply, ServiceProxy, get_rpc_exchange
from nameko.rpc import RpcProxy as NamekoRpcProxy

from shared import callers as caller_tokens
from shared.errors import SimasnError, StoreUnavailable
from shared.messaging import RpcConsumer, TransientPublisher

DEFAULT_TIMEOUT = 20.0
DEFAULT_SIGNING_TIMEOUT = 90.0
SIGNING_SERVICE = "signing"


class ServiceTimeout(StoreUnavailable):
    code = "service_timeout"
    title = "Layanan tidak menjawab tepat waktu"


def _is_contract_class(cls) -> bool:
    """shared/errors.py is the contract every process imports; any other class may be unknown
    to the caller (the gateway never imports a backend's exceptions.py)."""
    return cls.__module__ == "shared.errors"


def to_contract(exc: BaseException) -> BaseException:
    """The error as it crosses the wire: a service-specific SimasnError becomes its nearest
    class in shared/errors.py (LoginFailed -> Unauthorized) with the same code, status, title,
    message, field and details."""
    if not isinstance(exc, SimasnError) or _is_contract_class(type(exc)):
        return exc
    base = next(cls for cls in type(exc).__mro__ if _is_contract_class(cls))
    return base.from_wire(exc.wire_dict())


def register_contract_errors() -> None:
    """Let Nameko rebuild every shared/errors.py class by class in this process (and no
    other class: a service's own subclasses cross as their contract base, see `to_contract`).
    Done here, where RPC is spoken, so shared/errors.py stays plain Python a domain can use."""
    pending = [SimasnError]
    while pending:
        cls = pending.pop()
        if _is_contract_class(cls):
            remote_error_registry[get_module_path(cls)] = cls
        pending.extend(cls.__subclasses__())


register_contract_errors()


class VerifiedRpc(Rpc):
    """Nameko's RPC entrypoint with verified callers and errors answered by contract."""

    rpc_consumer = RpcConsumer()

    def setup(self):
        super().setup()
        self.callers = caller_tokens.from_config(self.container.config, caller_tokens.SERVICE)

    def unpack_message_headers(self, message):
        """The caller's context as its token vouches for it (CallerUnverified if it cannot)."""
        return self.callers.verified(super().unpack_message_headers(message))

    def handle_message(self, body, message):
        try:
            super().handle_message(body, message)
        except caller_tokens.CallerUnverified as exc:
            # refused before any worker runs: the answer goes straight back to the caller
            wire = to_contract(exc)
            self.rpc_consumer.handle_result(message, None, (type(wire), wire, None))

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is not None:
            wire = to_contract(exc_info[1])
            if wire is not exc_info[1]:
                exc_info = (type(wire), wire, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


def rpc(fn=None, **options):
    """`@rpc`: Nameko's, verified and by contract; our errors are marked expected (a user's bad
    input is answered to the caller and logged as a warning, not as a crash)."""
    options.setdefault("expected_exceptions", (SimasnError,))
    decorate = VerifiedRpc.decorator(**options)
    return decorate if fn is None else decorate(fn)


class _TimedReply(RpcReply):
    def __init__(self, reply_event, listener, correlation_id, timeout, target):
        super().__init__(reply_event)
        self.listener, self.correlation_id = listener, correlation_id
        self.timeout, self.target = timeout, target

    def result(self):
        if self.resp_body is None:
            try:
                with eventlet.Timeout(self.timeout):
                    self.resp_body = self.reply_event.wait()
            except eventlet.Timeout:
                self.listener._reply_events.pop(self.correlation_id, None)
                raise ServiceTimeout(f"{self.target} tidak menjawab dalam {self.timeout:g} detik",
                                     field="service") from None
        return super().result()


class _MethodProxy(MethodProxy):
    #: requests are transient (shared/messaging.py says why)
    publisher_cls = TransientPublisher

    def __init__(self, worker_ctx, service_name, method_name, reply_listener, *, callers,
                 timeout, **options):
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)
        self.callers, self.timeout = callers, timeout

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        data = worker_ctx.context_data
        token_header = self._get_header_name(caller_tokens.CALLER_TOKEN)
        if token_header not in headers and any(data.get(k) is not None
                                               for k in caller_tokens.CLAIMING_FIELDS):
            token = self.callers.mint(data)
            if token is not None:
                headers[token_header] = token
        return headers

    def _await_reply_queue(self):
        """Nameko starts every extension of a container at once: a timer firing at start (the
        catch-up sweep) may call before this process's reply queue is declared, and the
        broker drops a reply to a queue that does not exist; the call then waited its whole
        deadline for an answer that was sent. Wait, within the same deadline, until the queue
        consumer that owns the reply queue is consuming (nameko 2.14's `_consumers_ready`,
        set by `QueueConsumer.on_consume_ready`; tests/test_rpc_contract.py holds it)."""
        ready = self.reply_listener.queue_consumer._consumers_ready
        if ready.ready():
            return
        try:
            with eventlet.Timeout(self.timeout):
                ready.wait()
        except eventlet.Timeout:
            raise ServiceTimeout(f"{self.service_name} tidak dapat dihubungi: antrean jawaban "
                                 f"belum siap dalam {self.timeout:g} detik",
                                 field="service") from None

    def _call(self, *args, **kwargs):
        self._await_reply_queue()
        exchange = get_rpc_exchange(self.container.config)
        routing_key = f"{self.service_name}.{self.method_name}"
        correlation_id = str(uuid.uuid4())
        reply_event = self.reply_listener.get_reply_event(correlation_id)
        try:
            self.publisher.publish({"args": args, "kwargs": kwargs}, exchange=exchange,
                                   routing_key=routing_key, mandatory=True,
                                   reply_to=self.reply_listener.routing_key,
                                   correlation_id=correlation_id,
                                   extra_headers=self.get_message_headers(self.worker_ctx))
        except UndeliverableMessage:
            self.reply_listener._reply_events.pop(correlation_id, None)
            raise UnknownService(self.service_name) from None
        return _TimedReply(reply_event, self.reply_listener, correlation_id, self.timeout,
                           self.service_name)


class _ServiceProxy(ServiceProxy):
    def __init__(self, worker_ctx, service_name, reply_listener, *, timeouts=None, **options):
        super().__init__(worker_ctx, service_name, reply_listener, **options)
        self.timeouts = timeouts or {}

    def __getattr__(self, name):
        timeout = self.timeouts.get(name, self.options["timeout"])
        return _MethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                            **{**self.options, "timeout": timeout})


def deadlines(config, target: str, signs=()) -> tuple[float, dict[str, float]]:
    """How long a call to `target` waits: RPC_TIMEOUT, and for each method in `signs` (it
    answers once a document is signed) RPC_SIGNING_TIMEOUT, plus RPC_TIMEOUT when `target` is
    not signing itself (it waits on signing with RPC_SIGNING_TIMEOUT, then does its own work:
    its deadline on signing must end first)."""
    timeout = float(config.get("RPC_TIMEOUT") or DEFAULT_TIMEOUT)
    signing = float(config.get("RPC_SIGNING_TIMEOUT") or DEFAULT_SIGNING_TIMEOUT)
    through = 0.0 if target == SIGNING_SERVICE else timeout
    return timeout, {method: signing + through for method in signs}


class RpcProxy(NamekoRpcProxy):
    """`RpcProxy("records")` with a deadline on every call and caller tokens minted where this
    process may vouch for the actor (`issuer`: the gateway for users, services for themselves).
    `signs`: the target's methods that answer only once a document is signed, which wait
    longer (`deadlines`)."""

    def __init__(self, target_service, *, issuer: str = caller_tokens.SERVICE, signs=(),
                 **options):
        super().__init__(target_service, **options)
        self.issuer, self.signs = issuer, frozenset(signs)

    def setup(self):
        super().setup()
        config = self.container.config
        self.callers = caller_tokens.from_config(config, self.issuer)
        self.timeout, self.timeouts = deadlines(config, self.target_service, self.signs)

    def get_dependency(self, worker_ctx):
        return _ServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                             timeouts=self.timeouts, callers=self.callers, timeout=self.timeout,
                             **self.options)
