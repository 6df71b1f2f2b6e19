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

from bench.common import (  # noqa: E402
    cpu_model,
    fmt_ms,
    fmt_ratio,
    loadavg,
    log,
    postgres_description,
    verdict,
)
from shared.audit import verify_log  # noqa: E402
from shared.canonical import (  # noqa: E402
    SQL_TIMESTAMP_TEXT,
    chain_hash,
    content_hash,
    format_timestamp,
)
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
    warmup: int  # untimed operations per writer before each round's clock starts
    rounds: int  # each measurement is split into rounds, systems in rotating order
    writers: tuple[int, ...] = (1, 4)


DEFAULT = Params(single_ops=2000, batches=90, batch_size=100, fill_events=100_000, page=1000,
                 warmup=20, rounds=3)
QUICK = Params(single_ops=100, batches=6, batch_size=100, fill_events=5_000, page=1000, warmup=3,
               rounds=2)


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
        # one append = one statement (append_events), so it is its own transaction: one round
        # trip, and the log's head lock is released by the server's own commit
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        return conn

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
        "schema_version, payload, metadata, recorded_at, content_hash, prev_hash, hash) VALUES "
    )
    template = ("(%s, %s::uuid, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::timestamptz, %s, "
                "%s, %s)")

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
        # the same single-statement transactions as ours: one round trip each
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        return conn

    def rows(self, payloads: list[dict]) -> list[tuple]:
        stream_id = f"pegawai-{uuid.uuid4().hex}"
        recorded_at = format_timestamp(datetime.now(UTC))
        meta = orjson.dumps(METADATA).decode()
        return [
            (next(self.positions), str(uuid.uuid4()), stream_id, STREAM_TYPE, version, EVENT_TYPE,
             1, orjson.dumps(payload).decode(), meta, recorded_at, FAKE_HASH, FAKE_HASH,
             FAKE_HASH)
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
        with conn.cursor() as cur:  # many statements: one explicit transaction
            cur.execute("BEGIN")
            cur.executemany(self.sql_one, self.rows(payloads))
            cur.execute("COMMIT")

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
    cpu_seconds: float | None = None  # this process's CPU time, where measured

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def combined(runs: list[Run]) -> Run:
    """All rounds as one run: total events over total timed seconds, latencies pooled."""
    return Run(sum(r.events for r in runs), sum(r.seconds for r in runs),
               [lat for r in runs for lat in r.latencies])


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def rotated(items: list, turn: int) -> list:
    """Each round starts with a different system, so drifting background load (this machine is
    shared) does not always favour the same one."""
    turn %= len(items)
    return items[turn:] + items[:turn]


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
    if errors:
        real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        raise (real or errors)[0]
    return Run(writers * ops * size, max(ends) - min(starts), latencies)


def count_rows(admin_url: str, table: str) -> int:
    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        n = cur.fetchone()[0]
    conn.close()
    return n


def write_scenario(label: str, kind: str, writers: int, params: Params, url: str,
                   admin_url: str, payloads: list[dict]) -> dict[str, list[Run]]:
    """One write scenario for every system, in fresh schemas, as `params.rounds` rounds."""
    per_round = max(1, (params.single_ops if kind == "single" else params.batches)
                    // params.rounds)
    size = 1 if kind == "single" else params.batch_size
    limit, ours, peer = Limit(url, admin_url), Ours(url, admin_url), Peer(url, admin_url, writers)
    contenders = [("limit", limit, limit.single if kind == "single" else limit.batch),
                  ("ours", ours, ours.single if kind == "single" else ours.batch),
                  ("peer", peer, peer.single)]
    if kind == "batch":
        plain = Limit(url, admin_url)
        contenders.append(("executemany", plain, plain.batch_executemany))
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in contenders}
    try:
        for turn in range(params.rounds):
            for name, system, operation in rotated(contenders, turn):
                runs[name].append(run_writers(system, operation, writers, per_round, size,
                                              params.warmup, payloads))
    finally:
        peer.shutdown()
    expected = params.rounds * writers * (per_round + params.warmup) * size
    for name, system, _ in contenders:
        stored = count_rows(admin_url, system.table())
        if stored != expected:
            raise RuntimeError(f"{label} {name}: {stored} rows stored, expected {expected}")
        run = combined(runs[name])
        log(f"{label:<28} {name:<11} {run.rate:>9,.0f} ev/s  "
            f"p50 {fmt_ms(run.percentile(0.5))} ms  p99 {fmt_ms(run.percentile(0.99))} ms")
    return runs


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
        f"payload::text, metadata::text, {SQL_TIMESTAMP_TEXT}, prev_hash, hash"
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
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = verify_log(conn, schema, progress=False)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        conn.rollback()
        return Run(result.checked, seconds, cpu_seconds=cpu), result.ok
    finally:
        conn.close()


VERIFY_STAGES = ("fetch", "fetch+decode", "fetch+decode+hash")


def time_verify_stage(url: str, schema: str, stage: str) -> Run:
    """verify_log's query streamed the same way, doing only part of its work: rows only; rows
    and JSON decoding of payload and metadata; rows, decoding and each event's SHA-256."""
    query = (
        "SELECT position, event_id::text, stream_id, stream_type, version, event_type, "
        f"schema_version, payload::text, metadata::text, {SQL_TIMESTAMP_TEXT}, content_hash, "
        f"prev_hash, hash FROM {schema}.events ORDER BY position"
    )
    loads = orjson.loads
    conn = psycopg2.connect(url)
    try:
        count = 0
        t0, cpu0 = time.perf_counter(), time.process_time()
        with conn.cursor(name="breakdown") as cur:
            cur.itersize = 20000
            cur.execute(query)
            for row in cur:
                count += 1
                if stage == "fetch":
                    continue
                payload, metadata = loads(row[7]), loads(row[8])
                if stage == "fetch+decode+hash":
                    content = content_hash(row[1], row[2], row[3], row[5], row[6], payload,
                                           metadata)
                    chain_hash(row[11], row[0], row[4], row[9], content)
        run = Run(count, time.perf_counter() - t0,
                  cpu_seconds=time.process_time() - cpu0)
        conn.rollback()
        return run
    finally:
        conn.close()


# -- reporting ------------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def machine(admin_url: str) -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "postgresql": postgres_description(admin_url, ("fsync", "synchronous_commit",
                                                       "shared_buffers", "wal_sync_method")),
        "drivers": (f"psycopg2 {package_version('psycopg2-binary')}, "
                    f"psycopg {package_version('psycopg')}, "
                    f"eventsourcing {package_version('eventsourcing')}"),
    }






