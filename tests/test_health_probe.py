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
