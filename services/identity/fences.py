"""Session fences: how a gateway may cache sessions and still see every revocation at once.

A gateway replica that caches identity's answer about a session (GATEWAY_SESSION_CACHE_SECONDS
> 0) must never serve a session after identity has answered its revocation. The protocol:

1. **Lease.** The replica renews a lease in `session_cache_leases` (usecases/leases.py) every
   third of SESSION_LEASE_SECONDS, and serves from its cache only while it holds one and its
   fence queue is connected (counted from when it *sent* the renewal, so its view always ends
   first).
2. **Fence.** Any transaction of identity that appends an access change (`ACCESS_CHANGES`:
   logout, session revoked, account disabled, role granted or removed, OPD scope, TOTP reset,
   password, client secret) also inserts a `session_fences` row naming the accounts, in the same
   transaction.
3. **Wait.** After the commit, and before the RPC answers, identity announces the fence on the
   `identity.session-fences` fanout exchange and waits until every replica holding a live lease
   has acknowledged it (having dropped the accounts' entries first) — or until that replica's
   lease has run out, after which it no longer serves from its cache.
4. **Missed announcements.** A lease renewal returns the fences of the last few lease periods;
   a replica that finds one it never received empties its cache. A replica whose fence queue was
   disconnected empties its cache when it reconnects.

So "logout, account disabled, role removed take effect at once" holds at every replica: by the
time the change is answered no replica will serve the old session from its cache. A replica that
died makes changes wait at most one lease period (SESSION_LEASE_SECONDS)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kombu import Connection, Consumer, Producer, Queue
from kombu.pools import connections

from shared.auth import ACCESS_CHANGES, FENCE_ACK_EXCHANGE, SESSION_FENCE_EXCHANGE
from shared.db import ServiceDatabase, UnitOfWork
from shared.logging import get_logger

log = get_logger(__name__)

def scope_of(amqp_uri: str) -> str:
    """The RabbitMQ virtual host a gateway listens on: leases are only waited for within it."""
    return Connection(amqp_uri).virtual_host or "/"


@dataclass(frozen=True)
class Fence:
    fence_id: int
    account_ids: tuple[str, ...]


def record(uow) -> Fence | None:
    """In the transaction that made them: a fence for the accounts whose access changed."""
    accounts = sorted({stream_id.partition(":")[2] for stream_id, event_type in uow.appended
                       if event_type in ACCESS_CHANGES})
    if not accounts:
        return None
    fence_id = uow.execute("INSERT INTO session_fences (account_ids) VALUES (:a) "
                           "RETURNING fence_id", {"a": accounts}).scalar_one()
    return Fence(fence_id, tuple(accounts))


def live_holders(conn, scope: str) -> dict[str, float]:
    """Holders with a live lease in `scope`, and the seconds each lease has left."""
    rows = conn.exec_driver_sql(
        "SELECT holder::text, extract(epoch FROM expires_at - now())::float8 "
        "FROM session_cache_leases WHERE scope = %(s)s AND expires_at > now()", {"s": scope})
    return {holder: left for holder, left in rows}


class Announcer:
    """Announces a committed fence and waits for every live leaseholder to answer it."""

    def __init__(self, amqp_uri: str, scope: str, engine):
        self.amqp_uri = amqp_uri
        self.scope = scope
        self.engine = engine

    def wait(self, fence: Fence) -> dict:
        """Block until every holder acknowledged `fence` or its lease ran out; returns what
        happened (for logs and tests)."""
        with self.engine.connect() as conn:
            holders = live_holders(conn, self.scope)
        if not holders:
            return {"holders": 0, "acknowledged": 0, "expired": 0}
        started = time.monotonic()
        deadlines = {h: started + left for h, left in holders.items()}
        acknowledged: set[str] = set()
        try:
            self._announce_and_collect(fence, deadlines, acknowledged)
        except Exception as exc:  # noqa: BLE001 - broker trouble: the leases bound the wait
            log.warning("session_fence_broker_failed", fence_id=fence.fence_id,
                        error=type(exc).__name__)
        waiting = {h: d for h, d in deadlines.items() if h not in acknowledged}
        if waiting:  # nobody answered for them: they stop serving from cache when it runs out
            time.sleep(max(0.0, max(waiting.values()) - time.monotonic()))
            log.warning("session_fence_waited_for_lease", fence_id=fence.fence_id,
                        holders=sorted(waiting), waited_s=round(time.monotonic() - started, 3))
        return {"holders": len(holders), "acknowledged": len(acknowledged),
                "expired": len(waiting)}

    def _announce_and_collect(self, fence: Fence, deadlines: dict, acknowledged: set) -> None:
        # a pooled connection (a handshake per revocation doubled its time), a channel each. A
        # pooled connection the broker or the network dropped while idle fails here: it is
        # dropped and reconnected, and the fence announced again — holders answer a
        # repeated announcement as they did the first
        pool = connections[Connection(self.amqp_uri, connect_timeout=5)]
        for attempt in (1, 2):
            try:
                with pool.acquire(block=True, timeout=5) as amqp:
                    try:
                        if attempt == 2:
                            amqp.connect()  # a connection collected after a failure
                        channel = amqp.channel()
                        try:
                            self._collect_on(amqp, channel, fence, deadlines, acknowledged)
                        finally:
                            channel.close()
                    except Exception:
                        amqp.collect()  # drop the dead socket
                        raise
                return
            except Exception as exc:  # noqa: BLE001 - once more on a fresh connection
                if attempt == 2:
                    raise
                log.info("session_fence_reconnecting", error=type(exc).__name__)

    def _collect_on(self, amqp, channel, fence: Fence, deadlines: dict,
                    acknowledged: set) -> None:
        name = f"identity.fence-acks.{uuid.uuid4().hex}"
        replies = Queue(name, exchange=FENCE_ACK_EXCHANGE, routing_key=name, exclusive=True,
                        auto_delete=True, durable=False, channel=channel)
        replies.declare()

        def on_ack(body, message):
            if isinstance(body, dict) and body.get("fence_id") == fence.fence_id:
                acknowledged.add(str(body.get("holder")))

        with Consumer(channel, [replies], callbacks=[on_ack], accept=["json"], no_ack=True):
            Producer(channel).publish(
                {"fence_id": fence.fence_id, "account_ids": list(fence.account_ids),
                 "reply_to": replies.name},
                exchange=SESSION_FENCE_EXCHANGE, declare=[SESSION_FENCE_EXCHANGE],
                serializer="json")
            while True:
                now = time.monotonic()
                pending = [d for h, d in deadlines.items() if h not in acknowledged and d > now]
                if not pending:
                    return
                try:
                    amqp.drain_events(timeout=min(0.5, max(pending) - now))
                except TimeoutError:
                    pass


class FencedServiceDatabase(ServiceDatabase):
    """Identity's transactions: one that changes access is announced to every caching gateway
    replica, and waited for, before the caller gets its answer."""

    def __init__(self, engine, store, context, config, announcer: Announcer):
        super().__init__(engine, store, context, config)
        self.announcer = announcer

    @contextmanager
    def transaction(self, reason: str | None = None, **metadata) -> Iterator[UnitOfWork]:
        fence = None
        with super().transaction(reason, **metadata) as uow:
            yield uow
            fence = record(uow)
        if fence is not None:
            self.announcer.wait(fence)
