"""Contract of the reporting service's RPC payloads and answers (shared with the gateway):
finding employees in the reporting read model, the lists and statistics BKD works from and the
public statistics, exports, charts and the disclosure log (issue 15)."""

from datetime import date, datetime, time, timedelta, timezone

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from shared.reference import domain_data, instansi

#: sort keys a list may be ordered by ("-" in front: descending); anything else is refused
SORT_KEYS = ("nip", "name", "golongan", "date_of_birth", "tmt_cpns", "tmt_golongan", "opd_id")
PAGE_MAX = 100
#: deepest offset served: past it, narrow the search (an export is issue 15 part 5)
OFFSET_MAX = 10_000
AGE_BANDS = ("<30", "30-39", "40-49", "50-59", "60+")


def _golongan_codes() -> list[str]:
    return [g["gol_ruang"] for g in domain_data()["golongan_pns"]]


def _education_ids() -> list[str]:
    return [e["id"] for e in domain_data()["tingkat_pendidikan_siasn"]]


class EmployeeSearch(Schema):
    """`GET /api/employees?...`: every filter optional, combined with AND."""

    nip = fields.String(validate=validate.Regexp(r"^\d{1,18}$", error="NIP berupa 1-18 digit "
                                                 "angka (18 digit: tepat; kurang: awalan)"),
                        metadata={"description": "18 digit: NIP tepat; kurang: awalan NIP"})
    name = fields.String(validate=validate.Length(3, 100, error="cari nama dengan 3-100 huruf"),
                         metadata={"description": "bagian nama (tanpa membedakan huruf besar)"})
    instansi = fields.String(validate=validate.OneOf(
        sorted(instansi()), error="instansi tidak dikenal: 35 (provinsi) atau kode BPS "
                                  "kabupaten/kota 3501-3579"))
    opd_id = fields.String(validate=validate.Regexp(r"^(35\d\d\.)?[a-z0-9-]{2,40}$",
                                                    error="kode OPD tidak sah (mis. dinkes)"))
    unit = fields.String(validate=validate.Length(2, 200, error="unit kerja 2-200 huruf"),
                         metadata={"description": "bagian nama unit kerja"})
    golongan = fields.String(metadata={"description": "golongan/ruang, mis. III/a"})
    jabatan = fields.String(validate=validate.Length(3, 200, error="cari jabatan dengan "
                                                                    "3-200 huruf"),
                            metadata={"description": "bagian nama jabatan"})
    jenis_jabatan = fields.String(validate=validate.OneOf(
        ["struktural", "fungsional", "pelaksana"],
        error="jenis jabatan: struktural, fungsional atau pelaksana"))
    status = fields.String(validate=validate.OneOf(
        ["CPNS", "PNS", "PPPK", "Pensiun"], error="status: CPNS, PNS, PPPK atau Pensiun"))
    gender = fields.String(validate=validate.OneOf(["L", "P"], error="jenis kelamin: L atau P"))
    age_band = fields.String(validate=validate.OneOf(
        AGE_BANDS, error="kelompok usia: " + ", ".join(AGE_BANDS)))
    age_min = fields.Integer(validate=validate.Range(0, 100, error="usia 0-100 tahun"))
    age_max = fields.Integer(validate=validate.Range(0, 100, error="usia 0-100 tahun"))
    education_id = fields.String(metadata={"description": "tingkat pendidikan SIASN, mis. 40"})
    sort = fields.String(load_default="nip", metadata={
        "description": "urutan: " + ", ".join(SORT_KEYS) + " (awali '-' untuk menurun)"})
    limit = fields.Integer(load_default=25, metadata={"description": f"1-{PAGE_MAX} per "
                                                                     "halaman"})
    offset = fields.Integer(load_default=0, metadata={"description": f"0-{OFFSET_MAX}"})

    @validates("golongan")
    def _golongan(self, value, **_):
        if value not in _golongan_codes():
            raise ValidationError(f"golongan {value[:20]!r} tidak dikenal (mis. III/a)")

    @validates("education_id")
    def _education(self, value, **_):
        if value not in _education_ids():
            raise ValidationError(f"tingkat pendidikan {value[:20]!r} tidak dikenal (mis. 40 "
                                  "untuk S-1)")

    @validates("sort")
    def _sort(self, value, **_):
        if value.removeprefix("-") not in SORT_KEYS:
            raise ValidationError(f"urutan {value[:30]!r} tidak dikenal; pilih salah satu: "
                                  + ", ".join(SORT_KEYS))

    @validates("limit")
    def _limit(self, value, **_):
        if not 1 <= value <= PAGE_MAX:
            raise ValidationError(f"halaman berisi 1-{PAGE_MAX} pegawai")

    @validates("offset")
    def _offset(self, value, **_):
        if not 0 <= value <= OFFSET_MAX:
            raise ValidationError(f"offset 0-{OFFSET_MAX}; persempit pencarian untuk melihat "
                                  "lebih jauh")

    @validates_schema
    def _ages(self, data, **_):
        if data.get("age_band") and ("age_min" in data or "age_max" in data):
            raise ValidationError("pilih kelompok usia atau usia min/maks, bukan keduanya",
                                  field_name="age_band")
        if data.get("age_min", 0) > data.get("age_max", 100):
            raise ValidationError("usia minimal melebihi usia maksimal", field_name="age_min")


