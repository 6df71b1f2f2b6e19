"""The process supervisor `make up` runs (scripts/stack.sh): it starts every SIMASN process,
restarts one that exits, and stops them all when it is told to stop.

    python scripts/supervisor.py --run-dir .run --spec .run/supervisor.jsonl [--grace 20]

The spec holds one JSON object a line: {"name", "signature", "argv"}, and optionally "unset"
(variables of the supervisor's environment the process must not get, e.g. another process's
broker password) and "env" (variables set for it). For each process:
- its pid goes to <run-dir>/pids/<name>.pid and its output to <run-dir>/logs/<name>.log, as
  before there was a supervisor, so `make status|logs|down` read the same files;
- it leads a process group of its own (`down` can signal it and its children at once);
- when it exits, it is started again after a backoff that doubles with each exit that came
  soon after a start (BACKOFF_BASE .. BACKOFF_MAX seconds) and resets once a run lasted
  STABLE_AFTER seconds. It is never given up on: a broker or database outage can outlast any
  retry budget. Every exit and restart is logged (<run-dir>/logs/supervisor.log) and counted
  in <run-dir>/supervisor.state.json, which `make status` shows;
- a process already running from an earlier supervisor (its pid file names a live process
  whose command line carries the signature) is adopted, not started twice.

SIGTERM or SIGINT: no more restarts; every process gets SIGTERM (in reverse start order), then
SIGKILL after the grace period; the supervisor exits when they are gone. Only the standard
library: the supervisor must run when everything else is broken."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
STABLE_AFTER = 30.0
POLL = 0.2


def log(event: str, **fields) -> None:
    line = {"event": event, "service": "supervisor", "level": fields.pop("level", "info"),
            "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"), **fields}
    print(json.dumps(line), file=sys.stderr, flush=True)


def command_line(pid: int) -> str | None:
    """The command line of a live process, or None."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:  # no /proc (macOS)
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True,  # noqa: S603, S607 - ps by PATH with our own pid, no shell
                             text=True, check=False).stdout.strip()
    except OSError:
        return None
    return out or None


@dataclass
class Child:
    name: str
    argv: list[str]
    signature: str
    log_path: Path
    pid_path: Path
    unset: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    #: a process started by an earlier supervisor: watched by pid, not waited for
    adopted_pid: int | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_exits: int = 0
    next_start: float | None = 0.0
    last_exit: int | None = None
    last_exit_at: str | None = None
    history: list = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        return self.adopted_pid

    def exit_code(self) -> int | None:
        """None while running; the exit status once it has exited (-N: killed by signal N;
        an adopted process's status is unknown: -1)."""
        if self.proc is not None:
            return self.proc.poll()
        if self.adopted_pid is not None:
            line = command_line(self.adopted_pid)
            return None if line and self.signature in line else -1
        return -1


