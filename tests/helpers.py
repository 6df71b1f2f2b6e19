"""Building blocks shared by the integration tests."""

from __future__ import annotations

import contextlib
import threading
import uuid

import psycopg2
from marshmallow import Schema, fields

from shared.consumer import idempotent_handler
from shared.db import Database
from shared.eventstore import NO_STREAM, EventStore, NewEvent
from shared.eventtypes import EventRegistry
from shared.relay import OutboxRelay
from shared.service import ServiceBase

REGISTRY = EventRegistry("scratch")


@REGISTRY.event("ThingHappened", version=1)
class ThingHappened(Schema):
    name = fields.String(required=True)
    count = fields.Integer(load_default=0)


@REGISTRY.event("PoisonPill", version=1)
class PoisonPill(Schema):
    name = fields.String(required=True)


@REGISTRY.event("NobodyListens", version=1)
class NobodyListens(Schema):
    name = fields.String(required=True)


def append_things(url: str, schema: str, count: int, event_type: str = "ThingHappened",
                  per_stream: int = 10) -> list[str]:
    """Append `count` events in streams of `per_stream`; returns their ids in order."""
    store = EventStore(schema, REGISTRY)
    ids = []
    conn = psycopg2.connect(url)
    try:
        for start in range(0, count, per_stream):
            batch = [NewEvent(event_type, {"name": f"n{start + i}"})
                     for i in range(min(per_stream, count - start))]
            with conn:
                store.append(conn, f"{event_type}-{uuid.uuid4().hex[:8]}", "Thing", NO_STREAM,
                             batch, {"correlation_id": f"corr-{start}", "actor_id": "tester"})
            ids += [e.event_id for e in batch]
    finally:
        conn.close()
    return ids


def create_effects_table(url: str, schema: str) -> None:
    """A table with no unique key: only the consumer's idempotency can keep it exact."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.effects (position bigint NOT NULL, "
                    "event_id uuid NOT NULL, correlation_id text, causation_id text)")
    conn.close()


def fetch(url: str, query: str, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def make_consumer_service(name: str, source: str):
    """A real Nameko service whose handlers write effects; `PoisonPill` always fails."""

    class ThingConsumer(ServiceBase):
        db = Database()

        @idempotent_handler(source, "ThingHappened")
        def on_thing(self, uow, event):
            uow.execute(
                "INSERT INTO effects (position, event_id, correlation_id, causation_id) "
                "VALUES (:p, :e, :c, :k)",
                {"p": event.position, "e": event.event_id,
                 "c": self.context.get("correlation_id"), "k": uow.metadata.get("causation_id")},
            )

        @idempotent_handler(source, "PoisonPill")
        def on_poison(self, uow, event):
            raise RuntimeError(f"cannot digest {event.payload['name']}")

    ThingConsumer.name = name
    return ThingConsumer


class RelayThread:
    """An outbox relay running beside the test (green thread under eventlet)."""

    def __init__(self, url: str, source: str, schema: str, amqp_uri: str, **kwargs):
        from services.registry import event_registry

        # a service's log: its events.py (upcasters, redactors); a test's own log: as given
        kwargs.setdefault("registry", event_registry(source))
        self.relay = OutboxRelay(url, source, amqp_uri, schema=schema, idle_sleep=0.05, **kwargs)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.relay.run, args=(self.stop,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


def signed(context: dict, config: dict) -> dict:
    """`context` with the caller token a standalone RPC client needs (shared/callers.py):
    minted with the gateway's key for a person or machine client, with the services' key for a
    system caller, as the deployed system would."""
    from shared import callers

    system = context.get("actor_role") == "system"
    issuer = callers.SERVICE if system else callers.GATEWAY
    return callers.from_config(config, issuer).sign_context(context)


@contextlib.contextmanager
def raises_code(code: str):
    """`pytest.raises` for our errors by their contract: across RPC a service's own exception
    class is not rebuilt (shared/rpc.py), its code and status are."""
    import pytest

    from shared.errors import SimasnError

    with pytest.raises(SimasnError) as caught:
        yield caught
    assert caught.value.code == code, f"expected {code}, got {caught.value!r}"


def rfc6962_root(leaves: list[str]) -> bytes:
    """RFC 6962 §2.1 MTH over hex leaf hashes, written as recursively as the RFC writes it: the
    reference our shared/merkle.py is held against."""
    import hashlib

    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + bytes.fromhex(leaves[0])).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()
