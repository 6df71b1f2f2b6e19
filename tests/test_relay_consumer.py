"""Outbox relay and idempotent consumers against real RabbitMQ and PostgreSQL."""

import json
import time
import uuid

import psycopg2
import pytest

from shared.consumer import idempotent_handler
from shared.db import Database
from shared.deadletters import discard_dead_letter, list_dead_letters, retry_dead_letter
from shared.errors import ValidationFailed
from shared.eventstore import NO_STREAM, EventStore, NewEvent
from shared.eventtypes import EventRegistry
from shared.service import ServiceBase
from shared.testing import create_scratch_log, wait_for
from tests.broker_proxy import BrokerProxy
from tests.helpers import (
    RelayThread,
    ThingHappened,
    append_things,
    create_effects_table,
    fetch,
    make_consumer_service,
)


@pytest.fixture
def source(database_url):
    return create_scratch_log(database_url)


@pytest.fixture
def consumer(database_url):
    schema = create_scratch_log(database_url)
    create_effects_table(database_url, schema)
    return schema


@pytest.fixture
def config(service_config):
    # scratch schemas have no per-service role; connect as the test database owner
    return {**service_config, "DB_ROLE_PER_SERVICE": False}


def effects(url, schema):
    return fetch(url, f"SELECT position, event_id::text, correlation_id, causation_id "
                      f"FROM {schema}.effects ORDER BY position")


def test_events_reach_a_plain_event_handler_in_order_with_context(
        database_url, source, consumer, config, container_factory):
    ids = append_things(database_url, source, 25)
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        wait_for(lambda: len(effects(database_url, consumer)) == 25, message="25 effects")
    rows = effects(database_url, consumer)
    assert [r[0] for r in rows] == list(range(1, 26))
    assert [r[1] for r in rows] == ids
    assert rows[0][2] == "corr-0", "correlation id travels from the event into the handler"
    assert rows[0][3] == ids[0], "changes made by a handler record the event as their cause"
    (checkpoint,) = fetch(database_url, f"SELECT position FROM {source}.relay_checkpoint")
    assert checkpoint == (25,)


def test_republished_events_are_applied_once(database_url, source, consumer, config,
                                             container_factory):
    append_things(database_url, source, 30)
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        wait_for(lambda: len(effects(database_url, consumer)) == 30)
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:  # forget the checkpoint: everything is published again
        cur.execute(f"DELETE FROM {source}.relay_checkpoint")
    conn.close()
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        # a marker published after the 30 duplicates: once it is applied, every duplicate
        # before it in the queue has been delivered; stopping the container drains them
        append_things(database_url, source, 1)
        wait_for(lambda: len(effects(database_url, consumer)) == 31, message="the marker")
    container.stop()
    rows = effects(database_url, consumer)
    assert [r[0] for r in rows] == list(range(1, 32))
    (count,) = fetch(database_url, f"SELECT count(*) FROM {consumer}.consumed")[0]
    assert count == 31


def test_failing_handler_is_retried_then_parked_and_can_be_retried_or_discarded(
        database_url, source, consumer, config, container_factory):
    append_things(database_url, source, 2, event_type="PoisonPill", per_stream=1)
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    conn = psycopg2.connect(database_url)
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        wait_for(lambda: len(list_dead_letters(conn, consumer)) == 2, message="2 dead letters")
        first, second = sorted(list_dead_letters(conn, consumer), key=lambda r: r["position"])
        assert first["error_type"] == "RuntimeError"
        assert "cannot digest n0" in first["error"]
        assert first["attempts"] == config["CONSUMER_RETRY_ATTEMPTS"]
        assert first["queue"] == f"evt-{source}-PoisonPill--{consumer}.on_poison"

        retry_dead_letter(conn, consumer, first["id"], config["AMQP_URI"], "operator")
        wait_for(lambda: [r["attempts"] for r in list_dead_letters(conn, consumer)
                          if r["id"] == first["id"]] == [2 * first["attempts"]],
                 message="the retried event fails again and is parked again")
        discard_dead_letter(conn, consumer, second["id"], "operator", "known bad test data")
        with pytest.raises(ValidationFailed):
            discard_dead_letter(conn, consumer, second["id"], "operator", "twice")
    remaining = list_dead_letters(conn, consumer, status=None)
    assert {r["status"] for r in remaining} == {"parked", "discarded"}
    conn.close()


