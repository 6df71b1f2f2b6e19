"""Contract of the signing service's RPC payloads and answers (shared with the gateway)."""

from marshmallow import Schema, fields, validate

_reason = fields.String(required=True, validate=validate.Length(5, 1000),
                        metadata={"description": "alasan (tercatat di log)"})


class IssueDocument(Schema):
    """A document another service (or an administrator) asks to be produced and signed."""

    subject = fields.String(required=True,
                            validate=validate.Regexp(r"^[a-z-]{2,20}:[\w:.-]{1,100}$"),
                            metadata={"description": "untuk apa dokumen ini, mis. case:<id>"})
    document_key = fields.String(required=True, validate=validate.Length(1, 60),
                                 metadata={"description": "kode layanan atau jenis dokumen"})
    signer = fields.String(required=True, validate=validate.Length(1, 80),
                           metadata={"description": "akun pejabat penandatangan"})
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))
    values = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)),
                         load_default=dict,
                         metadata={"description": "isian tambahan templat"})
    confidential = fields.Boolean(load_default=False)


class Revocation(Schema):
    reason = _reason
    decree = fields.String(validate=validate.Length(max=200),
                           metadata={"description": "nomor keputusan pencabutan"})


class Reissue(Schema):
    reason = _reason


class VerifyUpload(Schema):
    pdf_base64 = fields.String(required=True, validate=validate.Length(1, 30_000_000))


class PublicDocument(Schema):
    document_id = fields.String()
    title = fields.String()
    number = fields.String(allow_none=True)
    signer_name = fields.String(allow_none=True)
    jabatan = fields.String(allow_none=True)
    signed_at = fields.String(allow_none=True)
    pades_level = fields.String(allow_none=True)
    status = fields.String()
    revoked_reason = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    superseded_by = fields.String(allow_none=True)
    superseded_by_number = fields.String(allow_none=True)


class VerificationAnswer(Schema):
    valid = fields.Boolean(metadata={"description": "true hanya bila tanda tangan sah, dokumen "
                                                    "utuh, diterbitkan SIMASN, dan tidak dicabut "
                                                    "atau diganti"})
    status = fields.String(metadata={"description": "valid | revoked | superseded | not_valid"})
    code = fields.String(metadata={"description": "alasan dalam kode: valid, modified, "
                                                  "not_issued, untrusted, expired, no_signature, "
                                                  "not_a_pdf, revoked, superseded, ..."})
    reason = fields.String(metadata={"description": "alasan untuk dibaca orang"})
    sha256 = fields.String(allow_none=True)
    document = fields.Nested(PublicDocument, allow_none=True)
    signature = fields.Dict(allow_none=True)


class DocumentQuery(Schema):
    status = fields.String(validate=validate.OneOf(["pending", "waiting_key", "failed", "signed",
                                                    "revoked", "superseded"]))


class SignedDocument(Schema):
    document_id = fields.String()
    subject = fields.String()
    document_key = fields.String()
    document_type = fields.String()
    title = fields.String()
    number = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    nip = fields.String(allow_none=True)
    signer = fields.String()
    signer_name = fields.String(allow_none=True)
    jabatan = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending | waiting_key | failed | signed | "
                                                    "revoked | superseded"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sha256 = fields.String(allow_none=True)
    pades_level = fields.String(allow_none=True)
    signed_at = fields.String(allow_none=True)
    as_of = fields.String(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    superseded_by = fields.String(allow_none=True)
    confidential = fields.Boolean()
    created_at = fields.String()


class Checkpoint(Schema):
    position = fields.Integer(metadata={"description": "posisi checkpoint di log signing"})
    signed_at = fields.String()
    trigger = fields.String(metadata={"description": "timer | on_demand"})
    heads = fields.Dict(metadata={"description": "per log: posisi dan hash terakhir"})
    certificate_serial = fields.String()
