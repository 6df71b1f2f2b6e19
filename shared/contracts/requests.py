"""Contract of the requests service's RPC payloads (shared with the gateway)."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.reference import domain_data

_version = fields.Integer(required=True, validate=validate.Range(0, 1_000_000),
                          metadata={"description": "versi usulan yang dibaca (konkurensi)"})
_reason = fields.String(validate=validate.Length(3, 1000))
_documents = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z0-9_]{2,60}$")),
                         values=fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
                         validate=validate.Length(max=40),
                         metadata={"description": "kode dokumen -> SHA-256 dokumen terunggah"})
_kode = fields.String(required=True, validate=validate.Regexp(r"^[A-Z_]{2,40}$"))


class RequestCreate(Schema):
    layanan = _kode
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    options = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)),
                          values=fields.String(validate=validate.Length(1, 60)),
                          load_default=dict, validate=validate.Length(max=20))
    documents = _documents
    idempotency_key = fields.String(validate=validate.Length(8, 100), metadata={
        "description": "kunci unik dari klien: pengajuan ulang dengan kunci sama = usulan sama"})
    reason = _reason


class RequestDocuments(Schema):
    documents = _documents
    removed = fields.List(fields.String(validate=validate.Length(1, 60)), load_default=list,
                          validate=validate.Length(max=40))
    expected_version = _version


class Transition(Schema):
    expected_version = _version
    reason = _reason


class Withdrawal(Schema):
    expected_version = _version
    reason = fields.String(required=True, validate=validate.Length(3, 1000))


class ReturnForCorrection(Schema):
    expected_version = _version
    documents = fields.Dict(keys=fields.String(validate=validate.Length(1, 60)),
                            values=fields.String(validate=validate.Length(3, 500)),
                            required=True, validate=validate.Length(min=1, max=40),
                            metadata={"description": "kode dokumen (atau 'usulan') -> alasan"})
    note = fields.String(validate=validate.Length(max=1000))


class DocumentVerdict(Schema):
    original = fields.Boolean(required=True)
    legible = fields.Boolean(required=True)
    matches_record = fields.Boolean(required=True)
    note = fields.String(validate=validate.Length(max=500))


class Verification(Schema):
    expected_version = _version
    checks = fields.Dict(keys=fields.String(validate=validate.Length(1, 60)),
                         values=fields.Nested(DocumentVerdict), required=True,
                         validate=validate.Length(min=1, max=40))
    reason = _reason


# -- what the approver records of the decree: per layanan, what it changes in the record -------
# The decree (SK) states these facts; the approving administrator enters them with the
# approval, so the signed document and the record say the same thing. Layanan whose outcome is
# derived from the record and the decree alone (the exam pass certificates) take nothing; the
# three that change nothing take nothing (docs/design/layanan-outcomes.md says why).

_tmt = {"required": True, "metadata": {"description": "terhitung mulai tanggal menurut SK"}}
_card = fields.String(required=True,
                      validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9./ -]{2,29}$"),
                      metadata={"description": "nomor kartu yang diterbitkan"})
_masa_kerja = {"masa_kerja_tahun": fields.Integer(validate=validate.Range(0, 60)),
               "masa_kerja_bulan": fields.Integer(validate=validate.Range(0, 11))}


class KenaikanPangkatOutcome(Schema):
    golongan = fields.String(required=True, validate=validate.OneOf(
        [g["gol_ruang"] for g in domain_data()["golongan_pns"]]),
        metadata={"description": "golongan ruang baru, mis. III/d"})
    tmt = fields.Date(**_tmt)
    locals().update(_masa_kerja)


class KgbOutcome(Schema):
    tmt = fields.Date(**_tmt)
    gaji_pokok = fields.Integer(required=True, validate=validate.Range(1, 100_000_000),
                                metadata={"description": "gaji pokok baru (rupiah)"})
    locals().update(_masa_kerja)


class MutasiOutcome(Schema):
    opd_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"),
                           metadata={"description": "perangkat daerah tujuan"})
    unit = fields.String(required=True, validate=validate.Length(1, 200))
    jenis_jabatan = fields.String(required=True, validate=validate.OneOf(
        ["struktural", "fungsional", "pelaksana"]))
    nama_jabatan = fields.String(required=True, validate=validate.Length(1, 200))
    eselon = fields.String(validate=validate.Length(1, 10))
    tmt = fields.Date(**_tmt)


class PindahJabatanOutcome(Schema):
    nama_jabatan = fields.String(required=True, validate=validate.Length(1, 200),
                                 metadata={"description": "jabatan pelaksana (baru atau tetap)"})
    unit = fields.String(validate=validate.Length(1, 200),
                         metadata={"description": "unit organisasi baru, bila berpindah unor"})
    tmt = fields.Date(**_tmt)


class PensiunOutcome(Schema):
    tmt_pensiun = fields.Date(required=True, metadata={
        "description": "TMT pensiun: tanggal 1 bulan berikutnya setelah mencapai BUP"})
    jenis_pensiun = fields.String(load_default="BUP", validate=validate.OneOf(
        ["BUP", "APS", "janda_duda", "tewas", "uzur"]))


class CpnsPnsOutcome(Schema):
    tmt_pns = fields.Date(required=True)


class SatyalancanaOutcome(Schema):
    tingkat = fields.Integer(required=True, validate=validate.OneOf([10, 20, 30]),
                             metadata={"description": "masa kerja 10, 20 atau 30 tahun"})
    keppres_nomor = fields.String(validate=validate.Length(1, 100),
                                  metadata={"description": "nomor Keppres, bila sudah terbit"})
    keppres_tanggal = fields.Date()


class KartuOutcome(Schema):
    nomor_kartu = _card


class KartuKesehatanOutcome(Schema):
    nomor_kartu = fields.String(required=True, validate=validate.Regexp(r"^\d{13}$"),
                                metadata={"description": "nomor kartu BPJS Kesehatan (13 digit)"})


class IzinBelajarOutcome(Schema):
    education_id = fields.String(required=True, validate=validate.Length(1, 10),
                                 metadata={"description": "jenjang yang ditempuh (kode SIASN)"})
    programme = fields.String(required=True, validate=validate.Length(1, 150))
    institution = fields.String(required=True, validate=validate.Length(1, 200))
    mulai = fields.Date()


class UjianOutcome(Schema):
    tanggal_lulus = fields.Date(metadata={"description": "tanggal lulus; tanpa ini: tanggal "
                                                         "surat tanda lulus"})


class NoOutcome(Schema):
    """A layanan whose decree changes nothing in the record."""


OUTCOMES = {
    "KENAIKAN_PANGKAT": KenaikanPangkatOutcome, "KGB": KgbOutcome, "MUTASI": MutasiOutcome,
    "PINDAH_JAB_PELAKSANA": PindahJabatanOutcome, "PENSIUN": PensiunOutcome,
    "CPNS_PNS": CpnsPnsOutcome, "SATYALANCANA": SatyalancanaOutcome, "KARIS_KARSU": KartuOutcome,
    "KARPEG": KartuOutcome, "TASPEN": KartuOutcome, "KARTU_KESEHATAN": KartuKesehatanOutcome,
    "IZIN_BELAJAR": IzinBelajarOutcome, "UJIAN_DINAS": UjianOutcome, "UPKP": UjianOutcome,
    "UJIAN_KP_PEMBINA": UjianOutcome, "IZIN_CERAI": NoOutcome, "DUPAK_PAK": NoOutcome,
    "HUKDIS": NoOutcome,
}


def outcome_schema(layanan: str) -> Schema:
    """The approval's `outcome` for this layanan, as a schema whose errors name `outcome.<x>`."""
    return Schema.from_dict({"outcome": fields.Nested(OUTCOMES.get(layanan, NoOutcome),
                                                      required=True)})()


