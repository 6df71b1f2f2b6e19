"""Reporting benchmark (issue 15, parts 1-2), each service its own `nameko run` process:

- **rebuild**: the employee list built from zero by the catch-up subscription
  `reporting.employees` from a records log of generated employees (a registration and a pangkat
  entry each), in events/s, against the limit measured in the same run: reading the same events
  through records' `events_feed` alone, page after page, from one client.
- **search**: `reporting.find_employees` over RPC on a list of 500,000 rows (written straight
  into the read model: the rows' origin does not matter to a search), 20 clients at once, a mix
  of filters and orders; p50/p99 per query, against the same SQL run by 20 database
  connections without RPC in the same run.

    make bench-reporting          (writes bench/results/reporting.md)
    .venv/bin/python bench/reporting.py --quick   (a smoke run: prints, writes no file)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.common import cpu_model, fmt_ratio, loadavg, log, postgres_description, verdict  # noqa: E402
from bench.gateway import ADMIN_URL, Stack  # noqa: E402
from services.records.events import REGISTRY as RECORDS  # noqa: E402
from shared.eventstore import NO_STREAM, EventStore, NewEvent, StreamAppend  # noqa: E402
from shared.subscriptions import FEED_PAGE_MAX  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reporting.md"
EMPLOYEE_TYPES = ["DataPokokChanged", "EmployeeRegistered", "HistoryEntryRecorded",
                  "LayananOutcomeApplied"]
SYSTEM = {"actor_id": "service:bench", "actor_role": "system", "actor_roles": ["system"]}
ADMIN = {"actor_id": "admin.bkd", "actor_role": "administrator",
         "actor_roles": ["administrator"], "actor_scope": []}
FASILITATOR = {"actor_id": "fas.dinkes", "actor_role": "fasilitator",
               "actor_roles": ["fasilitator"], "actor_scope": ["dinkes", "dindik"]}
#: (label, caller, query): what BKD and an OPD ask most
QUERIES = [
    ("name part", ADMIN, {"name": "rahayu"}),
    ("name part, sorted by name", ADMIN, {"name": "santoso", "sort": "name"}),
    ("NIP prefix", ADMIN, {"nip": "1975"}),
    ("OPD + golongan", ADMIN, {"opd_id": "dinkes", "golongan": "III/a"}),
    ("age band + gender, by birth date", ADMIN, {"age_band": "50-59", "gender": "P",
                                                 "sort": "date_of_birth"}),
    ("fasilitator's OPDs, by name", FASILITATOR, {"sort": "name"}),
    ("fasilitator, name part", FASILITATOR, {"name": "wibowo"}),
    ("page 200 by golongan", ADMIN, {"sort": "-golongan", "offset": 5000}),
]
ROWS_SQL = """
INSERT INTO reporting.employees (nip, name, instansi, opd_id, status, gender, date_of_birth,
    education_id, golongan, golongan_rank, tmt_cpns, jabatan, jenis_jabatan)
SELECT (190000000000000000::bigint + g::bigint * 7919)::text,
       (ARRAY['Siti','Budi','Agus','Dewi','Rina','Joko','Sri','Wahyu','Eko','Nur'])[1 + g % 10]
       || ' ' || (ARRAY['Rahayu','Santoso','Wibowo','Lestari','Pratama','Hidayat','Saputra',
       'Kurniawan','Setiawan','Susanti','Wulandari','Nugroho'])[1 + (g / 10) % 12] || ' '
       || md5(g::text)::varchar(6),
       CASE WHEN g % 3 = 0 THEN '3507' ELSE '35' END,
       CASE WHEN g % 3 = 0 THEN '3507.unit-' || (g % 20)
            ELSE (ARRAY['dinkes','dindik','dkp','dishub','bappeda','dinsos','bpkad','bkd',
                        'disperindag','dinpu'])[1 + g % 10] END,
       'PNS', CASE WHEN g % 2 = 0 THEN 'L' ELSE 'P' END, date '1965-01-01' + (g % 12000),
       '40', (ARRAY['II/c','III/a','III/b','III/c','III/d','IV/a'])[1 + h % 6],
       (ARRAY[7, 9, 10, 11, 12, 13])[1 + h % 6], date '1990-01-01' + (h % 9000),
       'Analis ' || (g % 300), 'fungsional'
  FROM generate_series(1, {rows}) g, abs(hashtext(g::text)) h  -- h: independent of g's residues
