"""Contract of the records service's RPC payloads (shared with the gateway)."""

from marshmallow import Schema, fields, validate

HISTORIES = ["pangkat", "jabatan", "pendidikan", "hukuman_disiplin", "kinerja"]
_docs = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
                    load_default=list, validate=validate.Length(max=20))
_version = fields.Integer(required=True, validate=validate.Range(0, 1_000_000),
                          metadata={"description": "versi rekaman yang dibaca (konkurensi)"})
_reason = fields.String(required=True, validate=validate.Length(3, 500))


class HistoryRequest(Schema):
    history = fields.String(required=True, validate=validate.OneOf(HISTORIES))
    entry_id = fields.String(validate=validate.Length(1, 64))
    entry = fields.Dict(keys=fields.String(), required=True)
    documents = _docs
    expected_version = _version
    reason = _reason


class ProposalRequest(Schema):
    changes = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                          required=True)
    documents = _docs


class DecisionRequest(Schema):
    change_id = fields.String(required=True)
    apply = fields.Boolean(required=True)
    reason = _reason
    expected_version = _version
