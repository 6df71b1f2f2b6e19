"""Where a service's memory goes, while it runs: a diagnostic an operator switches on for the
services they name, never on by default (tracing every allocation slows a process down).

With MEMORY_TRACE_DIR set and the service named in MEMORY_TRACE_SERVICES (comma-separated;
empty means every service), the process starts `tracemalloc` and, every MEMORY_TRACE_SECONDS,
appends one JSON line to `<dir>/<service>-<pid>.jsonl`:

- `rss_kib`, `anon_kib` (VmRSS and RssAnon of /proc/self/status): what the kernel counts;
- `malloc_used_kib`, `malloc_free_kib`, `malloc_mmap_kib` (glibc's mallinfo2): what C's
  allocator has handed out, what it holds free in its heap (growing with RSS while `used` stays
  flat: fragmentation) and its own mmapped blocks. Python's small objects live apart from these,
  in pymalloc's arenas (`py_blocks`: Python's allocated blocks);
- `objects`, `gc`: the live objects the collector tracks and its generation counts;
- with MEMORY_TRACE_FRAMES > 0 (12 by default; 0 keeps the trace cheap, counters only),
  `tracemalloc` runs: `traced_kib` is what Python's allocators hold (RSS growing while this stays
  flat is memory outside Python: libpq, OpenSSL, malloc's heap), and `top` the
  `MEMORY_TRACE_TOP` allocation sites whose traced size grew most since the first sample, with
  their growth in bytes and blocks. tracemalloc slows every allocation down and keeps its own
  tables in untraced memory, so RSS under a full trace grows by more than the process would.

Read with `bench/memtrace_report.py`. The first sample is the baseline, so a cache filling in the
first minute does not hide a slow leak later."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import eventlet
from nameko.extensions import DependencyProvider

from shared.errors import ConfigError


class _MallInfo2(ctypes.Structure):  # glibc >= 2.33, struct mallinfo2 (size_t fields)
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function = libc.mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return None
    function.restype = _MallInfo2
    return function


_MALLINFO2 = _mallinfo2()


def malloc_counters() -> dict:
    if _MALLINFO2 is None:
        return {}
    info = _MALLINFO2()
    return {"malloc_used_kib": info.uordblks // 1024, "malloc_free_kib": info.fordblks // 1024,
            "malloc_mmap_kib": info.hblkhd // 1024}


def _status_kib(*fields: str) -> dict[str, int | None]:
    """The named kB fields of /proc/self/status, read in one pass (None: not there)."""
    found: dict[str, int | None] = dict.fromkeys(fields)
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in found:
                    found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


def wanted(service: str, services: str) -> bool:
    names = {name.strip() for name in (services or "").split(",") if name.strip()}
    return not names or service in names


class MemoryTrace(DependencyProvider):
    """`memory_trace = MemoryTrace()` on a service class (shared/service.ServiceBase has it)."""

    def setup(self):
        config = self.container.config
        self.directory = str(config.get("MEMORY_TRACE_DIR") or "").strip()
        try:
            self.every = float(config.get("MEMORY_TRACE_SECONDS") or 60)
            self.top = int(config.get("MEMORY_TRACE_TOP") or 15)
            frames = config.get("MEMORY_TRACE_FRAMES")
            self.frames = 12 if frames in (None, "") else int(frames)
        except (TypeError, ValueError):
            raise ConfigError("MEMORY_TRACE_SECONDS, MEMORY_TRACE_TOP and MEMORY_TRACE_FRAMES "
                              "must be numbers", field="MEMORY_TRACE_SECONDS") from None
        if self.every <= 0 or self.top <= 0 or self.frames < 0:
            raise ConfigError("MEMORY_TRACE_SECONDS and MEMORY_TRACE_TOP must be positive, "
                              "MEMORY_TRACE_FRAMES not negative", field="MEMORY_TRACE_SECONDS")
        self.enabled = bool(self.directory) and wanted(
            self.container.service_name, str(config.get("MEMORY_TRACE_SERVICES") or ""))
        self.path: Path | None = None
        self.baseline = None

    def start(self):
        if not self.enabled:
            return
        directory = Path(self.directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{self.container.service_name}-{os.getpid()}.jsonl"
        if self.frames and not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
        self.container.spawn_managed_thread(self._sample_forever)

    def _sample_forever(self):
        started = time.monotonic()
        while True:
            eventlet.sleep(self.every)
            self.sample(time.monotonic() - started)

    def sample(self, elapsed: float) -> dict:
        kernel = _status_kib("VmRSS", "RssAnon")
        line = {"at": round(elapsed, 1), "service": self.container.service_name,
                "pid": os.getpid(), "rss_kib": kernel["VmRSS"], "anon_kib": kernel["RssAnon"],
                **malloc_counters(), "py_blocks": sys.getallocatedblocks(),
                "objects": len(gc.get_objects()), "gc": list(gc.get_count()), "top": []}
        if not tracemalloc.is_tracing():
            return self._write(line)
        snapshot = tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ))
        traced, peak = tracemalloc.get_traced_memory()
        line.update(traced_kib=traced // 1024, traced_peak_kib=peak // 1024)
        if self.baseline is None:
            self.baseline = snapshot
        else:
            grown = (stat for stat in snapshot.compare_to(self.baseline, "traceback")
                     if stat.size_diff > 0)  # sorted by |size_diff|: shrinking ones skipped
            for stat in sorted(grown, key=lambda s: -s.size_diff)[:self.top]:
                line["top"].append({
                    "size_diff": stat.size_diff, "count_diff": stat.count_diff,
                    "size": stat.size,
                    "where": [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback]})
        return self._write(line)

    def _write(self, line: dict) -> dict:
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return line
