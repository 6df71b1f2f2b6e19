"""Catch-up subscriptions (issue 13 part 2) against real RabbitMQ and PostgreSQL: a consumer
started late reads the history from the source's feed; a live message that never arrived is
fetched when a later one reveals the gap; the feed is redacted exactly as the bus; only
services may read a feed."""

import uuid

import psycopg2
import pytest
from kombu import Connection, Queue
from marshmallow import Schema, fields
from nameko.standalone.rpc import ServiceRpcProxy

from shared.db import Database
from shared.eventstore import NO_STREAM, EventStore, NewEvent
from shared.eventtypes import EventRegistry
from shared.relay import event_exchange
from shared.service import ServiceBase
from shared.subscriptions import FEED_PAGE_MAX
from shared.testing import create_scratch_log, wait_for
from tests.helpers import (
    REGISTRY,
    RelayThread,
    append_things,
    create_effects_table,
    fetch,
    make_consumer_service,
    raises_code,
    signed,
)

SYSTEM = {"actor_id": "service:test", "actor_role": "system", "actor_roles": ["system"]}

SECRET_REGISTRY = EventRegistry("secret")


@SECRET_REGISTRY.event("SecretNoted", version=1)
class SecretNoted(Schema):
    name = fields.String(required=True)
    secret = fields.String(load_default=None)


@SECRET_REGISTRY.redactor("SecretNoted")
def _secret_public(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "secret"}


def make_source_service(source: str, registry=REGISTRY):
    """The service whose log is `source`: it serves that log's feed (shared/service.py)."""

    class Source(ServiceBase):
        db = Database(registry)

    Source.name = source
    return Source


@pytest.fixture
def source(database_url):
    return create_scratch_log(database_url)


@pytest.fixture
def consumer(database_url):
    schema = create_scratch_log(database_url)
    create_effects_table(database_url, schema)
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:  # the order effects were written in
        cur.execute(f"ALTER TABLE {schema}.effects ADD COLUMN seq bigserial")
    conn.close()
    return schema


@pytest.fixture
def config(service_config):
    # scratch schemas have no per-service role; no periodic sweep beyond the one at start, so
    # what a test sees was done by the start-up catch-up or by a live event's gap
    return {**service_config, "DB_ROLE_PER_SERVICE": False, "SUBSCRIPTION_SWEEP_SECONDS": 3600}


def effects(url, schema):
    return fetch(url, f"SELECT position, event_id::text, correlation_id FROM {schema}.effects "
                      "ORDER BY seq")


def subscription_position(url, schema, name, source):
    rows = fetch(url, f"SELECT position FROM {schema}.subscriptions WHERE name = %s AND "
                      "source = %s", (name, source))
    return rows[0][0] if rows else None


def feed(config, source, *args, context=SYSTEM):
    with ServiceRpcProxy(source, config, context_data=signed(context, config)) as proxy:
        return proxy.events_feed(*args)


def test_a_consumer_started_after_the_events_catches_up_from_the_feed(
        database_url, source, consumer, config, container_factory):
    ids = append_things(database_url, source, 230)  # more than one feed page (200)
    # nothing reached the bus for this consumer: its queue did not exist when they happened
    container_factory(make_source_service(source), config).start()
    container_factory(make_consumer_service(consumer, source), config).start()
    wait_for(lambda: len(effects(database_url, consumer)) == 230, message="230 effects")
    rows = effects(database_url, consumer)
    assert [r[0] for r in rows] == list(range(1, 231)), "handled once each, in log order"
    assert [r[1] for r in rows] == ids
    assert rows[0][2] == "corr-0", "the correlation id travels as it would on the bus"
    wait_for(lambda: subscription_position(database_url, consumer, consumer, source) == 230,
             message="the position reaches the head")

    # then it continues live
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        append_things(database_url, source, 3)
        wait_for(lambda: len(effects(database_url, consumer)) == 233, message="live events")
    assert sorted(r[0] for r in effects(database_url, consumer)) == list(range(1, 234))
    assert subscription_position(database_url, consumer, consumer, source) == 233


