"""Event store benchmark (`make bench-eventstore`): our hash-chained log, its limit and a peer.

Every figure is measured side by side in the same run, in a throwaway database, and reported as
ratios, never asserted:

* the limit: the same rows into a same-shaped table without hashing, head lock or validation —
  one INSERT per transaction for single events, psycopg2 `execute_values` for 100-event batches
  (plain `executemany` as an extra row);
* the peer: the PostgreSQL application recorder of the `eventsourcing` library, which also
  serialises writers (LOCK TABLE ... EXCLUSIVE) so its readers never skip a late commit;
* ours: `shared.eventstore.EventStore.append` (validation, canonical JSON, SHA-256 chain, head row
  lock), `read_all` and `shared.audit.verify_log`.

The table goes to stdout and to bench/results/eventstore.md. `--quick` runs small counts as a
smoke test and writes no results file unless `--output` is given.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import platform
import pstats
import random
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import orjson
import psycopg2
from marshmallow import Schema, fields, validate
from psycopg2.extras import execute_values

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import StoredEvent  # noqa: E402
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore  # noqa: E402

from shared.audit import verify_log  # noqa: E402
from shared.canonical import SQL_TIMESTAMP_TEXT, event_hash, format_timestamp  # noqa: E402
from shared.config import with_user  # noqa: E402
from shared.eventstore import NO_STREAM, EventStore, NewEvent  # noqa: E402
from shared.eventtypes import EventRegistry  # noqa: E402
from shared.migrations import CORE_LOG_DDL  # noqa: E402
from shared.testing import create_scratch_log, create_test_database, drop_test_database  # noqa: E402

ADMIN_URL = os.environ.get("SIMASN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROLE = "simasn_scratch"
RESULTS = ROOT / "bench" / "results" / "eventstore.md"
EVENT_TYPE = "PegawaiDataDiperbarui"
STREAM_TYPE = "Pegawai"
PEER_TOPIC = "services.records.events:PegawaiDataDiperbarui"
FAKE_HASH = "f" * 64
METADATA = {
    "actor_id": "198001012005011001",
    "actor_role": "operator_opd",
    "opd_id": "bkd-jatim",
    "correlation_id": "req-5f1c2a9e4b7d4c0e",
    "reason": "pemutakhiran data kepegawaian",
}

REGISTRY = EventRegistry("bench")
GOLONGAN = ["I/a", "I/b", "II/a", "II/b", "II/c", "III/a", "III/b", "III/c", "III/d", "IV/a",
            "IV/b", "IV/c"]


@REGISTRY.event(EVENT_TYPE, version=1)
class PegawaiDataDiperbarui(Schema):
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    nama = fields.String(required=True)
    gelar_depan = fields.String(allow_none=True)
    gelar_belakang = fields.String(allow_none=True)
    tempat_lahir = fields.String(required=True)
    tanggal_lahir = fields.Date(required=True)
    jenis_kelamin = fields.String(required=True, validate=validate.OneOf(["L", "P"]))
    golongan = fields.String(required=True, validate=validate.OneOf(GOLONGAN))
    pangkat = fields.String(required=True)
    jabatan = fields.String(required=True)
    opd_id = fields.String(required=True)
    unit_kerja = fields.String(required=True)
    tmt_golongan = fields.Date(required=True)
    masa_kerja_tahun = fields.Integer(required=True)
    masa_kerja_bulan = fields.Integer(required=True)
    email = fields.Email(allow_none=True)
    no_hp = fields.String(allow_none=True)


def make_payloads(count: int, seed: int = 20240601) -> list[dict]:
    """Personnel-sized payloads (~400 bytes of JSON), varied so no two rows are identical."""
    rng = random.Random(seed)
    names = ["Siti Rahmawati", "Budi Santoso", "Agus Prasetyo", "Dewi Lestari", "Rina Wulandari",
             "Eko Nugroho", "Sri Handayani", "Ahmad Fauzi"]
    towns = ["Surabaya", "Malang", "Kediri", "Madiun", "Jember", "Banyuwangi", "Blitar", "Tuban"]
    out = []
    for i in range(count):
        year = rng.randint(1965, 1998)
        nama = rng.choice(names)
        born = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        hired = f"{year + 24}{rng.randint(1, 12):02d}"
        out.append({
            "nip": f"{born}{hired}{rng.randint(1, 2)}{rng.randint(1, 999):03d}",
            "nama": nama,
            "gelar_depan": rng.choice([None, "Dr.", "Ir.", "drs."]),
            "gelar_belakang": rng.choice(["S.Kom.", "S.E., M.M.", "S.H.", "M.Si.", None]),
            "tempat_lahir": rng.choice(towns),
            "tanggal_lahir": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "jenis_kelamin": rng.choice(["L", "P"]),
            "golongan": rng.choice(GOLONGAN),
            "pangkat": rng.choice(["Penata Muda", "Penata", "Penata Tingkat I", "Pembina"]),
            "jabatan": rng.choice(["Analis Kepegawaian Ahli Muda", "Pranata Komputer Ahli Pertama",
                                   "Kepala Sub Bagian Umum dan Kepegawaian"]),
            "opd_id": f"opd-{rng.randint(1, 60):03d}",
            "unit_kerja": f"Bidang Pengembangan Karier {i % 7 + 1}, {rng.choice(towns)}",
            "tmt_golongan": f"{rng.randint(2010, 2024)}-{rng.choice(['04', '10'])}-01",
            "masa_kerja_tahun": rng.randint(0, 35),
            "masa_kerja_bulan": rng.randint(0, 11),
            "email": f"{nama.split()[0].lower()}.{i}@jatimprov.go.id",
            "no_hp": f"08{rng.randint(100000000, 9999999999)}",
        })
    return out


@dataclass(frozen=True)
class Params:
    single_ops: int  # single-event appends per writer
    batches: int  # 100-event appends per writer
    batch_size: int
    fill_events: int  # events written before timing read_all and verify
    page: int  # read_all page size
    warmup: int  # untimed operations per writer before the clock starts
    writers: tuple[int, ...] = (1, 4)


DEFAULT = Params(single_ops=1500, batches=60, batch_size=100, fill_events=100_000, page=1000,
                 warmup=20)
QUICK = Params(single_ops=100, batches=5, batch_size=100, fill_events=5_000, page=1000, warmup=3)


# -- the three systems ----------------------------------------------------------------------


def create_owned_schema(admin_url: str, prefix: str) -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA {schema} AUTHORIZATION "{ROLE}"')
    conn.close()
    return schema


def limit_table_ddl(schema: str) -> str:
    """Our events table exactly as migrated (columns, keys), without the head row or triggers."""
    match = re.search(r"CREATE TABLE \{schema\}\.events \(.*?\n\);", CORE_LOG_DDL, re.S)
    if match is None:
        raise RuntimeError("could not find the events table in shared.migrations.CORE_LOG_DDL")
    return match.group(0).replace("{schema}", schema)


class Ours:
    name = "ours"

    def __init__(self, url: str, admin_url: str):
        self.url = url
        self.schema = create_scratch_log(admin_url, ROLE)
        self.store = EventStore(self.schema, REGISTRY)

    def connect(self):
        return psycopg2.connect(self.url)

    def single(self, conn, payloads: list[dict]) -> None:
        (payload,) = payloads
        self.store.append(conn, f"pegawai-{uuid.uuid4().hex}", STREAM_TYPE, NO_STREAM,
                          [NewEvent(EVENT_TYPE, payload)], METADATA)
        conn.commit()

    def batch(self, conn, payloads: list[dict]) -> None:
        events = [NewEvent(EVENT_TYPE, payload) for payload in payloads]
        self.store.append(conn, f"pegawai-{uuid.uuid4().hex}", STREAM_TYPE, NO_STREAM, events,
                          METADATA)
        conn.commit()

    def close(self, conn) -> None:
        conn.close()

    def table(self) -> str:
        return f"{self.schema}.events"

    def shutdown(self) -> None:
        pass


class Limit:
    """Same rows, same table shape; no validation, no hashing, no head lock."""

    name = "limit"
    insert = (
        "INSERT INTO {s}.events (position, event_id, stream_id, stream_type, version, event_type, "
        "schema_version, payload, metadata, recorded_at, prev_hash, hash) VALUES "
    )
    template = "(%s, %s::uuid, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::timestamptz, %s, %s)"

    def __init__(self, url: str, admin_url: str):
        self.url = url
        self.schema = create_owned_schema(admin_url, "limit")
        conn = self.connect()
        with conn, conn.cursor() as cur:
            cur.execute(limit_table_ddl(self.schema))
        conn.close()
        self.positions = itertools.count(1)  # next() is atomic under the GIL
        self.sql_values = self.insert.format(s=self.schema) + "%s"
        self.sql_one = self.insert.format(s=self.schema) + self.template

    def connect(self):
        return psycopg2.connect(self.url)

    def rows(self, payloads: list[dict]) -> list[tuple]:
        stream_id = f"pegawai-{uuid.uuid4().hex}"
        recorded_at = format_timestamp(datetime.now(UTC))
        meta = orjson.dumps(METADATA).decode()
        return [
            (next(self.positions), str(uuid.uuid4()), stream_id, STREAM_TYPE, version, EVENT_TYPE,
             1, orjson.dumps(payload).decode(), meta, recorded_at, FAKE_HASH, FAKE_HASH)
            for version, payload in enumerate(payloads, 1)
        ]

    def single(self, conn, payloads: list[dict]) -> None:
        with conn.cursor() as cur:
            cur.execute(self.sql_one, self.rows(payloads)[0])
        conn.commit()

    def batch(self, conn, payloads: list[dict]) -> None:
        rows = self.rows(payloads)
        with conn.cursor() as cur:
            execute_values(cur, self.sql_values, rows, template=self.template,
                           page_size=len(rows))
        conn.commit()

    def batch_executemany(self, conn, payloads: list[dict]) -> None:
        with conn.cursor() as cur:
            cur.executemany(self.sql_one, self.rows(payloads))
        conn.commit()

    def close(self, conn) -> None:
        conn.close()

    def table(self) -> str:
        return f"{self.schema}.events"

    def shutdown(self) -> None:
        pass


class Peer:
    """eventsourcing's PostgresApplicationRecorder, used directly (no mapper, no transcoder)."""

    name = "peer"

    def __init__(self, url: str, admin_url: str, pool_size: int):
        self.schema = create_owned_schema(admin_url, "peer")
        parts = psycopg2.extensions.parse_dsn(url)
        self.datastore = PostgresDatastore(
            dbname=parts["dbname"], host=parts.get("host", "127.0.0.1"),
            port=parts.get("port", 5432), user=parts["user"], password=parts.get("password", ""),
            pool_size=pool_size, schema=self.schema,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore)
        self.recorder.create_table()

    def connect(self):
        return None  # the datastore's pool (one connection per writer) hands them out

    def stored(self, payloads: list[dict]) -> list[StoredEvent]:
        originator_id = uuid.uuid4()
        return [
            StoredEvent(originator_id=originator_id, originator_version=version,
                        topic=PEER_TOPIC,
                        state=orjson.dumps({"payload": payload, "metadata": METADATA}))
            for version, payload in enumerate(payloads, 1)
        ]

    def single(self, conn, payloads: list[dict]) -> None:
        self.recorder.insert_events(self.stored(payloads))

    batch = single

    def close(self, conn) -> None:
        pass

    def table(self) -> str:
        return f"{self.schema}.stored_events"

    def shutdown(self) -> None:
        self.datastore.close()


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Run:
    events: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def run_writers(system, operation, writers: int, ops: int, size: int, warmup: int,
                payloads: list[dict]) -> Run:
    """`writers` threads, each on its own connection, each doing `ops` appends of `size` events
    after `warmup` untimed ones; they start together and the clock runs until the last ends."""
    barrier = threading.Barrier(writers)
    starts, ends, latencies, errors = [], [], [], []
    lock = threading.Lock()

    def writer(number: int) -> None:
        conn = None
        try:
            conn = system.connect()
            offset = number * 7919
            chunks = [
                [payloads[(offset + i * size + j) % len(payloads)] for j in range(size)]
                for i in range(ops + warmup)
            ]
            for chunk in chunks[:warmup]:
                operation(conn, chunk)
            mine = []
            barrier.wait()
            began = time.perf_counter()
            for chunk in chunks[warmup:]:
                t0 = time.perf_counter()
                operation(conn, chunk)
                mine.append(time.perf_counter() - t0)
            finished = time.perf_counter()
            with lock:
                starts.append(began)
                ends.append(finished)
                latencies.extend(mine)
        except BaseException as exc:
            barrier.abort()
            errors.append(exc)
        finally:
            if conn is not None:
                system.close(conn)

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    return Run(writers * ops * size, max(ends) - min(starts), latencies)


