"""structlog JSON logs for every service and tool.

Each line carries the service, the correlation id and the actor bound for the current worker
(see shared.context). Secrets never reach a log: keys that name a password, token or secret are
masked before rendering, whoever logged them."""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SECRET_KEY = re.compile(
    r"pass(word)?|passwd|secret|token|authori[sz]ation|cookie|otp|totp|api[_-]?key|private",
    re.IGNORECASE,
)
MASK = "[redacted]"


def redact(value):
    """Copy of `value` with every secret-looking key masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(_logger, _name, event_dict):
    return redact(event_dict)


_configured = False


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and the standard library (Nameko, kombu) to one JSON stream.
    Idempotent: later calls in the same process only bind the service name and level."""
    global _configured
    if _configured:
        logging.getLogger().setLevel(level)
        structlog.contextvars.bind_contextvars(service=service)
        return
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.contextvars.bind_contextvars(service=service)
    _configured = True


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
