"""Nameko entrypoints of the records service."""

from datetime import datetime

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.records import employees, imports, uploads
from services.records.documents import DocumentPolicy
from services.records.events import REGISTRY
from services.records.sandbox import ParseSandbox, SandboxLimits
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.contracts import records as c
from shared.db import Database, ServiceDatabase
from shared.errors import ConfigError, Forbidden, NotFound, ValidationFailed
from shared.idempotency import once
from shared.logging import get_logger
from shared.objectstore import DocumentStore
from shared.schemas import load
from shared.service import ServiceBase, rpc

log = get_logger(__name__)


#: completed layanan applied to the record: caught up like every subscription, never rebuilt
#: (its effects are events in the records log, which a replay would append again)
OUTCOMES = "records.outcomes"


class DocumentChecks(DependencyProvider):
    """How uploads are judged, from config. The readability policy (DOCUMENT_MAX_BYTES,
    DOCUMENT_MIN_WIDTH/HEIGHT, DOCUMENT_BLANK_STDDEV, DOCUMENT_MAX_PDF_PAGES): what "clearly
    readable" means is BKD's call, not code. The parsing sandbox (DOCUMENT_PARSE_TIMEOUT,
    DOCUMENT_PARSE_MEMORY_MB, DOCUMENT_PARSE_WORKERS): its worker processes end with the
    container."""

    POLICY = {"DOCUMENT_MAX_BYTES": ("max_bytes", int), "DOCUMENT_MIN_WIDTH": ("min_width", int),
              "DOCUMENT_MIN_HEIGHT": ("min_height", int),
              "DOCUMENT_BLANK_STDDEV": ("blank_stddev", float),
              "DOCUMENT_MAX_PDF_PAGES": ("max_pdf_pages", int)}
    SANDBOX = {"DOCUMENT_PARSE_TIMEOUT": ("timeout_s", float),
               "DOCUMENT_PARSE_MEMORY_MB": ("memory_bytes", lambda raw: int(raw) << 20),
               "DOCUMENT_PARSE_WORKERS": ("workers", int)}

    def _values(self, keys: dict, positive: bool = False) -> dict:
        values = {}
        for key, (name, kind) in keys.items():
            raw = self.container.config.get(key)
            if raw in (None, ""):
                continue
            try:
                values[name] = kind(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} harus berupa angka", field=key) from None
            if positive and values[name] <= 0:
                raise ConfigError(f"{key} harus lebih dari 0", field=key)
        return values

    def setup(self):
        self.policy = DocumentPolicy(**self._values(self.POLICY))
        self.sandbox = ParseSandbox(SandboxLimits(**self._values(self.SANDBOX, positive=True)))

    def stop(self):
        self.sandbox.close()

    def kill(self):
        self.sandbox.close()

    def get_dependency(self, worker_ctx):
        return self


class ImportJobs(DependencyProvider):
    """Runs import jobs in managed threads of this container; a job whose runner went quiet
    (crash, redeploy) is taken over by any replica's timer (IMPORT_STALE_SECONDS)."""

    def setup(self):
        config = self.container.config
        try:
            self.stale_seconds = float(config.get("IMPORT_STALE_SECONDS") or 60)
            self.max_attempts = int(config.get("IMPORT_MAX_ATTEMPTS") or 3)
            self.chunk_rows = int(config.get("IMPORT_CHUNK_ROWS") or imports.CHUNK_ROWS)
        except (TypeError, ValueError):
            raise ConfigError("IMPORT_* harus berupa angka", field="IMPORT_CHUNK_ROWS") from None

    def get_dependency(self, worker_ctx):
        return self

    def launch(self, db: ServiceDatabase, store, import_id: str | None) -> str | None:
        """Claim `import_id` (or any stale job) and run it in the background."""
        with db.engine.connect() as conn:
            claimed = imports.claim(conn.connection.dbapi_connection, db.store.schema, import_id,
                                    self.stale_seconds, self.max_attempts)
        if claimed is None:
            return None
        job_id, runner = claimed

        def db_for(context: dict) -> ServiceDatabase:
            return ServiceDatabase(db.engine, db.store, context, db.config)

        def work():
            try:
                status = imports.run(db_for, store, job_id, runner, self.chunk_rows)
                log.info("import_finished", import_id=job_id, status=status)
            except imports.LostJob:
                log.warning("import_taken_over", import_id=job_id)
            except Exception:
                # left running: another attempt resumes after its last committed chunk
                log.exception("import_crashed", import_id=job_id)

        self.container.spawn_managed_thread(work, identifier=f"import-{job_id}")
        return job_id


