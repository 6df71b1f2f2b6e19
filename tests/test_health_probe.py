"""The backends' cheap probes (shared/health.py) in a real service process (`nameko run`, as
the Deployment runs it) with HEALTH_PORT set: /livez while the process lives, /readyz while the
database and the broker answered a recent check, 503 naming what failed otherwise."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from shared.testing import wait_for

ROOT = Path(__file__).resolve().parent.parent
NAMEKO = str(Path(sys.executable).parent / "nameko")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _answers(port: int, path: str):
    try:
        return _get(port, path)
    except OSError:
        return None


@pytest.fixture
def start_service(service_config, tmp_path):
    processes = []

    def start(**overrides) -> int:
        port = _free_port()
        config = {**service_config, "DB_ROLE_PER_SERVICE": False, "HEALTH_PORT": port,
                  "HEALTH_CHECK_SECONDS": 0.2, "HEALTH_STALE_SECONDS": 5, **overrides}
        path = tmp_path / f"config-{port}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        processes.append(subprocess.Popen(  # noqa: S603 - our own service
            [NAMEKO, "run", "--config", str(path),
             "services.verification.service:VerificationService"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        return port

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.timeout(120)
def test_a_running_service_is_alive_and_ready(start_service):
    port = start_service()
    assert wait_for(lambda: _answers(port, "/livez"), timeout=60) == (
        200, {"service": "verification", "status": "alive"})
    wait_for(lambda: (_answers(port, "/readyz") or (0,))[0] == 200, timeout=30)
    assert _get(port, "/readyz") == (200, {"service": "verification", "status": "ready",
                                           "reason": "ok"})
    assert _get(port, "/nothing")[0] == 404


@pytest.mark.timeout(120)
def test_a_service_without_its_database_is_alive_but_not_ready(start_service):
    port = start_service(DATABASE_URL="postgresql://postgres@127.0.0.1:1/simasn")
    assert wait_for(lambda: _answers(port, "/livez"), timeout=60)[0] == 200
    status, body = _get(port, "/readyz")
    assert status == 503
    assert body["status"] == "unready"
    wait_for(lambda: _get(port, "/readyz")[1]["reason"].startswith("database"), timeout=30)


@pytest.mark.timeout(180)
def test_readiness_follows_the_broker_and_comes_back(start_service, service_config):
    """The broker taken away (tests/broker_proxy.py): still alive, unready naming the broker;
    given back: ready again, without a restart."""
    from tests.broker_proxy import BrokerProxy

    proxy = BrokerProxy().start()
    try:
        port = start_service(AMQP_URI=proxy.uri(service_config["AMQP_URI"]))
        wait_for(lambda: (_answers(port, "/readyz") or (0,))[0] == 200, timeout=60)
        proxy.cut()
        wait_for(lambda: _get(port, "/readyz")[0] == 503, timeout=30)
        assert _get(port, "/readyz")[1]["reason"].startswith("broker")
        assert _get(port, "/livez")[0] == 200
        proxy.restore()
        wait_for(lambda: _get(port, "/readyz")[0] == 200, timeout=60)
    finally:
        proxy.stop()


# -- the memory trace (shared/memtrace.py): the same process, switched on for its service -------

@pytest.mark.timeout(120)
def test_a_service_named_for_the_memory_trace_writes_its_samples(start_service, tmp_path):
    traces = tmp_path / "memtrace"
    port = start_service(MEMORY_TRACE_DIR=str(traces),
                         MEMORY_TRACE_SERVICES="records, verification", MEMORY_TRACE_SECONDS=0.3)
    wait_for(lambda: (_answers(port, "/readyz") or (0,))[0] == 200, timeout=60)
    files = wait_for(lambda: list(traces.glob("verification-*.jsonl")), timeout=30)
    lines = wait_for(lambda: (lambda ls: ls if len(ls) >= 3 else None)(
        files[0].read_text().splitlines()), timeout=30)
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert first["service"] == "verification" and first["top"] == []  # the baseline
    assert last["rss_kib"] > last["traced_kib"] > 0 and last["anon_kib"] > 0
    assert last["malloc_used_kib"] > 0 and last["malloc_free_kib"] >= 0 and last["py_blocks"] > 0
    assert last["objects"] > 1000 and last["at"] > first["at"]


@pytest.mark.timeout(120)
def test_a_service_not_named_traces_nothing(start_service, tmp_path):
    traces = tmp_path / "memtrace"
    port = start_service(MEMORY_TRACE_DIR=str(traces), MEMORY_TRACE_SERVICES="records",
                         MEMORY_TRACE_SECONDS=0.3)
    wait_for(lambda: (_answers(port, "/readyz") or (0,))[0] == 200, timeout=60)
    wait_for(lambda: _get(port, "/livez")[0] == 200, timeout=10)
    import time

    time.sleep(1.5)  # five intervals: a traced service would have written by now
    assert not traces.exists() or list(traces.iterdir()) == []


def test_the_sample_names_the_line_that_keeps_memory():
    """In process, the dependency bound to a real container: memory kept between two samples
    is found at the line that allocated it."""
    import tracemalloc

    from nameko.containers import ServiceContainer

    from shared.memtrace import MemoryTrace

    class Probe:
        name = "probe"

    container = ServiceContainer(Probe, {"MEMORY_TRACE_DIR": "/nonexistent",
                                         "MEMORY_TRACE_SECONDS": 1})
    trace = MemoryTrace().bind(container, "memory_trace")
    trace.setup()
    trace.path = Path(os.devnull)
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start(12)
    try:
        trace.sample(0)
        kept = [bytearray(4096) for _ in range(500)]  # the leak
        top = trace.sample(1)["top"]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    assert len(kept) == 500
    assert top and top[0]["size_diff"] >= 500 * 4096
    assert top[0]["where"][-1].endswith(f"test_health_probe.py:{_line_of('# the leak')}")


def _line_of(marker: str) -> int:
    lines = Path(__file__).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


def test_without_frames_the_sample_holds_the_counters_only(tmp_path):
    """MEMORY_TRACE_FRAMES 0: no tracemalloc (its cost is the point of the cheap mode), the
    kernel's, glibc's and Python's counters still written."""
    import tracemalloc

    from nameko.containers import ServiceContainer

    from shared.memtrace import MemoryTrace

    class Probe:
        name = "probe"

    container = ServiceContainer(Probe, {"MEMORY_TRACE_DIR": str(tmp_path),
                                         "MEMORY_TRACE_FRAMES": 0})
    trace = MemoryTrace().bind(container, "memory_trace")
    trace.setup()
    trace.path = tmp_path / "probe.jsonl"
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is on for the whole test process")
    line = trace.sample(2.5)
    assert "traced_kib" not in line and line["top"] == []
    assert line["malloc_used_kib"] > 0 and line["rss_kib"] > 0 and line["py_blocks"] > 0
    assert json.loads(trace.path.read_text()) == line