class EmployeeListItem(Schema):
    """One employee as a list shows them: no confidential field, no NIK, address, phone or
    e-mail (the record itself is `GET /api/employees/{nip}`)."""

    nip = fields.String()
    name = fields.String(allow_none=True)
    gelar_depan = fields.String(allow_none=True)
    gelar_belakang = fields.String(allow_none=True)
    instansi = fields.String()
    opd_id = fields.String(allow_none=True)
    opd_name = fields.String(allow_none=True, metadata={"description": "OPD/unit kab/kota"})
    unit = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    date_of_birth = fields.String(allow_none=True, metadata={"format": "date"})
    age = fields.Integer(allow_none=True, metadata={"description": "usia (tahun penuh) hari ini"})
    education_id = fields.String(allow_none=True)
    golongan = fields.String(allow_none=True)
    tmt_golongan = fields.String(allow_none=True, metadata={"format": "date"})
    jabatan = fields.String(allow_none=True)
    jenis_jabatan = fields.String(allow_none=True)
    eselon = fields.String(allow_none=True)
    tmt_cpns = fields.String(allow_none=True, metadata={"format": "date"})
    tmt_pns = fields.String(allow_none=True, metadata={"format": "date"})
    tmt_pensiun = fields.String(allow_none=True, metadata={"format": "date"})


class EmployeePage(Schema):
    items = fields.List(fields.Nested(EmployeeListItem))
    limit = fields.Integer()
    offset = fields.Integer()
    sort = fields.String()
    has_more = fields.Boolean(metadata={"description": "ada halaman berikutnya"})
    position = fields.Integer(metadata={
        "description": "posisi log records yang sudah tercermin dalam daftar ini"})


# -- the lists and statistics BKD works from (issue 15 part 4; services/reporting/usecases/
# -- lists.py), read through one RPC `report(name, params)` and `GET /api/reports/<name>` ------

#: what a headcount may be broken down by (one dimension, or a cross of two)
DIMENSIONS = ("instansi", "opd_id", "golongan", "jenis_jabatan", "education_id", "gender",
              "age_band", "status")
RETIREMENT_GROUPS = ("opd_id", "instansi", "jabatan", "jenis_jabatan")
WIB = timezone(timedelta(hours=7))


