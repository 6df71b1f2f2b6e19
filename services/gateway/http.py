"""HTTP plumbing of the gateway: one `endpoint` decorator that every route goes through.

It gives each request an id, limits body size and rate, authenticates the bearer token through
identity or its session cache (either way logout, disabling and role removal take effect on the
very next request: services/gateway/dependencies.py), checks the
route's roles, validates the JSON body and query against the route's schemas (unknown fields
refused), puts the principal into the Nameko context for every RPC that follows, and answers every
error as an RFC 7807 problem (Nameko would turn an unhandled exception into a text/plain 500 whose
body is the exception text). The route table it builds feeds the OpenAPI document and the
authorization matrix test."""

from __future__ import annotations

import functools
import io
import tempfile
from dataclasses import dataclass
from logging import getLogger

import eventlet
import orjson
from eventlet import wsgi
from marshmallow import Schema
from nameko.exceptions import UnknownService
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from services.gateway.domain import (
    RateLimiter,
    client_address,
    idempotency_key_from,
    request_id_from,
    role_used,
)
from services.gateway.exceptions import (
    InvalidJson,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
    ServiceUnavailable,
    TokenMissing,
    TooManyRequests,
    UnsupportedMediaType,
)
from services.gateway.schemas import ProblemSchema
from shared.auth import Principal, context_for
from shared.context import (
    CLIENT_ADDRESS,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    REQUEST_ID,
)
from shared.errors import (
    ConfigError,
    Forbidden,
    NotFound,
    SimasnError,
    StoreUnavailable,
    ValidationFailed,
)
from shared.logging import get_logger
from shared.messaging import BROKER_UNREACHABLE
from shared.objectstore import BoundedReader
from shared.schemas import load

log = get_logger(__name__)
PROBLEM_BASE = "https://simasn.jatimprov.go.id/problems/"
MAX_JSON_BYTES = 64 * 1024



@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    name: str
    summary: str
    roles: tuple[str, ...] | None
    body: type[Schema] | None
    query: type[Schema] | None
    response: type[Schema] | None
    many: bool
    status: int
    tag: str
    login_limited: bool
    #: the route changes someone's access; identity fences it (services/identity/fences.py):
    #: every caching replica has dropped the account's sessions before the route answers
    changes_access: bool
    #: raw upload routes: the most bytes accepted, and the media types documented
    upload: int | None = None
    upload_types: tuple[str, ...] = ()
    #: the upload is handed to the handler as bytes (`raw=`), never stored (public checks)
    in_memory: bool = False
    #: error statuses the service behind may answer beyond those the declaration implies
    #: (services/gateway/openapi.py `error_statuses`): a 409 conflict, a 404 for an id in the
    #: body, a login's 401/403
    errors: tuple[int, ...] = ()
    #: the answer is no contract schema but what these media types hold (a download, a page,
    #: the API document itself)
    media: tuple[str, ...] = ()
    #: the service behind it records (caller, Idempotency-Key) -> answer (shared/idempotency.py):
    #: the gateway passes the header on and the document declares it (and its 409/422)
    idempotent: bool = False
    #: no bearer token: a kabupaten/kota signs the request with its HMAC key, which the sync
    #: service checks (docs/design/sync.md); the gateway hands it the signing headers and body
    signed: bool = False
    #: the upload is neither buffered before the handler nor stored by `serve`: the handler has
    #: the caller checked first, then streams the body itself (`stream_upload`); a region's
    #: snapshot (hundreds of MB) is signed over its digest and not read at all unless signed
    streamed: bool = False
    #: the scope a machine client's agreement must grant (identity's CLIENT_SCOPES); people are
    #: not concerned (their roles decide), a client without it is refused `scope_missing`
    scope: str | None = None


ROUTES: list[RouteSpec] = []
SPECS_BY_NAME: dict[str, RouteSpec] = {}


class HttpStatusProblem(SimasnError):
    """A routing answer from werkzeug (no such path, method not allowed), as a problem."""

    transient = False


class RequestTimeout(SimasnError):
    code = "request_timeout"
    http_status = 408
    title = "Permintaan terlalu lambat"
    transient = False


class GatewayBusy(SimasnError):
    code = "gateway_busy"
    http_status = 503
    title = "Server sedang sibuk"


