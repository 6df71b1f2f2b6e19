"""Errors of the verification service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class VerificationError(SimasnError):
    code = "verification_error"
    http_status = 400
    transient = False
