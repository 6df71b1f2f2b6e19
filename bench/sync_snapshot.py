"""Snapshot and reconciliation benchmark (issue 14 part 4): the 38 kabupaten/kota each upload a
full snapshot of their employees (500,000 generated employees in all, CSV), sync takes each one
in (streamed into the object store with its SHA-256, the signed permit and receive use cases)
and loads it row by row (row contract, NIP rules, COPY in chunks); then BKD reconciles every
region against records, whose projection holds the province's view with known differences
injected (every kind), and the report must list exactly those. Side by side in the same run: a
plain PostgreSQL COPY of the same rows into a flat table (the limit of moving the bytes). Peak
memory (max RSS) of a loader process that loads ONE snapshot of 100,000 and of 500,000 rows:
"flat" means the larger peaks no higher than the smaller (the file is streamed, rows go in
chunks).

Seeding records is setup, not measured: the rows go straight into records' `employees`
projection by COPY (what `records.region_roster` reads), not through the import job (about
1,000 rows/s: 8 minutes for 500,000). The records side of the report is called in process
(records' own `roster` use case on records' database), each page through a JSON round trip as
an RPC would carry it; the AMQP hop itself is not in the figure.

    make bench-sync                               (sizes 100,000 and 500,000)
    .venv/bin/python bench/sync_snapshot.py --total 50000 --memory-sizes 10000 50000
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
RESULTS = Path(__file__).resolve().parent / "results" / "sync_snapshot.md"
TOTAL = 500_000
MEMORY_SIZES = (100_000, 500_000)
TARGET_REPORT_SECONDS = 120
HEADER = ["nip", "nama", "tanggal_lahir", "jenis_kelamin", "status", "tmt_cpns", "golongan",
          "pendidikan", "tempat_lahir", "opd_id", "unit_kerja"]
#: per region, how many of each difference are injected
INJECT = {"missing_in_records": 3, "missing_in_region": 3, "field_mismatch": 4,
          "nip_in_two_instansi": 2, "nip_invalid": 2}


def regions() -> list[str]:
    from services.sync import domain

    return sorted(domain.regions())


def _employee(rng, used, region: str, number: int) -> dict:
    while True:
        born = date(1965, 1, 1) + timedelta(days=rng.randrange(365 * 35))
        tmt = date(born.year + rng.randint(22, 30), rng.randint(1, 12), 1)
        if tmt > date(2025, 12, 1):
            continue
        female = rng.random() < 0.5
        nip = f"{born:%Y%m%d}{tmt:%Y%m}{'2' if female else '1'}{rng.randint(1, 999):03d}"
        if nip not in used:
            used.add(nip)
            return {"nip": nip, "name": f"Pegawai {region}-{number}",
                    "date_of_birth": born.isoformat(), "gender": "P" if female else "L",
                    "status": "PNS", "tmt_cpns": tmt.isoformat(), "golongan": "III/a",
                    "education_id": "40", "birth_place": "Malang",
                    "opd_id": f"{region}.bkpsdm", "unit": "Bidang Umum"}


def _csv_row(e: dict) -> list:
    return [e["nip"], e["name"], e["date_of_birth"], e["gender"], e["status"], e["tmt_cpns"],
            e["golongan"], e["education_id"], e["birth_place"], e["opd_id"], e["unit"]]


def generate(tmp: Path, total: int, codes: list[str], seed: int = 14) -> tuple[dict, Path, dict]:
    """One CSV per region and the records seed (TSV for COPY); the differences injected per
    region (kind -> count)."""
    rng = random.Random(seed)
    used: set[str] = set()
    files, expected, lent = {}, {}, {}
    seed_path = tmp / "records.tsv"
    per = [total // len(codes) + (1 if i < total % len(codes) else 0)
           for i in range(len(codes))]
    with seed_path.open("w", encoding="utf-8") as seed_out:
        def seed(e: dict, instansi: str) -> None:
            record = {**{k: e[k] for k in ("nip", "name", "date_of_birth", "gender", "status",
                                          "tmt_cpns", "golongan", "education_id",
                                          "birth_place", "unit")},
                      "opd_id": f"{instansi}.bkpsdm", "instansi": instansi}
            text = json.dumps(record).replace("\\", "\\\\")
            seed_out.write(f"{e['nip']}\t{instansi}\t{instansi}.bkpsdm\t{e['name']}\tPNS\t1\t"
                           f"{text}\n")

        for index, (code, count) in enumerate(zip(codes, per, strict=True)):
            # whose instansi records also holds a few of this region's NIPs (a lone region's:
            # another region, with no snapshot)
            neighbour = codes[(index + 1) % len(codes)] if len(codes) > 1 else \
                next(c for c in regions() if c != code)
            path = tmp / f"snapshot-{code}.csv"
            files[code] = path
            kinds = dict.fromkeys(INJECT, 0)
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(HEADER)
                for number in range(count):
                    e = _employee(rng, used, code, number)
                    slot = number % 100
                    if number < 100 and slot < 3:          # in the snapshot only
                        kinds["missing_in_records"] += 1
                    elif number < 100 and slot < 5:        # records has it under the neighbour
                        seed(e, neighbour)                 # (where it is missing_in_region)
                        kinds["nip_in_two_instansi"] += 1
                        lent[neighbour] = lent.get(neighbour, 0) + 1
                    elif number < 100 and slot < 7:        # a NIP that is none
                        e = {**e, "nip": e["nip"][:17]}
                        kinds["nip_invalid"] += 1
                    elif number < 100 and slot < 11:       # province keeps another golongan
                        seed({**e, "golongan": "III/b"}, code)
                        kinds["field_mismatch"] += 1
                    else:
                        seed(e, code)
                    writer.writerow(_csv_row(e))
            for number in range(INJECT["missing_in_region"]):  # in records only
                seed(_employee(rng, used, code, count + number), code)
                kinds["missing_in_region"] += 1
            expected[code] = kinds
    for code, count in lent.items():
        if code in expected:
            expected[code]["missing_in_region"] += count
    return files, seed_path, expected


# -- the workers (each in its own process) ----------------------------------------------------

def _sync(url: str, documents: str):
    from cryptography.fernet import Fernet

    from services.sync.dependencies import build_settings
    from services.sync.events import REGISTRY
    from shared.config import with_user
    from shared.db import ServiceDatabase, make_engine
    from shared.eventstore import EventStore
    from shared.objectstore import FileSystemStore

    settings = build_settings({"SYNC_KEY_SEAL_KEY": Fernet.generate_key().decode()},
                              "bench-loader")
    engine = make_engine(with_user(url, "simasn_sync"), schema="sync", pool_size=2)
    context = {"actor_id": "admin.bench", "actor_role": "administrator",
               "actor_roles": ["administrator"], "actor_scope": [],
               "correlation_id": "bench-sync"}
    return (ServiceDatabase(engine, EventStore("sync", REGISTRY), context), settings,
            FileSystemStore(documents), context)


def worker_load(url: str, documents: str, files_json: str) -> dict:
    """Upload (stream into the store with its digest, the signed permit and receive) and load
    every given snapshot; rows/s and this process's peak RSS."""
    import hashlib
    import hmac
    import uuid

    from services.sync.usecases import regions as region_cases
    from services.sync.usecases import snapshots
    from shared.auth import Principal

    files = json.loads(files_json)
    db, settings, store, context = _sync(url, documents)
    admin = Principal.from_context(context)
    before = peak_rss_mb()
    started = time.perf_counter()
    rows = 0
    for code, path in files.items():
        with db.transaction(reason="bench") as uow:
            key = region_cases.onboard(uow, admin, settings,
                                       {"region": code, "reason": "benchmark"})
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        stamp, snapshot_id = str(int(time.time())), str(uuid.uuid4())
        signature = hmac.new(key["secret"].encode(), f"{stamp}\n{snapshot_id}\n"
                             f"{digest.hexdigest()}".encode(), hashlib.sha256).hexdigest()
        request = {"method": "POST", "path": f"/api/sync/{code}/snapshots",
                   "content_type": "text/csv", "content_length": os.path.getsize(path),
                   "headers": {"X-Simasn-Region": code, "X-Simasn-Key-Id": key["key_id"],
                               "X-Simasn-Timestamp": stamp, "X-Simasn-Batch-Id": snapshot_id,
                               "X-Simasn-Content-SHA256": digest.hexdigest(),
                               "X-Simasn-Signature": signature}}
        with db.transaction() as uow:
            snapshots.permit(uow, settings, code, request)
        with open(path, "rb") as fh:
            stored = store.put(fh, "text/csv", expected_sha256=digest.hexdigest())
        with db.transaction(reason="bench") as uow:
            snapshots.receive(uow, settings, code, request,
                              {"sha256": stored.sha256, "size": stored.size})
        while snapshots.load_next(db, store, settings):
            pass
        with db.transaction() as uow:
            row = snapshots.get(uow, code, snapshot_id)
        assert row["status"] == "loaded", row
        rows += row["rows_total"]
    took = time.perf_counter() - started
    return {"rows": rows, "seconds": took, "rss_start_mb": before,
            "rss_peak_mb": peak_rss_mb()}


