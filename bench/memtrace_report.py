"""Reads the memory trace's samples (shared/memtrace.py: one JSON line per interval in
`<dir>/<service>-<pid>.jsonl`) and says where a process's growth is: RSS against the memory
Python's allocators hold (traced), their slopes over the second half of the run, and the source
lines whose traced size grew most since the first sample.

    .venv/bin/python bench/memtrace_report.py bench/results/soak-memtrace

`bench/soak.py --trace SERVICES` runs it at the end and adds its table to the soak's results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if not den else sum((t - mx) * (v - my) for t, v in points) / den * 60


def load(directory: Path) -> dict[str, list[dict]]:
    runs = {}
    for path in sorted(Path(directory).glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            runs[path.stem] = lines
    return runs


def _short(where: str) -> str:
    path, _, line = where.rpartition(":")
    for marker in ("/site-packages/", str(ROOT) + "/"):
        if marker in path:
            return f"{path.split(marker, 1)[1]}:{line}"
    if "/lib/python3" in path:  # the standard library
        path = path.split("/lib/", 1)[1].split("/", 1)[1]
    return f"{path}:{line}"


def summarize(samples: list[dict]) -> dict:
    end = samples[-1]["at"]
    half = [s for s in samples if s["at"] >= end / 2]

    def slope(field: str) -> float | None:
        if any(field not in s for s in half):
            return None
        return slope_per_minute([(s["at"], s[field] / 1024) for s in half])

    def ends(field: str) -> tuple[float, float] | None:
        if field not in samples[0] or field not in samples[-1]:
            return None
        return samples[0][field] / 1024, samples[-1][field] / 1024

    fields = ("rss", "traced", "malloc_used", "malloc_free")  # what the table shows
    return {"samples": len(samples),
            **{name: ends(name + "_kib") for name in fields},
            **{name + "_slope": slope(name + "_kib") for name in fields},
            "blocks_slope": slope_per_minute([(s["at"], s["py_blocks"])
                                              for s in half if "py_blocks" in s]),
            "objects": (samples[0]["objects"], samples[-1]["objects"]),
            "top": samples[-1]["top"]}


def _ends(pair) -> str:
    return "—" if pair is None else f"{pair[0]:.1f} → {pair[1]:.1f}"


def _slope(value) -> str:
    return "—" if value is None else f"{value:+.3f}"


def markdown(directory: Path, lines_shown: int = 8, frames_shown: int = 4) -> str:
    runs = load(directory)
    if not runs:
        return f"Memory trace: no samples in {directory}."
    out = ["## Memory trace (shared/memtrace.py)", "",
           "RSS is what the kernel counts; malloc used/free are glibc's heap (handed out / held "
           "free); traced is what Python's allocators hold (only with tracemalloc on); Python "
           "blocks are its allocated blocks (thousands per minute). MiB, first and last sample; "
           "slopes over the second half of the trace, MiB per minute.", "",
           "| process | samples | RSS | RSS slope | malloc used | used slope | malloc free "
           "| free slope | traced | traced slope | Python blocks slope | live objects |",
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    summaries = {name: summarize(samples) for name, samples in runs.items()}
    for name, s in summaries.items():
        out.append(f"| {name} | {s['samples']} | {_ends(s['rss'])} | {_slope(s['rss_slope'])} | "
                   f"{_ends(s['malloc_used'])} | {_slope(s['malloc_used_slope'])} | "
                   f"{_ends(s['malloc_free'])} | {_slope(s['malloc_free_slope'])} | "
                   f"{_ends(s['traced'])} | {_slope(s['traced_slope'])} | "
                   f"{s['blocks_slope'] / 1000:+.2f}k | "
                   f"{s['objects'][0]:,} → {s['objects'][1]:,} |")
    for name, s in summaries.items():
        if not s["top"]:
            continue
        out += ["", f"Lines whose traced size grew most in {name} (at the last sample, against "
                    "the first; the allocating line first, then its callers):", "",
                "| growth KiB | blocks | where |", "|--:|--:|---|"]
        for stat in s["top"][:lines_shown]:
            where = " ← ".join(_short(w) for w in reversed(stat["where"][-frames_shown:]))
            out.append(f"| {stat['size_diff'] / 1024:+.1f} | {stat['count_diff']:+,} | "
                       f"{where} |")
    return "\n".join(out)


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench/results/soak-memtrace"
    print(markdown(directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