def test_a_lost_live_message_is_fetched_when_a_later_one_reveals_the_gap(
        database_url, source, consumer, config, container_factory):
    container_factory(make_source_service(source), config).start()
    container_factory(make_consumer_service(consumer, source), config).start()
    wait_for(lambda: subscription_position(database_url, consumer, consumer, source) == 0,
             message="the subscription starts (at zero: nothing consumed yet)")
    with RelayThread(database_url, source, source, config["AMQP_URI"], name="lossy"):
        append_things(database_url, source, 1)
        wait_for(lambda: len(effects(database_url, consumer)) == 1, message="the first event")
    append_things(database_url, source, 1, event_type="NobodyListens")  # position 2, not ours
    append_things(database_url, source, 1)  # position 3: ours, and lost on the way
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:  # the relay never publishes 2 and 3
        cur.execute(f"UPDATE {source}.relay_checkpoint SET position = 3 WHERE relay = 'lossy'")
    conn.close()
    assert len(effects(database_url, consumer)) == 1
    with RelayThread(database_url, source, source, config["AMQP_URI"], name="lossy"):
        append_things(database_url, source, 1)  # position 4 arrives live: 3 is missing
        wait_for(lambda: len(effects(database_url, consumer)) == 3, message="3 and 4")
    assert [r[0] for r in effects(database_url, consumer)] == [1, 3, 4], \
        "the missing event is handled first, then the live one"
    assert subscription_position(database_url, consumer, consumer, source) == 4


def test_a_gap_the_feed_cannot_fill_does_not_hold_up_the_live_event(
        database_url, source, consumer, config, container_factory):
    """No source service answers the feed: the live event is handled anyway and the position
    stays below the gap, so it is still known (and filled once the feed answers)."""
    container = container_factory(make_consumer_service(consumer, source), config)
    container.start()
    append_things(database_url, source, 2)
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {source}.relay_checkpoint (relay, position) VALUES ('r', 1)")
    conn.close()
    with RelayThread(database_url, source, source, config["AMQP_URI"], name="r"):
        wait_for(lambda: len(effects(database_url, consumer)) == 1, message="the live event")
    assert [r[0] for r in effects(database_url, consumer)] == [2]
    assert subscription_position(database_url, consumer, consumer, source) == 0
    container.stop()
    container_factory(make_source_service(source), config).start()
    container_factory(make_consumer_service(consumer, source), config).start()
    wait_for(lambda: len(effects(database_url, consumer)) == 2, message="the gap filled")
    assert sorted(r[0] for r in effects(database_url, consumer)) == [1, 2]
    wait_for(lambda: subscription_position(database_url, consumer, consumer, source) == 2,
             message="position 2")


def test_the_feed_is_redacted_exactly_as_the_bus(database_url, source, config,
                                                 container_factory):
    store = EventStore(source, SECRET_REGISTRY)
    conn = psycopg2.connect(database_url)
    with conn:
        store.append(conn, f"secret-{uuid.uuid4().hex[:6]}", "Secret", NO_STREAM,
                     [NewEvent("SecretNoted", {"name": "a", "secret": "hukuman disiplin"})],
                     {"actor_id": "198503152010012003", "actor_role": "pegawai",
                      "opd_id": "dkp", "reason": "rahasia", "correlation_id": "c-1"})
    conn.close()
    container_factory(make_source_service(source, SECRET_REGISTRY), config).start()
    with Connection(config["AMQP_URI"]) as amqp:
        queue = Queue(f"probe-{uuid.uuid4().hex[:6]}", exchange=event_exchange(source),
                      routing_key="SecretNoted", exclusive=True)
        queue(amqp.channel()).declare()
        relay = RelayThread(database_url, source, source, config["AMQP_URI"])
        relay.relay.store = EventStore(source, SECRET_REGISTRY)  # the service's redactors
        with relay:
            message = wait_for(lambda: queue(amqp.channel()).get(no_ack=True),
                               message="the event on the bus")
    on_the_bus = message.decode()
    page = feed(config, source, 0, 10, ["SecretNoted"])
    assert page["events"] == [on_the_bus]
    assert on_the_bus["redacted"] is True and "secret" not in on_the_bus["payload"]
    assert "reason" not in on_the_bus["metadata"] and "actor_id" not in on_the_bus["metadata"]
    assert page["head"] == 1 and page["until"] == 1


