"""Exports of any registered report (usecases/reports.py REPORTS) as CSV, XLSX or PDF, and
the disclosure each export of personal data is.

An export is a job, because a 100,000-row file takes longer than an RPC may (RPC_TIMEOUT):
1. `start` (the caller's RPC): the report, its filters and the purpose are checked as the
   caller; the export's row and ExportRequested are written in one transaction; answered at
   once (status `running`).
2. `produce_next` (the service's export timer, one export at a time per process): claims the
   oldest export nobody works on, reads the report's rows as the requester (their roles and
   OPD scope, kept on the row) from a server-side cursor and writes them straight to a
   temporary file (formats.py), the NIPs to a second one; the file goes to the document store
   by its SHA-256; then, in the same transaction that reads the rows: the NIPs are copied into
   `disclosed_subjects`, the row is marked ready and PersonalDataDisclosed (a report naming
   persons) or ReportExported (a statistic) is appended. Memory stays flat: a row is written
   and forgotten.
3. The requester downloads the file through the gateway (`authorize_download`), streamed from
   the store. A crash leaves the export running: its claim (a session lock of the worker's
   process, shared/claims.py) goes with the process, and the next tick of any replica claims
   it again.

An official report's PDF (report.official) is issued by the signing service
(`signing.issue_document`, document DAFTAR_RESMI): the signed PDF lists the rows themselves
when there are at most EXPORT_SIGNED_MAX_ROWS of them; a longer list is the unsigned PDF
written here, and the signed document states its SHA-256, its number of rows and its filters,
binding it (docs/design/reporting.md "Exports")."""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
import uuid
from datetime import date, datetime

from nameko.exceptions import UnknownService

from services.reporting import charts, formats
from services.reporting.exceptions import ExportExpired
from services.reporting.usecases import reports
from shared.auth import Principal
from shared.calendar import today_wib
from shared.contracts.reporting import PURPOSE_MIN
from shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    SimasnError,
    StoreUnavailable,
    ValidationFailed,
)
from shared.eventstore import ANY_VERSION, NO_STREAM, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)

STREAM_TYPE = "Export"
SIGNED_DOCUMENT = "DAFTAR_RESMI"
#: NIPs written to disclosed_subjects per statement
SUBJECT_BATCH = 5000
#: who may read any export's record and the disclosure log
OVERSEERS = ("administrator", "auditor")
_COLUMNS = ("export_id, report, format, params, purpose, account_id, roles, opd_scope, "
            "personal, official, signer, status, row_count, sha256, size, content_type, "
            "document_id, error, runner, created_at, finished_at, expires_at, "
            "expires_at IS NOT NULL AND expires_at <= now() AS expired")
#: reports only a use case of this service exports (a data request's release): never by name
#: through the report routes
INTERNAL: dict[str, reports.Report] = {}


def stream(export_id: str) -> str:
    return f"export:{export_id}"


def report_named(name: str, internal: bool = False) -> reports.Report:
    if internal and name in INTERNAL:
        return INTERNAL[name]
    return reports.named(name)


def load_params(report: reports.Report, raw: dict) -> dict:
    """The report's filters, checked by its own schema; an error names `params.<field>`."""
    from marshmallow import ValidationError

    try:
        return report.params().load(raw)
    except ValidationError as exc:
        raise ValidationFailed.from_marshmallow(exc.messages, "params") from None


def start(uow, actor: Principal, name: str, data: dict) -> dict:
    """Check and record the export `data` (a loaded ExportRequest) of report `name` for
    `actor`; the file is produced by `produce_next`."""
    report = report_named(name)
    reports.scope_of(actor)  # pegawai and anyone without a scope: refused here, 403
    load_params(report, data["params"])
    purpose = (data.get("purpose") or "").strip() or None
    if report.personal and (purpose is None or len(purpose) < PURPOSE_MIN):
        raise ValidationFailed(
            f"laporan ini berisi data perorangan: tuliskan tujuan penggunaannya (minimal "
            f"{PURPOSE_MIN} huruf); ekspor dicatat sebagai pengungkapan data",
            field="purpose", code="purpose_required")
    signed = report.official and data["format"] == "pdf"
    if signed and not actor.has("administrator"):
        raise Forbidden("daftar resmi bertanda tangan (PDF) diterbitkan oleh BKD; ekspor "
                        "CSV atau XLSX untuk keperluan sendiri", field="format")
    if signed and not data.get("signer"):
        raise ValidationFailed("daftar resmi ditandatangani: sebutkan akun pejabat "
                               "penandatangan", field="signer", code="signer_required")
    export_id = enqueue(uow, report, data["format"], data["params"], purpose, actor,
                        official=signed, signer=data.get("signer") if signed else None)
    return view(_row(uow, export_id))