class RecordsInProcess:
    """records' roster use case on records' own database, each answer through JSON as the RPC
    would carry it."""

    def __init__(self, url: str):
        from services.records.events import REGISTRY
        from shared.config import with_user
        from shared.db import ServiceDatabase, make_engine
        from shared.eventstore import EventStore

        engine = make_engine(with_user(url, "simasn_records"), schema="records", pool_size=2)
        self.db = ServiceDatabase(engine, EventStore("records", REGISTRY),
                                  {"actor_id": "service:sync", "actor_roles": ["system"]})

    def _caller(self):
        from shared.auth import Principal

        return Principal("service:sync", frozenset({"system"}), frozenset())

    def region_roster(self, payload):
        from services.records.usecases import roster
        from shared.contracts import records as c
        from shared.schemas import load

        with self.db.transaction() as uow:
            answer = c.RosterPage().dump(roster.page(uow, self._caller(),
                                                     load(c.RosterQuery(), payload)))
        return json.loads(json.dumps(answer))

    def locate_nips(self, payload):
        from services.records.usecases import roster

        with self.db.transaction() as uow:
            return json.loads(json.dumps(roster.locate(uow, self._caller(), payload["nips"])))


def worker_reconcile(url: str, documents: str, expected_json: str) -> dict:
    """Reconcile every region's loaded snapshot; the figures must be the injected ones."""
    from services.sync.usecases import reconciling
    from shared.auth import Principal

    expected = json.loads(expected_json)
    db, settings, _, context = _sync(url, documents)
    records = RecordsInProcess(url)
    admin = Principal.from_context(context)
    with db.transaction() as uow:
        loaded = dict(uow.execute("SELECT region, snapshot_id::text FROM snapshots WHERE "
                                  "status = 'loaded'").all())
    before = peak_rss_mb()
    per_region, wrong = [], {}
    started = time.perf_counter()
    for code in sorted(expected):
        region_started = time.perf_counter()
        with db.transaction() as uow:
            rid = reconciling.start(uow, admin, code, {"snapshot_id": loaded[code],
                                                       "year": 2026})["reconciliation_id"]
        reconciling.run_next(db, records, settings)
        with db.transaction() as uow:
            report = reconciling.get(uow, code, rid)
        per_region.append(time.perf_counter() - region_started)
        figures = {k: (report["figures"] or {}).get(k) for k in expected[code]}
        if report["status"] != "reported" or figures != expected[code]:
            wrong[code] = {"status": report["status"], "figures": figures}
    took = time.perf_counter() - started
    with db.transaction() as uow:
        rows, differences = uow.execute(
            "SELECT (SELECT count(*) FROM snapshot_rows), (SELECT count(*) FROM differences)"
        ).one()
    return {"seconds": took, "slowest_region": max(per_region), "rows": rows,
            "differences": differences, "wrong": wrong, "rss_start_mb": before,
            "rss_peak_mb": peak_rss_mb()}


