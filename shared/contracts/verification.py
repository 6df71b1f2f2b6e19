"""Contract of the verification service's RPC answers (shared with the gateway)."""

from marshmallow import Schema, fields, validate


class QueueQuery(Schema):
    opd_id = fields.String(validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"),
                           metadata={"description": "satu OPD saja (dalam cakupan Anda)"})


class QueueItem(Schema):
    item_id = fields.String(metadata={"description": "request:<id> atau change:<NIP>:<id>"})
    kind = fields.String(metadata={"description": "request | record_change"})
    stage = fields.String()
    opd_id = fields.String(allow_none=True)
    nip = fields.String(allow_none=True)
    layanan = fields.String(allow_none=True)
    sla_hari_kerja = fields.Integer(allow_none=True)
    since = fields.String()
    claimed_by = fields.String(allow_none=True)
    claimed_at = fields.String(allow_none=True)
    sla = fields.Dict(metadata={"description": "working_days, due, breached"})
    confidential = fields.Boolean(metadata={"description": "hukuman disiplin: hanya BKD; OPD, "
                                                           "NIP dan layanan tidak ditampilkan"})


class Claim(Schema):
    item_id = fields.String()
    claimed_by = fields.String()


class FakeDocumentReport(Schema):
    request_id = fields.UUID(required=True)
    document = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{2,60}$"),
                             metadata={"description": "kode dokumen pada usulan"})
    note = fields.String(required=True, validate=validate.Length(3, 1000),
                         metadata={"description": "mengapa dokumen dinilai tidak asli"})


class CaseDecision(Schema):
    reason = fields.String(required=True, validate=validate.Length(3, 1000))


class Case(Schema):
    case_id = fields.String()
    nip = fields.String()
    opd_id = fields.String()
    request_id = fields.String(allow_none=True)
    document = fields.String()
    sha256 = fields.String(allow_none=True)
    reported_by = fields.String()
    status = fields.String(metadata={"description": "drafted | issued | dismissed"})
    warning = fields.String(metadata={"description": "naskah teguran tertulis"})
    reported_at = fields.String()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)


class CaseQuery(Schema):
    status = fields.String(validate=validate.OneOf(["drafted", "issued", "dismissed"]))


class InboxQuery(Schema):
    unread_only = fields.Boolean(load_default=False)


class Notification(Schema):
    notification_id = fields.String()
    request_id = fields.String(allow_none=True)
    event = fields.String()
    title = fields.String()
    body = fields.String()
    created_at = fields.String()
    read_at = fields.String(allow_none=True)


class InboxUpdatesQuery(Schema):
    after = fields.String(load_default="0", validate=validate.Regexp(r"^\d{1,18}$"), metadata={
        "description": "kursor dari jawaban sebelumnya (awal: 0 atau kosong)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class InboxUpdates(Schema):
    items = fields.List(fields.Nested(Notification), metadata={
        "description": "pemberitahuan setelah kursor, yang terlama dahulu"})
    unread = fields.Integer(metadata={"description": "jumlah pemberitahuan belum dibaca"})
    has_more = fields.Boolean()
    cursor = fields.String(metadata={"description": "kirim sebagai after pada tanya berikutnya"})


class Read(Schema):
    notification_id = fields.String()
    read = fields.Boolean()
