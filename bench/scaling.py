"""Scaling proof on one machine (issue 18 part 4): the deployed stack (`make up`'s
scripts/stack.sh) run twice in one benchmark run, once with one process of records, requests and
sync, once with three of each (SIMASN_REPLICAS="records=3,requests=3,sync=3"): the replicas are
competing consumers of their service's RPC and event queues. The same load each time, through
the gateway: CLIENTS clients each registering an employee and then recording CHANGES history
entries on it (records' RPC, whose events requests, reporting, sync and verification consume).
Measured: commands per second until every queue of the run's vhost has drained, and the bookkeeping
that proves no duplicate effect: each command's event in records' log exactly once, each event
consumed at most once per consumer (by event id, in every service's `consumed` table), nothing
dead-lettered.

    .venv/bin/python bench/scaling.py [--clients 12] [--changes 20]   (make bench-scaling)

Writes bench/results/scaling.md. Two cores run everything (PostgreSQL, RabbitMQ, the client):
read the ratio with the CPU figures beside it."""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stackload  # noqa: E402
from bench.common import cpu_model, fmt_ratio, loadavg, log  # noqa: E402
from tests.helpers import fetch  # noqa: E402
from tests.identity_helpers import employee_for, unique_nip  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scaling.md"
SCHEMAS = ("identity", "records", "requests", "verification", "signing", "reporting", "sync",
           "gateway")
ROUNDS = (("1 replica each", ""), ("3 replicas of records, requests, sync",
                                   "records=3,requests=3,sync=3"))


def client_load(url: str, token: str, changes: int, out: dict, errors: list) -> None:
    http = stackload.Http(url)
    nip = unique_nip()
    try:
        status, body = http.call("POST", "/api/employees", token,
                                   {**employee_for(nip), "reason": "uji skala"})
        if status != 201:
            errors.append(("register", status, body))
            return
        version = body["version"]
        out[nip] = 1
        for k in range(changes):
            status, body = http.call(
                "POST", f"/api/employees/{nip}/histories", token,
                {"history": "kinerja", "entry": {"tahun": 2025 - k, "predikat": "Baik"},
                 "expected_version": version, "reason": "uji skala"})
            if status != 200:
                errors.append(("history", status, body))
                return
            version = body["version"]
            out[nip] += 1
    except OSError as exc:
        errors.append(("connection", None, repr(exc)))


def bookkeeping(database_url: str, nips: dict) -> dict:
    """Each command applied once; each event consumed at most once per consumer."""
    streams = [f"employee:{nip}" for nip in nips]
    per_stream = dict(fetch(database_url, "SELECT stream_id, count(*) FROM records.events "
                            "WHERE stream_id = ANY(%s) GROUP BY stream_id", (streams,)))
    answered = {f"employee:{nip}": n for nip, n in nips.items()}
    doubled, consumed, dead = 0, 0, 0
    for schema in SCHEMAS:
        (total, distinct), = fetch(database_url, f"SELECT count(*), count(DISTINCT (consumer, "  # noqa: S608 - schema names from code
                                   f"event_id)) FROM {schema}.consumed")
        doubled += total - distinct
        consumed += total
        dead += fetch(database_url, f"SELECT count(*) FROM {schema}.dead_letters")[0][0]  # noqa: S608
    return {"commands_answered": sum(answered.values()),
            "events_in_log": sum(per_stream.get(s, 0) for s in answered),
            "streams_matching": sum(1 for s, n in answered.items() if per_stream.get(s) == n),
            "streams": len(answered), "consumed": consumed, "consumed_twice": doubled,
            "dead_lettered": dead}


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    ticks = 100.0
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return out


