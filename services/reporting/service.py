"""Nameko entrypoints of the reporting service: the employee read model fed from the records
log by the catch-up subscription `reporting.employees`, finding employees in it, the lists and
statistics of the report registry (usecases/reports.py, lists.py, public.py), and the watch
that raises the alarm when a read model stops keeping up."""

from services.reporting.dependencies import ProjectionSettings, watch_timer
from services.reporting.events import REGISTRY
from services.reporting.exceptions import ReportUnknown
from services.reporting.usecases import lists, projection, public, reports, search, watch
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.contracts import reporting as c
from shared.db import Database
from shared.schemas import load
from shared.service import ServiceBase, rpc
from shared.subscriptions import declared

#: the employee list (`simasn projections rebuild reporting.employees`)
EMPLOYEES = "reporting.employees"
SEARCH = c.EmployeeSearch()  # made once: building a schema costs more than loading with it


class ReportingService(ServiceBase):
    """Read models for finding employees and, later, monitoring and statistics (issue 15)."""

    name = "reporting"
    db = Database(REGISTRY)
    projection_settings = ProjectionSettings()
    #: how `simasn projections rebuild` empties a read model before replaying it from zero
    rebuildable = {EMPLOYEES: projection.RESET}
    #: caught up a feed page per transaction, folded and written at once (the list's own table
    #: only: nothing appended, nothing read from the context)
    batched_catch_up = {EMPLOYEES: projection.employee_events}

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
        report = reports.REPORTS.get(name) if isinstance(name, str) else None
        if report is None or name == public.NAME:
            raise ReportUnknown(f"laporan {str(name)[:40]!r} tidak dikenal; tersedia: "
                                + ", ".join(sorted(set(reports.REPORTS) - {public.NAME})),
                                field="name")
        query = load(report.params(), params)
        with self.db.transaction() as uow:
            return c.ReportAnswer().dump(
                lists.answer(uow, Principal.from_context(self.context), name, query))

    @rpc
    def public_statistics(self):
        """Aggregate headcounts for anyone, small cells suppressed (usecases/public.py)."""
        with self.db.transaction() as uow:
            return c.PublicStatistics().dump(public.statistics(uow, public.threshold()))

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