def test_events_nobody_listens_to_are_recorded_as_unrouted(database_url, source, config):
    append_things(database_url, source, 3, event_type="NobodyListens")
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        wait_for(lambda: len(fetch(database_url,
                                   f"SELECT * FROM {source}.relay_unrouted")) == 3)
    rows = fetch(database_url, f"SELECT position, event_type, reason FROM {source}.relay_unrouted")
    assert [r[0] for r in rows] == [1, 2, 3]
    assert "NO_ROUTE" in rows[0][2] or "312" in rows[0][2]


def test_an_idle_relay_keeps_its_broker_connection(database_url, source, consumer, config,
                                                   container_factory):
    """The relay reads and sends heartbeats while it has nothing to publish: RabbitMQ drops a
    connection whose heartbeats stop, and a relay that only finds out at its next publish
    cannot tell a dead broker from a quiet log (issue 12, defect 13)."""
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    with RelayThread(database_url, source, source, config["AMQP_URI"], heartbeat=1) as relay:
        append_things(database_url, source, 1)
        wait_for(lambda: len(effects(database_url, consumer)) == 1, message="the first event")
        time.sleep(5)  # idle for several heartbeat periods: the broker gives up after two
        append_things(database_url, source, 1)
        wait_for(lambda: len(effects(database_url, consumer)) == 2, message="the second event")
        assert relay.relay.connections == 1, "the idle connection was dropped and made again"


# -- faults (issue 13 part 3) -----------------------------------------------------------------

@pytest.fixture
def proxy():
    """A TCP forwarder to the broker the test can pause (half-open) or cut."""
    proxy = BrokerProxy().start()
    yield proxy
    proxy.stop()


def leader_session(url, schema, name="relay"):
    """The PostgreSQL backend holding `schema`'s relay leader lock, or None."""
    rows = fetch(url, """
        SELECT pid FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND classid::bigint = ((hashtext(%(key)s)::bigint >> 32) & 4294967295)
           AND objid::bigint = (hashtext(%(key)s)::bigint & 4294967295)""",
                 {"key": f"simasn.relay.{schema}.{name}"})
    return rows[0][0] if rows else None


def checkpoint_of(url, schema):
    rows = fetch(url, f"SELECT position FROM {schema}.relay_checkpoint WHERE relay = 'relay'")
    return rows[0][0] if rows else 0


@pytest.mark.parametrize("detected_by", ["heartbeats", "confirm timeout"])
def test_a_broker_that_stops_answering_mid_publish_hands_the_log_to_a_standby(
        detected_by, database_url, source, consumer, config, container_factory, proxy):
    """A half-open connection (the broker, or the network to it, silent without a reset) used
    to block the publisher-confirm wait for ever while the leader lock was held, so no standby
    could take over. Now the wait services heartbeats (a silent peer is found after two
    heartbeat intervals) and is bounded by `confirm_timeout`; the leader then lets go of its
    lock, a standby publishes, and nothing unconfirmed was checkpointed."""
    timing = ({"heartbeat": 1, "confirm_timeout": 600} if detected_by == "heartbeats"
              else {"heartbeat": 0, "confirm_timeout": 1})
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    amqp = config["AMQP_URI"]
    with RelayThread(database_url, source, source, proxy.uri(amqp), **timing):
        append_things(database_url, source, 1)
        wait_for(lambda: len(effects(database_url, consumer)) == 1, message="the first event")
        first_leader = leader_session(database_url, source)
        proxy.pause()
        append_things(database_url, source, 5)
        wait_for(lambda: leader_session(database_url, source) != first_leader, timeout=30,
                 message="the stuck leader to let go of its lock")
        assert checkpoint_of(database_url, source) == 1, "nothing unconfirmed is checkpointed"
        with RelayThread(database_url, source, source, amqp, **timing) as standby:
            wait_for(lambda: len(effects(database_url, consumer)) == 6, timeout=30,
                     message="the standby to publish the rest")
            assert standby.relay.connections == 1
    assert [r[0] for r in effects(database_url, consumer)] == list(range(1, 7))
    assert checkpoint_of(database_url, source) == 6


def test_a_silent_broker_is_noticed_while_idle_and_a_standby_takes_over(
        database_url, source, consumer, config, container_factory, proxy):
    """An idle leader whose broker stops answering notices it by its heartbeats, drops the
    connection without waiting for the broker to agree, and lets go of its lock."""
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    amqp = config["AMQP_URI"]
    with RelayThread(database_url, source, source, proxy.uri(amqp), heartbeat=1):
        append_things(database_url, source, 1)
        wait_for(lambda: len(effects(database_url, consumer)) == 1, message="the first event")
        first_leader = leader_session(database_url, source)
        with RelayThread(database_url, source, source, amqp, heartbeat=1):
            proxy.pause()
            wait_for(lambda: leader_session(database_url, source) not in (None, first_leader),
                     timeout=30, message="the standby to take the lock")
            append_things(database_url, source, 1)
            wait_for(lambda: len(effects(database_url, consumer)) == 2, timeout=30,
                     message="the standby to publish")


