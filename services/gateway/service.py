"""HTTP entrypoints of the gateway."""

import eventlet
from nameko.rpc import RpcProxy
from nameko.web.handlers import http

from services.gateway.events import REGISTRY
from services.gateway.exceptions import RouteNotFound, ServiceUnavailable
from services.gateway.http import api
from services.gateway.schemas import ReadinessSchema
from shared import SERVICES
from shared.db import Database
from shared.service import ServiceBase

BACKENDS = [s for s in SERVICES if s != "gateway"]
READY_TIMEOUT = 3.0


class GatewayService(ServiceBase):
    """The HTTP JSON API (port 8000 by default)."""

    name = "gateway"
    db = Database(REGISTRY)
    rpc_identity = RpcProxy("identity")
    rpc_records = RpcProxy("records")
    rpc_requests = RpcProxy("requests")
    rpc_verification = RpcProxy("verification")
    rpc_signing = RpcProxy("signing")
    rpc_reporting = RpcProxy("reporting")
    rpc_sync = RpcProxy("sync")

    @http("GET", "/health")
    @api
    def http_health(self, request):
        return self.health()

    @http("GET", "/health/ready")
    @api
    def http_ready(self, request):
        answers, down = {}, []
        pending = {}
        for service in BACKENDS:
            try:
                pending[service] = getattr(self, f"rpc_{service}").health.call_async()
            except Exception:  # noqa: BLE001 - e.g. UnknownService: no instance is running
                down.append(service)
        for service, reply in pending.items():
            try:
                with eventlet.Timeout(READY_TIMEOUT):
                    answers[service] = reply.result()
            except (Exception, eventlet.Timeout):  # noqa: BLE001 - any failure: not ready
                down.append(service)
        if down:
            raise ServiceUnavailable(f"not answering: {', '.join(down)}", field="services")
        return ReadinessSchema().dump({"status": "ok", "services": answers})

    @http("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    @api
    def http_not_found(self, request, path):
        raise RouteNotFound(f"there is no route /{path} for {request.method}", field="path")
