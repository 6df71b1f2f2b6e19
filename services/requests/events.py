"""Event types the requests service records in its log (past tense, versioned schemas).

Streams: `layanan:<KODE>` (the catalogue entry: each published version, deactivation by decree),
`request:<id>` (one request through its workflow), `request-downloads:<id>` (who downloaded its
documents) and `request-claims:<id>` (who took it from the verification queue)."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("requests", streams=(
    "layanan:<KODE>",                  # a catalogue entry
    "request:<request_id>",            # a request through its workflow
    "request-downloads:<request_id>",  # who downloaded its documents
    "request-claims:<request_id>",     # who took it from the verification queue
    "layanan-evaluation:<year>",       # the year's evaluation, recorded and signed
))

_kode = fields.String(required=True, validate=validate.Regexp(r"^[A-Z_]{2,40}$"))
_reason = fields.String(required=True, validate=validate.Length(1, 1000))
_sha = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$"))
#: whose request: every transition carries it, so a consumer (notifications) needs no other event
_nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))
#: a BKD-only layanan (hukuman disiplin): the event is withheld from the bus
_confidential = fields.Boolean(load_default=False)


class _Sop(Schema):
    nomor = fields.String(required=True, validate=validate.Length(1, 100))
    versi = fields.Integer(required=True)


@REGISTRY.event("LayananPublished", version=1)
class LayananPublished(Schema):
    """A catalogue entry version: the seed, or a change approved by the SIMASN team with its
    new SOP."""

    kode = _kode
    version = fields.Integer(required=True)
    entry = fields.Dict(required=True)
    sop = fields.Nested(_Sop, required=True)
    approval = fields.Dict(load_default=dict)


@REGISTRY.event("LayananDeactivated", version=1)
class LayananDeactivated(Schema):
    """Switched off by a decree of the Kepala BKD: no new requests; running ones finish."""

    kode = _kode
    decree_number = fields.String(required=True, validate=validate.Length(1, 100))
    decree_date = fields.Date(required=True)


@REGISTRY.event("RequestDrafted", version=1)
class RequestDrafted(Schema):
    request_id = fields.UUID(required=True)
    layanan = _kode
    catalogue_version = fields.Integer(required=True)
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    opd_id = fields.String(required=True)
    drafted_by = fields.String(required=True)
    on_behalf = fields.Boolean(required=True)
    options = fields.Dict(load_default=dict)
    documents = fields.Dict(keys=fields.String(), values=_sha, load_default=dict)
    idempotency_key = fields.String(validate=validate.Length(1, 100))
    confidential = _confidential


@REGISTRY.event("RequestDocumentsChanged", version=1)
class RequestDocumentsChanged(Schema):
    confidential = _confidential
    documents = fields.Dict(keys=fields.String(), values=_sha, required=True)
    removed = fields.List(fields.String(), load_default=list)


@REGISTRY.event("RequestSubmitted", version=1)
class RequestSubmitted(Schema):
    eligibility = fields.Dict(required=True)
    resubmission = fields.Boolean(load_default=False)
    #: what the verification queue needs, so it never has to wait for another event
    layanan = fields.String()
    nip = fields.String()
    opd_id = fields.String()
    sla_hari_kerja = fields.Integer()
    confidential = _confidential


@REGISTRY.event("RequestWithdrawn", version=1)
class RequestWithdrawn(Schema):
    nip = _nip
    confidential = _confidential
    reason = _reason


@REGISTRY.event("VerificationStarted", version=1)
class VerificationStarted(Schema):
    nip = _nip
    confidential = _confidential
    verifier = fields.String(required=True)


@REGISTRY.event("RequestReturned", version=1)
class RequestReturned(Schema):
    """Back to the employee: a reason for each document (or for the request as a whole)."""
    nip = _nip
    confidential = _confidential

    documents = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    note = fields.String(validate=validate.Length(max=1000))


@REGISTRY.event("RequestVerified", version=1)
class RequestVerified(Schema):
    nip = _nip
    confidential = _confidential
    checks = fields.Dict(required=True)


@REGISTRY.event("RequestApproved", version=1)
class RequestApproved(Schema):
    nip = _nip
    confidential = _confidential
    reason = _reason


@REGISTRY.event("RequestApproved", version=2)
class RequestApprovedV2(RequestApproved):
    """Approved, with what the decree will state that changes the employee's record (per
    layanan: shared/contracts/requests.py OUTCOMES), entered by the approver."""

    outcome = fields.Dict(keys=fields.String(), load_default=dict)


@REGISTRY.upcaster("RequestApproved", from_version=1)
def _approved_without_outcome(payload: dict) -> dict:
    # approved before issue 13: nothing of the decree was captured
    return {**payload, "outcome": {}}


@REGISTRY.event("RequestRejected", version=1)
class RequestRejected(Schema):
    nip = _nip
    confidential = _confidential
    reason = _reason


@REGISTRY.event("SigningStarted", version=1)
class SigningStarted(Schema):
    nip = _nip
    confidential = _confidential
    output = fields.String(required=True)


@REGISTRY.event("RequestCompleted", version=1)
class RequestCompleted(Schema):
    nip = _nip
    confidential = _confidential
    output_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


@REGISTRY.event("RequestCompleted", version=2)
class RequestCompletedV2(RequestCompleted):
    """Complete, and self-contained for whoever applies its outcome (records): which layanan,
    the options chosen at the draft, the outcome the approver entered, and the signed decree
    (its number and date, the signing service's document id; the PDF is `output_sha256`)."""

    request_id = fields.UUID(required=True)
    layanan = _kode
    opd_id = fields.String(required=True)
    options = fields.Dict(load_default=dict)
    outcome = fields.Dict(keys=fields.String(), load_default=dict)
    decree_number = fields.String(allow_none=True, validate=validate.Length(1, 80))
    decree_date = fields.Date(allow_none=True)
    document_id = fields.UUID(allow_none=True)


@REGISTRY.upcaster("RequestCompleted", from_version=1)
def _completed_before_outcomes(payload: dict) -> dict:
    # completed before issue 13: no layanan, outcome or decree in the event; a consumer finds
    # the request in the stream id and has no outcome to apply
    return {**payload, "request_id": None, "layanan": None, "opd_id": None, "options": {},
            "outcome": {}, "decree_number": None, "decree_date": None, "document_id": None}


@REGISTRY.event("OutputReplaced", version=1)
class OutputReplaced(Schema):
    """The output of a completed request was re-issued (a corrected document, new number): the
    request points at the new signed PDF; the old one reads "superseded" when verified."""

    nip = _nip
    confidential = _confidential
    output_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


@REGISTRY.event("OutputReplaced", version=2)
class OutputReplacedV2(OutputReplaced):
    """Re-issued, and self-contained as RequestCompleted v2 is: the new decree (its number and
    date from the signing service's DocumentSigned, its document id, the PDF `output_sha256`)
    and the one it replaces, so records moves the entries the first decree added."""

    request_id = fields.UUID(required=True)
    layanan = _kode
    decree_number = fields.String(required=True, validate=validate.Length(1, 80))
    #: None only when the signing service's event did not say (withheld from the bus)
    decree_date = fields.Date(required=True, allow_none=True)
    document_id = fields.UUID(required=True)
    previous_output_sha256 = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    previous_document_id = fields.UUID(allow_none=True)


@REGISTRY.upcaster("OutputReplaced", from_version=1)
def _replaced_before_outcomes(payload: dict) -> dict:
    # replaced before issue 13's re-issue reached the record: only the new PDF is known; a
    # consumer finds no layanan and has nothing to move
    return {**payload, "request_id": None, "layanan": None, "decree_number": None,
            "decree_date": None, "document_id": None, "previous_output_sha256": None,
            "previous_document_id": None}


@REGISTRY.event("RequestDocumentDownloaded", version=1)
class RequestDocumentDownloaded(Schema):
    """Who fetched which document of a request (stream request-downloads:<id>, so reading
    never moves the request's own version)."""

    request_id = fields.UUID(required=True)
    document = fields.String(required=True, validate=validate.Length(1, 60))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    confidential = _confidential


@REGISTRY.event("RequestClaimed", version=1)
class RequestClaimed(Schema):
    """A verifier took the request from the verification queue (verification's
    VerificationItemClaimed, consumed once). Stream request-claims:<id>: a claim is no step of
    the workflow and never moves the request's own version; the timeline shows it."""

    request_id = fields.UUID(required=True)
    claimed_by = fields.String(required=True)
    claimed_by_role = fields.String(required=True)
    #: when verification recorded the claim (its event's recorded_at)
    claimed_at = fields.String(required=True)
    previous_claimant = fields.String(allow_none=True, load_default=None)
    lapsed = fields.Boolean(required=True)
    confidential = _confidential


# -- the yearly evaluation of the layanan, recorded and signed (usecases/evaluation.py) -------

@REGISTRY.event("LayananEvaluationRecorded", version=1)
class LayananEvaluationRecorded(Schema):
    """The year's evaluation as this log said it when an administrator recorded it: the
    figures per layanan (evaluation.report), their SHA-256 (canonical JSON), who is to sign;
    a correction names its reason."""

    year = fields.Integer(required=True)
    revision = fields.Integer(required=True)
    figures = fields.List(fields.Dict(), required=True)
    figures_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    signer = fields.String(required=True)
    correction = fields.Boolean(required=True)
    reason = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)


@REGISTRY.event("LayananEvaluationSigned", version=1)
class LayananEvaluationSigned(Schema):
    """The signing service produced and signed the report of that revision."""

    year = fields.Integer(required=True)
    revision = fields.Integer(required=True)
    document_id = fields.UUID(required=True)
    number = fields.String(allow_none=True)
    pdf_sha256 = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


@REGISTRY.event("LayananEvaluationRefused", version=1)
class LayananEvaluationRefused(Schema):
    """Signing refused that revision (e.g. a signer without a certificate): it may be recorded
    again."""

    year = fields.Integer(required=True)
    revision = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


# -- what the bus may carry: a disciplinary procedure is confidential -------------------------

def _withheld_if_confidential(payload: dict) -> dict:
    if not payload.get("confidential"):
        return payload
    return {"confidential": True, "withheld": True}


for _name in ("RequestDrafted", "RequestDocumentsChanged", "RequestSubmitted",
              "RequestWithdrawn", "VerificationStarted", "RequestReturned", "RequestVerified",
              "RequestApproved", "RequestRejected", "SigningStarted", "RequestCompleted",
              "OutputReplaced", "RequestDocumentDownloaded", "RequestClaimed"):
    REGISTRY.redactor(_name)(_withheld_if_confidential)
