"""Idempotent, retrying event consumers on top of plain Nameko `@event_handler`.

Nameko acks a message even when its handler raised. `idempotent_handler` closes that hole:
- the handler runs in one transaction with a row in `consumed` keyed (consumer, source,
  position), so a redelivered or republished event is a no-op;
- a failing handler is retried with exponential backoff (a ConcurrencyError too: the next
  attempt decides again on fresh state), then parked in `dead_letters` with the
  error and traceback (`simasn deadletters list|retry|discard`);
- only if the event can be neither handled nor parked (database down) does the wrapper raise,
  and the entrypoint is declared `requeue_on_error`, so the broker keeps the message;
- an event handled while the broker connection died is not acked; the broker delivers it
  again after the reconnect and it is a no-op then (tests/test_broker_outage.py);
- every handler belongs to a subscription (shared/subscriptions.py): a position per source log,
  moved in the same transaction as the effect, a gap in positions filled from the source's
  events feed before the live event, and catch-up from any position (a new consumer, a rebuild).
"""

from __future__ import annotations

import functools
import time
import traceback
import uuid
from dataclasses import dataclass

import orjson
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from nameko.events import SERVICE_POOL, event_handler

from shared.errors import ConcurrencyError, SimasnError
from shared.logging import get_logger

log = get_logger(__name__)


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    source = fields.String(required=True)
    position = fields.Integer(required=True, strict=True)
    event_id = fields.UUID(required=True)
    stream_id = fields.String(required=True)
    stream_type = fields.String(required=True)
    version = fields.Integer(required=True, strict=True)
    event_type = fields.String(required=True)
    schema_version = fields.Integer(required=True, strict=True)
    payload = fields.Dict(required=True)
    metadata = fields.Dict(required=True)
    recorded_at = fields.String(required=True)
    hash = fields.String(required=True)
    redacted = fields.Boolean(load_default=False)


_ENVELOPE = EnvelopeSchema()  # made once: building a schema costs more than loading with it


@dataclass(frozen=True)
class ReceivedEvent:
    source: str
    position: int
    event_id: str
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    payload: dict
    metadata: dict
    recorded_at: str
    hash: str
    #: True when the relay withheld confidential parts of the payload (the log has them all)
    redacted: bool = False

    @classmethod
    def from_envelope(cls, envelope: dict) -> ReceivedEvent:
        fast = _plain_envelope(envelope)
        if fast is not None:
            return cls(**fast)
        data = _ENVELOPE.load(envelope)
        data["event_id"] = str(data["event_id"])
        return cls(**data)


_TEXTS = ("source", "stream_id", "stream_type", "event_type", "recorded_at", "hash")
_INTEGERS = ("position", "version", "schema_version")


def _plain_envelope(envelope) -> dict | None:
    """What `_ENVELOPE.load` gives for an envelope of plain types (every text a str, every
    integer an int, payload and metadata dicts, a UUID, `redacted` a bool or absent), checked
    without marshmallow: a rebuild reads millions, and the schema's load was a third of the
    reporting service's time per event. Anything else (None): the schema decides, and raises
    what it raises."""
    if type(envelope) is not dict:
        return None
    try:
        out = {k: envelope[k] for k in _TEXTS}
        ints = {k: envelope[k] for k in _INTEGERS}
        payload, metadata = envelope["payload"], envelope["metadata"]
        event_id = envelope["event_id"]
    except KeyError:
        return None
    redacted = envelope.get("redacted", False)
    if (not all(type(v) is str for v in out.values())
            or not all(type(v) is int for v in ints.values())
            or type(payload) is not dict or type(metadata) is not dict
            or type(event_id) is not str or type(redacted) is not bool):
        return None
    try:
        out["event_id"] = str(uuid.UUID(event_id))
    except ValueError:
        return None
    out.update(ints, payload=dict(payload), metadata=dict(metadata), redacted=redacted)
    return out


def queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """The durable queue Nameko declares for a SERVICE_POOL event handler."""
    return f"evt-{source}-{event_type}--{service}.{method}"


def idempotent_handler(source_service: str, event_type: str, db_attr: str = "db",
                       subscription: str | None = None):
    """Decorate `def handler(self, uow, event: ReceivedEvent)` on a service with a Database.
    `subscription` names the read model or process the handler feeds (default: the service's
    name); its handlers share one position per source log (shared/subscriptions.py)."""

    def decorate(fn):
        @functools.wraps(fn)
        def entry(self, envelope):
            from shared.subscriptions import deliver

            return deliver(self, fn, source_service, event_type, envelope, db_attr)

        entry.subscribes = (subscription, source_service, event_type, fn, db_attr)
        return event_handler(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=True,
        )(entry)

    return decorate


