"""The kill loop (issue 18 part 3): the end-to-end journeys run over HTTP through the gateway in
a loop while every process of the deployed stack (`scripts/stack.sh up`: the seven services,
the gateway and the relay under scripts/supervisor.py) is SIGKILLed at random moments, and the
stack's RabbitMQ and PostgreSQL are restarted. Afterwards: nothing lost, nothing done twice,
and how long each kind of disruption took to recover from.

    .venv/bin/python bench/chaos.py              # the full run (`make bench-chaos`)
    .venv/bin/python bench/chaos.py --short      # what tests/test_chaos.py runs in CI

The stack runs on a PostgreSQL 15 cluster and a RabbitMQ node of this run's own
(bench/private_infra.py): restarting them never disturbs the shared servers other tests use.

Journeys (each worker runs one kind in a loop):
- kgb: BKD registers a pegawai (account, activation mail, record), who asks for a KGB with its
  documents; the OPD's fasilitator claims and verifies it, BKD approves; the signing service
  signs; the pegawai downloads the PDF and the public verification accepts it;
- record: a seeded pegawai proposes an address change, the fasilitator applies it;
- region: a kabupaten/kota sends a signed batch (a new employee and a rename) to the sync
  route; the journey ends when the region's status says it is applied and BKD reads the name.

Every step retries what a disruption causes (no answer, 502/503/504, 500) until the journey's
deadline; a step whose first try may have taken effect is judged by reading the state back
(e.g. a 409 on `submit` after a lost answer: the request is already submitted). The checks
after recovery read the services' logs and tables directly: every request completed once, one
signed document each, its outcome applied to the record once, every proposed change applied
once, every region event received and applied once and in sequence order; no dead letter
parked, the outbox relayed to the head, every projection at its source's head."""

from __future__ import annotations

import argparse
import hashlib
import http.client as httpclient
import json
import os
import random
import signal
import statistics
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402

from bench.private_infra import PrivateInfra  # noqa: E402

TRANSIENT_STATUS = (500, 502, 503, 504)
REGION = "3578"  # Kota Surabaya
THINK = (0.5, 2.0)  # seconds a worker waits between two journeys
OPD = "dinkes"
FASILITATOR = "fas.dinkes1"
ADMIN = "admin.bkd"


@dataclass
class Plan:
    kills: int
    workers: dict  # journey kind -> workers
    gap: tuple[float, float]  # seconds between one recovered disruption and the next
    rabbit_restarts: int = 1
    pg_restarts: int = 1
    #: after the last disruption, every journey must be done within this many seconds
    settle: float = 240.0
    journey_deadline: float = 300.0
    seed: int | None = None
    #: restart RabbitMQ's whole node (Erlang VM too) or only its application (stop_app)
    rabbit_node_restart: bool = True


FULL = Plan(kills=24, workers={"kgb": 3, "record": 1, "region": 1}, gap=(3.0, 12.0),
            rabbit_restarts=1, pg_restarts=2)
SHORT = Plan(kills=10, workers={"kgb": 2, "record": 1, "region": 1}, gap=(1.0, 4.0),
             settle=180.0, rabbit_node_restart=False)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Stuck(Exception):
    """A journey did not get past a step by its deadline."""


# -- HTTP with what a disruption causes retried ---------------------------------------------------


@dataclass
class Answer:
    status: int
    body: object
    raw: bytes = b""

    @property
    def code(self):
        return self.body.get("code") if isinstance(self.body, dict) else None


def http(base: str, method: str, path: str, token: str | None = None, body=None,
         raw: bytes | None = None, headers: dict | None = None, timeout: float = 30) -> Answer:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, method=method, data=data, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our gateway
            status, content = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, content = exc.code, exc.read()
    try:
        decoded = json.loads(content) if content else None
    except ValueError:
        decoded = None
    return Answer(status, decoded, content)


TRANSPORT_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError,
                    httpclient.HTTPException, OSError)


