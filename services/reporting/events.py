"""Event types the reporting service records in its log (past tense, versioned schemas).

Streams: `export:<export id>` (an export of a report asked for, produced or failed; for a
report that names persons, the disclosure it is)."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("reporting", streams=(
    "export:<export_id>",  # an export of a report: asked, produced (a disclosure), failed
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
