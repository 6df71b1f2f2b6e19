"""Issue 14, part 2 (AMQP push): a kabupaten/kota publishes signed batches with pika as its own
RabbitMQ user on its own exchange; sync consumes them through the same ingestion use case as the
HTTP route (usecases/receiving.receive), acks after the commit, dead-letters refusals into the
region's log; the region's user reaches nothing else. Real RabbitMQ and PostgreSQL."""

import json
import secrets

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from services.records.service import RecordsService
from services.registry import service_classes
from services.sync.service import SyncService
from shared import brokerauth
from tests import sync_helpers
from tests.gateway_helpers import http_login
from tests.identity_helpers import rpc, unique_nip
from tests.sync_helpers import change, inbound, onboard, region_client, sync_log, wait_status
from tests.test_sync_apply import SYSTEM, registration

NIP = "198503152010012003"


@pytest.fixture
def feed(start_gateway, own_database):
    def start(*services):
        client, people, config = start_gateway(SyncService, *services,
                                               DATABASE_URL=own_database)
        admin = http_login(client, people, people.staff(["administrator"]))
        return client, admin, config

    start.url = own_database
    return start


def publish(url, region, batches, **kwargs):
    return region_client.publish_batches(url, region.code, region.key_id, region.secret,
                                         batches, **kwargs)


def test_a_region_publishes_as_its_own_user_and_the_batch_is_received_like_http(
        feed, broker_region):
    client, admin, _ = feed()
    region = onboard(client, admin, "3507")
    url = broker_region("3507")
    first, second, third = (change(n, NIP) for n in (1, 2, 3))
    # the same events over HTTP and over AMQP are one: duplicates by (sequence, event id)
    assert region.send([first])[0] == 200
    publish(url, region, [[first, second], [third]])
    state = wait_status(client, admin, "3507", lambda s: s["received_through"] == 3,
                        "the published batches recorded")
    assert state["amqp_rejected"] == 0 and state["missing"] == []
    assert sorted(inbound(feed.url, "3507")) == [1, 2, 3]
    assert [e["sequence"] for e in sync_log(feed.url, "3507", "SyncEventDuplicated")] == [1]
    # the two messages may be handled side by side, in either order: the sequence decides
    received = {e["sequence"]: e for e in sync_log(feed.url, "3507", "SyncEventReceived")}
    assert sorted(received) == [1, 2, 3]
    assert json.loads(received[2]["raw"])["event_id"] == second["event_id"]
    assert len(sync_log(feed.url, "3507", "SyncBatchReceived")) == 3


def test_a_refused_message_is_dead_lettered_with_its_reason_and_counted(feed, broker_region):
    client, admin, _ = feed()
    region = onboard(client, admin, "3507")
    url = broker_region("3507")
    body = json.dumps({"events": [change(1, NIP)]}).encode()
    forged = region_client.batch_headers("3507", region.key_id, "not-the-secret", body)
    malformed = b"not json"
    publish(url, region, [[], []], bodies=[body, malformed], headers=[
        forged, region_client.batch_headers("3507", region.key_id, region.secret, malformed)])
    state = wait_status(client, admin, "3507", lambda s: s["amqp_rejected"] == 2,
                        "both messages dead-lettered")
    # the two messages may be handled side by side, in either order: the status names the
    # refusal the log recorded last
    rejected = {r["code"]: r for r in sync_log(feed.url, "3507", "SyncAmqpMessageRejected")}
    assert sorted(rejected) == ["batch_malformed", "signature_invalid"]
    last = sync_log(feed.url, "3507", "SyncAmqpMessageRejected")[-1]["code"]
    assert state["last_amqp_rejection"]["code"] == last
    assert rejected["signature_invalid"]["headers"]["X-Simasn-Batch-Id"] == \
        forged["X-Simasn-Batch-Id"]
    assert inbound(feed.url, "3507") == {} and state["last_sequence"] == 0
    # the forged batch's id was not taken: the region sends it again, signed, and it counts
    signed = region_client.batch_headers("3507", region.key_id, region.secret, body,
                                         batch_id=forged["X-Simasn-Batch-Id"])
    publish(url, region, [[]], bodies=[body], headers=[signed])
    wait_status(client, admin, "3507", lambda s: s["received_through"] == 1, "taken")