class Decision(Schema):
    expected_version = _version
    approve = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(3, 1000))
    outcome = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)), load_default=dict,
                          metadata={"description": (
                              "isi keputusan yang mengubah data pegawai, wajib saat menyetujui "
                              "layanan yang mengubah data (docs/design/layanan-outcomes.md); "
                              "kolomnya menurut layanan: ") + "; ".join(
                              f"{kode}: {', '.join(schema().fields) or '-'}"
                              for kode, schema in sorted(OUTCOMES.items()))})


class Completion(Schema):
    expected_version = _version
    output_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    decree_number = fields.String(validate=validate.Length(1, 80), metadata={
        "description": "nomor dokumen keluaran yang ditandatangani di luar SIMASN"})
    decree_date = fields.Date(metadata={"description": "tanggal dokumen keluaran"})


class LayananDocumentCondition(Schema):
    """When a document is needed: an option's value, or a fact of the record."""

    option = fields.String(validate=validate.Length(1, 40))
    equals = fields.String(validate=validate.Length(1, 60))
    record = fields.String(validate=validate.Length(1, 60))
    value = fields.Raw(metadata={"description": "parameter syarat record, mis. golongan"})

    @validates_schema
    def _one_kind(self, data, **_):
        by_option = "option" in data and "equals" in data and "value" not in data
        by_record = "record" in data and "option" not in data and "equals" not in data
        if not (by_option or by_record):
            raise ValidationError("isi option dan equals, atau record (dengan value bila perlu)")


