"""Errors of the records service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class RecordsError(SimasnError):
    code = "records_error"
    http_status = 400
    transient = False
