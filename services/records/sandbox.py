"""Untrusted uploads are parsed in worker processes, never on the records service's event loop.

Parsing a PDF or decoding an image is CPU work that never yields to eventlet: done in the
service, one decompression bomb stalls every RPC the service serves. Here each parse runs in a
worker process (`sandbox_worker.py`) that caps its own memory (RLIMIT_AS) and CPU time
(RLIMIT_CPU); the service waits for the answer cooperatively, with a wall-clock timeout after
which the worker is killed. A worker is reused while it answers normally and replaced after a
limit was hit or it died. At most `workers` parses run at once (the others wait their turn), so
a burst of bombs costs at most workers x memory. Every way a parse can go over its limits is a
rejection of that upload (`document_rejected`, reason `too_complex`, field `file`), never a
stalled service; a worker that fails for any other reason is a bug and answers 500."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import eventlet
from eventlet.green import subprocess
from eventlet.semaphore import Semaphore

from services.records.documents import DocumentInfo, DocumentPolicy, DocumentRejected
from shared.logging import get_logger

log = get_logger(__name__)

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SandboxLimits:
    """DOCUMENT_PARSE_TIMEOUT (seconds), DOCUMENT_PARSE_MEMORY_MB, DOCUMENT_PARSE_WORKERS."""

    timeout_s: float = 15.0
    memory_bytes: int = 384 << 20
    #: CPU seconds per job; the wall-clock timeout usually ends a job first
    cpu_s: int = 30
    workers: int = 2


class ParseFailed(RuntimeError):
    """A worker failed in a way no upload should cause (a bug): the service answers 500."""


class _Worker:
    def __init__(self, limits: SandboxLimits):
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT),
                                                          os.environ.get("PYTHONPATH")) if p),
               "PYTHONDONTWRITEBYTECODE": "1"}
        # only what the parse needs: no secrets from the service's environment
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell, fixed arguments
            [sys.executable, "-m", "services.records.sandbox_worker",
             str(limits.memory_bytes), str(limits.cpu_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(ROOT))

    def run(self, job: dict, data: bytes, timeout_s: float) -> dict:
        """Send one job and wait (cooperatively) for its answer, or for the limit."""
        timer = eventlet.Timeout(timeout_s)
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except eventlet.Timeout as exc:
            if exc is not timer:
                raise
            return {"limit": "time"}
        except OSError:  # BrokenPipe: the worker died while we wrote
            line = b""
        finally:
            timer.cancel()
        if line:
            return json.loads(line)
        status = self.proc.wait()
        if status < 0:
            name = signal.Signals(-status).name
            return {"limit": {"SIGXCPU": "cpu", "SIGKILL": "memory"}.get(name, name)}
        return {"error": f"worker exited with status {status}"}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class ParseSandbox:
    """`inspect` as documents.inspect promises it, done in a limited worker process."""

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()
        self._slots = Semaphore(self.limits.workers)
        self._idle: list[_Worker] = []

    def inspect(self, data: bytes, declared_name: str | None,
                policy: DocumentPolicy) -> DocumentInfo:
        job = {"size": len(data), "name": declared_name, "policy": asdict(policy)}
        with self._slots:
            worker = self._idle.pop() if self._idle else _Worker(self.limits)
            answer = {}
            try:
                answer = worker.run(job, data, self.limits.timeout_s)
            finally:
                if "ok" in answer or "rejected" in answer:
                    self._idle.append(worker)
                else:
                    worker.kill()
        return _outcome(answer, declared_name, self.limits)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().kill()


def _outcome(answer: dict, declared_name: str | None, limits: SandboxLimits) -> DocumentInfo:
    if "ok" in answer:
        return DocumentInfo(**answer["ok"])
    if "rejected" in answer:
        rejected = answer["rejected"]
        details = {k: v for k, v in (rejected.get("details") or {}).items() if k != "reason"}
        raise DocumentRejected(rejected["message"], reason=rejected["reason"], details=details)
    if "limit" in answer:
        log.warning("document_parse_limit", limit=answer["limit"], declared_name=declared_name)
        details = {"limit": answer["limit"], "timeout_seconds": limits.timeout_s,
                   "memory_mb": limits.memory_bytes >> 20}
        if declared_name is not None:
            details["declared_name"] = declared_name
        raise DocumentRejected(
            "Berkas terlalu berat untuk diperiksa (melampaui batas waktu atau memori "
            "pemeriksaan); unggah berkas yang lebih sederhana, mis. hasil pindai ulang sebagai "
            "PDF atau JPEG biasa", reason="too_complex", details=details)
    log.error("document_parse_failed", error=answer.get("error"), declared_name=declared_name)
    raise ParseFailed(answer.get("error") or "no answer from the document parser")
