"""Contract of the signing service's RPC payloads and answers (shared with the gateway)."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

#: The public verification's answer codes and the one fixed message (Bahasa Indonesia) each is
#: shown with: nothing else ever reaches an anonymous caller (no library or exception text; the
#: detail of an unreadable file is logged by the signing service). docs/panduan/tanda-tangan.md
#: explains each one.
VERIFICATION_REASONS = {
    "valid": "dokumen asli, utuh, dan ditandatangani secara elektronik oleh pejabat yang "
             "berwenang",
    "revoked": "dokumen asli, tetapi telah dicabut",
    "superseded": "dokumen asli, tetapi telah diganti dengan dokumen lain",
    "modified": "isi berkas telah diubah setelah ditandatangani",
    "not_issued": "dokumen ini tidak tercatat sebagai terbitan SIMASN Jatim",
    "untrusted": "sertifikat penandatangan tidak diterbitkan oleh CA yang dipercaya",
    "expired": "sertifikat penandatangan sudah kedaluwarsa atau belum berlaku",
    "revoked_certificate": "sertifikat penandatangan telah dicabut oleh penerbitnya",
    "invalid_signature": "tanda tangan elektronik rusak dan tidak dapat diperiksa",
    "no_signature": "PDF ini tidak bertanda tangan elektronik",
    "not_a_pdf": "berkas bukan PDF yang dapat dibaca",
    "not_signed_yet": "dokumen belum selesai ditandatangani",
}
#: The check of the signature alone (`signature.code`, `signature.reason` of an answer).
SIGNATURE_REASONS = {
    "valid": "tanda tangan elektronik sah dan dokumen utuh",
    "modified": "isi berkas berubah setelah ditandatangani",
    "untrusted": VERIFICATION_REASONS["untrusted"],
    "expired": VERIFICATION_REASONS["expired"],
    "revoked_certificate": VERIFICATION_REASONS["revoked_certificate"],
    "invalid_signature": VERIFICATION_REASONS["invalid_signature"],
    "no_signature": VERIFICATION_REASONS["no_signature"],
    "not_a_pdf": VERIFICATION_REASONS["not_a_pdf"],
}
VERIFICATION_STATUSES = ("valid", "revoked", "superseded", "not_valid")

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


class PassphraseSigning(Schema):
    """The signing official's BSrE passphrase, or the one-time code of their BeSign app, given
    when they sign: used once, never stored or logged."""

    passphrase = fields.String(load_default=None, load_only=True,
                               validate=validate.Length(1, 200),
                               metadata={"description": "passphrase sertifikat elektronik "
                                                        "BSrE pejabat (bila penandatangan BSrE: "
                                                        "ini atau totp; tidak disimpan)"})
    totp = fields.String(load_default=None, load_only=True,
                         validate=validate.Regexp(r"^[0-9]{6,8}$",
                                                  error="kode OTP berupa 6-8 angka"),
                         metadata={"description": "kode OTP dari aplikasi BeSign pejabat, "
                                                  "pengganti passphrase (BSRE_API v2; tidak "
                                                  "disimpan)"})

    @validates_schema
    def _one_credential(self, data, **_):
        if data.get("passphrase") and data.get("totp"):
            raise ValidationError("isi passphrase atau kode OTP, bukan keduanya", "totp")


class OpdDocumentQuery(Schema):
    """A fasilitator's list of their OPDs' signed outputs."""

    opd_id = fields.String(validate=validate.Regexp(r"^[a-z0-9_-]{2,40}$"), metadata={
        "description": "satu OPD dalam lingkup Anda (kosong: semuanya)"})
    document_type = fields.String(validate=validate.Regexp(r"^[a-z0-9_]{2,60}$"))
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


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


class ArchiveTimestamp(Schema):
    """A document time stamp (PAdES B-LTA) over the signature and its validation data."""

    at = fields.String(allow_none=True)
    tsa = fields.String(allow_none=True)
    tsa_not_after = fields.String(allow_none=True)


class RevocationEvidence(Schema):
    """An OCSP response or CRL about the signer's certificate: embedded at signing, or the
    CA's answer now."""

    kind = fields.String(validate=validate.OneOf(["ocsp", "crl"]))
    status = fields.String(allow_none=True)
    produced_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)


class SignatureCheck(Schema):
    """The check of the electronic signature alone (it can hold for a revoked document)."""

    valid = fields.Boolean()
    code = fields.String(validate=validate.OneOf(list(SIGNATURE_REASONS)),
                         metadata={"description": "hasil pemeriksaan tanda tangan, dalam kode"})
    reason = fields.String(validate=validate.OneOf(list(SIGNATURE_REASONS.values())),
                           metadata={"description": "pesan tetap untuk kode itu"})
    signer = fields.String(allow_none=True, metadata={"description": "nama pada sertifikat"})
    signer_serial = fields.String(allow_none=True)
    signed_at = fields.String(allow_none=True)
    timestamped = fields.Boolean()
    pades_level = fields.String(allow_none=True, metadata={
        "description": "B-B, B-T, B-LT (data pencabutan tertanam) atau B-LTA (dan cap waktu "
                       "arsip)"})
    proved_signing_time = fields.String(allow_none=True, metadata={
        "description": "waktu penandatanganan yang dibuktikan cap waktu (sah pada saat itu)"})
    archive_timestamps = fields.List(fields.Nested(ArchiveTimestamp), dump_default=list)
    revocation_evidence = fields.List(fields.Nested(RevocationEvidence), dump_default=list)
    current_revocation = fields.Nested(RevocationEvidence, allow_none=True, metadata={
        "description": "jawaban OCSP CA saat ini (bila diperiksa daring dan terjangkau)"})