class LayananDocument(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{2,60}$"))
    nama = fields.String(required=True, validate=validate.Length(1, 200))
    mandatory = fields.Boolean(required=True)
    when = fields.Nested(LayananDocumentCondition)


class LayananFields(Schema):
    """What a catalogue change may set (services/requests/usecases/catalogue.py CHANGEABLE),
    typed as the published entry holds it."""

    nama = fields.String(validate=validate.Length(1, 200))
    deskripsi = fields.String(validate=validate.Length(max=2000))
    dasar_hukum = fields.List(fields.String(validate=validate.Length(1, 300)),
                              validate=validate.Length(1, 30))
    eligibilitas_teks = fields.List(fields.String(validate=validate.Length(1, 1000)),
                                    validate=validate.Length(max=30))
    eligibility = fields.List(fields.Dict(keys=fields.String()), validate=validate.Length(1, 30),
                              metadata={"description": "aturan: {rule, parameternya}"})
    documents = fields.List(fields.Nested(LayananDocument), validate=validate.Length(1, 40))
    options = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)),
                          values=fields.List(fields.String(validate=validate.Length(1, 60)),
                                             validate=validate.Length(1, 20)),
                          validate=validate.Length(max=20))
    output = fields.String(validate=validate.Length(1, 300))
    penerbit_output = fields.String(validate=validate.Length(1, 300))
    sla_hari_kerja = fields.Integer(validate=validate.Range(1, 365))
    submitters = fields.List(fields.String(validate=validate.OneOf(
        ["pegawai", "fasilitator", "administrator"])), validate=validate.Length(1, 3))
    repeat = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)), metadata={
        "description": "pemberian ulang: {rule: unlimited | once (replacement: {option, values} "
                       "atau {document}) | interval (years, lead_months)}"})


class LayananChange(Schema):
    changes = fields.Nested(LayananFields, required=True)
    sop = fields.Dict(required=True, metadata={"description": "SOP baru: {nomor, versi}"})
    approval = fields.Dict(required=True, metadata={
        "description": "persetujuan tim SIMASN: {reference}"})
    reason = fields.String(required=True, validate=validate.Length(3, 1000))


class LayananDeactivation(Schema):
    decree_number = fields.String(required=True, validate=validate.Length(3, 100),
                                  metadata={"description": "nomor keputusan Kepala BKD"})
    decree_date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(3, 1000))


class Request(Schema):
    request_id = fields.String()
    layanan = fields.String()
    catalogue_version = fields.Integer()
    nip = fields.String()
    opd_id = fields.String()
    state = fields.String()
    state_name = fields.String()
    version = fields.Integer()
    submitted_by = fields.String()
    on_behalf = fields.Boolean()
    options = fields.Dict()
    documents = fields.Dict()
    returns = fields.List(fields.Dict())
    decision_reason = fields.String(allow_none=True)
    outcome = fields.Dict(metadata={"description": "isi keputusan yang dicatat pada data pegawai "
                                                   "saat usulan selesai"})
    output_sha256 = fields.String(allow_none=True)
    decree_number = fields.String(allow_none=True, metadata={
        "description": "nomor dokumen keluaran yang ditandatangani"})
    decree_date = fields.String(allow_none=True)
    stage_since = fields.String(allow_none=True)
    prepared_by = fields.List(fields.String(), metadata={
        "description": "yang menyusun, melengkapi dokumen atau mengajukan (tidak memverifikasi)"})


class TimelineEntry(Schema):
    version = fields.Integer(allow_none=True, metadata={
        "description": "versi langkah usulan; null untuk baris yang bukan langkah usulan "
                       "(RequestClaimed: diambil dari antrean verifikasi)"})
    event = fields.String()
    recorded_at = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class Layanan(Schema):
    """A catalogue entry as published (shared/reference/layanan.json, then its changes)."""

    kode = fields.String()
    nama = fields.String()
    deskripsi = fields.String()
    version = fields.Integer()
    active = fields.Boolean()
    sop = fields.Dict(metadata={"description": "{nomor, versi}"})
    documents = fields.List(fields.Nested(LayananDocument))
    options = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "pilihan yang wajib diisi pada usulan -> nilai yang boleh"})
    eligibility = fields.List(fields.Dict(), metadata={
        "description": "aturan syarat yang diperiksa sistem"})
    eligibilitas_teks = fields.List(fields.String(), metadata={
        "description": "syarat dalam kata-kata"})
    submitters = fields.List(fields.String(), metadata={
        "description": "peran yang boleh membuat usulan: pegawai, fasilitator, administrator"})
    repeat = fields.Dict(metadata={
        "description": "kapan layanan boleh diberikan lagi kepada pegawai yang sama"})
    sla_hari_kerja = fields.Integer()
    output = fields.String()
    penerbit_output = fields.String(metadata={"description": "yang menerbitkan keluaran"})
    dasar_hukum = fields.List(fields.String())
    uncertain = fields.List(fields.String(), metadata={
        "description": "nilai entri yang belum dipastikan BKD (catatan katalog)"})
    decree_number = fields.String(allow_none=True)
    decree_date = fields.String(allow_none=True)


