"""Reporting benchmark, exports (issue 15 part 5): the employee list exported as CSV, XLSX and
PDF by the reporting service (its own `nameko run` process, the export worker of
services/reporting/usecases/exports.py) from a read model of N rows written straight into
`reporting.employees` (as bench/reporting.py does for search): rows/s per format, and the
service process's peak memory (VmHWM, reset before each export) minus its RSS just before, at
N/10 rows and at N rows — flat memory means the second is no larger than the first. The
baseline, measured in the same run: the same rows read with a plain server-side cursor and
written with the csv module, in a process of its own, no service, no disclosure, no store.

    make bench-reporting          (runs bench/reporting.py, then this; writes
                                   bench/results/reporting_export.md)
    .venv/bin/python bench/reporting_export.py --quick   (a smoke run: prints, writes no file)
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.common import (  # noqa: E402
    cpu_model,
    fmt_ratio,
    loadavg,
    log,
    peak_rss_mb,
    postgres_description,
    run_worker,
)
from bench.gateway import ADMIN_URL, Stack  # noqa: E402
from bench.reporting import ADMIN, ROWS_SQL, _signed  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reporting_export.md"
FORMATS = ("csv", "xlsx", "pdf")
FIELDS = ("nip, name, gelar_depan, gelar_belakang, instansi, opd_id, opd_name, unit, status, "
          "gender, date_of_birth, education_id, golongan, tmt_golongan, jabatan, jenis_jabatan, "
          "eselon, tmt_cpns, tmt_pns, tmt_pensiun")


def _status(pid: int, key: str) -> float:
    """A memory figure of process `pid` from /proc (VmRSS, VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset_peak(pid: int) -> None:
    """VmHWM back to the current RSS (Linux: clear_refs 5), so each export has its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def baseline_worker(url: str) -> dict:
    """The limit: a plain server-side cursor into the csv module, to a temporary file."""
    conn = psycopg2.connect(url)
    began = time.perf_counter()
    rows = 0
    with conn, conn.cursor(name="bench_export") as cur, tempfile.TemporaryFile() as out:
        cur.itersize = 2000
        cur.execute(f"SELECT {FIELDS} FROM reporting.employees ORDER BY nip")  # noqa: S608 - fixed text
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text)
        for row in cur:
            writer.writerow(row)
            rows += 1
        text.flush()
        size = out.tell()
        text.detach()
    conn.close()
    return {"rows": rows, "seconds": time.perf_counter() - began, "size": size,
            "peak_mb": peak_rss_mb()}


def write_rows(url: str, rows: int) -> None:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM reporting.employees")
        cur.execute(ROWS_SQL.format(rows=int(rows)))
        cur.execute("ANALYZE reporting.employees")
    conn.close()


def export(stack: Stack, fmt: str, pid: int) -> dict:
    """One export through the service: (rows, seconds producing, size, peak MB, base MB)."""
    base = _status(pid, "VmRSS")
    _reset_peak(pid)
    with ClusterRpcProxy(stack.config, context_data=_signed(ADMIN, stack.config)) as cluster:
        started = cluster.reporting.start_export("employees", {
            "format": fmt, "purpose": "pengukuran kinerja ekspor (benchmark)"})
        deadline = time.monotonic() + 3600
        while True:
            state = cluster.reporting.get_export("employees", started["export_id"])
            if state["status"] != "running":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"export {fmt} not produced within an hour")
            time.sleep(0.2)
    if state["status"] != "ready":
        raise RuntimeError(f"export {fmt} failed: {state['error']}")
    conn = psycopg2.connect(stack.database_url)
    with conn, conn.cursor() as cur:  # the worker's own time: claimed -> recorded
        cur.execute("SELECT extract(epoch FROM finished_at - claimed_at) FROM reporting.exports "
                    "WHERE export_id = %s", (started["export_id"],))
        seconds = float(cur.fetchone()[0])
    conn.close()
    return {"rows": state["rows"], "seconds": seconds, "size": state["size"],
            "peak_mb": _status(pid, "VmHWM"), "base_mb": base}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, to try the script")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("url", nargs="?")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(baseline_worker(args.url)))
        return 0
    rows = args.rows or (10_000 if args.quick else 100_000)
    sizes = (rows // 10, rows)
    workdir = Path(tempfile.mkdtemp(prefix="simasn-bench-export-"))
    stack = Stack(workdir, db_pool_size=5)
    measured: dict[int, dict] = {}
    try:
        stack.create()
        stack.config.update({"DOCUMENT_ROOT": str(workdir / "documents"),
                             "EXPORT_POLL_SECONDS": 0.2, "PROJECTION_WATCH_SECONDS": 30,
                             "SUBSCRIPTION_SWEEP_SECONDS": 30})
        stack.write_config("config.yaml", stack.config)
        stack.start("reporting", "services.reporting.service:ReportingService", "config.yaml")
        stack.wait_rpc_consumer("reporting", time.monotonic() + 60)
        pid = stack.processes["reporting"].popen.pid
        for size in sizes:
            log(f"writing {size} rows into the list")
            write_rows(stack.database_url, size)
            log(f"baseline: {size} rows by a plain cursor into csv")
            result = {"baseline": run_worker(__file__, stack.database_url)}
            for fmt in FORMATS:
                log(f"exporting {size} rows as {fmt}")
                result[fmt] = export(stack, fmt, pid)
            measured[size] = result
        text = results(args.quick, sizes, measured, postgres_description(ADMIN_URL))
    finally:
        stack.close()
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 0


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def results(quick: bool, sizes: tuple[int, int], measured: dict, postgres: str) -> str:
    small, large = sizes
    lines = [
        "# Reporting: exports of 100,000 rows" if not quick else "# Reporting: exports (quick)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load {loadavg()} at the end; "
        f"PostgreSQL {postgres}. The machine was shared with other engineers' test runs while "
        "this ran: absolute figures are low and noisy, the ratios within this run are what "
        "to read.",
        "",
        "The employee list (20 columns) exported through the reporting service's export "
        "worker (its own `nameko run` process): rows read from a server-side cursor, written "
        "straight to a temporary file, stored in the document store by SHA-256, the NIPs "
        "recorded as the disclosed set, the disclosure event appended. Time: the worker's own "
        "(claimed to recorded). Baseline: the same rows, a plain server-side cursor into the "
        "csv module, a process of its own.",
        "",
        "| rows | format | rows/s | vs baseline | file MB | process RSS before MB | "
        "peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        base = measured[size]["baseline"]
        base_rate = base["rows"] / base["seconds"]
        lines.append(f"| {size:,} | baseline (cursor + csv) | {base_rate:,.0f} | 1.00× | "
                     f"{base['size'] / 1e6:.1f} | - | {_mb(base['peak_mb'])} |")
        for fmt in FORMATS:
            m = measured[size][fmt]
            rate = m["rows"] / m["seconds"]
            lines.append(f"| {size:,} | {fmt} | {rate:,.0f} | {fmt_ratio(rate, base_rate)} | "
                         f"{m['size'] / 1e6:.1f} | {_mb(m['base_mb'])} | {_mb(m['peak_mb'])} |")
    lines += ["", "## Flat memory", "",
              "What one export adds to the reporting process's memory: its peak RSS during the "
              "export minus its RSS just before (the process's own RSS creeps between exports: "
              f"caches, imports). Flat memory: the same at {large:,} rows as at {small:,}.", "",
              f"| format | added at {small:,} rows MB | added at {large:,} rows MB |",
              "|---|---:|---:|"]
    for fmt in FORMATS:
        a, b = (measured[n][fmt]["peak_mb"] - measured[n][fmt]["base_mb"] for n in sizes)
        lines.append(f"| {fmt} | {a:.1f} | {b:.1f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
