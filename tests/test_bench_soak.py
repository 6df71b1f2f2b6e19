"""The sustained-load benchmark's smoke form (bench/soak.py, issue 18): twenty seconds of the
mixed load over the deployed stack, to keep the benchmark runnable. Asserts the bookkeeping, not
timings: no error on any route, every route exercised, every process's memory sampled."""

import os

import pytest

from bench import soak

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def test_twenty_seconds_of_mixed_load_answer_every_route_without_error(tmp_path):
    results = tmp_path / "soak.md"
    summary = soak.run(minutes=20 / 60, clients=3, sample=2, results=results,
                       trace="reporting", trace_seconds=4, trace_frames=0)
    table = results.read_text()
    assert summary["errors"] == 0, table
    assert summary["requests"] > 0
    for route in soak.WEIGHTS:
        assert f"| {route} |" in table
    # every process of the stack sampled, the gateway's two replicas among them
    assert {"gateway", "gateway-2", "records", "relay"} <= set(summary["growth"]), table
    # reporting ran with the memory trace's counters (shared/memtrace.py), summarised; the
    # tracing settings were the stack's only, not left behind for the next one
    assert "## Memory trace" in table and "| reporting-" in table, table
    assert list((tmp_path / "soak-memtrace").glob("reporting-*.jsonl"))
    assert "SIMASN_MEMORY_TRACE_DIR" not in os.environ
