"""Errors of the reporting service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import Conflict, Forbidden, NotFound, SimasnError


class ReportingError(SimasnError):
    code = "reporting_error"
    http_status = 400
    transient = False


class ReportUnknown(NotFound):
    code = "report_unknown"


class ExportExpired(SimasnError):
    """A data request's release past its end: the file is no longer handed out."""

    code = "export_expired"
    http_status = 410
    title = "Masa unduh berkas berakhir"
    transient = False


class DataRequestStep(Conflict):
    """A step the data request's state does not allow (`details.state`)."""

    code = "data_request_state"
    title = "Langkah tidak sesuai status permintaan data"


class ConsentMissing(Conflict):
    """A release asked for before anyone concerned has consented: nothing would leave."""

    code = "consent_missing"
    title = "Belum ada persetujuan pegawai"


class FourEyes(Forbidden):
    code = "four_eyes"