def count_rows(admin_url: str, table: str) -> int:
    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        n = cur.fetchone()[0]
    conn.close()
    return n


def fill(system, events: int, payloads: list[dict], size: int = 100) -> None:
    conn = system.connect()
    try:
        for i in range(0, events, size):
            n = min(size, events - i)
            system.batch(conn, [payloads[(i + j) % len(payloads)] for j in range(n)])
    finally:
        system.close(conn)


def vacuum(admin_url: str, tables: list[str]) -> None:
    """Same starting line for every reader: hint bits set, statistics fresh."""
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"VACUUM ANALYZE {table}")
    conn.close()


def time_read_ours(url: str, ours: Ours, page: int) -> Run:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        count, position = 0, 1
        t0 = time.perf_counter()
        while True:
            batch = ours.store.read_all(conn, position, page)
            if not batch:
                break
            count += len(batch)
            position = batch[-1].position + 1
        return Run(count, time.perf_counter() - t0)
    finally:
        conn.close()


def time_read_limit(url: str, limit: Limit, page: int) -> Run:
    """The same SELECT read_all sends (same columns, keyset pages), rows left as tuples."""
    columns = (
        "position, event_id::text, stream_id, stream_type, version, event_type, schema_version, "
        f"payload, metadata, {SQL_TIMESTAMP_TEXT}, prev_hash, hash"
    )
    sql = (f"SELECT {columns} FROM {limit.schema}.events WHERE position >= %s "
           "ORDER BY position LIMIT %s")
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        count, position = 0, 1
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            while True:
                cur.execute(sql, (position, page))
                rows = cur.fetchall()
                if not rows:
                    break
                count += len(rows)
                position = rows[-1][0] + 1
        return Run(count, time.perf_counter() - t0)
    finally:
        conn.close()


