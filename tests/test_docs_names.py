"""The user guides and the README name only things that exist (issue 12, defect 16): every event
type they cite is registered in a service's `events.py`, every stream they name (`--stream X`,
`prefix:<...>`) is an instance of a stream pattern a service declares (and the event store
refuses appends to undeclared streams, so the declarations are the truth), and every consumer
and queue they show is a real event handler. A guide that drifts from the code fails here."""

import builtins
import importlib
import inspect
import re
from pathlib import Path

import pytest

from services.registry import service_classes
from shared import SERVICES
from shared.errors import SimasnError
from shared.topology import handler_queues

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "panduan").glob("*.md"))]

#: a CamelCase word of two or more parts: an event type or an error class, in these documents
CAMEL = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+\b")
STREAM_ARG = re.compile(r"--stream[ =]([^\s`'\"]+)")
#: `prefix:<placeholder>` in backticks, e.g. `employee:<NIP>`
STREAM_PATTERN = re.compile(r"`([a-z][a-z-]*):<[^>`]+>`")
CONSUMER = re.compile(r"\b(" + "|".join(SERVICES) + r")\.(on_[a-z_]+)\b")
QUEUE = re.compile(r"\bevt-[A-Za-z_-]+--[a-z]+\.on_[a-z_]+\b")
#: `prefix:<...>` forms that name no stream: a service acting as actor (`service:<nama>`)
NOT_STREAMS = {"service"}
#: a placeholder standing for any stream in a command's synopsis
PLACEHOLDERS = {"ID"}
#: products the guides name that are written in CamelCase (BSrE's signing app)
PRODUCTS = {"BeSign"}


def registries():
    return {service: importlib.import_module(f"services.{service}.events").REGISTRY
            for service in SERVICES}


def event_names() -> set[str]:
    return {name for registry in registries().values() for name in registry.names()}


def error_names() -> set[str]:
    """Error classes a guide may show in a message: ours and Python's own."""
    names = {name for name, obj in vars(builtins).items()
             if inspect.isclass(obj) and issubclass(obj, BaseException)}
    modules = [importlib.import_module("shared.errors")] + [
        importlib.import_module(f"services.{service}.exceptions") for service in SERVICES]
    for module in modules:
        names |= {name for name, obj in vars(module).items()
                  if inspect.isclass(obj) and issubclass(obj, SimasnError)}
    return names


def stream_patterns() -> dict[str, str]:
    """Declared stream pattern -> the service whose log holds it."""
    return {pattern: service for service, registry in registries().items()
            for pattern in registry.streams}


def is_declared_stream(stream_id: str) -> bool:
    return any(registry.stream_pattern(stream_id) for registry in registries().values())


def cited(pattern: re.Pattern, group: int = 0):
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for found in pattern.finditer(line):
                yield f"{path.relative_to(ROOT)}:{number}", found.group(group)


def test_every_service_declares_its_streams():
    for service, registry in registries().items():
        if registry.names():
            assert registry.streams, f"services/{service}/events.py declares no stream"


def test_every_cited_event_type_exists():
    known = event_names() | error_names() | PRODUCTS
    unknown = [(where, name) for where, name in cited(CAMEL) if name not in known]
    assert not unknown, f"event types that no events.py registers: {unknown}"


def test_every_cited_stream_is_one_a_service_writes():
    wrong = [(where, value) for where, value in cited(STREAM_ARG, 1)
             if value not in PLACEHOLDERS and not is_declared_stream(value.replace("<", "x"))]
    wrong += [(where, prefix) for where, prefix in cited(STREAM_PATTERN, 1)
              if prefix not in NOT_STREAMS and not is_declared_stream(f"{prefix}:x")]
    assert not wrong, (f"streams no service writes: {wrong}; the patterns are "
                       f"{sorted(stream_patterns())}")


def test_every_cited_consumer_and_queue_exists():
    queues = {queue for service in SERVICES
              for queue, _, _ in handler_queues(service_classes()[service])}
    consumers = {queue.split("--", 1)[1] for queue in queues}
    wrong = [(where, found) for where, found in cited(CONSUMER) if found not in consumers]
    wrong += [(where, found) for where, found in cited(QUEUE) if found not in queues]
    assert not wrong, f"consumers or queues that do not exist: {wrong}"


@pytest.mark.parametrize("stream_id, pattern", [
    ("employee:198503152010012003", "employee:<NIP>"),
    ("account:admin.bkd", "account:<account_id>"),
    ("request:7b0e2c9a-0000-4000-8000-000000000000", "request:<request_id>"),
    ("checkpoints", "checkpoints"),
])
def test_a_stream_id_is_matched_to_its_declared_pattern(stream_id, pattern):
    assert pattern in {registry.stream_pattern(stream_id)
                       for registry in registries().values()}


def test_the_event_store_refuses_a_stream_its_service_does_not_declare(database_url):
    import psycopg2

    from shared.errors import ValidationFailed
    from shared.eventstore import EventStore, NewEvent

    store = EventStore("records", registries()["records"])
    conn = psycopg2.connect(database_url)
    try:
        with pytest.raises(ValidationFailed) as refused:
            store.append(conn, "198503152010012003", "Employee", None, [NewEvent(
                "DocumentDownloaded", {"sha256": "a" * 64, "nip": "198503152010012003"})])
        assert refused.value.field == "stream_id"
        assert "employee:<NIP>" in refused.value.message  # what it should have been
    finally:
        conn.rollback()
        conn.close()
