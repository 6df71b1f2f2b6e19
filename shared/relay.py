"""Outbox relay: publishes each service log's committed events to RabbitMQ, in position order,
as Nameko events (exchange `<service>.events`, routing key = event type), so other services
consume them with a plain `@event_handler`.

Delivery is at least once: the checkpoint (`relay_checkpoint`) moves only after the broker has
confirmed every message of a batch, so a crash republishes at most one batch, and consumers are
idempotent by (source, position). Messages are published `mandatory`: an event no queue is bound
for comes back from the broker and is recorded in `relay_unrouted` (never silently dropped).
Only one relay per service log is active at a time (a PostgreSQL session advisory lock); extra
replicas wait as hot standbys."""

from __future__ import annotations

import threading
import time

import psycopg2
from kombu import Connection, Exchange, Producer

from shared.envelopes import public_envelope
from shared.eventstore import EventStore
from shared.eventtypes import EventRegistry
from shared.logging import get_logger

log = get_logger(__name__)


def event_exchange(service: str) -> Exchange:
    """Declared exactly as Nameko declares it, or RabbitMQ refuses with 406."""
    return Exchange(f"{service}.events", type="topic", durable=True, auto_delete=False,
                    delivery_mode=2)




class OutboxRelay:
    def __init__(self, database_url: str, service: str, amqp_uri: str, *,
                 schema: str | None = None, batch_size: int = 500, idle_sleep: float = 0.2,
                 name: str = "relay", heartbeat: float = 30,
                 registry: EventRegistry | None = None):
        self.database_url = database_url
        self.service = service
        self.schema = schema or service
        self.amqp_uri = amqp_uri
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.name = name
        self.heartbeat = heartbeat
        #: broker connections made so far (one unless the broker or the network dropped one)
        self.connections = 0
        #: the log's event types (from services/registry.py), for upcasting and redaction;
        #: None only for a scratch log without confidential events
        self.store = EventStore(self.schema, registry)
        self.exchange = event_exchange(service)
        self._returned: list[tuple[str, str]] = []

    # -- loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, reconnecting to either side after a failure."""
        backoff = 0.5
        while not stop.is_set():
            try:
                self._run_connected(stop)
                return
            except (psycopg2.Error, OSError, ConnectionError) as exc:
                log.warning("relay_reconnecting", service=self.service, error=str(exc))
            except Exception as exc:  # noqa: BLE001 - kombu/amqp raise many types; keep going
                log.error("relay_error", service=self.service, error=repr(exc))
            stop.wait(backoff)
            backoff = min(backoff * 2, 10)

    def _run_connected(self, stop: threading.Event) -> None:
        db = psycopg2.connect(self.database_url, application_name=f"simasn-relay-{self.schema}")
        try:
            self._become_leader(db, stop)
            with Connection(self.amqp_uri, transport_options={"confirm_publish": True},
                            heartbeat=self.heartbeat) as amqp:
                amqp.ensure_connection(max_retries=3)
                self.connections += 1
                channel = amqp.channel()
                self.exchange(channel).declare()
                producer = Producer(channel, exchange=self.exchange,
                                    on_return=self._on_return)
                log.info("relay_started", service=self.service, schema=self.schema)
                while not stop.is_set():
                    if self.publish_batch(db, producer) == 0:
                        self._idle(amqp)
        finally:
            db.close()

    def _idle(self, amqp) -> None:
        """Wait `idle_sleep` for the next poll of the log, keeping the connection alive: read
        what the broker sends (its heartbeats) and send ours. RabbitMQ drops a connection whose
        heartbeats stop; a broker that went away is found here (and reconnected to), not at
        the next publish."""
        try:
            amqp.drain_events(timeout=self.idle_sleep)
        except TimeoutError:  # socket.timeout: nothing came, as expected
            pass
        amqp.heartbeat_check()

    def _become_leader(self, db, stop: threading.Event) -> None:
        db.autocommit = True
        with db.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                            (f"simasn.relay.{self.schema}.{self.name}",))
                if cur.fetchone()[0]:
                    break
                stop.wait(1.0)
        db.autocommit = False

    # -- one batch ---------------------------------------------------------------------------

    def checkpoint(self, db) -> int:
        with db.cursor() as cur:
            cur.execute(f"SELECT position FROM {self.schema}.relay_checkpoint WHERE relay = %s",  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        (self.name,))
            row = cur.fetchone()
        return row[0] if row else 0

    def publish_batch(self, db, producer) -> int:
        """Publish the next batch after the checkpoint; returns how many were published."""
        try:
            done = self.checkpoint(db)
            events = self.store.read_all(db, done + 1, self.batch_size)
            db.rollback()  # end the read snapshot; nothing to hold while publishing
            if not events:
                return 0
            unrouted = []
            for event in events:
                self._returned.clear()
                producer.publish(
                    self._public_envelope(event),
                    exchange=self.exchange,
                    routing_key=event.event_type,
                    mandatory=True,
                    delivery_mode=2,
                    serializer="json",
                    headers=self._headers(event),
                    retry=False,
                )
                if self._returned:
                    unrouted.append((event.position, event.event_type, self._returned[0][1]))
            with db.cursor() as cur:
                for position, event_type, reason in unrouted:
                    cur.execute(
                        f"INSERT INTO {self.schema}.relay_unrouted (position, event_type, reason) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (position, event_type, reason),
                    )
                cur.execute(
                    f"INSERT INTO {self.schema}.relay_checkpoint (relay, position) VALUES (%s, %s) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                    "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position, "
                    "updated_at = now()",
                    (self.name, events[-1].position),
                )
            db.commit()
        except BaseException:
            db.rollback()
            raise
        for position, event_type, _ in unrouted:
            log.warning("event_unrouted", service=self.service, position=position,
                        event_type=event_type)
        return len(events)

    def _public_envelope(self, event) -> dict:
        """What goes on the bus: the same envelope the events feed answers (shared/envelopes.py)."""
        return public_envelope(event, self.service, self.store.registry)

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        self._returned.append((routing_key, str(exc)))

    @staticmethod
    def _headers(event) -> dict:
        headers = {"nameko.event_position": event.position}
        correlation = event.metadata.get("correlation_id")
        if correlation:
            headers["nameko.correlation_id"] = correlation
        return headers


def run_relays(database_url_for, registries: dict[str, EventRegistry | None], amqp_uri: str,
               stop: threading.Event | None = None, **kwargs) -> None:
    """Run one relay thread per service log (`registries`: service -> its event types) until
    `stop` is set (or the process ends)."""
    stop = stop or threading.Event()
    threads = []
    for service, registry in registries.items():
        relay = OutboxRelay(database_url_for(service), service, amqp_uri, registry=registry,
                            **kwargs)
        thread = threading.Thread(target=relay.run, args=(stop,), name=f"relay-{service}",
                                  daemon=True)
        thread.start()
        threads.append(thread)
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
            if stop.is_set():
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