"""


def append_employees(url: str, count: int, per_batch: int = 500) -> int:
    """`count` employees, each a registration and a pangkat entry, into the records log."""
    store = EventStore("records", RECORDS)
    conn = psycopg2.connect(url)
    start = date(1966, 1, 1)
    try:
        for first in range(0, count, per_batch):
            batch = []
            for n in range(first, min(count, first + per_batch)):
                born = start + timedelta(days=n % 12000)
                nip = f"{born:%Y%m%d}{n:010d}"  # unique; the list does not judge NIPs
                batch.append(StreamAppend(f"employee:{nip}", "Employee", NO_STREAM, [
                    NewEvent("EmployeeRegistered", {
                        "nip": nip, "name": f"Pegawai {n}", "date_of_birth": born.isoformat(),
                        "gender": "L" if n % 2 else "P", "status": "PNS", "instansi": "35",
                        "opd_id": "dinkes", "golongan": "III/a", "education_id": "40",
                        "tmt_cpns": f"{born.year + 22}-01-01"}),
                    NewEvent("HistoryEntryRecorded", {
                        "history": "pangkat", "entry_id": "kp-1",
                        "entry": {"golongan": "III/b", "tmt": f"{born.year + 26}-04-01"}})],
                    {"actor_id": "bench", "actor_role": "system"}))
            with conn:
                store.append_streams(conn, batch)
        with conn.cursor() as cur:
            cur.execute("SELECT last_position FROM records.event_log_head")
            return cur.fetchone()[0]
    finally:
        conn.close()


def read_limit(config: dict, head: int) -> float:
    """Seconds to read the whole log through the feed alone, page after page."""
    with ClusterRpcProxy(config, context_data=_signed(SYSTEM, config)) as cluster:
        began, after = time.perf_counter(), 0
        while after < head:
            page = cluster.records.events_feed(after, FEED_PAGE_MAX, EMPLOYEE_TYPES)
            after = int(page["until"])
        return time.perf_counter() - began


def _signed(context: dict, config: dict) -> dict:
    from shared import callers

    issuer = callers.SERVICE if context["actor_role"] == "system" else callers.GATEWAY
    return callers.from_config(config, issuer).sign_context(context)


def position(url: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(position), 0) FROM reporting.subscriptions "
                        "WHERE name = 'reporting.employees' AND source = 'records'")
            return cur.fetchone()[0]
    finally:
        conn.close()


def rebuild(stack: Stack, head: int, timeout: float) -> tuple[float, float]:
    """Seconds from the reporting process's start until its list reflects the whole log, and
    from its first page applied (the process's start-up left out)."""
    began = time.perf_counter()
    first = None
    stack.start("reporting", "services.reporting.service:ReportingService", "config.yaml")
    deadline = time.monotonic() + timeout
    while (reached := position(stack.database_url)) < head:
        stack.check_alive()
        if first is None and reached > 0:
            first = time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the list reached {reached} of {head}")
        time.sleep(0.05)
    done = time.perf_counter()
    return done - began, done - (first or began)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_clients(clients: int, seconds: float, call) -> dict[str, list[float]]:
    """`clients` threads calling `call(index)` in turn for `seconds`; latencies per query."""
    out: dict[str, list[float]] = {label: [] for label, _, _ in QUERIES}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(offset: int):
        do = call()
        i = offset
        while time.monotonic() < stop:
            label = QUERIES[i % len(QUERIES)][0]
            began = time.perf_counter()
            do(i % len(QUERIES))
            took = time.perf_counter() - began
            with lock:
                out[label].append(took)
            i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def rpc_caller(config: dict):
    def make():
        proxies = {}

        def do(index: int):
            _, caller, query = QUERIES[index]
            key = caller["actor_id"]
            if key not in proxies:
                proxies[key] = ClusterRpcProxy(config, context_data=_signed(caller, config))
                proxies[key].cluster = proxies[key].start()
            proxies[key].cluster.reporting.find_employees(query)

        return do

    return make


def sql_caller(url: str):
    """The same queries, the same SQL, run by a database connection per client (no RPC)."""
    from sqlalchemy import create_engine, text

    from services.reporting.usecases import search
    from shared.auth import Principal
    from shared.contracts.reporting import EmployeeSearch

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"),
                           pool_size=25, connect_args={
                               "options": "-c search_path=reporting,public"})
    loaded = [(Principal(c["actor_id"], frozenset(c["actor_roles"]),
                         frozenset(c.get("actor_scope", ()))), EmployeeSearch().load(q))
              for _, c, q in QUERIES]

    class Uow:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, statement, params=None):
            return self.conn.execute(text(statement), params or {})

    def make():
        conn = engine.connect()

        def do(index: int):
            actor, query = loaded[index]
            search.find(Uow(conn), actor, query)
            conn.rollback()

        return do

    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, to try the script")
    args = parser.parse_args(argv)
    employees, rows, seconds = (2_000, 50_000, 3.0) if args.quick else (25_000, 500_000, 15.0)
    clients = 20
    workdir = Path(tempfile.mkdtemp(prefix="simasn-bench-reporting-"))
    stack = Stack(workdir, db_pool_size=10)
    try:
        stack.create()
        stack.config.update({"SUBSCRIPTION_SWEEP_SECONDS": 1, "PROJECTION_WATCH_SECONDS": 30})
        stack.write_config("config.yaml", stack.config)
        log(f"appending {employees} employees to the records log")
        head = append_employees(stack.database_url, employees)
        stack.start("records", "services.records.service:RecordsService", "config.yaml")
        stack.wait_rpc_consumer("records", time.monotonic() + 60)
        log(f"reading {head} events through the feed alone")
        limit = read_limit(stack.config, head)
        log("rebuilding the list from zero")
        built, applying = rebuild(stack, head, timeout=3600)
        stack.wait_rpc_consumer("reporting", time.monotonic() + 60)

        log(f"writing {rows} rows into the list")
        conn = psycopg2.connect(stack.database_url)
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM reporting.employees")
            cur.execute(ROWS_SQL.format(rows=int(rows)))
            cur.execute("ANALYZE reporting.employees")
        conn.close()
        log(f"searching: {clients} clients, {seconds:g} s over RPC, then over SQL alone")
        rpc_times = run_clients(clients, seconds, rpc_caller(stack.config))
        sql_times = run_clients(clients, seconds, sql_caller(stack.database_url))
        text = results(args.quick, head, limit, built, applying, rows, clients, seconds,
                       rpc_times, sql_times, postgres_description(ADMIN_URL))
    finally:
        stack.close()
    if not args.quick:  # a smoke run writes no results file
        RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 0


