"""Bulk import benchmark (issue 4): 10,000 and 50,000 generated employees in a CSV, imported end to
end by the records import job (validation, events in the log, projection rows, per-row report),
side by side in the same run with a plain PostgreSQL COPY of the same file into a flat table —
the limit of just moving the bytes. Each measurement runs in its own process, so its peak memory
(max RSS) is its own; "memory stays flat" means the 50k import peaks no higher than the 10k one
(the file is streamed, rows go in chunks).

    make bench-import            (writes bench/results/records_import.md)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_model, loadavg, log, peak_rss_mb, postgres_description, run_worker  # noqa: E402

ADMIN_URL = os.environ.get("SIMASN_BENCH_DATABASE_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).resolve().parent / "results" / "records_import.md"
SIZES = (10_000, 50_000)
TARGET_PER_SECOND = 500
COLUMNS = ["nip", "nik", "nama", "tempat_lahir", "tanggal_lahir", "jenis_kelamin", "agama",
           "status", "tmt_cpns", "golongan", "pendidikan", "tmt_golongan", "unit_kerja", "alamat"]


def generate(path: Path, count: int, seed: int = 73) -> None:
    """`count` distinct, valid employees of one OPD (NIP, NIK, dates and grade agree)."""
    rng = random.Random(seed)
    used = set()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        written = 0
        while written < count:
            born = date(1965, 1, 1) + timedelta(days=rng.randrange(365 * 35))
            tmt = date(born.year + rng.randint(22, 30), rng.randint(1, 12), 1)
            if tmt > date(2025, 12, 1):
                continue
            female = rng.random() < 0.5
            nip = (f"{born:%Y%m%d}{tmt:%Y%m}{'2' if female else '1'}"
                   f"{rng.randint(1, 999):03d}")
            if nip in used:
                continue
            used.add(nip)
            day = born.day + (40 if female else 0)
            nik = f"3578{rng.randint(1, 31):02d}{day:02d}{born:%m%y}{rng.randint(1, 9999):04d}"
            writer.writerow([nip, nik, f"Pegawai {written + 1}", "Surabaya", born.isoformat(),
                             "P" if female else "L", "Islam", "PNS", tmt.isoformat(), "III/a",
                             "40", tmt.isoformat(), "Bidang Umum", "Jl. Pahlawan 110"])
            written += 1


# -- the two workers (each in its own process) ---------------------------------------------------

def worker_import(url: str, csv_path: str, documents: str) -> dict:
    from services.records.events import REGISTRY
    from services.records.usecases import imports
    from shared.config import with_user
    from shared.db import ServiceDatabase, make_engine
    from shared.eventstore import EventStore
    from shared.objectstore import FileSystemStore

    before = peak_rss_mb()
    store = FileSystemStore(documents)
    with open(csv_path, "rb") as handle:
        stored = store.put(handle, "text/csv")
    engine = make_engine(with_user(url, "simasn_records"), schema="records", pool_size=2)
    events = EventStore("records", REGISTRY)
    context = {"actor_id": "admin.bench", "actor_role": "administrator",
               "actor_roles": ["administrator"], "actor_scope": [],
               "correlation_id": "bench-import"}

    def db_for(ctx):
        return ServiceDatabase(engine, events, ctx or context)

    started = time.perf_counter()
    from shared.auth import Principal

    with db_for(context).transaction() as uow:
        import_id = imports.start(uow, Principal.from_context(context), context,
                                  {"opd_id": "bkd", "sha256": stored.sha256,
                                   "file_name": "bench.csv"}, imports.CSV)
    with engine.connect() as conn:
        _, runner = imports.claim(conn.connection.dbapi_connection, "records", import_id, 60, 3)
    status = imports.run(db_for, store, import_id, runner)
    took = time.perf_counter() - started
    with engine.connect() as conn:
        job = imports.load_job(conn.connection.dbapi_connection, "records", import_id)
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("SELECT count(*) FROM records.events WHERE stream_type = 'Employee'")
            (event_count,) = cur.fetchone()
    return {"status": status, "seconds": took, "rows": job["total_rows"],
            "registered": job["registered"], "invalid": job["invalid"], "events": event_count,
            "rss_start_mb": before, "rss_peak_mb": peak_rss_mb()}


def worker_copy(url: str, csv_path: str) -> dict:
    import psycopg2

    before = peak_rss_mb()
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS employees_flat ("
                    + ", ".join(f"{c} text" for c in COLUMNS) + ")")
        cur.execute("TRUNCATE employees_flat")
    started = time.perf_counter()
    with conn, conn.cursor() as cur, open(csv_path, encoding="utf-8") as handle:
        cur.copy_expert("COPY employees_flat FROM STDIN WITH (FORMAT csv, HEADER true)", handle)
        cur.execute("SELECT count(*) FROM employees_flat")
        (rows,) = cur.fetchone()
    took = time.perf_counter() - started
    conn.close()
    return {"seconds": took, "rows": rows, "rss_start_mb": before, "rss_peak_mb": peak_rss_mb()}


# -- the run --------------------------------------------------------------------------------------

def measure(size: int, tmp: Path) -> dict:
    from shared.migrations import migrate
    from shared.testing import create_test_database, drop_test_database

    csv_path = tmp / f"employees-{size}.csv"
    generate(csv_path, size)
    url = create_test_database(ADMIN_URL, prefix="simasn_bench")
    try:
        migrate(url)
        log(f"{size:,} rows: COPY baseline")
        copy = run_worker(__file__, "copy", url, str(csv_path))
        log(f"{size:,} rows: records import job")
        ours = run_worker(__file__, "import", url, str(csv_path), str(tmp / f"documents-{size}"))
    finally:
        drop_test_database(url)
    return {"size": size, "bytes": csv_path.stat().st_size, "copy": copy, "import": ours}


def table(results: list[dict]) -> str:
    lines = [
        "| rows | file | import rows/s | COPY rows/s | import ÷ COPY | events | invalid "
        "| import peak RSS | COPY peak RSS | target ≥ 500/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for r in results:
        ours, copy = r["import"], r["copy"]
        ours_rate, copy_rate = ours["rows"] / ours["seconds"], copy["rows"] / copy["seconds"]
        ok = ours_rate >= TARGET_PER_SECOND and ours["status"] == "completed"
        lines.append(
            f"| {r['size']:,} | {r['bytes'] / 1e6:.1f} MB | {ours_rate:,.0f} | {copy_rate:,.0f} "
            f"| {ours_rate / copy_rate:.3f}× | {ours['events']:,} | {ours['invalid']} "
            f"| {ours['rss_peak_mb']:.0f} MB | {copy['rss_peak_mb']:.0f} MB "
            f"| {'pass' if ok else '**miss**'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        result = worker_import(*rest) if kind == "import" else worker_copy(*rest)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="simasn-bench-import-") as tmp:
        results = [measure(size, Path(tmp)) for size in args.sizes]
    small, large = results[0]["import"], results[-1]["import"]
    growth = large["rss_peak_mb"] - small["rss_peak_mb"]
    flat = growth <= max(16.0, 0.15 * small["rss_peak_mb"])
    report = "\n".join([
        "# Bulk import of employees (CSV) vs plain COPY",
        "",
        f"Machine: {os.cpu_count()} × {cpu_model()}, load {loadavg()}; PostgreSQL "
        f"{postgres_description(ADMIN_URL)}.",
        "Import: the records import job end to end — stream the file from the document store, "
        "validate every row (NIP/NIK/dates/golongan rules), append EmployeeRegistered + the "
        "pangkat entry per employee to the hash-chained log, upsert the projection row, record "
        "progress per 500-row chunk. COPY: the same file into a flat text table, nothing "
        "checked. Each in its own process; peak RSS is that process's maximum.",
        "",
        table(results),
        "",
        f"Memory as the file grows {results[0]['size']:,} → {results[-1]['size']:,} rows: import "
        f"peak RSS {small['rss_peak_mb']:.0f} → {large['rss_peak_mb']:.0f} MB "
        f"({growth:+.0f} MB): {'flat (pass)' if flat else '**grows (miss)**'}.",
        "",
    ])
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