def enqueue(uow, report: reports.Report, fmt: str, params: dict, purpose: str | None,
            actor: Principal, official: bool, signer: str | None = None,
            expires_at: datetime | None = None) -> str:
    """Record an export for the worker to produce (its row and ExportRequested, in the
    caller's transaction); its id. The caller has checked who may have it."""
    export_id = str(uuid.uuid4())
    uow.execute(
        "INSERT INTO exports (export_id, report, format, params, purpose, account_id, roles, "
        "opd_scope, personal, official, signer, expires_at) VALUES (CAST(:id AS uuid), "
        ":report, :format, CAST(:params AS jsonb), :purpose, :account, :roles, :scope, "
        ":personal, :official, :signer, :expires)",
        {"id": export_id, "report": report.name, "format": fmt, "params": json.dumps(params),
         "purpose": purpose, "account": actor.account_id, "roles": sorted(actor.roles),
         "scope": sorted(actor.opd_scope), "personal": report.personal, "official": official,
         "signer": signer, "expires": expires_at})
    uow.append(stream(export_id), STREAM_TYPE, NO_STREAM, [NewEvent("ExportRequested", {
        "report": report.name, "format": fmt, "params": params, "purpose": purpose,
        "account_id": actor.account_id, "roles": sorted(actor.roles),
        "personal": report.personal, "official": official})],
        reason=purpose or f"ekspor {report.name}")
    return export_id


def _row(uow, export_id: str, lock: bool = False) -> dict:
    try:
        key = str(uuid.UUID(str(export_id)))
    except ValueError:
        raise NotFound("ekspor tidak ditemukan", field="export_id") from None
    row = uow.execute(f"SELECT {_COLUMNS} FROM exports WHERE export_id = CAST(:id AS uuid)"  # noqa: S608 - fixed columns
                      + (" FOR UPDATE" if lock else ""), {"id": key}).mappings().first()
    if row is None:
        raise NotFound("ekspor tidak ditemukan", field="export_id")
    return dict(row)


