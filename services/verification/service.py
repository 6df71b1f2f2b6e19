"""Nameko entrypoints of the verification service: the queues per OPD (built from the requests
and records events), claiming an item so two verifiers never work on it at once, documents
found not original, the employee's inbox. Each validates its payload, runs one use case
(services/verification/usecases/) in one unit of work and returns its answer."""

from services.verification.events import REGISTRY
from services.verification.usecases import cases, claims, inbox, queues
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.contracts import verification as v
from shared.db import Database
from shared.idempotency import once
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import Holidays, ServiceBase, rpc

#: the read model the requests and records events build here: the verification queues and the
#: employees' in-app inbox (`simasn projections rebuild verification.queue`)
QUEUE = "verification.queue"
#: how this service calls another when no person asks (reading an output document's employee)
SYSTEM = {"actor_id": "service:verification", "actor_role": "system",
          "actor_roles": ["system"], "actor_scope": []}


class VerificationService(ServiceBase):
    """Verification queues for fasilitator and administrator, document checks."""

    name = "verification"
    db = Database(REGISTRY)
    holidays = Holidays()
    requests = RpcProxy("requests")
    records = RpcProxy("records")
    signing = RpcProxy("signing")
    #: how `simasn projections rebuild` empties a read model before replaying it from zero
    #: (usecases/queues.py: claims and read notifications stay)
    rebuildable = {QUEUE: queues.RESET}

    # -- the queue and the inbox, from the requests and records events -----------------------------

    @idempotent_handler("requests", "RequestSubmitted", subscription=QUEUE)
    def on_request_submitted(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "VerificationStarted", subscription=QUEUE)
    def on_verification_started(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "RequestReturned", subscription=QUEUE)
    def on_request_returned(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "RequestVerified", subscription=QUEUE)
    def on_request_verified(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "RequestApproved", subscription=QUEUE)
    def on_request_approved(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "RequestRejected", subscription=QUEUE)
    def on_request_rejected(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "RequestWithdrawn", subscription=QUEUE)
    def on_request_withdrawn(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("requests", "RequestCompleted", subscription=QUEUE)
    def on_request_completed(self, uow, event):
        queues.request_moved(uow, event)

    @idempotent_handler("reporting", "ConsentRequested", subscription=QUEUE)
    def on_consent_requested(self, uow, event):
        """A data request asks this pegawai for consent: a line in their inbox."""
        inbox.notify(uow, event)

    # -- the employee told of their output documents (signed, revoked, replaced) -----------------

    @idempotent_handler("signing", "DocumentSigned", subscription=QUEUE)
    def on_document_signed(self, uow, event):
        inbox.document_changed(uow, event, self._document_of(event))

    @idempotent_handler("signing", "DocumentRevoked", subscription=QUEUE)
    def on_document_revoked(self, uow, event):
        inbox.document_changed(uow, event, self._document_of(event))

    @idempotent_handler("signing", "DocumentSuperseded", subscription=QUEUE)
    def on_document_superseded(self, uow, event):
        inbox.document_changed(uow, event, self._document_of(event))

    def _document_of(self, event) -> dict:
        """The document an event is about, read as this service: its employee's NIP is never
        on the bus for a confidential one."""
        caller = dict(self.context)
        self.context.clear()
        self.context.update(SYSTEM)
        try:
            return self.signing.get_document(event.stream_id.split(":", 1)[1])
        finally:
            self.context.clear()
            self.context.update(caller)

    @idempotent_handler("records", "ChangeProposed", subscription=QUEUE)
    def on_change_proposed(self, uow, event):
        queues.change_proposed(uow, event)

    @idempotent_handler("records", "ChangeApplied", subscription=QUEUE)
    def on_change_applied(self, uow, event):
        queues.change_decided(uow, event)

    @idempotent_handler("records", "ChangeRejected", subscription=QUEUE)
    def on_change_rejected(self, uow, event):
        queues.change_decided(uow, event)

    # -- documents found not original --------------------------------------------------------------

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    @rpc
    def report_fake_document(self, payload):
        data = load(v.FakeDocumentReport(), payload)
        actor = self._actor()
        subject = cases.subject_of(self.requests, data)  # with the caller's read rights
        with self.db.transaction() as uow:
            return once(uow, "report_fake_document", payload,
                        lambda: cases.report(uow, actor, data, subject))

    @rpc
    def fake_document_cases(self, status=None):
        with self.db.transaction() as uow:
            return cases.listing(uow, self._actor(), status)

    @rpc
    def issue_warning(self, case_id, payload):
        data = load(v.CaseDecision(), payload)
        actor = self._actor()
        actor.require("administrator")  # before a repeat is answered from its key
        with self.db.transaction() as uow:
            return once(uow, "issue_warning", [case_id, payload], lambda: cases.issue_warning(
                uow, actor, self.records, case_id, data["reason"]))

    @rpc
    def get_case(self, case_id):
        with self.db.transaction() as uow:
            return cases.read(uow, self._actor(), case_id)

    @rpc
    def dismiss_case(self, case_id, payload):
        data = load(v.CaseDecision(), payload)
        with self.db.transaction() as uow:
            return once(uow, "dismiss_case", [case_id, payload], lambda: cases.dismiss(
                uow, self._actor(), case_id, data["reason"]))

    # -- the employee's inbox ----------------------------------------------------------------------

    @rpc
    def inbox(self, unread_only=False):
        with self.db.transaction() as uow:
            return inbox.listing(uow, self._actor(), unread_only)

    @rpc
    def inbox_updates(self, query):
        """The caller's notifications after a cursor, and how many are unread (polled)."""
        data = load(v.InboxUpdatesQuery(), query)
        with self.db.transaction() as uow:
            return v.InboxUpdates().dump(inbox.updates(uow, self._actor(), int(data["after"]),
                                                       data["limit"]))

    @rpc
    def mark_read(self, notification_id):
        with self.db.transaction() as uow:
            return inbox.mark_read(uow, self._actor(), notification_id)

    # -- the queues and claims ---------------------------------------------------------------------

    @rpc
    def queue(self, opd_id=None):
        with self.db.transaction() as uow:
            return queues.listing(uow, self._actor(), opd_id, self.holidays.days)

    @rpc
    def claim(self, item_id):
        """Take an item to work on; a second verifier gets a conflict naming who holds it (a
        claim lapses after an hour without a decision). Each claim is logged."""
        with self.db.transaction() as uow:
            return claims.claim(uow, self._actor(), item_id)
