"""scripts/stack.sh under supervision, run for real in a directory of its own: `up` starts a
supervisor, a process killed with SIGKILL comes back (visible in `status`), `down` stops the
supervisor and every process. The venv's `nameko` and `simasn` are stand-ins
(tests/stack_stub/), so no database, broker or port 8000 is touched (issue 12, defect 13)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared import SERVICES
from shared.testing import wait_for
from tests.gateway_helpers import free_port
from tests.test_supervisor import alive

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / "tests" / "stack_stub"
NAMES = [*SERVICES, "relay"]


@pytest.fixture
def stack(tmp_path):
    root = tmp_path / "root"
    (root / "scripts").mkdir(parents=True)
    for script in ("stack.sh", "supervisor.py"):
        shutil.copy2(ROOT / "scripts" / script, root / "scripts" / script)
    shutil.copy2(STUBS / "infra.sh", root / "scripts" / "infra.sh")
    (root / "shared").symlink_to(ROOT / "shared")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    for stub in ("nameko", "simasn"):
        text = (STUBS / stub).read_text().split("\n", 1)[1]
        (bin_dir / stub).write_text(f"#!{sys.executable}\n{text}")
        (bin_dir / stub).chmod(0o755)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "SIMASN_GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}", "SIMASN_UP_WAIT": "30",
           "SIMASN_STOP_GRACE": "5",
           "SIMASN_DATABASE_URL": "postgresql://stub@127.0.0.1:5432/stub",
           "SIMASN_AMQP_URI": "pyamqp://stub:stub@127.0.0.1:5672/"}

    def run(*args):
        return subprocess.run(["bash", str(root / "scripts" / "stack.sh"), *args], env=env,
                              capture_output=True, text=True, timeout=90, check=False)

    yield run, root / ".run"
    run("down")
    for pid_file in (root / ".run" / "pids").glob("*.pid"):  # whatever a failure left
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError, PermissionError):
            pass


def pid_of(run_dir: Path, name: str) -> int | None:
    try:
        pid = int((run_dir / "pids" / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def status_rows(run) -> dict[str, list[str]]:
    out = run("status").stdout
    return {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}


def test_up_supervises_a_killed_service_comes_back_and_down_stops_everything(stack):
    run, run_dir = stack
    up = run("up")
    assert up.returncode == 0, up.stderr
    supervisor = pid_of(run_dir, "supervisor")
    assert supervisor, "make up runs a supervisor"
    pids = {name: pid_of(run_dir, name) for name in NAMES}
    assert all(pids.values()), pids
    rows = status_rows(run)
    assert rows["supervisor"][1] == "running"
    assert all(rows[name][1:4] == ["running", str(pids[name]), "0"] for name in NAMES), rows

    assert run("up").returncode == 0, "a second `up` starts no duplicates"
    assert pid_of(run_dir, "supervisor") == supervisor
    assert {name: pid_of(run_dir, name) for name in NAMES} == pids

    # each process gets only what is its own: its broker login, its side's caller-token key
    env = environ(pids["signing"])
    assert env["SIMASN_AMQP_URI"] == "pyamqp://simasn-signing:pw-signing@127.0.0.1:5672/"
    assert "SIMASN_CALLER_GATEWAY_KEY" not in env and "SIMASN_CALLER_SERVICE_KEY" in env
    assert not any(k.startswith("SIMASN_BROKER_PASSWORD_") for k in env)
    assert "SIMASN_CALLER_SERVICE_KEY" not in environ(pids["gateway"])

    os.kill(pids["signing"], signal.SIGKILL)
    new = wait_for(lambda: (p := pid_of(run_dir, "signing")) and p != pids["signing"] and p,
                   timeout=30, message="signing started again")
    wait_for(lambda: status_rows(run)["signing"][3] == "1(exit:-9)", timeout=10,
             message="the restart shown in make status")
    assert status_rows(run)["signing"][1:3] == ["running", str(new)]
    assert environ(new)["SIMASN_AMQP_URI"] == env["SIMASN_AMQP_URI"], "restarted as it was"
    log = [json.loads(line) for line in
           (run_dir / "logs" / "supervisor.log").read_text().splitlines() if line[:1] == "{"]
    assert [(e["name"], e["exit"]) for e in log if e["event"] == "process_exited"] == [
        ("signing", -signal.SIGKILL)], "the death is logged"

    down = run("down")
    assert down.returncode == 0, down.stderr
    assert not alive(supervisor), "make down stops the supervisor"
    assert not any(alive(pid) for pid in [*pids.values(), new])
    rows = status_rows(run)
    assert rows["supervisor"][1] == "stopped"
    assert all(rows[name][1] == "stopped" for name in NAMES)
