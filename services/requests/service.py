"""Nameko entrypoints of the requests service: each validates its payload, opens one unit of work
and calls one use case (services/requests/usecases/). A command that needs the employee's record
or documents from the records service asks for them first, outside its transaction."""

from services.requests.dependencies import CatalogueSeed
from services.requests.events import REGISTRY
from services.requests.usecases import catalogue, evaluation, lists, workflow
from shared.auth import Principal
from shared.calendar import today_wib
from shared.consumer import idempotent_handler
from shared.contracts import monev as m
from shared.contracts import requests as c
from shared.db import Database
from shared.errors import SimasnError, ValidationFailed
from shared.idempotency import once
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import Holidays, ServiceBase, rpc

#: the requests' side of the work other services do: a signed output completes its request, a
#: claim in verification goes on its timeline (not rebuildable: the effects are events here)
WORKFLOW = "requests.workflow"


def _today():
    return today_wib()


def _kode(kode) -> str:
    return str(kode)[:40]


def _id(request_id) -> str:
    return str(request_id)[:64]


class RequestsService(ServiceBase):
    """The catalogue of the 18 layanan kepegawaian and their request workflows."""

    name = "requests"
    db = Database(REGISTRY)
    catalogue_seed = CatalogueSeed()
    holidays = Holidays()
    records = RpcProxy("records")
    signing = RpcProxy("signing", signs={"issue_document"})

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    def _nip_of(self, request_id) -> str:
        """The request's employee (read rights on the request first), for the records calls a
        command on it makes before its own transaction."""
        with self.db.transaction() as uow:
            return workflow.get(uow, self._actor(), _id(request_id))["nip"]

    def _refuse_documents_not_owned(self, nip: str, documents: dict | None) -> None:
        """Records says which of these hashes are not this employee's checked uploads."""
        hashes = sorted(set((documents or {}).values()))
        foreign = self.records.documents_not_owned(nip, hashes) if hashes else []
        workflow.refuse_documents_not_owned(nip, documents, foreign)

    def _owned_document(self, nip: str, sha256: str) -> dict | None:
        """What records knows of this document of this employee; None when it is not theirs."""
        try:
            return self.records.document_meta(sha256, nip)
        except SimasnError as exc:
            if exc.code == "not_found":
                return None
            raise

    # -- catalogue -----------------------------------------------------------------------------

    @rpc
    def list_layanan(self):
        self._actor()
        with self.db.transaction() as uow:
            return catalogue.list_catalogue(uow)

    @rpc
    def get_layanan(self, kode):
        self._actor()
        with self.db.transaction() as uow:
            return catalogue.layanan(uow, _kode(kode))

    @rpc
    def change_layanan(self, kode, payload):
        data = load(c.LayananChange(), payload)
        with self.db.transaction() as uow:
            return once(uow, "change_layanan", [kode, payload], lambda: catalogue.change_layanan(
                uow, self._actor(), _kode(kode), data))

    @rpc
    def deactivate_layanan(self, kode, payload):
        data = load(c.LayananDeactivation(), payload)
        with self.db.transaction() as uow:
            return once(uow, "deactivate_layanan", [kode, payload],
                        lambda: catalogue.deactivate_layanan(uow, self._actor(), _kode(kode),
                                                             data))

    @rpc
    def eligibility(self, kode, nip):
        """Is this employee eligible for this layanan today, rule by rule, and if not, when."""
        record = self.records.record_for_rules(str(nip))
        with self.db.transaction() as uow:
            return workflow.eligibility(uow, self._actor(), _kode(kode), record, _today())

    @rpc
    def eligibility_overview(self, nip):
        """Every active layanan for this employee today (the web application's "what can I
        apply for"): one record read, one answer."""
        record = self.records.record_for_rules(str(nip)[:18])
        with self.db.transaction() as uow:
            return c.EligibilityOverview().dump(
                lists.eligibility_overview(uow, self._actor(), record, _today()))

    @rpc
    def evaluation_report(self, year):
        """The yearly evaluation of every layanan (administrators and auditors)."""
        with self.db.transaction() as uow:
            return evaluation.yearly_report(uow, self._actor(), year, self.holidays.days)

    @rpc
    def record_evaluation(self, year, payload):
        """Record the year's evaluation and have it signed (administrators; monev)."""
        data = load(m.EvaluationRecord(), payload)
        return evaluation.record(self.db, self.signing, self._actor(), year, data,
                                 self.holidays.days)

    @rpc
    def recorded_evaluation(self, year):
        """The year's recorded, signed evaluation (administrators and auditors)."""
        with self.db.transaction() as uow:
            return evaluation.recorded(uow, self._actor(), year)

    # -- requests ------------------------------------------------------------------------------

    @rpc
    def create_request(self, payload):
        data = load(c.RequestCreate(), payload)
        record = self.records.record_for_rules(data["nip"])  # read rights on the employee first
        self._refuse_documents_not_owned(record["nip"], data.get("documents"))
        with self.db.transaction() as uow:
            return workflow.create(uow, self._actor(), data, record, _today(), payload)

    @rpc
    def my_requests(self, query):
        """The caller's own requests, newest first, a page at a time."""
        data = load(c.MyRequestQuery(), query)
        with self.db.transaction() as uow:
            return c.RequestPage().dump(lists.my_requests(uow, self._actor(), data))

    @rpc
    def list_requests(self, query):
        """Requests within the caller's scope (staff), filtered, a page at a time."""
        data = load(c.RequestListQuery(), query)
        with self.db.transaction() as uow:
            return c.RequestPage().dump(lists.staff_requests(uow, self._actor(), data))

    @rpc
    def get_request(self, request_id):
        with self.db.transaction() as uow:
            return workflow.get(uow, self._actor(), _id(request_id))

    @rpc
    def request_timeline(self, request_id):
        with self.db.transaction() as uow:
            return workflow.timeline(uow, self._actor(), _id(request_id))

    @rpc
    def change_request_documents(self, request_id, payload):
        data = load(c.RequestDocuments(), payload)
        self._refuse_documents_not_owned(self._nip_of(request_id), data.get("documents"))
        with self.db.transaction() as uow:
            return once(uow, "change_request_documents", [request_id, payload],
                        lambda: workflow.change_documents(uow, self._actor(), _id(request_id),
                                                          data))

    @rpc
    def authorize_document(self, request_id, document):
        """A request's document for whoever may see the request, if it is the document of the
        request's employee: its hash and what the records checks found it to be; the download
        is logged first."""
        with self.db.transaction() as uow:
            return workflow.authorize_document(uow, self._actor(), _id(request_id),
                                               str(document)[:60], self._owned_document)

    @rpc
    def submit_request(self, request_id, payload):
        data = load(c.Transition(), payload)
        record = self.records.record_for_rules(self._nip_of(request_id))
        with self.db.transaction() as uow:
            return once(uow, "submit_request", [request_id, payload], lambda: workflow.submit(
                uow, self._actor(), _id(request_id), data, record, _today()))

    @rpc
    def withdraw_request(self, request_id, payload):
        data = load(c.Withdrawal(), payload)
        with self.db.transaction() as uow:
            return once(uow, "withdraw_request", [request_id, payload], lambda: workflow.withdraw(
                uow, self._actor(), _id(request_id), data))

    @rpc
    def start_verification(self, request_id, payload):
        data = load(c.Transition(), payload)
        with self.db.transaction() as uow:
            return once(uow, "start_verification", [request_id, payload],
                        lambda: workflow.start_verification(uow, self._actor(), _id(request_id),
                                                            data))

    @rpc
    def return_request(self, request_id, payload):
        data = load(c.ReturnForCorrection(), payload)
        with self.db.transaction() as uow:
            return once(uow, "return_request", [request_id, payload],
                        lambda: workflow.return_for_correction(uow, self._actor(),
                                                               _id(request_id), data))

    @rpc
    def verify_request(self, request_id, payload):
        data = load(c.Verification(), payload)
        with self.db.transaction() as uow:
            return once(uow, "verify_request", [request_id, payload], lambda: workflow.verify(
                uow, self._actor(), _id(request_id), data))

    @rpc
    def decide_request(self, request_id, payload):
        data = load(c.Decision(), payload)
        with self.db.transaction() as uow:
            return once(uow, "decide_request", [request_id, payload], lambda: workflow.decide(
                uow, self._actor(), _id(request_id), data))

    @rpc
    def complete_request(self, request_id, payload):
        data = load(c.Completion(), payload)
        if not isinstance(request_id, str):
            raise ValidationFailed("request_id harus teks", field="request_id")
        with self.db.transaction() as uow:
            return once(uow, "complete_request", [request_id, payload], lambda: workflow.complete(
                uow, self._actor(), request_id[:64], data))

    # -- what other services' events carry into the workflow -----------------------------------

    @idempotent_handler("signing", "DocumentSigned", subscription=WORKFLOW)
    def on_document_signed(self, uow, event):
        """A request's output is signed and stored: the request is complete."""
        workflow.document_signed(uow, event)

    @idempotent_handler("verification", "VerificationItemClaimed", subscription=WORKFLOW)
    def on_verification_item_claimed(self, uow, event):
        """A verifier took one of our requests from the queue: a line on its timeline."""
        workflow.verification_item_claimed(uow, event)
