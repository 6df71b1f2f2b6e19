"""What every SIMASN Nameko service has in common: request context, a health RPC."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared.calendar import holidays_from
from shared.context import RequestContext
from shared.errors import SimasnError
from shared.rpc import rpc
from shared.schemas import HealthSchema

__all__ = ["Holidays", "ServiceBase", "rpc"]


class ServiceBase:
    """Base for service classes; subclasses set `name` and `db = Database(REGISTRY)`."""

    name: str
    context = RequestContext()

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


class Holidays(DependencyProvider):
    """`holidays = Holidays()`: the configured HOLIDAYS (shared.calendar), read once at start;
    `self.holidays.days` is the set SLA clocks skip."""

    def setup(self):
        self.days = holidays_from(self.container.config)

    def get_dependency(self, worker_ctx):
        return self