def test_the_feed_pages_filters_and_is_for_services_only(database_url, source, config,
                                                        container_factory):
    append_things(database_url, source, 5)
    append_things(database_url, source, 2, event_type="NobodyListens")
    append_things(database_url, source, 1)
    container_factory(make_source_service(source), config).start()
    page = feed(config, source, 0, 3, ["ThingHappened"])
    assert [e["position"] for e in page["events"]] == [1, 2, 3]
    assert page["until"] == 3 and page["head"] == 8
    page = feed(config, source, 3, 3, ["ThingHappened"])
    assert [e["position"] for e in page["events"]] == [4, 5, 8] and page["until"] == 8
    page = feed(config, source, 5, 10, ["ThingHappened"])
    assert [e["position"] for e in page["events"]] == [8] and page["until"] == 8
    assert [e["position"] for e in feed(config, source, 0, 10)["events"]] == list(range(1, 9))
    with raises_code("validation_failed"):
        feed(config, source, 0, FEED_PAGE_MAX + 1)
    with raises_code("validation_failed"):
        feed(config, source, -1, 10)
    administrator = {"actor_id": "admin.bkd", "actor_role": "administrator",
                     "actor_roles": ["administrator"], "actor_scope": []}
    with raises_code("forbidden"):
        feed(config, source, 0, 10, context=administrator)
    with ServiceRpcProxy(source, config) as anonymous, raises_code("unauthorized"):
        anonymous.events_feed(0, 10)


def test_status_shows_the_lag_per_consumer_and_source(database_url, source, consumer, config,
                                                     container_factory, admin_conn):
    from shared.projections_admin import status

    append_things(database_url, source, 4)
    container_factory(make_source_service(source), config).start()
    container_factory(make_consumer_service(consumer, source), config).start()
    wait_for(lambda: subscription_position(database_url, consumer, consumer, source) == 4,
             message="caught up at start")
    append_things(database_url, source, 3)  # nobody relays them; the next sweep is an hour off
    (row,) = status(admin_conn, [consumer])
    assert (row["consumer"], row["service"], row["source"]) == (consumer, consumer, source)
    assert (row["position"], row["head"], row["lag"]) == (4, 7, 3)


def test_the_catch_up_and_live_deliveries_racing_over_the_same_events_apply_each_once(
        database_url, source, consumer, config, container_factory):
    """The start-up catch-up reads the feed while the relay publishes the same events to the
    live queue (ten workers at once): whichever commits second finds the `consumed` marker."""
    append_things(database_url, source, 150)
    container_factory(make_source_service(source), config).start()
    with RelayThread(database_url, source, source, config["AMQP_URI"]):
        container = container_factory(make_consumer_service(consumer, source), config)
        container.start()
        wait_for(lambda: len(effects(database_url, consumer)) >= 150, message="150 effects")
        append_things(database_url, source, 1)  # a marker behind the live duplicates
        wait_for(lambda: len(effects(database_url, consumer)) >= 151, message="the marker")
    container.stop()  # lets the workers still running finish
    positions = [r[0] for r in effects(database_url, consumer)]
    assert sorted(positions) == list(range(1, 152)), "each event applied exactly once"


def test_a_batched_catch_up_applies_pages_whole_and_a_poison_event_one_by_one(
        database_url, source, consumer, config, container_factory):
    """`batched_catch_up`: a page (the feed's largest, 500) in one transaction, markers,
    effects and position; a page holding an event whose handler fails is handled one event at
    a time instead, so the good events of that page are applied and the poison one is parked
    alone."""
    append_things(database_url, source, 120, per_stream=50)
    append_things(database_url, source, 1, event_type="PoisonPill")  # position 121
    append_things(database_url, source, 500, per_stream=50)
    container_factory(make_source_service(source), config).start()
    batched = make_consumer_service(consumer, source)
    batched.batched_catch_up = {consumer: None}  # its handlers called in turn
    container_factory(batched, config).start()
    wait_for(lambda: subscription_position(database_url, consumer, consumer, source) == 621,
             message="the position reaches the head")
    rows = effects(database_url, consumer)
    assert [r[0] for r in rows] == [p for p in range(1, 622) if p != 121], \
        "each good event applied once, in log order"
    (parked,) = fetch(database_url, f"SELECT position, error FROM {consumer}.dead_letters")
    assert parked[0] == 121 and "cannot digest" in parked[1]
    markers = fetch(database_url, f"SELECT count(*) FROM {consumer}.consumed")[0][0]
    assert markers == 620
    # one event per transaction names its event as the cause; a page's transaction names none
    caused = dict(fetch(database_url, f"SELECT position, causation_id IS NOT NULL FROM "
                                      f"{consumer}.effects"))
    assert all(caused[p] for p in range(1, 501) if p != 121), "the poisoned page: one by one"
    assert not any(caused[p] for p in range(501, 622)), "the next page: whole"
