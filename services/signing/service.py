"""Nameko entrypoints of the signing service: output documents produced and signed when a
request is approved (or when another service asks), revocation and re-issue, public
verification, signed checkpoints of every service's log."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid

from eventlet import tpool
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.signing import checkpoints, domain, issuing, pdfsign, verifying
from services.signing.events import REGISTRY
from services.signing.keystore import Keystore
from services.signing.signers import SignerPool
from shared import SERVICES
from shared.auth import Principal
from shared.canonical import SQL_TIMESTAMP_TEXT
from shared.consumer import idempotent_handler
from shared.contracts import signing as c
from shared.db import Database, ServiceDatabase
from shared.errors import ConfigError, NotFound, SimasnError, ValidationFailed
from shared.eventstore import NewEvent
from shared.logging import get_logger
from shared.objectstore import DocumentStore
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import ServiceBase, rpc
from shared.witness import FORMAT, object_name, parse, witness_from_config

log = get_logger(__name__)
#: seconds between two looks at the logs' heads (a checkpoint is made once one grew)
CHECKPOINT_TICK = 5
#: the documents produced for approved requests and issued warnings: not rebuildable (a replay
#: would sign again), but caught up like every subscription
DOCUMENTS = "signing.documents"
SYSTEM = {"actor_id": "service:signing", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


def _check(pdf: bytes, trust_roots):
    """pyHanko's validation runs its own event loop: in an OS thread, never on the hub."""
    return tpool.execute(pdfsign.verify, pdf, trust_roots)


def _checkpoint_view(position: int, payload: dict) -> dict:
    return {"position": position, "signed_at": payload["signed_at"],
            "trigger": payload["trigger"], "certificate_serial": payload["certificate_serial"],
            "heads": {schema: {"position": head.get("position"), "hash": head.get("hash")}
                      for schema, head in payload["heads"].items()}}


class SigningWork(DependencyProvider):
    """The key store, the TSA and the runner that produces documents in this container: a
    document enqueued by a worker is produced once that worker's transaction has committed;
    the timer picks up what a crash or a missing key left behind."""

    def setup(self):
        config = self.container.config
        problems = domain.template_problems()
        if problems:
            raise ConfigError("; ".join(problems), field="output-documents.json")
        self.keystore = Keystore.from_config(config)
        self.verification_base = str(config.get("SIGNING_VERIFY_URL") or
                                     "https://simasn.bkd.jatimprov.go.id/verifikasi")
        try:
            self.stale_seconds = float(config.get("SIGNING_STALE_SECONDS") or 120)
        except (TypeError, ValueError):
            raise ConfigError("SIGNING_STALE_SECONDS harus angka",
                              field="SIGNING_STALE_SECONDS") from None
        try:
            processes = int(config.get("SIGNING_PROCESSES") if config.get("SIGNING_PROCESSES")
                            not in (None, "") else 1)
            if not 0 <= processes <= 32:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError("SIGNING_PROCESSES harus bilangan 0-32",
                              field="SIGNING_PROCESSES") from None
        self.signers = SignerPool(self.keystore, processes,
                                  str(config.get("SIGNING_TSA_URL") or "") or None)
        try:
            self.checkpoint_seconds = float(config.get("SIGNING_CHECKPOINT_SECONDS") or 60)
            if self.checkpoint_seconds <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError("SIGNING_CHECKPOINT_SECONDS harus angka positif",
                              field="SIGNING_CHECKPOINT_SECONDS") from None
        self.merkle_cache = checkpoints.MerkleCache()
        self.witness = witness_from_config(config)
        #: every checkpoint up to this position is in the witness (None: not looked yet)
        self.witnessed: int | None = None
        self.runner = f"{self.container.service_name}-{uuid.uuid4().hex[:8]}"
        self.pending: dict[str, list[str]] = {}

    def get_dependency(self, worker_ctx):
        self.pending[worker_ctx.call_id] = []
        return _Handle(self, worker_ctx.call_id)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        queued = self.pending.pop(worker_ctx.call_id, [])
        if exc_info is not None or not queued:
            return
        db = ServiceDatabase(self.db_dependency.engine, self.db_dependency.store, dict(SYSTEM),
                             self.db_dependency.config)
        store = self.store_dependency.store
        for document_id in queued:
            self.container.spawn_managed_thread(
                lambda d=document_id: self.run(db, store, d), identifier=f"sign-{document_id}")

    def worker_teardown(self, worker_ctx):
        self.pending.pop(worker_ctx.call_id, None)

    @property
    def db_dependency(self):
        return next(d for d in self.container.dependencies if isinstance(d, Database))

    @property
    def store_dependency(self):
        return next(d for d in self.container.dependencies if isinstance(d, DocumentStore))

    def run(self, db: ServiceDatabase, store, document_id: str,
            row: dict | None = None) -> dict | None:
        """Produce one document unless someone else is on it (`row`: already claimed); never
        raises (a failure is recorded on the document and retried by the timer). Returns the
        document once signed."""
        if row is None:
            with db.transaction() as uow:
                row = issuing.claim(uow, document_id, self.attempt(), self.stale_seconds)
            if row is None:
                return None
        try:
            produced = issuing.produce(row, self.keystore, self.verification_base,
                                       self.signers.sign, self.signers.pades_level)
            stored = store.put(produced.pdf, "application/pdf")
            with db.transaction() as uow:
                return issuing.record_signed(uow, row, produced, stored.sha256)
        except Exception as exc:  # noqa: BLE001 - recorded on the document, retried later
            log.warning("document_not_signed", document_id=document_id, error=str(exc))
            with db.transaction() as uow:
                issuing.record_failure(uow, document_id, row["runner"], exc)
            return None

    def attempt(self) -> str:
        return f"{self.runner}:{uuid.uuid4().hex[:8]}"

    def stop(self):
        self.signers.close()

    def kill(self):
        self.signers.close()