def _consume(service, fn, source: str, event_type: str, envelope, db_attr: str, track=None):
    """Handle one event once; `track(uow, event)` moves the subscription's position in the
    same transaction (also when the event was handled before: the position still counts it)."""
    db = getattr(service, db_attr)
    consumer = f"{service.name}.{fn.__name__}"
    queue = queue_name(source, event_type, service.name, fn.__name__)
    try:
        event = ReceivedEvent.from_envelope(envelope)
    except (ValidationError, TypeError) as exc:
        _park(db, consumer, queue, source, event_type, envelope, exc, attempts=1)
        return None
    attempts = db.config.consumer_retry_attempts if db.config else 5
    delay = db.config.consumer_retry_base_delay if db.config else 0.1
    for attempt in range(1, attempts + 1):
        try:
            with db.transaction(
                causation_id=event.event_id,
                actor_id=f"service:{service.name}",
                actor_role="system",
            ) as uow:
                fresh = uow.execute(
                    "INSERT INTO consumed (consumer, source, position, event_id) "
                    "VALUES (:consumer, :source, :position, :event_id) "
                    "ON CONFLICT DO NOTHING RETURNING 1",
                    {"consumer": consumer, "source": source, "position": event.position,
                     "event_id": event.event_id},
                ).first()
                if track is not None:
                    track(uow, event)
                if fresh is None:
                    log.info("event_already_consumed", consumer=consumer,
                             position=event.position)
                    return None
                return fn(service, uow, event)
        except Exception as exc:  # noqa: BLE001 - every failure is retried or parked
            if not _decide_again(exc) or attempt == attempts:
                log.warning("event_handler_failed", consumer=consumer, position=event.position,
                            attempts=attempt, error=str(exc))
                _park(db, consumer, queue, source, event_type, envelope, exc, attempt)
                return None
            time.sleep(delay * (4 ** (attempt - 1)))
    return None


def _decide_again(exc: Exception) -> bool:
    """Whether another attempt can succeed: unknown and transient failures may, and so may a
    concurrency conflict (the stream moved while the handler decided; the next attempt reads
    it afresh and decides again). Our other non-transient errors (bad input, forbidden, a
    business conflict) would only fail the same way: they are parked at once."""
    if not isinstance(exc, SimasnError) or exc.transient:
        return True
    return exc.code == ConcurrencyError.code


def _park(db, consumer, queue, source, event_type, envelope, exc, attempts: int) -> None:
    """Store the event and its error; raising here makes Nameko requeue the message."""
    body = envelope if isinstance(envelope, dict) else {"raw": repr(envelope)[:10000]}
    position = body.get("position") if isinstance(body.get("position"), int) else None
    event_id = body.get("event_id")
    try:
        event_id = str(uuid.UUID(str(event_id))) if event_id is not None else None
    except ValueError:
        event_id = None
    trace = "".join(traceback.format_exception(exc))[-20000:]
    try:
        with db.transaction() as uow:
            uow.execute(
                "INSERT INTO dead_letters (consumer, queue, source, position, event_id, "
                "event_type, envelope, error_type, error, traceback, attempts) "
                "VALUES (:consumer, :queue, :source, :position, CAST(:event_id AS uuid), "
                ":event_type, CAST(:envelope AS jsonb), :error_type, :error, :traceback, "
                ":attempts) "
                "ON CONFLICT (consumer, source, position) DO UPDATE SET status = 'parked', "
                "attempts = dead_letters.attempts + EXCLUDED.attempts, "
                "error_type = EXCLUDED.error_type, error = EXCLUDED.error, "
                "traceback = EXCLUDED.traceback, last_failed_at = now(), resolved_at = NULL",
                {
                    "consumer": consumer, "queue": queue, "source": source,
                    "position": position, "event_id": event_id, "event_type": event_type,
                    "envelope": orjson.dumps(body, default=str).decode(),
                    "error_type": type(exc).__name__, "error": str(exc)[:4000],
                    "traceback": trace, "attempts": attempts,
                },
            )
    except Exception:
        log.error("dead_letter_park_failed", consumer=consumer, position=position)
        time.sleep(1.0)
        raise