@dataclass
class BodyPolicy:
    """How a request body is taken in, before any worker slot is spent on it (STACK.md: a body
    read inside a handler holds one of `max_workers` slots, so twelve slow clients froze every
    route). The whole body is read by the connection's own greenthread within a deadline of
    `base_seconds` plus its size at `min_rate` bytes/s, into memory or a temporary file; bodies
    buffered at once share `budget` bytes. Idle sockets are dropped after `socket_timeout`."""

    base_seconds: float = 10.0
    min_rate: float = 64 * 1024
    budget: int = 256 << 20
    socket_timeout: float = 20.0
    in_flight: int = 0

    @classmethod
    def from_config(cls, config: dict) -> BodyPolicy:
        try:
            return cls(float(config.get("GATEWAY_BODY_SECONDS", 10)),
                       float(config.get("GATEWAY_BODY_MIN_RATE", 64 * 1024)),
                       int(config.get("GATEWAY_BODY_BUDGET", 256 << 20)),
                       float(config.get("GATEWAY_SOCKET_TIMEOUT", 20)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"GATEWAY_BODY_*/GATEWAY_SOCKET_TIMEOUT must be numbers: {exc}",
                              field="GATEWAY_BODY_SECONDS") from None


def _route_limit(provider) -> tuple[int, bool, bool]:
    """(most body bytes the route accepts, whether it needs a bearer token, whether the handler
    streams the body itself)."""
    spec = SPECS_BY_NAME.get(getattr(provider, "method_name", ""))
    if spec is None:
        return MAX_JSON_BYTES, False, False
    return (spec.upload or MAX_JSON_BYTES), spec.roles is not None, spec.streamed


def _take_body(environ, provider, policy: BodyPolicy):
    """Read the request body completely (or refuse it) in the connection's greenthread; the
    handler then reads a local buffer. Returns a release callback for the budget."""
    limit, needs_token, streamed = _route_limit(provider)
    length_header = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
    if not length_header and not chunked:
        environ["CONTENT_LENGTH"] = "0"
        environ["wsgi.input"] = io.BytesIO(b"")
        return lambda: None
    try:
        declared = int(length_header) if length_header else None
    except ValueError:
        raise InvalidJson("Content-Length tidak sah", field="Content-Length") from None
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"maksimal {limit // 1024} KB", field="body")
    if streamed:  # the handler checks the caller, then streams the body with its own deadline
        if policy.in_flight >= policy.budget:  # nothing buffered, but the gateway is swamped
            raise GatewayBusy("terlalu banyak unggahan bersamaan; coba lagi sebentar lagi",
                              details={"retry_after": 5})
        return lambda: None
    if needs_token and declared and declared > MAX_JSON_BYTES and \
            not (environ.get("HTTP_AUTHORIZATION") or "").lower().startswith("bearer "):
        # a large upload without even a bearer token is not read at all
        raise TokenMissing("sertakan header Authorization: Bearer <token akses>",
                           field="Authorization")
    reserve = declared if declared is not None else limit
    if policy.in_flight + reserve > policy.budget:
        raise GatewayBusy("terlalu banyak unggahan bersamaan; coba lagi sebentar lagi",
                          details={"retry_after": 5})
    policy.in_flight += reserve
    released = False

    def release():
        nonlocal released
        if not released:
            released = True
            policy.in_flight -= reserve

    try:
        source = environ["wsgi.input"]
        buffer = tempfile.SpooledTemporaryFile(max_size=1 << 20)
        deadline = policy.base_seconds + reserve / policy.min_rate
        size = 0
        try:
            with eventlet.Timeout(deadline):
                while True:
                    want = min(1 << 16, limit + 1 - size)
                    chunk = source.read(want) if want > 0 else b""
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"maksimal {limit // 1024} KB", field="body")
                    buffer.write(chunk)
                    if declared is not None and size >= declared:
                        break
        except eventlet.Timeout:
            raise RequestTimeout(f"badan permintaan tidak selesai dikirim dalam "
                                 f"{deadline:.0f} detik", field="body") from None
        except (OSError, ValueError):
            raise RequestTimeout("koneksi terputus saat mengirim badan permintaan",
                                 field="body") from None
        if declared is not None and size < declared:
            raise RequestTimeout("badan permintaan lebih pendek dari Content-Length",
                                 field="body")
        buffer.seek(0)
        environ["wsgi.input"] = buffer
        environ["CONTENT_LENGTH"] = str(size)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        return release
    except BaseException:
        release()
        raise


def _abandon_body(environ) -> None:
    """What is left of a refused body is never read: eventlet would otherwise read and discard
    it to keep the connection alive, for as long as a slow client cares to send it. Marking the
    input consumed and closing the read side ends the connection after the answer."""
    source = environ.get("eventlet.input")
    if source is None:
        return
    source.chunked_input = False
    source.position = source.content_length or 0
    try:
        source.rfile.close()
    except OSError:  # already gone: nothing to abandon
        return