def view(row: dict) -> dict:
    report = reports.REPORTS.get(row["report"]) or INTERNAL.get(row["report"])
    extension = row["format"]
    return {"export_id": str(row["export_id"]), "report": row["report"],
            "title": report.title if report else row["report"], "format": row["format"],
            "params": row["params"], "purpose": row["purpose"],
            "account_id": row["account_id"], "personal": row["personal"],
            "official": row["official"], "status": row["status"], "rows": row["row_count"],
            "sha256": row["sha256"], "size": row["size"], "content_type": row["content_type"],
            "file_name": f"{row['report']}-{str(row['export_id'])[:8]}.{extension}",
            "document_id": str(row["document_id"]) if row["document_id"] else None,
            "error": row["error"], "created_at": row["created_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
            "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None}


def get(uow, actor: Principal, name: str, export_id: str) -> dict:
    """An export's state: its requester, BKD and auditors."""
    row = _row(uow, export_id)
    if row["report"] != name or row["report"] in INTERNAL or (
            row["account_id"] != actor.account_id and not actor.has(*OVERSEERS)):
        raise NotFound("ekspor tidak ditemukan", field="export_id")
    return view(row)


def authorize_download(uow, actor: Principal, name: str, export_id: str,
                       internal: bool = False) -> dict:
    """The file of a ready export, for its requester only (the disclosure names them), until
    it expires; an internal report's (a data request's release) only through its own use
    case (`internal`)."""
    row = _row(uow, export_id)
    if row["report"] != name or row["account_id"] != actor.account_id or (
            row["report"] in INTERNAL and not internal):
        raise NotFound("ekspor tidak ditemukan", field="export_id")
    if row["expired"]:
        raise ExportExpired(f"masa unduh berkas ini berakhir {row['expires_at']:%Y-%m-%d %H:%M} "
                            "UTC; ajukan permintaan baru", field="export_id",
                            details={"expires_at": row["expires_at"].isoformat()})
    if row["status"] != "ready":
        raise Conflict(f"berkas ekspor belum siap (status {row['status']})"
                       + (f": {row['error']}" if row["error"] else ""), field="export_id",
                       code="export_not_ready", details={"status": row["status"]})
    return view(row)


# -- producing the file ------------------------------------------------------------------------

def claim(uow, runner: str, locks) -> str | None:
    """The oldest running export no live process works on, now ours: claimed by a session lock
    of this process (`locks`, shared/claims.py), held until `release`, gone the moment a
    process dies — a dead worker's export is taken over at the next tick, a slow live one never
    (issue 18; before, a claim had to be EXPORT_STALE_SECONDS, 900, old)."""
    candidates = uow.execute("SELECT export_id::text FROM exports WHERE status = 'running' "
                             "ORDER BY created_at LIMIT 50").scalars().all()
    for export_id in candidates:
        if not locks.try_claim(export_id):
            continue
        taken = uow.execute("UPDATE exports SET runner = :runner, claimed_at = now() WHERE "
                            "export_id = CAST(:id AS uuid) AND status = 'running' RETURNING 1",
                            {"runner": runner, "id": export_id}).first()
        if taken:
            return export_id
        locks.release(export_id)
    return None


class _Head:
    """The first `keep` rows of a stream, kept while it flows on (an official list short
    enough to be listed in its signed document)."""

    def __init__(self, rows, keep: int):
        self.rows, self.keep, self.kept = rows, keep, []

    def __iter__(self):
        for row in self.rows:
            if len(self.kept) <= self.keep:
                self.kept.append(row)
            yield row


def produce(db, store, signing, records, export_id: str, runner: str, settings,
            holidays: frozenset = frozenset()) -> dict | None:
    """Write the claimed export's file and record it (see the module's docstring); a failure
    the caller can act on marks it failed with the reason, a transient one (the store, the
    database, signing away for a moment) gives the export back for the next tick. Answers the
    export's view, or None when nothing was recorded."""
    try:
        with db.transaction(reason="ekspor laporan") as uow:
            row = _row(uow, export_id, lock=True)
            if row["status"] != "running" or row["runner"] != runner:
                return None  # another runner took it over
            return _produce(uow, store, (signing, records), row, settings, holidays)
    except SimasnError as exc:
        if exc.transient:  # the store or a service away for a moment: the next tick retries
            log.warning("export_postponed", export_id=export_id, error=exc.message)
            _release(db, export_id, runner)
            return None
        _fail(db, export_id, exc.code, exc.message)
    except Exception as exc:
        log.exception("export_failed", export_id=export_id)
        _fail(db, export_id, "export_failed", f"{type(exc).__name__}: {exc}"[:500])
    return None


def _produce(uow, store, services, row: dict, settings, holidays: frozenset) -> dict:
    signing, records = services
    report = report_named(row["report"], internal=True)
    params = load_params(report, row["params"])
    actor = Principal(row["account_id"], frozenset(row["roles"]), frozenset(row["opd_scope"]))
    today = today_wib()
    columns = report.columns(params)
    keys = [c.key for c in columns]
    nip_index = keys.index("nip") if report.personal and "nip" in keys else None
    fmt = row["format"]
    export_id = str(row["export_id"])
    notes = _notes(report, row, today)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile("w+") as nips:
        rows = reports.read(report, uow, actor, params, today, holidays)
        chart = None
        if fmt == "pdf" and not report.personal:
            # a statistic's chart before its table: the rows a chart can hold, then the rest
            first = list(itertools.islice(rows, charts.MAX_ROWS + 1))
            try:
                chart = charts.from_report(report.title, columns, first,
                                           report.chart(params) if report.chart else None)
            except ValueError:
                chart = None
            rows = itertools.chain(first, rows)
        counter = formats.Counter(rows, nip_index,
                                  lambda nip: nip is not None and nips.write(f"{nip}\n"))
        head = _Head(counter, settings.signed_max_rows if row["official"] else 0)
        sheet = formats.Sheet(report.title, columns, notes, chart,
                              footer=f"SIMASN Jatim - ekspor {export_id} - "
                                     + ("data perorangan, dicatat sebagai pengungkapan"
                                        if report.personal else "data agregat"))
        formats.write(fmt, sheet, head, out)
        size = out.tell()
        out.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: out.read(1 << 20), b""):
            digest.update(chunk)
        out.seek(0)
        stored = store.put(out, formats.CONTENT_TYPES[fmt], expected_sha256=digest.hexdigest())
        subjects = 0
        if nip_index is not None:
            nips.seek(0)
            subjects = _record_subjects(uow, export_id, nips)
        if report.subjects is not None:
            report.subjects(uow, export_id, params)
            subjects = uow.execute("SELECT count(*) FROM disclosed_subjects WHERE export_id = "
                                   "CAST(:id AS uuid)", {"id": export_id}).scalar_one()
    document_id = None
    if row["official"]:
        document_id = _signed(signing, report, row, columns, head, counter.count,
                              stored.sha256, notes, settings)
    if subjects:
        _record_disclosure(uow, records, report, row, keys)
    uow.execute(
        "UPDATE exports SET status = 'ready', row_count = :rows, sha256 = :sha, size = :size, "
        "content_type = :type, document_id = CAST(:doc AS uuid), runner = NULL, "
        "finished_at = clock_timestamp() WHERE export_id = CAST(:id AS uuid)",
        {"rows": counter.count, "sha": stored.sha256, "size": size,
         "type": formats.CONTENT_TYPES[fmt], "doc": document_id, "id": export_id})
    common = {"report": report.name, "format": fmt, "rows": counter.count,
              "sha256": stored.sha256, "size": size, "document_id": document_id}
    if report.personal:
        event = NewEvent("PersonalDataDisclosed", {
            **common, "export_id": export_id, "recipient": row["account_id"],
            "recipient_roles": list(row["roles"]), "params": row["params"],
            "subjects": subjects, "purpose": row["purpose"]})
    else:
        event = NewEvent("ReportExported", common)
    uow.append(stream(export_id), STREAM_TYPE, ANY_VERSION, [event],
               reason=row["purpose"] or f"ekspor {report.name}")
    return view(_row(uow, export_id))


def _record_subjects(uow, export_id: str, nips) -> int:
    """The NIPs released, read back from the spooled file a batch at a time (COPY would be
    one statement, but psycopg2 refuses it under eventlet's wait callback), once each."""
    from psycopg2.extras import execute_values

    cur = uow.dbapi.cursor()
    while True:
        batch = [(export_id, line.strip()) for line in itertools.islice(nips, SUBJECT_BATCH)
                 if line.strip()]
        if not batch:
            break
        execute_values(cur, "INSERT INTO disclosed_subjects (export_id, nip) VALUES %s "
                            "ON CONFLICT DO NOTHING", batch, template="(%s::uuid, %s)",
                       page_size=SUBJECT_BATCH)
    cur.execute("SELECT count(*) FROM disclosed_subjects WHERE export_id = %s::uuid",
                (export_id,))
    return cur.fetchone()[0]


def _record_disclosure(uow, records, report, row: dict, keys: list[str]) -> None:
    """The export in records' disclosure log (issue 17), before the file may be fetched: the
    export's id is the disclosure's (a retried export is the same disclosure); if records
    cannot record it, the export is not marked ready and nobody downloads it."""
    export_id = str(row["export_id"])
    nips = [r[0] for r in uow.execute(
        "SELECT nip FROM disclosed_subjects WHERE export_id = CAST(:id AS uuid)",
        {"id": export_id})]
    try:
        _disclose(records, export_id, report, row, keys, nips,
                  report.disclosure(uow, row) if report.disclosure else {})
    except UnknownService:  # records not running: try again on a later tick, file held back
        raise StoreUnavailable("records tidak dapat mencatat pengungkapan", field="service",
                               code="disclosure_unrecorded") from None


def _disclose(records, export_id: str, report, row: dict, keys: list[str], nips,
              overrides: dict) -> None:
    """`overrides`: the report's own channel, recipient, basis (a data request's release)."""
    records.record_disclosure({
        "disclosure_id": export_id, "channel": "export",
        "recipient": {"kind": "account", "id": row["account_id"], "name": None},
        "basis": {"kind": "export", "reference": export_id},
        "purpose": row["purpose"] or f"ekspor {report.name}", "fields": keys, "nips": nips,
        "reference": f"export:{export_id} {report.name}.{row['format']}", **overrides})


def _notes(report: reports.Report, row: dict, today: date) -> list[str]:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items())) or "tanpa filter"
    notes = [f"Filter: {shown}",
             f"Diekspor oleh {row['account_id']} ({', '.join(row['roles'])}) pada "
             f"{today.isoformat()}"]
    if row["purpose"]:
        notes.append(f"Tujuan penggunaan: {row['purpose']}")
    return notes