def targets(writes: dict, reads: dict, verify: dict) -> dict[str, tuple[str, bool]]:
    """Issue 19's targets, per row of the main table: (what, met)."""
    out = {}
    for label, runs in writes.items():
        limit, ours, peer = (combined(runs[n]).rate for n in ("limit", "ours", "peer"))
        if label.startswith("100-event"):
            out[label] = ("≥ 0.7× limit and ≥ 1× peer",
                          ours >= 0.7 * limit and ours >= peer)
        else:
            out[label] = ("≥ 0.6× limit", ours >= 0.6 * limit)
    limit, ours, peer = (median(reads[n]).rate for n in ("limit", "ours", "peer"))
    out["read_all"] = ("≥ 1× peer", ours >= peer)
    out["audit verify"] = ("≥ 150,000 ev/s", median(verify["verify_log"]).rate >= 150_000)
    return out


def scaling(writes: dict, name: str) -> float | None:
    """Four writers' batch rate over one writer's, for one system."""
    one = writes.get("100-event batch, 1 writer")
    four = writes.get("100-event batch, 4 writers")
    if not one or not four:
        return None
    return combined(four[name]).rate / combined(one[name]).rate


def main_rows(writes: dict, reads: dict, verify: dict, verified_ok: bool,
              params: Params) -> list[str]:
    goals = targets(writes, reads, verify)
    lines = [
        "| scenario | limit ev/s | ours ev/s | peer ev/s | ours ÷ limit | ours ÷ peer "
        "| ours p50 ms | ours p99 ms | target | result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for label, runs in writes.items():
        limit, ours, peer = (combined(runs[n]) for n in ("limit", "ours", "peer"))
        target, ok = goals[label]
        lines.append(
            f"| {label} | {fmt_rate(limit.rate)} | {fmt_rate(ours.rate)} | {fmt_rate(peer.rate)} "
            f"| {fmt_ratio(ours.rate, limit.rate)} | {fmt_ratio(ours.rate, peer.rate)} "
            f"| {fmt_ms(ours.percentile(0.5))} | {fmt_ms(ours.percentile(0.99))} "
            f"| {target} | {verdict(ok)} |"
        )
    limit, ours, peer = (median(reads[n]).rate for n in ("limit", "ours", "peer"))
    target, ok = goals["read_all"]
    lines.append(f"| read_all, pages of {params.page} | {fmt_rate(limit)} | {fmt_rate(ours)} "
                 f"| {fmt_rate(peer)} | {fmt_ratio(ours, limit)} | {fmt_ratio(ours, peer)} "
                 f"| | | {target} | {verdict(ok)} |")
    limit, ours = median(verify["fetch"]).rate, median(verify["verify_log"]).rate
    target, ok = goals["audit verify"]
    result = verdict(ok) + ("" if verified_ok else " (chain did NOT verify)")
    lines.append(f"| audit verify | {fmt_rate(limit)} | {fmt_rate(ours)} | n/a "
                 f"| {fmt_ratio(ours, limit)} | n/a | | | {target} | {result} |")
    ours, limit, peer = (scaling(writes, n) for n in ("ours", "limit", "peer"))
    if ours is not None:
        lines.append(f"| batches, 4 writers ÷ 1 writer | {limit:.2f}× | {ours:.2f}× "
                     f"| {peer:.2f}× | | | | | ≥ 1.5× | {verdict(ours >= 1.5)} |")
    return lines


def issue_rows(writes: dict, reads: dict, verify: dict) -> dict[str, tuple[str, str]]:
    """The issue's table: scenario -> (ours ÷ limit, ours ÷ peer) as printed."""
    out = {}
    for label, runs in writes.items():
        limit, ours, peer = (combined(runs[n]).rate for n in ("limit", "ours", "peer"))
        out[label] = (fmt_ratio(ours, limit), fmt_ratio(ours, peer))
    limit, ours, peer = (median(reads[n]).rate for n in ("limit", "ours", "peer"))
    out["read_all, pages of 1000"] = (fmt_ratio(ours, limit), fmt_ratio(ours, peer))
    fetch, ours = median(verify["fetch"]).rate, median(verify["verify_log"]).rate
    out["audit verify"] = (f"{ours:,.0f} ev/s ({fmt_ratio(ours, fetch)} fetch)", "—")
    ratio = scaling(writes, "ours")
    if ratio is not None:
        out["batches, 4 writers ÷ 1 writer"] = (f"{ratio:.2f}×", "—")
    return out


def before_rows(path: Path) -> dict[str, tuple[str, str]]:
    """The same rows from an earlier results file of this benchmark (its main table)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not cells[4].endswith("×"):
            continue
        label = cells[0]
        if label == "audit verify":
            out[label] = (f"{cells[2]} ev/s ({cells[4]} fetch)", "—")
        elif label.startswith("batches, 4 writers"):
            out[label] = (cells[2], "—")
        else:
            out[label] = (cells[4], cells[5])
    text = path.read_text(encoding="utf-8")
    one = re.search(r"\| 100-event batch, 1 writer \| [\d,]+ \| ([\d,]+) \|", text)
    four = re.search(r"\| 100-event batch, 4 writers \| [\d,]+ \| ([\d,]+) \|", text)
    if one and four and "batches, 4 writers ÷ 1 writer" not in out:
        ratio = int(four.group(1).replace(",", "")) / int(one.group(1).replace(",", ""))
        out["batches, 4 writers ÷ 1 writer"] = (f"{ratio:.2f}×", "—")
    return out


def before_label(path: Path) -> str:
    """How the earlier results file names its run ("the run of 2026-12-05 17:54 UTC")."""
    found = re.search(r"^Run (.+?) by ", path.read_text(encoding="utf-8"), re.M)
    return f"the run of {found.group(1)}" if found else str(path)


def comparison(before: dict, after: dict, before_name: str) -> list[str]:
    lines = [
        f"## Before → after (before: {before_name}; each side's ratios measured within its "
        "own run)",
        "",
        "| scenario | ours ÷ limit | ours ÷ eventsourcing |",
        "|---|--:|--:|",
    ]
    for label, (by_limit, by_peer) in after.items():
        old_limit, old_peer = before.get(label, ("?", "?"))
        peer_cell = by_peer if by_peer == "—" else f"{old_peer} → {by_peer}"
        lines.append(f"| {label} | {old_limit} → {by_limit} | {peer_cell} |")
    return lines


def report(info: dict, params: Params, payload_bytes: float, writes: dict, reads: dict,
           verify: dict, verified_ok: bool, elapsed: float, quick: bool,
           before: Path | None = None) -> str:
    lines = [
        "# Event store benchmark",
        "",
        f"Run {info['date']} by `make bench-eventstore` (bench/eventstore.py"
        f"{' --quick' if quick else ''}); took {elapsed:.0f} s. Client and server share the "
        "machine, and so may anything else running on it (load average 1/5/15 min: "
        f"{info['load_start']} at start, {info['load_end']} at end).",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}",
        f"- PostgreSQL {info['postgresql']}",
        f"- {info['drivers']}",
        f"- every system connects as the least-privilege role `{ROLE}` (trust auth, TCP "
        "127.0.0.1) to a throwaway database; each write scenario uses fresh schemas",
        f"- writes: single appends {params.single_ops}/writer, 100-event batches "
        f"{params.batches}/writer, writers {' and '.join(map(str, params.writers))} (threads, "
        f"one connection each); split into {params.rounds} rounds with the systems in rotating "
        f"order, {params.warmup} untimed warm-up appends per writer per round; ev/s = events "
        "over timed seconds summed across rounds",
        f"- reads: read_all and audit verify over {params.fill_events:,} events (filled with "
        f"100-event appends, then VACUUM ANALYZE), pages of {params.page}; median of "
        f"{params.rounds} rounds",
        f"- event: `{EVENT_TYPE}` with a {payload_bytes:.0f}-byte JSON payload on average (17 "
        f"fields, marshmallow-validated by ours) and {len(orjson.dumps(METADATA))} bytes of "
        "metadata; every single append and every batch starts a new stream",
        "",
        *main_rows(writes, reads, verify, verified_ok, params),
        "",
        *(comparison(before_rows(before), issue_rows(writes, reads, verify),
                     before_label(before)) + [""] if before else []),
        "- limit: single = one INSERT per transaction (autocommit, one round trip); batch = "
        "one psycopg2 `execute_values` "
        "per transaction; read = the SELECT `read_all` sends, rows kept as tuples; verify = "
        "`verify_log`'s query streamed with no decoding or hashing.",
        "- peer: `eventsourcing.postgres.PostgresApplicationRecorder.insert_events` "
        "(pipelined BEGIN, LOCK TABLE … EXCLUSIVE, NOTIFY, INSERT … unnest, COMMIT, over a "
        "psycopg 3 pool of one connection per writer), `state` = JSON of payload and metadata; "
        "read = `select_notifications` (state left as bytes). It keeps no hash chain, so it "
        "has no verify figure.",
        "- ours: `EventStore.append` as its own transaction (autocommit: the single "
        "`append_events` statement, one round trip); `read_all` decodes payload and metadata "
        "and builds `RecordedEvent`s; `verify_log(progress=False)`.",
        "- p50/p99 are per append call (one event, or one batch of "
        f"{params.batch_size}). Targets are reported here, never asserted.",
        "",
        "## Ratios round by round",
        "",
        "| scenario | ours ÷ limit | ours ÷ peer |",
        "|---|---|---|",
    ]
    for label, runs in writes.items():
        by_limit = ", ".join(f"{o.rate / m.rate:.2f}" for o, m in zip(runs["ours"], runs["limit"]))
        by_peer = ", ".join(f"{o.rate / p.rate:.2f}" for o, p in zip(runs["ours"], runs["peer"]))
        lines.append(f"| {label} | {by_limit} | {by_peer} |")
    by_limit = ", ".join(f"{o.rate / m.rate:.2f}" for o, m in zip(reads["ours"], reads["limit"]))
    by_peer = ", ".join(f"{o.rate / p.rate:.2f}" for o, p in zip(reads["ours"], reads["peer"]))
    lines.append(f"| read_all | {by_limit} | {by_peer} |")
    lines.append("| audit verify (ev/s) | "
                 + ", ".join(fmt_rate(r.rate) for r in verify["verify_log"]) + " | n/a |")
    lines += [
        "",
        "## Extra limit: plain `executemany` for 100-event batches",
        "",
        "| scenario | executemany ev/s | execute_values ev/s | ours ÷ executemany |",
        "|---|--:|--:|--:|",
    ]
    for label, runs in writes.items():
        if "executemany" in runs:
            plain, values = combined(runs["executemany"]), combined(runs["limit"])
            ours = combined(runs["ours"])
            lines.append(f"| {label} | {fmt_rate(plain.rate)} | {fmt_rate(values.rate)} "
                         f"| {fmt_ratio(ours.rate, plain.rate)} |")
    lines += [
        "",
        "## Latency per append, all systems (ms)",
        "",
        "| scenario | limit p50 | limit p99 | ours p50 | ours p99 | peer p50 | peer p99 |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for label, runs in writes.items():
        cells = []
        for name in ("limit", "ours", "peer"):
            run = combined(runs[name])
            cells += [fmt_ms(run.percentile(0.5)), fmt_ms(run.percentile(0.99))]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Where `audit verify` spends its time (same rows, same query; median of rounds)",
        "",
        "| stage | ev/s | wall µs/event | client CPU µs/event |",
        "|---|--:|--:|--:|",
    ]
    for stage in (*VERIFY_STAGES, "verify_log"):
        run = median(verify[stage])
        per = 1e6 / max(run.events, 1)
        lines.append(f"| {stage} | {fmt_rate(run.rate)} | {run.seconds * per:.2f} "
                     f"| {(run.cpu_seconds or 0) * per:.2f} |")
    lines += [
        "",
        "Wall time minus client CPU is, roughly, waiting for PostgreSQL to produce and send "
        "rows: the named cursor fetches in batches, so server and client work one after the "
        "other, not side by side.",
    ]
    return "\n".join(lines) + "\n"


# -- main -----------------------------------------------------------------------------------




def measure_reads(url: str, admin_url: str, params: Params, payloads: list[dict]):
    """Fill one log per system, then time reading it all back and verifying ours, in rounds."""
    log(f"filling {params.fill_events:,} events per system for read_all and verify")
    limit, ours, peer = Limit(url, admin_url), Ours(url, admin_url), Peer(url, admin_url, 1)
    try:
        for system in (limit, ours, peer):
            fill(system, params.fill_events, payloads)
        vacuum(admin_url, [limit.table(), ours.table(), peer.table()])
        readers = [("limit", lambda: time_read_limit(url, limit, params.page)),
                   ("ours", lambda: time_read_ours(url, ours, params.page)),
                   ("peer", lambda: time_read_peer(peer, params.page))]
        reads: dict[str, list[Run]] = {name: [] for name, _ in readers}
        for turn in range(params.rounds):
            for name, read in rotated(readers, turn):
                run = read()
                if run.events != params.fill_events:
                    raise RuntimeError(f"read_all {name}: read {run.events} events")
                reads[name].append(run)
    finally:
        peer.shutdown()
    for name, runs in reads.items():
        log(f"{'read_all':<28} {name:<11} {median(runs).rate:>9,.0f} ev/s (median)")

    verify: dict[str, list[Run]] = {stage: [] for stage in ("verify_log", *VERIFY_STAGES)}
    verified_ok = True
    for turn in range(params.rounds):
        for stage in rotated(list(verify), turn):
            if stage == "verify_log":
                run, ok = time_verify(url, ours.schema)
                verified_ok = verified_ok and ok and run.events == params.fill_events
            else:
                run = time_verify_stage(url, ours.schema, stage)
            verify[stage].append(run)
    for stage, runs in verify.items():
        log(f"{'audit verify':<28} {stage:<18} {median(runs).rate:>9,.0f} ev/s (median)")
    return reads, verify, verified_ok, ours.schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"results file (default {RESULTS.relative_to(ROOT)}; "
                             "none with --quick)")
    parser.add_argument("--before", type=Path, default=None,
                        help="an earlier results file of this benchmark: adds a before → "
                             "after table of its ratios and this run's")
    parser.add_argument("--profile-verify", action="store_true",
                        help="also run verify_log under cProfile and print the top entries")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else DEFAULT
    output = args.output if args.output else (None if args.quick else RESULTS)

    payloads = make_payloads(2000)
    payload_bytes = sum(len(orjson.dumps(p)) for p in payloads) / len(payloads)
    info = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_start": loadavg(),
            **machine(ADMIN_URL)}

    admin_url = create_test_database(ADMIN_URL, prefix="simasn_bench")
    url = with_user(admin_url, ROLE)
    began = time.perf_counter()
    try:
        create_scratch_log(admin_url, ROLE)  # makes sure the role exists before anything else
        writes: dict[str, dict[str, list[Run]]] = {}
        for kind, what in (("single", "single append"), ("batch", "100-event batch")):
            for writers in params.writers:
                label = f"{what}, {writers} writer{'s' if writers > 1 else ''}"
                writes[label] = write_scenario(label, kind, writers, params, url, admin_url,
                                               payloads)
        reads, verify, verified_ok, schema = measure_reads(url, admin_url, params, payloads)
        if args.profile_verify:
            conn = psycopg2.connect(url)
            profiler = cProfile.Profile()
            profiler.enable()
            verify_log(conn, schema, progress=False)
            profiler.disable()
            conn.close()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    finally:
        drop_test_database(admin_url)
    info["load_end"] = loadavg()

    text = report(info, params, payload_bytes, writes, reads, verify, verified_ok,
                  time.perf_counter() - began, args.quick, args.before)
    print(text, end="")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
