"""Contract of the sync service's RPC payloads and answers (shared with the gateway), and of the
batch a region sends (docs/design/sync.md)."""

from marshmallow import Schema, fields, validate

from shared.reference import domain_data

REGION_CODES = tuple(row["kode_bps_nik"] for row in domain_data()["kab_kota_jatim"])
KINDS = ("employee_registered", "data_pokok_changed", "history_recorded")
#: the headers a region signs its requests with (services/sync/domain.py checks them); the
#: gateway hands exactly these to sync
SIGNED_HEADERS = ("X-Simasn-Region", "X-Simasn-Key-Id", "X-Simasn-Timestamp", "X-Simasn-Batch-Id",
                  "X-Simasn-Signature")
#: what each event of a batch answers (docs/design/sync.md, "Answers")
OUTCOMES = ("received", "waiting", "duplicate", "refused")

_reason = fields.String(required=True, validate=validate.Length(5, 1000),
                        metadata={"description": "alasan (tercatat di log)"})


# -- what a region sends ----------------------------------------------------------------------

class IncomingEvent(Schema):
    event_id = fields.UUID(required=True)
    sequence = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=2**62))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    nip = fields.String(required=True, validate=validate.Length(1, 32))
    data = fields.Dict(required=True)


class Batch(Schema):
    events = fields.List(fields.Nested(IncomingEvent), required=True,
                         validate=validate.Length(min=1))


class SignedRequest(Schema):
    """A region's signed request as the gateway hands it over: it does not know the keys."""

    method = fields.String(required=True, validate=validate.OneOf(("GET", "POST")))
    path = fields.String(required=True, validate=validate.Length(1, 8192))
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    body_base64 = fields.String(load_default="")


# -- answers to a region ------------------------------------------------------------------------

class EventOutcome(Schema):
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES),
                            metadata={"description": "received: akan diterapkan; waiting: "
                                      "menunggu urutan yang hilang; duplicate: sudah diterima; "
                                      "refused: urutan ini milik peristiwa lain"})
    code = fields.String(allow_none=True)
    replaces = fields.String(allow_none=True)


class BatchAnswer(Schema):
    region = fields.String(required=True)
    batch_id = fields.String(required=True)
    events = fields.List(fields.Nested(EventOutcome), required=True)
    received_through = fields.Integer(required=True)
    applied_through = fields.Integer(required=True)
    missing = fields.List(fields.List(fields.Integer()), required=True,
                          metadata={"description": "urutan yang belum diterima, [awal, akhir]"})


class Refusal(Schema):
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    message = fields.String(required=True)
    field = fields.String(allow_none=True)
    details = fields.Raw(allow_none=True)


class QuarantineEntry(Schema):
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    kind = fields.String(required=True)
    nip = fields.String(required=True)
    batch_id = fields.String(required=True)
    received_at = fields.String(required=True)
    refusal = fields.Nested(Refusal, allow_none=True)


class RegionStatus(Schema):
    region = fields.String(required=True)
    name = fields.String(required=True)
    onboarded_at = fields.String(required=True)
    active_keys = fields.Integer(required=True)
    last_received_at = fields.String(allow_none=True)
    last_sequence = fields.Integer(required=True)
    received_through = fields.Integer(required=True)
    applied_through = fields.Integer(required=True)
    lag = fields.Integer(required=True, metadata={"description": "last_sequence - "
                                                  "applied_through"})
    missing = fields.List(fields.List(fields.Integer()), required=True)
    gap_open_since = fields.String(allow_none=True)
    gap_reported = fields.Boolean(required=True)
    waiting = fields.Integer(required=True)
    held_for_gap = fields.Integer(required=True)
    quarantined = fields.Integer(required=True)
    retry_after = fields.String(allow_none=True)
    silent = fields.Boolean(required=True)
    silent_since = fields.String(allow_none=True)
    amqp_rejected = fields.Integer(load_default=0, metadata={
        "description": "messages of the AMQP push refused (dead-lettered into the log)"})
    last_amqp_rejection = fields.Dict(allow_none=True, load_default=None, metadata={
        "description": "the last one: code, message, field, batch_id, at (Unix seconds)"})


# -- administrators ----------------------------------------------------------------------------

class RegionOnboard(Schema):
    region = fields.String(required=True, validate=validate.OneOf(REGION_CODES),
                           metadata={"description": "kode BPS kabupaten/kota (3501..3579)"})
    reason = _reason


class ReasonRequest(Schema):
    reason = _reason


class KeySecret(Schema):
    """A new key: the secret is shown this once and never again."""

    region = fields.String(required=True)
    key_id = fields.String(required=True)
    secret = fields.String(required=True)
    created_at = fields.String(required=True)


class RegionKey(Schema):
    key_id = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.String(required=True)
    retired_at = fields.String(allow_none=True)


class QuarantineQuery(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class QuarantineDecision(Schema):
    region = fields.String(required=True)
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    status = fields.String(required=True)


class _Sequence(Schema):
    sequence = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**62))


def sequence_of(value) -> int:
    """A sequence number from a path parameter (ValidationFailed names it when it is none)."""
    from shared.schemas import load

    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return load(_Sequence(), {"sequence": value})["sequence"]