class AsOf(fields.Field):
    """A past moment: a date (the end of that day, WIB) or an ISO 8601 date-time (without a
    zone: WIB). Loads as an aware datetime."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                return datetime.combine(day + timedelta(days=1), time(), WIB) - timedelta(
                    microseconds=1)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("as_of: tanggal (YYYY-MM-DD) atau waktu ISO 8601") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=WIB)

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value is not None else None


class ReportFilters(Schema):
    """Filters every list and statistic takes, combined with AND, within the caller's scope;
    without `status` the retired are left out."""

    instansi = EmployeeSearch._declared_fields["instansi"]
    opd_id = EmployeeSearch._declared_fields["opd_id"]
    golongan = fields.String(metadata={"description": "golongan/ruang, mis. III/a"})
    jenis_jabatan = EmployeeSearch._declared_fields["jenis_jabatan"]
    status = EmployeeSearch._declared_fields["status"]
    gender = EmployeeSearch._declared_fields["gender"]
    education_id = fields.String(metadata={"description": "tingkat pendidikan SIASN"})
    age_band = EmployeeSearch._declared_fields["age_band"]
    as_of = AsOf(metadata={"description": "keadaan per tanggal/waktu lampau (ISO 8601)"})

    _golongan = EmployeeSearch._golongan
    _education = EmployeeSearch._education

    @validates("as_of")
    def _not_future(self, value, **_):
        if value > datetime.now(WIB) + timedelta(minutes=5):
            raise ValidationError("as_of tidak boleh di masa depan")


class PagedReport(ReportFilters):
    page = fields.Integer(load_default=1, validate=validate.Range(
        1, 10_000, error="halaman 1-10000"))
    limit = fields.Integer(load_default=50, validate=validate.Range(
        1, PAGE_MAX, error=f"halaman berisi 1-{PAGE_MAX} baris"))


class HeadcountQuery(ReportFilters):
    by = fields.String(load_default="opd_id", validate=validate.OneOf(
        DIMENSIONS, error="rincian: " + ", ".join(DIMENSIONS)))
    by2 = fields.String(validate=validate.OneOf(
        DIMENSIONS, error="rincian kedua: " + ", ".join(DIMENSIONS)),
        metadata={"description": "silang dengan rincian kedua"})

    @validates_schema
    def _two(self, data, **_):
        if data.get("by2") and data["by2"] == data.get("by"):
            raise ValidationError("rincian kedua harus berbeda", field_name="by2")


class DukQuery(PagedReport):
    """Daftar Urut Kepangkatan, in the order of reporting-lists.json (PP 15/1979)."""


class NominatifQuery(PagedReport):
    """Daftar nominatif, grouped by OPD."""


class _Horizon:
    years = fields.Integer(validate=validate.Range(1, 10, error="1-10 tahun ke depan"),
                           metadata={"description": "cakrawala ramalan (bawaan 5 tahun)"})


class RetirementForecastQuery(ReportFilters):
    years = _Horizon.years
    group = fields.String(load_default="opd_id", validate=validate.OneOf(
        RETIREMENT_GROUPS, error="kelompok: " + ", ".join(RETIREMENT_GROUPS)))


class RetirementListQuery(PagedReport):
    years = _Horizon.years


class KpDueQuery(PagedReport):
    period = fields.Date(metadata={"description": "periode KP (1 Feb/Apr/Jun/Agu/Okt/Des); "
                                                  "bawaan: periode berikutnya"})

    @validates("period")
    def _period(self, value, **_):
        from shared.career import kp_periods

        if value not in kp_periods(value.year):
            raise ValidationError("periode KP: tanggal 1 Februari, April, Juni, Agustus, "
                                  "Oktober atau Desember")


class KgbDueQuery(PagedReport):
    period = fields.String(validate=validate.Regexp(r"^20\d\d-(0[1-9]|1[0-2])$",
                                                    error="bulan KGB: YYYY-MM"),
                           metadata={"description": "bulan jatuh tempo KGB; bawaan: bulan ini"})


class ReportQuery(Schema):
    """`GET /api/reports/<name>?...`: passed through as text; the reporting service checks it
    against that report's own schema (above)."""

    class Meta:
        unknown = INCLUDE

    @validates_schema
    def _short(self, data, **_):
        for key, value in data.items():
            if len(str(key)) > 40 or len(str(value)) > 200:
                raise ValidationError("parameter terlalu panjang", field_name=str(key)[:40])


class ReportColumn(Schema):
    key = fields.String()
    title = fields.String()
    kind = fields.String()


class ReportAnswer(Schema):
    name = fields.String()
    title = fields.String()
    personal = fields.Boolean(metadata={"description": "menyebut orang (NIP, nama)"})
    official = fields.Boolean(metadata={"description": "daftar resmi (PDF bertanda tangan)"})
    columns = fields.List(fields.Nested(ReportColumn))
    items = fields.List(fields.Dict(), metadata={"description": "baris, kunci = kolom"})
    page = fields.Integer(allow_none=True)
    limit = fields.Integer(allow_none=True)
    has_more = fields.Boolean()
    as_of = fields.String(allow_none=True)


class PublicCell(Schema):
    value = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True, metadata={
        "description": "kosong bila disembunyikan (sel kecil)"})
    suppressed = fields.Boolean()


class PublicTable(Schema):
    dimension = fields.String()
    cells = fields.List(fields.Nested(PublicCell))
    total = fields.Integer(allow_none=True)


class PublicStatistics(Schema):
    """Aggregate figures for anyone (penyebarluasan data): no NIP, no name; a cell below the
    threshold, and enough others that it cannot be worked out from the total, are hidden."""

    threshold = fields.Integer()
    generated_at = fields.String()
    tables = fields.List(fields.Nested(PublicTable))


