"""Contract of the records service's RPC payloads (shared with the gateway)."""

from datetime import date
from functools import cache

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from shared.reference import instansi

#: an OPD code: the province's (opd.json), or a kab/kota's own unit "<instansi>.<code>"
_OPD = r"^(35\d\d\.)?[a-z0-9-]{2,40}$"

_docs = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
                    load_default=list, validate=validate.Length(max=20))
_version = fields.Integer(required=True, validate=validate.Range(0, 1_000_000),
                          metadata={"description": "versi rekaman yang dibaca (konkurensi)"})
_reason = fields.String(required=True, validate=validate.Length(3, 500))


_sk = {"sk_nomor": fields.String(validate=validate.Length(1, 100)), "sk_tanggal": fields.Date()}
_masa_kerja = {"masa_kerja_tahun": fields.Integer(validate=validate.Range(0, 60)),
               "masa_kerja_bulan": fields.Integer(validate=validate.Range(0, 11))}


def _text(length: int = 200, **kw):
    return fields.String(validate=validate.Length(1, length), **kw)


# One schema per history: the shape of a dated entry. Reference values (golongan, eselon,
# education level, penalty code, SKP predicate) are checked by the records rules against the
# versioned reference data, not listed here.
class PangkatEntry(Schema):
    golongan = fields.String(required=True, validate=validate.Length(1, 10))
    tmt = fields.Date(required=True)
    jenis_kp = _text(50)
    locals().update(_sk | _masa_kerja)


class JabatanEntry(Schema):
    jenis_jabatan = fields.String(required=True, validate=validate.OneOf(
        ["struktural", "fungsional", "pelaksana"]))
    nama_jabatan = _text(200, required=True)
    eselon = fields.String(validate=validate.Length(1, 10))
    unit = _text(200)
    tmt = fields.Date(required=True)
    locals().update(_sk)


class PendidikanEntry(Schema):
    education_id = fields.String(required=True, validate=validate.Length(1, 10))
    programme = _text(150)
    institution = _text(200)
    ijazah_nomor = _text(100)
    lulus_tanggal = fields.Date(required=True)
    gelar = _text(50)


class KeluargaEntry(Schema):
    hubungan = fields.String(required=True, validate=validate.OneOf(
        ["suami", "istri", "anak", "ayah", "ibu"]))
    nama = _text(150, required=True)
    nik = fields.String(validate=validate.Regexp(r"^\d{16}$"))
    tanggal_lahir = fields.Date()
    jenis_anak = fields.String(validate=validate.OneOf(["kandung", "tiri", "angkat"]))
    tanggal_nikah = fields.Date()
    akta_nomor = _text(100)
    tunjangan = fields.Boolean()


class DiklatEntry(Schema):
    jenis = fields.String(required=True, validate=validate.OneOf(
        ["struktural", "latsar", "fungsional", "teknis"]))
    nama = _text(200, required=True)
    penyelenggara = _text(200)
    mulai = fields.Date()
    selesai = fields.Date(required=True)
    jam_pelajaran = fields.Integer(validate=validate.Range(1, 5000))
    sertifikat_nomor = _text(100)


class PenghargaanEntry(Schema):
    nama = _text(200, required=True)
    tanggal = fields.Date(required=True)
    pemberi = _text(200)
    locals().update(_sk)


class HukumanDisiplinEntry(Schema):
    kode = fields.String(required=True, validate=validate.Length(1, 10),
                         metadata={"description": "jenis hukuman (PP 94/2021), mis. R2"})
    mulai = fields.Date(required=True)
    akhir = fields.Date()
    alasan = _text(500)
    locals().update(_sk)


class KinerjaEntry(Schema):
    tahun = fields.Integer(required=True, validate=validate.Range(1979, 2100))
    predikat = fields.String(required=True, validate=validate.Length(1, 30))
    nilai = fields.Integer(validate=validate.Range(0, 120))


class GajiBerkalaEntry(Schema):
    tmt = fields.Date(required=True)
    gaji_pokok = fields.Integer(required=True, validate=validate.Range(1, 100_000_000),
                                metadata={"description": "rupiah"})
    golongan = fields.String(validate=validate.Length(1, 10))
    locals().update(_sk | _masa_kerja)


