"""Where an append, a read_all page and an audit verify spend their time (profiling aid for
docs/design/event-log.md, not a benchmark): client CPU by cProfile, server time by
pg_stat_user_functions / EXPLAIN ANALYZE, in a throwaway database."""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
import uuid
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.eventstore import (  # noqa: E402
    ADMIN_URL,
    EVENT_TYPE,
    METADATA,
    REGISTRY,
    ROLE,
    STREAM_TYPE,
    make_payloads,
)
from shared.audit import verify_log  # noqa: E402
from shared.config import with_user  # noqa: E402
from shared.eventstore import NO_STREAM, EventStore, NewEvent  # noqa: E402
from shared.testing import create_scratch_log, create_test_database, drop_test_database  # noqa: E402


def top(profiler: cProfile.Profile, n: int = 18) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(n)
    return out.getvalue()


def main() -> int:
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    payloads = make_payloads(2000)
    admin_url = create_test_database(ADMIN_URL, prefix="simasn_prof")
    url = with_user(admin_url, ROLE)
    try:
        schema = create_scratch_log(admin_url, ROLE)
        store = EventStore(schema, REGISTRY)
        admin = psycopg2.connect(admin_url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pg_stat_reset()")
            cur.execute(f"ALTER ROLE {ROLE} IN DATABASE {admin_url.rsplit('/', 1)[1]} "
                        "SET track_functions = 'pl'")
        conn = psycopg2.connect(url)
        conn.autocommit = True
        # client side, one 100-event batch at a time: wall, client CPU, and the execute itself
        calls = []
        orig = store._call

        def timed_call(c, statement, params):
            t0 = time.perf_counter()
            try:
                return orig(c, statement, params)
            finally:
                calls.append(time.perf_counter() - t0)

        store._call = timed_call
        profiler = cProfile.Profile()
        t0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(batches):
            events = [NewEvent(EVENT_TYPE, payloads[(i * 100 + j) % 2000]) for j in range(100)]
            if i == batches // 2:
                profiler.enable()
            store.append(conn, f"pegawai-{uuid.uuid4().hex}", STREAM_TYPE, NO_STREAM, events,
                         METADATA)
        profiler.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server = sum(calls)
        print(f"batch of 100: wall {wall / batches * 1e3:.2f} ms, client CPU "
              f"{cpu / batches * 1e3:.2f} ms, in execute (round trip + server + commit) "
              f"{server / batches * 1e3:.2f} ms")
        with admin.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")
        # the second half of the run was profiled
        print(top(profiler))
        # server: time inside the writing functions (track_functions), per 100-event append
        with admin.cursor() as cur:
            cur.execute("SELECT funcname, calls, total_time, self_time FROM "
                        "pg_stat_user_functions WHERE schemaname = %s", (schema,))
            for name, n, total, own in cur.fetchall():
                print(f"server {name}: {total / n:.2f} ms per call in total, {own / n:.2f} ms "
                      f"its own ({n} calls)")
        # read_all pages
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        position, count = 1, 0
        profiler.enable()
        while True:
            page = store.read_all(conn, position, 1000)
            if not page:
                break
            count += len(page)
            position = page[-1].position + 1
        profiler.disable()
        print(f"read_all: {count / (time.perf_counter() - t0):,.0f} ev/s (profiled)")
        print(top(profiler, 12))
        with admin.cursor() as cur:
            for expr in ("position", "event_id::text", "payload::text", "metadata::text",
                         "to_char(recorded_at AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", "payload", "recorded_at"):
                cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT {expr} FROM {schema}.events "
                            "WHERE position >= 1 ORDER BY position LIMIT 1000")
                plan = cur.fetchone()[0][0]
                print(f"  server, 1000 rows of {expr[:40]}: {plan['Execution Time']:.2f} ms")
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT position, event_id::text, stream_id, "
                        f"stream_type, version, event_type, schema_version, payload::text, "
                        f"metadata::text, to_char(recorded_at AT TIME ZONE 'UTC', "
                        f"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), prev_hash, hash FROM "
                        f"{schema}.events WHERE position >= 1 ORDER BY position LIMIT 1000")
            print("\n".join(r[0] for r in cur.fetchall()))
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT position, event_id, stream_id, "
                        f"stream_type, version, event_type, schema_version, payload, "
                        f"metadata, recorded_at, prev_hash, hash FROM "
                        f"{schema}.events WHERE position >= 1 ORDER BY position LIMIT 1000")
            print("\n".join(r[0] for r in cur.fetchall()))
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        conn.autocommit = False
        result = verify_log(conn, schema, progress=False)
        profiler.disable()
        print(f"verify: {result.checked / (time.perf_counter() - t0):,.0f} ev/s ok={result.ok}")
        print(top(profiler, 12))
    finally:
        drop_test_database(admin_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
