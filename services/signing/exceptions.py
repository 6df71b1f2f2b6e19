"""Errors of the signing service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class SigningError(SimasnError):
    code = "signing_error"
    http_status = 400
    transient = False