def results(quick, head, limit, built, applying, rows, clients, seconds, rpc_times, sql_times,
            postgres) -> str:
    read_rate, build_rate = head / limit, head / built
    everything = [t for times in rpc_times.values() for t in times]
    p99 = percentile(everything, 99)
    lines = [
        "# Reporting: rebuilding the employee list, finding employees",
        "",
        f"`bench/reporting.py`{' --quick' if quick else ''}; CPU {cpu_model()}, load "
        f"{loadavg()} at the end; PostgreSQL {postgres}. Each service a `nameko run` process "
        "(max_workers 10).",
        "",
        "## Rebuild from zero (subscription `reporting.employees`)",
        "",
        "| what | events | seconds | events/s | ratio to the read limit |",
        "|---|---:|---:|---:|---:|",
        f"| read the records log through `events_feed` alone (the limit) | {head} | "
        f"{limit:.1f} | {read_rate:,.0f} | 1.00× |",
        f"| rebuild the list (process start to caught up) | {head} | {built:.1f} | "
        f"{build_rate:,.0f} | {fmt_ratio(build_rate, read_rate)} |",
        f"| rebuild the list (first page applied to caught up) | {head} | {applying:.1f} | "
        f"{head / applying:,.0f} | {fmt_ratio(head / applying, read_rate)} |",
        "",
        "The catch-up asks for the feed's largest page (500) and applies each page in one "
        "transaction (`batched_catch_up`: the markers, one read and one write of the page's "
        "rows, the position); the limit reads the same pages and does nothing with them.",
        "",
        f"Target (issue 15): ≥ 0.5× the read limit — {verdict(build_rate >= 0.5 * read_rate)}.",
        "",
        f"## Search: {rows:,} rows, {clients} clients at once, {seconds:g} s each way",
        "",
        "| query | calls | RPC p50 ms | RPC p99 ms | SQL alone p50 ms | SQL alone p99 ms | "
        "p50 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, _, _ in QUERIES:
        ours, base = rpc_times[label], sql_times[label] or [float("nan")]
        lines.append(
            f"| {label} | {len(ours)} | {statistics.median(ours) * 1000:.1f} | "
            f"{percentile(ours, 99) * 1000:.1f} | {statistics.median(base) * 1000:.1f} | "
            f"{percentile(base, 99) * 1000:.1f} | "
            f"{fmt_ratio(statistics.median(ours), statistics.median(base))} |")
    lines += [
        f"| **all** | {len(everything)} | {statistics.median(everything) * 1000:.1f} | "
        f"{p99 * 1000:.1f} | | | |",
        "",
        f"Target (issue 15): search p99 < 100 ms at 20 clients — {verdict(p99 < 0.1)}. "
        "The reporting service runs 10 workers (Nameko's default): with 20 clients, half of "
        "the calls wait for a worker; the \"SQL alone\" clients hold 20 connections.",
        "",
        f"Run {uuid.uuid4().hex[:8]}.",
    ]
    busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    if busy:  # other work shared the cores: the ratios hold better than the absolute figures
        lines[3:3] = ["", f"**The machine was busy** (load above its {os.cpu_count()} cores): "
                          "other processes shared the CPUs, so the absolute figures are high; "
                          "re-run on a quiet machine before judging the targets."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