class Eligibility(Schema):
    layanan = fields.String()
    eligible = fields.Boolean()
    eligible_from = fields.String(allow_none=True)
    tmt = fields.String(allow_none=True, metadata={
        "description": "TMT layanan bila diberikan (KGB, KP), menurut aturan syarat"})
    checks = fields.List(fields.Dict(), metadata={
        "description": "setiap aturan: {rule, ok, message, eligible_from, request_id?}; "
                       "no_open_request, not_granted_before dan grant_period menyebut usulan "
                       "yang masih berjalan atau yang sudah memberikan layanan ini"})
    documents_required = fields.List(fields.Dict(), metadata={
        "description": "dokumen yang diperlukan pegawai ini untuk layanan ini"})


class LayananEvaluation(Schema):
    layanan = fields.String()
    year = fields.Integer()
    volume = fields.Integer()
    approved = fields.Integer()
    rejected = fields.Integer()
    withdrawn = fields.Integer()
    open = fields.Integer()
    approval_rate = fields.Float()
    rejection_rate = fields.Float()
    return_rate = fields.Float()
    turnaround_median_days = fields.Float(allow_none=True)
    turnaround_p90_days = fields.Integer(allow_none=True)
    sla_breaches = fields.Integer()
    most_rejected_documents = fields.List(fields.Dict())


# -- lists of requests and "what can I apply for" (issue 16, the web application) ----------------

STATES = ("draft", "submitted", "under_verification", "returned", "under_approval", "approved",
          "rejected", "signing", "completed", "withdrawn")
_limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
_offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class MyRequestQuery(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    limit = _limit
    offset = _offset


class RequestListQuery(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    layanan = fields.String(validate=validate.Regexp(r"^[A-Z_]{2,40}$"))
    opd_id = fields.String(validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"))
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))
    submitted_from = fields.Date(metadata={"description": "diajukan pertama kali sejak (WIB)"})
    submitted_to = fields.Date(metadata={"description": "diajukan pertama kali sampai (WIB)"})
    limit = _limit
    offset = _offset

    @validates_schema
    def _range(self, data, **_):
        if data.get("submitted_from") and data.get("submitted_to") and \
                data["submitted_from"] > data["submitted_to"]:
            raise ValidationError("submitted_from setelah submitted_to",
                                  field_name="submitted_from")


class AwaitedDocument(Schema):
    document = fields.String(metadata={"description": "kode dokumen, atau 'usulan'"})
    reason = fields.String()


class RequestSummary(Schema):
    request_id = fields.String()
    layanan = fields.String()
    layanan_name = fields.String()
    nip = fields.String()
    opd_id = fields.String()
    state = fields.String()
    state_name = fields.String()
    version = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()
    submitted_at = fields.String(allow_none=True, metadata={
        "description": "pertama kali diajukan; null untuk draf yang belum pernah diajukan"})
    awaiting = fields.List(fields.Nested(AwaitedDocument), allow_none=True, metadata={
        "description": "usulan dikembalikan: yang harus diperbaiki pegawai (per dokumen)"})
    return_note = fields.String(allow_none=True)


class RequestPage(Schema):
    items = fields.List(fields.Nested(RequestSummary))
    limit = fields.Integer()
    offset = fields.Integer()
    has_more = fields.Boolean()


class LayananEligibility(Schema):
    kode = fields.String()
    nama = fields.String()
    eligible = fields.Boolean()
    eligible_from = fields.String(allow_none=True)
    tmt = fields.String(allow_none=True)
    may_submit = fields.Boolean(metadata={
        "description": "peran pemanggil boleh membuat usulan layanan ini"})
    reasons = fields.List(fields.Dict(), metadata={
        "description": "aturan yang belum terpenuhi: {rule, message, eligible_from, "
                       "request_id?}"})
    checks = fields.List(fields.Dict())
    documents_required = fields.List(fields.Dict(), metadata={
        "description": "dokumen yang diperlukan: {code, nama, on_record} (on_record: data "
                       "pegawai sudah memuat dokumen dengan kode ini)"})


class EligibilityOverview(Schema):
    nip = fields.String()
    as_of = fields.String(metadata={"description": "tanggal penilaian (WIB)"})
    layanan = fields.List(fields.Nested(LayananEligibility))