@functools.lru_cache(maxsize=4)
def _route_map(count: int) -> Map:
    """The declared routes alone (no catch-all), rebuilt only when a route was added."""
    return Map([Rule(r.path, methods=[r.method]) for r in ROUTES[:count]])


def allowed_methods(path: str) -> list[str]:
    """The methods the route table declares for `path` (HEAD with GET); none if no route has it."""
    try:
        return sorted(_route_map(len(ROUTES)).bind("gateway").allowed_methods(path))
    except HTTPException:
        return []


def unrouted_response(request) -> Response:
    """A request no declared route takes: 405 naming the methods in `Allow` when the path is a
    route's, else 404 (RFC 9110)."""
    request_id = request_id_from(request.headers.get("X-Request-Id"))
    allowed = allowed_methods(request.path)
    if not allowed:
        return problem_response(RouteNotFound(
            f"tidak ada alamat {request.path[:200]} untuk {request.method}", field="path"),
            request_id, request.path)
    answer = problem_response(MethodNotAllowed(
        f"{request.method} tidak didukung di alamat ini; gunakan {', '.join(allowed)}",
        field="method"), request_id, request.path)
    answer.headers["Allow"] = ", ".join(allowed)
    return answer




class _ProblemWsgiApp(WsgiApp):
    def __init__(self, server):
        super().__init__(server)
        self.policy = server.body_policy

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        release = None
        try:
            provider, values = adapter.match()
            release = _take_body(environ, provider, self.policy)
            request = Request(environ, shallow=True)
            request.path_values = values
            answer = provider.handle_request(request)
        except (WerkzeugNotFound, WerkzeugMethodNotAllowed):
            answer = unrouted_response(request)
        except HTTPException as exc:
            error = HttpStatusProblem(exc.description or exc.name,
                                      code=exc.name.lower().replace(" ", "_"))
            error.http_status, error.title = exc.code, exc.name
            answer = problem_response(error, request_id_from(request.headers.get("X-Request-Id")),
                                      request.path)
        except SimasnError as exc:
            answer = problem_response(exc, request_id_from(request.headers.get("X-Request-Id")),
                                      request.path)
            if isinstance(exc, RequestTimeout | PayloadTooLarge | GatewayBusy | TokenMissing):
                _abandon_body(environ)
        finally:
            if release is not None:
                release()
        return answer(environ, start_response)


class ProblemWebServer(WebServer):
    """Nameko's web server, but werkzeug's own errors come out as RFC 7807 problems instead of
    HTML pages (a method no route declares on a route's path as 405 with `Allow`), every body
    is taken in before a worker is (BodyPolicy), and idle or stalled sockets are dropped."""

    def setup(self):
        super().setup()
        self.body_policy = BodyPolicy.from_config(self.container.config)

    def get_wsgi_app(self):
        return _ProblemWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=HttpOnlyProtocol, debug=False):
        return wsgi.Server(sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=debug,
                           log=getLogger(__name__),
                           socket_timeout=self.body_policy.socket_timeout,
                           # a client keeps a connection only while it sends requests
                           keepalive=True)


class HttpEntrypoint(HttpRequestHandler):
    server = ProblemWebServer()


http = HttpEntrypoint.decorator


def json_response(body, status: int = 200, request_id: str | None = None) -> Response:
    response = Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status=status,
                        mimetype="application/json")
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


def problem_response(error: SimasnError, request_id: str, instance: str) -> Response:
    body = ProblemSchema().dump({
        "type": PROBLEM_BASE + error.code,
        "title": error.title,
        "status": error.http_status,
        "detail": error.message,
        "code": error.code,
        "field": error.field,
        "instance": instance,
        "request_id": request_id,
        **({"errors": error.details} if error.details is not None else {}),
    })
    response = Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
                        status=error.http_status,
                        mimetype="application/problem+json")
    response.headers["X-Request-Id"] = request_id
    if error.http_status == 429 and isinstance(error.details, dict):
        # the gateway's own rate limits, and identity's throttled logins (login_throttled)
        response.headers["Retry-After"] = str(error.details.get("retry_after", 1))
    return response


