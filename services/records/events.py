"""Event types the records service records in its log (past tense, versioned schemas).
Dates travel as ISO strings; money as integers (rupiah)."""

from marshmallow import Schema, fields, validate

from services.records.domain import (
    CONFIDENTIAL_FIELDS,
    CONFIDENTIAL_HISTORIES,
    HISTORIES,
    slot_is_confidential,
)
from shared.eventtypes import EventRegistry
from shared.reference import PROVINCE, instansi

REGISTRY = EventRegistry("records", streams=(
    "employee:<NIP>",        # one employee's master record and histories
    "document:<sha256>",     # an uploaded document and what its checks found
    "downloads:<NIP>",       # who downloaded the documents of this employee's record
    "import:<import_id>",    # a bulk import job
    "disclosure:<uuid>",     # one release of personal data (issue 17, usecases/disclosures.py)
))




@REGISTRY.event("EmployeeRegistered", version=1)
class EmployeeRegisteredV1(Schema):
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    nik = fields.String(validate=validate.Regexp(r"^\d{16}$"))
    name = fields.String(required=True, validate=validate.Length(1, 150))
    gelar_depan = fields.String(validate=validate.Length(max=50))
    gelar_belakang = fields.String(validate=validate.Length(max=80))
    birth_place = fields.String(validate=validate.Length(max=100))
    date_of_birth = fields.Date(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(["L", "P"]))
    religion = fields.String(validate=validate.Length(max=30))
    marital_status = fields.String(validate=validate.Length(max=30))
    address = fields.String(validate=validate.Length(max=300))
    email = fields.Email()
    phone = fields.String(validate=validate.Length(max=20))
    status = fields.String(required=True, validate=validate.OneOf(["CPNS", "PNS", "PPPK"]))
    tmt_cpns = fields.Date()
    tmt_pns = fields.Date()
    opd_id = fields.String(required=True)
    unit = fields.String(validate=validate.Length(max=200))
    golongan = fields.String()
    education_id = fields.String()
    catatan_kesehatan = fields.String(validate=validate.Length(max=1000))


@REGISTRY.event("EmployeeRegistered", version=2)
class EmployeeRegistered(EmployeeRegisteredV1):
    """A new employee record, in its instansi: the province ("35") or a kabupaten/kota (its BPS
    code). A kab/kota employee's `opd_id` is the region's own unit ("3507.dinkes") named by
    `opd_name` (domain.placement_problems)."""

    instansi = fields.String(required=True, validate=validate.OneOf(sorted(instansi())))
    opd_name = fields.String(validate=validate.Length(1, 200))


@REGISTRY.upcaster("EmployeeRegistered", from_version=1)
def _registered_in_the_province(payload: dict) -> dict:
    # before issue 14 records held the province's employees only
    return {**payload, "instansi": PROVINCE}


@REGISTRY.event("DataPokokChanged", version=1)
class DataPokokChanged(Schema):
    changes = fields.Dict(keys=fields.String(), required=True)
    documents = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
                            load_default=list)


@REGISTRY.event("HistoryEntryRecorded", version=1)
class HistoryEntryRecorded(Schema):
    history = fields.String(required=True, validate=validate.OneOf(list(HISTORIES)))
    entry_id = fields.String(required=True)
    entry = fields.Dict(keys=fields.String(), required=True)
    documents = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
                            load_default=list)


@REGISTRY.event("ChangeProposed", version=1)
class ChangeProposed(Schema):
    change_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    documents = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
                            load_default=list)
    #: the employee's OPD when proposed (the verification queue is per OPD)
    opd_id = fields.String(allow_none=True)


@REGISTRY.event("ChangeApplied", version=1)
class ChangeApplied(Schema):
    change_id = fields.String(required=True)
    reason = fields.String(required=True)
    #: the proposal touched confidential fields (its reason stays in the log only)
    confidential = fields.Boolean(load_default=False)


@REGISTRY.event("ChangeRejected", version=1)
class ChangeRejected(Schema):
    change_id = fields.String(required=True)
    reason = fields.String(required=True)
    confidential = fields.Boolean(load_default=False)


@REGISTRY.event("DocumentAttached", version=1)
class DocumentAttached(Schema):
    slot = fields.String(required=True, validate=validate.Length(1, 60))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    content_type = fields.String(required=True, validate=validate.OneOf(
        ["application/pdf", "image/jpeg", "image/png"]))
    size = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    file_name = fields.String(validate=validate.Length(max=200))


