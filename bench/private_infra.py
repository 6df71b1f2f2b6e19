"""A PostgreSQL 15 cluster and a RabbitMQ node of one run's own (own ports, own data under a
temporary directory), which the run may restart without disturbing the shared servers on
5432/5672 that the rest of the suite uses. Used by the kill loop (bench/chaos.py).

Both run as their own system users (PostgreSQL's initdb refuses root; Debian's RabbitMQ runs as
`rabbitmq`, whose Erlang cookie every `rabbitmqctl` on the machine shares), each as a child
process of ours: stopped and started again by `restart()`, stopped for good by `stop()`."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _rabbit_bin() -> Path:
    """The server's own scripts (Debian: /usr/lib/rabbitmq/bin, not the root-only wrappers in
    /usr/sbin), else wherever `rabbitmq-server` is on the PATH."""
    debian = Path("/usr/lib/rabbitmq/bin")
    if (debian / "rabbitmq-server").exists():
        return debian
    found = shutil.which("rabbitmq-server")
    if not found:
        raise RuntimeError("no RabbitMQ server (apt-get install rabbitmq-server)")
    return Path(found).resolve().parent




def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float, open_: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while port_open(port) != open_:
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still {'closed' if open_ else 'open'} "
                               f"after {timeout:.0f}s")
        time.sleep(0.1)


def _as(user: str) -> list[str]:
    """Run as `user` when we are root (initdb refuses root), as ourselves otherwise."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", user, "--"]


def _own(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def pg_bin() -> Path:
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
        return Path(found).parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql-15)")


class PrivatePostgres:
    def __init__(self, base: Path, max_connections: int = 300):
        self.dir = base / "pg"
        self.dir.mkdir()
        _own(self.dir, "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        self.bin = pg_bin()
        self.max_connections = max_connections
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*_as("postgres"), str(self.bin / "pg_ctl"), "-D", str(self.data),
                        *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            subprocess.run([*_as("postgres"), str(self.bin / "initdb"), "-D", str(self.data),
                            "-U", "postgres", "--auth=trust", "--no-sync"], check=True,
                           capture_output=True, timeout=120)
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                           f"unix_socket_directories = '{self.dir}'\n"
                           f"max_connections = {self.max_connections}\n"
                           "fsync = on\nshared_buffers = 64MB\n")
        self._ctl("-l", str(self.dir / "server.log"), "-w", "start")
        wait_port(self.port, 30)

    def restart(self, mode: str = "fast") -> None:
        """Stop (`fast`: sessions cut, a clean shutdown; `immediate`: as if the machine died,
        crash recovery at start) and start again."""
        self._ctl("-m", mode, "-w", "stop")
        self._ctl("-l", str(self.dir / "server.log"), "-w", "start")
        wait_port(self.port, 30)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._ctl("-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass


class PrivateRabbit:
    """A RabbitMQ node (own node name, AMQP, distribution and management ports, mnesia and logs
    under `base`), the management plugin on (the harness makes vhosts and users through it)."""

    def __init__(self, base: Path):
        self.dir = base / "rabbit"
        self.dir.mkdir()
        self.port = free_port()
        self.management_port = free_port()
        self.dist_port = free_port()
        self.node = f"simasn_chaos_{self.port}@localhost"
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            f"management.tcp.port = {self.management_port}\n"
            "management.tcp.ip = 127.0.0.1\n"
            "loopback_users = none\n")
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir()
        for path in (self.dir, self.dir / "mnesia", self.dir / "log",
                     self.dir / "enabled_plugins"):
            _own(path, "rabbitmq")
        self.env = {**os.environ, "RABBITMQ_NODENAME": self.node,
                    "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(self.dist_port),
                    "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
                    "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
                    "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(self.dir / "log"),
                    "ERL_EPMD_ADDRESS": "127.0.0.1"}
        if os.geteuid() == 0:
            self.env["HOME"] = pwd.getpwnam("rabbitmq").pw_dir  # its Erlang cookie
        self.process: subprocess.Popen | None = None
        self.amqp_host = "127.0.0.1"
        self.management_url = f"http://127.0.0.1:{self.management_port}"

    def _ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*_as("rabbitmq"), "env", *self._env_args(),
                               str(_rabbit_bin() / "rabbitmqctl"), "-n", self.node, *args],
                              capture_output=True, text=True, timeout=timeout)

    def _env_args(self) -> list[str]:
        keys = [k for k in self.env if k.startswith(("RABBITMQ_", "ERL_")) or k == "HOME"]
        return [f"{k}={self.env[k]}" for k in keys]

    def start(self) -> None:
        out = open(self.dir / "server.out", "ab")  # noqa: SIM115 - the node's, kept open
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [*_as("rabbitmq"), "env", *self._env_args(), str(_rabbit_bin() / "rabbitmq-server")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(self.dir))
        deadline = time.monotonic() + 120
        while not (port_open(self.port) and port_open(self.management_port)):
            if self.process.poll() is not None:
                raise RuntimeError("the private RabbitMQ stopped at start:\n" +
                                   (self.dir / "server.out").read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError("the private RabbitMQ did not open its ports in 120 s")
            time.sleep(0.2)

    def restart(self, node: bool = True) -> None:
        """Stop and start again: the whole node (`node`: the Erlang VM too, as a pod or a
        machine restart), or only the RabbitMQ application in it (`rabbitmqctl stop_app`,
        `start_app`: every connection cut, the queues recovered from disk, in a few seconds)."""
        if node:
            self.stop()
            self.start()
            return
        for step in ("stop_app", "start_app"):
            done = self._ctl(step)
            if done.returncode != 0:
                raise RuntimeError(f"rabbitmqctl {step} failed: {done.stdout}{done.stderr}")
        wait_port(self.port, 60)

    def stop(self) -> None:
        if self.process is None:
            return
        done = self._ctl("stop")
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)
        if done.returncode != 0 and port_open(self.port):
            raise RuntimeError(f"rabbitmqctl stop failed: {done.stdout}{done.stderr}")
        self.process = None
        wait_port(self.port, 30, open_=False)


class PrivateInfra:
    """Both, under one temporary directory (readable by the postgres and rabbitmq users)."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="simasn-chaos-"))
        self.base.chmod(0o755)
        self.pg = PrivatePostgres(self.base)
        self.rabbit = PrivateRabbit(self.base)

    def start(self) -> PrivateInfra:
        try:
            self.pg.start()
            self.rabbit.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.rabbit.stop()
        finally:
            self.pg.stop()

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
