"""HTTP plumbing of the gateway: JSON and RFC 7807 problem responses, the request id, and an
entrypoint wrapper that maps every error itself (Nameko would turn an unhandled exception into a
text/plain 500 whose body is the exception text)."""

from __future__ import annotations

import functools

import orjson
from werkzeug.wrappers import Response

from services.gateway.domain import request_id_from
from services.gateway.schemas import ProblemSchema
from shared.context import CLIENT_ADDRESS, CORRELATION_ID, REQUEST_ID
from shared.errors import SimasnError
from shared.logging import get_logger

log = get_logger(__name__)
PROBLEM_BASE = "https://simasn.jatimprov.go.id/problems/"


def json_response(body, status: int = 200, request_id: str | None = None) -> Response:
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
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
    response = Response(orjson.dumps(body), status=error.http_status,
                        mimetype="application/problem+json")
    response.headers["X-Request-Id"] = request_id
    return response


def api(fn):
    """Wrap a gateway handler: request id in, context for RPC, errors out as problems."""

    @functools.wraps(fn)
    def handler(self, request, *args, **kwargs):
        request_id = request_id_from(request.headers.get("X-Request-Id"))
        self.context[REQUEST_ID] = request_id
        self.context[CORRELATION_ID] = request_id
        self.context[CLIENT_ADDRESS] = request.remote_addr
        try:
            result = fn(self, request, *args, **kwargs)
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
        status, body = result if isinstance(result, tuple) else (200, result)
        return json_response(body, status, request_id)

    return handler
