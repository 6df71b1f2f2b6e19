"""Reports registered only by tests, the way every list and statistic registers
(services/reporting/usecases/reports.py): a statistic (headcount per golongan, no person named)
and an official list (NIPs and names, signed as a PDF). The reporting containers of a test run
in the test's process, so they serve these as any other report."""

from __future__ import annotations

import contextlib

from services.reporting.usecases import reports
from shared.contracts.reporting import EmployeeSearch

STATISTIC, OFFICIAL = "test_golongan", "test_resmi"


class ReportQuery(EmployeeSearch):
    """The employee filters (accepted, not applied: these reports read everything in scope)."""


def _golongan_columns(params):
    return [reports.Column("golongan", "Golongan"), reports.Column("jumlah", "Jumlah", "int")]


def _golongan_rows(uow, actor, params, today):
    """Headcount per golongan within what `actor` may see: a statistic, no person named."""
    scope = reports.scope_of(actor)
    where, args = "", {}
    if not scope.everyone and scope.instansi is not None:
        where, args = "WHERE instansi = %(i)s", {"i": scope.instansi}
    elif not scope.everyone:
        where, args = "WHERE instansi = '35' AND opd_id = ANY(%(o)s)", {"o": list(scope.opds)}
    yield from reports.stream(uow, "SELECT coalesce(golongan, '-'), count(*)::int FROM "  # noqa: S608 - fixed text
                              "{schema}.employees " + where + " GROUP BY 1 ORDER BY 1", args)


def _official_columns(params):
    return [reports.Column("nip", "NIP"), reports.Column("name", "Nama"),
            reports.Column("golongan", "Golongan")]


def _official_rows(uow, actor, params, today):
    """Everyone (an official list is BKD's), or one OPD's when `opd_id` is given."""
    reports.scope_of(actor)
    where, args = ("WHERE opd_id = %(o)s", {"o": params["opd_id"]}) if params.get("opd_id") \
        else ("", {})
    yield from reports.stream(uow, "SELECT nip, name, golongan FROM {schema}.employees "  # noqa: S608 - fixed text
                                   + where + " ORDER BY golongan_rank DESC, nip", args)


@contextlib.contextmanager
def registered_test_reports():
    added = [reports.register(reports.Report(
        name=STATISTIC, title="Jumlah pegawai per golongan", personal=False, official=False,
        params=ReportQuery, columns=_golongan_columns, rows=_golongan_rows)),
        reports.register(reports.Report(
            name=OFFICIAL, title="Daftar uji resmi", personal=True, official=True,
            params=ReportQuery, columns=_official_columns, rows=_official_rows))]
    try:
        yield
    finally:
        for report in added:
            reports.REPORTS.pop(report.name, None)
