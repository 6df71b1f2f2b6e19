"""Gateway benchmark (`make bench-gateway`): logins and authenticated reads through the gateway.

Every figure is measured side by side in the same run, against real processes in a throwaway
database and RabbitMQ vhost, and reported as ratios, never asserted:

* the limit: a bare Nameko HTTP route (bench/bare_service.py: BareService) answering a JSON body
  of the same size with no RPC, no database — the framework's own ceiling on this machine;
* ours: `GET /api/me`, `GET /api/accounts/<nip>` and `POST /api/auth/login` (Argon2id at the
  production cost) through `nameko run services.gateway.service:GatewayService`, first with the
  session cache off (identity.authenticate on every request: one RPC for /api/me, two for
  /api/accounts/<nip>), then restarted with the production default (session cache on, fenced
  revocations: no RPC for /api/me once cached, one for /api/accounts/<nip>) — the headline;
* the layers between them, to show where the time goes: the gateway's plumbing with no RPC (a
  read without a token, answered 401), one RPC to an echo that does nothing, identity.authenticate
  called from a minimal HTTP route (bench/bare_service.py: ProbeService), and a prototype that
  verifies the token in the HTTP process and caches identity's answer per session;
* what a revocation costs: sequential logouts with the cache off and on (on: identity waits for
  the gateway's acknowledgement of the fence).

The load generator is this process (not eventlet-patched): N threads, each with its own
keep-alive `http.client.HTTPConnection` and its own logged-in account. CPU time per process
is read from /proc during every timed window. The table goes to stdout and to
bench/results/gateway.md. `--quick` runs short windows as a smoke test and writes no results
file unless `--output` is given.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import orjson
import psycopg2
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    cpu_model,
    fmt_ms,
    fmt_ratio,
    loadavg,
    log,
    postgres_description,
    profile_lines,
    start_profiles,
    stop_profiles,
    verdict,
)
from shared.migrations import database_name, migrate  # noqa: E402
from shared.testing import create_test_database, drop_test_database  # noqa: E402

ADMIN_URL = os.environ.get("SIMASN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_API = os.environ.get("SIMASN_RABBIT_API", "http://127.0.0.1:15672/api")
RABBIT_USER = ("guest", "guest")
AMQP_HOST = os.environ.get("SIMASN_BENCH_AMQP_HOST", "127.0.0.1:5672")
RESULTS = ROOT / "bench" / "results" / "gateway.md"
NAMEKO = ROOT / ".venv" / "bin" / "nameko"
HOST = "127.0.0.1"

PASSWORD = "Rahasia-Kuat-2026!"
HOME_OPD = "dinkes"
# Production defaults of services/identity/dependencies.py; login/s depends on them entirely.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 65536
MAX_WORKERS = 10  # Nameko's default, as in config.yaml
DB_POOL_SIZE = 10  # config.yaml's default (services use at least max_workers connections)
GATEWAY_CACHE_SECONDS = 60  # the gateway's session cache, as in config.yaml (the default)
LEASE_SECONDS = 6  # identity's SESSION_LEASE_SECONDS, as in config.yaml
LOGOUTS = 20  # sequential logouts timed per configuration (the cost of a revocation)
SESSION_CACHE_SECONDS = 5  # the prototype's cache (bench/bare_service.py: SessionCache)
TARGET_RATIO = 0.5  # issue 3: authenticated reads at >= 0.5x the bare endpoint's throughput
TARGET_P99 = 0.050  # issue 3: p99 under 50 ms at 20 concurrent clients


@dataclass(frozen=True)
class Params:
    clients: int
    rounds: int  # each scenario's timed window is split into rounds, scenarios in rotating order
    round_seconds: float  # timed window per scenario per round, concurrent clients
    sequential_seconds: float  # timed window per scenario per round, one client
    login_seconds: float  # timed window per round for the login scenario
    warmup_seconds: float  # untimed load before every timed window
    accounts: int  # pegawai created: one per reading client, one per logging-in client
    quiet_wait: float  # longest wait for an idle machine before each round


DEFAULT = Params(clients=20, rounds=3, round_seconds=5.0, sequential_seconds=2.0,
                 login_seconds=5.0, warmup_seconds=1.0, accounts=40, quiet_wait=120.0)
QUICK = Params(clients=20, rounds=1, round_seconds=1.5, sequential_seconds=0.7,
               login_seconds=2.0, warmup_seconds=0.5, accounts=40, quiet_wait=5.0)




# -- the throwaway stack ---------------------------------------------------------------------


def rabbit(method: str, path: str, body: dict | None = None) -> dict | None:
    """One call to the RabbitMQ management API."""
    request = urllib.request.Request(f"{RABBIT_API}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json"})
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, RABBIT_API, *RABBIT_USER)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    with opener.open(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def create_accounts(config: dict, nips: list[str]) -> int:
    """Register pegawai with known passwords, as an installation's bootstrap does (runs in a
    child process: Bootstrap hashes through eventlet's thread pool)."""
    from services.identity.usecases.bootstrap import Bootstrap
    from shared.config import validate_config

    boot = Bootstrap(validate_config(config), config)
    try:
        for nip in nips:
            boot.create({"login": nip, "display_name": f"Pegawai Bench {nip[-4:]}",
                         "roles": ["pegawai"], "email": f"{nip}@mail.test",
                         "home_opd": HOME_OPD}, PASSWORD)
    finally:
        boot.close()
    return len(nips)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Stack:
    """A database, a vhost, config files and `nameko run` processes, all removed by `close()`."""

    def __init__(self, workdir: Path, db_pool_size: int):
        self.workdir = workdir
        self.db_pool_size = db_pool_size
        self.processes: dict[str, Process] = {}
        self.database_url: str | None = None
        self.vhost: str | None = None
        self.ports = {"gateway": free_port(), "bare": free_port(), "probe": free_port()}
        self.config: dict = {}
        self.meter: CpuMeter | None = None

    def create(self) -> None:
        self.database_url = create_test_database(ADMIN_URL, prefix="simasn_bench")
        migrate(self.database_url)
        vhost = f"simasn_bench_{uuid.uuid4().hex[:10]}"
        rabbit("PUT", f"/vhosts/{vhost}")
        self.vhost = vhost
        rabbit("PUT", f"/permissions/{vhost}/{RABBIT_USER[0]}",
               {"configure": ".*", "write": ".*", "read": ".*"})
        big = 10**9  # rate limits out of the way: every client is 127.0.0.1
        from shared.callers import dev_keys

        self.config = {
            **dev_keys(),  # caller tokens (shared/callers.py)
            "AMQP_URI": f"pyamqp://{RABBIT_USER[0]}:{RABBIT_USER[1]}@{AMQP_HOST}/{vhost}",
            "DATABASE_URL": self.database_url,
            "LOG_LEVEL": "WARNING",
            "max_workers": MAX_WORKERS,
            "DB_POOL_SIZE": self.db_pool_size,
            "TOKEN_SIGNING_KEY": secrets.token_urlsafe(48),
            "SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "ARGON2_TIME_COST": ARGON2_TIME_COST,
            "ARGON2_MEMORY_KIB": ARGON2_MEMORY_KIB,
            "NOTIFICATION_OUTBOX": str(self.workdir / "notifications.jsonl"),
            "GATEWAY_CLIENT_RATE": big,
            "GATEWAY_CLIENT_BURST": big,
            "GATEWAY_LOGIN_RATE": big,
            "GATEWAY_LOGIN_BURST": big,
            "WEB_SERVER_ADDRESS": f"{HOST}:{self.ports['gateway']}",
            "GATEWAY_SESSION_CACHE_SECONDS": 0,
            "SESSION_LEASE_SECONDS": LEASE_SECONDS,
        }
        self.write_config("config.yaml", self.config)
        self.write_config("bare.yaml", {**self.config,
                                        "WEB_SERVER_ADDRESS": f"{HOST}:{self.ports['bare']}"})
        self.write_config("gateway-cached.yaml",
                          {**self.config, "GATEWAY_SESSION_CACHE_SECONDS": GATEWAY_CACHE_SECONDS})
        self.write_config("probe.yaml", {**self.config,
                                         "WEB_SERVER_ADDRESS": f"{HOST}:{self.ports['probe']}",
                                         "BENCH_SESSION_CACHE_SECONDS": SESSION_CACHE_SECONDS})

    def write_config(self, name: str, data: dict) -> None:
        (self.workdir / name).write_text(yaml.safe_dump(data), encoding="utf-8")

    def start(self, name: str, target: str, config: str) -> None:
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(
                [str(NAMEKO), "run", "--config", str(self.workdir / config), target],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes[name] = Process(name, popen, log_path)

    def check_alive(self) -> None:
        for process in self.processes.values():
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n"
                                   f"{process.tail()}")

    def wait_http(self, port: int, path: str, deadline: float) -> None:
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered 200 on http://{HOST}:{port}{path}")
            time.sleep(0.2)

    def wait_rpc_consumer(self, service: str, deadline: float) -> None:
        """A service answers RPC once its queue has a consumer."""
        while True:
            self.check_alive()
            try:
                queue = rabbit("GET", f"/queues/{self.vhost}/rpc-{service}")
                if queue and queue.get("consumers", 0) > 0:
                    return
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} never consumed its RPC queue")
            time.sleep(0.2)

    def restart(self, name: str, target: str, config: str) -> None:
        """Stop one process (as `stop` does) and start it again with another config."""
        process = self.processes.pop(name)
        process.popen.terminate()
        try:
            process.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait(timeout=10)
        self.start(name, target, config)

    def wait_lease(self, deadline: float) -> None:
        """The restarted gateway serves from its cache once identity granted it a lease."""
        while True:
            self.check_alive()
            with psycopg2.connect(self.database_url) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM identity.session_cache_leases "
                            "WHERE expires_at > now()")
                if cur.fetchone()[0]:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway never got a session-cache lease")
            time.sleep(0.2)

    def pid(self, name: str) -> int:
        return self.processes[name].popen.pid

    def stop(self) -> None:
        for process in self.processes.values():
            if process.popen.poll() is None:
                process.popen.terminate()
        # `nameko run` handles SIGTERM only when its eventlet hub wakes up; a process with no
        # AMQP traffic (the bare route) sleeps on in epoll, so wake every HTTP process once
        for port in self.ports.values():
            try:
                with socket.create_connection((HOST, port), timeout=1) as sock:
                    sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            except OSError:
                pass
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{process.name} ignored SIGTERM; killing it")
                process.popen.kill()
                process.popen.wait(timeout=10)

    def close(self) -> None:
        try:
            if self.meter:
                self.meter.close()
            self.stop()
        finally:
            try:
                if self.vhost:
                    rabbit("DELETE", f"/vhosts/{self.vhost}")
            finally:
                if self.database_url:
                    drop_test_database(self.database_url)


