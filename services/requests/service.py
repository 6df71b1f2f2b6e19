"""Nameko entrypoints of the requests service."""


from nameko.extensions import DependencyProvider
from sqlalchemy.exc import IntegrityError

from services.requests.events import REGISTRY
from services.requests.exceptions import DocumentNotOwned, RequestAlreadyOpen
from services.requests.usecases import workflow
from shared.auth import Principal
from shared.calendar import today_wib
from shared.consumer import idempotent_handler
from shared.contracts import requests as c
from shared.db import Database, ServiceDatabase
from shared.errors import Forbidden, SimasnError, ValidationFailed
from shared.eventstore import EventStore
from shared.idempotency import once
from shared.logging import get_logger
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import Holidays, ServiceBase, rpc

log = get_logger(__name__)
#: the requests' side of the work other services do: a signed output completes its request, a
#: claim in verification goes on its timeline (not rebuildable: the effects are events here)
WORKFLOW = "requests.workflow"


class CatalogueSeed(DependencyProvider):
    """At start, publishes the shipped catalogue entries the log does not hold yet (replicas
    racing here are harmless: the first append of a `layanan:` stream wins)."""

    def start(self):
        from shared.config import validate_config
        from shared.db import make_engine

        config = validate_config(self.container.config)
        engine = make_engine(config.service_database_url("requests"), schema="requests",
                             pool_size=1)
        db = ServiceDatabase(engine, EventStore("requests", REGISTRY),
                             {"actor_id": "system:requests", "actor_role": "system"})
        try:
            with db.transaction() as uow:
                added = workflow.seed_catalogue(uow)
            if added:
                log.info("catalogue_seeded", layanan=added)
        except Exception:  # noqa: BLE001 - a replica that lost the race; the winner seeded
            log.warning("catalogue_seed_skipped", exc_info=True)
        finally:
            engine.dispose()


def _today():
    return today_wib()