def test_a_connection_cut_mid_batch_loses_nothing(database_url, source, consumer, config,
                                                 container_factory, proxy):
    """The connection reset while a batch is being published: what was not confirmed is not
    checkpointed, the relay reconnects and every event arrives (once, by idempotency)."""
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    append_things(database_url, source, 400)  # committed before the relay reads: one batch
    with RelayThread(database_url, source, source, proxy.uri(config["AMQP_URI"]),
                     batch_size=1000) as relay:
        wait_for(lambda: effects(database_url, consumer), message="publishing under way")
        proxy.cut()
        cut_at = checkpoint_of(database_url, source)
        proxy.restore()
        wait_for(lambda: len(effects(database_url, consumer)) == 400, timeout=60,
                 message="every event after the reconnect")
        assert relay.relay.connections >= 2
    assert cut_at in (0, 400), "a batch is checkpointed whole or not at all"
    assert [r[0] for r in effects(database_url, consumer)] == list(range(1, 401))


# what the writer of the log knew (version 1 of Legacy) and what the relay reads with: a
# Secret's redactor and Legacy's upcaster that raise until the test "fixes the code"
WRITTEN = EventRegistry("scratch")
RELAYED = EventRegistry("scratch")
for _registry in (WRITTEN, RELAYED):
    _registry.event("ThingHappened", version=1)(ThingHappened)
    _registry.event("Secret", version=1)(ThingHappened)
    _registry.event("Legacy", version=1)(ThingHappened)
RELAYED.event("Legacy", version=2)(ThingHappened)
BROKEN = {"fixed": False}


@pytest.fixture
def receiving(database_url, consumer):
    """The consumer schema with a table of what a `make_receiver` service received."""
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {consumer}.received (position bigint, event_type text, "
                    "payload jsonb)")
    conn.close()
    return consumer


def received_by(url, schema):
    return fetch(url, f"SELECT position, event_type, payload FROM {schema}.received "
                      "ORDER BY position")


@RELAYED.redactor("Secret")
def _secret_public(payload):
    if not BROKEN["fixed"]:
        raise KeyError("nik")
    return {"name": "[withheld]"}


@RELAYED.upcaster("Legacy", from_version=1)
def _legacy_v2(payload):
    if not BROKEN["fixed"]:
        raise ValueError("cannot lift Legacy v1")
    return {**payload, "count": 1}


def make_receiver(name: str, source: str):
    """Notes every ThingHappened, Secret, Legacy and NobodyListens it receives."""

    class Receiver(ServiceBase):
        db = Database()

        def _note(self, uow, event):
            uow.execute("INSERT INTO received (position, event_type, payload) "
                        "VALUES (:p, :t, CAST(:b AS jsonb))",
                        {"p": event.position, "t": event.event_type,
                         "b": json.dumps(event.payload)})

        @idempotent_handler(source, "ThingHappened")
        def on_thing(self, uow, event):
            self._note(uow, event)

        @idempotent_handler(source, "Secret")
        def on_secret(self, uow, event):
            self._note(uow, event)

        @idempotent_handler(source, "Legacy")
        def on_legacy(self, uow, event):
            self._note(uow, event)

        @idempotent_handler(source, "NobodyListens")
        def on_nobody(self, uow, event):
            self._note(uow, event)

    Receiver.name = name
    return Receiver


