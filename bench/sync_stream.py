"""Incremental stream benchmark (issue 14): 100,000 change events of several kabupaten/kota —
registrations, data pokok changes, history entries — pushed as signed HTTP batches of 1,000
through the real gateway to the sync service, and applied by sync to records
(`records.apply_region_changes`, one call per chunk), each service a `nameko run` process of its
own in a throwaway database and vhost. Measured in the same run:

- received: events/s from the first send to the last batch answered (every event logged and
  queued by sync);
- applied end to end: events/s from the first send until applied_through reaches the last
  sequence in every region (every event applied to records, marked in sync's log);
- the limit: a plain COPY of the same rows into a flat table (nothing checked, no log);
- one records.apply_region_change call per event (the records side of the applier before
  batching; its sync transaction per event not even counted), on a small sample.

At the end records is compared with the state the stream leads to, employee by employee, and
every event must be accounted for (applied in sync, one region_changes row in records).

    make bench-sync                                 (writes bench/results/sync_stream.md)
    .venv/bin/python bench/sync_stream.py --events 10000     (a quick run)
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_model, loadavg, log, postgres_description  # noqa: E402
from bench.gateway import ADMIN_URL, HOST, Stack, all_processes  # noqa: E402
from shared.migrations import database_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "sync_stream.md"
EVENTS = 100_000
BATCH = 1_000
REGIONS = ("3507", "3571", "3573", "3578")
PER_EVENT_SAMPLE = 500
TARGET_PER_SECOND = 2_000
#: employees records has never seen in the reconciled region's snapshot (missing_in_records)
RECONCILE_NEW = 10_000
ADMIN = {"actor_id": "admin.bench", "actor_role": "administrator",
         "actor_roles": ["administrator"], "actor_scope": []}
SYSTEM = {"actor_id": "service:bench", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


def rpc(config: dict, context: dict):
    from nameko.standalone.rpc import ClusterRpcProxy

    from tests.helpers import signed

    return ClusterRpcProxy(config, context_data=signed(context, config), timeout=120)


# -- the stream ----------------------------------------------------------------------------------

def generate(total: int, regions: tuple[str, ...], seed: int = 14):
    """{region: events in sequence order} and {nip: (name, kinerja years)} they lead to. About
    one event in ten registers an employee (each before their first change); of the rest,
    three in ten record a kinerja entry, the others change data pokok."""
    from tests.identity_helpers import employee_for

    rng = random.Random(seed)
    used: set[str] = set()
    feeds: dict[str, list[dict]] = {}
    expected: dict[str, tuple[str, set]] = {}
    for index, region in enumerate(regions):
        count = total // len(regions) + (1 if index < total % len(regions) else 0)
        people = max(5, count // 10)
        registered: list[str] = []
        events = []
        while len(events) < count:
            if len(registered) < people and (not registered or rng.random() < 0.1):
                nip = _nip(rng, used)
                data = {k: v for k, v in employee_for(nip).items() if k not in ("reason",
                                                                                "opd_id")}
                events.append({"kind": "employee_registered", "nip": nip, "data": {
                    **data, "opd_id": f"{region}.dinkes", "opd_name": "Dinas Kesehatan"}})
                registered.append(nip)
                expected[nip] = (data["name"], set())
                continue
            nip = rng.choice(registered)
            name, years = expected[nip]
            if rng.random() < 0.3 and len(years) < 25:
                year = 2025 - len(years)
                years.add(year)
                events.append({"kind": "history_recorded", "nip": nip, "data": {
                    "history": "kinerja", "entry": {"tahun": year, "predikat": "Baik"}}})
            else:
                name = f"Pegawai {region}-{len(events) + 1}"
                expected[nip] = (name, years)
                events.append({"kind": "data_pokok_changed", "nip": nip,
                               "data": {"changes": {"name": name}}})
        for sequence, event in enumerate(events, 1):
            event.update(sequence=sequence, event_id=str(uuid.UUID(int=rng.getrandbits(128),
                                                                   version=4)))
        feeds[region] = events
    return feeds, expected


def _nip(rng: random.Random, used: set[str]) -> str:
    while True:
        year, month, day = rng.randint(1965, 1999), rng.randint(1, 12), rng.randint(1, 28)
        nip = (f"{year}{month:02d}{day:02d}{year + 25}{rng.randint(1, 12):02d}"
               f"{rng.choice('12')}{rng.randint(1, 999):03d}")
        if nip not in used:
            used.add(nip)
            return nip


# -- applying a reconciliation's differences ----------------------------------------------------

SNAPSHOT_HEADER = ["nip", "nama", "tanggal_lahir", "jenis_kelamin", "status", "tmt_cpns",
                   "golongan", "pendidikan", "opd_id", "nama_opd"]


def reconciliation_snapshot(path: Path, region: str, feed: list[dict], expected: dict,
                            new_count: int, seed: int = 16) -> tuple[int, int]:
    """The region's snapshot at the meeting: every employee the stream registered there under
    another name (a field_mismatch on `name` each) and `new_count` employees records has never
    seen (a missing_in_records each); the other columns agree with the records."""
    from tests.identity_helpers import employee_for

    rng = random.Random(seed)
    used = set(expected)
    registered = [e["nip"] for e in feed if e["kind"] == "employee_registered"]

    def row(nip: str, name: str) -> list:
        e = employee_for(nip)
        return [nip, name, e["date_of_birth"], e["gender"], e["status"], e["tmt_cpns"],
                e["golongan"], e["education_id"], f"{region}.dinkes", "Dinas Kesehatan"]

    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(SNAPSHOT_HEADER)
        for nip in registered:
            writer.writerow(row(nip, f"{expected[nip][0]} Rekon"))
        for _ in range(new_count):
            nip = _nip(rng, used)
            writer.writerow(row(nip, employee_for(nip)["name"]))
    return len(registered), new_count


def chunk_timings(log_path: Path) -> dict:
    """Where the applier's time went, summed over its `reconciliation_chunk_applied` lines:
    reading the chunk, records' call, recording the outcomes (ms)."""
    totals = {"chunks": 0, "reading_ms": 0, "records_ms": 0, "recording_ms": 0}
    for line in log_path.read_text(errors="replace").splitlines():
        if '"reconciliation_chunk_applied"' not in line:
            continue
        entry = orjson.loads(line)
        totals["chunks"] += 1
        for key in ("reading_ms", "records_ms", "recording_ms"):
            totals[key] += entry[key]
    return totals


