"""Bulk import of an OPD's employees from CSV or XLSX, with a per-row report.

The file is first stored in the object store (the gateway streams the upload there); an import
job then reads it row by row and never holds it in memory. Rows are handled in chunks: one
transaction per chunk holds the employees' events, their projection rows, the job's progress and
the chunk's problems, with a savepoint per employee — so an employee is imported whole or not at
all, and a job that stops (crash, redeploy) resumes after its last committed chunk.

Re-running a file is safe: a row equal to the stored record is "unchanged"; a row that changes
only data pokok is applied as one DataPokokChanged; a row that contradicts identity data (NIK,
birth date, gender, TMT CPNS, status, golongan, OPD) is listed with the reason and not applied —
those change through an administrator's correction or a layanan, not through a spreadsheet."""

from __future__ import annotations

import csv
import io
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson
from marshmallow import Schema, ValidationError
from psycopg2.extras import execute_values

from services.records import domain, projection
from services.records.usecases.employees import may_maintain
from shared.auth import Principal
from shared.contracts import records as contract
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.eventstore import NO_STREAM, BatchConflict, NewEvent, StreamAppend
from shared.objectstore import ChunkReader

CSV, XLSX = "csv", "xlsx"
CHUNK_ROWS = 500
MAX_PROBLEMS_SHOWN = 1000

ALIASES = contract.IMPORT_ALIASES
ImportRow = Schema.from_dict(contract.IMPORT_ROW_FIELDS, name="ImportRow")
COLUMNS = frozenset(ImportRow().fields)
#: data pokok an import may change on an existing record; anything else differing is refused
UPDATABLE = frozenset({"name", "gelar_depan", "gelar_belakang", "birth_place", "religion",
                       "marital_status", "address", "email", "phone", "unit",
                       "catatan_kesehatan"})


class ImportRejected(ValidationFailed):
    code = "import_rejected"
    title = "Berkas impor tidak dapat diproses"


# -- reading the file --------------------------------------------------------------------------

