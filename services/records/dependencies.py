"""The records service's composition point: its Nameko DependencyProviders, built in `setup()`
from config (never at import time). `DocumentChecks` is how uploads are judged (readability
policy and the parsing sandbox), `ImportJobs` runs import jobs in managed threads of the
container. The database (`shared.db.Database`) and the document store
(`shared.objectstore.DocumentStore`) are the shared providers."""

from nameko.extensions import DependencyProvider

from services.records.documents import DocumentPolicy
from services.records.sandbox import ParseSandbox, SandboxLimits
from services.records.usecases import imports
from services.records.usecases.staging import EmployeeCache
from shared.db import ServiceDatabase
from shared.errors import ConfigError
from shared.logging import get_logger

log = get_logger(__name__)


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


class EmployeeCaches(DependencyProvider):
    """The process's cache of employees rebuilt for a region's batch (usecases/staging.py),
    shared by its workers: a kabupaten/kota's next batch mostly changes the same employees, and
    rebuilding them from their streams was most of a batch's work. Each entry is checked
    against the log before use. RECORDS_EMPLOYEE_CACHE employees at most (0: no cache)."""

    def setup(self):
        raw = self.container.config.get("RECORDS_EMPLOYEE_CACHE")
        try:
            size = 10_000 if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            raise ConfigError("RECORDS_EMPLOYEE_CACHE harus berupa angka",
                              field="RECORDS_EMPLOYEE_CACHE") from None
        if size < 0:
            raise ConfigError("RECORDS_EMPLOYEE_CACHE tidak boleh negatif",
                              field="RECORDS_EMPLOYEE_CACHE")
        self.cache = EmployeeCache(size) if size else None

    def get_dependency(self, worker_ctx):
        return self.cache