class Chaos:
    def __init__(self, plan: Plan, work_dir: Path):
        self.plan = plan
        self.work_dir = work_dir
        self.rng = random.Random(plan.seed)
        self.stop_journeys = threading.Event()
        self.lock = threading.Lock()
        #: (monotonic time, journey kind, step) of every successful step
        self.successes: list[tuple[float, str, str]] = []
        self.transient: dict[str, int] = {}
        self.journeys: list[dict] = []
        self.failures: list[str] = []
        self.disruptions: list[dict] = []
        #: worker name -> the step it is at (a worker leaves once its journey is done)
        self.active: dict[str, str] = {}
        self.stack = None
        self.infra = None
        self.tokens: dict[str, str] = {}
        self.region = None
        self.region_sequence = 0
        self.serial = 0

    # -- the calls a journey makes -------------------------------------------------------------

    def call(self, kind: str, step: str, method: str, path: str, token_of: str | None = None,
             deadline: float | None = None, ok=(200, 201, 204), settle=(), **kwargs) -> Answer:
        """Call until an answer in `ok` (returned) or one that is no disruption's (returned too:
        the caller judges it); transport errors and 5xx are retried until `deadline`. A 401 with
        a staff token logs in again (a session may be cut by a restart)."""
        deadline = deadline or time.monotonic() + self.plan.journey_deadline
        self.active[threading.current_thread().name] = f"{kind}: {step} {method} {path}"
        while True:
            token = self.token(token_of) if token_of else kwargs.pop("token", None)
            try:
                answer = http(self.stack.url, method, path, token=token, **kwargs)
            except TRANSPORT_ERRORS as exc:
                self._transient(step, type(exc).__name__)
            else:
                if answer.status in ok or answer.status in settle:
                    if answer.status in ok:
                        self._success(kind, step)
                    return answer
                if answer.status == 429:  # the gateway's rate limit (e.g. password resets
                    # from one address): wait as it says, as a browser would
                    self._transient(step, "429")
                    errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
                    time.sleep(float((errors or {}).get("retry_after") or 1))
                elif answer.status in TRANSIENT_STATUS:
                    self._transient(step, str(answer.status))
                elif answer.status == 401 and token_of in self.tokens:
                    self._transient(step, "401")
                    with self.lock:
                        self.tokens.pop(token_of, None)
                else:
                    return answer
            if time.monotonic() > deadline:
                raise Stuck(f"{kind}: {step} {method} {path} got no answer by the deadline")
            time.sleep(0.5)

    def _success(self, kind: str, step: str) -> None:
        with self.lock:
            self.successes.append((time.monotonic(), kind, step))

    def _transient(self, step: str, what: str) -> None:
        with self.lock:
            key = f"{step}:{what}"
            self.transient[key] = self.transient.get(key, 0) + 1

    def token(self, login: str) -> str:
        with self.lock:
            if login in self.tokens:
                return self.tokens[login]
        deadline = time.monotonic() + 120
        while True:
            try:
                self.stack.tokens.pop(login, None)
                password = None if login in self.stack.seeded.staff or \
                    login in self.stack.seeded.pegawai else NEW_PASSWORD
                token = self.stack.login(login, password)
                with self.lock:
                    self.tokens[login] = token
                return token
            except (AssertionError, *TRANSPORT_ERRORS) as exc:
                self._transient("login", type(exc).__name__)
                if time.monotonic() > deadline:
                    raise Stuck(f"login of {login}: {exc}") from exc
                time.sleep(1)

    def next_serial(self) -> int:
        with self.lock:
            self.serial += 1
            return self.serial

    # -- the journeys ----------------------------------------------------------------------------

    def kgb(self) -> dict:
        """A new pegawai asks for a KGB; verified, approved, signed, downloaded, verified."""
        deadline = time.monotonic() + self.plan.journey_deadline
        serial = self.next_serial()
        nip = f"198503122010032{serial:03d}"  # born 1985-03-12, CPNS 2010-03, woman
        email = f"{nip}@mail.test"
        c = self.call
        made = c("kgb", "account", "POST", "/api/accounts", ADMIN, deadline, settle=(409,), body={
            "login": nip, "display_name": f"Chaos {serial}", "email": email,
            "roles": ["pegawai"], "home_opd": OPD, "reason": "CPNS formasi 2010"})
        assert made.status in (201, 409), made.body
        self._activate(email, nip, deadline)
        record = c("kgb", "record", "POST", "/api/employees", FASILITATOR, deadline,
                   settle=(409,), body={
                       "nip": nip, "name": f"Chaos {serial}", "status": "PNS", "opd_id": OPD,
                       "date_of_birth": "1985-03-12", "tmt_cpns": "2010-03-01", "gender": "P",
                       "golongan": "III/a", "education_id": "40", "reason": "data awal"})
        assert record.status in (201, 409), record.body
        for history, entry in (("gaji_berkala", {"tmt": "2021-03-01", "gaji_pokok": 3_500_000}),
                               ("kinerja", {"tahun": 2025, "predikat": "Baik"})):
            self._history(nip, history, entry, deadline)
        self.token(nip)
        eligibility = c("kgb", "eligibility", "GET", f"/api/layanan/KGB/eligibility/{nip}",
                        nip, deadline)
        assert eligibility.status == 200 and eligibility.body["eligible"], eligibility.body
        docs = {}
        for item in eligibility.body["documents_required"]:
            raw = pdf_with_text(marker=f"{item['code']}-{nip}")
            uploaded = c("kgb", "upload", "POST", "/api/documents", nip, deadline,
                         settle=(409,), raw=raw, headers={"Content-Type": "application/pdf"})
            assert uploaded.status in (201, 409), uploaded.body
            docs[item["code"]] = hashlib.sha256(raw).hexdigest()
        draft = c("kgb", "draft", "POST", "/api/requests", nip, deadline, body={
            "layanan": "KGB", "nip": nip, "documents": docs, "idempotency_key": f"kgb-{nip}"})
        assert draft.status in (200, 201), draft.body
        rid = draft.body["request_id"]
        journey = {"kind": "kgb", "nip": nip, "request_id": rid, "started": time.monotonic()}
        self._advance(rid, nip, "submit", f"/api/requests/{rid}/submit", nip, {},
                      lambda s: s != "draft", deadline)
        self._advance(rid, nip, "claim", f"/api/requests/{rid}/verification", FASILITATOR, {},
                      lambda s: s not in ("draft", "submitted"), deadline)
        verdict = {"original": True, "legible": True, "matches_record": True}
        self._advance(rid, nip, "verify", f"/api/requests/{rid}/verify", FASILITATOR,
                      {"checks": {code: verdict for code in docs}},
                      lambda s: s not in ("draft", "submitted", "under_verification"), deadline)
        self._advance(rid, nip, "decide", f"/api/requests/{rid}/decision", ADMIN,
                      {"approve": True, "reason": "memenuhi syarat KGB",
                       "outcome": {"tmt": "2026-04-01", "gaji_pokok": 4_150_000}},
                      lambda s: s not in ("draft", "submitted", "under_verification",
                                          "under_approval"), deadline)
        while True:
            state = c("kgb", "poll", "GET", f"/api/requests/{rid}", nip, deadline)
            if state.body["state"] == "completed":
                self._success("kgb", "completed")
                break
            assert state.body["state"] in ("approved", "signing"), state.body
            if time.monotonic() > deadline:
                raise Stuck(f"kgb {rid}: still {state.body['state']} at the deadline")
            time.sleep(1)
        output = c("kgb", "output", "GET", f"/api/requests/{rid}/output", nip, deadline)
        assert output.status == 200 and output.body["status"] == "signed", output.body
        letter = c("kgb", "download", "GET",
                   f"/api/signed-documents/{output.body['document_id']}/pdf", nip, deadline)
        assert letter.status == 200 and letter.raw.startswith(b"%PDF"), letter.status
        checked = c("kgb", "verify-pdf", "POST", "/api/public/verification", None, deadline,
                    raw=letter.raw, headers={"Content-Type": "application/pdf"})
        assert checked.status == 200 and checked.body["valid"], checked.body
        journey.update(document_id=output.body["document_id"],
                       sha256=hashlib.sha256(letter.raw).hexdigest())
        return journey

    def _activate(self, email: str, nip: str, deadline: float) -> None:
        while not self.stack.mails(email):
            if time.monotonic() > deadline:
                raise Stuck(f"no activation mail to {email}")
            time.sleep(0.5)
        token = self.stack.mails(email)[-1]["body"].rsplit(" ", 1)[-1]
        done = self.call("kgb", "activate", "POST", "/api/auth/password-reset", None, deadline,
                         settle=(400, 404, 409, 410, 422),
                         body={"token": token, "new_password": NEW_PASSWORD})
        if done.status != 204:  # the first try may have set it: the password works, or not
            probe = self.call("kgb", "login", "POST", "/api/auth/login", None, deadline,
                              settle=(401,), body={"login": nip, "password": NEW_PASSWORD,
                                                   "device": "chaos"})
            assert probe.status == 200, (done.status, done.body, probe.body)

    def _history(self, nip: str, history: str, entry: dict, deadline: float) -> None:
        while True:
            current = self.call("kgb", "read-record", "GET", f"/api/employees/{nip}",
                                FASILITATOR, deadline)
            assert current.status == 200, current.body
            if any(e == {**e, **entry} for e in current.body["histories"].get(history) or []):
                return  # an earlier try was applied
            changed = self.call("kgb", "history", "POST", f"/api/employees/{nip}/histories",
                                FASILITATOR, deadline, settle=(409,), body={
                                    "history": history, "entry": entry, "reason": "data awal",
                                    "expected_version": current.body["version"]})
            if changed.status == 200:
                return
            if time.monotonic() > deadline:
                raise Stuck(f"{nip}: {history} not recorded")

    def _advance(self, rid: str, nip: str, step: str, path: str, actor: str, body: dict,
                 done, deadline: float) -> None:
        """One workflow step with the request's version; a 409 after a lost answer is judged
        by the request's state (`done(state)`: the step already happened)."""
        while True:
            current = self.call("kgb", "read-request", "GET", f"/api/requests/{rid}", nip,
                                deadline)
            assert current.status == 200, current.body
            if done(current.body["state"]):
                return
            answer = self.call("kgb", step, "POST", path, actor, deadline, settle=(409,),
                               body={**body, "expected_version": current.body["version"]})
            if answer.status == 200:
                return
            if time.monotonic() > deadline:
                raise Stuck(f"kgb {rid}: {step} refused: {answer.body}")

    def record(self, nip: str) -> dict:
        """A seeded pegawai proposes an address; the fasilitator applies it."""
        deadline = time.monotonic() + self.plan.journey_deadline
        address = f"Jl. Kenjeran {self.next_serial()}, Surabaya"
        c = self.call
        proposal = None
        while proposal is None:
            current = c("record", "read-record", "GET", f"/api/employees/{nip}", FASILITATOR,
                        deadline)
            assert current.status == 200, current.body
            pending = [p for p in current.body.get("proposals") or []
                       if (p.get("changes") or {}).get("address") == address]
            if pending:
                proposal = {"change_id": pending[0]["change_id"],
                            "version": current.body["version"]}
                break
            answer = c("record", "propose", "POST", f"/api/employees/{nip}/proposals", nip,
                       deadline, settle=(409,), body={"changes": {"address": address}})
            if answer.status == 201:
                proposal = answer.body
            elif time.monotonic() > deadline:
                raise Stuck(f"record {nip}: proposal refused: {answer.body}")
        journey = {"kind": "record", "nip": nip, "change_id": proposal["change_id"],
                   "address": address}
        queue = c("record", "queue", "GET", "/api/verification/queue", FASILITATOR, deadline)
        assert queue.status == 200, queue.body
        listed = c("record", "list", "GET", f"/api/employees?nip={nip}", FASILITATOR, deadline)
        assert listed.status == 200 and [i["nip"] for i in listed.body["items"]] == [nip], \
            listed.body
        version = proposal["version"]
        while True:
            decided = c("record", "apply", "POST", f"/api/employees/{nip}/proposals/decision",
                        FASILITATOR, deadline, settle=(409,), body={
                            "change_id": proposal["change_id"], "apply": True,
                            "reason": "sesuai KTP", "expected_version": version})
            if decided.status == 200:
                break
            current = c("record", "read-record", "GET", f"/api/employees/{nip}", FASILITATOR,
                        deadline)
            if current.body.get("address") == address:
                break
            version = current.body["version"]
            if time.monotonic() > deadline:
                raise Stuck(f"record {nip}: not applied: {decided.body}")
        return journey

    def region_batch(self) -> dict:
        """The region sends a new employee and a rename in one signed batch (sent again after
        no answer; under a new batch id once the first one is known to have arrived), then
        reads its status until both are applied."""
        from tests.sync_helpers import change, region_client
        from tests.test_sync_apply import registration

        deadline = time.monotonic() + self.plan.journey_deadline
        serial = self.next_serial()
        nip = f"199001012015011{serial:03d}"
        first = self.region_sequence + 1
        events = [registration(first, nip, region=REGION),
                  change(first + 1, nip, data={"changes": {"name": f"Region {serial}"}})]
        self.region_sequence += 2
        batch_id = str(uuid.uuid4())
        region = self.region
        while True:
            try:
                status, body = region_client.send_batch(self.stack.url, region.code,
                                                        region.key_id, region.secret, events,
                                                        batch_id=batch_id)
            except TRANSPORT_ERRORS as exc:
                self._transient("region-send", type(exc).__name__)
            else:
                if status in (200, 201, 202):
                    self._success("region", "send")
                    break
                if status == 409 and isinstance(body, dict) and body.get("code") == \
                        "batch_replayed":
                    # the first try was received but its answer lost: as the protocol says
                    # (docs/design/sync.md), its events go again in a new batch and answer
                    # `duplicate`
                    self._transient("region-send", "409 batch_replayed")
                    batch_id = str(uuid.uuid4())
                    continue
                assert status in TRANSIENT_STATUS, (status, body)
                self._transient("region-send", str(status))
            if time.monotonic() > deadline:
                raise Stuck(f"region batch {batch_id} not taken")
            time.sleep(0.5)
        while True:
            try:
                status, state = region_client.signed_get(self.stack.url, region.code,
                                                         region.key_id, region.secret, "status")
            except TRANSPORT_ERRORS as exc:
                status, state = 0, str(exc)
            if status == 200 and state["applied_through"] >= first + 1:
                self._success("region", "applied")
                break
            if time.monotonic() > deadline:
                raise Stuck(f"region batch {batch_id}: status {status} {state}")
            time.sleep(1)
        while True:
            record = self.call("region", "read", "GET", f"/api/employees/{nip}", ADMIN,
                               deadline, settle=(404,))
            if record.status == 200 and record.body["name"] == f"Region {serial}":
                break
            if time.monotonic() > deadline:
                raise Stuck(f"region employee {nip}: {record.status} {record.body}")
            time.sleep(1)
        return {"kind": "region", "nip": nip, "batch_id": batch_id, "sequences": [first,
                                                                                    first + 1],
                "event_ids": [e["event_id"] for e in events]}

    def worker(self, kind: str, index: int) -> None:
        name = threading.current_thread().name
        try:
            self._work(kind, index)
        finally:
            self.active.pop(name, None)

    def _work(self, kind: str, index: int) -> None:
        seeded = sorted(n for n, opd in self.stack.seeded.pegawai.items() if opd == OPD)
        while not self.stop_journeys.is_set():
            started = time.monotonic()
            try:
                if kind == "kgb":
                    journey = self.kgb()
                elif kind == "record":
                    journey = self.record(seeded[index % len(seeded)])
                else:
                    journey = self.region_batch()
            except Exception as exc:  # noqa: BLE001 - a failed journey is a finding, reported
                with self.lock:
                    self.failures.append(f"{kind}[{index}]: {type(exc).__name__}: {exc}\n"
                                         + traceback.format_exc(limit=4))
                log(f"journey {kind}[{index}] FAILED: {exc}")
                continue
            journey.update(seconds=time.monotonic() - started, finished=time.monotonic())
            with self.lock:
                self.journeys.append(journey)
                done = sum(1 for j in self.journeys if j["kind"] == kind)
            if done % 25 == 1:
                log(f"{kind} journeys done: {done}")
            # people pause between journeys; without it the quick ones (a record change takes
            # a fraction of a second) would only load the machine the recovery runs on
            time.sleep(self.rng.uniform(*THINK))

    # -- the disruptions -------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        try:
            pid = int((self.stack.run_dir / "pids" / f"{name}.pid").read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def ready(self) -> bool:
        try:
            return http(self.stack.url, "GET", "/health/ready", timeout=5).status == 200
        except TRANSPORT_ERRORS:
            return False

    def relay_caught_up(self, since: float) -> bool:
        """The relay relays again: some log's relay position moved since the kill, or no log
        has anything left to relay."""
        statuses = self.relay_status()
        if statuses is None:
            return False
        lag = sum(r["lag"] for s in statuses for r in s["relays"] if r["relay"] == "relay")
        positions = {s["service"]: max((r["position"] for r in s["relays"]
                                        if r["relay"] == "relay"), default=0)
                     for s in statuses}
        moved = any(positions[s] > self._relay_positions.get(s, 0) for s in positions)
        return lag == 0 or moved

    def relay_status(self) -> list[dict] | None:
        from shared import SERVICES, audit, relayops

        try:
            conn = psycopg2.connect(self.stack.database_url, connect_timeout=3)
        except psycopg2.Error:
            return None
        try:
            return [relayops.relay_status(conn, schema)
                    for schema in audit.existing_schemas(conn, SERVICES)]
        except psycopg2.Error:
            return None
        finally:
            conn.close()

    def kill(self, name: str) -> dict:
        pid = self.pid(name)
        if name == "relay":
            statuses = self.relay_status() or []
            self._relay_positions = {s["service"]: max((r["position"] for r in s["relays"]
                                                        if r["relay"] == "relay"), default=0)
                                     for s in statuses}
        at = time.monotonic()
        os.killpg(pid, signal.SIGKILL)
        log(f"SIGKILL {name} (pid {pid})")
        deadline = at + 180
        while True:
            new = self.pid(name)
            if new and new != pid and (self.relay_caught_up(at) if name == "relay"
                                       else self.ready()):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not back within 180 s of its SIGKILL")
            time.sleep(0.1)
        return {"what": name, "kind": "kill", "at": at, "ready": time.monotonic() - at}

    def restart_rabbit(self) -> dict:
        at = time.monotonic()
        log("restarting RabbitMQ")
        self.infra.rabbit.restart(node=self.plan.rabbit_node_restart)
        back = time.monotonic() - at
        self._wait_ready(at, "RabbitMQ")
        return {"what": "rabbitmq" if self.plan.rabbit_node_restart else "rabbitmq (app)",
                "kind": "restart", "at": at, "down": back,
                "ready": time.monotonic() - at}

    def restart_pg(self) -> dict:
        """The first restart is a clean one (`pg_ctl stop -m fast`), a second one as if the
        machine died (`-m immediate`: crash recovery from the WAL at start)."""
        mode = "immediate" if any(e["what"].startswith("postgresql")
                                  for e in self.disruptions) else "fast"
        at = time.monotonic()
        log(f"restarting PostgreSQL ({mode})")
        self.infra.pg.restart(mode)
        back = time.monotonic() - at
        self._wait_ready(at, "PostgreSQL")
        return {"what": "postgresql" if mode == "fast" else "postgresql (crash)",
                "kind": "restart", "at": at, "down": back,
                "ready": time.monotonic() - at}

    def _wait_ready(self, at: float, what: str) -> None:
        while not self.ready():
            if time.monotonic() > at + 240:
                raise AssertionError(f"the stack not ready within 240 s of restarting {what}")
            time.sleep(0.2)

    def schedule(self) -> list[str]:
        from shared import SERVICES

        processes = [*SERVICES, "relay"]
        if "gateway" not in processes:
            processes.append("gateway")
        order = self.rng.sample(processes, len(processes))
        while len(order) < self.plan.kills:
            order.append(self.rng.choice(processes))
        order = order[:self.plan.kills]  # SHORT and FULL kill every process at least once
        infra = ["rabbitmq"] * self.plan.rabbit_restarts + ["postgresql"] * self.plan.pg_restarts
        for what in infra:  # spread over the run, never first
            order.insert(self.rng.randrange(min(2, len(order)), len(order) + 1), what)
        return order

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> dict:
        """Start the private PostgreSQL/RabbitMQ and the stack, run, check; everything started
        is stopped again, also when the run is stopped with SIGTERM/SIGHUP (a CI timeout)."""
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM,
                                                                    signal.SIGHUP)}
        try:
            return self._run_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run_all(self) -> dict:
        from tests.e2e import harness

        self._relay_positions = {}
        self.infra = PrivateInfra()
        run_dir = self.work_dir / "stack"
        run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        try:
            self.infra.start()
            log(f"private PostgreSQL on :{self.infra.pg.port}, RabbitMQ on "
                f":{self.infra.rabbit.port} (management :{self.infra.rabbit.management_port}),"
                f" up in {time.monotonic() - t0:.0f} s")
            self.stack = harness.start(
                run_dir, admin_pg=self.infra.pg.admin_url, rabbit_port=self.infra.rabbit.port,
                management_url=self.infra.rabbit.management_url,
                env={"SIMASN_RABBIT_MGMT_PORT": str(self.infra.rabbit.management_port),
                     "SIMASN_TEST_PG_URL": self.infra.pg.admin_url})
            log(f"stack up at {self.stack.url} in {time.monotonic() - t0:.0f} s")
            try:
                return self._run()
            finally:
                harness.stop(self.stack)
        finally:
            self.infra.stop()
            self.infra.cleanup()

    def _run(self) -> dict:
        from tests.sync_helpers import onboard

        for login in (ADMIN, FASILITATOR):
            self.token(login)
        self.region = onboard(self.stack.client(), self.token(ADMIN), REGION)
        for kind, count in self.plan.workers.items():
            for index in range(count):
                self.active[f"{kind}-{index}"] = "starting"
                threading.Thread(target=self.worker, args=(kind, index),
                                 name=f"{kind}-{index}", daemon=True).start()
        started = time.monotonic()
        order = self.schedule()
        log(f"disruptions: {' '.join(order)}")
        time.sleep(self.rng.uniform(*self.plan.gap) + 5)  # journeys under way first
        for what in order:
            if what == "rabbitmq":
                event = self.restart_rabbit()
            elif what == "postgresql":
                event = self.restart_pg()
            else:
                event = self.kill(what)
            event["next_step"] = None
            self.disruptions.append(event)
            log(f"{what}: ready after {event['ready']:.1f} s")
            time.sleep(self.rng.uniform(*self.plan.gap))
        last = time.monotonic()
        self.stop_journeys.set()
        log("disruptions over; waiting for the journeys under way")
        while self.active and time.monotonic() < last + self.plan.settle:
            time.sleep(0.2)
        stuck = [f"{name} at {step}" for name, step in dict(self.active).items()]
        settled = time.monotonic() - last
        log(f"journeys settled {settled:.0f} s after the last disruption; stuck: {stuck}")
        for event in self.disruptions:
            # a restart: from the moment the node answers again (before it, callers may still
            # be served while it shuts down); a kill: from the SIGKILL
            since = event["at"] + event.get("down", 0.0)
            event["next_step"] = self._next_step_after(since, STEP_NEEDS.get(event["what"]))
        checks = self.check()
        return {"plan": self.plan, "seconds": time.monotonic() - started,
                "settled": settled, "stuck": stuck, "checks": checks,
                "journeys": list(self.journeys), "failures": list(self.failures),
                "disruptions": list(self.disruptions), "transient": dict(self.transient)}

    def _next_step_after(self, at: float, steps: set[str] | None) -> float | None:
        """Seconds from `at` to the next successful step that needed the process (any step
        for the gateway, RabbitMQ and PostgreSQL)."""
        with self.lock:
            later = [t for t, _, step in self.successes if t > at
                     and (steps is None or step in steps)]
        return min(later) - at if later else None

    # -- after recovery: nothing lost, nothing done twice ------------------------------------

    def check(self) -> dict:
        problems: list[str] = []
        deadline = time.monotonic() + 120
        while True:  # the relay and the projections catch up (polled, with a deadline)
            statuses = self.relay_status() or []
            relay_lag = sum(r["lag"] for s in statuses for r in s["relays"]
                            if r["relay"] == "relay")
            held = sum(s["held"] for s in statuses)
            projections = json.loads(self.stack.cli("projections", "status", "--json").stdout)
            behind = [p for p in projections if p.get("lag")]
            if relay_lag == 0 and not behind:
                break
            if time.monotonic() > deadline:
                problems.append(f"relay lag {relay_lag}; projections behind: "
                                f"{[(p['consumer'], p['source'], p['lag']) for p in behind]}")
                break
            time.sleep(1)
        subscribed = subscribed_types()
        unrouted = {f"{st['service']}.{u['event_type']}": u["count"] for st in statuses
                    for u in st["unrouted_by_type"]}
        lost = {k: n for k, n in unrouted.items() if k in subscribed}
        if held or lost:
            problems.append(f"{held} event(s) held by the relay; unrouted although a consumer "
                            f"subscribes: {lost}")
        letters = json.loads(self.stack.cli("deadletters", "list", "--json").stdout or "[]")
        if letters:
            problems.append(f"{len(letters)} dead letter(s) parked: "
                            + "; ".join(f"{d.get('consumer')} {d.get('event_type')}: "
                                        f"{d.get('reason') or d.get('error')}"
                                        for d in letters[:5]))
        counts = {"relay_lag": relay_lag, "dead_letters": len(letters), "held": held,
                  "unrouted": unrouted}
        conn = psycopg2.connect(self.stack.database_url)
        try:
            with conn.cursor() as cur:
                counts.update(self._check_kgb(cur, problems))
                counts.update(self._check_records(cur, problems))
                counts.update(self._check_region(cur, problems))
        finally:
            conn.close()
        counts["problems"] = problems
        return counts

    def _events(self, cur, schema: str, stream: str) -> list[tuple[str, dict]]:
        cur.execute(f"SELECT event_type, payload FROM {schema}.events WHERE stream_id = %s "  # noqa: S608 - our schema names
                    "ORDER BY position", (stream,))
        return cur.fetchall()

    def _check_kgb(self, cur, problems: list[str]) -> dict:
        done = [j for j in self.journeys if j["kind"] == "kgb"]
        for j in done:
            rid, nip = j["request_id"], j["nip"]
            completed = [p for t, p in self._events(cur, "requests", f"request:{rid}")
                         if t == "RequestCompleted"]
            if len(completed) != 1:
                problems.append(f"request {rid}: {len(completed)} RequestCompleted")
            cur.execute("SELECT document_id, status, sha256 FROM signing.documents "
                        "WHERE request_id = %s", (rid,))
            documents = cur.fetchall()
            if len(documents) != 1 or documents[0][1] not in ("signed", "completed"):
                problems.append(f"request {rid}: signing documents {documents}")
            else:
                signed = [t for t, _ in self._events(cur, "signing",
                                                     f"document:{documents[0][0]}")
                          if t == "DocumentSigned"]
                if len(signed) != 1:
                    problems.append(f"document {documents[0][0]}: {len(signed)} DocumentSigned")
                if documents[0][2] != j["sha256"]:
                    problems.append(f"request {rid}: downloaded PDF is not the signed one")
            employee = self._events(cur, "records", f"employee:{nip}")
            applied = [p for t, p in employee if t == "LayananOutcomeApplied"
                       and p.get("request_id") == rid]
            if len(applied) != 1:
                problems.append(f"request {rid}: outcome applied {len(applied)} times")
            histories = [p for t, p in employee if t == "HistoryEntryRecorded"]
            if len(histories) != 2:  # the KGB due and the rating, once each
                problems.append(f"{nip}: {len(histories)} history entries recorded, not 2")
        cur.execute("SELECT count(*) FROM requests.events WHERE event_type = 'RequestCompleted'")
        return {"kgb_journeys": len(done), "requests_completed_in_log": cur.fetchone()[0]}

    def _check_records(self, cur, problems: list[str]) -> dict:
        done = [j for j in self.journeys if j["kind"] == "record"]
        for nip in {j["nip"] for j in done}:
            employee = self._events(cur, "records", f"employee:{nip}")
            proposed = [p["change_id"] for t, p in employee if t == "ChangeProposed"]
            applied = [p["change_id"] for t, p in employee if t == "ChangeApplied"]
            for change_id in {*proposed, *applied}:
                if proposed.count(change_id) != 1 or applied.count(change_id) > 1:
                    problems.append(f"{nip} change {change_id}: proposed "
                                    f"{proposed.count(change_id)}x, applied "
                                    f"{applied.count(change_id)}x")
            for j in (j for j in done if j["nip"] == nip):
                if applied.count(j["change_id"]) != 1:
                    problems.append(f"{nip} change {j['change_id']} not applied once")
        return {"record_journeys": len(done)}

    def _check_region(self, cur, problems: list[str]) -> dict:
        done = [j for j in self.journeys if j["kind"] == "region"]
        stream = self._events(cur, "sync", f"region:{REGION}")
        received = [p["sequence"] for t, p in stream if t == "SyncEventReceived"]
        # "duplicate": records had applied the event already (sync was killed, or its answer
        # lost, after records committed): applied once all the same; each sequence once
        applied = [p["sequence"] for t, p in stream if t == "SyncEventApplied"]
        refused = [p for t, p in stream if t in ("SyncEventRefused", "SyncEventQuarantined")]
        if len(received) != len(set(received)):
            problems.append(f"region {REGION}: an event received twice: {received}")
        if applied != sorted(set(applied)):
            problems.append(f"region {REGION}: applied out of order or twice: {applied}")
        if refused:
            problems.append(f"region {REGION}: refused/quarantined: {refused[:3]}")
        for j in done:
            for sequence in j["sequences"]:
                if sequence not in applied:
                    problems.append(f"region {REGION}: sequence {sequence} not applied")
            employee = self._events(cur, "records", f"employee:{j['nip']}")
            registered = [t for t, _ in employee if t.startswith("EmployeeRegistered")]
            renamed = [t for t, _ in employee if t == "DataPokokChanged"]
            if len(registered) != 1 or len(renamed) != 1:
                problems.append(f"region employee {j['nip']}: registered {len(registered)}x, "
                                f"renamed {len(renamed)}x")
        duplicates = sum(1 for t, p in stream if t == "SyncEventApplied"
                         and p["outcome"] == "duplicate")
        return {"region_journeys": len(done), "region_events_applied": len(applied),
                "region_applied_before_a_crash": duplicates}


