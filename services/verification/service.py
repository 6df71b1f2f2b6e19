"""Nameko entrypoints of the verification service: the queues per OPD (built from the requests
and records events), claiming an item so two verifiers never work on it at once."""


from services.verification import cases, claims, domain
from services.verification.events import REGISTRY
from shared.auth import Principal
from shared.calendar import WIB, today_wib
from shared.consumer import idempotent_handler
from shared.contracts import verification as v
from shared.db import Database
from shared.errors import NotFound, SimasnError, ValidationFailed
from shared.idempotency import once
from shared.notifications import notification_for
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import Holidays, ServiceBase, rpc

UPSERT = (
    "INSERT INTO queue_items (item_id, kind, stream_version, stage, opd_id, nip, layanan, "
    "sla_hari_kerja, since, confidential) VALUES (:item, :kind, :version, :stage, :opd, :nip, "
    ":layanan, :sla, CAST(:since AS timestamptz), :confidential) "
    "ON CONFLICT (item_id) DO UPDATE SET "
    "confidential = queue_items.confidential OR EXCLUDED.confidential, "
    "opd_id = COALESCE(EXCLUDED.opd_id, queue_items.opd_id), "
    "nip = COALESCE(EXCLUDED.nip, queue_items.nip), "
    "layanan = COALESCE(EXCLUDED.layanan, queue_items.layanan), "
    "sla_hari_kerja = COALESCE(EXCLUDED.sla_hari_kerja, queue_items.sla_hari_kerja), "
    "stage = CASE WHEN EXCLUDED.stream_version > queue_items.stream_version "
    "THEN EXCLUDED.stage ELSE queue_items.stage END, "
    "since = CASE WHEN EXCLUDED.stream_version > queue_items.stream_version "
    "THEN EXCLUDED.since ELSE queue_items.since END, "
    "claimed_by = CASE WHEN EXCLUDED.stream_version > queue_items.stream_version "
    "THEN NULL ELSE queue_items.claimed_by END, "
    "stream_version = GREATEST(EXCLUDED.stream_version, queue_items.stream_version), "
    "updated_at = now()"
)


#: the read model the requests and records events build here: the verification queues and the
#: employees' in-app inbox (`simasn projections rebuild verification.queue`)
QUEUE = "verification.queue"


def _notify(uow, event) -> None:
    """The employee's inbox message for this step (once: keyed by the event's position)."""
    message = notification_for(event.event_type, event.payload)
    recipient = event.payload.get("nip")
    if message is None or not recipient:
        return
    uow.execute(
        "INSERT INTO inbox (notification_id, recipient, request_id, event, title, body, "
        "created_at) VALUES (:id, :to, :r, :e, :t, :b, CAST(:at AS timestamptz)) "
        "ON CONFLICT DO NOTHING",
        {"id": f"{event.source}:{event.position}", "to": recipient,
         "r": event.stream_id.split(":", 1)[1], "e": event.event_type, "t": message[0],
         "b": message[1], "at": event.recorded_at})


def _request_item(uow, event, stage: str | None) -> None:
    _notify(uow, event)
    payload = event.payload
    uow.execute(UPSERT, {
        "item": event.stream_id, "kind": "request", "version": event.version,
        "stage": stage or "done", "opd": payload.get("opd_id"), "nip": payload.get("nip"),
        "layanan": payload.get("layanan"), "sla": payload.get("sla_hari_kerja"),
        "since": event.recorded_at, "confidential": bool(payload.get("confidential"))})


def _request_handler(event_type: str, method_name: str):
    """One handler per request event type; `method_name` must be the class attribute it is
    bound to (Nameko names the queue after it, and so does `simasn migrate`)."""
    stage = domain.REQUEST_STAGES[event_type]

    def handle(self, uow, event):
        _request_item(uow, event, stage)

    handle.__name__ = handle.__qualname__ = method_name
    return idempotent_handler("requests", event_type, subscription=QUEUE)(handle)


