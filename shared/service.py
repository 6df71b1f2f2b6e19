"""What every SIMASN Nameko service has in common: request context, a health RPC."""

from __future__ import annotations

from nameko.rpc import rpc

from shared.context import RequestContext
from shared.errors import SimasnError
from shared.schemas import HealthSchema


class ServiceBase:
    """Base for service classes; subclasses set `name` and `db = Database(REGISTRY)`."""

    name: str
    context = RequestContext()

    @rpc
    def health(self):
        try:
            position = self.db.ping()
        except SimasnError as exc:
            return HealthSchema().dump(
                {"service": self.name, "status": "degraded", "database": exc.code}
            )
        return HealthSchema().dump(
            {"service": self.name, "status": "ok", "database": "ok", "log_position": position}
        )
