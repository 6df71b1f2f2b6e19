"""The gateway's dependency providers: its request context (`GatewayRequestContext`), its rate
limits (`RateLimits`) and its session cache (`SessionCache`).

The session cache: identity's answer about a session, reused without an RPC, and still dropped
everywhere before identity answers a revocation.

With GATEWAY_SESSION_CACHE_SECONDS = N > 0 the gateway verifies the access token's signature
itself and reuses identity's answer about the session for at most N seconds (never past the
session's end or a machine client's agreement). It does so only while both hold:

- it has a **lease** from identity, renewed every third of SESSION_LEASE_SECONDS by a thread of
  its own (not a Nameko worker, so a busy gateway still renews), counted from when the renewal was
  *sent*, so the replica's view of its lease ends before identity's;
- its **fence queue** (bound to `identity.session-fences`) is connected: every access change that
  identity commits is announced there, the replica drops the accounts' entries and acknowledges,
  and identity answers the change only after every leaseholder did (or its lease ran out).

A fence this replica never received (its queue was down) is caught twice over: the cache is
emptied when the queue reconnects, and each renewal lists the recent fences. An answer identity
gave before a fence arrived is never stored after it (the `generation` check). Without a lease
or a connected queue the gateway asks identity on every request, as with N = 0. The protocol is
described in services/identity/fences.py."""

from __future__ import annotations

import time
import uuid

import eventlet
from kombu import Connection, Consumer, Producer, Queue
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ServiceRpcProxy
from werkzeug.wrappers import Request

from services.gateway.domain import RateLimiter, request_id_from, trusted_networks
from services.gateway.usecases.limits import SharedRateLimiter
from shared.auth import FENCE_ACK_EXCHANGE, SESSION_FENCE_EXCHANGE
from shared.context import CORRELATION_ID, REQUEST_ID, RequestContext
from shared.errors import ConfigError
from shared.logging import get_logger
from shared.tokens import AccessTokens

log = get_logger(__name__)

#: the replica's view of its lease ends this much before identity's
LEASE_MARGIN = 0.5
MAX_ENTRIES = 100_000
RETRY_DELAY = 1.0
#: received fences are remembered this long (renewals report a few lease periods)
SEEN_KEPT = 600.0


