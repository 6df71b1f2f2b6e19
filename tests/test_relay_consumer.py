"""Outbox relay and idempotent consumers against real RabbitMQ and PostgreSQL."""

import time

import psycopg2
import pytest

from shared.deadletters import discard_dead_letter, list_dead_letters, retry_dead_letter
from shared.errors import ValidationFailed
from shared.testing import create_scratch_log, wait_for
from tests.helpers import (
    RelayThread,
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
