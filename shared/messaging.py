"""Nameko's RPC and event entrypoints, made to ride out a broker outage.

Nameko kills the whole service container when a worker thread raises, and one of its own
steps raises when RabbitMQ goes away while an RPC worker is running: publishing the reply
(`Responder.send_response`, after three retries: `OperationalError: ECONNREFUSED`). A RabbitMQ
restart of nine seconds killed the signing service that way, and nothing restarted it
(issue 12).

Here that step only logs. Nothing is lost: a request that was neither answered nor acked goes
back to its queue (the broker requeues what an unacked, closed channel held; a live channel is
asked to), and is delivered again once the QueueConsumer has reconnected — kombu's
ConsumerMixin reconnects with backoff by itself. The redelivered call runs again and its answer
reaches a caller still waiting (a state-changing call repeated with its Idempotency-Key answers
what the first run did, shared/idempotency.py).

RPC requests and replies are transient (delivery mode 1, `TransientPublisher`); events stay
persistent (the outbox relay, shared/relay.py). A request is only worth anything while its
caller waits on its reply queue, which the broker deletes with the caller's connection: after a
broker restart no caller is left to receive an answer, so a persisted request would only run a
command whose caller has already been told it timed out. Persisting them cost RabbitMQ a disk
write per message and held every publisher confirm until it was done
(docs/design/performance.md). A request a service had not acked when its own connection broke is
still requeued by the broker, transient or not.

Event handlers need nothing more: Nameko skips the ack of a message whose channel has lost its
connection, the broker delivers it again, and the idempotent consumer (shared/consumer.py)
makes that a no-op (tests/test_broker_outage.py)."""

from __future__ import annotations

import amqp.exceptions
from kombu.exceptions import OperationalError
from nameko import rpc as nameko_rpc
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    NON_PERSISTENT,
    SERIALIZER_CONFIG_KEY,
)

from shared.logging import get_logger

log = get_logger(__name__)

#: what a publish, ack or requeue raises when the broker connection is gone
BROKER_ERRORS = (OperationalError, amqp.exceptions.ConnectionError,
                 amqp.exceptions.ChannelError, OSError)
#: what a call raises when it cannot reach the broker at all (kombu gave up reconnecting): the
#: gateway answers 503, not 500
BROKER_UNREACHABLE = (OperationalError, amqp.exceptions.ConnectionError)


def _routing_key(message) -> str | None:
    return (getattr(message, "delivery_info", None) or {}).get("routing_key")


class TransientPublisher(Publisher):
    """Nameko's publisher (confirms, `mandatory`, retries) sending transient messages: for RPC
    requests (shared/rpc.py) and replies (`RpcConsumer`), never for events."""

    delivery_mode = NON_PERSISTENT


class _Responder(nameko_rpc.Responder):
    publisher_cls = TransientPublisher


class RpcConsumer(nameko_rpc.RpcConsumer):
    """Answers RPCs, with transient replies; a reply that cannot be published leaves the
    request to be delivered again instead of killing the container. The consumer of
    `shared.rpc.VerifiedRpc`, the entrypoint of every `@rpc` of ours."""

    def handle_result(self, message, result, exc_info):
        try:
            return self._reply(message, result, exc_info)
        except BROKER_ERRORS as exc:
            log.warning("rpc_reply_not_sent", routing_key=_routing_key(message),
                        error=f"{type(exc).__name__}: {exc}")
            self._requeue(message)
            return result, exc_info

    def _reply(self, message, result, exc_info):
        """nameko 2.14's `RpcConsumer.handle_result`, with the transient responder."""
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY], nameko_rpc.get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def requeue_message(self, message):
        self._requeue(message)

    def _requeue(self, message) -> None:
        try:
            self.queue_consumer.requeue_message(message)
        except BROKER_ERRORS as exc:  # the channel is gone: the broker requeues it itself
            log.info("rpc_requeue_left_to_broker", routing_key=_routing_key(message),
                     error=type(exc).__name__)