def _signed(signing, report, row: dict, columns: list, head: _Head, count: int, sha256: str,
            notes: list[str], settings) -> str:
    """The official list issued and signed by the signing service; its document id."""
    listed = head.kept if count <= settings.signed_max_rows else []
    values = {
        "judul": report.title, "filter": notes[0].removeprefix("Filter: "),
        "jumlah_baris": count, "sha256_daftar": grouped(sha256),
        "rujukan": f"ekspor {row['export_id']} (PDF lengkap, SHA-256 {sha256})",
        "kolom": [c.title for c in columns],
        "baris": [[formats.cell(v) for v in r] for r in listed]}
    document = signing.issue_document({
        "subject": f"export:{row['export_id']}", "document_key": SIGNED_DOCUMENT,
        "signer": row["signer"], "values": values})
    if document.get("status") != "signed":
        raise ValidationFailed(f"daftar resmi belum ditandatangani ({document.get('status')}): "
                               f"{document.get('last_error') or ''}"[:300], field="signer",
                               code="official_not_signed")
    return document["document_id"]


def _release(db, export_id: str, runner: str) -> None:
    with db.transaction() as uow:
        uow.execute("UPDATE exports SET runner = NULL, claimed_at = NULL WHERE export_id = "
                    "CAST(:id AS uuid) AND runner = :runner AND status = 'running'",
                    {"id": export_id, "runner": runner})


