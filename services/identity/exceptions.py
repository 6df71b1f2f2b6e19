"""Errors of the identity service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class IdentityError(SimasnError):
    code = "identity_error"
    http_status = 400
    transient = False