class IzinBelajarEntry(Schema):
    """A study permit (surat izin belajar): the level and programme the employee may study."""

    education_id = fields.String(required=True, validate=validate.Length(1, 10))
    programme = _text(150, required=True)
    institution = _text(200, required=True)
    mulai = fields.Date()
    locals().update(_sk)


class UjianEntry(Schema):
    """A passed service exam: ujian dinas tingkat I/II, UPKP (penyesuaian ijazah), KP Pembina."""

    jenis = fields.String(required=True, validate=validate.OneOf(
        ["ujian_dinas_tingkat_i", "ujian_dinas_tingkat_ii", "upkp", "kp_pembina"]))
    tanggal = fields.Date(required=True, metadata={"description": "tanggal lulus"})
    education_id = fields.String(validate=validate.Length(1, 10),
                                 metadata={"description": "ijazah yang disesuaikan (UPKP)"})
    locals().update(_sk)


HISTORY_ENTRIES = {"pangkat": PangkatEntry, "jabatan": JabatanEntry,
                   "pendidikan": PendidikanEntry, "keluarga": KeluargaEntry,
                   "diklat": DiklatEntry, "penghargaan": PenghargaanEntry,
                   "hukuman_disiplin": HukumanDisiplinEntry, "kinerja": KinerjaEntry,
                   "gaji_berkala": GajiBerkalaEntry, "izin_belajar": IzinBelajarEntry,
                   "ujian": UjianEntry}
HISTORIES = list(HISTORY_ENTRIES)


def _json_ready(entry: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in entry.items()}


class HistoryRequest(Schema):
    history = fields.String(required=True, validate=validate.OneOf(HISTORIES))
    entry_id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$"))
    entry = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "isi riwayat; kolomnya menurut jenis riwayat: " + "; ".join(
            f"{name}: {', '.join(schema().fields)}" for name, schema in HISTORY_ENTRIES.items())})
    documents = _docs
    expected_version = _version
    reason = _reason

    @validates_schema
    def _entry_shape(self, data, **_):
        if data.get("history") not in HISTORY_ENTRIES or not isinstance(data.get("entry"), dict):
            return
        try:
            history_entry_schema(data["history"]).load(data["entry"])
        except ValidationError as exc:
            raise ValidationError({"entry": exc.messages}) from None

    @post_load
    def _entry_json(self, data, **_):
        data["entry"] = _json_ready(history_entry_schema(data["history"]).load(data["entry"]))
        return data


@cache
def history_entry_schema(history: str) -> Schema:
    """The entry schema of one history, built once (a load with it is far cheaper)."""
    return HISTORY_ENTRIES[history]()


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
    instansi = fields.String(validate=validate.OneOf(sorted(instansi())), metadata={
        "description": "35 = Pemerintah Provinsi Jawa Timur (bawaan), atau kode BPS "
                       "kabupaten/kota 3501-3579"})
    opd_id = fields.String(required=True, validate=validate.Regexp(_OPD), metadata={
        "description": "OPD provinsi (mis. dinkes), atau unit kabupaten/kota "
                       "\"<instansi>.<kode>\" (mis. 3507.dinkes)"})
    opd_name = fields.String(validate=validate.Length(1, 200), metadata={
        "description": "nama OPD/unit kerja kabupaten/kota (wajib untuk pegawai kab/kota)"})
    unit = fields.String(validate=validate.Length(max=200))
    golongan = fields.String(validate=validate.Length(max=10))
    education_id = fields.String(validate=validate.Length(max=10))
    catatan_kesehatan = fields.String(validate=validate.Length(max=1000))
    reason = _reason


#: an employee row of a bulk file (records' import of an OPD, sync's snapshot of a region):
#: the registration's fields and the date of the last pangkat
IMPORT_ROW_FIELDS = {**{name: f for name, f in EmployeeCreate._declared_fields.items()
                        if name != "reason"}, "tmt_golongan": fields.Date()}
