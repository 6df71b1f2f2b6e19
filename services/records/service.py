"""Nameko entrypoints of the records service. Each validates its payload (the shared contract,
or records' own edge checks in schemas.py), runs one use case in one unit of work, and returns
its answer. The use cases are in usecases/, the providers in dependencies.py."""

from nameko.timer import timer

from services.records import schemas as s
from services.records.dependencies import DocumentChecks, EmployeeCaches, ImportJobs
from services.records.events import REGISTRY
from services.records.usecases import (
    agency,
    disclosures,
    employees,
    imports,
    regions,
    roster,
    uploads,
)
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.contracts import agency as ac
from shared.contracts import disclosures as dc
from shared.contracts import records as c
from shared.db import Database
from shared.idempotency import once
from shared.objectstore import DocumentStore
from shared.schemas import load
from shared.service import ServiceBase, rpc

#: completed layanan applied to the record: caught up like every subscription, never rebuilt
#: (its effects are events in the records log, which a replay would append again)
OUTCOMES = "records.outcomes"
AGENCY_GRANT = ac.AgencyGrant()
DISCLOSURE_RECORD = dc.DisclosureRecord()  # made once: exports pass up to MAX_NIPS NIPs


class RecordsService(ServiceBase):
    """The event-sourced employee master record (one aggregate per NIP) and its documents."""

    name = "records"
    db = Database(REGISTRY)
    documents = DocumentStore()
    document_checks = DocumentChecks()
    import_jobs = ImportJobs()
    employee_cache = EmployeeCaches()

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    @rpc
    def register_employee(self, payload, reason):
        data = s.registration(payload)
        with self.db.transaction() as uow:
            return once(uow, "register_employee", [payload, reason], lambda: employees.register(
                uow, self._actor(), data, str(reason)))

    @rpc
    def get_employee(self, nip, as_of=None):
        when = s.moment(as_of)
        actor = self._actor()
        with self.db.transaction() as uow:
            view = employees.get(uow, actor, str(nip), when)
            # an auditor's read is a disclosure, recorded with the read (or neither happens)
            disclosures.record_auditor_read(
                uow, actor, str(nip), [k for k in view if k not in ("version", "pending_changes")],
                f"employee:{nip}" + (f" as_of {when.isoformat()}" if when else ""))
            return view

    @rpc
    def record_for_rules(self, nip):
        """Internal: the full record for eligibility rules (never exposed by the gateway)."""
        with self.db.transaction() as uow:
            return employees.full_record_for_rules(uow, self._actor(), str(nip))

    @rpc
    def field_history(self, nip, field):
        actor = self._actor()
        with self.db.transaction() as uow:
            history = employees.field_history(uow, actor, str(nip), str(field))
            disclosures.record_auditor_read(uow, actor, str(nip), [str(field)],
                                            f"employee:{nip} field {field}")
            return history

    @rpc
    def record_timeline(self, nip):
        """Every step of the record: what it touched, when, by whom and why (no values)."""
        actor = self._actor()
        with self.db.transaction() as uow:
            steps = c.RecordStep(many=True).dump(employees.timeline(uow, actor, str(nip)[:18]))
            disclosures.record_auditor_read(uow, actor, str(nip)[:18], ["timeline"],
                                            f"employee:{str(nip)[:18]} timeline")
            return steps

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

    @rpc
    def apply_region_change(self, region, change):
        """Internal, for the sync service: one change a kabupaten/kota pushed, applied through
        the records use cases as `sync:<region>`, once per event id (usecases/regions.py)."""
        data = regions.checked_change(self._actor(), region, change)
        with self.db.transaction(actor_id=f"sync:{data['region']}",
                                 actor_role="machine") as uow:
            return c.RegionChangeAnswer().dump(regions.apply(uow, data))

    @rpc
    def apply_region_changes(self, region, changes):
        """Internal, for the sync service: up to MAX_REGION_CHANGES changes of one region in
        order, in one transaction, answered one by one (usecases/regions.py `apply_many`)."""
        code = regions.checked_region(self._actor(), region, changes)
        with self.db.transaction(actor_id=f"sync:{code}", actor_role="machine") as uow:
            return c.RegionChangeResult(many=True).dump(
                regions.apply_many(uow, code, changes, self.employee_cache))

    @rpc
    def region_roster(self, payload):
        """Internal, for the sync service's reconciliation: one keyset page of an instansi's
        employees with the compared fields (usecases/roster.py)."""
        query = load(c.RosterQuery(), payload)
        with self.db.transaction() as uow:
            return c.RosterPage().dump(roster.page(uow, self._actor(), query))

    @rpc
    def locate_nips(self, payload):
        """Internal, for the sync service: which instansi holds each of these NIPs."""
        nips = load(c.LocateNips(), payload)["nips"]
        with self.db.transaction() as uow:
            return roster.locate(uow, self._actor(), nips)

    @idempotent_handler("requests", "RequestCompleted", subscription=OUTCOMES)
    def on_request_completed(self, uow, event):
        """A completed layanan changes the record (docs/design/layanan-outcomes.md)."""
        employees.apply_layanan_outcome(uow, event.stream_id.split(":", 1)[1], event.payload)

    @idempotent_handler("requests", "OutputReplaced", subscription=OUTCOMES)
    def on_output_replaced(self, uow, event):
        """A re-issued decree moves what its outcome added to the new decree."""
        employees.replace_layanan_decree(uow, event.stream_id.split(":", 1)[1], event.payload)

    # -- the disclosure log (issue 17 part 3, usecases/disclosures.py) -------------------------

    @rpc
    def record_disclosure(self, payload):
        """For a service that releases personal data (acting as itself): record the release
        before answering; no answer if this fails (shared/contracts/disclosures.py)."""
        data = load(DISCLOSURE_RECORD, payload)
        with self.db.transaction(reason="pengungkapan data") as uow:
            return dc.RecordedDisclosure().dump(
                disclosures.record_for_service(uow, self._actor(), data))

    @rpc
    def my_disclosures(self, payload=None):
        """The releases of the caller's own data (a pegawai): who, when, which fields, why."""
        query = load(dc.MyDisclosureQuery(), payload or {})
        with self.db.transaction() as uow:
            return dc.MyDisclosure(many=True).dump(disclosures.mine(uow, self._actor(), query))

    @rpc
    def list_disclosures(self, payload=None):
        query = load(dc.DisclosureQuery(), payload or {})
        with self.db.transaction() as uow:
            return dc.Disclosure(many=True).dump(
                disclosures.listing(uow, self._actor(), query))

    @rpc
    def disclosure_report(self, payload=None):
        query = load(dc.DisclosureReportQuery(), payload or {})
        with self.db.transaction() as uow:
            return dc.DisclosureReport().dump(disclosures.report(uow, self._actor(), query))

    # -- the agency web services (issue 17 part 1, usecases/agency.py) ------------------------

    @rpc
    def agency_employees(self, grant, payload):
        """For the gateway: a page of employees cut to a machine client's agreement; the
        answer and its disclosure are one transaction."""
        grant, query = load(AGENCY_GRANT, grant), load(ac.AgencyEmployeeSearch(), payload)
        with self.db.transaction(reason=f"API instansi: {grant['purpose']}") as uow:
            return ac.AgencyEmployeePage().dump(
                agency.employees(uow, self._actor(), grant, query))

    @rpc
    def agency_employee(self, grant, nip):
        grant = load(AGENCY_GRANT, grant)
        with self.db.transaction(reason=f"API instansi: {grant['purpose']}") as uow:
            return ac.AgencyEmployee().dump(
                agency.employee(uow, self._actor(), grant, str(nip)[:18]))

    # -- documents -----------------------------------------------------------------------------

    @rpc
    def upload_document(self, sha256, file_name=None, nip=None, created=False):
        """Check a file the gateway stored (by content: PDF/JPEG/PNG, readable, unlocked, not
        blank, within the size limit; parsed in the sandbox) and make it the document of
        employee `nip` (a pegawai: their own; staff name an employee of their OPDs), linkable
        by its hash. `created`: the gateway's put stored these bytes (the store did not hold
        them), so a refusal deletes them. Its units of work are the use case's own: none stays
        open while the sandbox parses (usecases/uploads.py)."""
        data = load(c.DocumentCheck(), {"sha256": sha256, "file_name": file_name, "nip": nip})
        checks = self.document_checks
        return uploads.upload(self.db, self._actor(), self.documents, checks.sandbox,
                              checks.policy, data["sha256"], data.get("file_name"),
                              data.get("nip"), created is True)

    @rpc
    def documents_not_owned(self, nip, hashes):
        """Internal: which of these hashes are not documents of employee `nip` (uploaded for
        them and checked); for a caller who may read that employee."""
        hashes = s.document_hashes(hashes)
        with self.db.transaction() as uow:
            return employees.documents_not_owned(uow, self._actor(), str(nip)[:18], hashes)

    @rpc
    def document_meta(self, sha256, nip):
        """Internal: what the checks found a document of employee `nip` to be (type judged by
        its bytes, size), for another service that serves it; absent unless it is theirs."""
        with self.db.transaction() as uow:
            return employees.document_meta(uow, self._actor(), str(nip)[:18], str(sha256)[:64])

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
        now (before any transaction), the rows in the background (`get_import` reports progress
        and problems)."""
        data = load(c.ImportRequest(), payload)
        kind = imports.checked_file(self._actor(), self.documents, data)
        with self.db.transaction() as uow:
            import_id = imports.start(uow, self._actor(), dict(self.context), data, kind)
        self.import_jobs.launch(self.db, self.documents, import_id)
        return self.get_import(import_id)

    @rpc
    def get_import(self, import_id, offset=0, limit=100):
        query = load(c.ImportReportQuery(), {"offset": offset, "limit": limit})
        with self.db.transaction() as uow:
            return imports.report(uow, self._actor(), str(import_id)[:64], query["offset"],
                                  query["limit"])

    @timer(interval=5)
    def resume_stale_imports(self):
        self.import_jobs.launch(self.db, self.documents, None)