def grouped(sha256: str) -> str:
    """The digest in four groups of 16 (a line of the signed document holds it; `sha256sum`'s
    output is compared group by group)."""
    return " ".join(sha256[i:i + 16] for i in range(0, 64, 16))


def _fail(db, export_id: str, code: str, message: str) -> None:
    with db.transaction(reason="ekspor gagal") as uow:
        row = _row(uow, export_id, lock=True)
        if row["status"] != "running":
            return
        uow.execute("UPDATE exports SET status = 'failed', error = :err, "
                    "finished_at = clock_timestamp() WHERE export_id = CAST(:id AS uuid)",
                    {"err": f"{code}: {message}"[:1000], "id": export_id})
        uow.append(stream(export_id), STREAM_TYPE, ANY_VERSION, [NewEvent("ExportFailed", {
            "report": row["report"], "format": row["format"], "code": code,
            "message": message[:1000]})])


# -- the disclosure log ----------------------------------------------------------------------

def disclosures(uow, actor: Principal, query: dict) -> list[dict]:
    """Personal-data exports, newest first: BKD and auditors (issue 17 builds the pegawai's own
    view and the agency API on the same tables)."""
    actor.require(*OVERSEERS)
    where, params = ["e.personal", "e.status = 'ready'"], {"limit": query["limit"],
                                                           "offset": query["offset"]}
    for key in ("account_id", "report"):
        if query.get(key):
            where.append(f"e.{key} = :{key}")
            params[key] = query[key]
    if query.get("nip"):
        where.append("EXISTS (SELECT 1 FROM disclosed_subjects s WHERE s.export_id = "
                     "e.export_id AND s.nip = :nip)")
        params["nip"] = query["nip"]
    rows = uow.execute(
        "SELECT e.export_id, e.account_id, e.roles, e.report, e.params, e.format, "  # noqa: S608 - fixed pieces only; every value is a bound parameter
        "e.row_count, e.sha256, e.purpose, e.finished_at FROM exports e WHERE "
        + " AND ".join(where) + " ORDER BY e.finished_at DESC, e.export_id LIMIT :limit "
        "OFFSET :offset", params).mappings().all()
    return [{"export_id": str(r["export_id"]), "recipient": r["account_id"],
             "recipient_roles": list(r["roles"]), "report": r["report"], "params": r["params"],
             "format": r["format"], "rows": r["row_count"], "sha256": r["sha256"],
             "purpose": r["purpose"], "disclosed_at": r["finished_at"].isoformat()}
            for r in rows]


# -- charts ----------------------------------------------------------------------------------

def chart(uow, actor: Principal, name: str, fmt: str, raw_params: dict,
          holidays: frozenset = frozenset()) -> tuple[str, bytes]:
    """The chart of statistic `name` as the caller sees it: (content type, bytes)."""
    report = report_named(name)
    if report.personal:
        raise ValidationFailed("grafik hanya untuk statistik, bukan daftar perorangan",
                               field="name", code="not_a_statistic")
    params = load_params(report, raw_params)
    columns = report.columns(params)
    rows = list(itertools.islice(reports.read(report, uow, actor, params, today_wib(), holidays),
                                 charts.MAX_ROWS + 1))
    try:
        drawn = charts.from_report(report.title, columns, rows,
                                   report.chart(params) if report.chart else None)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="name", code="not_chartable") from None
    if fmt == "png":
        return "image/png", charts.png(drawn)
    return "image/svg+xml", charts.svg(drawn)
