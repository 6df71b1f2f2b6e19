"""Nameko entrypoints of the signing service: output documents produced and signed when a
request is approved (or when another service asks), revocation and re-issue, public
verification, signed checkpoints of every service's log. The work is in usecases/."""

from __future__ import annotations

from nameko.timer import timer

from services.signing import signers
from services.signing.dependencies import SigningWork
from services.signing.events import REGISTRY
from services.signing.usecases import (
    SYSTEM,
    checkpoints,
    issuing,
    outputs,
    renewing,
    verifying,
)
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.contracts import signing as c
from shared.db import Database
from shared.errors import Conflict
from shared.objectstore import DocumentStore
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import ServiceBase, rpc

#: the documents produced for approved requests and issued warnings: not rebuildable (a replay
#: would sign again), but caught up like every subscription
DOCUMENTS = "signing.documents"


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

    # -- what asks for a document ----------------------------------------------------------------

    @idempotent_handler("requests", "SigningStarted", subscription=DOCUMENTS)
    def on_signing_started(self, uow, event):
        """An approved request: its output, signed by the approving administrator."""
        self.context.update(SYSTEM)
        issuing.for_approved_request(uow, self.work, self.requests, self.records, event)

    @idempotent_handler("verification", "WarningIssued", subscription=DOCUMENTS)
    def on_warning_issued(self, uow, event):
        """An issued teguran tertulis, signed by the administrator who issued it."""
        self.context.update(SYSTEM)
        issuing.for_warning(uow, self.work, self.verification, self.records, event)

    @rpc
    def issue_document(self, payload):
        """Produce and sign a document now: answered once it is signed, or with its failure."""
        data = load(c.IssueDocument(), payload)
        return issuing.issue(self.db, self.documents, self.work, self.records, self._actor(),
                             data)

    @timer(interval=issuing.TAKEOVER_TICK, eager=True)
    def produce_due(self):
        """Documents a crash (a runner whose process died), a failure or a missing key left:
        taken over at once, or tried again with backoff."""
        self.context.update(SYSTEM)
        issuing.produce_due(self.db, self.documents, self.work)

    @timer(interval=3600)
    def renew_archive_timestamps(self):
        """B-LTA documents whose archive time stamp's TSA certificate ends within
        SIGNING_RENEW_WINDOW_DAYS get a fresh one (docs/design/long-term-validation.md)."""
        self.context.update(SYSTEM)
        if self.work.signers.tsa_url is not None:
            renewing.renew_due(self.db, self.documents,
                               lambda pdf: signers.renew(self.work.signers, pdf),
                               self.work.renew_window_days)

    @rpc
    def renew_timestamps(self):
        """The renewal now (`simasn signing renew-timestamps`, administrators): counts of
        documents renewed, skipped and failed."""
        Principal.from_context(self.context).require("system", "administrator")
        return renewing.renew_due(self.db, self.documents,
                                  lambda pdf: signers.renew(self.work.signers, pdf),
                                  self.work.renew_window_days)

    @rpc
    def official_status(self, account_id):
        """Whether BSrE would sign for an official now (`simasn signing official-status`,
        administrators; SIGNING_BACKEND=bsre): the NIK the key store names, masked, and BSrE's
        status of its certificate."""
        Principal.from_context(self.context).require("system", "administrator")
        status = getattr(self.work.signers, "official_status", None)
        if status is None:
            raise Conflict("penandatangan tidak memakai BSrE (SIGNING_BACKEND bukan bsre)",
                           field="signer", code="not_bsre")
        return status(str(account_id)[:64])

    # -- administrators: the work list, retries, revocation, re-issue ----------------------------

    @rpc
    def list_documents(self, status=None, limit=100, filters=None):
        """`filters`: {nip, document_type, request_id, offset} (shared/contracts/signing.py
        DocumentFilters), each optional."""
        data = load(c.DocumentFilters(), filters or {})
        with self.db.transaction() as uow:
            return outputs.listing(uow, self._actor(), status, limit, data)

    @rpc
    def my_documents(self, query):
        """The caller's own signed documents, newest first, a page at a time."""
        data = load(c.OwnDocumentQuery(), query or {})
        with self.db.transaction() as uow:
            return c.SignedDocument(many=True).dump(
                outputs.own(uow, self._actor(), data["limit"], data["offset"]))

    @rpc
    def opd_documents(self, query):
        """A fasilitator's OPDs' signed outputs, newest first, a page at a time."""
        data = load(c.OpdDocumentQuery(), query or {})
        with self.db.transaction() as uow:
            return c.SignedDocument(many=True).dump(outputs.opd_listing(uow, self._actor(), data))

    @rpc
    def sign_document(self, document_id, payload):
        """The signing official signs a document waiting for them with their BSrE passphrase
        or their BeSign app's one-time code (used once, never stored or logged)."""
        data = load(c.PassphraseSigning(), payload)
        return issuing.sign_with_passphrase(self.db, self.documents, self.work, self._actor(),
                                            document_id, data.pop("passphrase", None),
                                            totp=data.pop("totp", None))

    @rpc
    def get_document(self, document_id):
        """An output document's details: BKD, auditors, and the employee it concerns."""
        with self.db.transaction() as uow:
            return outputs.read(uow, self._actor(), document_id)

    @rpc
    def request_output(self, request_id):
        """The output document of a request (the newest, whatever its status)."""
        with self.db.transaction() as uow:
            return outputs.request_output(uow, self._actor(), request_id)

    @rpc
    def authorize_download(self, document_id):
        """May the caller fetch this signed PDF? The download is logged before the bytes
        leave."""
        return outputs.authorize_download(self.db, self.documents, self._actor(), document_id)

    @rpc
    def retry_document(self, document_id):
        return outputs.retry(self.db, self.documents, self.work, self._actor(), document_id)

    @rpc
    def revoke_document(self, document_id, payload):
        data = load(c.Revocation(), payload)
        with self.db.transaction() as uow:
            return outputs.revoke(uow, self._actor(), document_id, data["reason"],
                                  data.get("decree"))

    @rpc
    def reissue_document(self, document_id, payload):
        """A corrected document replaces this one (new number); the old one reads superseded."""
        data = load(c.Reissue(), payload)
        return outputs.reissue(self.db, self.documents, self.work, self._actor(), document_id,
                               data["reason"], context=self.context, records=self.records,
                               requests=self.requests)

    # -- signed checkpoints of every service's log --------------------------------------------

    @timer(interval=checkpoints.TICK, eager=True)
    def checkpoint_due(self):
        """Once a log grows, its new head is signed within SIGNING_CHECKPOINT_SECONDS (60 by
        default): at most one checkpoint per interval, none while nothing grows; replicas agree
        through a lock. Then every checkpoint not yet in the witness is written there."""
        self.context.update(SYSTEM)
        checkpoints.tick(self.db, self.work)

    @rpc
    def sign_checkpoint(self):
        """A checkpoint now (e.g. before an audit or a migration)."""
        return checkpoints.on_demand(self.db, self.work, self._actor())

    @rpc
    def audit_status(self):
        """Each log's chain status by the newest signed checkpoint, and the witness's."""
        return c.AuditStatus().dump(checkpoints.status(self.db, self.work, self._actor()))

    @rpc
    def list_checkpoints(self, limit=50):
        with self.db.transaction() as uow:
            return checkpoints.listing(uow, self._actor(), limit)

    # -- published checkpoints (no login) ----------------------------------------------------------

    @rpc
    def public_checkpoints(self, payload=None):
        """The checkpoints anyone may fetch: the witness's when one is configured, else the
        signing log's; positions only."""
        query = load(c.PublicCheckpointQuery(), payload or {})
        return c.PublicCheckpointList().dump(
            checkpoints.published(self.db, self.work, query["after"], query["limit"]))

    @rpc
    def public_checkpoint(self, position):
        """One published checkpoint (a position, or `latest`), as the witness holds it."""
        return c.PublicCheckpoint().dump(checkpoints.published_one(self.db, self.work, position))

    # -- public verification (no login) ------------------------------------------------------------

    @rpc
    def verify_document(self, document_id):
        with self.db.transaction() as uow:
            answer = verifying.document(uow, self.documents, self.work.keystore.trust_roots,
                                        document_id, self.work.online_timeout)
        return c.VerificationAnswer().dump(answer)

    @rpc
    def verify_pdf(self, payload):
        data = load(c.VerifyUpload(), payload)
        with self.db.transaction() as uow:
            answer = verifying.upload(uow, data["pdf_base64"], self.work.keystore.trust_roots,
                                      self.work.online_timeout)
        return c.VerificationAnswer().dump(answer)