def sniff_kind(first_bytes: bytes) -> str:
    """XLSX is a zip; anything else must be UTF-8 text (CSV)."""
    if first_bytes.startswith(b"PK\x03\x04"):
        return XLSX
    try:
        first_bytes[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(first_bytes[:4096]) - 4:  # not just a character cut at the edge
            raise ImportRejected("berkas bukan CSV UTF-8 atau XLSX", field="file") from None
    return CSV


_column = contract.import_column


def check_header(raw: list) -> list[str]:
    columns = [_column(name) for name in raw]
    unknown = [str(raw[i]) for i, c in enumerate(columns) if c and c not in COLUMNS]
    if unknown:
        raise ImportRejected(f"kolom tidak dikenal: {', '.join(unknown[:10])}", field="file",
                             details={"unknown_columns": unknown,
                                      "known_columns": sorted(COLUMNS)})
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicated:
        raise ImportRejected(f"kolom ganda: {', '.join(duplicated)}", field="file")
    missing = sorted(set(contract.IMPORT_REQUIRED) - set(columns))
    if missing:
        raise ImportRejected(f"kolom wajib tidak ada: {', '.join(missing)}", field="file",
                             details={"missing_columns": missing})
    return columns


def _cell(column: str, value):
    """A spreadsheet cell as the row schema wants it; numbers typed into NIP/NIK cells have
    already lost digits in Excel, so they are refused rather than guessed."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | int) and column in ("nip", "nik"):
        return _NumericId(value)
    text = str(value).strip()
    return text or None


class _NumericId:
    def __init__(self, value):
        self.value = value


def read_rows(chunks: Iterator[bytes], kind: str) -> Iterator[tuple[int, dict]]:
    """(row number as the user sees it, {column: value}) for every non-empty row; the header is
    checked first (ImportRejected)."""
    if kind == CSV:
        yield from _csv_rows(chunks)
    else:
        yield from _xlsx_rows(chunks)


def _csv_rows(chunks):
    text = io.TextIOWrapper(io.BufferedReader(ChunkReader(chunks), 1 << 16),
                            encoding="utf-8-sig", newline="")
    first = text.readline()
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delimiter), [])
    columns = check_header(header)
    try:
        for number, values in enumerate(csv.reader(text, delimiter=delimiter), start=2):
            if any(v.strip() for v in values):
                yield number, _row(columns, values)
    except UnicodeDecodeError:
        raise ImportRejected("berkas CSV harus UTF-8", field="file") from None


def _xlsx_rows(chunks):
    from openpyxl import load_workbook

    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            book = load_workbook(spool, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for bad files
            raise ImportRejected(f"berkas XLSX rusak atau bukan XLSX ({type(exc).__name__})",
                                 field="file") from None
        try:
            rows = book.worksheets[0].iter_rows(values_only=True)
            columns = check_header(list(next(rows, ())))
            for number, values in enumerate(rows, start=2):
                if any(v not in (None, "") for v in values):
                    yield number, _row(columns, values)
        finally:
            book.close()


def _row(columns: list[str], values) -> dict:
    row = {}
    for column, value in zip(columns, values, strict=False):
        if column:
            cell = _cell(column, value)
            if cell is not None:
                row[column] = cell
    return row


# -- one row -------------------------------------------------------------------------------------

def _problem(field_name: str, code: str, message: str) -> dict:
    return {"field": field_name, "code": code, "message": message}


def _shape_problems(row: dict) -> tuple[dict | None, list[dict]]:
    numeric = [k for k, v in row.items() if isinstance(v, _NumericId)]
    if numeric:
        return None, [_problem(k, "numeric_identity",
                               f"{k.upper()} harus diketik sebagai teks (angka 16-18 digit di "
                               "Excel kehilangan digit terakhirnya)") for k in numeric]
    try:
        data = ImportRow().load(row)
    except ValidationError as exc:
        return None, [_problem(k, "invalid", "; ".join(map(str, v)) if isinstance(v, list)
                               else str(v)) for k, v in sorted(exc.messages.items())]
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}, []


@dataclass
class Counts:
    rows: int = 0
    registered: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Job:
    import_id: str
    opd_id: str
    file_name: str
    actor: Principal
    runner: str
    rows_done: int = 0
    counts: Counts = field(default_factory=Counts)


def _changes_for(data: dict, stored: dict, job: Job) -> tuple[dict, list[dict]]:
    """What an import row changes on an existing record, or why it may not."""
    problems, changes = [], {}
    for name, value in data.items():
        if name in ("nip", "tmt_golongan") or stored.get(name) == value:
            continue
        if name in UPDATABLE:
            changes[name] = value
        else:
            problems.append(_problem(name, "not_updatable_by_import",
                                     f"{name} berbeda dengan data tersimpan "
                                     f"({stored.get(name)!r}); perubahan ini melalui koreksi "
                                     "administrator atau layanan, bukan impor"))
    return changes, problems


@dataclass
class _Planned:
    number: int
    nip: str
    outcome: str  # "registered" | "updated"
    employee: domain.Employee
    append: StreamAppend


def import_chunk(uow, job: Job, rows: list[tuple[int, dict]]) -> list[tuple[int, str, list]]:
    """Import one chunk inside `uow`; returns the rows' problems (row number, nip, problems).

    Rows are checked in Python first; the employees they change go to the log together through
    `append_streams` (one round trip, one head-row lock per batch), and their projection rows in
    one statement. A NIP seen again in the same chunk flushes the batch first, so the later row
    is judged against the earlier one, as it would be in the next chunk."""
    schema = uow.store.schema
    report: list[tuple[int, str, list]] = []
    shaped = []
    for number, row in rows:
        row.setdefault("opd_id", job.opd_id)
        data, problems = _shape_problems(row)
        if data is not None:
            if data["opd_id"] != job.opd_id:
                problems.append(_problem("opd_id", "other_opd",
                                         f"baris untuk OPD {data['opd_id']}, impor ini untuk "
                                         f"{job.opd_id}"))
            if "catatan_kesehatan" in data and not job.actor.has("administrator"):
                problems.append(_problem("catatan_kesehatan", "confidential",
                                         "data kesehatan hanya diisi administrator"))
        if problems:
            report.append((number, str(row.get("nip", ""))[:18], problems))
            continue
        shaped.append((number, data))
    with uow.dbapi.cursor() as cur:
        cur.execute(f"SELECT nip, opd_id, record::text FROM {schema}.employees "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                    "WHERE nip = ANY(%s)", ([d["nip"] for _, d in shaped],))
        stored = {nip: (opd, orjson.loads(record)) for nip, opd, record in cur.fetchall()}

    batch: list[_Planned] = []
    for number, data in shaped:
        nip = data["nip"]
        if any(p.nip == nip for p in batch):
            _flush(uow, job, batch, report)
        try:
            planned = _plan(uow, job, number, data, stored.get(nip))
        except domain.RuleViolation as exc:
            report.append((number, nip, [p.as_dict() for p in exc.problems]))
            continue
        if isinstance(planned, list):
            report.append((number, nip, planned))
        elif planned == "unchanged":
            job.counts.unchanged += 1
        else:
            batch.append(planned)
            stored[nip] = (job.opd_id, planned.employee.view(confidential=True))
    _flush(uow, job, batch, report)
    job.counts.rows += len(rows)
    job.counts.invalid += len(report)
    report.sort()
    return report


def _plan(uow, job: Job, number: int, data: dict, stored):
    nip = data["nip"]
    meta = {**uow.metadata, "reason": f"impor {job.file_name} baris {number}"}
    if stored is None:
        registration = {k: v for k, v in data.items() if k != "tmt_golongan"}
        changes = domain.register(registration)
        employee = domain.Employee()
        for event_type, payload in changes:
            employee.apply(event_type, payload)
        if data.get("tmt_golongan") and data.get("golongan"):
            entry = domain.record_history(
                employee, "pangkat", f"impor-{data['tmt_golongan']}",
                {"golongan": data["golongan"], "tmt": data["tmt_golongan"]}, [])
            for event_type, payload in entry:
                employee.apply(event_type, payload)
            changes += entry
        return _Planned(number, nip, "registered", employee, StreamAppend(
            domain.stream_for(nip), "Employee", NO_STREAM,
            [NewEvent(t, p) for t, p in changes], meta))
    opd, record = stored
    if opd != job.opd_id:
        return [_problem("nip", "employee_other_opd",
                         f"pegawai {nip} terdaftar pada OPD lain; pindah OPD melalui layanan "
                         "mutasi")]
    changes, problems = _changes_for(data, record, job)
    if problems:
        return problems
    if not changes:
        return "unchanged"
    employee = domain.replay_employee(uow.read_stream(domain.stream_for(nip)))
    expected = employee.version
    event = ("DataPokokChanged", {"changes": changes, "documents": []})
    employee.apply(*event)
    return _Planned(number, nip, "updated", employee, StreamAppend(
        domain.stream_for(nip), "Employee", expected, [NewEvent(*event)], meta))


def _flush(uow, job: Job, batch: list[_Planned], report: list) -> None:
    """Append the batch's events, then write its projection rows; an employee someone else
    changed meanwhile is reported and left out, the rest go in."""
    if not batch:
        return
    try:
        uow.store.append_streams(uow.dbapi, [p.append for p in batch])
    except BatchConflict as exc:
        refused = {c["index"] for c in exc.conflicts}
        for index in sorted(refused):
            planned = batch[index]
            report.append((planned.number, planned.nip, [_problem(
                "nip", "changed_meanwhile",
                "data pegawai ini berubah oleh proses lain selama impor; jalankan ulang berkas")]))
        batch[:] = [p for i, p in enumerate(batch) if i not in refused]
        if batch:
            uow.store.append_streams(uow.dbapi, [p.append for p in batch])
    with uow.dbapi.cursor() as cur:
        execute_values(cur, projection.UPSERT_MANY.format(schema=uow.store.schema),
                       [projection.row_for(p.employee) for p in batch],
                       template=projection.UPSERT_TEMPLATE, page_size=1000)
    for planned in batch:
        setattr(job.counts, planned.outcome, getattr(job.counts, planned.outcome) + 1)
    batch.clear()


def new_runner_token() -> str:
    return uuid.uuid4().hex


# -- the job ------------------------------------------------------------------------------------

_CONTEXT_KEYS = ("actor_id", "actor_role", "actor_roles", "actor_scope", "opd_id",
                 "correlation_id", "client_address")
_JOB_COLUMNS = ("import_id::text, opd_id, file_sha256, file_name, kind, status, context::text, "
                "rows_done, total_rows, registered, updated, unchanged, invalid, error, "
                "attempts, started_at, finished_at")


class LostJob(Exception):
    """Another runner took the job over (this one was too slow to beat its heartbeat)."""


def stream_for(import_id: str) -> str:
    return f"import:{import_id}"


def checked_file(actor: Principal, store, data: dict) -> str:
    """The kind of the stored file an import of `data["opd_id"]` would read, its header checked
    before any transaction opens: only who maintains that OPD imports into it, and only an
    administrator imports health notes."""
    if not may_maintain(actor, data["opd_id"]):
        raise Forbidden("hanya administrator atau fasilitator OPD ini", field="opd_id")
    first = next(iter(store.open(data["sha256"])), b"")
    kind = sniff_kind(first)
    header = next(read_rows(store.open(data["sha256"]), kind), None)
    if header is None:
        raise ImportRejected("berkas tidak berisi baris data", field="file")
    columns = set(header[1])
    if "catatan_kesehatan" in columns and not actor.has("administrator"):
        raise Forbidden("kolom catatan_kesehatan hanya boleh diimpor administrator",
                        field="file")
    return kind


def start(uow, actor: Principal, context: dict, data: dict, kind: str) -> str:
    """Record a new import job (status running) and its ImportStarted event."""
    import_id = str(uuid.uuid4())
    job_context = {k: context.get(k) for k in _CONTEXT_KEYS if context.get(k) is not None}
    with uow.dbapi.cursor() as cur:
        cur.execute(
            f"INSERT INTO {uow.store.schema}.imports (import_id, opd_id, file_sha256, file_name, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "kind, status, context) VALUES (%s, %s, %s, %s, %s, 'running', %s::jsonb)",
            (import_id, data["opd_id"], data["sha256"], data["file_name"], kind,
             orjson.dumps(job_context).decode()))
    uow.append(stream_for(import_id), "EmployeeImport", NO_STREAM, [NewEvent("ImportStarted", {
        "import_id": import_id, "opd_id": data["opd_id"], "file_sha256": data["sha256"],
        "file_name": data["file_name"], "kind": kind})], reason=f"impor {data['file_name']}")
    return import_id


def claim(conn, schema: str, import_id: str | None, stale_seconds: float,
          max_attempts: int) -> tuple[str, str] | None:
    """Take a running job whose runner has gone quiet (or `import_id` itself, just started);
    returns (import_id, runner token). A job that has crashed its runner `max_attempts` times
    is failed instead of retried forever."""
    token = new_runner_token()
    with conn, conn.cursor() as cur:
        cur.execute(
            f"UPDATE {schema}.imports SET runner = %s, heartbeat = now(), "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "attempts = attempts + 1 WHERE import_id = (SELECT import_id FROM "
            f"{schema}.imports WHERE status = 'running' AND (import_id::text = %s OR "
            "(%s IS NULL AND heartbeat < now() - make_interval(secs => %s))) "
            "ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "RETURNING import_id::text, attempts",
            (token, import_id, import_id, stale_seconds))
        row = cur.fetchone()
    if row is None:
        return None
    if row[1] > max_attempts:
        with conn, conn.cursor() as cur:
            cur.execute(f"UPDATE {schema}.imports SET status = 'failed', finished_at = now(), "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "error = %s WHERE import_id = %s",
                        (f"berhenti setelah {max_attempts} percobaan", row[0]))
        return None
    return row[0], token


def load_job(conn, schema: str, import_id: str) -> dict | None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_JOB_COLUMNS} FROM {schema}.imports WHERE import_id::text = %s",  # noqa: S608 - identifiers from code only; every value is a bound parameter
                    (import_id,))
        row = cur.fetchone()
    if row is None:
        return None
    keys = ("import_id", "opd_id", "file_sha256", "file_name", "kind", "status", "context",
            "rows_done", "total_rows", "registered", "updated", "unchanged", "invalid", "error",
            "attempts", "started_at", "finished_at")
    job = dict(zip(keys, row, strict=True))
    job["context"] = orjson.loads(job["context"])
    return job


def _chunks_of(rows: Iterator[tuple[int, dict]], size: int):
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(db_for, store, import_id: str, runner: str, chunk_rows: int = CHUNK_ROWS) -> str:
    """Process a claimed job to its end; returns the final status. `db_for(context)` gives a
    ServiceDatabase whose events carry the job's actor and correlation id."""
    probe = db_for({})
    with probe.engine.connect() as conn:
        row = load_job(conn.connection.dbapi_connection, probe.store.schema, import_id)
        conn.rollback()
    db = db_for(row["context"])
    schema = db.store.schema
    job = Job(import_id, row["opd_id"], row["file_name"], Principal.from_context(row["context"]),
              runner, row["rows_done"],
              Counts(row["total_rows"], row["registered"], row["updated"], row["unchanged"],
                     row["invalid"]))
    try:
        rows = ((n, r) for n, r in read_rows(store.open(row["file_sha256"]), row["kind"])
                if n > job.rows_done)
        for chunk in _chunks_of(rows, chunk_rows):
            with db.transaction() as uow:
                report = import_chunk(uow, job, chunk)
                _save_progress(uow, schema, job, chunk[-1][0], report)
    except ImportRejected as exc:
        _finish(db, job, "failed", exc.message)
        return "failed"
    _finish(db, job, "completed", None)
    return "completed"


def _save_progress(uow, schema: str, job: Job, last_row: int, report) -> None:
    with uow.dbapi.cursor() as cur:
        if report:
            cur.executemany(
                f"INSERT INTO {schema}.import_problems (import_id, row_number, nip, problems) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                [(job.import_id, number, nip, orjson.dumps(problems).decode())
                 for number, nip, problems in report])
        c = job.counts
        cur.execute(
            f"UPDATE {schema}.imports SET rows_done = %s, total_rows = %s, registered = %s, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "updated = %s, unchanged = %s, invalid = %s, heartbeat = now() "
            "WHERE import_id = %s AND runner = %s AND status = 'running'",
            (last_row, c.rows, c.registered, c.updated, c.unchanged, c.invalid, job.import_id,
             job.runner))
        if cur.rowcount != 1:
            raise LostJob(job.import_id)
    job.rows_done = last_row