def time_read_peer(peer: Peer, page: int) -> Run:
    count, start = 0, 1
    t0 = time.perf_counter()
    while True:
        batch = peer.recorder.select_notifications(start, page)
        if not batch:
            break
        count += len(batch)
        start = batch[-1].id + 1
    return Run(count, time.perf_counter() - t0)


def time_verify(url: str, schema: str) -> tuple[Run, bool]:
    conn = psycopg2.connect(url)
    try:
        t0 = time.perf_counter()
        result = verify_log(conn, schema, progress=False)
        seconds = time.perf_counter() - t0
        conn.rollback()
        return Run(result.checked, seconds), result.ok
    finally:
        conn.close()


def verify_breakdown(url: str, schema: str) -> dict[str, Run]:
    """verify_log's query streamed three ways, to show where its time goes: rows only; rows plus
    JSON decoding of payload and metadata; rows, decoding and the SHA-256 of each event."""
    query = (
        "SELECT position, event_id::text, stream_id, stream_type, version, event_type, "
        f"schema_version, payload::text, metadata::text, {SQL_TIMESTAMP_TEXT}, prev_hash, hash "
        f"FROM {schema}.events ORDER BY position"
    )
    loads = orjson.loads
    out = {}
    for stage in ("fetch", "fetch+decode", "fetch+decode+hash"):
        conn = psycopg2.connect(url)
        try:
            count = 0
            t0 = time.perf_counter()
            with conn.cursor(name="breakdown") as cur:
                cur.itersize = 20000
                cur.execute(query)
                for row in cur:
                    count += 1
                    if stage == "fetch":
                        continue
                    payload, metadata = loads(row[7]), loads(row[8])
                    if stage == "fetch+decode+hash":
                        event_hash(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                                   payload, metadata, row[9], row[10])
            out[stage] = Run(count, time.perf_counter() - t0)
            conn.rollback()
        finally:
            conn.close()
    return out


