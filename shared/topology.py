"""Broker topology declared once at deploy time (with the migrations): every service's event
exchange and every event handler's durable queue, bound exactly as Nameko would bind it. Events
published before a consumer first starts then wait in its queue instead of being unroutable."""

from __future__ import annotations

import inspect

from kombu import Connection, Queue
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from shared import SERVICES
from shared.consumer import queue_name
from shared.relay import event_exchange


def handler_queues(cls) -> list[tuple[str, str, str]]:
    """(queue, source service, event type) for every SERVICE_POOL event handler of `cls`."""
    out = []
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        for ext in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(ext, EventHandler) and ext.handler_type == SERVICE_POOL:
                out.append((queue_name(ext.source_service, ext.event_type, cls.name, method_name),
                            ext.source_service, ext.event_type))
    return out


def declare(amqp_uri: str, classes) -> list[str]:
    """Declare every service's event exchange and the queues of `classes`' event handlers (the
    Nameko service classes, from services/registry.py)."""
    declared = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        for service in SERVICES:
            event_exchange(service)(channel).declare()
            declared.append(f"exchange {service}.events")
        for cls in classes:
            for name, source, event_type in handler_queues(cls):
                exchange = event_exchange(source)
                exchange(channel).declare()
                Queue(name, exchange=exchange, routing_key=event_type, durable=True,
                      auto_delete=False, exclusive=False)(channel).declare()
                declared.append(f"queue {name}")
    return declared
