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


class EmployeeCreate(Schema):
    """The registration body. Deliberately a copy of the EmployeeRegistered v1 event's fields,
    not its base: the API may change, a stored event version may not."""

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
    opd_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"))
    unit = fields.String(validate=validate.Length(max=200))
    golongan = fields.String(validate=validate.Length(max=10))
    education_id = fields.String(validate=validate.Length(max=10))
    catatan_kesehatan = fields.String(validate=validate.Length(max=1000))
    reason = _reason


class EmployeeQuery(Schema):
    as_of = fields.AwareDateTime(metadata={"description": "rekaman per waktu ini (ISO 8601)"})


class Employee(Schema):
    nip = fields.String()
    version = fields.Integer()
    name = fields.String()
    opd_id = fields.String()
    status = fields.String()
    histories = fields.Dict()
    pending_changes = fields.List(fields.String())


class FieldChange(Schema):
    version = fields.Integer()
    recorded_at = fields.String()
    value = fields.Raw(allow_none=True)
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
