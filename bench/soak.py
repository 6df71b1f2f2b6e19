"""A sustained mixed load over the gateway (issue 18 part 5): the deployed stack (`make up`'s
scripts/stack.sh, the gateway as its two replicas), CLIENTS concurrent clients for --minutes
(10 by default), each picking a route by weight: pegawai logins, reads of one's own account and
of an employee record, searches, record changes (history entries), KGB eligibility and request
lists, report reads, the public statistics and document verification. Per route: count, p50 and
p99 latency, errors (any answer but the expected status, or no answer). Every process's RSS
(VmRSS of it and its children, from /proc/<pid>/status, pids from the supervisor's pid files)
is sampled every --sample seconds: first-minute and last-minute means, growth between them and
the least-squares slope over the run's second half (after warm-up), per process.

    .venv/bin/python bench/soak.py [--minutes 10] [--clients 8] [--sample 5]   (make bench-soak)
        [--only report,public_statistics]   only these routes (same weights between them)
        [--trace reporting[,records]]       those services trace their allocations

Writes bench/results/soak.md (--results to write elsewhere, as the smoke test does). With
--trace, the named services run with the memory trace (shared/memtrace.py) every
--trace-seconds (--trace-frames 0: glibc's and Python's counters only, without tracemalloc's
cost), its samples go to bench/results/soak-memtrace/ and its summary (RSS against
Python's traced memory, and the lines that grew most) is added to the results."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import memtrace_report, stackload  # noqa: E402
from bench.common import cpu_model, loadavg, log  # noqa: E402
from bench.memtrace_report import slope_per_minute  # noqa: E402
from tests.identity_helpers import employee_for, unique_nip  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "soak.md"
#: route -> weight: reads dominate, as in use
WEIGHTS = {"login": 1, "me": 6, "employee": 6, "search": 4, "record_change": 3,
           "eligibility": 3, "my_requests": 3, "report": 2, "public_statistics": 2,
           "public_verification": 2}
#: a login name is logged in at most once per this many seconds (the shared login limit allows
#: GATEWAY_LOGIN_RATE, 10 a minute, per client and login)
LOGIN_SPACING = 8.0


#: an access token lasts ACCESS_TOKEN_TTL (15 minutes by default): every identity of the load
#: logs in again before that, as the web application refreshes its session
RELOGIN_SECONDS = 600


class Load:
    def __init__(self, deployed, fasilitator: str, rng_seed: int):
        self.deployed = deployed
        self.fas_login = fasilitator
        self.admin = deployed.login("admin.bkd")
        self.fas = deployed.login(fasilitator)
        self.pegawai = sorted(n for n, opd in deployed.seeded.pegawai.items())
        self.tokens = {nip: deployed.login(nip) for nip in self.pegawai}
        self.last_login = {nip: time.monotonic() for nip in self.pegawai}
        self.lock = threading.Lock()
        self.employees: list[list] = []  # [nip, version, next tahun] records changed
        self.samples: dict[str, list[float]] = {name: [] for name in WEIGHTS}
        self.errors: dict[str, list] = {name: [] for name in WEIGHTS}
        self.seed = rng_seed
        self.routes = dict(WEIGHTS)

    def relogin(self) -> None:
        """Fresh access tokens for every identity the load uses (the clients pick them up at
        their next request; the old ones stay valid until they end)."""
        for login in ("admin.bkd", self.fas_login, *self.pegawai):
            self.deployed.tokens.pop(login, None)
            token = self.deployed.login(login)
            if login == "admin.bkd":
                self.admin = token
            elif login == self.fas_login:
                self.fas = token
            else:
                self.tokens[login] = token

    def refresher(self, stop: threading.Event) -> None:
        while not stop.wait(RELOGIN_SECONDS):
            self.relogin()

    def setup(self, count: int) -> None:
        http = stackload.Http(self.deployed.url)
        for _ in range(count):
            nip = unique_nip()
            body = {**employee_for(nip), "opd_id": "dinkes"}
            status, answer = http.call("POST", "/api/employees", self.fas, body)
            assert status == 201, (status, answer)
            self.employees.append([nip, answer["version"], 2025])

    # -- one operation per route: (expected status, method, path, token, body) ---------------

    def op(self, route: str, rng: random.Random):
        nip = rng.choice(self.pegawai)
        if route == "login":
            with self.lock:
                due = [n for n in self.pegawai
                       if time.monotonic() - self.last_login[n] > LOGIN_SPACING]
                if not due:
                    return None
                nip = rng.choice(due)
                self.last_login[nip] = time.monotonic()
            return 200, "POST", "/api/auth/login", None, {
                "login": nip, "password": self.deployed.seeded.password, "device": "soak"}
        if route == "me":
            return 200, "GET", "/api/me", self.tokens[nip], None
        if route == "employee":
            return 200, "GET", f"/api/employees/{nip}", self.admin, None
        if route == "search":
            return 200, "GET", "/api/employees?name=" + rng.choice(("siti", "budi", "dewi")), \
                self.fas, None
        if route == "record_change":
            with self.lock:
                free = [e for e in self.employees if e[2] is not None]
                if not free:
                    return None
                entry = rng.choice(free)
                tahun, entry[2] = entry[2], None  # taken by this client until answered
            return 200, "POST", f"/api/employees/{entry[0]}/histories", self.fas, {
                "history": "kinerja", "entry": {"tahun": tahun, "predikat": "Baik"},
                "expected_version": entry[1], "reason": "uji beban"}, entry, tahun
        if route == "eligibility":
            return 200, "GET", f"/api/layanan/KGB/eligibility/{nip}", self.tokens[nip], None
        if route == "my_requests":
            return 200, "GET", "/api/me/requests", self.tokens[nip], None
        if route == "report":
            return 200, "GET", "/api/reports/headcount", self.admin, None
        if route == "public_statistics":
            return 200, "GET", "/api/public/statistics", None, None
        if route == "public_verification":
            return 404, "GET", f"/api/public/verification/{_uuid(rng)}", None, None
        raise ValueError(route)

    def client(self, stop: threading.Event, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n)
        http = stackload.Http(self.deployed.url)
        routes, weights = list(self.routes), list(self.routes.values())
        while not stop.is_set():
            route = rng.choices(routes, weights)[0]
            planned = self.op(route, rng)
            if planned is None:
                continue
            expected, method, path, token, body, *change = planned
            started = time.monotonic()
            try:
                status, answer = http.call(method, path, token, body)
            except OSError as exc:
                status, answer = None, repr(exc)
            took = time.monotonic() - started
            if change:
                entry, tahun = change
                with self.lock:
                    if status == 200:
                        entry[1], entry[2] = answer["version"], tahun - 1 if tahun > 1990 else None
                    else:
                        entry[2] = tahun
            if status == expected:
                self.samples[route].append(took)
            else:
                self.errors[route].append((status, str(answer)[:200]))


def _uuid(rng: random.Random) -> str:
    import uuid
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def sample_memory(run_dir: Path, stop: threading.Event, every: float, started: float,
                  out: dict[str, list]) -> None:
    while not stop.is_set():
        now = time.monotonic() - started
        for name, pid in stackload.process_pids(run_dir).items():
            # the supervisor's children are the other processes: itself alone
            kib = stackload.rss_kib(pid, children=name != "supervisor")
            if kib is not None:
                out.setdefault(name, []).append((now, kib, pid))
        stop.wait(every)


def write(path: Path, load: Load, memory: dict, minutes: float, clients: int,
          elapsed: float) -> dict:
    total = sum(len(v) for v in load.samples.values())
    errors = sum(len(v) for v in load.errors.values())
    lines = [
        "# Sustained mixed load over the gateway",
        "",
        f"`make bench-soak` (bench/soak.py), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:"
        f" {minutes:g} minute(s), {clients} concurrent clients, the deployed stack (`make up`,"
        f" two gateway replicas); {cpu_model()}; load average at the end {loadavg()}.",
        "",
        f"{total + errors} requests in {elapsed:.0f} s ({(total + errors) / elapsed:.1f}/s), "
        f"errors {errors} ({errors / max(1, total + errors):.3%}).",
        "",
        "| route | requests | errors | p50 ms | p99 ms |",
        "|---|--:|--:|--:|--:|",
    ]
    for route in load.routes:
        samples = load.samples[route]
        lines.append(f"| {route} | {len(samples) + len(load.errors[route])} | "
                     f"{len(load.errors[route])} | "
                     f"{stackload.percentile(samples, 50) * 1000:.1f} | "
                     f"{stackload.percentile(samples, 99) * 1000:.1f} |")
    lines += ["", "Memory (VmRSS of each process and its children, MiB): mean of the first and of "
              "the last minute, their difference, and the slope over the second half of the run "
              "(after warm-up). A process restarted during the run (pid changed) is marked.", "",
              "| process | first minute | last minute | growth | slope, second half (MiB/min) |",
              "|---|--:|--:|--:|--:|"]
    growth = {}
    for name in sorted(memory):
        points = memory[name]
        end = points[-1][0]
        first = [v for t, v, _ in points if t <= points[0][0] + 60]
        last = [v for t, v, _ in points if t >= end - 60]
        half = [(t, v) for t, v, _ in points if t >= end / 2]
        a, b = sum(first) / len(first) / 1024, sum(last) / len(last) / 1024
        slope = slope_per_minute(half) / 1024
        restarted = " (restarted)" if len({p for _, _, p in points}) > 1 else ""
        growth[name] = b - a
        lines.append(f"| {name}{restarted} | {a:.1f} | {b:.1f} | {b - a:+.1f} | {slope:+.2f} |")
    lines += ["", "Errors (first 3 per route): " + ("; ".join(
        f"{route}: {errs[:3]}" for route, errs in load.errors.items() if errs) or "none"), ""]
    path.write_text("\n".join(lines) + "\n")
    return {"requests": total + errors, "errors": errors, "growth": growth}


def run(minutes: float, clients: int, sample: float, results: Path,
        only: list[str] | None = None, trace: str = "", trace_seconds: float = 60,
        trace_frames: int = 12) -> dict:
    traces = results.parent / "soak-memtrace"
    tracing = {"SIMASN_MEMORY_TRACE_DIR": str(traces), "SIMASN_MEMORY_TRACE_SERVICES": trace,
               "SIMASN_MEMORY_TRACE_SECONDS": str(trace_seconds),
               "SIMASN_MEMORY_TRACE_FRAMES": str(trace_frames)} if trace else {}
    if trace:
        shutil.rmtree(traces, ignore_errors=True)
    before = {name: os.environ.get(name) for name in tracing}
    os.environ.update(tracing)  # the stack's processes inherit it
    try:
        with tempfile.TemporaryDirectory(prefix="simasn-soak-") as tmp:
            with stackload.stack(Path(tmp) / "run") as deployed:
                load = Load(deployed, stackload.fasilitator_for(deployed, "dinkes"),
                            random.randrange(1 << 30))
                if only:
                    load.routes = {route: WEIGHTS[route] for route in only}
                load.setup(max(8, clients * 2))
                log(f"soak: {minutes} min, {clients} clients, "
                    f"{len(stackload.process_pids(deployed.run_dir))} processes")
                stop = threading.Event()
                memory: dict[str, list] = {}
                started = time.monotonic()
                sampler = threading.Thread(target=sample_memory,
                                           args=(deployed.run_dir, stop, sample, started, memory))
                sampler.start()
                threads = [threading.Thread(target=load.client, args=(stop, n))
                           for n in range(clients)]
                threads.append(threading.Thread(target=load.refresher, args=(stop,)))
                for thread in threads:
                    thread.start()
                stop.wait(minutes * 60)
                stop.set()
                for thread in threads + [sampler]:
                    thread.join()
                elapsed = time.monotonic() - started
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    summary = write(results, load, memory, minutes, clients, elapsed)
    if trace:
        with open(results, "a", encoding="utf-8") as out:
            out.write("\n" + memtrace_report.markdown(traces) + "\n")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sample", type=float, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--only", type=lambda v: [r.strip() for r in v.split(",") if r.strip()],
                        help=f"comma-separated routes of {', '.join(WEIGHTS)}")
    parser.add_argument("--trace", default="", help="comma-separated services to trace")
    parser.add_argument("--trace-seconds", type=float, default=60)
    parser.add_argument("--trace-frames", type=int, default=12,
                        help="0: counters only, without tracemalloc (cheap)")
    args = parser.parse_args()
    unknown = set(args.only or ()) - set(WEIGHTS)
    if unknown:
        parser.error(f"unknown routes: {', '.join(sorted(unknown))}")
    summary = run(args.minutes, args.clients, args.sample, args.results, args.only, args.trace,
                  args.trace_seconds, args.trace_frames)
    print(args.results.read_text())
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