NEW_PASSWORD = "Rawon-Setan-2026"

#: which journey steps a process must serve (so the first such step to succeed after the
#: process was killed says the journeys have it back); the gateway serves every step
STEP_NEEDS = {
    "identity": {"account", "activate"},
    "records": {"record", "history", "read-record", "upload", "propose", "apply"},
    "requests": {"draft", "submit", "claim", "verify", "decide", "read-request"},
    "signing": {"download", "verify-pdf", "completed"},
    "verification": {"queue"},
    "reporting": {"list"},
    "sync": {"send", "applied"},
    "relay": {"completed", "applied"},
}


def subscribed_types() -> set[str]:
    """`<source service>.<event type>` of every event some service's handler consumes."""
    from services.registry import service_classes
    from shared.topology import handler_queues

    return {f"{source}.{event_type}" for cls in service_classes().values()
            for _, source, event_type in handler_queues(cls)}


def pdf_with_text(marker: str) -> bytes:
    from tests.document_samples import pdf_with_text as make

    return make(marker=marker)


# -- the report ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(result: dict, title: str) -> str:
    from bench.common import cpu_model, loadavg

    plan: Plan = result["plan"]
    events = result["disruptions"]
    kills = [e for e in events if e["kind"] == "kill"]
    lines = [f"# {title}", "",
             f"Machine: {os.cpu_count()} cores ({cpu_model()}), load {loadavg()} at the end. "
             f"Plan: {plan.kills} SIGKILLs, {plan.rabbit_restarts} RabbitMQ and "
             f"{plan.pg_restarts} PostgreSQL restart(s), journey workers {plan.workers}, "
             f"{plan.gap[0]:.0f}-{plan.gap[1]:.0f} s between a recovery and the next "
             "disruption. A document whose signing runner was killed is taken over as soon as "
             "the runner's database connection is gone (its claim is a session lock on it, "
             "shared/claims.py).", "",
             f"Run: {result['seconds']:.0f} s of journeys; {len(kills)} kills; the journeys "
             f"under way when the disruptions ended were done {result['settled']:.0f} s "
             "after the last one.", "",
             "## Recovery per disruption kind", "",
             "*ready*: from the SIGKILL (or the start of the restart) until the "
             "supervisor's new process answers (a service: the gateway's `/health/ready` "
             "answers 200, i.e. every backend's health RPC; the relay: it relays again) or, "
             "for RabbitMQ/PostgreSQL, until the node is back and every service answers. "
             "*next step*: from the SIGKILL (a restart: from the moment the node answers "
             "again) until the next journey step that needed that process succeeds through "
             "the gateway (bench/chaos.py STEP_NEEDS; the gateway, RabbitMQ and PostgreSQL: "
             "any step).", "",
             "| what | count | ready p50 (s) | ready max (s) | next step p50 (s) | "
             "next step max (s) |", "|---|---:|---:|---:|---:|---:|"]
    for what in sorted({e["what"] for e in events}):
        mine = [e for e in events if e["what"] == what]
        ready = [e["ready"] for e in mine]
        steps = [e["next_step"] for e in mine if e["next_step"] is not None]
        lines.append(f"| {what} | {len(mine)} | {statistics.median(ready):.1f} | "
                     f"{max(ready):.1f} | "
                     f"{statistics.median(steps) if steps else float('nan'):.1f} | "
                     f"{max(steps) if steps else float('nan'):.1f} |")
    journeys = result["journeys"]
    checks = result["checks"]
    lines += ["", "## Journeys and effects", "",
              "| journey | done | p50 (s) | max (s) |", "|---|---:|---:|---:|"]
    for kind in ("kgb", "record", "region"):
        mine = [j["seconds"] for j in journeys if j["kind"] == kind]
        if mine:
            lines.append(f"| {kind} | {len(mine)} | {statistics.median(mine):.1f} | "
                         f"{max(mine):.1f} |")
    lost = len(result["failures"]) + len(result["stuck"])
    lines += ["", f"- journeys failed or stuck: **{lost}**",
              f"- effects lost or doubled (requests completed once, one signed document "
              f"each, the outcome applied once, each change applied once, each region event "
              f"received and applied once in order): **{len(checks['problems'])}**",
              f"- dead letters parked: {checks['dead_letters']}; relay lag after recovery: "
              f"{checks['relay_lag']}; events held by the relay: {checks['held']}; "
              f"unrouted (no consumer subscribes, by design): "
              f"{sum(checks['unrouted'].values())}",
              f"- requests completed (requests log): {checks['requests_completed_in_log']}; "
              f"region events applied: {checks['region_events_applied']} (of which "
              f"{checks['region_applied_before_a_crash']} answered `duplicate` by records: "
              f"applied before sync was killed or its answer lost, not applied again)", "",
              "Retried by the journeys (step:cause = count), what the disruptions cost the "
              "callers: " + ", ".join(f"{k}={v}" for k, v in
                                      sorted(result["transient"].items())), ""]
    if checks["problems"] or result["failures"]:
        lines += ["## Problems", ""] + [f"- {p}" for p in checks["problems"]] + \
                 [f"- {f.splitlines()[0]}" for f in result["failures"]] + [""]
    lines += ["## Disruptions in order", "", "| # | what | ready (s) | next step (s) |",
              "|---:|---|---:|---:|"]
    for number, e in enumerate(events, 1):
        step = "-" if e["next_step"] is None else f"{e['next_step']:.1f}"
        lines.append(f"| {number} | {e['what']} | {e['ready']:.1f} | {step} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI form (10 kills)")
    parser.add_argument("--kills", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--rabbit-restarts", type=int)
    parser.add_argument("--pg-restarts", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chaos.md")
    args = parser.parse_args(argv)
    import dataclasses
    import tempfile

    plan = SHORT if args.short else FULL
    plan = dataclasses.replace(
        plan, kills=plan.kills if args.kills is None else args.kills, seed=args.seed,
        rabbit_restarts=plan.rabbit_restarts if args.rabbit_restarts is None
        else args.rabbit_restarts,
        pg_restarts=plan.pg_restarts if args.pg_restarts is None else args.pg_restarts)
    with tempfile.TemporaryDirectory(prefix="simasn-chaos-run-") as work:
        result = Chaos(plan, Path(work)).run()
    text = report(result, "Kill loop: the journeys while every process is SIGKILLed "
                          "(bench/chaos.py)")
    args.out.write_text(text)
    print(text)
    bad = result["failures"] or result["stuck"] or result["checks"]["problems"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