class VerificationService(ServiceBase):
    """Verification queues for fasilitator and administrator, document checks."""

    name = "verification"
    db = Database(REGISTRY)
    holidays = Holidays()
    requests = RpcProxy("requests")
    records = RpcProxy("records")
    #: how `simasn projections rebuild` empties a read model before replaying it from zero:
    #: an item a verifier holds keeps its claim, a notification its reader has seen stays
    #: (neither is in the events); everything else is derived again
    rebuildable = {QUEUE: ("DELETE FROM queue_items WHERE claimed_by IS NULL",
                           "DELETE FROM inbox WHERE read_at IS NULL")}

    on_request_submitted = _request_handler("RequestSubmitted", "on_request_submitted")
    on_verification_started = _request_handler("VerificationStarted", "on_verification_started")
    on_request_returned = _request_handler("RequestReturned", "on_request_returned")
    on_request_verified = _request_handler("RequestVerified", "on_request_verified")
    on_request_approved = _request_handler("RequestApproved", "on_request_approved")
    on_request_rejected = _request_handler("RequestRejected", "on_request_rejected")
    on_request_withdrawn = _request_handler("RequestWithdrawn", "on_request_withdrawn")
    on_request_completed = _request_handler("RequestCompleted", "on_request_completed")

    @idempotent_handler("records", "ChangeProposed", subscription=QUEUE)
    def on_change_proposed(self, uow, event):
        nip = event.stream_id.split(":", 1)[1]
        uow.execute(UPSERT, {
            "item": f"change:{nip}:{event.payload['change_id']}", "kind": "record_change",
            "version": event.version, "stage": "pending_change",
            "opd": event.payload.get("opd_id"), "nip": nip, "layanan": None, "sla": None,
            "since": event.recorded_at, "confidential": False})

    def _change_decided(self, uow, event):
        nip = event.stream_id.split(":", 1)[1]
        uow.execute(UPSERT, {
            "item": f"change:{nip}:{event.payload['change_id']}", "kind": "record_change",
            "version": event.version, "stage": "done", "opd": None, "nip": nip,
            "layanan": None, "sla": None, "since": event.recorded_at, "confidential": False})

    @idempotent_handler("records", "ChangeApplied", subscription=QUEUE)
    def on_change_applied(self, uow, event):
        self._change_decided(uow, event)

    @idempotent_handler("records", "ChangeRejected", subscription=QUEUE)
    def on_change_rejected(self, uow, event):
        self._change_decided(uow, event)

    # -- documents found not original -----------------------------------------------------------

    @rpc
    def report_fake_document(self, payload):
        """A verifier found a document not original: the case is recorded and a written warning
        drafted for an administrator."""
        data = load(v.FakeDocumentReport(), payload)
        actor = self._actor()
        request = self.requests.get_request(data["request_id"])  # the caller's read rights
        subject = {"nip": request["nip"], "opd_id": request["opd_id"],
                   "submitted_by": request["submitted_by"],
                   "prepared_by": request.get("prepared_by", []),
                   "sha256": request["documents"].get(data["document"])}
        if subject["sha256"] is None:
            raise NotFound(f"dokumen {data['document']} tidak ada pada usulan ini",
                           field="document")
        with self.db.transaction() as uow:
            return once(uow, "report_fake_document", payload, lambda: cases.report(
                uow, actor, {**data, "request_id": str(data["request_id"])}, subject))

    @rpc
    def fake_document_cases(self, status=None):
        self._actor().require("administrator")
        with self.db.transaction() as uow:
            return cases.listing(uow, status if status in ("drafted", "issued", "dismissed")
                                 else None)

    @rpc
    def issue_warning(self, case_id, payload):
        """Issue the drafted teguran tertulis: it goes on the employee's record as a hukuman
        disiplin entry (written first, idempotently, so a retry after a failure is safe)."""
        data = load(v.CaseDecision(), payload)
        actor = self._actor()
        actor.require("administrator")
        with self.db.transaction() as uow:
            return once(uow, "issue_warning", [case_id, payload],
                        lambda: self._issue_warning(uow, actor, case_id, data))

    def _issue_warning(self, uow, actor, case_id, data) -> dict:
        case = cases.get(uow, case_id)
        cases.check_decidable(case, actor)  # before anything is written to the record
        effective = today_wib()
        record = self.records.get_employee(case["nip"])
        try:
            self.records.record_history(case["nip"], {
                "history": "hukuman_disiplin", "entry_id": f"case-{case['case_id']}",
                "entry": {"kode": cases.PENALTY, "mulai": effective.isoformat(),
                          "alasan": f"dokumen {case['document']} tidak asli"},
                "expected_version": record["version"], "reason": data["reason"]})
        except SimasnError as exc:
            if "entry_exists" not in str(exc.details):
                raise
        return cases.decide(uow, actor, case_id, True, data["reason"], effective)

    @rpc
    def get_case(self, case_id):
        """One case: BKD (administrators, auditors) and the services that act on it (the
        signing service renders the written warning from it)."""
        actor = self._actor()
        if not actor.has("administrator", "auditor", "system"):
            raise NotFound("kasus tidak ditemukan", field="case_id")
        with self.db.transaction() as uow:
            return cases.get(uow, case_id)

    @rpc
    def dismiss_case(self, case_id, payload):
        data = load(v.CaseDecision(), payload)
        with self.db.transaction() as uow:
            return once(uow, "dismiss_case", [case_id, payload], lambda: cases.decide(
                uow, self._actor(), case_id, False, data["reason"]))

    # -- the employee's inbox ---------------------------------------------------------------------

    @rpc
    def inbox(self, unread_only=False):
        actor = self._actor()
        with self.db.transaction() as uow:
            rows = uow.execute(
                "SELECT notification_id, request_id, event, title, body, created_at, read_at "
                "FROM inbox WHERE recipient = :me AND (NOT :unread OR read_at IS NULL) "
                "ORDER BY created_at DESC, notification_id DESC LIMIT 200",
                {"me": actor.account_id, "unread": bool(unread_only)}).mappings().all()
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                 for k, v in dict(row).items()} for row in rows]

    @rpc
    def mark_read(self, notification_id):
        actor = self._actor()
        with self.db.transaction() as uow:
            row = uow.execute("UPDATE inbox SET read_at = coalesce(read_at, now()) WHERE "
                              "notification_id = :n AND recipient = :me RETURNING "
                              "notification_id", {"n": str(notification_id)[:80],
                                                  "me": actor.account_id}).first()
        if row is None:
            raise NotFound("pemberitahuan tidak ditemukan", field="notification_id")
        return {"notification_id": row[0], "read": True}

    # -- queries and claims ---------------------------------------------------------------------

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    @rpc
    def queue(self, opd_id=None):
        """What waits, oldest first, with its SLA state: a fasilitator sees the items of their
        OPDs still to verify; an administrator sees every OPD and the decisions waiting."""
        actor = self._actor()
        withheld = False
        if actor.has("administrator", "auditor"):
            scope, stages = None, domain.VERIFIER_STAGES + domain.ADMIN_STAGES
            # a disciplinary procedure (withheld on the bus: no OPD) waits for BKD
            withheld = opd_id is None
        elif "fasilitator" in actor.roles:
            scope, stages = sorted(actor.opd_scope), domain.VERIFIER_STAGES
        else:
            raise NotFound("antrean verifikasi hanya untuk fasilitator dan BKD", field="role")
        if opd_id is not None:
            if scope is not None and opd_id not in scope:
                raise NotFound(f"OPD {str(opd_id)[:40]} tidak ditemukan", field="opd_id")
            scope = [str(opd_id)]
        today = today_wib()
        with self.db.transaction() as uow:
            rows = uow.execute(
                "SELECT item_id, kind, stage, opd_id, nip, layanan, sla_hari_kerja, since, "
                "claimed_by, claimed_at, confidential FROM queue_items WHERE stage = "
                "ANY(:stages) AND ((opd_id IS NOT NULL AND (CAST(:scope AS text[]) IS NULL OR "
                "opd_id = ANY(CAST(:scope AS text[])))) OR (:withheld AND confidential AND "
                "opd_id IS NULL)) ORDER BY since, item_id LIMIT 500",
                {"stages": list(stages), "scope": scope, "withheld": withheld}).mappings().all()
        return [{**{k: v for k, v in row.items() if k not in ("since", "claimed_at")},
                 "since": row["since"].isoformat(),
                 "claimed_at": row["claimed_at"].isoformat() if row["claimed_at"] else None,
                 "sla": domain.sla_state(row["since"].astimezone(WIB).date(),
                                         row["sla_hari_kerja"], today, self.holidays.days)}
                for row in rows]

    @rpc
    def claim(self, item_id):
        """Take an item to work on; a second verifier gets a conflict naming who holds it.
        A claim lapses after an hour without a decision. Each claim is logged."""
        actor = self._actor()
        if not isinstance(item_id, str) or len(item_id) > 120:
            raise ValidationFailed("item_id tidak sah", field="item_id")
        with self.db.transaction() as uow:
            return claims.claim(uow, actor, item_id)