# -- CPU accounting from /proc -----------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def all_processes() -> dict[int, tuple[str, float]]:
    """pid -> (name, CPU seconds) for every process on the machine; a PostgreSQL client
    backend is named `postgres:<database>`."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
                name = raw[raw.index("(") + 1:raw.rindex(")")]
                if name == "postgres":
                    # "postgres: 15/main: <user> <database> <host>(<port>) <state>"
                    words = (entry / "cmdline").read_bytes().decode(errors="replace").split()
                    if len(words) >= 5 and ("(" in words[4] or words[4] == "[local]"):
                        name = f"postgres:{words[3]}"
            except (OSError, ValueError):
                continue
            after = raw.rsplit(")", 1)[1].split()
            table[int(entry.name)] = (name, (int(after[11]) + int(after[12])) / CLOCK_TICKS)
    return table


def kernel_and_machine() -> tuple[float, float]:
    """(CPU seconds spent in interrupts and softirqs, CPU seconds not idle), all cores, since
    boot; steal time (the hypervisor's) counts as neither."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    return (irq + softirq) / CLOCK_TICKS, (user + nice + system + irq + softirq) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds per group of processes over a window. RabbitMQ is `beam.smp`; PostgreSQL is
    the backends connected to the benchmark's database plus the server's own processes. /proc
    is read at the window's edges, so a process that starts and ends inside a window (a
    database connection opened and closed) is missing from every group and shows only in
    the machine's busy time."""

    def __init__(self, fixed: dict[str, list[int]], database_url: str):
        self.group_of = {pid: group for group, pids in fixed.items() for pid in pids}
        self.groups = list(fixed)
        self.database = database_name(database_url)
        self.conn = psycopg2.connect(database_url)
        self.conn.autocommit = True

    def close(self) -> None:
        self.conn.close()

    def db_sessions(self) -> int:
        """Connections ever made to the benchmark's database (counted as they end)."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = "
                        "current_database()")
            return cur.fetchone()[0]

    def snapshot(self):
        return all_processes(), kernel_and_machine(), self.db_sessions()

    def track(self, group: str, pid: int) -> None:
        self.group_of[pid] = group

    def difference(self, before, after) -> dict[str, float]:
        (procs0, (kernel0, busy0), sessions0) = before
        (procs1, (kernel1, busy1), sessions1) = after
        out = dict.fromkeys([*self.groups, "rabbitmq", "postgresql"], 0.0)
        others: Counter = Counter()
        for pid, (name, cpu) in procs1.items():
            spent = cpu - procs0.get(pid, (name, 0.0))[1]
            if spent <= 0:
                continue
            if pid in self.group_of:
                out[self.group_of[pid]] += spent
            elif name == "beam.smp":
                out["rabbitmq"] += spent
            elif name in ("postgres", f"postgres:{self.database}"):
                out["postgresql"] += spent
            else:
                others[f"other:{name}"] += spent
        out.update(others)
        out["kernel"] = kernel1 - kernel0
        out["machine"] = busy1 - busy0
        out["db_sessions"] = float(sessions1 - sessions0)
        return out


QUIET_SHARE = 0.25  # of all cores: what the machine may be doing before a round starts


def wait_for_quiet(limit: float, sample: float = 2.0) -> float:
    """Before a round, wait (up to `limit` seconds) until the machine has been mostly idle for
    `sample` seconds, so another program's burst does not land on one scenario only. Returns
    the busy share of all cores seen last."""
    deadline = time.monotonic() + limit
    while True:
        _, busy0 = kernel_and_machine()
        time.sleep(sample)
        _, busy1 = kernel_and_machine()
        share = (busy1 - busy0) / (sample * (os.cpu_count() or 1))
        if share < QUIET_SHARE or time.monotonic() > deadline:
            return share
        log(f"machine {share:.0%} busy before the round; waiting for it to calm down")


# -- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    port_of: str  # which process it talks to: gateway, bare or probe
    http_process: str  # the process that answers HTTP
    rpc_process: str | None  # the process behind it, if any
    rpcs: int
    call_for: Callable[[int], Call]  # client number -> its request
    expect: int = 200


@dataclass
class Run:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    body_bytes: int = 0
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    expect: int = 200

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != self.expect)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def combined(runs: list[Run]) -> Run:
    """All rounds as one run: total requests over total timed seconds, latencies pooled."""
    cpu: Counter = Counter()
    statuses: Counter = Counter()
    for run in runs:
        cpu.update(run.cpu)
        statuses.update(run.statuses)
    return Run(sum(r.requests for r in runs), sum(r.seconds for r in runs),
               [lat for r in runs for lat in r.latencies], statuses, dict(cpu),
               max((r.body_bytes for r in runs), default=0),
               next((r.first_error for r in runs if r.first_error), None),
               runs[0].expect if runs else 200)


def rotated(items: list, turn: int) -> list:
    """Each round starts with a different scenario, so drifting background load (this machine
    is shared) does not always favour the same one."""
    turn %= len(items)
    return items[turn:] + items[:turn]


def run_load(port: int, call_for: Callable[[int], Call], clients: int, warmup: float,
             seconds: float, meter: CpuMeter, expect: int = 200) -> Run:
    """`clients` threads send requests back to back for `warmup` + `seconds`; a request counts
    when its response completes inside the timed window (so slow requests straddling its start
    or end do not skew the rate)."""
    origin = time.perf_counter() + 0.05 * clients / 10  # let every thread connect first
    start, end = origin + warmup, origin + warmup + seconds
    results = [{"latencies": [], "statuses": Counter(), "body_bytes": 0, "error": None}
               for _ in range(clients)]

    def client(number: int) -> None:
        mine, latencies, statuses = results[number], results[number]["latencies"], \
            results[number]["statuses"]
        call = call_for(number)
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.perf_counter() < origin:
            time.sleep(0.001)
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                conn.request(call.method, call.path, call.body, call.headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                status, data = 0, repr(exc).encode()
            t1 = time.perf_counter()
            if start <= t1 <= end:
                latencies.append(t1 - t0)
                statuses[status] += 1
            if status == expect:
                mine["body_bytes"] = len(data)
            elif mine["error"] is None:
                mine["error"] = f"{status}: {data[:300].decode(errors='replace')}"
        conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start - time.perf_counter()))
    before = meter.snapshot()
    time.sleep(max(0.0, end - time.perf_counter()))
    after = meter.snapshot()
    for thread in threads:
        thread.join(timeout=120)
        if thread.is_alive():
            raise RuntimeError("a client did not finish within 120 s of the window's end")
    run = Run(0, end - start, cpu=meter.difference(before, after), expect=expect)
    for mine in results:
        run.requests += len(mine["latencies"])
        run.latencies.extend(mine["latencies"])
        run.statuses.update(mine["statuses"])
        run.body_bytes = max(run.body_bytes, mine["body_bytes"])
        run.first_error = run.first_error or mine["error"]
    return run


def request_once(port: int, call: Call) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(call.method, call.path, call.body, call.headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def login_call(nip: str) -> Call:
    body = orjson.dumps({"login": nip, "password": PASSWORD, "device": "bench"})
    return Call("POST", "/api/auth/login", body, {"Content-Type": "application/json",
                                                  "User-Agent": "bench/gateway.py"})


def log_in(port: int, nip: str, deadline: float) -> str:
    """An access token for `nip`, retrying while the stack is still coming up."""
    while True:
        status, data = request_once(port, login_call(nip))
        if status == 200:
            return orjson.loads(data)["access_token"]
        if time.monotonic() > deadline:
            raise RuntimeError(f"login of {nip} answered {status}: {data[:300]!r}")
        time.sleep(0.2)


def time_logouts(port: int, nip: str, count: int) -> list[float]:
    """Log `nip` in `count` times, then time each logout (a revocation: with the session cache
    on, identity answers it only after every leaseholding gateway dropped the session)."""
    deadline = time.monotonic() + 120
    tokens = [log_in(port, nip, deadline) for _ in range(count)]
    took = []
    for token in tokens:
        call = Call("POST", "/api/auth/logout", None, {"Authorization": f"Bearer {token}",
                                                       "Content-Type": "application/json"})
        started = time.perf_counter()
        status, data = request_once(port, call)
        took.append(time.perf_counter() - started)
        if status != 204:
            raise RuntimeError(f"logout answered {status}: {data[:300]!r}")
        status, _ = request_once(port, Call("GET", "/api/me", None,
                                            {"Authorization": f"Bearer {token}"}))
        if status != 401:
            raise RuntimeError(f"a logged-out token was answered {status}")
    return sorted(took)


def scenarios(readers: list[str], tokens: list[str], loggers: list[str]) -> dict[str, Scenario]:
    def bearer(number: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[number]}"}

    return {s.key: s for s in [
        Scenario("bare", "bare Nameko `GET /bare` (no RPC)", "bare", "bare", None, 0,
                 lambda n: Call("GET", "/bare", None, {})),
        # (not a login body: login-type routes take a token from the shared login limit in
        # PostgreSQL first, and 20 clients on one key would measure that row's lock)
        Scenario("plumbing", "gateway plumbing, no RPC: `GET /api/me` without a token (401 "
                 "problem)", "gateway", "gateway", None, 0,
                 lambda n: Call("GET", "/api/me", None, {}), expect=401),
        Scenario("cached", "prototype: token verified locally, session cached "
                 f"{SESSION_CACHE_SECONDS:g} s (`GET /probe/cached`)", "probe", "probe",
                 "identity", 0, lambda n: Call("GET", "/probe/cached", None, bearer(n))),
        Scenario("echo", "HTTP + one RPC to an echo (`GET /probe/echo`)", "probe", "probe",
                 "echo", 1, lambda n: Call("GET", "/probe/echo", None, {})),
        Scenario("probe_auth", "HTTP + identity.authenticate (`GET /probe/authenticate`)",
                 "probe", "probe", "identity", 1,
                 lambda n: Call("GET", "/probe/authenticate", None, bearer(n))),
        Scenario("me", "gateway `GET /api/me`", "gateway", "gateway", "identity", 1,
                 lambda n: Call("GET", "/api/me", None, bearer(n))),
        Scenario("account", "gateway `GET /api/accounts/<own nip>`", "gateway", "gateway",
                 "identity", 2,
                 lambda n: Call("GET", f"/api/accounts/{readers[n]}", None, bearer(n))),
        Scenario("login", "gateway `POST /api/auth/login`", "gateway", "gateway", "identity", 1,
                 lambda n: login_call(loggers[n])),
    ]}


# -- reporting -----------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"










def machine() -> dict[str, str]:
    overview = rabbit("GET", "/overview") or {}
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "postgresql": postgres_description(ADMIN_URL),
        "rabbitmq": f"{overview.get('rabbitmq_version', '?')} "
                    f"(Erlang {overview.get('erlang_version', '?')})",
        "packages": ", ".join(f"{p} {package_version(p)}" for p in
                              ("nameko", "eventlet", "kombu", "werkzeug", "argon2-cffi",
                               "PyJWT", "SQLAlchemy", "psycopg2-binary")),
    }


CPU_GROUPS = ("client", "http", "rpc", "rabbitmq", "postgresql", "kernel")


def cpu_per_request(run: Run, scenario: Scenario) -> dict[str, float]:
    """CPU milliseconds per completed request for each part of the path, plus what else the
    machine did in the same windows ("other")."""
    n = max(run.requests, 1)
    parts = {
        "client": run.cpu.get("client", 0.0),
        "http": run.cpu.get(scenario.http_process, 0.0),
        "rpc": run.cpu.get(scenario.rpc_process, 0.0) if scenario.rpc_process else 0.0,
        "rabbitmq": run.cpu.get("rabbitmq", 0.0),
        "postgresql": run.cpu.get("postgresql", 0.0),
    }
    known = sum(run.cpu.get(k, 0.0) for k in ("client", "bare", "probe", "echo", "gateway",
                                               "identity", "rabbitmq", "postgresql", "kernel"))
    out = {k: v * 1000 / n for k, v in parts.items()}
    out["kernel"] = run.cpu.get("kernel", 0.0) * 1000 / n
    out["other"] = max(0.0, run.cpu.get("machine", 0.0) - known) * 1000 / n
    out["total"] = run.cpu.get("machine", 0.0) * 1000 / n
    return out


def report(info: dict, params: Params, catalogue: dict[str, Scenario], loaded: dict,
           sequential: dict, logins: list[Run], pooled: dict, pooled_one: dict, logouts: dict,
           took: float, quick: bool, profiles: list[str]) -> str:
    bare = combined(loaded["bare"])
    nproc = int(info["nproc"])
    lines = [
        "# Gateway benchmark",
        "",
        f"Run {info['date']} by `make bench-gateway` (bench/gateway.py"
        f"{' --quick' if quick else ''}); took {took:.0f} s. **Client and servers share the "
        f"machine's {nproc} cores**: the load generator (Python threads in one process), every "
        "Nameko process, RabbitMQ and PostgreSQL compete for them, and so may anything else "
        f"running on the machine (load average 1/5/15 min: {info['load_start']} at start, "
        f"{info['load_end']} at end; the \"other\" CPU column below is that share). Each "
        f"round waits up to {params.quiet_wait:g} s for the machine to be under "
        f"{QUIET_SHARE:.0%} busy; busy share seen before each round (concurrent, one-client, "
        f"login, then session-cache rounds): {info['quiet']}.",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}",
        f"- PostgreSQL {info['postgresql']}; RabbitMQ {info['rabbitmq']}",
        f"- {info['packages']}",
        "- each service is its own `nameko run` process (identity, gateway, the bare route, the "
        f"probe, the echo) with max_workers {MAX_WORKERS} (Nameko's default, so at most "
        f"{MAX_WORKERS} requests in flight per process; the rest wait for a worker) and "
        f"DB_POOL_SIZE {info['db_pool_size']} (a service keeps at least max_workers pooled "
        "connections), in a throwaway "
        "database and RabbitMQ vhost; LOG_LEVEL WARNING; the gateway's rate limits set out of "
        "the way",
        f"- accounts: {params.accounts} pegawai (home OPD `{HOME_OPD}`) created with "
        "`services.identity.usecases.bootstrap.Bootstrap`; passwords hashed with **Argon2id "
        "time_cost "
        f"{ARGON2_TIME_COST}, memory {ARGON2_MEMORY_KIB} KiB ({ARGON2_MEMORY_KIB // 1024} MiB), "
        "parallelism 1** — the production defaults. A login verifies at the cost recorded in "
        "the stored hash, hashed in identity's eventlet thread pool.",
        f"- load: {params.clients} clients = {params.clients} threads, each with its own "
        "keep-alive `http.client` connection and its own account (logged in beforehand for "
        f"reads; a different pegawai per client for logins); {params.rounds} round(s) of "
        f"{params.round_seconds:g} s per read scenario (logins {params.login_seconds:g} s, one "
        f"client {params.sequential_seconds:g} s), scenarios in rotating order, "
        f"{params.warmup_seconds:g} s of untimed load before every timed window; req/s = "
        "responses completed inside the timed windows ÷ timed seconds; latency = request sent → "
        "body read, as the client sees it",
        "- targets (issue 19 target 3, restating issue 3's), reported here, never asserted: "
        f"a gateway read that needs one backend at ≥ {TARGET_RATIO}× the req/s of an HTTP "
        f"route making one echo RPC, and p99 < {TARGET_P99 * 1000:.0f} ms, at "
        f"{params.clients} clients (the tables with the cache off still compare to the bare "
        "route, as issue 3 did)",
        "",
        *pool_section(catalogue, loaded, pooled, pooled_one, logins, logouts, params),
        *profiles,
        "## The same reads with the cache off: identity asked on every request "
        "(GATEWAY_SESSION_CACHE_SECONDS 0)",
        "",
        "| scenario | RPCs | req/s | ÷ bare | p50 ms | p99 ms | non-200 "
        f"| ≥ {TARGET_RATIO}× bare | p99 < {TARGET_P99 * 1000:.0f} ms |",
        "|---|--:|--:|--:|--:|--:|--:|---|---|",
        f"| {catalogue['bare'].label} | 0 | {fmt_rate(bare.rate)} | 1.00× "
        f"| {fmt_ms(bare.percentile(0.5))} | {fmt_ms(bare.percentile(0.99))} "
        f"| {bare.failures} | | |",
    ]
    for key in ("me", "account"):
        run, scenario = combined(loaded[key]), catalogue[key]
        p99 = run.percentile(0.99)
        lines.append(
            f"| {scenario.label} | {scenario.rpcs} | {fmt_rate(run.rate)} "
            f"| {fmt_ratio(run.rate, bare.rate)} | {fmt_ms(run.percentile(0.5))} "
            f"| {fmt_ms(p99)} | {run.failures} | {verdict(run.rate >= TARGET_RATIO * bare.rate)} "
            f"| {verdict(p99 < TARGET_P99)} |")
    login = combined(logins)
    lines += [
        f"| {catalogue['login'].label} (login/s) | 1 | {fmt_rate(login.rate)} "
        f"| n/a | {fmt_ms(login.percentile(0.5))} "
        f"| {fmt_ms(login.percentile(0.99))} | {login.failures} | no target | no target |",
        "",
        f"- response bodies: bare {bare.body_bytes} bytes, `/api/me` "
        f"{combined(loaded['me']).body_bytes} bytes, `/api/accounts/<nip>` "
        f"{combined(loaded['account']).body_bytes} bytes.",
        f"- a login: Argon2id verify (t={ARGON2_TIME_COST}, {ARGON2_MEMORY_KIB // 1024} MiB) "
        "in identity's thread pool, a session row, a `LoginSucceeded` event, a signed JWT; "
        "every login creates a session.",
        "",
        "## One client, sequential (latency without queueing)",
        "",
        "| scenario | req/s | p50 ms | p99 ms | non-200 |",
        "|---|--:|--:|--:|--:|",
    ]
    for key, runs in sequential.items():
        run = combined(runs)
        lines.append(f"| {catalogue[key].label} | {fmt_rate(run.rate)} "
                     f"| {fmt_ms(run.percentile(0.5))} | {fmt_ms(run.percentile(0.99))} "
                     f"| {run.failures} |")
    lines += [
        "",
        f"## Where the time goes: layer by layer ({params.clients} clients unless noted)",
        "",
        "| layer | RPCs | req/s | ÷ bare | p50 ms | p99 ms | 1 client p50 ms "
        "| CPU ms per request: client | HTTP process | RPC server | RabbitMQ | PostgreSQL "
        "| kernel irq | other | all | machine busy | new DB connections/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key, runs in loaded.items():
        run, scenario = combined(runs), catalogue[key]
        cpu = cpu_per_request(run, scenario)
        seq = combined(sequential[key]) if key in sequential else None
        busy = run.cpu.get("machine", 0.0) / (run.seconds * nproc) * 100
        lines.append(
            f"| {scenario.label} | {scenario.rpcs} | {fmt_rate(run.rate)} "
            f"| {fmt_ratio(run.rate, bare.rate)} | {fmt_ms(run.percentile(0.5))} "
            f"| {fmt_ms(run.percentile(0.99))} | {fmt_ms(seq.percentile(0.5)) if seq else ''} | "
            + " | ".join(f"{cpu[k]:.2f}" for k in (*CPU_GROUPS, "other", "total"))
            + f" | {busy:.0f}% | {run.cpu.get('db_sessions', 0.0) / run.seconds:.0f} |")
    cpu = cpu_per_request(login, catalogue["login"])
    busy = login.cpu.get("machine", 0.0) / (login.seconds * nproc) * 100
    lines.append(
        f"| {catalogue['login'].label} | 1 | {fmt_rate(login.rate)} "
        f"| n/a | {fmt_ms(login.percentile(0.5))} "
        f"| {fmt_ms(login.percentile(0.99))} | | "
        + " | ".join(f"{cpu[k]:.2f}" for k in (*CPU_GROUPS, "other", "total"))
        + f" | {busy:.0f}% | {login.cpu.get('db_sessions', 0.0) / login.seconds:.0f} |")
    lines += [
        "",
        "- HTTP process = the process answering HTTP (bare route, probe or gateway); RPC server "
        "= the process behind it (echo or identity). CPU is user+system time read from /proc at "
        "the start and end of every timed window, divided by the requests completed in it. "
        "PostgreSQL = the backends connected to this run's database and the server's own "
        "processes. kernel irq = interrupt and softirq time (loopback networking). all = every "
        "core's busy time over the same windows; other = all minus everything listed: other "
        "programs and other databases' backends (named below), and processes that started and "
        "ended inside a window — database connections opened and closed, see the last column. "
        "machine "
        f"busy = all ÷ ({nproc} cores × window). new DB connections/s = sessions that ended in "
        "this run's database (pg_stat_database), per second of window.",
        other_processes(loaded, logins),
        "- a single Python process runs on one core at a time: an HTTP or RPC process near "
        "1,000 ms of CPU per second is saturated whatever the other core does.",
        "",
        *findings(catalogue, loaded, sequential, nproc),
        "",
        "## Ratios round by round (cache off)",
        "",
        "| scenario | req/s per round | ÷ bare per round | p99 ms per round |",
        "|---|---|---|---|",
    ]
    for key, runs in loaded.items():
        lines.append(
            f"| {catalogue[key].label} | {', '.join(fmt_rate(r.rate) for r in runs)} | "
            + ", ".join(f"{r.rate / b.rate:.2f}" for r, b in zip(runs, loaded["bare"]))
            + f" | {', '.join(fmt_ms(r.percentile(0.99)) for r in runs)} |")
    lines.append(f"| {catalogue['login'].label} | {', '.join(fmt_rate(r.rate) for r in logins)} "
                 f"| n/a | {', '.join(fmt_ms(r.percentile(0.99)) for r in logins)} |")
    errors = [(catalogue[key].label, combined(runs).first_error)
              for key, runs in [*loaded.items(), *sequential.items(), ("login", logins)]
              if combined(runs).first_error]
    if errors:
        lines += ["", "## First error answer per scenario", ""]
        lines += [f"- {label}: `{error}`" for label, error in errors]
    return "\n".join(lines) + "\n"


def pool_section(catalogue: dict[str, Scenario], loaded: dict, pooled: dict, pooled_one: dict,
                 logins: list[Run], logouts: dict, params: Params) -> list[str]:
    """The headline: the production default (session cache on, revocations fenced), with a
    fresh bare baseline measured in the same rounds, and what a revocation costs."""
    bare = combined(pooled["bare"])
    login = combined(logins)
    lines = [
        f"## Main figures: the production default, {params.clients} concurrent clients",
        "",
        f"GATEWAY_SESSION_CACHE_SECONDS {GATEWAY_CACHE_SECONDS} (config.yaml): the gateway "
        "verifies the token's signature itself and reuses identity's answer about the session, "
        "while it holds a lease from identity (SESSION_LEASE_SECONDS "
        f"{LEASE_SECONDS}) and its fence queue is connected. Logout, disabling and role removal "
        "still take effect at once at every replica: identity answers them only after every "
        "leaseholding replica dropped the session (services/identity/fences.py; "
        "tests/test_gateway_sessions.py). The bare route "
        "and the echo route are measured again in the same rounds (20 clients, then one) "
        "for the ratios. `GET /api/me` is answered from the cache (no RPC); "
        "`GET /api/accounts/<nip>` still needs identity.get_account (one RPC).",
        "",
        f"| scenario | RPCs | req/s | ÷ bare | ÷ echo | p50 ms | p99 ms | 1 client: p50, p99 ms "
        f"| non-200 | CPU ms per request (all) | cache off: req/s, p99 ms "
        f"| ≥ {TARGET_RATIO}× echo | p99 < {TARGET_P99 * 1000:.0f} ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    echo = combined(pooled["echo"])
    for key in ("bare", "echo", "me", "account"):
        run, one = combined(pooled[key]), combined(pooled_one[key])
        before = combined(loaded[key])
        p99 = run.percentile(0.99)
        gateway = key in ("me", "account")
        rpcs = catalogue[key].rpcs - 1 if gateway else catalogue[key].rpcs
        lines.append(
            f"| {catalogue[key].label} | {rpcs} | {fmt_rate(run.rate)} "
            f"| {fmt_ratio(run.rate, bare.rate)} | {fmt_ratio(run.rate, echo.rate)} "
            f"| {fmt_ms(run.percentile(0.5))} | {fmt_ms(p99)} "
            f"| {fmt_ms(one.percentile(0.5))}, {fmt_ms(one.percentile(0.99))} | {run.failures} "
            f"| {cpu_per_request(run, catalogue[key])['total']:.2f} "
            f"| {fmt_rate(before.rate)}, {fmt_ms(before.percentile(0.99))} "
            + (f"| {verdict(run.rate >= TARGET_RATIO * echo.rate)} | {verdict(p99 < TARGET_P99)} |"
               if gateway else "| | |"))
    lines += [
        f"| {catalogue['login'].label} (login/s) | 1 | {fmt_rate(login.rate)} | n/a | n/a "
        f"| {fmt_ms(login.percentile(0.5))} | {fmt_ms(login.percentile(0.99))} | "
        f"| {login.failures} | | | no target | no target |",
        "",
        "- ratios per round (cache on), ÷ echo: `/api/me` "
        + ", ".join(f"{r.rate / b.rate:.2f}" for r, b in zip(pooled["me"], pooled["echo"]))
        + "; `/api/accounts/<nip>` "
        + ", ".join(f"{r.rate / b.rate:.2f}" for r, b in zip(pooled["account"], pooled["echo"]))
        + "; ÷ bare: `/api/accounts/<nip>` "
        + ", ".join(f"{r.rate / b.rate:.2f}" for r, b in zip(pooled["account"], pooled["bare"]))
        + ".",
        "- echo = `GET /probe/echo` (bench/bare_service.py): an HTTP route making one RPC to a "
        "service that returns its argument — the floor of any read that needs one backend "
        "(issue 19 target 3: ≥ 0.5× it).",
        "",
        "### What a revocation costs",
        "",
        f"{LOGOUTS} logouts through the gateway, one after another (each followed by a read "
        "with the logged-out token, which must be refused with 401):",
        "",
        "| gateway | p50 ms | p99 ms | slowest ms |",
        "|---|--:|--:|--:|",
    ]
    for key, label in (("strict", "cache off (identity asked on every request)"),
                       ("cached", "cache on: identity waits for the replica's acknowledgement")):
        took = logouts.get(key) or []
        if took:
            p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
            lines.append(f"| {label} | {fmt_ms(took[len(took) // 2])} | {fmt_ms(p99)} "
                         f"| {fmt_ms(took[-1])} |")
    lines += [
        "",
        "- a replica that stopped answering holds a revocation up for at most its lease "
        f"({LEASE_SECONDS} s); one that stops cleanly gives its lease back.",
        "",
    ]
    return lines


def other_processes(loaded: dict, logins: list[Run]) -> str:
    """The busiest processes outside the benchmark during the concurrent timed windows."""
    runs = [run for runs in loaded.values() for run in runs] + logins
    seconds = sum(run.seconds for run in runs)
    spent: Counter = Counter()
    for run in runs:
        spent.update({k[len("other:"):]: v for k, v in run.cpu.items()
                      if k.startswith("other:")})
    top = ", ".join(f"`{name}` {cpu / seconds * 100:.1f}%" for name, cpu in spent.most_common(5))
    return ("- busiest processes outside the benchmark during the concurrent windows (% of one "
            f"core): {top or 'none'}.")


def findings(catalogue: dict[str, Scenario], loaded: dict, sequential: dict,
             nproc: int) -> list[str]:
    """Differences between adjacent layers, computed from this run."""

    def seq_p50(key: str) -> float:
        return combined(sequential[key]).percentile(0.5) * 1000 if key in sequential else 0.0

    def cpu_all(key: str) -> float:
        return cpu_per_request(combined(loaded[key]), catalogue[key])["total"]

    steps = [("bare", "plumbing", "the gateway's endpoint plumbing alone (request id, client "
                                  "rate limit, body read, bearer check, problem answer), no RPC"),
             ("bare", "cached", "prototype: token verified in the HTTP process, identity's "
                                "answer cached per session"),
             ("bare", "echo", "one RPC hop (HTTP process → RabbitMQ → echo → back)"),
             ("echo", "probe_auth", "identity's work in authenticate (JWT check, one "
                                    "PostgreSQL transaction, schema dump) instead of an echo"),
             ("probe_auth", "me", "the gateway's plumbing around that same RPC (role check, "
                                  "context headers on the RPC, response schema)"),
             ("me", "account", "a second RPC, identity.get_account (another transaction)")]
    lines = ["What each layer adds (1-client p50 latency; CPU over all processes per request "
             "at full load):", ""]
    for before, after, what in steps:
        if before in loaded and after in loaded:
            lines.append(f"- {what}: {seq_p50(after) - seq_p50(before):+.2f} ms p50, "
                         f"{cpu_all(after) - cpu_all(before):+.2f} ms CPU per request")
    if "me" in loaded:
        run = combined(loaded["me"])
        churn = run.cpu.get("db_sessions", 0.0) / run.seconds
        if churn >= 1:
            lines.append(f"- under `/api/me` load identity opened and closed {churn:.0f} "
                         "PostgreSQL connections per second: with more workers busy than "
                         "DB_POOL_SIZE, SQLAlchemy's overflow connections are closed as soon as "
                         "they are returned, so the next burst connects again")
    return lines


def measure(stack: Stack, meter: CpuMeter, catalogue: dict[str, Scenario], keys: list[str],
            params: Params, clients: int, quiet: list[float], label: str = ""
            ) -> dict[str, list[Run]]:
    """Every scenario in `keys`, `params.rounds` times, in rotating order; each round first
    waits for a quiet machine (the busy share it saw goes to `quiet`)."""
    runs: dict[str, list[Run]] = {key: [] for key in keys}
    login = keys == ["login"]
    seconds = (params.login_seconds if login else params.round_seconds if clients > 1
               else params.sequential_seconds)
    warmup = params.warmup_seconds * (2 if login else 1 if clients > 1 else 0.5)
    for turn in range(params.rounds):
        quiet.append(wait_for_quiet(params.quiet_wait))
        for key in rotated(keys, turn):
            scenario = catalogue[key]
            run = run_load(stack.ports[scenario.port_of], scenario.call_for, clients, warmup,
                           seconds, meter, scenario.expect)
            runs[key].append(run)
            log(f"round {turn + 1} {label:<4} {key:<10} {clients:>2} client(s) "
                f"{fmt_rate(run.rate):>7} req/s  p50 {fmt_ms(run.percentile(0.5))} ms  "
                f"p99 {fmt_ms(run.percentile(0.99))} ms  unexpected {run.failures}")
    return runs


def profile(stack: Stack, meter: CpuMeter, catalogue: dict[str, Scenario], params: Params,
            folder: Path) -> list[str]:
    """py-spy on the processes of a scenario while `params.clients` clients load it (the
    cached gateway's `/api/accounts/<nip>`, then the echo route); the summary as markdown."""
    seconds = max(5.0, 2 * params.round_seconds)
    lines = ["## Where the gateway's time goes: py-spy under load", ""]
    for key, processes in (("account", ("gateway", "identity")), ("echo", ("probe", "echo"))):
        scenario = catalogue[key]
        target = folder / key
        log(f"profiling {key} for {seconds:g} s: {', '.join(processes)}")
        profilers = start_profiles({name: stack.pid(name) for name in processes}, target)
        try:
            run = run_load(stack.ports[scenario.port_of], scenario.call_for, params.clients,
                           0.0, seconds, meter, scenario.expect)
        finally:
            stop_profiles(profilers)
        lines += [f"### {scenario.label}, {params.clients} clients ({fmt_rate(run.rate)} req/s "
                  "while sampled)", "",
                  *profile_lines(target, run.seconds, f"of {params.clients}-client load"), ""]
    return lines


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, a smoke run")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"results file (default {RESULTS.relative_to(ROOT)}; "
                             "none with --quick)")
    parser.add_argument("--db-pool-size", type=int, default=DB_POOL_SIZE,
                        help=f"DB_POOL_SIZE of every service (default {DB_POOL_SIZE}, as in "
                             "config.yaml)")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="longest wait for an idle machine before each round (seconds)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="after the rounds, sample the gateway, identity and the echo "
                             "route with py-spy under 20-client load; raw files go to DIR")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else DEFAULT
    if args.quiet_wait is not None:
        params = replace(params, quiet_wait=args.quiet_wait)
    output = args.output if args.output else (None if args.quick else RESULTS)
    if params.accounts < 2 * params.clients:
        raise SystemExit("need one account per reading client and one per logging-in client")

    # SIGTERM (make interrupted, a CI timeout) unwinds through `finally` like Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_start": loadavg(),
            **machine()}
    workdir = Path(tempfile.mkdtemp(prefix="simasn-bench-gateway-"))
    stack = Stack(workdir, args.db_pool_size)
    began = time.perf_counter()
    failed = True
    try:
        log(f"throwaway database and vhost; work files in {workdir}")
        stack.create()
        nips = [f"198501012010{900000 + i:06d}" for i in range(params.accounts)]
        readers, loggers = nips[:params.clients], nips[params.clients:2 * params.clients]
        stack.start("identity", "services.identity.service:IdentityService", "config.yaml")
        stack.start("gateway", "services.gateway.service:GatewayService", "config.yaml")
        stack.start("bare", "bench.bare_service:BareService", "bare.yaml")
        stack.start("echo", "bench.bare_service:EchoService", "config.yaml")
        stack.start("probe", "bench.bare_service:ProbeService", "probe.yaml")

        log(f"creating {len(nips)} pegawai (Argon2id t={ARGON2_TIME_COST}, "
            f"{ARGON2_MEMORY_KIB // 1024} MiB) while the services start")
        t0 = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(2) as pool:
            created = sum(pool.starmap(create_accounts,
                                       [(stack.config, nips[0::2]), (stack.config, nips[1::2])]))
        log(f"created {created} accounts in {time.perf_counter() - t0:.1f} s")

        deadline = time.monotonic() + 60
        stack.wait_http(stack.ports["gateway"], "/health", deadline)
        stack.wait_http(stack.ports["bare"], "/bare", deadline)
        stack.wait_rpc_consumer("identity", deadline)
        stack.wait_rpc_consumer("bench_echo", deadline)
        stack.wait_http(stack.ports["probe"], "/probe/echo", deadline)
        tokens = [log_in(stack.ports["gateway"], nip, deadline) for nip in readers]
        log(f"stack up; {len(tokens)} readers logged in")

        meter = CpuMeter({"client": [os.getpid()],
                          **{name: [stack.pid(name)] for name in stack.processes}},
                         stack.database_url)
        stack.meter = meter
        catalogue = scenarios(readers, tokens, loggers)
        reads = ["bare", "plumbing", "cached", "echo", "probe_auth", "me", "account"]

        quiet: list[float] = []
        loaded = measure(stack, meter, catalogue, reads, params, params.clients, quiet)
        sequential = measure(stack, meter, catalogue, reads, params, 1, quiet)
        logins = measure(stack, meter, catalogue, ["login"], params, params.clients,
                         quiet)["login"]
        logouts = {"strict": time_logouts(stack.ports["gateway"], loggers[0], LOGOUTS)}
        log(f"restarting the gateway with GATEWAY_SESSION_CACHE_SECONDS {GATEWAY_CACHE_SECONDS}")
        stack.restart("gateway", "services.gateway.service:GatewayService",
                      "gateway-cached.yaml")
        stack.wait_http(stack.ports["gateway"], "/health", time.monotonic() + 60)
        stack.wait_lease(time.monotonic() + 60)
        meter.track("gateway", stack.pid("gateway"))
        pooled = measure(stack, meter, catalogue, ["bare", "echo", "me", "account"], params,
                         params.clients, quiet, label="cached")
        pooled_one = measure(stack, meter, catalogue, ["bare", "echo", "me", "account"], params,
                             1, quiet, label="cached")
        profiles = profile(stack, meter, catalogue, params, args.profile) \
            if args.profile else []
        logouts["cached"] = time_logouts(stack.ports["gateway"], loggers[1], LOGOUTS)
        stack.check_alive()
        failed = False
    finally:
        if failed:
            for process in stack.processes.values():
                log(f"--- last lines of {process.name}'s log ---\n{process.tail()}")
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    info["load_end"] = loadavg()

    info["db_pool_size"] = args.db_pool_size
    info["quiet"] = ", ".join(f"{share:.0%}" for share in quiet)
    text = report(info, params, catalogue, loaded, sequential, logins, pooled, pooled_one,
                  logouts, time.perf_counter() - began, args.quick, profiles)
    print(text, end="")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
