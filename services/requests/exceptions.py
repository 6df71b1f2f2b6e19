"""Errors of the requests service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class RequestsError(SimasnError):
    code = "requests_error"
    http_status = 400
    transient = False