@REGISTRY.event("DocumentUploaded", version=1)
class DocumentUploadedV1(Schema):
    """A file passed the readability checks and is in the document store (stream
    document:<sha256>); records link it by hash from then on."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    kind = fields.String(required=True, validate=validate.OneOf(["pdf", "jpeg", "png"]))
    size = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    file_name = fields.String(validate=validate.Length(max=200))


@REGISTRY.event("DocumentUploaded", version=2)
class DocumentUploaded(DocumentUploadedV1):
    """A file passed the readability checks and is in the document store, uploaded for the
    employee `nip` (stream document:<sha256>, one event per owner): that employee's records,
    proposals and requests may link it by hash from then on, nobody else's."""

    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))


@REGISTRY.upcaster("DocumentUploaded", from_version=1)
def _uploaded_for_nobody_known(payload: dict) -> dict:
    # before issue 12 an upload named no employee; migration 004 inferred the owners it could
    # (document_owners, source 'migration') from who uploaded and who linked it
    return {**payload, "nip": None}


@REGISTRY.event("DocumentUploadRefused", version=1)
class DocumentUploadRefused(Schema):
    """An upload was refused (stream document:<sha256>): its content failed the checks
    (`reason` as in the answer: executable, pdf_too_complex, too_complex, ...) or whoever
    uploaded it may not upload for `nip` (`reason` = the error code). `discarded`: its bytes
    were deleted from the document store, this upload having put them there and nothing
    holding them."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    reason = fields.String(required=True, validate=validate.Length(1, 60))
    discarded = fields.Boolean(required=True)
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))


@REGISTRY.event("DocumentDownloaded", version=1)
class DocumentDownloaded(Schema):
    """Who fetched which document of whose record (stream downloads:<NIP>)."""

    nip = fields.String(required=True)
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class _OutcomeEntry(Schema):
    history = fields.String(required=True, validate=validate.OneOf(
        [h for h in HISTORIES if h not in CONFIDENTIAL_HISTORIES]))
    entry_id = fields.String(required=True)
    entry = fields.Dict(keys=fields.String(), required=True)


@REGISTRY.event("LayananOutcomeApplied", version=1)
class LayananOutcomeApplied(Schema):
    """A completed layanan changed the record (requests' RequestCompleted, consumed once): the
    data pokok `changes` and history `entries` its decree states, naming the request, the
    decree's number and date and the signed document (its hash in the document store and the
    signing service's document id). services/records/outcomes.py says what each layanan
    changes."""

    request_id = fields.String(required=True)
    layanan = fields.String(required=True, validate=validate.Regexp(r"^[A-Z_]{2,40}$"))
    decree_number = fields.String(required=True, validate=validate.Length(1, 80))
    decree_date = fields.Date(required=True)
    output_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    document_id = fields.String(allow_none=True)
    changes = fields.Dict(keys=fields.String(validate=validate.NoneOf(
        sorted(CONFIDENTIAL_FIELDS))), required=True)
    entries = fields.List(fields.Nested(_OutcomeEntry), required=True)


class _Decree(Schema):
    decree_number = fields.String(required=True, validate=validate.Length(1, 80))
    decree_date = fields.Date(required=True)
    output_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    document_id = fields.String(allow_none=True)


class _MovedEntry(Schema):
    history = fields.String(required=True, validate=validate.OneOf(
        [h for h in HISTORIES if h not in CONFIDENTIAL_HISTORIES]))
    entry_id = fields.String(required=True)
    #: what the entry cites from now on: its document (`output_sha256`, `document_id`) and,
    #: where it cited the first decree, `sk_nomor`/`sk_tanggal`
    changes = fields.Dict(keys=fields.String(validate=validate.OneOf(
        ["sk_nomor", "sk_tanggal", "output_sha256", "document_id"])), required=True)


@REGISTRY.event("LayananDecreeReplaced", version=1)
class LayananDecreeReplaced(_Decree):
    """The decree of an applied layanan outcome was re-issued (requests' OutputReplaced v2,
    consumed once): the `entries` that outcome added cite the new decree (its number, date and
    signed document) from now on; `previous` is the decree they cited, kept on each entry
    (`replaced_decrees`). What the decree decided (golongan, TMT, ...) stays as it was."""

    request_id = fields.String(required=True)
    layanan = fields.String(required=True, validate=validate.Regexp(r"^[A-Z_]{2,40}$"))
    previous = fields.Nested(_Decree, required=True)
    entries = fields.List(fields.Nested(_MovedEntry), required=True)


# -- what the bus may carry ------------------------------------------------------------------
# Hukuman disiplin entries and health notes are confidential (Pergub 73/2020): only
# administrators see them. Consumers on the bus are other services acting for every role, so
# the relay publishes these events with the confidential parts withheld.

def _without_confidential_fields(values: dict) -> dict:
    return {k: v for k, v in values.items() if k not in CONFIDENTIAL_FIELDS}


@REGISTRY.redactor("EmployeeRegistered")
def _registered_public(payload: dict) -> dict:
    return _without_confidential_fields(payload)


@REGISTRY.redactor("DataPokokChanged")
def _changed_public(payload: dict) -> dict:
    return {**payload, "changes": _without_confidential_fields(payload["changes"])}


@REGISTRY.redactor("ChangeProposed")
def _proposed_public(payload: dict) -> dict:
    return {**payload, "changes": _without_confidential_fields(payload["changes"])}


@REGISTRY.redactor("HistoryEntryRecorded")
def _entry_public(payload: dict) -> dict:
    if payload["history"] not in CONFIDENTIAL_HISTORIES:
        return payload
    # not even which history: that an employee has a penalty is itself confidential
    return {"entry_id": payload["entry_id"], "withheld": True}


# -- bulk imports (stream import:<id>) -------------------------------------------------------

@REGISTRY.event("ImportStarted", version=1)
class ImportStarted(Schema):
    import_id = fields.UUID(required=True)
    opd_id = fields.String(required=True)
    file_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    file_name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(required=True, validate=validate.OneOf(["csv", "xlsx"]))


class _ImportCounts(Schema):
    import_id = fields.UUID(required=True)
    rows = fields.Integer(required=True)
    registered = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    invalid = fields.Integer(required=True)


@REGISTRY.event("ImportCompleted", version=1)
class ImportCompleted(_ImportCounts):
    pass


@REGISTRY.event("ImportFailed", version=1)
class ImportFailed(_ImportCounts):
    error = fields.String(required=True)


@REGISTRY.redactor("DocumentAttached")
def _attached_public(payload: dict) -> dict:
    if not slot_is_confidential(payload["slot"]):
        return payload
    return {"withheld": True}


def _decision_public(payload: dict) -> dict:
    if not payload.get("confidential"):
        return payload
    return {"change_id": payload["change_id"], "confidential": True, "withheld": True}


REGISTRY.redactor("ChangeApplied")(_decision_public)
REGISTRY.redactor("ChangeRejected")(_decision_public)


@REGISTRY.redactor("DocumentUploaded")
def _uploaded_public(payload: dict) -> dict:
    # a file name can say what a document is ("SK hukdis ..."): never on the bus
    return {k: v for k, v in payload.items() if k != "file_name"}


# -- the disclosure log (issue 17 part 3, stream disclosure:<uuid>) ----------------------------

class _Recipient(Schema):
    kind = fields.String(required=True)
    id = fields.String(required=True)
    name = fields.String(allow_none=True)


class _Basis(Schema):
    kind = fields.String(required=True)
    reference = fields.String(required=True)


@REGISTRY.event("PersonalDataDisclosed", version=1)
class PersonalDataDisclosed(Schema):
    """Personal data left the system (shared/contracts/disclosures.py): through which
    `channel`, to whom (`recipient`), on what `basis` (an agreement, a request, an export, the
    auditor's mandate), why (`purpose`), which `fields` of whose records (`nips`), and what was
    released (`reference`). The `disclosures` read model is written in the same transaction."""

    disclosure_id = fields.UUID(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(
        ["agency_api", "data_request", "export", "auditor_read"]))
    recipient = fields.Nested(_Recipient, required=True)
    basis = fields.Nested(_Basis, required=True)
    purpose = fields.String(required=True)
    nips = fields.List(fields.String(validate=validate.Regexp(r"^\d{18}$")), required=True)
    reference = fields.String(allow_none=True)
    # last: the name shadows the marshmallow module in the rest of this class body
    fields = fields.List(fields.String(), required=True)
