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

import functools
import threading
import time

import psycopg2
from amqp import spec
from amqp.exceptions import MessageNacked
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


class ConfirmTimeout(ConnectionError):
    """The broker did not confirm a publish within `confirm_timeout`: the connection is taken
    for dead (a half-open connection looks exactly like this)."""


def _confirmed(method, *args) -> None:
    if method == spec.Basic.Nack:
        raise MessageNacked()


class OutboxRelay:
    """Relays one service log. `heartbeat` (seconds, 0 = off) is negotiated with the broker and
    serviced while idle, while waiting for leadership and while waiting for each confirm;
    `confirm_timeout` bounds every publish (its write and the wait for the broker's ack);
    `retry_interval` is how often events the broker returned are offered again."""

    def __init__(self, database_url: str, service: str, amqp_uri: str, *,
                 schema: str | None = None, batch_size: int = 500, idle_sleep: float = 0.2,
                 name: str = "relay", heartbeat: float = 30, confirm_timeout: float = 30,
                 connect_timeout: float = 10, standby_poll: float = 1.0,
                 retry_interval: float = 60, registry: EventRegistry | None = None):
        self.database_url = database_url
        self.service = service
        self.schema = schema or service
        self.amqp_uri = amqp_uri
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.name = name
        self.heartbeat = heartbeat
        self.confirm_timeout = confirm_timeout
        self.connect_timeout = connect_timeout
        self.standby_poll = standby_poll
        self.retry_interval = retry_interval
        #: broker connections made so far (one unless the broker or the network dropped one)
        self.connections = 0
        #: upcasting and redaction go through this store's registry (the service's events.py,
        #: from services/registry.py); None only for a scratch log without confidential events
        self.store = EventStore(self.schema, registry)
        self._raw = EventStore(self.schema, None)
        self.exchange = event_exchange(service)
        self._returned: list[tuple[str, str]] = []
        self._next_retry = 0.0

    # -- loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, reconnecting to either side after a failure."""
        backoff = 0.5
        while not stop.is_set():
            try:
                self._run_connected(stop)
                return
            except (psycopg2.Error, OSError, ConnectionError) as exc:
                log.warning("relay_reconnecting", service=self.service, error=repr(exc))
            except Exception as exc:  # noqa: BLE001 - kombu/amqp raise many types; keep going
                log.error("relay_error", service=self.service, error=repr(exc))
            stop.wait(backoff)
            backoff = min(backoff * 2, 10)

    def _run_connected(self, stop: threading.Event) -> None:
        """Broker first, then leadership: a relay that cannot reach the broker never holds the
        leader lock, and a leader that loses the broker lets go of the lock before anything
        else, so a standby can take over at once."""
        amqp = Connection(self.amqp_uri, heartbeat=self.heartbeat,
                          connect_timeout=self.connect_timeout,
                          transport_options={"write_timeout": self.confirm_timeout})
        db = None
        clean = False
        try:
            amqp.connect()
            self.connections += 1
            channel = amqp.channel()
            channel.confirm_select()
            self.exchange(channel).declare()
            producer = Producer(channel, exchange=self.exchange, on_return=self._on_return)
            db = psycopg2.connect(self.database_url,
                                  application_name=f"simasn-relay-{self.schema}"[:63])
            if self._become_leader(db, amqp, stop):
                log.info("relay_started", service=self.service, schema=self.schema)
                publish = functools.partial(self._publish, amqp, channel, producer)
                self._next_retry = 0.0  # everything held or returned is offered again now
                while not stop.is_set():
                    self._maybe_retry(db, publish)
                    if self.publish_batch(db, publish) == 0:
                        self._idle(amqp, self.idle_sleep)
            clean = True
        finally:
            if db is not None:
                db.close()  # ends the session: the leader lock is free from here on
            if clean:
                amqp.release()
            else:  # never wait for a broker that may not answer: drop the socket
                amqp.collect()

    def _idle(self, amqp, seconds: float) -> None:
        """Wait `seconds`, keeping the connection alive: read what the broker sends (its
        heartbeats) and send ours. RabbitMQ drops a connection whose heartbeats stop; a broker
        that went silent is found here (ConnectionForced after two missed heartbeats), not at
        the next publish."""
        try:
            amqp.drain_events(timeout=seconds)
        except TimeoutError:  # socket.timeout: nothing came, as expected
            pass
        amqp.heartbeat_check()

    def _become_leader(self, db, amqp, stop: threading.Event) -> bool:
        """Take the log's leader lock (a session advisory lock), servicing the broker
        connection while another relay holds it; False if stopped first."""
        db.autocommit = True
        with db.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                            (f"simasn.relay.{self.schema}.{self.name}",))
                if cur.fetchone()[0]:
                    db.autocommit = False
                    return True
                self._idle(amqp, self.standby_poll)
        return False

    # -- publishing ----------------------------------------------------------------------------

    def _publish(self, amqp, channel, producer, event, envelope: dict) -> str | None:
        """Publish one envelope and wait for the broker's confirm; returns why the broker
        returned it (no queue bound), or None when it was routed."""
        self._returned.clear()
        producer.publish(
            envelope,
            exchange=self.exchange,
            routing_key=event.event_type,
            mandatory=True,
            delivery_mode=2,
            serializer="json",
            headers=self._headers(event),
            retry=False,
            timeout=self.confirm_timeout,
        )
        self._wait_for_confirm(amqp, channel)
        return self._returned[0][1] if self._returned else None

    def _wait_for_confirm(self, amqp, channel) -> None:
        """Wait for the ack (or nack) of the message just published, in slices short enough to
        service heartbeats; a silent broker is detected after two missed heartbeats, and the
        whole wait never exceeds `confirm_timeout`."""
        deadline = time.monotonic() + self.confirm_timeout
        tick = min(1.0, self.heartbeat / 2) if self.heartbeat else 1.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConfirmTimeout(f"no confirm from the broker within {self.confirm_timeout}s")
            try:
                channel.wait([spec.Basic.Ack, spec.Basic.Nack], callback=_confirmed,
                             timeout=min(tick, left))
            except TimeoutError:  # socket.timeout; a partly read frame is kept by amqp
                amqp.heartbeat_check()
                continue
            amqp.heartbeat_check()
            return

    # -- one batch ---------------------------------------------------------------------------

    def checkpoint(self, db) -> int:
        with db.cursor() as cur:
            cur.execute(f"SELECT position FROM {self.schema}.relay_checkpoint WHERE relay = %s",  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        (self.name,))
            row = cur.fetchone()
        return row[0] if row else 0

    def publish_batch(self, db, publish) -> int:
        """Publish the next batch after the checkpoint; returns how many events it covered.
        An event whose upcaster or redactor raises is held (`relay_held`), not published, and
        the batch goes on past it: one poison event does not stop its log."""
        try:
            done = self.checkpoint(db)
            events = self._raw.read_all(db, done + 1, self.batch_size)
            db.rollback()  # end the read snapshot; nothing to hold while publishing
            if not events:
                return 0
            unrouted, held = [], []
            for event in events:
                try:
                    envelope = self.public_envelope(event)
                except Exception as exc:  # noqa: BLE001 - any failure of the service's code
                    held.append((event, exc))
                    continue
                reason = publish(event, envelope)
                if reason is not None:
                    unrouted.append((event.position, event.event_type, reason))
            with db.cursor() as cur:
                for position, event_type, reason in unrouted:
                    cur.execute(
                        f"INSERT INTO {self.schema}.relay_unrouted (position, event_type, reason) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (position, event_type, reason),
                    )
                for event, exc in held:
                    self._note_held(cur, event, exc)
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
        for event, exc in held:
            log.error("relay_event_held", service=self.service, position=event.position,
                      event_type=event.event_type, error=repr(exc))
        return len(events)

    def _note_held(self, cur, event, exc: Exception) -> None:
        cur.execute(
            f"INSERT INTO {self.schema}.relay_held (relay, position, event_type, error_type, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "error) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (relay, position) DO UPDATE SET "
            "error_type = EXCLUDED.error_type, error = EXCLUDED.error, "
            "attempts = relay_held.attempts + 1, last_tried_at = now(), released_at = NULL",
            (self.name, event.position, event.event_type, type(exc).__name__,
             repr(exc)[:4000]),
        )

    # -- held and unrouted events, offered again ------------------------------------------------

    def _maybe_retry(self, db, publish) -> None:
        """Offer held and returned events again: when this relay becomes leader, when an
        operator asks (`simasn relay retry`), and returned ones every `retry_interval`."""
        with db.cursor() as cur:
            cur.execute(f"SELECT retry_requested_at FROM {self.schema}.relay_checkpoint "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "WHERE relay = %s", (self.name,))
            row = cur.fetchone()
        requested = row[0] if row else None
        db.rollback()
        now = time.monotonic()
        if requested is None and now < self._next_retry:
            return
        first = self._next_retry == 0.0
        self._next_retry = now + self.retry_interval
        if requested is not None or first:
            self.retry_held(db, publish)
        self.retry_unrouted(db, publish)
        if requested is not None:
            with db.cursor() as cur:
                cur.execute(f"UPDATE {self.schema}.relay_checkpoint SET retry_requested_at = "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                            "NULL WHERE relay = %s AND retry_requested_at = %s",
                            (self.name, requested))
            db.commit()

    def _event_at(self, db, position: int):
        events = self._raw.read_all(db, position, 1)
        return events[0] if events and events[0].position == position else None

    def retry_held(self, db, publish) -> int:
        """Publish each held event whose upcaster and redactor now work; returns how many."""
        released = 0
        with db.cursor() as cur:
            cur.execute(f"SELECT position FROM {self.schema}.relay_held WHERE relay = %s "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "AND released_at IS NULL ORDER BY position", (self.name,))
            positions = [row[0] for row in cur.fetchall()]
        db.rollback()
        for position in positions:
            event = self._event_at(db, position)
            try:
                envelope = self.public_envelope(event)
            except Exception as exc:  # noqa: BLE001 - still failing: stays held
                with db.cursor() as cur:
                    self._note_held(cur, event, exc)
                db.commit()
                log.error("relay_event_held", service=self.service, position=position,
                          event_type=event.event_type, error=repr(exc))
                continue
            reason = publish(event, envelope)
            with db.cursor() as cur:
                cur.execute(f"UPDATE {self.schema}.relay_held SET released_at = now(), "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                            "last_tried_at = now() WHERE relay = %s AND position = %s",
                            (self.name, position))
                if reason is not None:
                    cur.execute(
                        f"INSERT INTO {self.schema}.relay_unrouted (position, event_type, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "reason) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (position, event.event_type, reason))
            db.commit()
            released += 1
            log.info("relay_event_released", service=self.service, position=position,
                     event_type=event.event_type)
        return released

    def retry_unrouted(self, db, publish) -> int:
        """Offer returned events again, type by type: the oldest of each type first; if the
        broker routes it now, the rest of that type follow (`batch_size` at most per pass),
        else the type waits for the next pass. Delivered rows are deleted. Returns how many
        were delivered."""
        with db.cursor() as cur:
            cur.execute(f"SELECT DISTINCT event_type FROM {self.schema}.relay_unrouted")  # noqa: S608 - identifiers from code only; every value is a bound parameter
            types = [row[0] for row in cur.fetchall()]
        db.rollback()
        delivered = 0
        for event_type in types:
            with db.cursor() as cur:
                cur.execute(f"SELECT position FROM {self.schema}.relay_unrouted "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                            "WHERE event_type = %s ORDER BY position LIMIT %s",
                            (event_type, self.batch_size))
                positions = [row[0] for row in cur.fetchall()]
            db.rollback()
            for position in positions:
                event = self._event_at(db, position)
                try:
                    envelope = self.public_envelope(event)
                except Exception as exc:  # noqa: BLE001 - its code broke since: held instead
                    with db.cursor() as cur:
                        self._note_held(cur, event, exc)
                        cur.execute(f"DELETE FROM {self.schema}.relay_unrouted "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                                    "WHERE position = %s", (position,))
                    db.commit()
                    continue
                reason = publish(event, envelope)
                with db.cursor() as cur:
                    if reason is None:
                        cur.execute(f"DELETE FROM {self.schema}.relay_unrouted "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                                    "WHERE position = %s", (position,))
                    else:
                        cur.execute(f"UPDATE {self.schema}.relay_unrouted SET attempts = "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                                    "attempts + 1, last_tried_at = now(), reason = %s "
                                    "WHERE position = %s", (reason, position))
                db.commit()
                if reason is not None:
                    break  # still no queue for this type
                delivered += 1
        if delivered:
            log.info("relay_unrouted_delivered", service=self.service, count=delivered)
        return delivered

    def public_envelope(self, event) -> dict:
        """What goes on the bus, from an event as stored: the same envelope the events feed
        answers (shared/envelopes.py). Raises whatever an upcaster or redactor raises."""
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
