"""What every SIMASN Nameko service has in common: request context, a health RPC, the feed of
its log for other services' catch-up subscriptions, and the sweep that keeps its own
subscriptions caught up (shared/subscriptions.py)."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared import subscriptions
from shared.auth import Principal
from shared.calendar import holidays_from
from shared.context import RequestContext
from shared.errors import Forbidden, SimasnError
from shared.health import HealthProbe
from shared.memtrace import MemoryTrace
from shared.rpc import rpc
from shared.schemas import HealthSchema

__all__ = ["Holidays", "ServiceBase", "rpc"]


class ServiceBase:
    """Base for service classes; subclasses set `name` and `db = Database(REGISTRY)`."""

    name: str
    context = RequestContext()
    feeds = subscriptions.FeedProxy()
    #: /livez and /readyz on HEALTH_PORT for the Kubernetes probes (shared/health.py)
    health_probe = HealthProbe()
    #: where the process's memory goes, when an operator switches it on (shared/memtrace.py)
    memory_trace = MemoryTrace()

    @rpc
    def health(self):
        try:
            position = self.db.ping()
            relay = self.db.relay_summary()
        except SimasnError as exc:
            return HealthSchema().dump(
                {"service": self.name, "status": "degraded", "database": exc.code}
            )
        return HealthSchema().dump(
            {"service": self.name, "status": "ok", "database": "ok", "log_position": position,
             "relay": relay}
        )

    @rpc
    def events_feed(self, after=0, limit=subscriptions.FEED_PAGE, event_types=None):
        """A page of this service's log after position `after` (of `event_types` only, if
        given), redacted exactly as the bus carries it, with the log's head. Services only."""
        if not Principal.from_context(self.context).has("system"):
            raise Forbidden("umpan peristiwa hanya untuk layanan", field="caller")
        after, limit, event_types = subscriptions.feed_arguments(after, limit, event_types)
        with self.db.transaction() as uow:
            return subscriptions.read_feed(uow.dbapi, self.db.store, self.name, after, limit,
                                           event_types)

    @subscriptions.sweep_timer
    def catch_up_subscriptions(self):
        """At start and then every SUBSCRIPTION_SWEEP_SECONDS: every subscription of this
        service caught up with its source's log."""
        subscriptions.sweep(self)


class Holidays(DependencyProvider):
    """`holidays = Holidays()`: the configured HOLIDAYS (shared.calendar), read once at start;
    `self.holidays.days` is the set SLA clocks skip."""

    def setup(self):
        self.days = holidays_from(self.container.config)

    def get_dependency(self, worker_ctx):
        return self
