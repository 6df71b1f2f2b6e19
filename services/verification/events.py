"""Event types the verification service records in its log (past tense, versioned schemas).

Streams: `case:<id>` (a document found not original, the written warning drafted for an
administrator, and the administrator's decision) and `queue-item:<item id>` (who took a queue
item to work on: `queue-item:request:<id>`, `queue-item:change:<NIP>:<change id>`)."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("verification", streams=(
    "case:<case_id>",         # a document found not original and its written warning
    "queue-item:<item_id>",   # who claimed a queue item (request:<id> or change:<NIP>:<id>)
))


@REGISTRY.event("FakeDocumentReported", version=1)
class FakeDocumentReported(Schema):
    case_id = fields.UUID(required=True)
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    opd_id = fields.String(required=True)
    request_id = fields.UUID(allow_none=True)
    document = fields.String(required=True, validate=validate.Length(1, 60))
    sha256 = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    note = fields.String(required=True, validate=validate.Length(3, 1000))


@REGISTRY.event("WarningDrafted", version=1)
class WarningDrafted(Schema):
    """The teguran tertulis (PP 94/2021, hukuman disiplin ringan R2) drafted for an
    administrator; its signing comes with the signing service."""

    case_id = fields.UUID(required=True)
    penalty = fields.String(required=True)
    text = fields.String(required=True)


@REGISTRY.event("WarningIssued", version=1)
class WarningIssued(Schema):
    case_id = fields.UUID(required=True)
    penalty = fields.String(required=True)
    effective = fields.Date(required=True)


@REGISTRY.event("CaseDismissed", version=1)
class CaseDismissed(Schema):
    case_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.Length(3, 1000))


@REGISTRY.event("VerificationItemClaimed", version=1)
class VerificationItemClaimed(Schema):
    """A verifier took a queue item to work on: first, again (renewed), or over a lapsed claim
    of someone else. The requests service records it on the request's timeline."""

    item_id = fields.String(required=True, validate=validate.Length(1, 120))
    kind = fields.String(required=True, validate=validate.OneOf(["request", "record_change"]))
    request_id = fields.UUID(allow_none=True, load_default=None)
    opd_id = fields.String(allow_none=True, load_default=None)
    claimed_by = fields.String(required=True)
    claimed_by_role = fields.String(required=True)
    previous_claimant = fields.String(allow_none=True, load_default=None)
    previous_claimed_at = fields.DateTime(allow_none=True, load_default=None)
    #: the previous claim had lapsed (CLAIM_MINUTES without a decision): taken over
    lapsed = fields.Boolean(required=True)


# -- what the bus may carry: disciplinary matters are confidential (administrators only) --------

@REGISTRY.redactor("FakeDocumentReported")
def _reported_public(payload: dict) -> dict:
    return {"case_id": payload["case_id"], "opd_id": payload["opd_id"], "withheld": True}


def _case_only(payload: dict) -> dict:
    return {"case_id": payload["case_id"], "withheld": True}


for _name in ("WarningDrafted", "WarningIssued", "CaseDismissed"):
    REGISTRY.redactor(_name)(_case_only)
