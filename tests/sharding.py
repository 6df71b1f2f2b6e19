"""Splitting the suite into parts that run side by side (`make test`, scripts/test.sh).

Most of the suite's wall time is waiting (on RabbitMQ, PostgreSQL, subprocesses starting), so
two pytest processes on two cores finish sooner than one. A part is a set of whole test files:
module fixtures are never set up twice. The end-to-end tests on the deployed stack (tests/e2e,
one stack per package) stay together in one part, or two parts would each start a stack.

Files are weighed by their seconds in tests/file_durations.json (written from a run's
test-artifacts/file-durations-*.json, see docs/testing.md); a file not in it weighs
DEFAULT_SECONDS a test. The heaviest files are placed first, each into the lightest part, so
every process computes the same split without talking to the others."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = Path(__file__).with_name("file_durations.json")
DEFAULT_SECONDS = 1.5
STACK_GROUP = "tests/e2e/"


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _group(file: str) -> str:
    return STACK_GROUP if file.startswith(STACK_GROUP) else file


def parse(shard: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in shard.split("/"))
    except ValueError:
        raise SystemExit(f"--shard must look like K/N (1 <= K <= N), not {shard!r}") from None
    if not 1 <= k <= n:
        raise SystemExit(f"--shard must look like K/N (1 <= K <= N), not {shard!r}")
    return k, n


def split(counts: dict[str, int], weights: dict[str, float], n: int) -> list[set[str]]:
    """Groups of test files (count of tests each) into n parts of about equal seconds."""
    seconds: dict[str, float] = defaultdict(float)
    for file, count in counts.items():
        seconds[_group(file)] += weights.get(file, DEFAULT_SECONDS * count)
    parts: list[set[str]] = [set() for _ in range(n)]
    loads = [0.0] * n
    for group in sorted(seconds, key=lambda g: (-seconds[g], g)):
        lightest = loads.index(min(loads))
        parts[lightest].add(group)
        loads[lightest] += seconds[group]
    return parts


def select(items, shard: str):
    """(kept, dropped) items of part K of N."""
    k, n = parse(shard)
    weights = json.loads(WEIGHTS.read_text(encoding="utf-8")) if WEIGHTS.exists() else {}
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[_file(item.nodeid)] += 1
    mine = split(counts, weights, n)[k - 1]
    kept = [item for item in items if _group(_file(item.nodeid)) in mine]
    dropped = [item for item in items if _group(_file(item.nodeid)) not in mine]
    return kept, dropped


class _Durations:
    """Seconds per test file in this run (setup, call and teardown), written at the end to
    test-artifacts/file-durations-<part>.json: the figures to refresh tests/file_durations.json."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def add(self, report) -> None:
        self.seconds[_file(report.nodeid)] += report.duration

    def write(self, config) -> None:
        if not self.seconds:
            return
        shard = (config.getoption("--shard", None) or "all").replace("/", "-of-")
        if os.environ.get("SIMASN_TEST_BROWSER") == "1":
            shard = "browser"
        out = ROOT / "test-artifacts" / f"file-durations-{shard}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({f: round(s, 1) for f, s in sorted(self.seconds.items())},
                                  indent=1) + "\n", encoding="utf-8")


DURATIONS = _Durations()
