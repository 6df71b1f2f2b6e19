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


class RequestAlreadyOpen(Conflict):
    """One open request per employee and layanan: `details.request_id` is the open one."""

    code = "request_already_open"
    title = "Masih ada usulan layanan ini yang berjalan"


class LayananAlreadyGranted(Conflict):
    """Granted before and the layanan's repeat rule allows no other (or only a replacement):
    `details.request_id` is the request that granted it."""

    code = "layanan_already_granted"
    title = "Layanan ini sudah pernah diberikan"


class GrantPeriodNotReached(ValidationFailed):
    """A periodic layanan (KGB, KP, ...) granted for a period whose next one has not come:
    `details.request_id` is the last grant, `details.eligible_from` when it opens (if waiting
    is enough)."""

    code = "grant_period_not_reached"
    title = "Periode berikutnya layanan ini belum tiba"


class EvaluationRecorded(Conflict):
    code = "evaluation_recorded"
    title = "Evaluasi tahun ini sudah dicatat"


class EvaluationNotSigned(RequestsError):
    code = "evaluation_not_signed"
    http_status = 503
    transient = True
    title = "Laporan evaluasi belum selesai ditandatangani"