class RecordsService(ServiceBase):
    """The event-sourced employee master record (one aggregate per NIP) and its documents."""

    name = "records"
    db = Database(REGISTRY)
    documents = DocumentStore()
    document_checks = DocumentChecks()
    import_jobs = ImportJobs()

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    @rpc
    def register_employee(self, payload, reason):
        payload = {k: v for k, v in (payload or {}).items() if k != "reason"} \
            if isinstance(payload, dict) else payload
        data = load(REGISTRY.get("EmployeeRegistered").schema(), payload)
        data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
        with self.db.transaction() as uow:
            return once(uow, "register_employee", [payload, reason], lambda: employees.register(
                uow, self._actor(), data, str(reason)))

    @rpc
    def get_employee(self, nip, as_of=None):
        when = None
        if as_of is not None:
            try:
                when = datetime.fromisoformat(str(as_of))
            except ValueError:
                raise ValidationFailed("as_of harus waktu ISO 8601", field="as_of") from None
        with self.db.transaction() as uow:
            return employees.get(uow, self._actor(), str(nip), when)

    @rpc
    def record_for_rules(self, nip):
        """Internal: the full record for eligibility rules (never exposed by the gateway)."""
        with self.db.transaction() as uow:
            return employees.full_record_for_rules(uow, self._actor(), str(nip))

    @rpc
    def field_history(self, nip, field):
        with self.db.transaction() as uow:
            return employees.field_history(uow, self._actor(), str(nip), str(field))

    @rpc
    def record_history(self, nip, payload):
        data = load(c.HistoryRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "record_history", [nip, payload], lambda: employees.record_history(
                uow, self._actor(), str(nip), data))

    @rpc
    def propose_change(self, nip, payload):
        data = load(c.ProposalRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "propose_change", [nip, payload], lambda: employees.propose(
                uow, self._actor(), str(nip), data))

    @rpc
    def decide_change(self, nip, payload):
        data = load(c.DecisionRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "decide_change", [nip, payload], lambda: employees.decide(
                uow, self._actor(), str(nip), data))

    @idempotent_handler("requests", "RequestCompleted", subscription=OUTCOMES)
    def on_request_completed(self, uow, event):
        """A completed layanan changes the record (docs/design/layanan-outcomes.md)."""
        employees.apply_layanan_outcome(uow, event.stream_id.split(":", 1)[1], event.payload)

    # -- documents -----------------------------------------------------------------------------

    @rpc
    def upload_document(self, sha256, file_name=None, nip=None, created=False):
        """Check a file the gateway stored (by content: PDF/JPEG/PNG, readable, unlocked, not
        blank, within the size limit; parsed in the sandbox) and make it the document of
        employee `nip` (a pegawai: their own; staff name an employee of their OPDs), linkable
        by its hash. `created`: the gateway's put stored these bytes (the store did not hold
        them), so a refusal deletes them."""
        data = load(c.DocumentCheck(), {"sha256": sha256, "file_name": file_name, "nip": nip})
        checks = self.document_checks
        return uploads.upload(self.db, self._actor(), self.documents, checks.sandbox,
                              checks.policy, data["sha256"], data.get("file_name"),
                              data.get("nip"), created is True)

    @rpc
    def documents_not_owned(self, nip, hashes):
        """Internal: which of these hashes are not documents of employee `nip` (uploaded for
        them and checked); for a caller who may read that employee."""
        if not isinstance(hashes, list) or len(hashes) > 100:
            raise ValidationFailed("daftar hash dokumen (maksimal 100)", field="documents")
        with self.db.transaction() as uow:
            return employees.documents_not_owned(uow, self._actor(), str(nip)[:18],
                                                 [str(h)[:64] for h in hashes])

    @rpc
    def document_meta(self, sha256, nip):
        """Internal: what the checks found a document of employee `nip` to be (type judged by
        its bytes, size), for another service that serves it; absent unless it is theirs."""
        with self.db.transaction() as uow:
            meta = employees.owned_document(uow, self._actor(), str(nip)[:18], str(sha256)[:64])
        if meta is None:
            raise NotFound("dokumen tidak ditemukan pada data pegawai ini", field="sha256")
        return meta

    @rpc
    def attach_document(self, nip, payload):
        data = load(c.AttachRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "attach_document", [nip, payload],
                        lambda: employees.attach_document(uow, self._actor(), str(nip), data))

    @rpc
    def authorize_download(self, nip, sha256):
        with self.db.transaction() as uow:
            return employees.authorize_download(uow, self._actor(), str(nip), str(sha256)[:64])

    # -- bulk import -----------------------------------------------------------------------------

    @rpc
    def start_import(self, payload):
        """Start importing a stored CSV/XLSX file of one OPD's employees; the header is checked
        now, the rows in the background (`get_import` reports progress and problems)."""
        data = load(c.ImportRequest(), payload)
        actor = self._actor()
        if not employees.may_maintain(actor, data["opd_id"]):
            raise Forbidden("hanya administrator atau fasilitator OPD ini", field="opd_id")
        first = next(iter(self.documents.open(data["sha256"])), b"")
        kind = imports.sniff_kind(first)
        header = next(imports.read_rows(self.documents.open(data["sha256"]), kind), None)
        if header is None:
            raise imports.ImportRejected("berkas tidak berisi baris data", field="file")
        columns = set(header[1])
        if "catatan_kesehatan" in columns and not actor.has("administrator"):
            raise Forbidden("kolom catatan_kesehatan hanya boleh diimpor administrator",
                            field="file")
        with self.db.transaction() as uow:
            import_id = imports.start(uow, actor, dict(self.context), data, kind)
        self.import_jobs.launch(self.db, self.documents, import_id)
        return self.get_import(import_id)

    @rpc
    def get_import(self, import_id, offset=0, limit=100):
        query = load(c.ImportReportQuery(), {"offset": offset, "limit": limit})
        with self.db.engine.connect() as conn:
            job = imports.view(conn.connection.dbapi_connection, self.db.store.schema,
                               self._actor(), str(import_id)[:64], query["offset"],
                               query["limit"])
            conn.rollback()
        if job is None:
            raise NotFound(f"impor {str(import_id)[:64]} tidak ditemukan", field="import_id")
        return job

    @timer(interval=5)
    def resume_stale_imports(self):
        self.import_jobs.launch(self.db, self.documents, None)
