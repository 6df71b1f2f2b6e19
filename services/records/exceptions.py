"""Errors of the records service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import Conflict, Forbidden, SimasnError, ValidationFailed


class RecordsError(SimasnError):
    code = "records_error"
    http_status = 400
    transient = False


class RecordRejected(ValidationFailed):
    """A change that breaks a records rule; `details.problems` lists every field and reason."""

    code = "record_rejected"
    title = "Data pegawai tidak memenuhi ketentuan"

    @classmethod
    def from_problems(cls, problems) -> "RecordRejected":
        first = problems[0]
        return cls(first.message, field=first.field,
                   details={"problems": [p.as_dict() for p in problems]})


class EmployeeExists(Conflict):
    code = "employee_exists"
    title = "Pegawai sudah terdaftar"


class DocumentNotOwned(ValidationFailed):
    """A link to a document that was not uploaded for this employee (or never passed the
    checks): the same answer either way, so a hash tells nobody whose document it is."""

    code = "document_not_owned"
    title = "Dokumen bukan milik pegawai ini"


class InstansiForbidden(Forbidden):
    """A write to another instansi's employee: a kabupaten/kota writes only its own employees,
    and a provincial fasilitator none of theirs."""

    code = "instansi_forbidden"
    title = "Pegawai instansi lain"


class RegionEventReused(Conflict):
    """A region's event id already applied with other content: an event id names one change."""

    code = "region_event_reused"
    title = "Id peristiwa sudah dipakai untuk perubahan lain"


class BatchTooLarge(ValidationFailed):
    """More changes in one call than records applies at once (apply_region_changes)."""

    code = "batch_too_large"
    http_status = 413
    title = "Terlalu banyak perubahan dalam satu panggilan"