#: column names as BKD's and the regions' spreadsheets usually write them -> our field names
IMPORT_ALIASES = {
    "nama": "name", "nama_lengkap": "name", "tempat_lahir": "birth_place",
    "tanggal_lahir": "date_of_birth", "tgl_lahir": "date_of_birth", "jenis_kelamin": "gender",
    "jk": "gender", "agama": "religion", "status_kawin": "marital_status",
    "status_perkawinan": "marital_status", "alamat": "address", "no_hp": "phone",
    "telepon": "phone", "hp": "phone", "status_pegawai": "status", "jenis_pegawai": "status",
    "opd": "opd_id", "kode_opd": "opd_id", "unit_kerja": "unit", "gol": "golongan",
    "gol_ruang": "golongan", "pendidikan": "education_id", "tingkat_pendidikan": "education_id",
    "tmt_gol": "tmt_golongan", "nama_opd": "opd_name", "nama_unit": "opd_name",
}
#: columns a bulk file must have
IMPORT_REQUIRED = ("nip", "name", "date_of_birth", "gender", "status")


def import_column(name) -> str:
    """A file's column name as our field name ("Tanggal Lahir" -> date_of_birth)."""
    key = str(name or "").strip().lower().replace(" ", "_").replace("-", "_")
    return IMPORT_ALIASES.get(key, key)


class EmployeeQuery(Schema):
    as_of = fields.AwareDateTime(metadata={"description": "rekaman per waktu ini (ISO 8601)"})


def _pokok(**kw):
    return fields.String(allow_none=True, **kw)


class Employee(Schema):
    """The record as the caller may see it (the health note for administrators only)."""

    nip = fields.String()
    version = fields.Integer()
    nik = _pokok()
    name = _pokok()
    gelar_depan = _pokok()
    gelar_belakang = _pokok()
    birth_place = _pokok()
    date_of_birth = _pokok(metadata={"format": "date"})
    gender = _pokok()
    religion = _pokok()
    marital_status = _pokok()
    address = _pokok()
    email = _pokok()
    phone = _pokok()
    status = _pokok(metadata={"description": "CPNS | PNS | PPPK | Pensiun (SK pensiun)"})
    tmt_cpns = _pokok(metadata={"format": "date"})
    tmt_pns = _pokok(metadata={"format": "date"})
    tmt_pensiun = _pokok(metadata={"format": "date", "description": "dari SK pensiun"})
    jenis_pensiun = _pokok(metadata={"description": "BUP | APS | janda_duda | tewas | uzur"})
    nomor_karpeg = _pokok(metadata={"description": "dari layanan KARPEG"})
    nomor_karis_karsu = _pokok(metadata={"description": "dari layanan KARIS_KARSU"})
    nomor_taspen = _pokok(metadata={"description": "dari layanan TASPEN"})
    nomor_bpjs = _pokok(metadata={"description": "dari layanan KARTU_KESEHATAN"})
    instansi = _pokok(metadata={"description": "35 = provinsi, atau kode BPS kabupaten/kota"})
    opd_id = _pokok()
    opd_name = _pokok(metadata={"description": "nama OPD/unit kabupaten/kota"})
    unit = _pokok()
    golongan = _pokok()
    education_id = _pokok()
    catatan_kesehatan = _pokok(metadata={"description": "hanya untuk administrator"})
    histories = fields.Dict(keys=fields.String(), values=fields.List(fields.Dict()),
                            metadata={"description": "jenis riwayat -> entri (entry_id, isi, "
                                                     "documents; entri dari layanan yang "
                                                     "selesai juga request_id, output_sha256 "
                                                     "dan document_id SK-nya)"})
    documents = fields.Dict(metadata={"description": "slot -> versi dokumen"})
    pending_changes = fields.List(fields.String())
    proposals = fields.List(fields.Dict(), metadata={
        "description": "usulan perubahan yang menunggu verifikasi: change_id, changes, "
                       "documents"})
    change_id = fields.String(metadata={"description": "hanya pada jawaban usulan: id usulan "
                                                       "yang baru dibuat"})


class FieldChange(Schema):
    version = fields.Integer()
    recorded_at = fields.String()
    value = fields.Raw(allow_none=True)
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class RecordStep(Schema):
    """One step of an employee record's history (GET /api/employees/<nip>/timeline)."""

    version = fields.Integer()
    event = fields.String(metadata={"description": "EmployeeRegistered, DataPokokChanged, "
                                                   "HistoryEntryRecorded, DocumentAttached, "
                                                   "ChangeProposed, ChangeApplied, ..."})
    recorded_at = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", metadata={
        "description": "kolom data pokok yang diubah (tanpa nilainya)"})
    histories = fields.List(fields.String(), metadata={"description": "riwayat yang dicatat"})
    slot = fields.String(allow_none=True, metadata={"description": "slot dokumen"})
    change_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