def run_round(label: str, replicas: str, clients: int, changes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="simasn-scaling-") as tmp:
        with stackload.stack(Path(tmp) / "run", replicas) as deployed:
            pids = stackload.process_pids(deployed.run_dir)
            log(f"{label}: {len(pids)} processes up: {', '.join(sorted(pids))}")
            token = deployed.login(stackload.fasilitator_for(deployed, "dinkes"))
            stackload.wait_drained(deployed)
            cpu_before = cpu_seconds(pids)
            out, errors = {}, []
            threads = [threading.Thread(target=client_load,
                                        args=(deployed.url, token, changes, out, errors))
                       for _ in range(clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            answered = time.monotonic() - started
            drained = answered + stackload.wait_drained(deployed)
            cpu_after = cpu_seconds(pids)
            books = bookkeeping(deployed.database_url, out)
    commands = sum(out.values())
    cpu = {}
    for name, seconds in cpu_after.items():
        service = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
        cpu[service] = cpu.get(service, 0.0) + seconds - cpu_before.get(name, seconds)
    return {"label": label, "replicas": replicas or "-", "commands": commands,
            "errors": errors, "answered_s": answered, "drained_s": drained,
            "answered_per_s": commands / answered, "drained_per_s": commands / drained,
            "cpu": cpu, "books": books}


def write(rounds: list[dict], clients: int, changes: int) -> None:
    base = rounds[0]
    lines = [
        "# Scaling: competing consumers on one machine",
        "",
        f"`make bench-scaling` (bench/scaling.py), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{cpu_model()}, load average at the end {loadavg()}.",
        "",
        f"Load: {clients} clients through the gateway, each registering an employee and then "
        f"recording {changes} kinerja entries on it (records' RPC; its events consumed by "
        "requests, reporting, sync, verification). Throughput = commands ÷ time until every "
        "queue of the run's vhost drained (\"answered\" = until the last HTTP answer).",
        "",
        "| round | replicas | commands | errors | answered/s | drained/s | ratio (drained) |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for r in rounds:
        lines.append(f"| {r['label']} | {r['replicas']} | {r['commands']} | {len(r['errors'])} "
                     f"| {r['answered_per_s']:.1f} | {r['drained_per_s']:.1f} | "
                     f"{fmt_ratio(r['drained_per_s'], base['drained_per_s'])} |")
    lines += ["", "Bookkeeping (no duplicate effects):", "",
              "| round | commands answered | their events in records' log | streams exact | "
              "consumptions | consumed twice | dead-lettered |", "|---|--:|--:|--:|--:|--:|--:|"]
    for r in rounds:
        b = r["books"]
        lines.append(f"| {r['label']} | {b['commands_answered']} | {b['events_in_log']} | "
                     f"{b['streams_matching']}/{b['streams']} | {b['consumed']} | "
                     f"{b['consumed_twice']} | {b['dead_lettered']} |")
    services = sorted({s for r in rounds for s in r["cpu"]})
    lines += ["", "Where the time goes: CPU seconds per service during the load "
              "(all replicas of a service summed; the client, PostgreSQL and RabbitMQ share the "
              "same two cores):", "",
              "| service | " + " | ".join(r["label"] for r in rounds) + " |",
              "|---|" + "--:|" * len(rounds)]
    for service in services:
        lines.append(f"| {service} | " + " | ".join(f"{r['cpu'].get(service, 0):.1f}"
                                                     for r in rounds) + " |")
    lines += ["", "Errors (first 5 per round): " + ("; ".join(
        f"{r['label']}: {r['errors'][:5]}" for r in rounds if r["errors"]) or "none"), ""]
    RESULTS.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    rounds = []
    for label, replicas in ROUNDS:
        log(f"round: {label}")
        rounds.append(run_round(label, replicas, args.clients, args.changes))
        log(f"{label}: {rounds[-1]['drained_per_s']:.1f} commands/s, books {rounds[-1]['books']}, "
            f"errors {rounds[-1]['errors'][:3]}")
    write(rounds, args.clients, args.changes)
    print(RESULTS.read_text())
    bad = [r for r in rounds if r["errors"] or r["books"]["consumed_twice"]
           or r["books"]["streams_matching"] != r["books"]["streams"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
