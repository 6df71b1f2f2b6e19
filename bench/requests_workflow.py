"""Requests workflow benchmark (issue 5, `make bench-requests`): N requests driven through the
whole workflow by concurrent clients, against real `nameko run` processes (records, requests,
verification) and the outbox relays, in a throwaway database and RabbitMQ vhost.

Each request: create (with its documents) → submit → start verification → verify → approve →
complete (what the signing service will do). Reported: completed requests/s and p50/p99 per
transition, side by side with the limit measured in the same run — a bare RPC round trip to the
same requests process (`health`, no database write) — as a ratio; the event counts in the log;
and "nothing lost": every request in a final state, each transition's events counted in the log
and every request on the verification side (queue items from the relayed events).

    make bench-requests                       (10,000 requests, writes bench/results/)
    .venv/bin/python bench/requests_workflow.py --requests 500 --output /tmp/x.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_model, fmt_ms, loadavg, log, postgres_description  # noqa: E402
from bench.gateway import ADMIN_URL, Stack  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "requests_workflow.md"
TRANSITIONS = ("create", "submit", "start_verification", "verify", "approve", "complete")
#: a layanan granted as often as it is asked for (a KARTU_KESEHATAN is granted once per
#: employee), and the documents it asks of an unmarried PNS
LAYANAN = "MUTASI"
KK = ("surat_permohonan", "anjab_abk", "pernyataan_bebas", "sk_cpns", "sk_pns",
      "sk_pangkat_terakhir", "skp_2_tahun", "kk")
#: the decree's outcome the approver enters (docs/design/layanan-outcomes.md): the move
MUTASI_DECREE = {"opd_id": "dinkes", "unit": "Bidang Pelayanan Kesehatan",
                 "jenis_jabatan": "pelaksana", "nama_jabatan": "Pengadministrasi Umum",
                 "tmt": "2026-12-01"}
ADMIN = {"actor_id": "admin.bench", "actor_role": "administrator",
         "actor_roles": ["administrator"], "actor_scope": []}
FASIL = {"actor_id": "fas.bench", "actor_role": "fasilitator", "actor_roles": ["fasilitator"],
         "actor_scope": ["dinkes"]}
SYSTEM = {"actor_id": "system:signing", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def rpc(config: dict, context: dict):
    from nameko.standalone.rpc import ClusterRpcProxy

    from tests.helpers import signed

    # the caller token is minted once per client: valid for the whole run (a run is longer
    # than the services' 300 s default; the verifying side checks only that it has not ended)
    config = {**config, "CALLER_TOKEN_SECONDS": 3600}
    return ClusterRpcProxy(config, context_data=signed(context, config), timeout=60)


def prepare(stack: Stack, employees: int) -> tuple[list[str], str]:
    """Employees of one OPD (through records) and one checked document (the same bytes,
    uploaded for every one of them: each request may name only its employee's documents)."""
    from shared.objectstore import FileSystemStore
    from tests.document_samples import pdf_with_text

    nips = [f"19800101200503{i // 999 + 1}{i % 999 + 1:03d}" for i in range(employees)]
    with rpc(stack.config, ADMIN) as cluster:
        for nip in nips:
            cluster.records.register_employee(
                {"nip": nip, "name": "Pegawai Bench", "date_of_birth": "1980-01-01",
                 "gender": "L" if nip[14] == "1" else "P", "status": "PNS",
                 "tmt_cpns": "2005-03-01", "opd_id": "dinkes", "golongan": "III/a",
                 "education_id": "40"}, "data bench")
        stored = FileSystemStore(stack.config["DOCUMENT_ROOT"]).put(pdf_with_text(marker="b"))
        for nip in nips:
            sha = cluster.records.upload_document(stored.sha256, "kk.pdf", nip)["sha256"]
    return nips, sha


def drive(stack: Stack, nips: list[str], sha: str, total: int, clients: int):
    """Client thread i drives requests i, i + clients, ... to completion, for its own share of
    the employees (one RPC connection per acting person)."""
    latencies: dict[str, list[float]] = {t: [] for t in TRANSITIONS}
    failures: Counter = Counter()
    first_error: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        mine = nips[index::clients] or nips
        opened = [rpc(stack.config, FASIL), rpc(stack.config, ADMIN), rpc(stack.config, SYSTEM)]
        opened += [rpc(stack.config, {"actor_id": nip, "actor_role": "pegawai",
                                      "actor_roles": ["pegawai"], "actor_scope": []})
                   for nip in mine]
        fasil, admin, system, *pegawai_of = [proxy.start() for proxy in opened]
        try:
            for turn, number in enumerate(range(index, total, clients)):
                nip, pegawai = mine[turn % len(mine)], pegawai_of[turn % len(mine)]
                step, timings = "create", []
                try:
                    t0 = time.perf_counter()
                    made = pegawai.requests.create_request({
                        "layanan": LAYANAN, "nip": nip,
                        "documents": {c: sha for c in KK},
                        "idempotency_key": f"bench-{number}-{uuid.uuid4().hex[:6]}"})
                    timings.append(("create", time.perf_counter() - t0))
                    rid, version = made["request_id"], made["version"]
                    steps = (
                        ("submit", lambda v: pegawai.requests.submit_request(
                            rid, {"expected_version": v})),
                        ("start_verification", lambda v: fasil.requests.start_verification(
                            rid, {"expected_version": v})),
                        ("verify", lambda v: fasil.requests.verify_request(rid, {
                            "expected_version": v, "checks": {c: {
                                "original": True, "legible": True, "matches_record": True}
                                for c in KK}})),
                        ("approve", lambda v: admin.requests.decide_request(rid, {
                            "expected_version": v, "approve": True,
                            "reason": "memenuhi syarat",
                            "outcome": MUTASI_DECREE})),
                        ("complete", lambda v: system.requests.complete_request(rid, {
                            "expected_version": v, "output_sha256": "cd" * 32})))
                    for step, call in steps:
                        t0 = time.perf_counter()
                        version = call(version)["version"]
                        timings.append((step, time.perf_counter() - t0))
                    with lock:
                        for name, seconds in timings:
                            latencies[name].append(seconds)
                except Exception as exc:  # noqa: BLE001 - counted and shown, never hidden
                    with lock:
                        failures[step] += 1
                        if not first_error:
                            first_error.append(f"{step}: {exc!r}"[:300])
        finally:
            for proxy in opened:
                proxy.stop()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, failures, first_error


def bare_rpc(stack: Stack, seconds: float, clients: int) -> tuple[float, list[float]]:
    """The limit: `requests.health` round trips (one RPC, no write) from the same clients."""
    done: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        mine = []
        with rpc(stack.config, ADMIN) as cluster:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                cluster.requests.health()
                mine.append(time.perf_counter() - t0)
        with lock:
            done.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(done) / (time.perf_counter() - t0), done


def count_in_log(database_url: str) -> tuple[Counter, Counter, int]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_type, count(*) FROM requests.events "
                        "WHERE stream_type = 'Request' GROUP BY event_type")
            events = Counter(dict(cur.fetchall()))
            cur.execute("SELECT state, count(*) FROM requests.requests GROUP BY state")
            states = Counter(dict(cur.fetchall()))
            cur.execute("SELECT count(*) FROM verification.queue_items WHERE kind = 'request'")
            (queued,) = cur.fetchone()
    finally:
        conn.close()
    return events, states, queued


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="simasn-bench-requests-") as tmp:
        stack = Stack(Path(tmp), db_pool_size=10)
        try:
            stack.create()
            stack.config["DOCUMENT_ROOT"] = str(Path(tmp) / "documents")
            stack.write_config("config.yaml", stack.config)
            for name in ("records", "requests", "verification"):
                stack.start(name, f"services.{name}.service:{name.capitalize()}Service",
                            "config.yaml")
            deadline = time.monotonic() + 60
            for name in ("records", "requests", "verification"):
                stack.wait_rpc_consumer(name, deadline)
            relay_env = {**os.environ, "SIMASN_DATABASE_URL": stack.database_url,
                         "SIMASN_AMQP_URI": stack.config["AMQP_URI"],
                         "SIMASN_DB_ROLE_PER_SERVICE": "true"}
            with open(Path(tmp) / "relay.log", "wb") as relay_log:
                relay = subprocess.Popen(
                    [str(ROOT / ".venv" / "bin" / "simasn"), "relay", "--service", "requests",
                     "--service", "records"], cwd=ROOT, env=relay_env, stdout=relay_log,
                    stderr=subprocess.STDOUT)
            log(f"preparing {args.employees} employees")
            nips, sha = prepare(stack, args.employees)
            log("bare RPC round trips (the limit)")
            bare_rate, bare_latencies = bare_rpc(stack, 5.0, args.clients)
            log(f"{args.requests:,} requests through the workflow, {args.clients} clients")
            seconds, latencies, failures, first_error = drive(stack, nips, sha, args.requests,
                                                              args.clients)
            completed = len(latencies["complete"])
            log("waiting for the relay and the verification queue to catch up")
            wait_until = time.monotonic() + 120
            while True:
                events, states, queued = count_in_log(stack.database_url)
                if queued >= args.requests or time.monotonic() > wait_until:
                    break
                time.sleep(1)
            relay.terminate()
            relay.wait(timeout=15)
        finally:
            stack.close()

    transitions_per_s = completed * len(TRANSITIONS) / seconds
    lost = args.requests - states.get("completed", 0)
    lines = [
        "# Requests workflow: requests driven through every step",
        "",
        f"Machine: {os.cpu_count()} × {cpu_model()}, load {loadavg()}; PostgreSQL "
        f"{postgres_description(ADMIN_URL)}. {args.clients} concurrent clients, "
        f"{args.employees} employees, records + requests + verification as `nameko run` "
        "processes, the outbox relay as `simasn relay`.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| requests driven | {args.requests:,} |",
        f"| completed | {completed:,} in {seconds:.1f} s |",
        f"| completed requests/s | {completed / seconds:.1f} |",
        f"| workflow RPCs/s (6 per request) | {transitions_per_s:.0f} |",
        f"| bare RPC round trips/s (`requests.health`, the limit) | {bare_rate:.0f} |",
        f"| workflow RPCs/s ÷ bare RPC/s | {transitions_per_s / bare_rate:.2f}× |",
        f"| bare RPC p50 / p99 ms | {fmt_ms(percentile(bare_latencies, 0.5))} / "
        f"{fmt_ms(percentile(bare_latencies, 0.99))} |",
        f"| failed transitions | {sum(failures.values())} "
        f"{dict(failures) if failures else ''} |",
        "",
        "| transition | p50 ms | p99 ms |",
        "|---|---:|---:|",
        *[f"| {t} | {fmt_ms(percentile(latencies[t], 0.5))} | "
          f"{fmt_ms(percentile(latencies[t], 0.99))} |" for t in TRANSITIONS],
        "",
        "Nothing lost (counted in the log after the run):",
        "",
        "| event type | in the log |",
        "|---|---:|",
        *[f"| {name} | {count:,} |" for name, count in sorted(events.items())],
        "",
        f"Requests by final state: {dict(states)}; not completed: {lost}; request items on the "
        f"verification side (from relayed events): {queued:,} of {args.requests:,}.",
    ]
    if first_error:
        lines += ["", f"First error: `{first_error[0]}`"]
    report = "\n".join(lines) + "\n"
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