class ImportRequest(Schema):
    """What the gateway passes after streaming an import file into the object store."""

    opd_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    file_name = fields.String(required=True, validate=validate.Length(1, 200))


class ImportUploadQuery(Schema):
    opd_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"),
                           metadata={"description": "OPD yang datanya diimpor"})
    file_name = fields.String(validate=validate.Length(1, 200), load_default="impor.csv",
                              metadata={"description": "nama berkas (untuk laporan)"})


class ImportReportQuery(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10_000_000))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ImportRowProblem(Schema):
    row = fields.Integer(metadata={"description": "nomor baris pada berkas (judul = 1)"})
    nip = fields.String()
    problems = fields.List(fields.Dict())


class ImportJob(Schema):
    import_id = fields.String()
    opd_id = fields.String()
    file_name = fields.String()
    file_sha256 = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "running | completed | failed"})
    rows_done = fields.Integer()
    total_rows = fields.Integer()
    registered = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    invalid = fields.Integer()
    error = fields.String(allow_none=True)
    started_by = fields.String(allow_none=True)
    started_at = fields.String()
    finished_at = fields.String(allow_none=True)
    problems = fields.List(fields.Nested(ImportRowProblem))
    problems_offset = fields.Integer()


class DocumentUploadQuery(Schema):
    file_name = fields.String(validate=validate.Length(1, 200),
                              metadata={"description": "nama berkas asli (untuk tampilan)"})
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"), metadata={
        "description": "NIP pegawai pemilik dokumen: wajib bagi fasilitator (pegawai OPD-nya) "
                       "dan administrator; pegawai mengunggah untuk dirinya sendiri"})


