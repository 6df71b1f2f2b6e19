"""Nameko entrypoints of the reporting service: the employee read model fed from the records
log by the catch-up subscription `reporting.employees`, finding employees in it, the lists and
statistics of the report registry (usecases/reports.py, lists.py, public.py), their exports and
charts (usecases/exports.py), and the watch that raises the alarm when a read model stops
keeping up."""

import base64

from services.reporting.dependencies import (
    ExportSettings,
    ProjectionSettings,
    PublicFigures,
    export_timer,
    snapshot_timer,
    watch_timer,
)
from services.reporting.events import REGISTRY
from services.reporting.usecases import (
    assignments,
    completeness,
    datarequests,
    exports,
    lists,
    projection,
    public,
    reports,
    search,
    watch,
    workload,
)
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.contracts import reporting as c
from shared.db import Database
from shared.idempotency import once
from shared.objectstore import DocumentStore
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import Holidays, ServiceBase, rpc
from shared.subscriptions import declared

#: the employee list (`simasn projections rebuild reporting.employees`)
EMPLOYEES = "reporting.employees"
#: monev (issue 15 part 3): what each record holds, who looks after which OPD, the requests
COMPLETENESS = "reporting.completeness"
ASSIGNMENTS = "reporting.assignments"
WORKLOAD = "reporting.workload"
SEARCH = c.EmployeeSearch()  # made once: building a schema costs more than loading with it
EXPORT_REQUEST, EXPORT = c.ExportRequest(), c.Export()
DISCLOSURE_QUERY, DISCLOSURE = c.DisclosureQuery(), c.Disclosure(many=True)
CHART_QUERY = c.ChartQuery()
DATA_REQUEST, DATA_REQUESTS = c.DataRequest(), c.DataRequest(many=True)
CONSENTS = c.Consent(many=True)
#: who the export worker is when it asks signing for an official list
SYSTEM = {"actor_id": "service:reporting", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


def _fed(source: str, event_type: str, subscription: str, prefix: str, fold):
    """The consumer `<prefix>_<event type>` of one event for one monev read model: `fold(uow,
    event)`. The service declares each by name in its class body."""

    def handle(self, uow, event):
        fold(uow, event)

    handle.__name__ = handle.__qualname__ = f"{prefix}_{event_type.lower()}"
    return idempotent_handler(source, event_type, subscription=subscription)(handle)


class ReportingService(ServiceBase):
    """Read models of the logs for finding employees, the lists and statistics BKD works from,
    monitoring and evaluation, and their exports and charts (issue 15)."""

    name = "reporting"
    db = Database(REGISTRY)
    projection_settings = ProjectionSettings()
    export_settings = ExportSettings()
    documents = DocumentStore()
    signing = RpcProxy("signing", signs={"issue_document"})
    records = RpcProxy("records")  # the disclosure log of exports naming persons
    holidays = Holidays()
    public_figures = PublicFigures()
    #: how `simasn projections rebuild` empties a read model before replaying it from zero
    rebuildable = {EMPLOYEES: projection.RESET, COMPLETENESS: completeness.RESET,
                   ASSIGNMENTS: assignments.RESET, WORKLOAD: workload.RESET}
    #: caught up a feed page per transaction, folded and written at once (the read models' own
    #: tables only: nothing appended, nothing read from the context)
    batched_catch_up = {EMPLOYEES: projection.employee_events,
                        COMPLETENESS: completeness.presence_events,
                        ASSIGNMENTS: None, WORKLOAD: None}

    # -- the employee list, from the records events --------------------------------------------

    @idempotent_handler("records", "EmployeeRegistered", subscription=EMPLOYEES)
    def on_employee_registered(self, uow, event):
        projection.employee_event(uow, event)

    @idempotent_handler("records", "DataPokokChanged", subscription=EMPLOYEES)
    def on_data_pokok_changed(self, uow, event):
        projection.employee_event(uow, event)

    @idempotent_handler("records", "HistoryEntryRecorded", subscription=EMPLOYEES)
    def on_history_entry_recorded(self, uow, event):
        projection.employee_event(uow, event)

    @idempotent_handler("records", "LayananOutcomeApplied", subscription=EMPLOYEES)
    def on_layanan_outcome_applied(self, uow, event):
        projection.employee_event(uow, event)

    # -- monev: presence of fields and documents, fasilitators' OPDs, the requests' steps ---------

    presence_employeeregistered = _fed("records", "EmployeeRegistered", COMPLETENESS,
                                       "presence", completeness.presence_event)
    presence_datapokokchanged = _fed("records", "DataPokokChanged", COMPLETENESS, "presence",
                                     completeness.presence_event)
    presence_layananoutcomeapplied = _fed("records", "LayananOutcomeApplied", COMPLETENESS,
                                          "presence", completeness.presence_event)
    presence_documentattached = _fed("records", "DocumentAttached", COMPLETENESS, "presence",
                                     completeness.presence_event)
    assignment_accountregistered = _fed("identity", "AccountRegistered", ASSIGNMENTS,
                                        "assignment", assignments.account_event)
    assignment_rolegranted = _fed("identity", "RoleGranted", ASSIGNMENTS, "assignment",
                                  assignments.account_event)
    assignment_rolerevoked = _fed("identity", "RoleRevoked", ASSIGNMENTS, "assignment",
                                  assignments.account_event)
    assignment_opdscopechanged = _fed("identity", "OpdScopeChanged", ASSIGNMENTS, "assignment",
                                      assignments.account_event)
    assignment_accountdisabled = _fed("identity", "AccountDisabled", ASSIGNMENTS, "assignment",
                                      assignments.account_event)
    assignment_accountenabled = _fed("identity", "AccountEnabled", ASSIGNMENTS, "assignment",
                                     assignments.account_event)
    workload_requestsubmitted = _fed("requests", "RequestSubmitted", WORKLOAD, "workload",
                                     workload.request_event)
    workload_verificationstarted = _fed("requests", "VerificationStarted", WORKLOAD,
                                        "workload", workload.request_event)
    workload_requestreturned = _fed("requests", "RequestReturned", WORKLOAD, "workload",
                                    workload.request_event)
    workload_requestverified = _fed("requests", "RequestVerified", WORKLOAD, "workload",
                                    workload.request_event)
    workload_requestapproved = _fed("requests", "RequestApproved", WORKLOAD, "workload",
                                    workload.request_event)
    workload_requestrejected = _fed("requests", "RequestRejected", WORKLOAD, "workload",
                                    workload.request_event)
    workload_requestwithdrawn = _fed("requests", "RequestWithdrawn", WORKLOAD, "workload",
                                     workload.request_event)
    workload_signingstarted = _fed("requests", "SigningStarted", WORKLOAD, "workload",
                                   workload.request_event)
    workload_requestcompleted = _fed("requests", "RequestCompleted", WORKLOAD, "workload",
                                     workload.request_event)

    # -- finding employees -----------------------------------------------------------------------

    @rpc
    def find_employees(self, payload):
        query = load(SEARCH, payload)
        with self.db.transaction() as uow:
            return search.find(uow, Principal.from_context(self.context), query)

    # -- the lists and statistics BKD works from, and the public figures ------------------------

    @rpc
    def report(self, name, params):
        """Any registered list or statistic (usecases/reports.py) as JSON: `params` checked
        against that report's own schema; a list of persons one page at a time."""
        report = reports.named(name)
        query = load(report.params(), params)
        with self.db.transaction() as uow:
            return c.ReportAnswer().dump(
                lists.answer(uow, Principal.from_context(self.context), name, query,
                             holidays=self.holidays.days))

    @rpc
    def public_statistics(self):
        """Aggregate headcounts for anyone, small cells suppressed (usecases/public.py), as
        computed at most PUBLIC_STATISTICS_SECONDS ago."""
        def compute():
            with self.db.transaction() as uow:
                return c.PublicStatistics().dump(public.statistics(uow, public.threshold()))
        return self.public_figures.get(compute)

    # -- exports, the disclosure log and charts (issue 15 part 5) ------------------------------

    @rpc
    def start_export(self, name, payload):
        """Check and record an export of report `name`; its file is produced by the timer."""
        data = load(EXPORT_REQUEST, payload)
        with self.db.transaction(reason=data.get("purpose")) as uow:
            # a retried POST with the same Idempotency-Key: the same export, one disclosure
            return once(uow, "start_export", [name, payload], lambda: EXPORT.dump(
                exports.start(uow, self._actor(), name, data)))

    @rpc
    def get_export(self, name, export_id):
        with self.db.transaction() as uow:
            return EXPORT.dump(exports.get(uow, self._actor(), name, export_id))

    @rpc
    def authorize_export_download(self, name, export_id):
        """The stored file of a ready export, for the one who asked for it."""
        with self.db.transaction() as uow:
            return EXPORT.dump(exports.authorize_download(uow, self._actor(), name,
                                                          export_id))

    @export_timer
    def produce_exports(self):
        """Exports waiting for their file, one at a time, oldest first, until none is left."""
        self.context.update(SYSTEM)
        settings = self.export_settings
        while True:
            locks = settings.locks(self.db.engine)
            with self.db.transaction() as uow:
                export_id = exports.claim(uow, settings.runner, locks)
            if export_id is None:
                return
            try:
                if exports.produce(self.db, self.documents, self.signing, self.records,
                                   export_id, settings.runner, settings,
                                   self.holidays.days) is None:
                    return  # failed, given back or taken over: the next tick goes on
            finally:
                locks.release(export_id)

    @rpc
    def list_disclosures(self, payload=None):
        query = load(DISCLOSURE_QUERY, payload or {})
        with self.db.transaction() as uow:
            return DISCLOSURE.dump(exports.disclosures(uow, self._actor(), query))

    @rpc
    def chart(self, name, payload=None):
        """The chart of a statistic: {content_type, body_base64} (a few KB)."""
        payload = dict(payload or {})
        query = load(CHART_QUERY, {"format": payload.pop("format", "svg")})
        with self.db.transaction() as uow:
            content_type, body = exports.chart(uow, self._actor(), name, query["format"],
                                               payload, self.holidays.days)
        return {"content_type": content_type, "body_base64": base64.b64encode(body).decode()}

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    # -- data requests with consent (issue 17 part 2, usecases/datarequests.py) ----------------

    @rpc
    def file_data_request(self, payload):
        data = load(c.DataRequestCreate(), payload)
        with self.db.transaction(reason=data["purpose"]) as uow:
            return once(uow, "file_data_request", [payload], lambda: DATA_REQUEST.dump(
                datarequests.file(uow, self._actor(), data)))

    @rpc
    def list_data_requests(self, query=None):
        data = load(c.DataRequestQuery(), query or {})
        with self.db.transaction() as uow:
            return DATA_REQUESTS.dump(datarequests.listing(uow, self._actor(), data))

    @rpc
    def get_data_request(self, request_id):
        with self.db.transaction() as uow:
            return DATA_REQUEST.dump(datarequests.get(uow, self._actor(), request_id))

    @rpc
    def decide_data_request(self, request_id, payload):
        """BKD approves (consent is asked of each person concerned) or refuses."""
        data = load(c.DataRequestDecision(), payload)
        with self.db.transaction(reason=data["reason"]) as uow:
            return once(uow, "decide_data_request", [request_id, payload],
                        lambda: DATA_REQUEST.dump(datarequests.decide(
                            uow, self._actor(), request_id, data)))

    @rpc
    def release_data_request(self, request_id, payload):
        """The requester's export of the consenting persons' data (produced by the timer)."""
        data = load(c.DataRequestRelease(), payload)
        with self.db.transaction() as uow:
            return once(uow, "release_data_request", [request_id, payload],
                        lambda: DATA_REQUEST.dump(datarequests.release(
                            uow, self._actor(), request_id, data)))

    @rpc
    def authorize_data_request_file(self, request_id):
        with self.db.transaction() as uow:
            return EXPORT.dump(datarequests.authorize_file(uow, self._actor(), request_id))

    @rpc
    def my_consents(self):
        with self.db.transaction() as uow:
            return CONSENTS.dump(datarequests.consents(uow, self._actor()))

    @rpc
    def answer_consent(self, request_id, payload):
        data = load(c.ConsentAnswer(), payload)
        with self.db.transaction() as uow:
            return once(uow, "answer_consent", [request_id, payload], lambda: c.Consent().dump(
                datarequests.answer(uow, self._actor(), request_id, data)))

    # -- monev: the registered reports, as lists of items ---------------------------------------

    def _report(self, name: str, payload) -> dict:
        report = reports.REPORTS[name]
        query = load(report.params(), payload or {})
        keys = [col.key for col in report.columns(query)]
        with self.db.transaction() as uow:
            rows = reports.read(report, uow, self._actor(), query,
                                holidays=self.holidays.days)
            return {"items": [dict(zip(keys, map(reports.as_text, row), strict=True))
                              for row in rows]}

    @rpc
    def monev_completeness(self, payload):
        """Completeness rolled up per OPD, instansi or fasilitator (`group`)."""
        return self._report("monev_completeness", payload)

    @rpc
    def monev_missing(self, payload):
        """One page of each employee's missing fields and documents."""
        query = load(reports.REPORTS["monev_missing"].params(), payload or {})
        with self.db.transaction() as uow:
            return completeness.employees_page(uow, Principal.from_context(self.context), query)

    @rpc
    def monev_employee(self, nip):
        """One employee's completeness (the pegawai themself, or whoever's scope holds them)."""
        with self.db.transaction() as uow:
            return completeness.of_employee(uow, Principal.from_context(self.context),
                                            str(nip)[:40])

    @rpc
    def monev_trend(self, payload):
        """Each OPD's completeness per day over a date range."""
        return self._report("monev_completeness_trend", payload)

    @rpc
    def monev_workload(self, payload):
        """Verification workload and SLA per OPD (working days skip the HOLIDAYS)."""
        return self._report("monev_workload", payload)

    @snapshot_timer
    def snapshot_completeness(self):
        """Today's completeness of every OPD, for the trend (idempotent within a day)."""
        with self.db.transaction(reason="snapshot kelengkapan harian") as uow:
            completeness.snapshot(uow)

    # -- keeping up ------------------------------------------------------------------------------

    @watch_timer
    def watch_projections(self):
        """Each subscription against its source's head; a stalled one is logged as an error."""
        watch.watch(self.db, self.feeds, list(declared(type(self)).values()),
                    self.projection_settings.stall_seconds)

    @rpc
    def health(self):
        """The common health answer, with what the watch last saw of each read model; a
        stalled one makes the service `degraded`."""
        answer = ServiceBase.health(self)
        if answer["status"] == "ok":
            with self.db.transaction() as uow:
                answer["projections"] = watch.status(uow,
                                                     self.projection_settings.stall_seconds)
            if any(p["stalled"] for p in answer["projections"]):
                answer["status"] = "degraded"
        return answer
