"""Contract of the verification service's RPC answers (shared with the gateway)."""

from marshmallow import Schema, fields, validate


class QueueQuery(Schema):
    opd_id = fields.String(validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"),
                           metadata={"description": "satu OPD saja (dalam cakupan Anda)"})


class QueueItem(Schema):
    item_id = fields.String(metadata={"description": "request:<id> atau change:<NIP>:<id>"})
    kind = fields.String(metadata={"description": "request | record_change"})
    stage = fields.String()
    opd_id = fields.String()
    nip = fields.String()
    layanan = fields.String(allow_none=True)
    sla_hari_kerja = fields.Integer(allow_none=True)
    since = fields.String()
    claimed_by = fields.String(allow_none=True)
    claimed_at = fields.String(allow_none=True)
    sla = fields.Dict(metadata={"description": "working_days, due, breached"})


class Claim(Schema):
    item_id = fields.String()
    claimed_by = fields.String()
