"""What every benchmark here shares: formatting, the machine's description, progress lines."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg2

PY_SPY = Path(sys.executable).parent / "py-spy"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def fmt_ratio(ours: float, other: float | None) -> str:
    return "n/a" if not other else f"{ours / other:.2f}×"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def verdict(ok: bool) -> str:
    return "pass" if ok else "**miss**"


def loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def postgres_description(admin_url: str, settings=("fsync", "synchronous_commit",
                                                    "shared_buffers")) -> str:
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            server = cur.fetchone()[0]
            shown = {}
            for name in settings:
                cur.execute(f"SHOW {name}")
                shown[name] = cur.fetchone()[0]
    finally:
        conn.close()
    return server + " (" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"


def peak_rss_mb() -> float:
    """This process's peak memory (max RSS) so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(script: str, *args: str) -> dict:
    """Run `script --worker args...` in a process of its own (so its peak memory is its own);
    its answer is the JSON on the last line of its output."""
    out = subprocess.run([sys.executable, script, "--worker", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- py-spy profiles of running processes ---------------------------------------------

#: py-spy frames that say which layer a sample is in (matched against "function (file)")
LAYERS = (
    ("PostgreSQL (psycopg2 calls)", ("psycopg2", "sqlalchemy/engine")),
    ("AMQP publish (kombu/amqp)", ("kombu/messaging.py", "publish (nameko/amqp")),
    ("pyHanko signing", ("pyhanko",)),
    ("marshmallow load/dump", ("marshmallow/",)),
    ("logging (structlog)", ("structlog", "logging/__init__")),
    ("JSON (orjson/json/kombu serialization)", ("json/", "kombu/serialization")),
    ("argon2 / password", ("argon2",)),
    ("event store append/read", ("shared/eventstore.py",)),
    ("outbox relay", ("shared/relay", "shared/outbox")),
)


def start_profiles(targets: dict[str, int], folder: Path) -> list[subprocess.Popen]:
    """py-spy on every process until `stop_profiles` (SIGINT makes it write its file)."""
    if not PY_SPY.exists():
        log(f"no {PY_SPY}: `.venv/bin/pip install py-spy` to profile; going on without")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([str(PY_SPY), "record", "--nonblocking", "--subprocesses",
                              "--rate", "50", "--format", "raw",
                              "--output", str(folder / f"{name}.txt"), "--pid", str(pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in targets.items()]


#: leaf frames of a thread that waits: eventlet's hub in epoll, a blocking read of the relay,
#: a thread parked on a lock; a stack with only the process frame has no Python running
IDLE_LEAVES = ("Hub.do_poll (", "Hub.wait (", "_PollLikeSelector.select (", "Condition.wait (",
               "Event.wait (", "select (selectors.py", "TCPTransport._read (", "sleep (")


def summarize_profile(path: Path, top: int = 6) -> tuple[int, list[tuple[str, float]],
                                                         list[tuple[str, float]]]:
    """(busy samples, the layers' shares of them, the busiest leaf frames' shares) of one
    py-spy raw (collapsed stacks) file. py-spy counts a thread waiting in a system call (the
    eventlet hub in epoll) as active: such samples (IDLE_LEAVES) are left out here."""
    samples = 0
    layers: Counter = Counter()
    leaves: Counter = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if len(frames) == 1 and frames[0].startswith("process ") or \
                any(frames[-1].startswith(idle) for idle in IDLE_LEAVES):
            continue
        samples += n
        for name, needles in LAYERS:
            if any(needle in frame for frame in frames for needle in needles):
                layers[name] += n
        leaves[_short(frames[-1])] += n
    share = (lambda c: [(k, v / samples) for k, v in c.most_common(top)]) if samples else \
        (lambda c: [])
    return samples, share(layers), share(leaves)


def _short(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (to/module.py)`."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame.strip()
    return f"{match.group(1)} ({'/'.join(match.group(2).split('/')[-2:])})"


def profile_lines(folder: Path, seconds: float, during: str) -> list[str]:
    """A markdown table of the py-spy files in `folder` (one per process), sampled for
    `seconds` `during` (what load ran)."""
    files = sorted(folder.glob("*.txt")) if folder.exists() else []
    if not files:
        return []
    lines = [f"Every process sampled at 50 Hz (`py-spy record --nonblocking --subprocesses`) "
             f"for the {seconds:.0f} s {during}. busy = samples ÷ "
             "(50 × seconds), samples waiting in the eventlet hub's epoll, a socket read or a "
             "lock left out: about the share of one core the process's Python code ran. "
             "A layer's share counts every sample with one of its frames on the stack.", "",
             "| process | busy | layers (share of its samples) | busiest leaf frames |",
             "|---|--:|---|---|"]
    for path in files:
        samples, layers, leaves = summarize_profile(path)
        busy = samples / (50 * seconds) if seconds else 0
        lines.append(f"| {path.stem} | {busy:.0%} | "
                     + ", ".join(f"{k} {v:.0%}" for k, v in layers) + " | "
                     + ", ".join(f"`{k}` {v:.0%}" for k, v in leaves[:4]) + " |")
    return lines


def stop_profiles(profilers: list[subprocess.Popen]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        try:
            profiler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            profiler.kill()
