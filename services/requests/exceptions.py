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


class DocumentNotOwned(ValidationFailed):
    """A request names a document that was not uploaded for its employee (or never passed the
    checks): the same answer either way, so a hash tells nobody whose document it is."""

    code = "document_not_owned"
    title = "Dokumen bukan milik pegawai ini"
