"""Event types the reporting service records in its log (past tense, versioned schemas).

Streams: `export:<export id>` (an export of a report asked for, produced or failed; for a
report that names persons, the disclosure it is); `datarequest:<request id>` (a data request
filed, decided, each person's consent asked and answered, its release)."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("reporting", streams=(
    "export:<export_id>",  # an export of a report: asked, produced (a disclosure), failed
    "datarequest:<request_id>",  # a data request: filed, decided, consents, released
))

_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
_format = fields.String(required=True, validate=validate.OneOf(["csv", "xlsx", "pdf"]))


@REGISTRY.event("ExportRequested", version=1)
class ExportRequested(Schema):
    """Someone asked for a report as a file: what, in which format, with which filters, why."""

    report = fields.String(required=True)
    format = _format
    params = fields.Dict(required=True)
    purpose = fields.String(allow_none=True)
    account_id = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    personal = fields.Boolean(required=True)
    official = fields.Boolean(required=True)


@REGISTRY.event("ReportExported", version=1)
class ReportExported(Schema):
    """A report that names nobody (a statistic) was written to a file in the document store."""

    report = fields.String(required=True)
    format = _format
    rows = fields.Integer(required=True, strict=True)
    sha256 = _sha256
    size = fields.Integer(required=True, strict=True)
    document_id = fields.String(allow_none=True)


@REGISTRY.event("PersonalDataDisclosed", version=1)
class PersonalDataDisclosed(Schema):
    """A file naming persons left the system: to whom (`recipient`, their roles), what (the
    report, its filters, the number of rows, the format, the file's SHA-256; the NIPs it held
    are in the `disclosed_subjects` table under this export id), why (`purpose`) and when
    (the event's time). Issue 17's disclosure log reads these."""

    export_id = fields.String(required=True)
    recipient = fields.String(required=True)
    recipient_roles = fields.List(fields.String(), required=True)
    report = fields.String(required=True)
    params = fields.Dict(required=True)
    format = _format
    rows = fields.Integer(required=True, strict=True)
    subjects = fields.Integer(required=True, strict=True,
                              metadata={"description": "distinct NIPs in disclosed_subjects"})
    sha256 = _sha256
    size = fields.Integer(required=True, strict=True)
    purpose = fields.String(required=True, validate=validate.Length(min=10))
    document_id = fields.String(allow_none=True)


@REGISTRY.event("ExportFailed", version=1)
class ExportFailed(Schema):
    """The file could not be produced; nothing left the system."""

    report = fields.String(required=True)
    format = _format
    code = fields.String(required=True)
    message = fields.String(required=True)


# -- data requests (permintaan data, issue 17 part 2) -------------------------------------------

_nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))


@REGISTRY.event("DataRequestFiled", version=1)
class DataRequestFiled(Schema):
    """Someone outside an agreement asked for employees' data: who (`requester`, their roles,
    the organisation they ask for), why, which fields, whose data (`population`: an OPD, an
    instansi, a list of NIPs) and for which period of use."""

    request_id = fields.String(required=True)
    requester = fields.String(required=True)
    requester_roles = fields.List(fields.String(), required=True)
    organisation = fields.String(required=True)
    purpose = fields.String(required=True, validate=validate.Length(min=10))
    fields_ = fields.List(fields.String(), required=True, data_key="fields")
    population = fields.Dict(required=True)
    period_from = fields.Date(required=True)
    period_until = fields.Date(required=True)


@REGISTRY.event("DataRequestApproved", version=1)
class DataRequestApproved(Schema):
    """BKD approved the request (not its requester): the persons it concerns (`subjects`, the
    population resolved from the employee list at that moment) are asked for consent."""

    request_id = fields.String(required=True)
    reason = fields.String(required=True)
    subjects = fields.Integer(required=True, strict=True)


@REGISTRY.event("DataRequestRefused", version=1)
class DataRequestRefused(Schema):
    """BKD refused the request, saying why; nothing is ever released for it."""

    request_id = fields.String(required=True)
    reason = fields.String(required=True)


@REGISTRY.event("ConsentRequested", version=1)
class ConsentRequested(Schema):
    """One person concerned by an approved request is asked for consent (their inbox tells
    them: verification's inbox consumes this event)."""

    request_id = fields.String(required=True)
    nip = _nip
    organisation = fields.String(required=True)
    purpose = fields.String(required=True)
    fields_ = fields.List(fields.String(), required=True, data_key="fields")


@REGISTRY.event("ConsentGiven", version=1)
class ConsentGiven(Schema):
    """The person (`nip`) allowed their data to be released for this request."""

    request_id = fields.String(required=True)
    nip = _nip


@REGISTRY.event("ConsentRefused", version=1)
class ConsentRefused(Schema):
    """The person (`nip`) refused: their data never leaves for this request."""

    request_id = fields.String(required=True)
    nip = _nip
    reason = fields.String(allow_none=True)


@REGISTRY.event("DataRequestReleased", version=1)
class DataRequestReleased(Schema):
    """The release was asked for: an export (`export_id`, produced and signed by the export
    worker, whose PersonalDataDisclosed names the NIPs it held) of the consenting persons only,
    downloadable by the requester until `expires_at`; how many consented, refused, or had not
    answered yet (those two are left out)."""

    request_id = fields.String(required=True)
    export_id = fields.String(required=True)
    format = _format
    given = fields.Integer(required=True, strict=True)
    refused = fields.Integer(required=True, strict=True)
    pending = fields.Integer(required=True, strict=True)
    expires_at = fields.DateTime(required=True)