class Supervisor:
    def __init__(self, specs: list[dict], run_dir: Path, grace: float = 20.0,
                 backoff_base: float = BACKOFF_BASE, backoff_max: float = BACKOFF_MAX,
                 stable_after: float = STABLE_AFTER):
        self.run_dir = run_dir
        self.grace = grace
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stopping = False
        (run_dir / "pids").mkdir(parents=True, exist_ok=True)
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.state_path = run_dir / "supervisor.state.json"
        self.children = [Child(s["name"], list(s["argv"]), s["signature"],
                               run_dir / "logs" / f"{s['name']}.log",
                               run_dir / "pids" / f"{s['name']}.pid",
                               tuple(s.get("unset") or ()), dict(s.get("env") or {}))
                         for s in specs]

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)
        log("supervisor_started", pid=os.getpid(), processes=[c.name for c in self.children])
        for child in self.children:
            self._adopt(child)
        self.write_state()
        while not self.stopping:
            self.tick()
            time.sleep(POLL)
        self.stop_all()
        log("supervisor_stopped")
        return 0

    def tick(self) -> None:
        """Start what is due, notice what exited; one pass over the children."""
        changed = False
        now = time.monotonic()
        for child in self.children:
            if child.pid is None:
                if child.next_start is not None and now >= child.next_start and \
                        not self.stopping:
                    self._start(child)
                    changed = True
                continue
            code = child.exit_code()
            if code is not None:
                self._exited(child, code, now)
                changed = True
        if changed:
            self.write_state()

    def _on_stop_signal(self, signum, frame) -> None:
        self.stopping = True

    # -- one child ---------------------------------------------------------------------------

    def _adopt(self, child: Child) -> None:
        try:
            pid = int(child.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        line = command_line(pid)
        if line and child.signature in line:
            child.adopted_pid = pid
            child.started_at = time.monotonic()
            child.next_start = None
            log("process_adopted", name=child.name, pid=pid)

    def _start(self, child: Child) -> None:
        child.started_at = time.monotonic()
        child.next_start = None
        env = {k: v for k, v in os.environ.items() if k not in child.unset}
        env.update(child.env)
        try:
            with open(child.log_path, "ab") as out:
                child.proc = subprocess.Popen(child.argv, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603 - argv from make up's own spec file (mode 600), no shell
                                              stdin=subprocess.DEVNULL, start_new_session=True,
                                              env=env)
        except OSError as exc:
            log("process_not_started", name=child.name, error=str(exc), level="error")
            self._exited(child, 127, time.monotonic())
            return
        child.pid_path.write_text(f"{child.proc.pid}\n")
        log("process_started", name=child.name, pid=child.proc.pid, restarts=child.restarts)

    def _exited(self, child: Child, code: int, now: float) -> None:
        lived = now - child.started_at
        child.last_exit = code
        child.last_exit_at = dt.datetime.now(dt.UTC).isoformat()
        pid = child.pid
        child.proc = None
        child.adopted_pid = None
        if self.stopping:
            return
        child.quick_exits = child.quick_exits + 1 if lived < self.stable_after else 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** (child.quick_exits - 1))
        child.next_start = now + delay
        child.restarts += 1
        log("process_exited", name=child.name, pid=pid, exit=code, lived_s=round(lived, 1),
            restart_in_s=delay, restarts=child.restarts, level="warning")

    # -- stopping ----------------------------------------------------------------------------

    def stop_all(self) -> None:
        running = [c for c in reversed(self.children) if c.pid is not None]
        for child in running:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            running = [c for c in running if c.exit_code() is None]
            if not running:
                break
            time.sleep(POLL)
        for child in running:
            log("process_killed", name=child.name, pid=child.pid, grace_s=self.grace,
                level="warning")
            self._signal(child, signal.SIGKILL)
        for child in running:
            if child.proc is not None:
                child.proc.wait(timeout=10)
        for child in self.children:
            if child.pid is not None:
                self._exited(child, child.exit_code() or 0, time.monotonic())
        self.write_state()

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        pid = child.pid
        try:
            if os.getpgid(pid) == pid:  # leads its own group: its children too
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    # -- what `make status` reads --------------------------------------------------------------

    def write_state(self) -> None:
        now = time.monotonic()
        state = {"supervisor_pid": os.getpid(), "processes": {
            c.name: {"pid": c.pid,
                     "state": "running" if c.pid is not None else
                     ("restarting" if c.next_start is not None else "stopped"),
                     "restarts": c.restarts, "last_exit": c.last_exit,
                     "last_exit_at": c.last_exit_at,
                     "restart_at": None if c.next_start is None or c.pid is not None else
                     (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max(0.0, c.next_start - now))
                      ).isoformat()}
            for c in self.children}}
        tmp = self.state_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(state, indent=1))
            tmp.replace(self.state_path)
        except OSError as exc:  # a full disk must not stop the supervising
            log("state_not_written", error=str(exc), level="error")


def read_spec(path: Path) -> list[dict]:
    specs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        spec = json.loads(line)
        if not (isinstance(spec.get("name"), str) and isinstance(spec.get("signature"), str)
                and isinstance(spec.get("argv"), list) and spec["argv"]
                and isinstance(spec.get("unset", []), list)
                and isinstance(spec.get("env", {}), dict)):
            raise SystemExit(f"{path}:{number}: needs name, signature and argv (unset: a list, "
                             "env: an object)")
        specs.append(spec)
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--grace", type=float, default=20.0)
    parser.add_argument("--backoff-base", type=float, default=BACKOFF_BASE)
    parser.add_argument("--backoff-max", type=float, default=BACKOFF_MAX)
    parser.add_argument("--stable-after", type=float, default=STABLE_AFTER)
    args = parser.parse_args(argv)
    return Supervisor(read_spec(args.spec), args.run_dir, args.grace, args.backoff_base,
                      args.backoff_max, args.stable_after).run()


if __name__ == "__main__":
    sys.exit(main())
