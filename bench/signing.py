"""Signing benchmark (issue 6, `make bench-signing`): signed documents per second and latency per
document through the signing service, side by side in the same run with pyHanko called directly
on the same PDF (the limit), as a ratio. Target: ≥ 0.7× the direct rate.

* the limit, in this process: one TEGURAN_TERTULIS rendered once as `issuing.produce` renders it,
  then signed again and again with `pdfsign.sign` and the same key (`Keystore.signer`, the
  service's tuned signer) — one after another, and from a pool of as many threads as the
  service has clients; and, for reference, pyHanko as its documentation shows it (stock
  `SimpleSigner.load_pkcs12`, the signature's size measured by signing once more);
* ours: `signing.issue_document` over RPC (one `ClusterRpcProxy` per client thread) against one
  `nameko run services.signing.service:SigningService` process (max_workers as config.yaml, its
  default signing worker process) in a throwaway database and vhost — it numbers the document,
  renders it, has it signed by its worker, stores it on the filesystem and logs DocumentSigned
  before it answers;
* to show where the difference goes: the render alone, and the service with one client;
* long-term validation (issue 20): the same service signing another document type at PAdES
  B-LTA (SIGNING_PADES_LEVELS) — a signature time stamp from a local TSA, the CA's OCSP answers
  fetched from a local responder and embedded, a document time stamp over it all — reported
  as a ratio to B-B signed directly, in the same run (tests/tsa_server.py,
  tests/revocation_server.py stand in for the TSA and the CA's responders).

Scenarios run in rounds, in rotating order; each round first waits for a quiet machine. CPU per
document is read from /proc around every timed window. Afterwards nothing may be lost: every
call answered "signed", DocumentSigned and signed rows counted in the log, numbers gapless.

    make bench-signing                              (writes bench/results/signing.md)
    .venv/bin/python bench/signing.py --quick       (smoke run, no results file)
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import itertools
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.sign import signers  # noqa: E402
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter  # noqa: E402
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner  # noqa: E402
from pyhanko.stamp import TextStampStyle  # noqa: E402

from bench.common import (  # noqa: E402
    cpu_model,
    fmt_ms,
    fmt_ratio,
    loadavg,
    log,
    postgres_description,
    verdict,
)
from bench.gateway import (  # noqa: E402
    ADMIN_URL,
    MAX_WORKERS,
    QUIET_SHARE,
    CpuMeter,
    Stack,
    rabbit,
    rotated,
    wait_for_quiet,
)
from services.signing import domain, pdfsign, pki, render  # noqa: E402
from services.signing.keystore import Keystore  # noqa: E402
from shared.calendar import WIB  # noqa: E402
from tests.revocation_server import RevocationServer  # noqa: E402
from tests.tsa_server import LocalTsa  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "signing.md"
TARGET_RATIO = 0.7  # issue 6: through the service at >= 0.7x the direct pyHanko rate
DOCUMENT_KEY = "TEGURAN_TERTULIS"
#: signed at PAdES B-LTA by the same service (SIGNING_PADES_LEVELS)
LTA_KEY = "PENSIUN"
SIGNER = {"account_id": "admin.bench", "name": "Dr. Bench Penandatangan, M.Si.",
          "jabatan": "Kepala Badan Kepegawaian Daerah"}
VALUES = {"nama_lengkap": "Budi Santoso, S.Kom.", "nip": "198001012005011001",
          "pangkat_golongan": "Penata, III/c", "opd_id": "Dinas Kesehatan"}
DOCUMENT_ID = re.compile(rb"/Subject \(SIMASN Jatim ([0-9a-f-]{36})\)")  # render.py's setSubject
VERIFY_BASE = "https://simasn.bkd.jatimprov.go.id/verifikasi"  # config.yaml's default
SYSTEM = {"actor_id": "service:bench", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


@dataclass(frozen=True)
class Params:
    documents: int  # through the service with `clients` clients, over all rounds
    direct: int  # signed directly, per mode (sequential, thread pool), over all rounds
    single: int  # through the service with one client, over all rounds
    renders: int  # renders timed alone, over all rounds
    clients: int
    rounds: int
    quiet_wait: float  # longest wait for an idle machine before each round


DEFAULT = Params(documents=800, direct=400, single=80, renders=200, clients=8, rounds=4,
                 quiet_wait=10.0)
QUICK = Params(documents=48, direct=24, single=6, renders=12, clients=8, rounds=2,
               quiet_wait=5.0)


@dataclass
class Run:
    """One timed window: documents completed, wall seconds, latency per document."""

    documents: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    first_error: str | None = None
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0

    def cpu_ms(self, group: str) -> float:
        """CPU milliseconds per document spent by `group` in this window."""
        return self.cpu.get(group, 0.0) * 1000 / max(self.documents, 1)


def combined(runs: list[Run]) -> Run:
    """All rounds as one run: documents over summed timed seconds, latencies pooled."""
    cpu: Counter = Counter()
    for run in runs:
        cpu.update(run.cpu)
    return Run(sum(r.documents for r in runs), sum(r.seconds for r in runs),
               [lat for r in runs for lat in r.latencies], sum(r.failures for r in runs),
               next((r.first_error for r in runs if r.first_error), None), dict(cpu))


def shares(total: int, rounds: int) -> list[int]:
    """`total` split over `rounds` as evenly as possible."""
    return [total // rounds + (1 if turn < total % rounds else 0) for turn in range(rounds)]


# -- the document, as issuing.produce makes it -----------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    template: dict
    values: dict
    number: str
    document_id: str
    place_date: str

    def render(self) -> bytes:
        return render.render(self.template, self.values, number=self.number,
                             document_id=self.document_id,
                             verification_url=f"{VERIFY_BASE}/{self.document_id}",
                             place_date=self.place_date)


def prepare() -> Prepared:
    """The inputs `issuing.produce` renders for a TEGURAN_TERTULIS issued today (the service's
    documents differ only in number and document id)."""
    template = domain.template_for(DOCUMENT_KEY)
    today = dt.datetime.now(dt.UTC).astimezone(WIB).date()
    values = {**VALUES, "tanggal": domain.tanggal(today)}
    number = domain.document_number(template, 1, today.year)
    return Prepared(template, values, number, str(uuid.uuid4()),
                    f"Surabaya, {domain.tanggal(today)}")


# -- the limit: pyHanko called directly ------------------------------------------------------------


class Direct:
    """The limit: the same PDF, the same key, `pdfsign.sign` called in this process."""

    def __init__(self, keystore: Keystore, prepared: Prepared, meter: CpuMeter):
        self.signer = keystore.signer(SIGNER["account_id"])
        entry = keystore.index["signers"][SIGNER["account_id"]]
        self.stock_signer = signers.SimpleSigner.load_pkcs12(
            str(keystore.directory / entry["pkcs12"]),
            passphrase=(keystore.directory / entry["passphrase_file"]).read_bytes().strip())
        self.identity = keystore.identity(SIGNER["account_id"])
        self.prepared = prepared
        self.unsigned = prepared.render()
        self.reason = f"{prepared.template['title'][:120]} {prepared.number}"
        self.meter = meter

    def sign_once(self) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        signed = pdfsign.sign(self.unsigned, self.signer, name=self.identity.name,
                              jabatan=self.identity.jabatan, reason=self.reason)
        return time.perf_counter() - t0, signed

    def stock_once(self) -> tuple[float, bytes]:
        """pyHanko as its documentation shows it: `SimpleSigner.load_pkcs12` (the key parsed
        and checked at every signature) and `PdfSigner` sizing the signature by signing once
        more; same PDF, key, field, stamp and metadata as `pdfsign.sign`."""
        t0 = time.perf_counter()
        writer = IncrementalPdfFileWriter(io.BytesIO(self.unsigned))
        meta = PdfSignatureMetadata(field_name=pdfsign.FIELD_NAME,
                                    subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
                                    reason=self.reason, location="Surabaya",
                                    name=self.identity.name)
        signer = PdfSigner(meta, signer=self.stock_signer,
                           stamp_style=TextStampStyle(stamp_text=pdfsign.STAMP_TEXT,
                                                      border_width=1),
                           new_field_spec=SigFieldSpec(pdfsign.FIELD_NAME, on_page=0,
                                                       box=pdfsign.STAMP_BOX))
        out = io.BytesIO()
        signer.sign_pdf(writer, output=out, appearance_text_params={
            "signer": self.identity.name, "jabatan": self.identity.jabatan, "waktu": "-"})
        return time.perf_counter() - t0, out.getvalue()

    def stock(self, count: int) -> Run:
        before = self.meter.snapshot()
        t0 = time.perf_counter()
        latencies = [self.stock_once()[0] for _ in range(count)]
        run = Run(count, time.perf_counter() - t0, latencies)
        run.cpu = self.meter.difference(before, self.meter.snapshot())
        return run

    def sequential(self, count: int) -> Run:
        before = self.meter.snapshot()
        t0 = time.perf_counter()
        latencies = [self.sign_once()[0] for _ in range(count)]
        run = Run(count, time.perf_counter() - t0, latencies)
        run.cpu = self.meter.difference(before, self.meter.snapshot())
        return run

    def pooled(self, count: int, threads: int) -> Run:
        """`count` signatures from `threads` OS threads (pyHanko's synchronous API runs its own
        event loop per call, so each thread gets its own)."""
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda _: None, range(threads)))  # threads exist before the clock
            before = self.meter.snapshot()
            t0 = time.perf_counter()
            latencies = [lat for lat, _ in pool.map(lambda _: self.sign_once(), range(count))]
            seconds = time.perf_counter() - t0
        run = Run(count, seconds, latencies)
        run.cpu = self.meter.difference(before, self.meter.snapshot())
        return run

    def render_only(self, count: int) -> Run:
        before = self.meter.snapshot()
        t0 = time.perf_counter()
        latencies = []
        for _ in range(count):
            r0 = time.perf_counter()
            self.prepared.render()
            latencies.append(time.perf_counter() - r0)
        run = Run(count, time.perf_counter() - t0, latencies)
        run.cpu = self.meter.difference(before, self.meter.snapshot())
        return run



# -- ours: through the signing service -------------------------------------------------------------


class Service:
    """`clients` RPC proxies, each used by one thread at a time; documents get unique subjects."""

    def __init__(self, config: dict, clients: int, meter: CpuMeter):
        from nameko.standalone.rpc import ClusterRpcProxy

        from tests.helpers import signed

        self.opened = [ClusterRpcProxy(config, context_data=signed(dict(SYSTEM), config),
                                       timeout=120)
                       for _ in range(clients)]
        self.proxies = [proxy.start() for proxy in self.opened]
        self.meter = meter
        self.run_id = uuid.uuid4().hex[:8]
        self.numbers = itertools.count(1)
        self.issued = 0

    def close(self) -> None:
        for proxy in self.opened:
            proxy.stop()

    def issue(self, count: int, clients: int, document_key: str = DOCUMENT_KEY) -> Run:
        """`count` documents from `clients` threads, each taking the next one when done."""
        lock = threading.Lock()
        left = iter(range(count))
        run = Run()
        statuses: Counter = Counter()

        def client(proxy) -> None:
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                    number = next(self.numbers)
                payload = {"subject": f"case:bench-{self.run_id}-{number}",
                           "document_key": document_key, "signer": SIGNER["account_id"],
                           "values": VALUES}
                t0 = time.perf_counter()
                try:
                    status = proxy.signing.issue_document(payload)["status"]
                    error = None if status == "signed" else f"status {status}"
                except Exception as exc:  # noqa: BLE001 - counted and shown, never hidden
                    status, error = "error", repr(exc)[:300]
                seconds = time.perf_counter() - t0
                with lock:
                    statuses[status] += 1
                    if error is None:
                        run.latencies.append(seconds)
                    else:
                        run.failures += 1
                        run.first_error = run.first_error or error

        threads = [threading.Thread(target=client, args=(proxy,), daemon=True)
                   for proxy in self.proxies[:clients]]
        before = self.meter.snapshot()
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        run.seconds = time.perf_counter() - t0
        run.cpu = self.meter.difference(before, self.meter.snapshot())
        run.documents = statuses["signed"]
        self.issued += count
        return run


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def check_log(database_url: str, document_root: Path) -> dict:
    """What the service recorded: DocumentSigned events, rows by status, the numbers given out
    for the type (gapless from 1?), PDFs in the store."""
    template = domain.template_for(DOCUMENT_KEY)
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_type, count(*) FROM signing.events GROUP BY event_type")
            events = dict(cur.fetchall())
            cur.execute("SELECT status, count(*) FROM signing.documents GROUP BY status")
            statuses = dict(cur.fetchall())
            cur.execute("SELECT seq FROM signing.documents WHERE document_type = %s "
                        "ORDER BY seq", (template["type"],))
            seqs = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT count(*) FROM signing.documents WHERE status = 'signed' AND "
                        "sha256 IS NOT NULL")
            (with_pdf,) = cur.fetchone()
            cur.execute("SELECT sha256 FROM signing.documents WHERE sha256 IS NOT NULL "
                        "ORDER BY seq")
            hashes = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    stored = {p.name: p for p in (document_root / "sha256").rglob("*")
              if p.is_file() and p.suffix != ".json"}  # the data files, not the sidecars
    # a PDF no row points to: whose is it? (its document id is in the PDF's metadata)
    twice = sorted({match.group(1).decode() for name in set(stored) - set(hashes)
                    for match in [DOCUMENT_ID.search(stored[name].read_bytes())] if match})
    return {"events": events, "statuses": statuses, "seqs": seqs, "with_pdf": with_pdf,
            "stored_files": len(stored), "unreferenced": len(set(stored) - set(hashes)),
            "missing": len(set(hashes) - set(stored)), "produced_twice": twice,
            "last_sha256": hashes[-1] if hashes else None}


def lta_verdict(database_url: str, document_root: Path, keystore) -> str:
    """The last B-LTA document, read back from the store and judged (code, level)."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT sha256 FROM signing.documents WHERE pades_level = 'B-LTA' AND "
                        "sha256 IS NOT NULL ORDER BY created_at DESC LIMIT 1")
            row = cur.fetchone()
    finally:
        conn.close()
    stored = find_stored(document_root, row[0] if row else None)
    if stored is None:
        return "no B-LTA document stored"
    verdict = pdfsign.verify(stored.read_bytes(), keystore.trust_roots)
    return f"{verdict.code}, {verdict.pades_level}, {len(verdict.archive_timestamps)} archive " \
           f"time stamp(s), {len(verdict.revocation_evidence)} embedded OCSP/CRL"