def worker_copy(url: str, files_json: str) -> dict:
    import psycopg2

    files = json.loads(files_json)
    before = peak_rss_mb()
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS snapshot_flat ("
                    + ", ".join(f"{c} text" for c in HEADER) + ")")
        cur.execute("TRUNCATE snapshot_flat")
    started = time.perf_counter()
    with conn, conn.cursor() as cur:
        for path in files.values():
            with open(path, encoding="utf-8") as handle:
                cur.copy_expert("COPY snapshot_flat FROM STDIN WITH (FORMAT csv, HEADER true)",
                                handle)
        cur.execute("SELECT count(*) FROM snapshot_flat")
        (rows,) = cur.fetchone()
    took = time.perf_counter() - started
    conn.close()
    return {"seconds": took, "rows": rows, "rss_start_mb": before, "rss_peak_mb": peak_rss_mb()}


def _seed_records(url: str, seed_path: Path) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur, seed_path.open(encoding="utf-8") as handle:
        cur.copy_expert("COPY records.employees (nip, instansi, opd_id, name, status, version, "
                        "record) FROM STDIN", handle)
        cur.execute("ANALYZE records.employees")
    conn.close()


# -- the run --------------------------------------------------------------------------------------

def measure_main(total: int, tmp: Path) -> dict:
    from shared.migrations import migrate
    from shared.testing import create_test_database, drop_test_database

    codes = regions()
    log(f"generating {total:,} employees in {len(codes)} regions")
    files, seed_path, expected = generate(tmp, total, codes)
    url = create_test_database(ADMIN_URL, prefix="simasn_bench")
    try:
        migrate(url)
        log("seeding records' projection (setup, not measured)")
        _seed_records(url, seed_path)
        paths = json.dumps({k: str(v) for k, v in files.items()})
        log("plain COPY of the same rows")
        copy = run_worker(__file__, "copy", url, paths)
        log("upload and load of 38 snapshots")
        load = run_worker(__file__, "load", url, str(tmp / "documents"), paths)
        log("reconciliation of 38 regions")
        report = run_worker(__file__, "reconcile", url, str(tmp / "documents"),
                            json.dumps(expected))
    finally:
        drop_test_database(url)
    return {"total": total, "bytes": sum(p.stat().st_size for p in files.values()),
            "copy": copy, "load": load, "report": report,
            "injected": sum(sum(k.values()) for k in expected.values())}