def _poll(read, done, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done after {timeout} s ({str(value)[:300]})")
        time.sleep(0.1)


def apply_reconciliation(stack, base_url: str, key: dict, region: str, feed: list[dict],
                         expected: dict, new_count: int, tmp: Path) -> dict:
    """The yearly reconciliation of one region through the running processes: its snapshot
    uploaded (signed) and loaded, the report, every difference decided take_region in bulk,
    then applied to records (timed from the apply request to status `applied`)."""
    from tests.sync_helpers import region_client

    path = tmp / f"snapshot-{region}.csv"
    renamed, new = reconciliation_snapshot(path, region, feed, expected, new_count)
    status, answer = region_client.send_snapshot(base_url, region, key["key_id"], key["secret"],
                                                 str(path))
    if status != 202:
        raise RuntimeError(f"snapshot refused: {status} {answer}")
    snapshot_id = answer["snapshot_id"]
    with rpc(stack.config, ADMIN) as cluster:
        _poll(lambda: {s["snapshot_id"]: s for s in cluster.sync.list_snapshots(region)}
              [snapshot_id], lambda s: s["status"] in ("loaded", "failed"), 300, "snapshot")
        rid = cluster.sync.start_reconciliation(
            region, {"snapshot_id": snapshot_id, "year": 2026})["reconciliation_id"]
        report = _poll(lambda: cluster.sync.get_reconciliation(region, rid),
                       lambda r: r["status"] in ("reported", "failed"), 300, "report")
        figures = report["figures"] or {}
        if (figures.get("field_mismatch"), figures.get("missing_in_records")) != (renamed, new):
            raise RuntimeError(f"the report is not the snapshot's: {figures}")
        decided_started = time.monotonic()
        for bulk in ({"kind": "field_mismatch", "field": "name", "decision": "take_region"},
                     {"kind": "missing_in_records", "decision": "take_region"}):
            cluster.sync.record_decisions(region, rid, {"bulk": bulk})
        decided_seconds = time.monotonic() - decided_started
        applying_started = time.monotonic()
        cluster.sync.apply_decisions(region, rid)
        state = _poll(lambda: cluster.sync.get_reconciliation(region, rid),
                      lambda r: r["status"] == "applied", 600, "apply")
        applied_seconds = time.monotonic() - applying_started
    conn = psycopg2.connect(stack.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT applied_outcome->>'status', count(*) FROM sync.differences "
                        "WHERE reconciliation_id = %s GROUP BY 1", (rid,))
            outcomes = dict(cur.fetchall())
            cur.execute("SELECT count(*) FILTER (WHERE name LIKE '%% Rekon'), count(*) FROM "
                        "records.employees WHERE instansi = %s", (region,))
            renamed_in_records, in_region = cur.fetchone()
    finally:
        conn.close()
    return {"region": region, "renamed": renamed, "new": new, "decisions": renamed + new,
            "decided_seconds": decided_seconds, "applied_seconds": applied_seconds,
            "outcomes": outcomes, "status": state["status"],
            "records_equal": renamed_in_records == renamed and
            in_region == len([e for e in feed if e["kind"] == "employee_registered"]) + new}


# -- the run -------------------------------------------------------------------------------------

def push_all(base_url: str, keys: dict, feeds: dict) -> tuple[float, float, list]:
    """Every region pushes its batches in order, the regions at once; returns (first send,
    last answer, problems)."""
    from tests.sync_helpers import region_client

    problems: list = []
    started = time.monotonic()

    def region_pusher(region: str) -> None:
        events = feeds[region]
        for start in range(0, len(events), BATCH):
            batch = events[start:start + BATCH]
            status, answer = region_client.send_batch(base_url, region, keys[region]["key_id"],
                                                      keys[region]["secret"], batch)
            if status != 200 or any(e["outcome"] != "received" for e in answer["events"]):
                problems.append((region, start, status, str(answer)[:300]))
                return

    threads = [threading.Thread(target=region_pusher, args=(r,)) for r in feeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return started, time.monotonic(), problems


def wait_applied(url: str, feeds: dict, started: float, timeout: float) -> float:
    """When applied_through reached the last sequence in every region (polled every 0.1 s)."""
    last = {region: len(events) for region, events in feeds.items()}
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        while True:
            with conn.cursor() as cur:
                cur.execute("SELECT code, applied_through FROM sync.regions")
                through = dict(cur.fetchall())
            if all(through.get(r, 0) >= n for r, n in last.items()):
                return time.monotonic()
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"not applied after {timeout} s: {through} of {last}")
            time.sleep(0.1)
    finally:
        conn.close()


def check_outcome(url: str, feeds: dict, expected: dict) -> dict:
    """Every event accounted for, and records as the stream leaves it."""
    total = sum(len(events) for events in feeds.values())
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, count(*) FROM sync.inbound GROUP BY status")
            statuses = dict(cur.fetchall())
            cur.execute("SELECT count(*) FROM sync.events WHERE event_type = 'SyncEventApplied' "
                        "AND stream_id = ANY(%s)", ([f"region:{r}" for r in feeds],))
            (applied_events,) = cur.fetchone()
            cur.execute("SELECT count(*), count(DISTINCT event_id) FROM records.region_changes "
                        "WHERE region = ANY(%s)", (list(feeds),))
            changes, distinct = cur.fetchone()
            cur.execute("SELECT nip, name, record::text FROM records.employees "
                        "WHERE nip = ANY(%s)", (list(expected),))
            rows = cur.fetchall()
    finally:
        conn.close()
    wrong = 0
    for nip, name, record in rows:
        years = {e["tahun"] for e in orjson.loads(record).get("histories", {}).get("kinerja", [])}
        if (name, years) != expected[nip]:
            wrong += 1
    wrong += len(expected) - len(rows)
    return {"accounted": statuses == {"applied": total} and applied_events == total
            and changes == distinct == total, "statuses": statuses,
            "records_equal": wrong == 0, "employees": len(expected), "wrong": wrong}


def copy_baseline(url: str, feeds: dict) -> tuple[float, int]:
    """The same rows COPYed into a flat table: the limit of just moving them."""
    buffer = io.StringIO()
    for region, events in feeds.items():
        for e in events:
            data = orjson.dumps(e["data"]).decode().replace("\\", "\\\\")
            buffer.write(f"{region}\t{e['sequence']}\t{e['event_id']}\t{e['kind']}\t{e['nip']}\t"
                         f"{data}\n")
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE stream_flat (region text, sequence bigint, event_id uuid, "
                        "kind text, nip text, data jsonb)")
        buffer.seek(0)
        started = time.perf_counter()
        with conn, conn.cursor() as cur:
            cur.copy_expert("COPY stream_flat FROM STDIN", buffer)
            cur.execute("SELECT count(*) FROM stream_flat")
            (rows,) = cur.fetchone()
        return time.perf_counter() - started, rows
    finally:
        conn.close()


def per_event(config: dict, events: list[dict], region: str) -> float:
    """Seconds for `events`, one records.apply_region_change call each, in order."""
    with rpc(config, SYSTEM) as cluster:
        started = time.perf_counter()
        for event in events:
            cluster.records.apply_region_change(region, event)
        return time.perf_counter() - started


def cpu_seconds(pids: dict[str, int], database: str) -> dict[str, float]:
    """CPU seconds so far of each named process, and of PostgreSQL's backends connected to the
    benchmark's database (they live as long as the services' connection pools)."""
    table = all_processes()
    out = {name: table.get(pid, ("", 0.0))[1] for name, pid in pids.items()}
    out["postgres"] = sum(cpu for name, cpu in table.values() if name == f"postgres:{database}")
    return out


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--regions", type=int, default=len(REGIONS))
    parser.add_argument("--apply-batch", type=int, default=None,
                        help="SYNC_APPLY_BATCH for sync (default: the config's, 500)")
    parser.add_argument("--reconcile-new", type=int, default=RECONCILE_NEW,
                        help="employees only the reconciled region's snapshot has")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    regions = REGIONS[:max(1, min(args.regions, len(REGIONS)))]
    log(f"generating {args.events:,} events of {len(regions)} regions")
    feeds, expected = generate(args.events, regions)
    sample, _ = generate(PER_EVENT_SAMPLE, ("3579",), seed=15)
    load_before = loadavg()

    from cryptography.fernet import Fernet

    with tempfile.TemporaryDirectory(prefix="simasn-bench-sync-") as tmp:
        stack = Stack(Path(tmp), db_pool_size=10)
        try:
            stack.create()
            stack.config["SYNC_KEY_SEAL_KEY"] = Fernet.generate_key().decode()
            if args.apply_batch:
                stack.config["SYNC_APPLY_BATCH"] = args.apply_batch
            stack.write_config("config.yaml", stack.config)
            # sync logs at INFO: its per-chunk timings are the profile of the applier
            stack.write_config("config-sync.yaml", {**stack.config, "LOG_LEVEL": "INFO"})
            for name in ("records", "sync", "gateway"):
                stack.start(name, f"services.{name}.service:{name.capitalize()}Service",
                            "config-sync.yaml" if name == "sync" else "config.yaml")
            deadline = time.monotonic() + 90
            for name in ("records", "sync"):
                stack.wait_rpc_consumer(name, deadline)
            stack.wait_http(stack.ports["gateway"], "/health", deadline)
            with rpc(stack.config, ADMIN) as cluster:
                keys = {region: cluster.sync.onboard_region(
                    {"region": region, "reason": "PKS sinkronisasi (bench)"})
                    for region in (*regions, "3579")}
            base_url = f"http://{HOST}:{stack.ports['gateway']}"
            log(f"pushing {args.events:,} events in batches of {BATCH:,}")
            pids = {name: stack.processes[name].popen.pid
                    for name in ("sync", "records", "gateway")}
            database = database_name(stack.database_url)
            cpu_before = cpu_seconds(pids, database)
            started, received_at, problems = push_all(base_url, keys, feeds)
            if problems:
                raise RuntimeError(f"pushes refused: {problems[:3]}")
            log(f"received in {received_at - started:.1f} s; waiting until applied")
            applied_at = wait_applied(stack.database_url, feeds, started,
                                      timeout=max(600, args.events / 50))
            cpu_after = cpu_seconds(pids, database)
            load_after = loadavg()
            log(f"applied in {applied_at - started:.1f} s; checking the outcome")
            outcome = check_outcome(stack.database_url, feeds, expected)
            rss = {name: peak_rss_mb(stack.processes[name].popen.pid)
                   for name in ("sync", "records", "gateway")}
            log(f"per event: {PER_EVENT_SAMPLE} records.apply_region_change calls")
            per_event_seconds = per_event(stack.config, sample["3579"], "3579")
            log("COPY baseline")
            copy_seconds, copied = copy_baseline(stack.database_url, feeds)
            log(f"reconciliation of {regions[0]}: {args.reconcile_new:,} new employees and "
                "every one of its employees renamed, decided take_region and applied")
            reconciled = apply_reconciliation(stack, base_url, keys[regions[0]], regions[0],
                                              feeds[regions[0]], expected, args.reconcile_new,
                                              Path(tmp))
            reconciled["chunks"] = chunk_timings(stack.processes["sync"].log_path)
            postgres = postgres_description(ADMIN_URL)
        finally:
            stack.close()

    total = args.events
    received_rate = total / (received_at - started)
    applied_rate = total / (applied_at - started)
    copy_rate = copied / copy_seconds
    per_event_rate = PER_EVENT_SAMPLE / per_event_seconds
    cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    cpu_ms = {name: 1000 * seconds / total for name, seconds in cpu.items()}
    cpu_total_ms = sum(cpu_ms.values())
    cores = os.cpu_count() or 1
    ok = applied_rate >= TARGET_PER_SECOND and outcome["accounted"] and outcome["records_equal"]

    reconcile_rate = reconciled["decisions"] / reconciled["applied_seconds"]

    def mb(value):
        return "n/a" if value is None else f"{value:.0f} MB"

    report = "\n".join([
        "# Incremental stream: regions' changes received and applied, vs plain COPY",
        "",
        f"Machine: {os.cpu_count()} × {cpu_model()}; load {load_before} before, {load_after} "
        f"after the stream; PostgreSQL {postgres}. **Noisy figures**: a 2-core machine that "
        "other engineers run test suites on at the same time; compare ratios within one run, "
        "and rerun before drawing conclusions from one figure.",
        "",
        f"Stream: {total:,} events of {len(regions)} kabupaten/kota ({', '.join(regions)}) — "
        f"{len(expected):,} employees registered, then data pokok changes and kinerja entries "
        f"— pushed as signed HTTP batches of {BATCH:,} through the gateway (one pusher per "
        "region, all at once) to sync, which applies them to records with one "
        "`records.apply_region_changes` call per chunk of SYNC_APPLY_BATCH "
        f"({args.apply_batch or 500}). Gateway, "
        "sync and records are `nameko run` processes of their own. Received: first send → "
        "last batch answered. Applied end to end: first send → applied_through at the last "
        "sequence of every region (receiving and applying overlap). COPY: the same rows into "
        "a flat table, nothing checked. Per event: one `records.apply_region_change` RPC per "
        f"event, {PER_EVENT_SAMPLE} events of another region in order (the records side of "
        "the applier before batching, without its sync transaction per event).",
        "",
        "| measure | events | seconds | events/s | ÷ COPY |",
        "|:---|---:|---:|---:|---:|",
        f"| received (gateway → sync log) | {total:,} | {received_at - started:.1f} "
        f"| {received_rate:,.0f} | {received_rate / copy_rate:.4f}× |",
        f"| **applied end to end** (received → applied in records) | {total:,} "
        f"| {applied_at - started:.1f} | **{applied_rate:,.0f}** "
        f"| {applied_rate / copy_rate:.4f}× |",
        f"| one apply_region_change RPC per event (before) | {PER_EVENT_SAMPLE:,} "
        f"| {per_event_seconds:.1f} | {per_event_rate:,.0f} | {per_event_rate / copy_rate:.4f}× |",
        f"| plain COPY into a flat table (the limit) | {copied:,} | {copy_seconds:.2f} "
        f"| {copy_rate:,.0f} | 1× |",
        "",
        f"Applied end to end vs one RPC per event: {applied_rate / per_event_rate:.1f}×. "
        f"Target ≥ {TARGET_PER_SECOND:,} events/s applied end to end: "
        f"{'pass' if ok else '**miss**'}.",
        "",
        f"CPU per event, received and applied (from /proc, the stream's window): sync "
        f"{cpu_ms['sync']:.2f} ms, records {cpu_ms['records']:.2f} ms, gateway "
        f"{cpu_ms['gateway']:.2f} ms, PostgreSQL backends {cpu_ms['postgres']:.2f} ms; "
        f"{cpu_total_ms:.2f} ms in all, so {cores} cores given to this stream alone would "
        f"carry at most {1000 * cores / cpu_total_ms:,.0f} events/s (a ceiling that the load "
        "of other work on the machine does not move, unlike the wall-clock figures above).",
        "",
        f"Outcome: every event accounted for (sync: all applied, one SyncEventApplied each; "
        f"records: one region_changes row each): {'yes' if outcome['accounted'] else '**no**'} "
        f"({outcome['statuses']}); records equal to the state the stream leads to "
        f"({outcome['employees']:,} employees: name and kinerja years): "
        f"{'yes' if outcome['records_equal'] else '**no**, ' + str(outcome['wrong']) + ' differ'}.",
        "",
        f"Peak memory (VmHWM): sync {mb(rss['sync'])}, records {mb(rss['records'])}, gateway "
        f"{mb(rss['gateway'])}.",
        "",
        "## Applying a reconciliation's differences",
        "",
        f"After the stream, region {reconciled['region']} uploads its yearly snapshot (signed, "
        "through the gateway): each of its "
        f"{reconciled['renamed']:,} employees under another name (a `field_mismatch` on "
        f"`name` each) and {reconciled['new']:,} employees records has never seen "
        "(`missing_in_records`). Sync loads it, reports, every difference is decided "
        "take_region in two bulk calls, then applied: one `records.apply_region_changes` call "
        "per chunk of 500 (the same records path as the stream), each outcome recorded. Timed "
        "from the apply request until the reconciliation reads `applied`.",
        "",
        "| measure | decisions | seconds | decisions/s | ÷ COPY |",
        "|:---|---:|---:|---:|---:|",
        f"| recorded in bulk (two calls) | {reconciled['decisions']:,} "
        f"| {reconciled['decided_seconds']:.1f} "
        f"| {reconciled['decisions'] / reconciled['decided_seconds']:,.0f} | |",
        f"| **applied to records** (renames and registrations) | {reconciled['decisions']:,} "
        f"| {reconciled['applied_seconds']:.1f} | **{reconcile_rate:,.0f}** "
        f"| {reconcile_rate / copy_rate:.4f}× |",
        "",
        f"Where the applier's time went ({reconciled['chunks']['chunks']} chunks, from sync's "
        f"log): reading the chunks {reconciled['chunks']['reading_ms'] / 1000:.1f} s, "
        f"records' `apply_region_changes` calls {reconciled['chunks']['records_ms'] / 1000:.1f} "
        f"s, recording the outcomes {reconciled['chunks']['recording_ms'] / 1000:.1f} s; the "
        "rest of the wall time is the timer's pick-up (a 0.25 s tick) and the poll.",
        "",
        f"Target ≥ {TARGET_PER_SECOND:,} differences/s applied: "
        f"{'pass' if reconcile_rate >= TARGET_PER_SECOND else '**miss**'}. Outcomes "
        f"{reconciled['outcomes']}; records hold the region's names and the new employees: "
        f"{'yes' if reconciled['records_equal'] else '**no**'}.",
        "",
    ])
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
