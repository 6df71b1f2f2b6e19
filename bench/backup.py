"""`simasn backup` and `simasn restore` (issue 18 part 2): time and size for a data set the size
of the drill's and for a larger one, against what the same work costs with the plain tools in the
same run: `pg_dump --format=custom` (+ `cp -r` of the document directory) for the backup,
`pg_restore` into a fresh database (+ `cp -r`) for the restore. Ours adds the exported snapshot,
hashing every byte, the manifest, the check of every file before the restore and the chain walk
after it.

    make bench-backup       (writes bench/results/backup.md)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkpoints import fill  # noqa: E402 - N record events in streams of one
from bench.common import cpu_model, fmt_ratio, loadavg, log, postgres_description  # noqa: E402
from shared import backup as backups  # noqa: E402
from shared.migrations import migrate  # noqa: E402
from shared.objectstore import FileSystemStore  # noqa: E402
from shared.testing import create_test_database, drop_test_database  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = Path(__file__).resolve().parent / "results" / "backup.md"


def documents(url: str, store: FileSystemStore, count: int, size: int) -> None:
    """`count` documents of `size` random bytes, each named by records.documents."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        for _ in range(count):
            stored = store.put(os.urandom(size), "application/pdf")
            cur.execute("INSERT INTO records.documents (sha256, kind, content_type, size, pages, "
                        "uploaded_by) VALUES (%s, 'pdf', 'application/pdf', %s, 1, 'bench')",
                        (stored.sha256, stored.size))
    conn.close()


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603 - our own fixed commands


def measure(name: str, events: int, docs: int, doc_size: int, work: Path) -> dict:
    source = create_test_database(ADMIN_URL, prefix="bench_backup")
    restored: list[str] = []
    try:
        migrate(source)
        log(f"{name}: {events} events, {docs} documents of {doc_size} bytes")
        fill(source, events)
        store_dir = work / f"{name}-documents"
        documents(source, FileSystemStore(store_dir), docs, doc_size)

        plain = work / f"{name}-plain"
        plain.mkdir()
        t_dump = timed(lambda: run(["pg_dump", "--format=custom", f"--file={plain}/db.dump",
                                    f"--dbname={source}"]))
        t_cp = timed(lambda: shutil.copytree(store_dir, plain / "documents"))
        plain_size = du(plain)

        ours = work / f"{name}-ours"
        outcome = None

        def take():
            nonlocal outcome
            outcome = backups.take(source, backups.DirectoryLocation(ours),
                                   FileSystemStore(store_dir))

        t_backup = timed(take)
        assert not outcome.problems, outcome.problems
        ours_size = du(ours)

        target = create_test_database(ADMIN_URL, prefix="bench_restore_plain")
        restored.append(target)
        t_pg_restore = timed(lambda: run(["pg_restore", "--single-transaction",
                                          f"--dbname={target}", f"{plain}/db.dump"]))
        t_cp_back = timed(lambda: shutil.copytree(plain / "documents", work / f"{name}-back"))
        target = create_test_database(ADMIN_URL, prefix="bench_restore_ours")
        restored.append(target)
        result = None

        def put_back():
            nonlocal result
            result = backups.restore(backups.DirectoryLocation(ours), target,
                                     FileSystemStore(work / f"{name}-restored"))

        t_restore = timed(put_back)
        assert not result.problems, result.problems
        return {"name": name, "events": events, "docs": docs, "doc_bytes": docs * doc_size,
                "t_dump": t_dump, "t_cp": t_cp, "t_backup": t_backup, "plain_size": plain_size,
                "ours_size": ours_size, "backup_parts": outcome.seconds,
                "t_pg_restore": t_pg_restore, "t_cp_back": t_cp_back, "t_restore": t_restore,
                "restore_parts": result.seconds}
    finally:
        drop_test_database(source)
        for url in restored:
            drop_test_database(url)


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large-events", type=int, default=200_000)
    parser.add_argument("--large-docs", type=int, default=400)
    parser.add_argument("--large-doc-size", type=int, default=256 * 1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        rows = [measure("drill-sized", 60, 10, 64 * 1024, work),
                measure("large", args.large_events, args.large_docs, args.large_doc_size, work)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Backup and restore (`simasn backup`, `simasn restore`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cpu_model()}, "
        f"load {loadavg()}, {postgres_description(ADMIN_URL)}. `make bench-backup` "
        "(bench/backup.py). Both to and from a local directory; baselines in the same run.",
        "",
        "Backup: ours = exported snapshot + pg_dump streamed and hashed + documents copied and "
        "hashed + manifest; baseline = `pg_dump -Fc` to a file + `cp -r` of the document "
        "directory. Restore: ours = every file checked against the manifest + pg_restore "
        "--single-transaction + documents put with their hash checked + every chain walked; "
        "baseline = `pg_restore --single-transaction` + `cp -r`.",
        "",
        "| data set | events | documents | backup s | pg_dump s | pg_dump+cp s | ours ÷ pg_dump "
        "| ours ÷ pg_dump+cp | backup MB | plain MB | restore s | pg_restore+cp s "
        "| ours ÷ pg_restore+cp | same without the chain walk |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        base_backup = r["t_dump"] + r["t_cp"]
        base_restore = r["t_pg_restore"] + r["t_cp_back"]
        lines.append(
            f"| {r['name']} | {r['events']:,} | {r['docs']} ({mb(r['doc_bytes'])} MB) "
            f"| {r['t_backup']:.2f} | {r['t_dump']:.2f} | {base_backup:.2f} "
            f"| {fmt_ratio(r['t_backup'], r['t_dump'])} | {fmt_ratio(r['t_backup'], base_backup)} "
            f"| {mb(r['ours_size'])} | {mb(r['plain_size'])} | {r['t_restore']:.2f} "
            f"| {base_restore:.2f} | {fmt_ratio(r['t_restore'], base_restore)} "
            f"| {fmt_ratio(r['t_restore'] - r['restore_parts']['verify'], base_restore)} |")
    lines += ["", "What a restore adds to the baseline: the check of every file before it starts, "
              "the chain walk after it (every event's hash recomputed, what `simasn audit "
              "verify` does), and the documents put one by one, each hashed and fsynced, where "
              "`cp -r` only copies. Absolute figures follow the machine's load (in the header).",
              "", "Where the time goes (seconds):", "",
              "| data set | backup: database | documents | restore: check | database "
              "| documents | verify chains |", "|---|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        b, s = r["backup_parts"], r["restore_parts"]
        lines.append(f"| {r['name']} | {b['database']:.2f} | {b['documents']:.2f} "
                     f"| {s['check']:.2f} | {s['database']:.2f} | {s['documents']:.2f} "
                     f"| {s['verify']:.2f} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