class SessionCache(DependencyProvider):
    """`sessions = SessionCache()` on the gateway (see the module)."""

    def setup(self):
        config = self.container.config
        try:
            self.ttl = float(config.get("GATEWAY_SESSION_CACHE_SECONDS") or 0)
        except (TypeError, ValueError):
            raise ConfigError("GATEWAY_SESSION_CACHE_SECONDS must be a number of seconds",
                              field="GATEWAY_SESSION_CACHE_SECONDS") from None
        self.tokens = None
        if self.ttl > 0:
            key = config.get("TOKEN_SIGNING_KEY") or ""
            if len(key) < 32:
                raise ConfigError("TOKEN_SIGNING_KEY (identity's) is needed to cache sessions",
                                  field="TOKEN_SIGNING_KEY")
            self.tokens = AccessTokens(key, ttl=0)
        self.holder = str(uuid.uuid4())
        #: access token -> (monotonic expiry, identity's answer)
        self.entries: dict[str, tuple[float, dict]] = {}
        #: bumped by every fence and flush: an answer fetched before one is not stored after it
        self.generation = 0
        self.lease_until = 0.0
        self.listening = False
        #: fence id -> when it reached us (kept a while, to compare with renewals)
        self.seen_fences: dict[int, float] = {}
        self.stopping = False
        self.fences_handled = 0
        self.threads = []

    def start(self):
        self.threads = []
        if self.tokens is not None:
            self.threads = [
                self.container.spawn_managed_thread(self._listen, identifier="session-fences"),
                self.container.spawn_managed_thread(self._renew, identifier="session-lease")]

    def stop(self):
        self.stopping = True
        for thread in self.threads:  # each closes its own connection on the way out
            thread.kill()
        if self.tokens is not None and self.lease_until > time.monotonic():
            self.lease_until = 0.0
            try:  # give the lease back, so identity does not wait for a replica that is gone
                with eventlet.Timeout(2), ServiceRpcProxy("identity", self.container.config,
                                                          timeout=2) as identity:
                    identity.release_session_lease(self.holder)
            except (Exception, eventlet.Timeout):  # noqa: BLE001 - it runs out by itself
                log.info("session_lease_not_released", holder=self.holder)

    def kill(self):
        self.stopping = True
        self.lease_until = 0.0
        for thread in self.threads:
            thread.kill()

    def get_dependency(self, worker_ctx):
        return self

    # -- what requests use ---------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.tokens is not None

    @property
    def enabled(self) -> bool:
        """Serving from the cache is allowed right now."""
        return self.tokens is not None and self.listening and \
            time.monotonic() < self.lease_until

    def lookup(self, token: str) -> dict | None:
        """Identity's answer for this exact token, if cached and still good. A token not in
        the cache is verified here (signature, expiry) so a forged or expired one is refused
        without asking identity; one in the cache was verified by identity when it was
        stored, and identity bounded the entry by the token's expiry."""
        entry = self.entries.get(token)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        self.tokens.decode(token)  # expired or forged: 401
        return None

    def store(self, token: str, principal: dict, generation: int) -> None:
        """Keep identity's answer, unless a fence or flush came after it was asked for."""
        if generation != self.generation or not self.enabled:
            return
        now = time.monotonic()
        until = now + self.ttl
        if principal.get("cache_until") is not None:
            until = min(until, now + (principal["cache_until"] - time.time()))
        if until <= now:
            return
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[token] = (until, principal)

    def forget(self, account_ids=None) -> None:
        """Drop the entries of some accounts, or every entry."""
        self.generation += 1
        if account_ids is None:
            self.entries.clear()
            return
        accounts = set(account_ids)
        for token in [t for t, (_, p) in self.entries.items() if p["account_id"] in accounts]:
            self.entries.pop(token, None)

    # -- the fence queue -----------------------------------------------------------------

    def _listen(self):
        while not self.stopping:
            try:
                with Connection(self.container.config["AMQP_URI"], connect_timeout=5,
                                heartbeat=10) as amqp:
                    channel = amqp.channel()
                    queue = Queue(f"gateway.session-fences.{self.holder}",
                                  exchange=SESSION_FENCE_EXCHANGE, exclusive=True, auto_delete=True,
                                  durable=False, channel=channel)
                    queue.declare()
                    producer = Producer(channel)

                    def on_fence(body, message, producer=producer):
                        self._on_fence(body, producer)

                    with Consumer(channel, [queue], callbacks=[on_fence], accept=["json"],
                                  no_ack=True):
                        # announcements missed while disconnected are forgotten here
                        self.forget()
                        self.listening = True
                        log.info("session_fences_listening", holder=self.holder)
                        while not self.stopping:
                            try:
                                amqp.drain_events(timeout=1)
                            except TimeoutError:
                                amqp.heartbeat_check()
            except Exception as exc:  # noqa: BLE001 - reconnect; meanwhile ask identity
                if not self.stopping:
                    log.warning("session_fences_disconnected", error=type(exc).__name__)
            finally:
                self.listening = False
                self.forget()
            if not self.stopping:
                eventlet.sleep(RETRY_DELAY)

    def _on_fence(self, body, producer) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("fence_id"), int):
            log.warning("session_fence_malformed")
            return
        accounts = body.get("account_ids")
        self.forget([str(a) for a in accounts] if isinstance(accounts, list) else None)
        self.seen_fences[body["fence_id"]] = time.monotonic()
        self.fences_handled += 1
        if isinstance(body.get("reply_to"), str):
            producer.publish({"fence_id": body["fence_id"], "holder": self.holder},
                             exchange=FENCE_ACK_EXCHANGE, declare=[FENCE_ACK_EXCHANGE],
                             routing_key=body["reply_to"], serializer="json")

    # -- the lease -----------------------------------------------------------------------

    def _renew(self):
        self.proxy = None
        try:
            while not self.stopping:
                eventlet.sleep(self._renew_once())
        finally:
            _close(self.proxy)

    def _renew_once(self) -> float:
        """One renewal; returns how long to wait before the next."""
        if not self.listening:  # no lease while announcements cannot reach us
            return 0.1
        try:
            if self.proxy is None:
                self.proxy = ServiceRpcProxy("identity", self.container.config, timeout=5)
                self.identity = self.proxy.start()
            sent = time.monotonic()
            answer = self.identity.renew_session_lease(self.holder)
        except Exception as exc:  # noqa: BLE001 - the lease runs out; identity is asked
            log.warning("session_lease_not_renewed", error=type(exc).__name__)
            _close(self.proxy)
            self.proxy = None
            return RETRY_DELAY
        missed = set(answer["fences"]) - self.seen_fences.keys()
        if missed:  # announced while we were not listening (or still on its way)
            log.warning("session_fences_missed", count=len(missed))
            self.forget()
        now = time.monotonic()
        self.seen_fences = {f: t for f, t in self.seen_fences.items()
                            if t > now - SEEN_KEPT} | dict.fromkeys(missed, now)
        if self.listening:
            self.lease_until = sent + answer["lease_seconds"] - LEASE_MARGIN
        return answer["lease_seconds"] / 3