# -- reporting ------------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def fmt_ratio(ours: float, other: float | None) -> str:
    return "n/a" if not other else f"{ours / other:.2f}×"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def machine(admin_url: str) -> dict[str, str]:
    conn = psycopg2.connect(admin_url)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        server = cur.fetchone()[0]
        settings = {}
        for name in ("fsync", "synchronous_commit", "shared_buffers", "wal_sync_method"):
            cur.execute(f"SHOW {name}")
            settings[name] = cur.fetchone()[0]
    conn.close()
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql": server + " (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")",
        "drivers": (f"psycopg2 {package_version('psycopg2-binary')}, "
                    f"psycopg {package_version('psycopg')}, "
                    f"eventsourcing {package_version('eventsourcing')}"),
    }


def report(info: dict, params: Params, payload_bytes: float, rows: list[dict],
           extras: list[str], quick: bool) -> str:
    lines = [
        "# Event store benchmark",
        "",
        f"Run {info['date']} by `make bench-eventstore` (bench/eventstore.py"
        f"{' --quick' if quick else ''}). Client and server share the machine.",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}",
        f"- PostgreSQL {info['postgresql']}",
        f"- {info['drivers']}",
        f"- every system connects as the least-privilege role `{ROLE}` (trust auth, TCP "
        "127.0.0.1); each scenario writes into fresh schemas of a throwaway database",
        f"- parameters: single appends {params.single_ops}/writer; batches "
        f"{params.batches}×{params.batch_size} events/writer; writers {params.writers}; "
        f"{params.warmup} untimed warm-up appends per writer; read_all and verify over "
        f"{params.fill_events:,} events, read in pages of {params.page}",
        f"- event: `{EVENT_TYPE}` payload {payload_bytes:.0f} bytes of JSON on average "
        f"(17 fields, marshmallow-validated by ours) + {len(orjson.dumps(METADATA))} bytes of "
        "metadata; each single append goes to a new stream, each batch to a new stream "
        "(versions 1..100)",
        "",
        "| scenario | limit ev/s | ours ev/s | peer ev/s | ours ÷ limit | ours ÷ peer "
        "| ours p50 ms | ours p99 ms | target | result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['scenario']} | {fmt_rate(row['limit'])} | {fmt_rate(row['ours'])} "
            f"| {fmt_rate(row['peer'])} | {fmt_ratio(row['ours'], row['limit'])} "
            f"| {fmt_ratio(row['ours'], row['peer'])} | {row.get('p50', '')} "
            f"| {row.get('p99', '')} | {row.get('target', '')} | {row.get('result', '')} |"
        )
    lines += [
        "",
        "- limit: single = one INSERT per transaction; batch = one psycopg2 `execute_values` "
        "per transaction; read = the SELECT `read_all` sends, rows kept as tuples; verify = the "
        "same rows streamed by `verify_log`'s query with no decoding or hashing.",
        "- peer: `eventsourcing.postgres.PostgresApplicationRecorder.insert_events` "
        "(pipelined BEGIN, LOCK TABLE … EXCLUSIVE, NOTIFY, INSERT … unnest, COMMIT over a "
        "psycopg 3 pool of one connection per writer), `state` = JSON of payload and metadata; "
        "read = `select_notifications` (state left as bytes, not decoded). It keeps no hash "
        "chain, so it has no verify figure.",
        "- ours: `EventStore.append` then `commit()`; `read_all` decodes payload and metadata and "
        "builds `RecordedEvent`s; `verify_log(progress=False)`.",
        "- p50/p99 are per append call (one event, or one batch of "
        f"{params.batch_size}). Targets are reported, never asserted.",
    ]
    lines += ["", *extras, ""]
    return "\n".join(lines)


