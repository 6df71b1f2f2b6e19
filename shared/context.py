"""Who is acting and on whose behalf, carried across RPC calls and events.

Nameko copies a worker's context data into the headers of every RPC call and event it makes,
so the gateway sets these keys once per request and every service downstream sees them."""

from __future__ import annotations

import gc
import uuid

import structlog
from nameko.extensions import DependencyProvider

from shared.config import validate_config
from shared.logging import configure_logging

CORRELATION_ID = "correlation_id"
CAUSATION_ID = "causation_id"
ACTOR_ID = "actor_id"
ACTOR_ROLE = "actor_role"
ACTOR_OPD = "opd_id"
CLIENT_ADDRESS = "client_address"
REQUEST_ID = "request_id"
#: the client's Idempotency-Key for the state change the gateway asks a service for; the
#: service that receives it does not pass it on to the calls it makes (shared/idempotency.py)
IDEMPOTENCY_KEY = "idempotency_key"

_BOUND = (CORRELATION_ID, ACTOR_ID, ACTOR_ROLE, ACTOR_OPD, REQUEST_ID)


def event_metadata(data: dict, reason: str | None = None) -> dict:
    """Event-log metadata taken from a worker's context data."""
    meta = {
        "actor_id": data.get(ACTOR_ID),
        "actor_role": data.get(ACTOR_ROLE),
        "opd_id": data.get(ACTOR_OPD),
        "correlation_id": data.get(CORRELATION_ID),
        "causation_id": data.get(CAUSATION_ID),
        "client_address": data.get(CLIENT_ADDRESS),
        "reason": reason,
    }
    return {k: v for k, v in meta.items() if v is not None}


class RequestContext(DependencyProvider):
    """Makes sure every worker has a correlation id and binds it, with the actor, to the logs.

    Injected as the worker's context data, read-only by convention. Its `setup()` also
    validates the service config and switches the process to JSON logs."""

    def setup(self):
        config = validate_config(self.container.config)
        configure_logging(self.container.service_name, config.log_level)

    def start(self):
        # Full garbage collections walked every object imported at start-up and stalled every
        # in-flight request for 60-100 ms (bench/results/gateway.md): move what exists now out
        # of the collector's way and collect the young generation less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)

    def entrypoint_context(self, worker_ctx) -> dict:
        """Context an entrypoint brings with it (e.g. the gateway: the client's X-Request-Id),
        bound for the whole worker; none by default (RPC and events carry theirs in headers)."""
        return {}

    def worker_setup(self, worker_ctx):
        data = worker_ctx.data
        data.update(self.entrypoint_context(worker_ctx))
        # taken by the worker's database dependency already; calls this worker makes are not
        # the client's repeated request and must not answer as if they were
        data.pop(IDEMPOTENCY_KEY, None)
        if not data.get(CORRELATION_ID):
            data[CORRELATION_ID] = str(uuid.uuid4())
        structlog.contextvars.bind_contextvars(
            service=self.container.service_name,
            entrypoint=worker_ctx.entrypoint.method_name,
            **{key: data[key] for key in _BOUND if data.get(key) is not None},
        )

    def worker_teardown(self, worker_ctx):
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=self.container.service_name)

    def get_dependency(self, worker_ctx):
        return worker_ctx.data