def endpoint(method: str, path: str, *, summary: str, roles=None, body=None, query=None,
             response=None, many: bool = False, status: int = 200, tag: str = "umum",
             login_limited: bool = False, changes_access: bool = False,
             upload: int | None = None, upload_types: tuple[str, ...] = (),
             in_memory: bool = False, idempotent: bool = False, errors: tuple[int, ...] = (),
             media: tuple[str, ...] = (), signed: bool = False, streamed: bool = False,
             scope: str | None = None):
    """Declare a gateway route. The handler is called as
    `fn(self, request, principal=..., body=..., query=..., **path_params)` and returns data
    for `response` (or None for 204), or a Response of its own in one of `media`. An `upload`
    route takes the raw request body (at most `upload` bytes) instead of JSON: it is streamed
    into the document store only after the caller is authenticated, and the handler gets
    `upload=StoredObject` — or, with `in_memory`, `raw=bytes` and nothing is stored (e.g. a PDF
    anyone may have checked). `roles` are exactly the roles that can get a 2xx; `errors` the
    statuses the service behind may answer that the rest of the declaration does not imply."""

    def decorate(fn):
        spec = RouteSpec(method, path, fn.__name__, summary,
                         tuple(roles) if roles is not None else None, body, query, response,
                         many, status, tag, login_limited, changes_access, upload,
                         tuple(upload_types), in_memory, tuple(errors), tuple(media),
                         idempotent, signed, streamed, scope)
        ROUTES.append(spec)
        SPECS_BY_NAME[spec.name] = spec

        @functools.wraps(fn)
        def handler(self, request, **params):
            return serve(self, spec, fn, request, params)

        return http(method, path)(handler)

    return decorate


def serve(service, spec: RouteSpec, fn, request, params) -> Response:
    request_id = service.context.get(REQUEST_ID) or request_id_from(
        request.headers.get("X-Request-Id"))
    client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                            service.limits.trusted_proxies)
    service.context[REQUEST_ID] = request_id
    service.context[CORRELATION_ID] = request_id
    service.context[CLIENT_ADDRESS] = client
    try:
        _limit(service.limits.client, client)
        if spec.idempotent:
            key = idempotency_key_from(request.headers.get("Idempotency-Key"))
            if key is not None:  # passed to the service in the context of every RPC below
                service.context[IDEMPOTENCY_KEY] = key
        body = _body(spec, request) if spec.upload is None else None
        if spec.login_limited:
            login = str((body or {}).get("login", ""))[:64] if isinstance(body, dict) else ""
            _limit_login(service, f"{client}|{spec.name}|{login}")
        principal = _authenticate(service, spec, request)
        if spec.scope and service.context.get("actor_role") == "machine" and \
                spec.scope not in (principal.get("scopes") or ()):
            raise Forbidden(f"perjanjian klien tidak mencakup cakupan {spec.scope}",
                            field="scope", code="scope_missing")
        for name, value in params.items():
            if "\x00" in str(value):  # nothing is stored under such a name (PostgreSQL has no NUL)
                raise NotFound("tidak ditemukan", field=name)
        data = {
            "principal": principal,
            "body": load(spec.body(), body) if spec.body else None,
            "query": load(spec.query(), request.args.to_dict()) if spec.query else None,
        }
        if spec.upload is not None and not spec.streamed:
            opd = (data["query"] or {}).get("opd_id")
            if opd is not None and not Principal.from_context(service.context).covers_opd(opd):
                # refused before a byte of the file is stored
                raise Forbidden("hanya untuk OPD yang Anda kelola", field="opd_id")
            if spec.in_memory:
                data["raw"] = _read_bounded(spec, request)
            else:
                data["upload"] = _upload(service, spec, request)
        result = fn(service, request, **data, **params)
        if principal is not None and service.context.get("actor_role") == "auditor":
            service.record_auditor_read(request)
    except UnknownService as exc:
        return problem_response(ServiceUnavailable(f"layanan {exc} sedang tidak berjalan"),
                                request_id, request.path)
    except BROKER_UNREACHABLE as exc:  # RabbitMQ restarting: the call could not even be sent
        log.warning("broker_unreachable", path=request.path, error=type(exc).__name__)
        return problem_response(ServiceUnavailable("layanan sedang tidak dapat dihubungi; coba "
                                                   "lagi sebentar lagi", field="service"),
                                request_id, request.path)
    except SimasnError as exc:
        if exc.http_status >= 500:
            log.error("request_failed", code=exc.code, path=request.path)
        return problem_response(exc, request_id, request.path)
    except Exception:
        log.exception("request_crashed", path=request.path)
        return problem_response(SimasnError("Terjadi kesalahan pada server; coba lagi."),
                                request_id, request.path)
    if isinstance(result, Response):
        result.headers["X-Request-Id"] = request_id
        return result
    if result is None:
        empty = Response(status=204)
        empty.headers["X-Request-Id"] = request_id
        return empty
    # services answer with their contract schema already dumped; `response` documents it
    return json_response(result, spec.status, request_id)