def find_stored(document_root: Path, sha256: str | None) -> Path | None:
    """Where the filesystem store keeps `sha256` (shared/objectstore.py: object_key)."""
    path = document_root / "sha256" / sha256[:2] / sha256 if sha256 else None
    return path if path and path.is_file() else None


# -- report ----------------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def report(info: dict, params: Params, runs: dict[str, list[Run]], checks: dict,
           took: float, quick: bool) -> str:
    seq, pool, svc = (combined(runs[k]) for k in ("direct", "pooled", "service"))
    single, renders = combined(runs["single"]), combined(runs["render"])
    stock = combined(runs["stock"])
    limit_key = "direct" if seq.rate >= pool.rate else "pooled"
    limit = seq if limit_key == "direct" else pool
    ratio = svc.rate / limit.rate if limit.rate else 0.0
    n = params.clients
    expected = checks["expected"]
    seqs = checks["seqs"]
    gapless = seqs == list(range(1, len(seqs) + 1))
    signed_events = checks["events"].get("DocumentSigned", 0)
    signed_rows = checks["statuses"].get("signed", 0)
    lost = expected - signed_rows
    label = {"direct": "pyHanko direct, sequential", "pooled": f"pyHanko direct, {n} threads"}

    def row(name: str, run: Run, concurrency: int, rated: bool = True) -> str:
        return (f"| {name} | {concurrency} | {run.documents:,} | {fmt_rate(run.rate)} "
                f"| {fmt_ms(run.percentile(0.5))} | {fmt_ms(run.percentile(0.95))} "
                f"| {fmt_ms(run.percentile(0.99))} "
                f"| {fmt_ratio(run.rate, limit.rate) if rated else ''} |")

    lines = [
        "# Signing benchmark: signed documents through the service vs pyHanko directly",
        "",
        f"Run {info['date']} by `make bench-signing` (bench/signing.py"
        f"{' --quick' if quick else ''}); took {took:.0f} s. **Everything shares the machine's "
        f"{info['nproc']} cores**: this process (the direct signing and the RPC clients), the "
        "signing service, RabbitMQ and PostgreSQL, and anything else running on the machine "
        f"(load average 1/5/15 min: {info['load_start']} at start, {info['load_end']} at end). "
        f"Each round waits up to {params.quiet_wait:g} s for the machine to be under "
        f"{QUIET_SHARE:.0%} busy; busy share seen before each round: {info['quiet']}.",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}",
        f"- PostgreSQL {info['postgresql']}; RabbitMQ {info['rabbitmq']}",
        f"- {info['packages']}",
        f"- document: {DOCUMENT_KEY} rendered by services/signing/render.py "
        f"({info['unsigned_bytes']:,} bytes unsigned, {info['signed_bytes']:,} signed), signed "
        "PAdES B-B (no time-stamping authority) with a visible stamp by `pdfsign.sign`, key "
        f"RSA {pki.KEY_BITS} from a fresh development key store (`pki.init`, PKCS#12)",
        f"- the service: one `nameko run services.signing.service:SigningService` process "
        f"with {info.get('workers', 0)} signing worker process(es) (`SIGNING_PROCESSES`, "
        "default 1: pyHanko runs there, its CPU counted as the service's below), "
        f"max_workers {MAX_WORKERS}, DB_POOL_SIZE 10, LOG_LEVEL WARNING, filesystem document "
        "store (fsync on every put), throwaway database and vhost; `issue_document` with "
        "`values` given (no records RPC), context role system",
        f"- load: {n} client threads in this process, each with its own `ClusterRpcProxy`, "
        f"each taking the next document as soon as its previous one is answered; "
        f"{params.rounds} rounds, scenarios in rotating order; per scenario over all rounds: "
        f"{params.documents:,} documents through the service, {params.direct:,} signed "
        f"directly one after another, {params.direct:,} from a pool of {n} threads, "
        f"{params.single:,} through the service with one client, {params.renders:,} renders "
        f"alone; {info['warmup']} untimed documents first (service and direct)",
        "- docs/s = documents ÷ timed wall seconds summed over rounds; latency = call → answer "
        "(RPC) or call → signed bytes (direct), per document",
        f"- target (issue 6), reported, never asserted: through the service ≥ {TARGET_RATIO}× "
        "the direct rate",
        "",
        f"## Main figures ({n} concurrent clients)",
        "",
        "| scenario | concurrency | documents | docs/s | p50 ms | p95 ms | p99 ms "
        "| ratio vs limit |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
        row(f"{label[limit_key]} (**limit**)", limit, 1 if limit_key == "direct" else n),
        row(label["pooled" if limit_key == "direct" else "direct"],
            pool if limit_key == "direct" else seq, n if limit_key == "direct" else 1),
        row("pyHanko as documented (stock `SimpleSigner`, size measured by signing twice)",
            stock, 1),
        row("through the signing service", svc, n),
        "",
        f"Against pyHanko called as its documentation shows (no tuning): the service signs "
        f"{fmt_ratio(svc.rate, stock.rate)} its rate. The **limit** above uses the service's "
        "own tuned signer (`keystore.CachedKeySigner`, the room for the signature reserved up "
        "front), so it measures only what the service adds around the signature.",
        "",
        f"**Through the service: {fmt_rate(svc.rate)} docs/s = {ratio:.2f}× the limit "
        f"({fmt_rate(limit.rate)} docs/s) — target ≥ {TARGET_RATIO}×: "
        f"{verdict(ratio >= TARGET_RATIO)}.** "
        f"Failed calls: {svc.failures + single.failures}"
        + (f" (first: `{svc.first_error or single.first_error}`)" if svc.failures +
           single.failures else "") + ".",
        "",
        f"The limit is the faster of the two direct modes. pyHanko is pure-Python CPU work "
        "(asn1crypto, the PDF writer) under the GIL, so one process signs on one core at a "
        f"time however many threads it uses; the {n}-thread pool adds thread switching and "
        f"makes each document wait for the others (its p95 is the like-for-like latency at "
        f"{n} in flight), and the sequential loop shows the per-document cost without "
        "queueing. The service hands pyHanko to its signing worker process and does its own "
        "work (RPC, rendering, the database, the store) in its Nameko process meanwhile: two "
        f"processes, so on these {info['nproc']} cores it can approach the single-process "
        "limit although it does more per document. "
        f"With {n} documents always in flight, latency is mostly waiting: by Little's "
        f"law the mean is {n} ÷ docs/s ({n / max(svc.rate, 1e-9):.2f} s through the service, "
        f"{n / max(pool.rate, 1e-9):.2f} s for the thread pool); the one-client rows below "
        "show the cost of one document.",
        "",
        "## Where the service's time goes",
        "",
        "| scenario | docs/s | p50 ms | p95 ms | CPU ms/doc: this process | signing service "
        "| PostgreSQL | RabbitMQ (shared) | whole machine (incl. others) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, run in (("render alone (reportlab, in this process)", renders),
                      (label["direct"], seq), (label["pooled"], pool),
                      ("through the service, 1 client", single),
                      (f"through the service, {n} clients", svc)):
        lines.append(
            f"| {name} | {fmt_rate(run.rate)} | {fmt_ms(run.percentile(0.5))} "
            f"| {fmt_ms(run.percentile(0.95))} | {run.cpu_ms('client'):.1f} "
            f"| {run.cpu_ms('signing'):.1f} | {run.cpu_ms('postgresql'):.1f} "
            f"| {run.cpu_ms('rabbitmq'):.1f} | {run.cpu_ms('machine'):.1f} |")
    rest = single.percentile(0.5) - seq.percentile(0.5) - renders.percentile(0.5)
    both = 1 / (sum(seq.latencies) / len(seq.latencies)
                + sum(renders.latencies) / len(renders.latencies))
    cpu_svc, cpu_sign = svc.cpu_ms("signing"), seq.cpu_ms("client")
    lines += [
        "",
        "CPU columns: user + system time from /proc at the edges of every timed window, per "
        "document. This process = the direct signing or the RPC clients; PostgreSQL = this "
        "run's backends and the server's own processes; RabbitMQ is the machine's broker, "
        "shared with whatever else runs; whole machine counts every process, other programs "
        "included.",
        "",
        f"- one document through the service with nobody else waiting takes "
        f"{fmt_ms(single.percentile(0.5))} ms (p50): signing {fmt_ms(seq.percentile(0.5))} ms "
        f"and rendering {fmt_ms(renders.percentile(0.5))} ms (each measured alone in this "
        f"process), {fmt_ms(rest)} ms for everything else (RPC both ways, the database "
        "transactions and event appends, the store's write with its fsync, the pipe to the "
        "signing worker and back).",
        f"- the limit signs a PDF rendered beforehand; the service renders each document "
        f"first. Rendering and signing one after another in one process would reach "
        f"{fmt_rate(both)} docs/s (from the means above, not measured as such): the service "
        f"gets {fmt_ratio(svc.rate, both)} of that.",
        f"- CPU per document: the service (its process and its signing worker) "
        f"{cpu_svc:.0f} ms at {n} clients, pyHanko alone {cpu_sign:.0f} ms, the render alone "
        f"{renders.cpu_ms('client'):.0f} ms. The service spends more CPU per document than "
        "the limit; it keeps up by using a second core for the signatures.",
        "",
        "## Nothing lost",
        "",
        f"- calls made: {expected:,} ({info['warmup']} warm-up + {params.documents:,} + "
        f"{params.single:,} one-client); answered signed: {checks['answered']:,}",
        "- in the log: DocumentNumberAssigned "
        f"{checks['events'].get('DocumentNumberAssigned', 0):,}, "
        f"DocumentSigned {signed_events:,}; rows by status: {checks['statuses']}; signed rows "
        f"with a PDF hash: {checks['with_pdf']:,}; not signed: {lost:,}",
        f"- numbers for {domain.template_for(DOCUMENT_KEY)['type']}: {len(seqs):,} given, "
        f"{'1..' + str(len(seqs)) + ' without a gap or repeat' if gapless else 'NOT gapless'}",
        f"- PDFs in the document store: {checks['stored_files']:,}; signed documents whose PDF "
        f"is missing: {checks['missing']:,}; PDFs no document points to: "
        f"{checks['unreferenced']:,} (a document produced twice leaves one: the first "
        "DocumentSigned stands, the other PDF is kept by nobody)"
        + (f"; they belong to {len(checks['produced_twice'])} document(s): "
           + ", ".join(f"`{d}`" for d in checks["produced_twice"][:5])
           if checks["produced_twice"] else ""),
        f"- the last signed PDF, read back from the store and checked with `pdfsign.verify` "
        f"against the key store's root: {checks['verdict']}; a directly signed one: "
        f"{info['direct_verdict']}",
        "",
        "## Round by round",
        "",
        "| scenario | docs/s per round | ÷ limit per round | p95 ms per round |",
        "|---|---|---|---|",
    ]
    lta = combined(runs["lta"])
    lines[lines.index("## Round by round"):lines.index("## Round by round")] = [
        "## Long-term validation: B-LTA through the service ÷ B-B direct",
        "",
        "The same service signs a second document type at PAdES B-LTA (`SIGNING_PADES_LEVELS="
        f"{LTA_KEY}=B-LTA`): a signature time stamp, the CA's OCSP answers fetched and "
        "embedded (DSS), a document time stamp over it (TSA and OCSP responder: local test "
        "servers in this process).",
        "",
        "| scenario | concurrency | documents | docs/s | p50 ms | p95 ms | p99 ms | ÷ B-B direct "
        "(sequential) |",
        "|---|---|---|---|---|---|---|---|",
        f"| B-B, pyHanko direct, sequential | 1 | {seq.documents:,} | {fmt_rate(seq.rate)} "
        f"| {fmt_ms(seq.percentile(0.5))} | {fmt_ms(seq.percentile(0.95))} "
        f"| {fmt_ms(seq.percentile(0.99))} | 1.00× |",
        f"| B-LTA, through the service | {n} | {lta.documents:,} | {fmt_rate(lta.rate)} "
        f"| {fmt_ms(lta.percentile(0.5))} | {fmt_ms(lta.percentile(0.95))} "
        f"| {fmt_ms(lta.percentile(0.99))} | {fmt_ratio(lta.rate, seq.rate)} |",
        "",
        f"- B-LTA failures: {lta.failures}"
        + (f" (first: {lta.first_error})" if lta.first_error else ""),
        f"- the last B-LTA PDF, read back and checked with `pdfsign.verify`: "
        f"{checks.get('lta_verdict')}",
        "",
    ]
    for key, name in (("direct", label["direct"]), ("pooled", label["pooled"]),
                      ("service", f"through the service, {n} clients"),
                      ("single", "through the service, 1 client"),
                      ("lta", f"B-LTA through the service, {n} clients")):
        lines.append(
            f"| {name} | {', '.join(fmt_rate(r.rate) for r in runs[key])} | "
            + ", ".join(f"{r.rate / b.rate:.2f}" for r, b in zip(runs[key], runs[limit_key]))
            + f" | {', '.join(fmt_ms(r.percentile(0.95)) for r in runs[key])} |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    overview = rabbit("GET", "/overview") or {}
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "postgresql": postgres_description(ADMIN_URL),
        "rabbitmq": f"{overview.get('rabbitmq_version', '?')} "
                    f"(Erlang {overview.get('erlang_version', '?')})",
        "packages": ", ".join(f"{p} {package_version(p)}" for p in
                              ("pyHanko", "pyhanko-certvalidator", "asn1crypto", "cryptography",
                               "reportlab", "nameko", "eventlet", "SQLAlchemy")),
    }


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--documents", type=int, default=None, help="through the service, "
                        f"over all rounds (default {DEFAULT.documents})")
    parser.add_argument("--direct", type=int, default=None, help="signed directly per mode, "
                        f"over all rounds (default {DEFAULT.direct})")
    parser.add_argument("--clients", type=int, default=None, help="concurrent RPC clients and "
                        f"direct threads (default {DEFAULT.clients})")
    parser.add_argument("--rounds", type=int, default=None, help="rounds, scenarios in rotating "
                        f"order (default {DEFAULT.rounds})")
    parser.add_argument("--output", type=Path, default=None, help="results file (default "
                        f"{RESULTS.relative_to(ROOT)}; none with --quick)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    params = Params(documents=args.documents or base.documents, direct=args.direct or base.direct,
                    single=base.single, renders=base.renders, clients=args.clients or base.clients,
                    rounds=args.rounds or base.rounds, quiet_wait=base.quiet_wait)
    output = args.output if args.output else (None if args.quick else RESULTS)

    # SIGTERM (make interrupted, a CI timeout) unwinds through `finally` like Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_start": loadavg(),
            **machine()}
    workdir = Path(tempfile.mkdtemp(prefix="simasn-bench-signing-"))
    stack = Stack(workdir, db_pool_size=10)
    service: Service | None = None
    closing: list = []
    began = time.perf_counter()
    failed = True
    try:
        log(f"key store, throwaway database and vhost; work files in {workdir}")
        keystore_dir, document_root = workdir / "keystore", workdir / "documents"
        responders = RevocationServer(keystore_dir).__enter__()
        closing.append(responders)
        pki.init(keystore_dir, [SIGNER], revocation_url=responders.url)
        tsa = LocalTsa(keystore_dir, json.loads((keystore_dir / "keystore.json").read_text()))
        closing.append(tsa.__enter__())
        stack.create()
        stack.config.update({"SIGNING_KEYSTORE_DIR": str(keystore_dir),
                             "DOCUMENT_ROOT": str(document_root),
                             "SIGNING_VERIFY_URL": VERIFY_BASE, "SIGNING_TSA_URL": tsa.url,
                             "SIGNING_PADES_LEVEL": "B-B",
                             "SIGNING_PADES_LEVELS": f"{LTA_KEY}=B-LTA"})
        stack.write_config("config.yaml", stack.config)
        stack.start("signing", "services.signing.service:SigningService", "config.yaml")

        keystore = Keystore(keystore_dir)
        meter = CpuMeter({"client": [os.getpid()], "signing": [stack.pid("signing")]},
                         stack.database_url)
        stack.meter = meter
        direct = Direct(keystore, prepare(), meter)
        _, signed = direct.sign_once()
        info.update(unsigned_bytes=len(direct.unsigned), signed_bytes=len(signed),
                    direct_verdict=pdfsign.verify(signed, keystore.trust_roots).code)
        stack.wait_rpc_consumer("signing", time.monotonic() + 60)
        service = Service(stack.config, params.clients, meter)

        warmup = params.clients
        log(f"warming up: {warmup} documents through the service, {warmup} signed directly")
        warm = service.issue(warmup, params.clients)
        if warm.failures:
            raise RuntimeError(f"warm-up failed: {warm.first_error}")
        direct.pooled(warmup, params.clients)
        info["warmup"] = warmup
        # the service signs in worker processes (SIGNING_PROCESSES): their CPU is the service's
        workers = children_of(stack.pid("signing"))
        for pid in workers:
            meter.track("signing", pid)
        info["workers"] = len(workers)
        answered = warm.documents

        scenarios = {
            "direct": lambda n: direct.sequential(n),
            "pooled": lambda n: direct.pooled(n, params.clients),
            "service": lambda n: service.issue(n, params.clients),
            "single": lambda n: service.issue(n, 1),
            "render": lambda n: direct.render_only(n),
            "stock": lambda n: direct.stock(n),
            "lta": lambda n: service.issue(n, params.clients, LTA_KEY),
        }
        counts = {"direct": shares(params.direct, params.rounds),
                  "pooled": shares(params.direct, params.rounds),
                  "service": shares(params.documents, params.rounds),
                  "single": shares(params.single, params.rounds),
                  "render": shares(params.renders, params.rounds),
                  "stock": shares(max(params.direct // 4, params.rounds), params.rounds),
                  "lta": shares(params.single, params.rounds)}
        runs: dict[str, list[Run]] = {key: [] for key in scenarios}
        quiet: list[float] = []
        for turn in range(params.rounds):
            quiet.append(wait_for_quiet(params.quiet_wait))
            for key in rotated(list(scenarios), turn):
                run = scenarios[key](counts[key][turn])
                runs[key].append(run)
                if key in ("service", "single", "lta"):
                    answered += run.documents
                log(f"round {turn + 1} {key:<8} {run.documents:>4} docs {fmt_rate(run.rate):>7} "
                    f"docs/s  p50 {fmt_ms(run.percentile(0.5))} ms  p95 "
                    f"{fmt_ms(run.percentile(0.95))} ms  failed {run.failures}")
        stack.check_alive()

        checks = check_log(stack.database_url, document_root)
        checks.update(expected=service.issued, answered=answered)
        stored = find_stored(document_root, checks["last_sha256"])
        checks["verdict"] = (pdfsign.verify(stored.read_bytes(), keystore.trust_roots).code
                             if stored else "not found in the store")
        checks["lta_verdict"] = lta_verdict(stack.database_url, document_root, keystore)
        failed = False
    finally:
        if failed:
            for process in stack.processes.values():
                log(f"--- last lines of {process.name}'s log ---\n{process.tail()}")
        if service is not None:
            service.close()
        stack.close()
        for server in closing:
            server.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)
    info["load_end"] = loadavg()
    info["quiet"] = ", ".join(f"{share:.0%}" for share in quiet)

    text = report(info, params, runs, checks, time.perf_counter() - began, args.quick)
    print(text, end="")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
