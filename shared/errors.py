"""One error base for every service: a stable machine-readable code, an HTTP status, a message a
person understands and the field it concerns. These travel with the error over RPC (the wire
payload), so any caller in any process rebuilds an error with the same code and status even when
it never imported the class that raised it (shared/rpc.py): the gateway answers RFC 7807
problems without guessing."""

from __future__ import annotations

from typing import Any

import orjson

WIRE_PREFIX = "simasn-error:"


def wire_payload(message) -> dict | None:
    """The error dict carried by a rebuilt remote error (or given directly), else None."""
    if isinstance(message, dict):
        return message
    if isinstance(message, str) and message.startswith(WIRE_PREFIX):
        return orjson.loads(message[len(WIRE_PREFIX):])
    return None


class SimasnError(Exception):
    code = "internal_error"
    http_status = 500
    title = "Internal error"
    #: False for errors that retrying can never fix (bad input, forbidden): consumers park them
    #: in the dead-letter store at once instead of retrying.
    transient = True

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: Any = None,
        code: str | None = None,
    ):
        payload = wire_payload(message)
        if payload is not None:
            message = payload.get("message")
            field = payload.get("field")
            details = payload.get("details")
            code = payload.get("code")
            # status, title and retry behaviour are part of the contract, not of the class
            if isinstance(payload.get("status"), int):
                self.http_status = payload["status"]
            if isinstance(payload.get("title"), str):
                self.title = payload["title"]
            if isinstance(payload.get("transient"), bool):
                self.transient = payload["transient"]
        self.message = message or self.title
        self.field = field
        self.details = details
        if code:
            self.code = code
        # Nameko sends exc.args across RPC and rebuilds cls(*args) on the other side, but it
        # stringifies every non-string value on the way; one JSON string keeps the types.
        super().__init__(WIRE_PREFIX + orjson.dumps(self.wire_dict(), default=str,
                                                    option=orjson.OPT_NON_STR_KEYS).decode())

    def wire_dict(self) -> dict[str, Any]:
        """What crosses RPC: the problem fields plus status, title and whether to retry."""
        return {**self.to_dict(), "status": self.http_status, "title": self.title,
                "transient": self.transient}

    @classmethod
    def from_wire(cls, payload: dict) -> SimasnError:
        return cls(WIRE_PREFIX + orjson.dumps(payload, default=str,
                                              option=orjson.OPT_NON_STR_KEYS).decode())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.details is not None:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}: {self.message}{where}"


class ValidationFailed(SimasnError):
    code = "validation_failed"
    http_status = 422
    title = "Data tidak valid"
    transient = False

    @classmethod
    def from_marshmallow(cls, messages: dict, prefix: str = "") -> ValidationFailed:
        """Turn marshmallow's nested error dict into one error naming the first bad field."""
        field, text = _first_error(messages, prefix)
        return cls(f"{field}: {text}" if field else text, field=field, details=messages)


def _first_error(messages: Any, prefix: str) -> tuple[str | None, str]:
    if isinstance(messages, dict) and messages:
        key, value = next(iter(messages.items()))
        name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
        return _first_error(value, name)
    if isinstance(messages, list) and messages:
        head = messages[0]
        if isinstance(head, dict | list):
            return _first_error(head, prefix)
        return prefix or None, str(head)
    return prefix or None, str(messages)


class NotFound(SimasnError):
    code = "not_found"
    http_status = 404
    title = "Data tidak ditemukan"
    transient = False


class Forbidden(SimasnError):
    code = "forbidden"
    http_status = 403
    title = "Akses ditolak"
    transient = False


class Unauthorized(SimasnError):
    code = "unauthorized"
    http_status = 401
    title = "Perlu masuk (login) terlebih dahulu"
    transient = False


class Conflict(SimasnError):
    code = "conflict"
    http_status = 409
    title = "Data telah berubah"
    transient = False


class ConcurrencyError(Conflict):
    """The stream moved on since the caller read it; carries the version it is at now."""

    code = "concurrency_conflict"

    def __init__(self, message=None, *, stream_id=None, expected_version=None,
                 current_version=None, **kwargs):
        if wire_payload(message) is not None:
            super().__init__(message)
            details = self.details or {}
            self.stream_id = details.get("stream_id")
            self.expected_version = details.get("expected_version")
            self.current_version = details.get("current_version")
            return
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.current_version = current_version
        super().__init__(
            message
            or f"Stream {stream_id} is at version {current_version}, "
            f"not {expected_version} as expected; reload and try again",
            details={
                "stream_id": stream_id,
                "expected_version": expected_version,
                "current_version": current_version,
            },
            **kwargs,
        )


class DuplicateEventId(Conflict):
    code = "duplicate_event_id"


class EventPayloadInvalid(ValidationFailed):
    code = "event_payload_invalid"


class UnknownEventType(ValidationFailed):
    code = "unknown_event_type"


class UnknownStream(ValidationFailed):
    """An append to a stream its log does not declare (shared.eventtypes)."""

    code = "unknown_stream"


class StoreUnavailable(SimasnError):
    code = "store_unavailable"
    http_status = 503
    title = "Penyimpanan data sedang tidak tersedia"


class ConfigError(SimasnError):
    code = "config_invalid"
    transient = False


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key sent again with a different request (shared/idempotency.py)."""

    code = "idempotency_key_reused"
    title = "Idempotency-Key sudah dipakai"

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("field", "Idempotency-Key")
        super().__init__(message or "Idempotency-Key ini sudah dipakai untuk permintaan lain; "
                         "buat kunci baru untuk setiap permintaan yang berbeda", **kwargs)
