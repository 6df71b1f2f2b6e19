"""Errors of the requests service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import Conflict, SimasnError, ValidationFailed


class RequestsError(SimasnError):
    code = "requests_error"
    http_status = 400
    transient = False


class NotEligible(ValidationFailed):
    """`details` is the whole eligibility explanation: every rule, passing or not, and when."""

    code = "not_eligible"
    title = "Belum memenuhi syarat layanan"


class DocumentsMissing(ValidationFailed):
    code = "documents_missing"
    title = "Dokumen wajib belum lengkap"


class LayananInactive(Conflict):
    code = "layanan_inactive"
    title = "Layanan dinonaktifkan"


class TransitionRefused(Conflict):
    code = "transition_refused"
    title = "Langkah tidak sesuai status usulan"