def test_a_regions_user_may_publish_only_on_its_own_exchange(feed, broker_region):
    client, admin, _ = feed()
    region = onboard(client, admin, "3507")
    onboard(client, admin, "3573")
    url = broker_region("3507")
    broker_region("3573")
    batch = [change(1, NIP)]
    # a batch on another region's exchange, claiming to be that region, signed with its own key
    body = json.dumps({"events": batch}).encode()
    with pytest.raises(ChannelClosedByBroker) as refused:
        _on_channel(url, lambda ch: ch.basic_publish(
            "sync.region.3573", "batch", body, pika.BasicProperties(
                headers=region_client.batch_headers("3573", region.key_id, region.secret,
                                                    body))))
    assert refused.value.reply_code == 403
    for attempt in (lambda ch: ch.basic_get(brokerauth.REGION_BATCH_QUEUE),
                    lambda ch: ch.exchange_declare("sync.region.3507x", "direct"),
                    lambda ch: ch.queue_declare("", exclusive=True),
                    lambda ch: ch.queue_bind(brokerauth.REGION_BATCH_QUEUE,
                                             "sync.region.3507", "batch"),
                    lambda ch: ch.basic_publish("", brokerauth.REGION_BATCH_QUEUE, b"x")):
        with pytest.raises(ChannelClosedByBroker) as refused:
            _on_channel(url, attempt)
        assert refused.value.reply_code == 403
    assert inbound(feed.url, "3573") == {}


def _on_channel(url, action):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        action(channel)
    finally:
        if connection.is_open:
            connection.close()


def test_published_events_are_applied_to_records(feed, broker_region):
    client, admin, config = feed(RecordsService)
    region = onboard(client, admin, "3507")
    url = broker_region("3507")
    nip = unique_nip()
    register = registration(1, nip)
    rename = change(2, nip, data={"changes": {"name": "Siti Aminah"}})
    publish(url, region, [[rename], [register]])  # reordered: held, then applied in order
    wait_status(client, admin, "3507", lambda s: s["applied_through"] == 2, "applied")
    with rpc(config, SYSTEM, service="records") as records:
        assert records.get_employee(nip)["name"] == "Siti Aminah"
    # sent again over HTTP: one in effect
    again = region.send([register, rename])[1]
    assert [e["outcome"] for e in again["events"]] == ["duplicate", "duplicate"]
    assert len(sync_log(feed.url, "3507", "SyncEventApplied")) == 2


def test_a_batch_published_twice_is_refused_by_its_id_and_counted(feed, broker_region):
    """A captured message published again (not a broker redelivery) is a replay: the batch id
    is taken for ever, across both transports."""
    client, admin, _ = feed()
    region = onboard(client, admin, "3507")
    url = broker_region("3507")
    body = json.dumps({"events": [change(1, NIP)]}).encode()
    signed = region_client.batch_headers("3507", region.key_id, region.secret, body)
    publish(url, region, [[], []], bodies=[body, body], headers=[signed, signed])
    state = wait_status(client, admin, "3507", lambda s: s["amqp_rejected"] == 1, "replay")
    assert state["last_amqp_rejection"]["code"] == "batch_replayed"
    assert state["received_through"] == 1
    assert len(sync_log(feed.url, "3507", "SyncBatchReceived")) == 1
    # the same batch id over HTTP: one namespace
    answer = region.send([change(2, NIP)], batch_id=signed["X-Simasn-Batch-Id"])
    assert answer[0] == 409


def test_syncs_own_broker_user_may_declare_and_consume_the_batch_queue(request, rabbit_config):
    """Under `simasn broker setup` sync runs as its own user: its grant covers the queue."""
    management = sync_helpers.management(request)
    grant = brokerauth.grant_for("sync", service_classes(), f"t{secrets.token_hex(4)}-")
    password = secrets.token_urlsafe(16)
    vhost = rabbit_config["vhost"]
    management.call("PUT", f"/api/users/{grant.user}", {"password": password, "tags": ""})
    try:
        management.call("PUT", f"/api/permissions/{vhost}/{grant.user}", {
            "configure": grant.configure, "write": grant.write, "read": grant.read})
        url = brokerauth.uri_for(rabbit_config["AMQP_URI"], grant.user, password).replace(
            "pyamqp://", "amqp://", 1)
        management.call("PUT", f"/api/exchanges/{vhost}/sync.region.3507", {
            "type": "direct", "durable": True})
        _on_channel(url, lambda ch: (ch.queue_declare(brokerauth.REGION_BATCH_QUEUE,
                                                      durable=True),
                                     ch.basic_get(brokerauth.REGION_BATCH_QUEUE)))
        with pytest.raises(ChannelClosedByBroker) as refused:  # it never publishes as a region
            _on_channel(url, lambda ch: ch.basic_publish("sync.region.3507", "batch", b"x"))
        assert refused.value.reply_code == 403
    finally:
        management.call("DELETE", f"/api/users/{grant.user}")