class PublicStatisticsQuery(Schema):
    """`GET /api/public/statistics` takes no parameter: the figures are the same for all."""


# -- exports and charts (issue 15 part 5, services/reporting/usecases/exports.py) ----------------

EXPORT_FORMATS = ("csv", "xlsx", "pdf")
CHART_FORMATS = ("png", "svg")
PURPOSE_MIN = 10


class ExportRequest(Schema):
    """`POST /api/reports/{name}/export`: the file to produce. `params` are the report's own
    filters (the same as its list); `purpose` is why the data leaves the system, required for
    a report that names persons (it is logged as a disclosure)."""

    format = fields.String(required=True, validate=validate.OneOf(
        EXPORT_FORMATS, error="format: " + ", ".join(EXPORT_FORMATS)))
    params = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)), load_default=dict,
                         metadata={"description": "filter laporan (sama dengan daftarnya)"})
    purpose = fields.String(validate=validate.Length(
        PURPOSE_MIN, 500, error=f"tujuan penggunaan data {PURPOSE_MIN}-500 huruf"),
        metadata={"description": "untuk apa data ini dipakai (wajib bila berisi data "
                                 "perorangan; dicatat sebagai pengungkapan)"})
    signer = fields.String(validate=validate.Length(1, 80), metadata={
        "description": "akun pejabat penandatangan daftar resmi (PDF laporan resmi)"})


class Export(Schema):
    export_id = fields.String()
    report = fields.String()
    title = fields.String()
    format = fields.String()
    params = fields.Dict()
    purpose = fields.String(allow_none=True)
    account_id = fields.String()
    personal = fields.Boolean(metadata={"description": "berisi data perorangan (pengungkapan)"})
    official = fields.Boolean()
    status = fields.String(metadata={"description": "running, ready atau failed"})
    rows = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    content_type = fields.String(allow_none=True)
    file_name = fields.String(allow_none=True)
    document_id = fields.String(allow_none=True, metadata={
        "description": "dokumen bertanda tangan (daftar resmi)"})
    error = fields.String(allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True, metadata={
        "description": "berkas tidak lagi diserahkan sesudahnya (rilis permintaan data)"})


class DisclosureQuery(Schema):
    """`GET /api/disclosures`: newest first; by recipient, by report, or by the NIP released."""

    account_id = fields.String(validate=validate.Length(1, 80))
    report = fields.String(validate=validate.Length(1, 60))
    nip = fields.String(validate=validate.Regexp(r"^\d{18}$", error="NIP 18 digit angka"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500, error="1-500"))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000,
                                                                    error="0-100000"))


class Disclosure(Schema):
    export_id = fields.String()
    recipient = fields.String()
    recipient_roles = fields.List(fields.String())
    report = fields.String()
    params = fields.Dict()
    format = fields.String()
    rows = fields.Integer()
    sha256 = fields.String()
    purpose = fields.String()
    disclosed_at = fields.String()


class ChartQuery(Schema):
    """`GET /api/reports/{name}/chart?format=svg&...`: the chart of a statistic; every other
    query key is the report's own filter (checked by the reporting service)."""

    class Meta:
        unknown = INCLUDE

    format = fields.String(load_default="svg", validate=validate.OneOf(
        CHART_FORMATS, error="format grafik: png atau svg"))


class Chart(Schema):
    content_type = fields.String()
    body_base64 = fields.String()


# -- data requests (permintaan data, issue 17 part 2) ------------------------------------------

#: the employee-list columns a data request may name (their headings: services/reporting/domain.py
#: REQUESTABLE_FIELDS, the same keys)
DATA_REQUEST_FIELDS = ("nip", "name", "gelar_depan", "gelar_belakang", "gender", "date_of_birth",
                       "status", "instansi", "opd_id", "opd_name", "unit", "golongan",
                       "tmt_golongan", "jabatan", "jenis_jabatan", "eselon", "tmt_jabatan",
                       "education_id", "tmt_cpns", "tmt_pns", "tmt_pensiun")
#: the most persons one request may concern (each is asked for consent)
DATA_REQUEST_POPULATION_MAX = 5000
_NIP = validate.Regexp(r"^\d{18}$", error="NIP 18 digit angka")
_REASON = validate.Length(5, 500, error="alasan 5-500 huruf")