class RequestsService(ServiceBase):
    """The catalogue of the 18 layanan kepegawaian and their request workflows."""

    name = "requests"
    db = Database(REGISTRY)
    catalogue_seed = CatalogueSeed()
    holidays = Holidays()
    records = RpcProxy("records")

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    def _record(self, nip: str) -> dict:
        return self.records.record_for_rules(nip)

    def _checked_documents(self, nip: str, documents: dict | None) -> None:
        """A request links only its employee's documents: uploaded for them and checked."""
        hashes = sorted(set((documents or {}).values()))
        foreign = set(self.records.documents_not_owned(nip, hashes)) if hashes else set()
        refused = sorted(code for code, sha in (documents or {}).items() if sha in foreign)
        if refused:
            raise DocumentNotOwned(
                f"dokumen {refused[0]} belum diunggah untuk pegawai {nip} atau belum lolos "
                "pemeriksaan; unggah dokumennya untuk pegawai ini",
                field=f"documents.{refused[0]}", details={"documents": refused})

    # -- catalogue -----------------------------------------------------------------------------

    @rpc
    def list_layanan(self):
        self._actor()
        with self.db.transaction() as uow:
            return workflow.list_catalogue(uow)

    @rpc
    def get_layanan(self, kode):
        self._actor()
        with self.db.transaction() as uow:
            return workflow.layanan(uow, str(kode)[:40])

    @rpc
    def change_layanan(self, kode, payload):
        data = load(c.LayananChange(), payload)
        with self.db.transaction() as uow:
            return once(uow, "change_layanan", [kode, payload], lambda: workflow.change_layanan(
                uow, self._actor(), str(kode)[:40], data))

    @rpc
    def deactivate_layanan(self, kode, payload):
        data = load(c.LayananDeactivation(), payload)
        with self.db.transaction() as uow:
            return once(uow, "deactivate_layanan", [kode, payload],
                        lambda: workflow.deactivate_layanan(uow, self._actor(), str(kode)[:40],
                                                            data))

    @rpc
    def eligibility(self, kode, nip):
        """Is this employee eligible for this layanan today, rule by rule, and if not, when."""
        record = self._record(str(nip))
        with self.db.transaction() as uow:
            return workflow.eligibility(uow, self._actor(), str(kode)[:40], record, _today())

    @rpc
    def evaluation_report(self, year):
        """The yearly evaluation of every layanan (administrators and auditors)."""
        from itertools import groupby

        from services.requests.usecases import evaluation

        actor = self._actor()
        if not actor.has("administrator", "auditor"):
            raise Forbidden("evaluasi layanan untuk BKD dan auditor", field="role")
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise ValidationFailed("tahun harus angka, mis. 2026", field="year") from None
        if not 2000 <= year <= 2100:
            raise ValidationFailed("tahun di luar jangkauan", field="year")
        slas: dict[tuple[str, int], int] = {}
        with self.db.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            for event in self.db.store.iter_stream_type(raw, "Layanan"):
                if event.event_type == "LayananPublished":
                    entry = event.payload["entry"]
                    slas[(event.payload["kode"], event.payload["version"])] = entry[
                        "sla_hari_kerja"]
                    slas[(event.payload["kode"], None)] = entry["sla_hari_kerja"]
            streams = groupby(self.db.store.iter_stream_type(raw, "Request"),
                              key=lambda e: e.stream_id)
            result = evaluation.report((list(events) for _, events in streams), year,
                                       lambda kode, version: slas.get(
                                           (kode, version), slas.get((kode, None), 0)),
                                       self.holidays.days)
            conn.rollback()
        return result

    # -- requests ------------------------------------------------------------------------------

    @rpc
    def create_request(self, payload):
        data = load(c.RequestCreate(), payload)
        record = self._record(data["nip"])  # read rights on the employee first
        self._checked_documents(record["nip"], data.get("documents"))
        # a key in the body (older clients) is an Idempotency-Key when the header has none
        body_key = data.get("idempotency_key")
        try:
            with self.db.transaction() as uow:
                return once(uow, "create_request", payload,
                            lambda: workflow.draft(uow, self._actor(), data, record, _today()),
                            body_key)
        except (IntegrityError, RequestAlreadyOpen):
            # the same body key under two different header keys at once: the other call made
            # the request (unique drafter and body key, or the employee's one open request of
            # the layanan), answered here as it is now
            if not body_key:
                raise
            with self.db.transaction() as uow:
                return workflow.draft(uow, self._actor(), data, record, _today())

    @rpc
    def get_request(self, request_id):
        with self.db.transaction() as uow:
            return workflow.get(uow, self._actor(), str(request_id)[:64])

    @rpc
    def request_timeline(self, request_id):
        with self.db.transaction() as uow:
            return workflow.timeline(uow, self._actor(), str(request_id)[:64])

    @rpc
    def change_request_documents(self, request_id, payload):
        data = load(c.RequestDocuments(), payload)
        with self.db.transaction() as uow:
            nip = workflow.get(uow, self._actor(), str(request_id)[:64])["nip"]
        self._checked_documents(nip, data.get("documents"))
        with self.db.transaction() as uow:
            return once(uow, "change_request_documents", [request_id, payload],
                        lambda: workflow.change_documents(uow, self._actor(),
                                                          str(request_id)[:64], data))

    @rpc
    def authorize_document(self, request_id, document):
        """A request's document for whoever may see the request, if it is the document of the
        request's employee: its hash and what the records checks found it to be; the download
        is logged first."""
        with self.db.transaction() as uow:
            return workflow.authorize_document(uow, self._actor(), str(request_id)[:64],
                                               str(document)[:60], self._owned_document)

    def _owned_document(self, nip: str, sha256: str) -> dict | None:
        try:
            return self.records.document_meta(sha256, nip)
        except SimasnError as exc:
            if exc.code == "not_found":
                return None
            raise

    @rpc
    def submit_request(self, request_id, payload):
        data = load(c.Transition(), payload)
        with self.db.transaction() as uow:
            nip = workflow.get(uow, self._actor(), str(request_id)[:64])["nip"]
        record = self._record(nip)
        with self.db.transaction() as uow:
            return once(uow, "submit_request", [request_id, payload], lambda: workflow.submit(
                uow, self._actor(), str(request_id)[:64], data, record, _today()))

    @rpc
    def withdraw_request(self, request_id, payload):
        data = load(c.Withdrawal(), payload)
        with self.db.transaction() as uow:
            return once(uow, "withdraw_request", [request_id, payload], lambda: workflow.withdraw(
                uow, self._actor(), str(request_id)[:64], data))

    @rpc
    def start_verification(self, request_id, payload):
        data = load(c.Transition(), payload)
        with self.db.transaction() as uow:
            return once(uow, "start_verification", [request_id, payload],
                        lambda: workflow.start_verification(uow, self._actor(),
                                                            str(request_id)[:64], data))

    @rpc
    def return_request(self, request_id, payload):
        data = load(c.ReturnForCorrection(), payload)
        with self.db.transaction() as uow:
            return once(uow, "return_request", [request_id, payload],
                        lambda: workflow.return_for_correction(uow, self._actor(),
                                                               str(request_id)[:64], data))

    @rpc
    def verify_request(self, request_id, payload):
        data = load(c.Verification(), payload)
        with self.db.transaction() as uow:
            return once(uow, "verify_request", [request_id, payload], lambda: workflow.verify(
                uow, self._actor(), str(request_id)[:64], data))

    @rpc
    def decide_request(self, request_id, payload):
        data = load(c.Decision(), payload)
        with self.db.transaction() as uow:
            return once(uow, "decide_request", [request_id, payload], lambda: workflow.decide(
                uow, self._actor(), str(request_id)[:64], data))

    @idempotent_handler("signing", "DocumentSigned", subscription=WORKFLOW)
    def on_document_signed(self, uow, event):
        """A request's output is signed and stored: the request is complete."""
        if event.payload.get("request_id") and event.payload.get("sha256"):
            workflow.complete_signed(uow, event.payload["request_id"], event.payload["sha256"],
                                     event.payload.get("number"),
                                     event.stream_id.split(":", 1)[1])

    @idempotent_handler("verification", "VerificationItemClaimed", subscription=WORKFLOW)
    def on_verification_item_claimed(self, uow, event):
        """A verifier took one of our requests from the queue: a line on its timeline."""
        if event.payload.get("kind") == "request" and event.payload.get("request_id"):
            workflow.record_claim(uow, event.event_id, event.payload, event.recorded_at,
                                  event.metadata.get("reason"))

    @rpc
    def complete_request(self, request_id, payload):
        data = load(c.Completion(), payload)
        if not isinstance(request_id, str):
            raise ValidationFailed("request_id harus teks", field="request_id")
        with self.db.transaction() as uow:
            return once(uow, "complete_request", [request_id, payload], lambda: workflow.complete(
                uow, self._actor(), request_id[:64], data))
