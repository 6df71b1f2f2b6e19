"""The worker process that parses untrusted uploads for the records service (see sandbox.py).

Run as `python -m services.records.sandbox_worker <memory_bytes> <cpu_seconds>`; it caps its
own address space (RLIMIT_AS) and, per job, its CPU time (RLIMIT_CPU: SIGXCPU past it), then
answers jobs from stdin one at a time:

    in:  one JSON line {"size": n, "name": ..., "policy": {...}}, then n bytes of the upload
    out: one JSON line {"ok": {...DocumentInfo}} | {"rejected": {reason, message, details}}
         | {"limit": "memory"} | {"error": "..."}

After "limit" or "error" it exits: the next job gets a fresh process. No eventlet here: this
process blocks on its own parse, which is the point."""

from __future__ import annotations

import json
import math
import resource
import sys
from dataclasses import asdict


def _limit_memory(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _limit_cpu_for_next_job(cpu_seconds: int) -> None:
    """RLIMIT_CPU counts the whole process's life: allow `cpu_seconds` more from now."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY
                                             else min(soft, hard), hard))


def _job(stdin) -> tuple[bytes, str | None, dict] | None:
    header = stdin.readline()
    if not header:
        return None
    job = json.loads(header)
    data = stdin.read(job["size"])
    return data, job.get("name"), job.get("policy") or {}


def _answer(stdout, message: dict) -> None:
    stdout.write(json.dumps(message).encode() + b"\n")
    stdout.flush()


def main(argv: list[str]) -> int:
    memory_bytes, cpu_seconds = int(argv[1]), int(argv[2])
    # imported before the limits: what every job needs, loaded once per worker
    from PIL import Image, ImageStat  # noqa: F401
    from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: F401

    from services.records.documents import DocumentPolicy, DocumentRejected, inspect

    _limit_memory(memory_bytes)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever a library prints never mixes with the answers
    while True:
        job = _job(stdin)
        if job is None:
            return 0
        data, name, policy_values = job
        _limit_cpu_for_next_job(cpu_seconds)
        policy = DocumentPolicy(**policy_values)
        Image.MAX_IMAGE_PIXELS = policy.max_image_pixels
        try:
            info = inspect(data, name, policy=policy)
        except DocumentRejected as exc:
            _answer(stdout, {"rejected": {"reason": exc.reason, "message": exc.message,
                                          "details": exc.details}})
            continue
        except MemoryError:
            del data
            _answer(stdout, {"limit": "memory"})
            return 0
        except Exception as exc:  # noqa: BLE001 - a bug, reported to the parent and logged there
            _answer(stdout, {"error": f"{type(exc).__name__}: {exc}"[:500]})
            return 1
        _answer(stdout, {"ok": asdict(info)})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