class VerificationAnswer(Schema):
    valid = fields.Boolean(metadata={"description": "true hanya bila tanda tangan sah, dokumen "
                                                    "utuh, diterbitkan SIMASN, dan tidak dicabut "
                                                    "atau diganti"})
    status = fields.String(validate=validate.OneOf(VERIFICATION_STATUSES))
    code = fields.String(validate=validate.OneOf(list(VERIFICATION_REASONS)),
                         metadata={"description": "alasan dalam kode (daftar tetap; lihat "
                                                  "docs/panduan/tanda-tangan.md bagian 5.4)"})
    reason = fields.String(validate=validate.OneOf(list(VERIFICATION_REASONS.values())),
                           metadata={"description": "pesan tetap untuk kode itu, untuk dibaca "
                                                    "orang"})
    sha256 = fields.String(allow_none=True)
    document = fields.Nested(PublicDocument, allow_none=True)
    signature = fields.Nested(SignatureCheck, allow_none=True)


class DocumentFilters(Schema):
    """What narrows the signed documents' list besides its status (the signing RPC's
    `filters`)."""

    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))
    document_type = fields.String(validate=validate.Regexp(r"^[a-z0-9_]{2,60}$"), metadata={
        "description": "jenis dokumen keluaran, mis. kgb, kenaikan_pangkat"})
    request_id = fields.UUID()
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000), metadata={
        "description": "lewati sekian dokumen (halaman berikutnya: offset + limit; halaman "
                       "yang lebih pendek dari limit adalah yang terakhir)"})


class OwnDocumentQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class DocumentQuery(DocumentFilters):
    status = fields.String(validate=validate.OneOf(["pending", "waiting_key",
                                                    "waiting_passphrase", "failed", "signed",
                                                    "revoked", "superseded"]))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 200))


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
    status = fields.String(metadata={"description": "pending | waiting_key | "
                                                    "waiting_passphrase | failed | signed | "
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
    opd_id = fields.String(allow_none=True)


class Checkpoint(Schema):
    position = fields.Integer(metadata={"description": "posisi checkpoint di log signing"})
    signed_at = fields.String()
    trigger = fields.String(metadata={"description": "timer | on_demand"})
    heads = fields.Dict(metadata={"description": "per log: posisi dan hash terakhir"})
    certificate_serial = fields.String()


class LogStatus(Schema):
    log = fields.String(metadata={"description": "log layanan (skema)"})
    position = fields.Integer(metadata={"description": "posisi kepala log sekarang"})
    hash = fields.String()
    checkpointed_position = fields.Integer(allow_none=True)
    checkpointed_hash = fields.String(allow_none=True)
    merkle_root = fields.String(allow_none=True, metadata={
        "description": "akar Merkle atas peristiwa 1..posisi checkpoint; kosong bila log "
                       "tidak utuh saat disegel"})
    unchanged_since_checkpoint = fields.Boolean(allow_none=True, metadata={
        "description": "peristiwa pada posisi checkpoint masih sama dengan yang disegel"})
    events_since_checkpoint = fields.Integer()
    status = fields.String(metadata={"description": "holds | broken | unchecked"})


class WitnessStatus(Schema):
    configured = fields.Boolean()
    location = fields.String(allow_none=True)
    through = fields.Integer(allow_none=True, metadata={
        "description": "checkpoint terakhir yang diketahui sudah disimpan saksi (proses ini; "
                       "null: belum diperiksa)"})


class AuditStatus(Schema):
    checkpoint = fields.Nested(Checkpoint, allow_none=True, metadata={
        "description": "checkpoint bertanda tangan terbaru"})
    checkpoint_recorded_at = fields.String(allow_none=True)
    logs = fields.List(fields.Nested(LogStatus))
    witness = fields.Nested(WitnessStatus)


class PublicCheckpointQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "hanya checkpoint setelah posisi ini"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class PublicCheckpointItem(Schema):
    position = fields.Integer(metadata={"description": "posisi checkpoint di log signing"})


class PublicCheckpointList(Schema):
    checkpoints = fields.List(fields.Nested(PublicCheckpointItem))
    more = fields.Boolean(metadata={"description": "ada halaman berikutnya (after = posisi "
                                                   "terakhir di halaman ini)"})
    source = fields.String(metadata={"description": "witness (salinan di luar basis data) | "
                                                    "log (belum ada witness)"})


class PublicCheckpoint(Schema):
    """One checkpoint as the witness holds it (simasn-checkpoint/1): anyone may keep it and
    check it with `simasn audit verify --witness URL`."""

    format = fields.String(metadata={"description": "simasn-checkpoint/1"})
    position = fields.Integer()
    recorded_at = fields.String(allow_none=True)
    payload = fields.Dict(metadata={"description": "heads (posisi, hash, ukuran, akar Merkle "
                                                   "per log), signed_at, cms (tanda tangan "
                                                   "segel, base64), certificate_serial, trigger"})
