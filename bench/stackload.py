"""What the scaling and soak benchmarks share: the deployed stack (`scripts/stack.sh up`, as
`make up` runs it, on a database and a RabbitMQ vhost of the run's own, with SIMASN_REPLICAS),
HTTP clients through the gateway, the broker's queues drained, and every process's memory read
from /proc/<pid>/status through the supervisor's pid files."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from shared.brokerauth import Management
from tests.e2e import harness

MANAGEMENT = harness.MANAGEMENT


@contextmanager
def stack(run_dir: Path, replicas: str = ""):
    """The whole stack with `replicas` (SIMASN_REPLICAS, e.g. "records=3"), seeded with the
    demo data; stopped and its database and vhost dropped at the end."""
    run_dir.mkdir(parents=True, exist_ok=True)
    before = os.environ.get("SIMASN_REPLICAS")
    os.environ["SIMASN_REPLICAS"] = replicas
    overrides = harness.OVERRIDES
    # every benchmark client comes from 127.0.0.1: the per-address limit (an ingress's job in
    # production) would measure itself
    harness.OVERRIDES = overrides + "GATEWAY_CLIENT_RATE: 100000\nGATEWAY_CLIENT_BURST: 100000\n"
    try:
        deployed = harness.start(run_dir)
    finally:
        harness.OVERRIDES = overrides
        if before is None:
            os.environ.pop("SIMASN_REPLICAS", None)
        else:
            os.environ["SIMASN_REPLICAS"] = before
    try:
        yield deployed
    finally:
        harness.stop(deployed)


class Http:
    """One client's keep-alive connection to the gateway; reconnects after an error."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = None

    def call(self, method: str, path: str, token: str | None = None, body=None,
             headers: dict | None = None) -> tuple[int, object]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=sent)
            answer = self.conn.getresponse()
            raw = answer.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return answer.status, parsed


def queues_drained(stack_) -> bool:
    """Every queue of the run's vhost empty (nothing ready, nothing unacked)."""
    management = Management(MANAGEMENT, "guest", "guest")
    queues = management.call("GET", f"/api/queues/{urllib.parse.quote(stack_.vhost, safe='')}")
    return all(q.get("messages", 0) == 0 for q in queues)


def wait_drained(stack_, timeout: float = 600) -> float:
    """Seconds until the vhost's queues stay empty for two looks in a row."""
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < timeout:
        quiet = quiet + 1 if queues_drained(stack_) else 0
        if quiet >= 2:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError("the queues did not drain")


def process_pids(run_dir: Path) -> dict[str, int]:
    """Every running process of the stack, by name (the supervisor's pid files)."""
    out = {}
    for path in sorted((run_dir / "pids").glob("*.pid")):
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            continue
        if Path(f"/proc/{pid}").exists():
            out[path.stem] = pid
    return out


def rss_kib(pid: int, children: bool = True) -> int | None:
    """VmRSS of `pid` and (`children`) its children (the signing workers, the document
    sandbox), KiB."""
    total = 0
    for one in [pid, *(descendants(pid) if children else ())]:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            if one == pid:
                return None
    return total


def descendants(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = []
    for child in map(int, found):
        out += [child, *descendants(child)]
    return out


def fasilitator_for(stack_, opd: str) -> str:
    """A seeded fasilitator whose scope holds `opd`."""
    for login, (role, opds) in stack_.seeded.staff.items():
        if role == "fasilitator" and opd in opds.split(","):
            return login
    raise LookupError(f"no seeded fasilitator for {opd}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
