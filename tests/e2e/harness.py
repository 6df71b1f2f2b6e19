"""The system as it is deployed, for the end-to-end suite: `scripts/stack.sh up` (the command
behind `make up`) on a database and a RabbitMQ vhost of this run's own, every service, the
gateway and the relay in a process of its own, each with its own broker user. Tests talk to it
only over HTTP (and, for the attacks they try, over the broker with a process's credentials)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from shared.brokerauth import Management
from shared.testing import TotpSteps, create_test_database, drop_test_database
from tests.gateway_helpers import Client

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_PG = os.environ.get("SIMASN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_HOST = os.environ.get("SIMASN_TEST_RABBIT_HOST", "127.0.0.1")
MANAGEMENT = os.environ.get("SIMASN_TEST_RABBIT_MANAGEMENT", f"http://{RABBIT_HOST}:15672")
#: what a test run changes in config.yaml: cheaper password hashing, files under the run's
#: directory; everything else is the shipped config.yaml as `make up` uses it
OVERRIDES = """
# -- end-to-end run overrides --
ARGON2_TIME_COST: 1
ARGON2_MEMORY_KIB: 1024
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an environment file, read as the CLI reads `.run/secrets.env`."""
    from shared.config import load_env_file

    out: dict[str, str] = {}
    load_env_file(path, out)
    return out


@dataclass
class Seeded:
    password: str
    totp: dict[str, str]  # login -> base32 secret
    staff: dict[str, tuple[str, str]]  # login -> (role, opds)
    pegawai: dict[str, str]  # nip -> opd


@dataclass
class Stack:
    url: str
    env: dict
    run_dir: Path
    database_url: str
    amqp_admin: str
    vhost: str
    user_prefix: str
    seeded: Seeded | None = None
    #: the RabbitMQ this stack uses (the shared one unless `start` was given a private one)
    rabbit_port: int = 5672
    management: str = MANAGEMENT
    tokens: dict[str, str] = field(default_factory=dict)
    #: login -> the last TOTP step `otp` handed out (each is taken once by identity)
    otp_steps: TotpSteps = field(default_factory=TotpSteps)

    def client(self) -> Client:
        return Client(self.url)

    def cli(self, *args: str, stdin: str | None = None, check: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "simasn"), *args], input=stdin, capture_output=True,
                              text=True, cwd=ROOT, env=env or self.env, timeout=300)
        if check and done.returncode != 0:
            raise AssertionError(f"simasn {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def secrets(self) -> dict[str, str]:
        return read_env_file(self.run_dir / "secrets.env")

    def broker_uri(self, process: str) -> str:
        password = self.secrets()[f"SIMASN_BROKER_PASSWORD_{process.upper()}"]
        return (f"pyamqp://{self.user_prefix}{process}:{password}@{RABBIT_HOST}:{self.rabbit_port}"
                f"/{self.vhost}")

    def mails(self, to: str | None = None) -> list[dict]:
        path = self.run_dir / "outbox.jsonl"
        if not path.exists():
            return []
        mails = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [m for m in mails if to is None or m.get("to") == to]

    def otp(self, login: str) -> str | None:
        """A TOTP code for `login` that this process has not handed out yet
        (shared.testing.TotpSteps): the API calls and browser tests of one run log the same
        seeded staff in, and identity takes each step once per account."""
        secret = (self.seeded.totp if self.seeded else {}).get(login)
        return self.otp_steps.code(login, secret) if secret else None

    def login(self, login: str, password: str | None = None) -> str:
        """An access token for `login` (cached: a TOTP code opens one session per step)."""
        if login in self.tokens:
            return self.tokens[login]
        body = {"login": login, "password": password or self.seeded.password, "device": "e2e"}
        code = self.otp(login)
        if code:
            body["otp"] = code
        answer = self.client().call("POST", "/api/auth/login", body=body)
        if answer.status == 401 and code and answer.code in ("otp_invalid", "otp_reused"):
            wait_next_totp_step()  # the code of this step was already used: take the next one
            body["otp"] = self.otp(login)
            answer = self.client().call("POST", "/api/auth/login", body=body)
        assert answer.status == 200, (login, answer.status, answer.body)
        self.tokens[login] = answer.body["access_token"]
        return self.tokens[login]

    def log(self, process: str) -> str:
        path = self.run_dir / "logs" / f"{process}.log"
        return path.read_text(errors="replace") if path.exists() else ""


NEW_PASSWORD = "Rawon-Setan-2026"


def activate(stack: Stack, email: str) -> None:
    """The activation mail, as its recipient reads it, and the new password it sets."""
    from shared.testing import wait_for

    wait_for(lambda: stack.mails(email), timeout=30, message=f"the activation mail to {email}")
    token = stack.mails(email)[-1]["body"].rsplit(" ", 1)[-1]
    done = stack.client().call("POST", "/api/auth/password-reset",
                               body={"token": token, "new_password": NEW_PASSWORD})
    assert done.status == 204, done.body


def wait_next_totp_step() -> None:
    time.sleep(30.5 - time.time() % 30)


def start(run_dir: Path, *, admin_pg: str = ADMIN_PG, rabbit_port: int = 5672,
          management_url: str = MANAGEMENT, overrides: str = "",
          env: dict | None = None) -> Stack:
    """The stack on the shared PostgreSQL and RabbitMQ, or on the ones given (the kill loop,
    bench/chaos.py, runs it on a private pair it restarts); `overrides` are appended to the
    run's config.yaml, `env` added to the processes' environment."""
    tag = uuid.uuid4().hex[:8]
    vhost = f"simasn_e2e_{tag}"
    management = Management(management_url, "guest", "guest")
    management.call("PUT", f"/api/vhosts/{vhost}")
    management.call("PUT", f"/api/permissions/{vhost}/guest",
                    {"configure": ".*", "write": ".*", "read": ".*"})
    database_url = create_test_database(admin_pg, prefix="simasn_e2e")
    amqp_admin = f"pyamqp://guest:guest@{RABBIT_HOST}:{rabbit_port}/{vhost}"
    config = run_dir / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text() + OVERRIDES + overrides)
    port = free_port()
    env = {**os.environ,
           "SIMASN_RUN_DIR": str(run_dir), "SIMASN_CONFIG": str(config),
           "SIMASN_DATABASE_URL": database_url, "SIMASN_AMQP_URI": amqp_admin,
           "SIMASN_RABBIT_MANAGEMENT_URL": management_url,
           "SIMASN_GATEWAY_ADDRESS": f"127.0.0.1:{port}",
           "SIMASN_BROKER_USER_PREFIX": f"{vhost}-",
           "SIMASN_DOCUMENT_ROOT": str(run_dir / "documents"),
           "SIMASN_NOTIFICATION_OUTBOX": str(run_dir / "outbox.jsonl"),
           "SIMASN_SIGNING_VERIFY_URL": f"http://127.0.0.1:{port}/verifikasi",
           "SIMASN_UP_WAIT": "120", "SIMASN_STOP_GRACE": "10", "SIMASN_RPC_TIMEOUT": "8",
           # a route answered once a document is signed through another service (a pakta
           # integritas) waits 20 + 8 s in the gateway: within the test client's 30 s
           "SIMASN_RPC_SIGNING_TIMEOUT": "20",
           # a checkpoint within seconds of a log growing, copied to a witness directory
           # (test_deployed_audit: published without login, held against by `audit verify`)
           "SIMASN_SIGNING_CHECKPOINT_SECONDS": "2",
           "SIMASN_SIGNING_WITNESS": str(run_dir / "witness"),
           # small, so one slow upload can hold it (test_deployed_errors: 503 gateway_busy)
           "SIMASN_GATEWAY_BODY_BUDGET": str(4 << 20),
           "PYTHONWARNINGS": "ignore::DeprecationWarning", **(env or {})}
    stack = Stack(f"http://127.0.0.1:{port}", env, run_dir, database_url, amqp_admin, vhost,
                  f"{vhost}-", rabbit_port=rabbit_port, management=management_url)
    try:
        up = subprocess.run([str(ROOT / "scripts" / "stack.sh"), "up"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
        if up.returncode != 0:
            raise AssertionError(f"make up failed:\n{up.stdout}\n{up.stderr}\n" +
                                 "\n".join(f"--- {p}\n{stack.log(p)[-3000:]}"
                                           for p in ("gateway", "identity", "records")))
        # the CLI as a new user runs it after `make up`: the generated secrets loaded
        stack.env = {**env, **stack.secrets()}
        stack.seeded = seed(stack)
    except BaseException:
        stop(stack)
        raise
    return stack


def seed(stack: Stack) -> Seeded:
    out = stack.cli("seed", "demo", "--pegawai", "12").stdout
    password = re.search(r"Password of every demo account: (\S+)", out).group(1)
    totp = {}
    for uri in re.findall(r"otpauth://\S+", out):
        parsed = pyotp.parse_uri(uri)
        totp[parsed.name] = parsed.secret
    staff, pegawai = {}, {}
    section = None
    for line in out.splitlines():
        if line.startswith("Staff log in"):
            section = "staff"
        elif line.startswith("Pegawai log in"):
            section = "pegawai"
        elif not line.startswith("  ") or line.startswith("  otpauth"):
            if section == "pegawai" and not line.strip():
                section = None
            continue
        elif section == "staff":
            parts = line.split()
            if len(parts) >= 3:
                staff[parts[0]] = (parts[1], parts[2])
        elif section == "pegawai":
            parts = line.split()
            pegawai[parts[0]] = parts[1]
    assert staff and pegawai, out
    return Seeded(password, totp, staff, pegawai)


def stop(stack: Stack) -> None:
    subprocess.run([str(ROOT / "scripts" / "stack.sh"), "down"], cwd=ROOT, env=stack.env,
                   capture_output=True, timeout=120)
    management = Management(stack.management, "guest", "guest")
    from shared.brokerauth import processes

    for process in processes():
        management.call("DELETE", f"/api/users/{stack.user_prefix}{process}")
    management.call("DELETE", f"/api/vhosts/{stack.vhost}")
    drop_test_database(stack.database_url)


def register_pegawai(stack: Stack, nip: str, opd: str, *, admin: str, registrar: str,
                     name: str = "Dewi Lestari", tmt_cpns: str = "2010-03-01",
                     **fields) -> str:
    """An employee as BKD and the OPD register one, through the API: the account (activated by
    the mail it gets), the record (born on the date the NIP says) with a KGB due (the last one
    in 2021) and a performance rating. `admin` and `registrar` are access tokens."""
    client = stack.client()
    email = f"{nip}@mail.test"
    account = client.call("POST", "/api/accounts", token=admin, body={
        "login": nip, "display_name": name, "email": email, "roles": ["pegawai"],
        "home_opd": opd, "reason": f"CPNS formasi {tmt_cpns[:4]}"})
    assert account.status == 201, account.body
    activate(stack, email)
    record = client.call("POST", "/api/employees", token=registrar, body={
        "nip": nip, "name": name, "status": "PNS", "opd_id": opd,
        "date_of_birth": f"{nip[0:4]}-{nip[4:6]}-{nip[6:8]}", "tmt_cpns": tmt_cpns,
        "gender": "P", "golongan": "III/a", "education_id": "40", "reason": "data awal",
        **fields})
    assert record.status == 201, record.body
    version = record.body["version"]
    for history, entry in (("gaji_berkala", {"tmt": f"2021-{tmt_cpns[5:7]}-01",
                                             "gaji_pokok": 3_500_000}),
                           ("kinerja", {"tahun": 2025, "predikat": "Baik"})):
        changed = client.call("POST", f"/api/employees/{nip}/histories", token=registrar,
                              body={"history": history, "entry": entry,
                                    "expected_version": version, "reason": "data awal"})
        assert changed.status == 200, changed.body
        version = changed.body["version"]
    return nip


def submit_kgb(stack: Stack, nip: str, token: str,
               upload=None) -> tuple[str, dict[str, str], dict]:
    """The pegawai `nip` (access token `token`) asks for a KGB: eligible, every document the
    catalogue asks for uploaded (a PDF marked with its code, or what `upload(index, code)`
    answers as (bytes, content type)), the draft made and submitted. Returns the request id,
    {document code: sha256} and the submitted request."""
    from tests.document_samples import pdf_with_text

    client = stack.client()
    eligibility = client.call("GET", f"/api/layanan/KGB/eligibility/{nip}", token=token)
    assert eligibility.status == 200 and eligibility.body["eligible"], eligibility.body
    docs = {}
    for index, code in enumerate(d["code"] for d in eligibility.body["documents_required"]):
        raw, kind = (upload(index, code) if upload else None) or \
            (pdf_with_text(marker=f"{code}-{nip}"), "application/pdf")
        uploaded = client.call("POST", "/api/documents", token=token, raw=raw,
                               headers={"Content-Type": kind})
        assert uploaded.status == 201, uploaded.body
        docs[code] = uploaded.body["sha256"]
    draft = client.call("POST", "/api/requests", token=token, body={
        "layanan": "KGB", "nip": nip, "documents": docs, "idempotency_key": f"kgb-{nip}"})
    assert draft.status == 201, draft.body
    rid = draft.body["request_id"]
    submitted = client.call("POST", f"/api/requests/{rid}/submit", token=token,
                            body={"expected_version": draft.body["version"]})
    assert submitted.status == 200 and submitted.body["state"] == "submitted", submitted.body
    return rid, docs, submitted.body
