"""What every benchmark here shares: formatting, the machine's description, progress lines."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

import psycopg2


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
