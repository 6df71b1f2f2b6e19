"""Event types the signing service records in its log (past tense, versioned schemas).

Streams: `document:<document id>` (an output document: numbered, signed, revoked or superseded)
and `checkpoints` (signed heads of every service's log)."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("signing", streams=(
    "document:<document_id>",            # an output document: numbered, signed, revoked, ...
    "document-downloads:<document_id>",  # who downloaded its signed PDF
    "checkpoints",                       # signed checkpoints of every log's head
))

_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
_confidential = fields.Boolean(load_default=False)


@REGISTRY.event("DocumentNumberAssigned", version=1)
class DocumentNumberAssigned(Schema):
    """A number was taken from the type's sequence for this document; it is never given to
    another document, and a retry of the signing reuses it (so numbers neither repeat nor skip)."""

    subject = fields.String(required=True, validate=validate.Length(1, 120))
    document_key = fields.String(required=True, validate=validate.Length(1, 60))
    document_type = fields.String(required=True, validate=validate.Length(1, 60))
    number = fields.String(required=True, validate=validate.Length(1, 80))
    year = fields.Integer(required=True, strict=True)
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    nip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    signer = fields.String(required=True)
    as_of = fields.String(allow_none=True)
    confidential = _confidential


@REGISTRY.event("DocumentSigned", version=1)
class DocumentSigned(Schema):
    """The signed PDF is in the document store under `sha256`."""

    subject = fields.String(required=True)
    number = fields.String(required=True)
    sha256 = _sha256
    unsigned_sha256 = _sha256
    size = fields.Integer(required=True, strict=True)
    signer = fields.String(required=True)
    signer_name = fields.String(required=True)
    jabatan = fields.String(required=True)
    certificate_serial = fields.String(required=True)
    certificate_issuer = fields.String(required=True)
    pades_level = fields.String(required=True,
                                validate=validate.OneOf(["B-B", "B-T", "B-LT", "B-LTA"]))
    signed_at = fields.String(required=True)
    nip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    confidential = _confidential


@REGISTRY.event("DocumentSigned", version=2)
class DocumentSignedV2(DocumentSigned):
    """Signed, with the date printed on the document ("Surabaya, <tanggal>": the day it was
    asked for, in WIB): a re-issued decree's consumer (requests, then records) cites it."""

    document_date = fields.Date(required=True)


@REGISTRY.upcaster("DocumentSigned", from_version=1)
def _signed_without_its_date(payload: dict) -> dict:
    # signed before the date was carried: a consumer falls back on its own date
    return {**payload, "document_date": None}


@REGISTRY.event("DocumentRevoked", version=1)
class DocumentRevoked(Schema):
    reason = fields.String(required=True, validate=validate.Length(5, 1000))
    decree = fields.String(validate=validate.Length(max=200))


@REGISTRY.event("DocumentSuperseded", version=1)
class DocumentSuperseded(Schema):
    superseded_by = fields.String(required=True)
    number = fields.String(required=True)


@REGISTRY.event("ArchiveTimestampRenewed", version=1)
class ArchiveTimestampRenewed(Schema):
    """A B-LTA document got a fresh document time stamp before the last one's TSA certificate
    expired (with that one's validation data): a new revision of the PDF, whose hash is now the
    document's; the previous hash stays resolvable."""

    previous_sha256 = _sha256
    sha256 = _sha256
    size = fields.Integer(required=True, strict=True)
    previous_expires_at = fields.String(allow_none=True)
    archive_expires_at = fields.String(required=True)
    timestamps = fields.Integer(required=True, strict=True, validate=validate.Range(min=2))


@REGISTRY.event("DocumentDownloaded", version=1)
class DocumentDownloaded(Schema):
    """Who fetched a signed output (stream document-downloads:<id>, so reading never moves the
    document's own version)."""

    document_id = fields.String(required=True)
    sha256 = _sha256
    confidential = _confidential


@REGISTRY.event("CheckpointSigned", version=1)
class CheckpointSigned(Schema):
    """The heads (last position and hash) of every service's log, signed with the service's
    seal: a detached CMS signature (base64) over the canonical JSON of `heads`."""

    heads = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)
    signed_at = fields.String(required=True)
    cms = fields.String(required=True)
    certificate_serial = fields.String(required=True)
    trigger = fields.String(required=True, validate=validate.OneOf(["timer", "on_demand"]))


def _withheld_if_confidential(payload: dict) -> dict:
    """A disciplinary decision or a written warning: only that it exists reaches the bus."""
    if not payload.get("confidential"):
        return payload
    kept = {k: payload[k] for k in ("subject", "request_id", "sha256", "number")
            if payload.get(k) is not None}
    return {"confidential": True, "withheld": True, **kept}


for _name in ("DocumentNumberAssigned", "DocumentSigned", "DocumentDownloaded"):
    REGISTRY.redactor(_name)(_withheld_if_confidential)