class _Handle:
    def __init__(self, work: SigningWork, call_id: str):
        self.work = work
        self.call_id = call_id

    def __getattr__(self, name):
        return getattr(self.work, name)

    def after_commit(self, document_id: str) -> None:
        self.work.pending.setdefault(self.call_id, []).append(document_id)


class SigningService(ServiceBase):
    """Rendering and electronically signing output documents, public verification."""

    name = "signing"
    db = Database(REGISTRY)
    documents = DocumentStore()
    work = SigningWork()
    requests = RpcProxy("requests")
    records = RpcProxy("records")
    verification = RpcProxy("verification")

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    # -- an approved request: its output document ------------------------------------------------

    @idempotent_handler("requests", "SigningStarted", subscription=DOCUMENTS)
    def on_signing_started(self, uow, event):
        """The approving administrator signs the request's output; the record is read as it
        was when the request was approved."""
        self.context.update(SYSTEM)
        request_id = event.stream_id.split(":", 1)[1]
        request = self.requests.get_request(request_id)
        record = self.records.get_employee(request["nip"], as_of=event.recorded_at)
        template = domain.template_for(request["layanan"])
        values = domain.context_for(template, record, {"options": request.get("options")})
        self._enqueue_for(uow, event, subject=f"request:{request_id}",
                          document_key=request["layanan"], values=values, nip=request["nip"],
                          request_id=request_id,
                          confidential=bool(event.payload.get("confidential")))

    @idempotent_handler("verification", "WarningIssued", subscription=DOCUMENTS)
    def on_warning_issued(self, uow, event):
        """A teguran tertulis an administrator issued for a document found not original: signed
        by that administrator, confidential (the employee and BKD see it)."""
        self.context.update(SYSTEM)
        case = self.verification.get_case(event.payload["case_id"])
        record = self.records.get_employee(case["nip"], as_of=event.recorded_at)
        template = domain.template_for("TEGURAN_TERTULIS")
        values = domain.context_for(template, record, {
            "alasan": case["warning"], "dokumen": case["document"]})
        self._enqueue_for(uow, event, subject=f"case:{case['case_id']}",
                          document_key="TEGURAN_TERTULIS", values=values, nip=case["nip"],
                          confidential=True)

    def _enqueue_for(self, uow, event, **order) -> None:
        """The document an event asks for, signed by whoever took the step and dated by it;
        produced once the consuming transaction has committed."""
        document_id, created = issuing.enqueue(uow, issuing.Order(
            signer=str(event.metadata.get("actor_id")), as_of=event.recorded_at, **order))
        if created:
            self.work.after_commit(document_id)

    def _require_certificate(self, account_id: str) -> None:
        if not self.work.keystore.has(account_id):
            raise ValidationFailed(f"{account_id} belum punya sertifikat tanda tangan",
                                   field="signer")

    def _produce_now(self, document_id: str, row: dict | None = None) -> dict:
        """Produce the document in this worker and answer it: signed, or as the attempt left
        it (failed, waiting for a key, taken by another runner)."""
        signed = self.work.run(self.db, self.documents, document_id, row)
        if signed is not None:
            return signed
        with self.db.transaction() as uow:
            return issuing.get(uow, document_id)

    @rpc
    def issue_document(self, payload):
        """Produce and sign a document now (another service's output, e.g. a written warning;
        or a benchmark): answered once it is signed, or with its failure."""
        data = load(c.IssueDocument(), payload)
        actor = self._actor()
        actor.require("system", "administrator")
        try:
            template = domain.template_for(data["document_key"])
        except domain.UnknownOutput:
            raise ValidationFailed(f"tidak ada templat dokumen {data['document_key']}",
                                   field="document_key") from None
        values = dict(data["values"])
        if data.get("nip"):
            record = self.records.get_employee(data["nip"])
            values = {**domain.context_for(template, record, {}), **values}
        self._require_certificate(data["signer"])
        with self.db.transaction() as uow:
            document_id, _ = issuing.enqueue(uow, issuing.Order(
                subject=data["subject"], document_key=data["document_key"],
                signer=data["signer"], values=values, nip=data.get("nip"),
                as_of=dt.datetime.now(dt.UTC).isoformat(), confidential=data["confidential"]))
            row = issuing.claim(uow, document_id, self.work.attempt(), self.work.stale_seconds)
        if row is None:  # an earlier call's document, produced or being produced
            with self.db.transaction() as uow:
                return issuing.get(uow, document_id)
        return self._produce_now(document_id, row)

    # -- administrators: the work list, retries, revocation, re-issue ----------------------------

    @rpc
    def list_documents(self, status=None, limit=100):
        self._actor().require("administrator", "auditor")
        if status is not None and status not in ("pending", "waiting_key", "failed", "signed",
                                                 "revoked", "superseded"):
            raise ValidationFailed("status tidak dikenal", field="status")
        with self.db.transaction() as uow:
            rows = uow.execute(
                f"SELECT {issuing.COLUMNS} FROM documents WHERE (CAST(:s AS text) IS NULL OR "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                "status = :s) ORDER BY created_at DESC LIMIT :limit",
                {"s": status, "limit": max(1, min(int(limit), 500))}).mappings().all()
        return [issuing.view(dict(row)) for row in rows]

    @rpc
    def get_document(self, document_id):
        """An output document's details: BKD, auditors, and the employee it concerns."""
        actor = self._actor()
        with self.db.transaction() as uow:
            document = issuing.get(uow, str(document_id)[:64])
        if not (actor.has("administrator", "auditor", "system")
                or (document["nip"] and document["nip"] == actor.account_id)):
            raise NotFound("dokumen tidak ditemukan", field="document_id")
        return document

    @rpc
    def request_output(self, request_id):
        """The output document of a request (the newest, whatever its status)."""
        with self.db.transaction() as uow:
            row = uow.execute("SELECT document_id FROM documents WHERE subject = :s ORDER BY "
                              "created_at DESC LIMIT 1",
                              {"s": f"request:{str(request_id)[:64]}"}).first()
        if row is None:
            raise NotFound("usulan ini belum punya dokumen keluaran", field="request_id")
        return self.get_document(str(row[0]))

    @rpc
    def authorize_download(self, document_id):
        """May the caller fetch this signed PDF? Those who may read it; the download is logged
        before the bytes leave. Returns what the gateway needs to stream it."""
        document = self.get_document(document_id)
        if document["sha256"] is None:
            raise NotFound("dokumen belum ditandatangani", field="document_id")
        with self.db.transaction() as uow:
            uow.append(f"document-downloads:{document['document_id']}", "DocumentAccess", None,
                       [NewEvent("DocumentDownloaded", {
                           "document_id": document["document_id"], "sha256": document["sha256"],
                           "confidential": document["confidential"]})],
                       reason="unduh dokumen keluaran")
        return {"sha256": document["sha256"], "content_type": "application/pdf",
                "size": self.documents.stat(document["sha256"]).size,
                "file_name": f"{document['document_type']}-{document['document_id'][:8]}.pdf"}

    @rpc
    def retry_document(self, document_id):
        self._actor().require("administrator")
        with self.db.transaction() as uow:
            document = issuing.get(uow, str(document_id)[:64])
            uow.execute("UPDATE documents SET attempts = 0, runner = NULL, updated_at = now() "
                        "WHERE document_id = :id AND status IN ('failed', 'waiting_key')",
                        {"id": document["document_id"]})
        return self._produce_now(document["document_id"])

    @rpc
    def revoke_document(self, document_id, payload):
        data = load(c.Revocation(), payload)
        self._actor().require("administrator")
        with self.db.transaction() as uow:
            return issuing.revoke(uow, str(document_id)[:64], data["reason"], data.get("decree"))

    @rpc
    def reissue_document(self, document_id, payload):
        """A corrected document replaces this one (new number); the old one reads superseded."""
        data = load(c.Reissue(), payload)
        actor = self._actor()
        actor.require("administrator")
        self._require_certificate(actor.account_id)
        with self.db.transaction() as uow:
            old = issuing.get(uow, str(document_id)[:64])
        values = self._fresh_values(old)
        with self.db.transaction() as uow:
            _, new_id = issuing.supersede(uow, old["document_id"], data["reason"],
                                          actor.account_id, values)
        return self._produce_now(new_id)

    def _fresh_values(self, old: dict) -> dict | None:
        """What a corrected document says: the employee's record as it is now (and the
        request's options); None when the document is not about an employee."""
        if not old["nip"]:
            return None
        with self.db.transaction() as uow:
            previous = uow.execute("SELECT values_json FROM documents WHERE document_id = :id",
                                   {"id": old["document_id"]}).scalar_one()
        caller = dict(self.context)
        self.context.update(SYSTEM)
        try:
            record = self.records.get_employee(old["nip"])
            options = (self.requests.get_request(old["request_id"]).get("options")
                       if old["request_id"] else None)
        finally:
            self.context.clear()
            self.context.update(caller)
        template = domain.template_for(old["document_key"])
        fresh = domain.context_for(template, record, {"options": options} if options else {})
        return {**previous, **{k: v for k, v in fresh.items() if v != "-"}}

    @timer(interval=15)
    def produce_due(self):
        """Documents a crash, a failure or a missing key left: tried again with backoff."""
        self.context.update(SYSTEM)
        with self.db.transaction() as uow:
            due = issuing.due(uow, self.work.stale_seconds)
        for document_id in due:
            self.work.run(self.db, self.documents, document_id)

    # -- signed checkpoints of every service's log --------------------------------------------

    @timer(interval=CHECKPOINT_TICK, eager=True)
    def checkpoint_due(self):
        """Once a log grows, its new head is signed within SIGNING_CHECKPOINT_SECONDS (60 by
        default): at most one checkpoint per interval, none while nothing grows; replicas agree
        through a lock. Then every checkpoint not yet in the witness is written there."""
        self.context.update(SYSTEM)
        self._checkpoint("timer", self.work.checkpoint_seconds)
        self._witness_backlog()

    @rpc
    def sign_checkpoint(self):
        """A checkpoint now (e.g. before an audit or a migration)."""
        self._actor().require("administrator", "system")
        return self._checkpoint("on_demand", None)

    def _checkpoint(self, trigger: str, min_age: float | None) -> dict | None:
        with self.db.transaction() as uow:
            if not uow.execute("SELECT pg_try_advisory_xact_lock(hashtext('signing.checkpoint'))"
                               ).scalar():
                if min_age is not None:
                    return None  # another replica is signing one right now
                uow.execute("SELECT pg_advisory_xact_lock(hashtext('signing.checkpoint'))")
            if min_age is not None and not self._grown_and_due(uow, min_age):
                return None
            heads = checkpoints.heads(uow.dbapi, SERVICES, cache=self.work.merkle_cache)
            # the seal as the key store has it now: one replaced (or taken out) by the operator
            # is used (or missed: 409 no_signing_key) without a restart, as officials' keys are
            self.work.keystore.refresh()
            payload = tpool.execute(checkpoints.sign, self.work.keystore.signer("seal"), heads,
                                    dt.datetime.now(dt.UTC), trigger,
                                    self.work.signers.timestamper)
            position = checkpoints.record(uow, payload)
        log.info("checkpoint_signed", position=position, trigger=trigger)
        self._witness_backlog()
        return _checkpoint_view(position, payload)

    def _grown_and_due(self, uow, min_age: float) -> bool:
        """A log grew since the last checkpoint, and that one is old enough that the next
        timer tick would come too late."""
        last = uow.execute("SELECT position, payload, extract(epoch FROM now() - recorded_at) "
                           "FROM events WHERE stream_id = :s ORDER BY position DESC LIMIT 1",
                           {"s": checkpoints.STREAM_ID}).first()
        if last is not None and float(last[2]) < min_age - CHECKPOINT_TICK:
            return False
        current = checkpoints.heads(uow.dbapi, SERVICES, merkle=False)
        return checkpoints.grew(
            None if last is None else {"position": last[0], "payload": last[1]}, current)

    def _witness_backlog(self, batch: int = 100) -> int:
        """Write to the witness every committed checkpoint it does not hold yet, oldest first,
        as read back from the log (so the bytes are the same whoever writes them). A witness
        that cannot be reached is tried again at the next tick; returns how many were new."""
        witness = self.work.witness
        if witness is None:
            return 0
        written = 0
        try:
            if self.work.witnessed is None:
                held = witness.positions()
                self.work.witnessed = held[-1] if held else 0
            while True:
                with self.db.transaction() as uow:
                    rows = uow.execute(
                        f"SELECT position, {SQL_TIMESTAMP_TEXT}, payload FROM events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "WHERE stream_id = :s AND event_type = :t AND position > :after "
                        "ORDER BY position LIMIT :n",
                        {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE,
                         "after": self.work.witnessed, "n": batch}).all()
                for position, recorded_at, payload in rows:
                    written += witness.put_checkpoint(position, recorded_at, payload)
                    self.work.witnessed = position
                if len(rows) < batch:
                    return written
        except SimasnError as exc:
            log.error("witness_behind", witness=witness.location, witnessed=self.work.witnessed,
                      code=exc.code, error=exc.message)
            return written

    @rpc
    def list_checkpoints(self, limit=50):
        self._actor().require("administrator", "auditor")
        with self.db.transaction() as uow:
            rows = uow.execute("SELECT position, payload FROM events WHERE stream_id = :s ORDER BY "
                               "position DESC LIMIT :n", {"s": checkpoints.STREAM_ID,
                                                         "n": max(1, min(int(limit), 500))}).all()
        return [_checkpoint_view(position, payload) for position, payload in rows]

    # -- published checkpoints (no login) ----------------------------------------------------------

    @rpc
    def public_checkpoints(self, payload=None):
        """The checkpoints anyone may fetch: the witness's when one is configured (what an
        auditor holds the database against), else the signing log's; positions only."""
        query = load(c.PublicCheckpointQuery(), payload or {})
        after, limit = query["after"], query["limit"]
        if self.work.witness is not None:
            positions = [p for p in self.work.witness.positions() if p > after]
            source = "witness"
        else:
            with self.db.transaction() as uow:
                positions = list(uow.execute(
                    "SELECT position FROM events WHERE stream_id = :s AND event_type = :t AND "
                    "position > :after ORDER BY position LIMIT :n",
                    {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE, "after": after,
                     "n": limit + 1}).scalars())
            source = "log"
        return c.PublicCheckpointList().dump({
            "checkpoints": [{"position": p} for p in positions[:limit]],
            "more": len(positions) > limit, "source": source})

    @rpc
    def public_checkpoint(self, position):
        """One published checkpoint (a position, or `latest`), as the witness holds it."""
        text = str(position)[:20]
        if text != "latest" and not text.isdigit():
            raise NotFound("checkpoint tidak ditemukan", field="position")
        if self.work.witness is not None:
            if text == "latest":
                positions = self.work.witness.positions()
                if not positions:
                    raise NotFound("belum ada checkpoint", field="position")
                text = str(positions[-1])
            if int(text) < 1:
                raise NotFound("checkpoint tidak ditemukan", field="position")
            try:
                held = self.work.witness.get(object_name(int(text)))
            except NotFound:  # its own message names the witness: not for anonymous callers
                raise NotFound("checkpoint tidak ditemukan", field="position") from None
            return c.PublicCheckpoint().dump(parse(held.data))
        with self.db.transaction() as uow:
            row = uow.execute(
                f"SELECT position, {SQL_TIMESTAMP_TEXT}, payload FROM events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                "WHERE stream_id = :s AND event_type = :t AND (:p = 0 OR position = :p) "
                "ORDER BY position DESC LIMIT 1",
                {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE,
                 "p": 0 if text == "latest" else int(text)}).first()
        if row is None or (text != "latest" and int(text) == 0):
            raise NotFound("checkpoint tidak ditemukan", field="position")
        return c.PublicCheckpoint().dump({"format": FORMAT, "position": row[0],
                                          "recorded_at": row[1], "payload": row[2]})

    # -- public verification (no login) ------------------------------------------------------------

    @rpc
    def verify_document(self, document_id):
        with self.db.transaction() as uow:
            answer = verifying.by_id(uow, str(document_id)[:64], self.documents,
                                     self.work.keystore.trust_roots, _check)
        return c.VerificationAnswer().dump(answer)

    @rpc
    def verify_pdf(self, payload):
        data = load(c.VerifyUpload(), payload)
        try:
            pdf = base64.b64decode(data["pdf_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("pdf_base64 bukan base64 yang sah", field="pdf_base64") from None
        with self.db.transaction() as uow:
            answer = verifying.by_upload(uow, pdf, self.work.keystore.trust_roots, _check)
        return c.VerificationAnswer().dump(answer)