def latency_table(results: dict) -> list[str]:
    lines = [
        "## Latency per append, all systems (ms)",
        "",
        "| scenario | limit p50 | limit p99 | ours p50 | ours p99 | peer p50 | peer p99 |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario, runs in results.items():
        cells = []
        for name in ("limit", "ours", "peer"):
            run = runs.get(name)
            cells += ([fmt_ms(run.percentile(0.5)), fmt_ms(run.percentile(0.99))]
                      if run else ["n/a", "n/a"])
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines


# -- main -----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def write_scenario(label: str, kind: str, writers: int, params: Params, url: str, admin_url: str,
                   payloads: list[dict], results: dict, extra_limit: dict) -> None:
    ops = params.single_ops if kind == "single" else params.batches
    size = 1 if kind == "single" else params.batch_size
    runs = results.setdefault(label, {})
    systems = [Limit(url, admin_url), Ours(url, admin_url), Peer(url, admin_url, writers)]
    try:
        for system in systems:
            operation = system.single if kind == "single" else system.batch
            run = run_writers(system, operation, writers, ops, size, params.warmup, payloads)
            expected = writers * (ops + params.warmup) * size
            stored = count_rows(admin_url, system.table())
            if stored != expected:
                raise RuntimeError(f"{label} {system.name}: {stored} rows, expected {expected}")
            runs[system.name] = run
            log(f"{label:<28} {system.name:<6} {run.rate:>10,.0f} ev/s  "
                f"p50 {fmt_ms(run.percentile(0.5))} ms  p99 {fmt_ms(run.percentile(0.99))} ms")
        if kind == "batch":
            plain = Limit(url, admin_url)
            run = run_writers(plain, plain.batch_executemany, writers, ops, size,
                              params.warmup, payloads)
            extra_limit[label] = run
            log(f"{label:<28} {'executemany':<6} {run.rate:>10,.0f} ev/s")
    finally:
        for system in systems:
            system.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"results file (default {RESULTS.relative_to(ROOT)}; "
                             "none with --quick)")
    parser.add_argument("--profile-verify", action="store_true",
                        help="also run verify_log under cProfile and print the top entries")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else DEFAULT
    output = args.output if args.output else (None if args.quick else RESULTS)

    payloads = make_payloads(2000)
    payload_bytes = sum(len(orjson.dumps(p)) for p in payloads) / len(payloads)
    info = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), **machine(ADMIN_URL)}

    admin_url = create_test_database(ADMIN_URL, prefix="simasn_bench")
    url = with_user(admin_url, ROLE)
    results: dict[str, dict[str, Run]] = {}
    extra_limit: dict[str, Run] = {}
    began = time.perf_counter()
    try:
        create_scratch_log(admin_url, ROLE)  # makes sure the role exists before anything else
        for kind, size_label in (("single", "single append"), ("batch", "100-event batch")):
            for writers in params.writers:
                label = f"{size_label}, {writers} writer{'s' if writers > 1 else ''}"
                write_scenario(label, kind, writers, params, url, admin_url, payloads, results,
                               extra_limit)

        log(f"filling {params.fill_events:,} events per system for read_all and verify")
        limit, ours, peer = Limit(url, admin_url), Ours(url, admin_url), Peer(url, admin_url, 1)
        try:
            for system in (limit, ours, peer):
                fill(system, params.fill_events, payloads)
            vacuum(admin_url, [limit.table(), ours.table(), peer.table()])
            reads = {
                "limit": time_read_limit(url, limit, params.page),
                "ours": time_read_ours(url, ours, params.page),
                "peer": time_read_peer(peer, params.page),
            }
        finally:
            peer.shutdown()
        for name, run in reads.items():
            if run.events != params.fill_events:
                raise RuntimeError(f"read_all {name}: read {run.events} events")
            log(f"{'read_all':<28} {name:<6} {run.rate:>10,.0f} ev/s")
        verify, verified_ok = time_verify(url, ours.schema)
        log(f"{'audit verify':<28} {'ours':<6} {verify.rate:>10,.0f} ev/s  ok={verified_ok}")
        stages = verify_breakdown(url, ours.schema)
        for stage, run in stages.items():
            log(f"{'verify breakdown':<28} {stage:<18} {run.rate:>10,.0f} ev/s")
        if args.profile_verify:
            conn = psycopg2.connect(url)
            profiler = cProfile.Profile()
            profiler.enable()
            verify_log(conn, ours.schema, progress=False)
            profiler.disable()
            conn.close()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    finally:
        drop_test_database(admin_url)
    elapsed = time.perf_counter() - began

    rows = []
    for label, runs in results.items():
        row = {"scenario": label, "limit": runs["limit"].rate, "ours": runs["ours"].rate,
               "peer": runs["peer"].rate, "p50": fmt_ms(runs["ours"].percentile(0.5)),
               "p99": fmt_ms(runs["ours"].percentile(0.99))}
        if label.startswith("100-event"):
            ratio = row["ours"] / row["limit"]
            row["target"] = "≥ 0.5× limit"
            row["result"] = "pass" if ratio >= 0.5 else "**miss**"
        else:
            ratio = row["ours"] / row["peer"]
            row["target"] = "≥ 1× peer"
            row["result"] = "pass" if ratio >= 1.0 else "**miss**"
        rows.append(row)
    rows.append({"scenario": f"read_all, pages of {params.page}", "limit": reads["limit"].rate,
                 "ours": reads["ours"].rate, "peer": reads["peer"].rate})
    rows.append({"scenario": "audit verify", "limit": stages["fetch"].rate, "ours": verify.rate,
                 "peer": None, "target": "≥ 100,000 ev/s",
                 "result": ("pass" if verify.rate >= 100_000 else "**miss**")
                 + ("" if verified_ok else " (chain did NOT verify)")})

    extras = [
        "## Extra limit: plain `executemany` for 100-event batches",
        "",
        "| scenario | executemany ev/s | execute_values ev/s | ours ÷ executemany |",
        "|---|--:|--:|--:|",
    ]
    for label, run in extra_limit.items():
        extras.append(f"| {label} | {fmt_rate(run.rate)} | {fmt_rate(results[label]['limit'].rate)}"
                      f" | {fmt_ratio(results[label]['ours'].rate, run.rate)} |")
    extras += ["", *latency_table(results), "",
               "## Where `audit verify` spends its time (same rows, same query, same run)", "",
               "| stage | ev/s | µs/event |", "|---|--:|--:|"]
    for stage, run in {**stages, "verify_log": verify}.items():
        extras.append(f"| {stage} | {fmt_rate(run.rate)} | "
                      f"{run.seconds / max(run.events, 1) * 1e6:.2f} |")
    extras += ["", f"Whole run took {elapsed:.0f} s."]

    text = report(info, params, payload_bytes, rows, extras, args.quick)
    print(text)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