def _limit_login(service, key: str) -> None:
    try:
        allowed, wait = service.limits.shared_login.allow(service.db, key)
    except StoreUnavailable:
        log.warning("login_limit_local", reason="database_unavailable")
        allowed, wait = service.limits.login.allow(key)
    _refuse_unless(allowed, wait)


def _limit(limiter: RateLimiter, key: str) -> None:
    _refuse_unless(*limiter.allow(key))


def _refuse_unless(allowed: bool, wait: float) -> None:
    if not allowed:
        raise TooManyRequests(f"coba lagi dalam {max(1, round(wait))} detik",
                              details={"retry_after": max(1, round(wait))})


def _body(spec: RouteSpec, request):
    if request.content_length and request.content_length > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"maksimal {MAX_JSON_BYTES // 1024} KB", field="body")
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"maksimal {MAX_JSON_BYTES // 1024} KB", field="body")
    if spec.body is None:
        return None
    if request.mimetype not in ("application/json", "") and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType("kirim data sebagai application/json", field="Content-Type")
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidJson("badan permintaan bukan JSON yang sah", field="body") from None


def _read_bounded(spec: RouteSpec, request) -> bytes:
    if spec.upload_types and request.mimetype not in spec.upload_types:
        raise UnsupportedMediaType(f"kirim berkas sebagai {', '.join(spec.upload_types)}",
                                   field="Content-Type")
    reader = BoundedReader(request.stream, spec.upload,
                           PayloadTooLarge(f"berkas maksimal {spec.upload // (1 << 20)} MB",
                                           field="file"))
    data = b"".join(iter(lambda: reader.read(1 << 16), b""))
    if not data:
        raise ValidationFailed("berkas kosong", field="file")
    return data


def _upload(service, spec: RouteSpec, request):
    """Stream the raw body into the document store, refusing it past `spec.upload` bytes."""
    limit = spec.upload
    reader = BoundedReader(request.stream, limit,
                           PayloadTooLarge(f"berkas maksimal {limit // (1 << 20)} MB",
                                           field="file"))
    stored = service.documents.put(reader, request.mimetype or "application/octet-stream")
    if stored.size == 0:
        raise ValidationFailed("berkas kosong", field="file")
    return stored


def stream_upload(service, request, limit: int, expected_sha256: str, mismatch: Exception,
                  min_rate: float = 64 * 1024):
    """For a `streamed` route, once the caller is checked: the body streamed into the document
    store, refused past `limit` bytes (413), when its SHA-256 is not `expected_sha256`
    (`mismatch`; nothing kept), or when it does not arrive at `min_rate` bytes/s (408). Whatever
    is refused, the rest of the body is not read (the connection closes after the answer)."""
    declared = request.content_length or limit
    deadline = 10.0 + min(declared, limit) / min_rate
    reader = BoundedReader(request.stream, limit,
                           PayloadTooLarge(f"berkas maksimal {limit // (1 << 20)} MB",
                                           field="body"))
    try:
        with eventlet.Timeout(deadline):
            stored = service.documents.put(reader, request.mimetype or
                                           "application/octet-stream",
                                           expected_sha256=expected_sha256)
    except eventlet.Timeout:
        _abandon_body(request.environ)
        raise RequestTimeout(f"badan permintaan tidak selesai dikirim dalam {deadline:.0f} "
                             "detik", field="body") from None
    except ValidationFailed as exc:
        if exc.field == "sha256":
            raise mismatch from None
        raise
    except (OSError, ValueError):
        _abandon_body(request.environ)
        raise RequestTimeout("koneksi terputus saat mengirim badan permintaan",
                             field="body") from None
    except SimasnError:
        _abandon_body(request.environ)
        raise
    if stored.size == 0:
        raise ValidationFailed("berkas kosong", field="body")
    return stored


def abandon_body(request) -> None:
    """A streamed route refused before its body was read: the body is never read."""
    _abandon_body(request.environ)


def _authenticate(service, spec: RouteSpec, request) -> dict | None:
    if spec.roles is None:
        return None
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing("sertakan header Authorization: Bearer <token akses>",
                           field="Authorization")
    cache = service.sessions
    principal = cache.lookup(token.strip()) if cache.enabled else None
    if principal is None:
        generation = cache.generation
        principal = service.rpc_identity.authenticate(token.strip())
        if cache.configured:
            cache.store(token.strip(), principal, generation)
    used = role_used(principal["roles"], spec.roles)
    if used is None:
        raise Forbidden(f"hanya untuk peran: {', '.join(spec.roles)}", field="role")
    service.context.update(context_for(principal, used))
    return principal