class DocumentCheck(Schema):
    """What the gateway asks records to check after storing an upload."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    file_name = fields.String(validate=validate.Length(1, 200), allow_none=True)
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"), allow_none=True)


class StoredDocument(Schema):
    sha256 = fields.String(metadata={"description": "alamat isi (SHA-256); dipakai sebagai "
                                     "rujukan dokumen pada riwayat, usulan dan slot"})
    nip = fields.String(metadata={"description": "pegawai pemilik dokumen: hanya riwayat, "
                                  "usulan dan slot pegawai ini yang boleh merujuknya"})
    kind = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    pages = fields.Integer()
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    file_name = fields.String()


class AttachRequest(Schema):
    slot = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{2,60}$"),
                         metadata={"description": "jenis dokumen, mis. sk_cpns, ktp"})
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    file_name = fields.String(validate=validate.Length(1, 200))
    expected_version = _version
    reason = _reason


# -- a region's change, applied by the sync service (records.apply_region_change) --------------

REGION_CHANGE_KINDS = ("employee_registered", "data_pokok_changed", "history_recorded")


class RegionChangeOrigin(Schema):
    """Where a change comes from when it is not the region's feed: a take_region decision on a
    difference of the yearly reconciliation (the sync service's settlement)."""

    reconciliation_id = fields.UUID(required=True)
    difference_id = fields.Integer(required=True, strict=True,
                                   validate=validate.Range(1, 2**31 - 1))


class RegionChange(Schema):
    """One change of a kabupaten/kota's employee, as the sync service passes it on: a change the
    region pushed (its feed's `sequence`, after the sync's log, signature and sequence checks),
    or a reconciliation decision to take the region's value (`origin`, no sequence). Exactly one
    of the two. `data` follows the person-facing contract of its kind (RegionRegistration,
    RegionDataPokok, RegionHistory)."""

    region = fields.String(required=True, validate=validate.OneOf(
        sorted(code for code in instansi() if code != "35")), metadata={
        "description": "kode BPS kabupaten/kota pengirim (3501-3579)"})
    event_id = fields.UUID(required=True)
    sequence = fields.Integer(load_default=None, allow_none=True,
                              validate=validate.Range(1, 2**63 - 1), metadata={
                                  "description": "urutan umpan daerah (perubahan yang dikirim "
                                                 "daerah)"})
    origin = fields.Nested(RegionChangeOrigin, load_default=None, allow_none=True, metadata={
        "description": "keputusan rekonsiliasi yang mengambil data daerah (tanpa urutan)"})
    kind = fields.String(required=True, validate=validate.OneOf(REGION_CHANGE_KINDS))
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    data = fields.Dict(keys=fields.String(), required=True)

    @validates_schema
    def _one_origin(self, data, **_):
        if (data.get("sequence") is None) == (data.get("origin") is None):
            raise ValidationError("isi salah satu: sequence (umpan daerah) atau origin "
                                  "(keputusan rekonsiliasi)", "sequence")


class RegionRegistration(EmployeeCreate):
    """employee_registered: register_employee's body; the NIP may be left to the change's
    `nip`, the instansi to the region, the reason to the sync."""

    nip = fields.String(validate=validate.Regexp(r"^\d{18}$"))
    reason = fields.String(validate=validate.Length(3, 500))


class RegionDataPokok(Schema):
    """data_pokok_changed: the data pokok fields the region changed (register_employee's
    fields but the NIP and the instansi), applied at once: a region is authoritative for its
    own employees."""

    changes = fields.Dict(keys=fields.String(), required=True)
    reason = fields.String(validate=validate.Length(3, 500))


class RegionHistory(HistoryRequest):
    """history_recorded: record_history's body; the version is the record's current one unless
    given, the entry id the change's event id unless given."""

    expected_version = fields.Integer(validate=validate.Range(0, 1_000_000))
    reason = fields.String(validate=validate.Length(3, 500))


#: at most this many changes in one records.apply_region_changes call (more: 413)
MAX_REGION_CHANGES = 1000


class RegionChangeError(Schema):
    """Why records refused one change: what apply_region_change would have raised for it."""

    code = fields.String()
    status = fields.Integer()
    message = fields.String()
    field = fields.String(allow_none=True)
    details = fields.Raw(allow_none=True)


class RegionChangeResult(Schema):
    """One change of an apply_region_changes call, in the order given."""

    event_id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(
        ["applied", "duplicate", "refused", "blocked"]), metadata={
        "description": "applied / duplicate as apply_region_change answers; refused: see "
                       "`error`, nothing of it applied; blocked: an earlier change of the same "
                       "NIP was refused in this call, this one was not attempted"})
    nip = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "versi rekaman setelah perubahan"})
    error = fields.Nested(RegionChangeError)


class RegionChangeAnswer(Schema):
    status = fields.String(validate=validate.OneOf(["applied", "duplicate"]), metadata={
        "description": "applied: this call made the change (or found nothing to change); "
                       "duplicate: this event_id was applied before, nothing done again"})
    nip = fields.String()
    version = fields.Integer(metadata={"description": "versi rekaman setelah perubahan"})


# -- sync's reconciliation reads a region's employees (system callers only) -------------------

#: the fields records hands sync for a reconciliation (record_roster), in this order
ROSTER_FIELDS = ("nik", "name", "gelar_depan", "gelar_belakang", "birth_place",
                 "date_of_birth", "gender", "religion", "marital_status", "status", "tmt_cpns",
                 "tmt_pns", "opd_id", "unit", "golongan", "education_id")


class RosterQuery(Schema):
    instansi = fields.String(required=True, validate=validate.OneOf(sorted(instansi())))
    after_nip = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=32))
    limit = fields.Integer(load_default=5000, validate=validate.Range(1, 20000))


class RosterPage(Schema):
    """One keyset page of an instansi's employees by NIP: `rows` are [nip, *values] in the
    order of `columns`; `next_after` is the NIP to ask after, or none at the end."""

    columns = fields.List(fields.String(), required=True)
    #: [[nip, value, ...], ...]: passed through as they are (a page is 10,000 rows; a schema
    #: per value would cost more than the query)
    rows = fields.Raw(required=True)
    next_after = fields.String(allow_none=True)


class LocateNips(Schema):
    nips = fields.List(fields.String(validate=validate.Length(1, 32)), required=True,
                       validate=validate.Length(max=20000))