def _close(proxy) -> None:
    if proxy is None:
        return
    try:
        proxy.stop()
    except Exception as exc:  # noqa: BLE001 - its connection is gone already
        log.info("session_lease_proxy_not_closed", error=type(exc).__name__)


class GatewayRequestContext(RequestContext):
    """The gateway's request context: an HTTP worker takes the client's X-Request-Id (if sane,
    else a fresh one) as its request and correlation id from the start, so every log line the
    gateway writes for the request carries the id the client got back."""

    def entrypoint_context(self, worker_ctx) -> dict:
        request = worker_ctx.args[0] if worker_ctx.args else None
        if not isinstance(request, Request):
            return {}
        request_id = request_id_from(request.headers.get("X-Request-Id"))
        return {REQUEST_ID: request_id, CORRELATION_ID: request_id}


class RateLimits(DependencyProvider):
    """Rate limits, from config: every client address (GATEWAY_CLIENT_RATE per second, bursts
    of GATEWAY_CLIENT_BURST; in memory, per replica — the ingress limits clients globally) and,
    on login-type routes, every (client, route, login) (GATEWAY_LOGIN_RATE per minute, bursts of
    GATEWAY_LOGIN_BURST) shared by every replica through the gateway's database, so guessing
    passwords does not get faster with more replicas. If the database does not answer, the login
    limit falls back to this replica's own buckets."""

    def setup(self):
        config = self.container.config
        try:
            self.client = RateLimiter(float(config.get("GATEWAY_CLIENT_RATE", 50)),
                                      int(config.get("GATEWAY_CLIENT_BURST", 100)))
            login_rate = float(config.get("GATEWAY_LOGIN_RATE", 10)) / 60
            login_burst = int(config.get("GATEWAY_LOGIN_BURST", 10))
            self.login = RateLimiter(login_rate, login_burst)
            self.shared_login = SharedRateLimiter(login_rate, login_burst)
            # each machine client at its agreement's rate (usecases/agency.py gives it per call)
            self.agency = SharedRateLimiter(1.0, 60)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"GATEWAY_* rate limit settings must be numbers: {exc}",
                              field="GATEWAY_CLIENT_RATE") from None
        try:
            # an ingress in front: the client's address is in X-Forwarded-For (domain.py)
            self.trusted_proxies = trusted_networks(config.get("GATEWAY_TRUSTED_PROXIES"))
        except ValueError as exc:
            raise ConfigError(f"GATEWAY_TRUSTED_PROXIES: {exc}",
                              field="GATEWAY_TRUSTED_PROXIES") from None

    def get_dependency(self, worker_ctx):
        return self