class DataRequestPopulation(Schema):
    """Whose data: the employees of an OPD (provincial), of an instansi (a kabupaten/kota or
    the province), or a list of NIPs; given together, all must hold."""

    opd_id = fields.String(validate=validate.Length(1, 40))
    instansi = fields.String(validate=validate.Length(1, 10))
    nips = fields.List(fields.String(validate=_NIP), validate=validate.Length(
        1, DATA_REQUEST_POPULATION_MAX, error=f"1-{DATA_REQUEST_POPULATION_MAX} NIP"))

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("sebutkan OPD, instansi atau daftar NIP", "opd_id")
        if "instansi" in data and data["instansi"] not in instansi():
            raise ValidationError("kode instansi tidak dikenal", "instansi")


class DataRequestCreate(Schema):
    """`POST /api/data-requests`: who asks (the organisation), why, which fields of whom, and
    for which period the data will be used (the release expires at its end at the latest)."""

    organisation = fields.String(required=True, validate=validate.Length(
        3, 200, error="nama instansi/lembaga peminta 3-200 huruf"))
    purpose = fields.String(required=True, validate=validate.Length(
        PURPOSE_MIN, 500, error=f"tujuan penggunaan data {PURPOSE_MIN}-500 huruf"))
    columns = fields.List(fields.String(validate=validate.OneOf(
        DATA_REQUEST_FIELDS, error="kolom tidak dapat diminta")), required=True,
        data_key="fields", validate=validate.Length(1, len(DATA_REQUEST_FIELDS),
                                                    error="sebutkan kolom yang diminta"))
    population = fields.Nested(DataRequestPopulation, required=True)
    period_from = fields.Date(required=True)
    period_until = fields.Date(required=True)

    @validates_schema
    def _period(self, data, **_):
        start, end = data.get("period_from"), data.get("period_until")
        if start and end and end < start:
            raise ValidationError("akhir periode sebelum awalnya", "period_until")
        if start and end and (end - start).days > 366:
            raise ValidationError("periode penggunaan paling lama satu tahun", "period_until")
        if len(set(data.get("columns") or [])) != len(data.get("columns") or []):
            raise ValidationError("kolom disebut dua kali", "fields")


class DataRequestDecision(Schema):
    """`POST /api/data-requests/{id}/decision`: BKD approves or refuses, saying why."""

    approve = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=_REASON)


class DataRequestRelease(Schema):
    """`POST /api/data-requests/{id}/release`: the requester asks for the file of the
    consenting persons' data."""

    format = fields.String(required=True, validate=validate.OneOf(
        EXPORT_FORMATS, error="format: " + ", ".join(EXPORT_FORMATS)))


class DataRequestQuery(Schema):
    """`GET /api/data-requests`: the caller's own requests; BKD and auditors see every one
    (`state` narrows)."""

    state = fields.String(validate=validate.OneOf(("submitted", "refused", "approved",
                                                   "released")))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200, error="1-200"))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000,
                                                                    error="0-100000"))


class ConsentCounts(Schema):
    given = fields.Integer()
    refused = fields.Integer()
    pending = fields.Integer()


class DataRequest(Schema):
    request_id = fields.String()
    requester = fields.String()
    organisation = fields.String()
    purpose = fields.String()
    columns = fields.List(fields.String(), data_key="fields")
    population = fields.Dict()
    period_from = fields.String()
    period_until = fields.String()
    state = fields.String(metadata={"description": "submitted, refused, approved, released"})
    decided_by = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    consents = fields.Nested(ConsentCounts)
    export = fields.Nested(lambda: DataRequestExport(), allow_none=True)
    version = fields.Integer()
    created_at = fields.String()


class DataRequestExport(Schema):
    export_id = fields.String()
    status = fields.String(metadata={"description": "running, ready, failed atau expired"})
    format = fields.String()
    rows = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    document_id = fields.String(allow_none=True, metadata={
        "description": "dokumen bertanda tangan yang mengikat berkas (SHA-256)"})
    expires_at = fields.String()


class ConsentAnswer(Schema):
    """`POST /api/me/consents/{request_id}`: the pegawai gives or refuses consent."""

    consent = fields.Boolean(required=True)
    reason = fields.String(validate=validate.Length(0, 500))


class Consent(Schema):
    """A consent asked of the caller: the request it is for and the answer so far."""

    request_id = fields.String()
    organisation = fields.String()
    requester = fields.String()
    purpose = fields.String()
    columns = fields.List(fields.String(), data_key="fields")
    period_from = fields.String()
    period_until = fields.String()
    consent = fields.String(metadata={"description": "pending, given atau refused"})
    answered_at = fields.String(allow_none=True)
