"""Errors of the reporting service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import NotFound, SimasnError


class ReportingError(SimasnError):
    code = "reporting_error"
    http_status = 400
    transient = False


class ReportUnknown(NotFound):
    code = "report_unknown"