@pytest.mark.parametrize("poison", ["Secret", "Legacy"])
def test_a_poison_event_is_held_and_the_rest_of_its_log_flows(
        poison, database_url, source, receiving, config, container_factory):
    """An event whose redactor (Secret) or upcaster (Legacy) raises used to stop its whole
    log's relay for ever. Now it is held (recorded with its error, never published
    unredacted), the rest of the log flows past it, and once the code is fixed an operator's
    retry publishes it."""
    BROKEN["fixed"] = False
    container = container_factory(make_receiver(receiving, source), config)
    container.start()
    store = EventStore(source, WRITTEN)
    conn = psycopg2.connect(database_url)
    for event_type in ("ThingHappened", poison, "ThingHappened"):
        with conn:
            store.append(conn, f"s-{uuid.uuid4().hex[:8]}", "Thing", NO_STREAM,
                         [NewEvent(event_type, {"name": "Budi", "count": 0})], {})
    conn.close()
    received = lambda: received_by(database_url, receiving)  # noqa: E731
    with RelayThread(database_url, source, source, config["AMQP_URI"], registry=RELAYED):
        wait_for(lambda: [r[0] for r in received()] == [1, 3], message="the events around it")
        held = fetch(database_url, f"SELECT position, event_type, error_type, error "
                                   f"FROM {source}.relay_held WHERE released_at IS NULL")
        assert [(p, t, k) for p, t, k, _ in held] == [
            (2, poison, "KeyError" if poison == "Secret" else "ValueError")]
        from shared.relayops import relay_status, request_retry

        conn = psycopg2.connect(database_url)
        try:
            status = relay_status(conn, source)
            assert status["held"] == 1 and status["relays"][0]["lag"] == 0

            BROKEN["fixed"] = True  # the code is fixed (and deployed)
            assert request_retry(conn, source) == 1
        finally:
            conn.close()
        wait_for(lambda: [r[0] for r in received()] == [1, 2, 3], message="the held event")
    (_, event_type, payload), = [r for r in received() if r[0] == 2]
    assert payload == ({"name": "[withheld]"} if poison == "Secret"
                       else {"name": "Budi", "count": 1})
    assert fetch(database_url, f"SELECT count(*) FROM {source}.relay_held "
                               "WHERE released_at IS NULL") == [(0,)]


def test_unrouted_events_are_delivered_once_a_queue_is_bound(
        database_url, source, receiving, config, container_factory):
    """Events nobody listened to used to be recorded and never sent again. Once a queue is
    bound for their type they are delivered (the relay retries them when it starts, every
    `retry_interval`, and when an operator asks) and their rows cleared."""
    append_things(database_url, source, 2, event_type="NobodyListens")
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        wait_for(lambda: len(fetch(database_url,
                                   f"SELECT * FROM {source}.relay_unrouted")) == 2)
    container = container_factory(make_receiver(receiving, source), config)
    container.start()  # its queue for NobodyListens is bound now
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        wait_for(lambda: [r[0] for r in received_by(database_url, receiving)] == [1, 2],
                 message="the unrouted events delivered")
        wait_for(lambda: fetch(database_url, f"SELECT count(*) FROM {source}.relay_unrouted")
                 == [(0,)], message="their rows cleared")


def make_racing_service(name: str):
    """Two handlers of one event that both append to one stream, `tally`, each deciding on
    the version it read. Their first attempts are made to overlap: each reads, then waits for
    the other to have read too, so one of the two appends must meet a ConcurrencyError."""
    import eventlet

    both_read, readers = eventlet.Event(), []

    def decide(uow, event, by):
        version = uow.store.stream_version(uow.dbapi, "tally")
        if not both_read.ready():
            readers.append(by)
            if len(readers) == 2:
                both_read.send()
            with eventlet.Timeout(10, False):
                both_read.wait()
        uow.append("tally", "Tally", version, [NewEvent("Tallied", {"by": by})])

    class Racing(ServiceBase):
        db = Database()

        # two subscriptions: a subscription has one handler per event type
        @idempotent_handler(name, "ThingHappened", subscription=f"{name}.first")
        def first(self, uow, event):
            decide(uow, event, "first")

        @idempotent_handler(name, "ThingHappened", subscription=f"{name}.second")
        def second(self, uow, event):
            decide(uow, event, "second")

    Racing.name = name
    return Racing


def test_a_consumer_that_loses_a_race_decides_again(database_url, source, consumer, config,
                                                    container_factory):
    """A ConcurrencyError in a handler means the stream moved while it decided: it is retried
    with fresh state (like any transient failure), not dead-lettered on the first try."""
    container = container_factory(make_racing_service(consumer), config)
    container.start()
    with RelayThread(database_url, consumer, consumer, config["AMQP_URI"]):
        append_things(database_url, consumer, 1)
        wait_for(lambda: fetch(database_url, f"SELECT count(*) FROM {consumer}.events "
                                             "WHERE stream_id = 'tally'") == [(2,)],
                 message="both handlers' decisions in the tally stream")
    letters = fetch(database_url, f"SELECT consumer, error_type FROM {consumer}.dead_letters")
    assert letters == [], "the conflict was decided again, not parked"
    versions = fetch(database_url, f"SELECT version, payload->>'by' FROM {consumer}.events "
                                   "WHERE stream_id = 'tally' ORDER BY version")
    assert sorted(by for _, by in versions) == ["first", "second"]
