"""Nameko services for the gateway benchmark (bench/gateway.py), run with `nameko run`.

* `BareService` — one HTTP route that answers a fixed JSON body the size of `GET /api/me`'s,
  with no RPC, no database and no gateway plumbing: the framework's own limit on this machine.
* `EchoService` and `ProbeService` — an HTTP route that makes exactly one RPC (to an echo that
  does nothing, or to identity.authenticate) and answers its result. Together with the bare
  route and the real gateway they split a gateway request into layers: HTTP alone, + one RPC
  hop, + identity's token and session check, + the gateway's own plumbing. Their RPC requests
  and replies are transient, as the services' are (shared/messaging.py).
* `ProbeService` also has a prototype of one way to take the RPC off the read path: verify the
  access token's signature in the HTTP process and remember identity's answer per session for
  a few seconds (a real version would also drop entries on revocation events).

Bench code only: no service or test imports these.
"""

from __future__ import annotations

import time

import orjson
from nameko.constants import NON_PERSISTENT
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc, RpcProxy
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.identity.security import AccessTokens
from shared.errors import SimasnError
from shared.messaging import RpcConsumer


class _TransientRpc(Rpc):
    """Nameko's RPC entrypoint answering with transient replies, as ours do
    (shared/messaging.py), without caller tokens: the echo hop is measured on the same
    transport as the services' RPCs."""

    rpc_consumer = RpcConsumer()


rpc = _TransientRpc.decorator
#: requests transient too (the option reaches Nameko's Publisher)
TRANSIENT = {"delivery_mode": NON_PERSISTENT}

# The shape and size of identity's Principal as `GET /api/me` answers it.
PRINCIPAL_LIKE = {
    "account_id": "198501012010900000",
    "kind": "pegawai",
    "display_name": "Pegawai Bench 0",
    "roles": ["pegawai"],
    "opd_scope": [],
    "home_opd": "dinkes",
    "session_id": "6f1c2a9e-4b7d-4c0e-9a51-3d2f8b7e1c40",
}


def json_response(body) -> Response:
    return Response(orjson.dumps(body), mimetype="application/json")


class BareService:
    """HTTP only: the ceiling every gateway route lives under."""

    name = "bench_bare"

    @http("GET", "/bare")
    def bare(self, request):
        return json_response(PRINCIPAL_LIKE)


class EchoService:
    """An RPC that does no work: what one Nameko RPC hop costs by itself."""

    name = "bench_echo"

    @rpc
    def echo(self, payload):
        return payload


class SessionCache(DependencyProvider):
    """Prototype: the token checked with identity's own verifier and signing key, and
    identity's answer kept per session for BENCH_SESSION_CACHE_SECONDS (config)."""

    def setup(self):
        config = self.container.config
        self.tokens = AccessTokens(config["TOKEN_SIGNING_KEY"], 900)
        self.seconds = float(config.get("BENCH_SESSION_CACHE_SECONDS", 5))
        self.principals: dict[str, tuple[float, dict]] = {}

    def get_dependency(self, worker_ctx):
        return self


class ProbeService:
    """HTTP plus exactly one RPC, without the gateway's endpoint plumbing."""

    name = "bench_probe"
    echo_rpc = RpcProxy("bench_echo", **TRANSIENT)
    identity_rpc = RpcProxy("identity", **TRANSIENT)
    sessions = SessionCache()

    @http("GET", "/probe/echo")
    def via_echo(self, request):
        return json_response(self.echo_rpc.echo(PRINCIPAL_LIKE))

    @http("GET", "/probe/authenticate")
    def via_identity(self, request):
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        return json_response(self.identity_rpc.authenticate(token.strip()))

    @http("GET", "/probe/cached")
    def via_local_token(self, request):
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        try:
            claims = self.sessions.tokens.decode(token.strip())
        except SimasnError:
            return Response(status=401)
        now = time.monotonic()
        expires, principal = self.sessions.principals.get(claims["sid"], (0.0, None))
        if principal is None or expires < now:
            principal = self.identity_rpc.authenticate(token.strip())
            self.sessions.principals[claims["sid"]] = (now + self.sessions.seconds, principal)
        return json_response(principal)
