"""Write services/README.md, the map of the services: each one's log (its streams and event
types), the RPCs it serves, the events it consumes and the RPCs it calls. Read off the code
(the event registries, Nameko's entrypoints, shared/brokerauth.RPC_CALLS), so it cannot drift:
tests/test_service_shape.py fails when the file is not what this script writes.

    .venv/bin/python scripts/servicemap.py          # rewrite services/README.md
    .venv/bin/python scripts/servicemap.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nameko.events import EventHandler  # noqa: E402
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR  # noqa: E402
from nameko.rpc import Rpc  # noqa: E402
from nameko.web.handlers import HttpRequestHandler  # noqa: E402

from services.registry import event_registry, service_classes  # noqa: E402
from shared import SERVICES  # noqa: E402
from shared.brokerauth import RPC_CALLS  # noqa: E402

TARGET = ROOT / "services" / "README.md"

HEADER = """# The services

Written by `scripts/servicemap.py` from the code (do not edit by hand; `make servicemap`
rewrites it, and `tests/test_service_shape.py` fails when it is stale). Each service is one
Nameko service and one process, owns one PostgreSQL schema holding its append-only log, and
talks to the others only over RPC and the events its outbox relay publishes
(`<service>.events` exchange, routing key = event type). The design is in
`docs/design/architecture.md`; the log in `docs/design/event-log.md`.

| service | streams in its log | event types | RPCs served | events consumed | calls |
|---|--:|--:|--:|--:|--:|
"""


def entrypoints(cls) -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    rpcs, consumed, routes = [], [], []
    for attr, method in inspect.getmembers(cls, inspect.isfunction):
        for entry in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entry, Rpc):
                rpcs.append(attr)
            elif isinstance(entry, EventHandler):
                consumed.append((entry.source_service, entry.event_type, attr))
            elif isinstance(entry, HttpRequestHandler):
                routes.append(f"{entry.method} {entry.url}")
    return sorted(rpcs), sorted(consumed), sorted(routes)


def render() -> str:
    summary, sections = [], []
    for name in SERVICES:
        reg = event_registry(name)
        rpcs, consumed, routes = entrypoints(service_classes()[name])
        calls = RPC_CALLS.get(name, {})
        streams = reg.streams if reg else ()
        events = reg.names() if reg else []
        summary.append(f"| [{name}](#{name}) | {len(streams)} | {len(events)} | {len(rpcs)} "
                       f"| {len(consumed)} | {sum(len(m) for m in calls.values())} |")
        lines = [f"## {name}", "", f"`services/{name}/`"]
        if streams:
            lines += ["", "Streams of its log: " + ", ".join(f"`{s}`" for s in streams) + "."]
        if events:
            lines += ["", "Event types it records:", ""]
            for event in events:
                et = reg.get(event)
                note = " (redacted on the bus)" if et.redactor else ""
                lines.append(f"- `{event}` v{et.version}{note}")
        if rpcs:
            lines += ["", "RPCs it serves: " + ", ".join(f"`{r}`" for r in rpcs) + "."]
        if routes:
            lines += ["", f"HTTP routes ({len(routes)}; described in `/api/openapi.json`):", ""]
            lines += [f"- `{route}`" for route in routes]
        if consumed:
            lines += ["", "Events it consumes:", ""]
            lines += [f"- `{src}.{evt}` → `{handler}`" for src, evt, handler in consumed]
        if calls:
            lines += ["", "RPCs it calls:", ""]
            lines += [f"- {target}: " + ", ".join(f"`{m}`" for m in methods)
                      for target, methods in sorted(calls.items())]
        sections.append("\n".join(lines))
    return HEADER + "\n".join(summary) + "\n\n" + "\n\n".join(sections) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("services/README.md is stale: run scripts/servicemap.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
