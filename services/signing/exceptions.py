"""Errors of the signing service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class SigningError(SimasnError):
    code = "signing_error"
    http_status = 400
    transient = False


class NoSigningKey(SigningError):
    """The approving official has no certificate in the key store yet: the document waits
    (the job is retried once the key store has one)."""

    code = "no_signing_key"
    http_status = 409


class NotAPdf(SigningError):
    code = "not_a_pdf"
    http_status = 422
