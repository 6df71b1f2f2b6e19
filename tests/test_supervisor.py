"""The supervisor `make up` runs (scripts/supervisor.py): a process that dies is started again,
with backoff, logged and counted; `make down` stops the supervisor and everything under it
(issue 12, defect 13: a service that died stayed dead under `make up`)."""

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared.testing import wait_for

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR = ROOT / "scripts" / "supervisor.py"


def sleeper(marker: str) -> list[str]:
    """A long-running process whose command line carries `marker` (its signature)."""
    return [sys.executable, "-c", f"import time  # {marker}\ntime.sleep(600)"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: it only waits for its parent to reap it
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


class Run:
    """A supervisor over some processes, in a run directory of its own."""

    def __init__(self, run_dir: Path, specs: list[dict]):
        self.run_dir = run_dir
        self.spec = run_dir / "supervisor.jsonl"
        self.spec.write_text("".join(json.dumps(s) + "\n" for s in specs))
        self.proc = None

    def start(self):
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / "logs" / "supervisor.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(SUPERVISOR), "--run-dir", str(self.run_dir), "--spec",
             str(self.spec), "--grace", "5", "--backoff-base", "0.2", "--backoff-max", "2",
             "--stable-after", "5"], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        return self

    def pid(self, name: str) -> int | None:
        try:
            pid = int((self.run_dir / "pids" / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def state(self) -> dict:
        try:
            return json.loads((self.run_dir / "supervisor.state.json").read_text())["processes"]
        except (OSError, ValueError):
            return {}

    def log(self) -> list[dict]:
        text = (self.run_dir / "logs" / "supervisor.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def marker():
    return f"simasn-supervised-{uuid.uuid4().hex}"


@pytest.fixture
def runs():
    started = []
    yield started
    for run in started:
        run.kill()
        for pid_file in (run.run_dir / "pids").glob("*.pid"):
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass


def test_a_killed_process_is_started_again_and_down_stops_everything(tmp_path, marker, runs):
    run = Run(tmp_path, [{"name": "records", "signature": marker, "argv": sleeper(marker)},
                         {"name": "relay", "signature": marker + "-relay",
                          "argv": sleeper(marker + "-relay")}])
    runs.append(run.start())
    first = wait_for(lambda: run.pid("records"), timeout=30, message="records started")
    relay = wait_for(lambda: run.pid("relay"), timeout=30, message="relay started")

    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: (p := run.pid("records")) and p != first and p, timeout=30,
                      message="records started again")
    wait_for(lambda: run.state().get("records", {}).get("restarts") == 1, timeout=10,
             message="the restart counted")
    state = run.state()["records"]
    assert (state["state"], state["pid"], state["last_exit"]) == ("running", second,
                                                                  -signal.SIGKILL)
    assert run.state()["relay"]["restarts"] == 0 and run.pid("relay") == relay
    exits = [e for e in run.log() if e["event"] == "process_exited"]
    assert [(e["name"], e["pid"], e["exit"]) for e in exits] == [("records", first, -9)]

    assert run.stop() == 0, "the supervisor stops when told to (make down)"
    assert not alive(second) and not alive(relay), "and takes every process with it"


def test_a_process_that_keeps_dying_is_restarted_with_growing_backoff(tmp_path, marker, runs):
    crash = [sys.executable, "-c", f"raise SystemExit(3)  # {marker}"]
    run = Run(tmp_path, [{"name": "signing", "signature": marker, "argv": crash}])
    runs.append(run.start())
    wait_for(lambda: run.state().get("signing", {}).get("restarts", 0) >= 5, timeout=30,
             message="five restarts")
    delays = [e["restart_in_s"] for e in run.log() if e["event"] == "process_exited"][:5]
    assert delays == [0.2, 0.4, 0.8, 1.6, 2.0], "doubling, up to the maximum"
    assert run.state()["signing"]["last_exit"] == 3
    assert run.stop() == 0


def test_a_new_supervisor_adopts_what_a_killed_one_left_running(tmp_path, marker, runs):
    run = Run(tmp_path, [{"name": "identity", "signature": marker, "argv": sleeper(marker)}])
    runs.append(run.start())
    pid = wait_for(lambda: run.pid("identity"), timeout=30, message="identity started")
    run.kill()  # the supervisor itself dies; its process runs on unsupervised
    assert alive(pid)

    runs.append(run.start())
    wait_for(lambda: any(e["event"] == "process_adopted" for e in run.log()), timeout=30,
             message="the running process adopted")
    assert run.pid("identity") == pid, "not started twice"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (p := run.pid("identity")) and p != pid, timeout=30,
             message="the adopted process, once dead, started again")
    assert run.stop() == 0
