"""What appending through the log owner's functions costs (issue 13 part 4), side by side with
the functions of an older commit: `python bench/log_writer.py --before REF`.

Two scratch logs in one throwaway database: one migrated by `shared/migrations.py` as it is now
(SECURITY DEFINER entry points calling one `chain_events`), one by that file as it was at REF
(invoker functions; `append_streams` filling a temporary table). The same appends go to both,
rounds alternating which goes first, over one connection as the scratch service role. Figures:
the server's own time per function call (`track_functions`, less disturbed by the client and by
other load than wall time) and client events/s, as ratios now ÷ before. Written to
bench/results/log_writer.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import loadavg, log, postgres_description  # noqa: E402
from bench.eventstore import ADMIN_URL, EVENT_TYPE, METADATA, REGISTRY, make_payloads  # noqa: E402
from shared.audit import verify_log  # noqa: E402
from shared.config import with_user  # noqa: E402
from shared.eventstore import NO_STREAM, EventStore, NewEvent, StreamAppend  # noqa: E402
from shared.migrations import database_name  # noqa: E402
from shared.testing import create_scratch_log, create_test_database, drop_test_database  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "log_writer.md"
SCENARIOS = ("append, 1 event", "append, 100 events", "append_streams, 100 streams × 1 event")
ENTRY = dict(zip(SCENARIOS, ("append_events", "append_events", "append_streams"), strict=True))
ROLE = "simasn_scratch"


def migrations_at(ref: str):
    """shared/migrations.py as it was at `ref`, imported under another name."""
    text = subprocess.run(["git", "show", f"{ref}:shared/migrations.py"], cwd=ROOT, check=True,  # noqa: S603, S607 - git with our own arguments
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "migrations_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("migrations_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git commit of the older functions")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    before = migrations_at(args.before)
    started, load_start = time.monotonic(), loadavg()
    url = create_test_database(ADMIN_URL)
    try:
        admin = psycopg2.connect(url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {database_name(url)} SET track_functions = 'pl'")
        # one log per scenario and version, so the server's time per call is per scenario
        stores: dict[tuple[str, str], EventStore] = {}
        for scenario in SCENARIOS:
            stores[(scenario, "now")] = EventStore(create_scratch_log(url, ROLE), REGISTRY)
            old_schema = f"log_{uuid.uuid4().hex[:12]}"
            with admin.cursor() as cur:
                before.create_log_schema(cur, old_schema, ROLE, "simasn_auditor")
            stores[(scenario, "before")] = EventStore(old_schema, REGISTRY)
        conn = psycopg2.connect(with_user(url, ROLE))
        conn.autocommit = True
        payloads = make_payloads(5000)

        def single(store, n):
            for i in range(n):
                store.append(conn, f"pegawai-{uuid.uuid4().hex}", "Pegawai", NO_STREAM,
                             [NewEvent(EVENT_TYPE, payloads[i % 5000])], METADATA)
            return n

        def batch(store, n):
            for i in range(n):
                store.append(conn, f"pegawai-{uuid.uuid4().hex}", "Pegawai", NO_STREAM,
                             [NewEvent(EVENT_TYPE, p) for p in payloads[i * 100 % 4900:][:100]],
                             METADATA)
            return n * 100

        def streams(store, n):
            for i in range(n):
                store.append_streams(conn, [
                    StreamAppend(f"pegawai-{uuid.uuid4().hex}", "Pegawai", NO_STREAM,
                                 [NewEvent(EVENT_TYPE, p)], METADATA)
                    for p in payloads[i * 100 % 4900:][:100]])
            return n * 100

        scenarios = list(zip(SCENARIOS, (single, batch, streams), (300, 10, 10), strict=True))
        rates: dict[tuple[str, str], list[float]] = {}
        for round_no in range(args.rounds):
            log(f"round {round_no + 1}/{args.rounds}")
            order = ["before", "now"] if round_no % 2 else ["now", "before"]
            for scenario, run, n in scenarios:
                for name in order:
                    store = stores[(scenario, name)]
                    run(store, 1)  # warm
                    t0 = time.perf_counter()
                    events = run(store, n)
                    rates.setdefault((scenario, name), []).append(
                        events / (time.perf_counter() - t0))
        conn.autocommit = False
        verified = all(verify_log(conn, s.schema, progress=False).ok for s in stores.values())
        conn.close()
        time.sleep(1)  # noqa: S311 - function statistics reach the view after the backend's report
        with admin.cursor() as cur:
            cur.execute("SELECT schemaname, funcname, calls, total_time / calls * 1000, "
                        "self_time / calls * 1000 FROM pg_stat_user_functions "
                        "WHERE funcname <> 'refuse_event_change'")
            by_schema = {store.schema: key for key, store in stores.items()}
            server = {(*by_schema[row[0]], row[1]): row[2:] for row in cur.fetchall()}
        admin.close()
    finally:
        drop_test_database(url)

    lines = [
        "# Appending through the log owner's functions: cost", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/log_writer.py --before "
        f"{args.before}`; took {time.monotonic() - started:.0f} s; load average 1/5/15 min "
        f"{load_start} at start, {loadavg()} at end (other work shares the machine).", "",
        f"- PostgreSQL {postgres_description(ADMIN_URL)}",
        "- before: the functions of that commit (invoker rights, `append_streams` with a "
        "temporary table); now: SECURITY DEFINER entry points with a pinned search_path and one "
        "`chain_events`", f"- {args.rounds} rounds alternating which goes first, same appends "
        f"to each; the logs verify afterwards: {verified}", "",
        "## Server time per call (track_functions)", "",
        "| scenario | function | calls now | µs/call before | µs/call now | now ÷ before | "
        "of which `chain_events` now (µs) |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for scenario in SCENARIOS:
        function = ENTRY[scenario]
        old, new = server[(scenario, "before", function)], server[(scenario, "now", function)]
        chain = server.get((scenario, "now", "chain_events"))
        lines.append(f"| {scenario} | `{function}` | {new[0]:,} | {old[1]:,.0f} | {new[1]:,.0f} "
                     f"| {new[1] / old[1]:.2f} | {chain[1]:,.0f} |")
    lines += ["", "## Client events/s (median of rounds)", "",
              "| scenario | before | now | now ÷ before (median of per-round ratios) |",
              "|---|--:|--:|--:|"]
    for scenario, _, _ in scenarios:
        old, new = rates[(scenario, "before")], rates[(scenario, "now")]
        ratio = statistics.median(n / o for n, o in zip(new, old, strict=True))
        lines.append(f"| {scenario} | {statistics.median(old):,.0f} | "
                     f"{statistics.median(new):,.0f} | {ratio:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