def measure_memory(size: int, tmp: Path) -> dict:
    """One region's single snapshot of `size` rows, loaded in its own process, then that one
    region reconciled (the worst case: the whole size in one report)."""
    from shared.migrations import migrate
    from shared.testing import create_test_database, drop_test_database

    folder = tmp / f"memory-{size}"
    folder.mkdir()
    files, seed_path, expected = generate(folder, size, ["3507"])
    url = create_test_database(ADMIN_URL, prefix="simasn_bench")
    try:
        migrate(url)
        _seed_records(url, seed_path)
        log(f"memory: one snapshot of {size:,} rows")
        load = run_worker(__file__, "load", url, str(folder / "documents"),
                           json.dumps({k: str(v) for k, v in files.items()}))
        log(f"one region's report of {size:,} rows")
        report = run_worker(__file__, "reconcile", url, str(folder / "documents"),
                             json.dumps(expected))
    finally:
        drop_test_database(url)
    return {"size": size, "bytes": files["3507"].stat().st_size, **load, "report": report}


def report_text(main: dict, memory: list[dict], load_before: str, load_after: str) -> str:
    copy, load, rec = main["copy"], main["load"], main["report"]
    copy_rate, load_rate = copy["rows"] / copy["seconds"], load["rows"] / load["seconds"]
    small, large = memory[0], memory[-1]
    growth = large["rss_peak_mb"] - small["rss_peak_mb"]
    flat = growth <= max(16.0, 0.15 * small["rss_peak_mb"])
    exact = not rec["wrong"] and rec["differences"] == main["injected"]
    lines = [
        "# Snapshots and reconciliation (issue 14 part 4)",
        "",
        f"Machine: {os.cpu_count()} × {cpu_model()}, shared with other engineers' test runs "
        f"(load average before {load_before}, after {load_after}); PostgreSQL "
        f"{postgres_description(ADMIN_URL)}.",
        "",
        f"{main['total']:,} generated employees in {len(regions())} regions "
        f"({main['bytes'] / 1e6:.1f} MB of CSV); records' projection seeded with the province's "
        f"view and {main['injected']:,} known differences (every kind) — setup, not measured.",
        "",
        "| step | rows | seconds | rows/s | ÷ COPY | peak RSS | target |",
        "|:---|---:|---:|---:|---:|---:|:---|",
        f"| plain COPY of the same rows (the limit) | {copy['rows']:,} | {copy['seconds']:.1f} "
        f"| {copy_rate:,.0f} | 1.000× | {copy['rss_peak_mb']:.0f} MB | |",
        f"| upload + load, 38 snapshots | {load['rows']:,} | {load['seconds']:.1f} "
        f"| {load_rate:,.0f} | {load_rate / copy_rate:.3f}× | {load['rss_peak_mb']:.0f} MB | |",
        f"| reconciliation report, 38 regions | {rec['rows']:,} | {rec['seconds']:.1f} "
        f"| {rec['rows'] / rec['seconds']:,.0f} | | {rec['rss_peak_mb']:.0f} MB "
        f"| < {TARGET_REPORT_SECONDS} s: "
        f"{'pass' if rec['seconds'] < TARGET_REPORT_SECONDS else '**miss**'} |",
        "",
        f"Slowest single region's report: {rec['slowest_region']:.2f} s. Differences reported: "
        f"{rec['differences']:,}, injected: {main['injected']:,}; figures per kind equal to the "
        f"injected ones in every region: {'yes' if exact else '**no** ' + str(rec['wrong'])}.",
        "",
        "One region's snapshot of growing size (loader and report each in its own process; "
        "the larger is the whole 500,000 in one region, the worst case for the report):",
        "",
        "| rows | file | load seconds | load rows/s | loader peak RSS | that region's report "
        "| report peak RSS | figures exact |",
        "|---:|---:|---:|---:|---:|---:|---:|:---|",
        *(f"| {m['size']:,} | {m['bytes'] / 1e6:.1f} MB | {m['seconds']:.1f} "
          f"| {m['rows'] / m['seconds']:,.0f} | {m['rss_peak_mb']:.0f} MB "
          f"| {m['report']['seconds']:.1f} s | {m['report']['rss_peak_mb']:.0f} MB "
          f"| {'yes' if not m['report']['wrong'] else '**no**'} |" for m in memory),
        "",
        f"Memory as the snapshot grows {small['size']:,} → {large['size']:,} rows: peak RSS "
        f"{small['rss_peak_mb']:.0f} → {large['rss_peak_mb']:.0f} MB ({growth:+.0f} MB): "
        f"{'flat (pass)' if flat else '**grows (miss)**'}.",
        "",
        "Upload + load: the file streamed into the object store (hashed as it goes), the signed "
        "permit and receive use cases, then the loader (row contract, NIP rules, COPY in "
        "5,000-row chunks, each a commit). The gateway's HTTP hop is not in it. Report: records' "
        "roster paged (10,000 a page, JSON round trip) into a temporary table, compared in SQL, "
        "differences written and digested in one transaction per region.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, default=TOTAL)
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=list(MEMORY_SIZES))
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        result = {"load": worker_load, "reconcile": worker_reconcile,
                  "copy": worker_copy}[kind](*rest)
        print(json.dumps(result))
        return 0
    before = loadavg()
    with tempfile.TemporaryDirectory(prefix="simasn-bench-snapshot-") as tmp:
        main_result = measure_main(args.total, Path(tmp))
        memory = [measure_memory(size, Path(tmp)) for size in sorted(args.memory_sizes)]
    report = report_text(main_result, memory, before, loadavg())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