def _finish(db, job: Job, status: str, error: str | None) -> None:
    with db.transaction() as uow:
        with uow.dbapi.cursor() as cur:
            cur.execute(
                f"UPDATE {uow.store.schema}.imports SET status = %s, error = %s, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                "finished_at = now() WHERE import_id = %s AND runner = %s AND "
                "status = 'running'", (status, error, job.import_id, job.runner))
            if cur.rowcount != 1:
                raise LostJob(job.import_id)
        event = "ImportCompleted" if status == "completed" else "ImportFailed"
        payload = {"import_id": job.import_id, **job.counts.as_dict()}
        if error:
            payload["error"] = error
        uow.append(stream_for(job.import_id), "EmployeeImport", None,
                   [NewEvent(event, payload)], reason=f"impor {job.file_name}")


def report(uow, actor: Principal, import_id: str, offset: int = 0, limit: int = 100) -> dict:
    """`view` for the caller, or NotFound (absent and out of scope answer the same)."""
    job = view(uow.dbapi, uow.store.schema, actor, import_id, offset, limit)
    if job is None:
        raise NotFound(f"impor {import_id} tidak ditemukan", field="import_id")
    return job


def view(conn, schema: str, actor: Principal, import_id: str, offset: int = 0,
         limit: int = 100) -> dict | None:
    """The job and a page of its per-row problems, for whoever may see that OPD's imports."""
    job = load_job(conn, schema, import_id)
    if job is None or not (actor.has("administrator", "auditor")
                           or ("fasilitator" in actor.roles and job["opd_id"] in actor.opd_scope)):
        return None
    with conn.cursor() as cur:
        cur.execute(f"SELECT row_number, nip, problems::text FROM {schema}.import_problems "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                    "WHERE import_id = %s ORDER BY row_number OFFSET %s LIMIT %s",
                    (import_id, offset, limit))
        problems = [{"row": n, "nip": nip, "problems": orjson.loads(p)}
                    for n, nip, p in cur.fetchall()]
    context = job.pop("context")
    job.pop("attempts")
    return {**job, "started_by": context.get("actor_id"),
            "started_at": job["started_at"].isoformat(),
            "finished_at": job["finished_at"].isoformat() if job["finished_at"] else None,
            "problems": problems, "problems_offset": offset}
