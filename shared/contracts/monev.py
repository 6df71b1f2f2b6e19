"""Contract of monitoring and evaluation (monev, issue 15 part 3): the queries of the reporting
service's completeness, trend and workload reports, and the recorded yearly evaluation of the
layanan (requests service). Shared with the gateway."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from shared.reference import instansi, layanan_catalogue

PAGE_MAX = 100
OFFSET_MAX = 10_000
#: the longest trend asked for at once, in days
TREND_DAYS_MAX = 731
GROUPS = ("opd", "instansi", "fasilitator")

_instansi = fields.String(validate=validate.OneOf(
    sorted(instansi()), error="instansi tidak dikenal: 35 (provinsi) atau kode BPS "
                              "kabupaten/kota 3501-3579"))
_opd = fields.String(validate=validate.Regexp(r"^(35\d\d\.)?[a-z0-9-]{2,40}$",
                                              error="kode OPD tidak sah (mis. dinkes)"))


def _layanan_codes() -> list[str]:
    return [entry["kode"] for entry in layanan_catalogue()["layanan"]]


class CompletenessRollupQuery(Schema):
    """Completeness rolled up per OPD, instansi or fasilitator."""

    group = fields.String(load_default="opd", validate=validate.OneOf(
        GROUPS, error="kelompok: opd, instansi atau fasilitator"))
    instansi = _instansi
    opd_id = _opd


class CompletenessListQuery(Schema):
    """Each employee's missing fields and documents (within the caller's scope)."""

    instansi = _instansi
    opd_id = _opd
    layanan = fields.String(metadata={"description": "hanya pegawai yang akan memerlukan "
                                                     "layanan ini, mis. PENSIUN"})
    incomplete_only = fields.Boolean(load_default=True, metadata={
        "description": "hanya yang belum lengkap (bawaan: ya)"})
    limit = fields.Integer(load_default=25, validate=validate.Range(
        1, PAGE_MAX, error=f"halaman berisi 1-{PAGE_MAX} pegawai"))
    offset = fields.Integer(load_default=0, validate=validate.Range(
        0, OFFSET_MAX, error=f"offset 0-{OFFSET_MAX}"))

    @validates("layanan")
    def _layanan(self, value, **_):
        if value not in _layanan_codes():
            raise ValidationError(f"layanan {value[:40]!r} tidak dikenal (mis. PENSIUN)")


class TrendQuery(Schema):
    """Each OPD's completeness per day over a date range (both ends included)."""

    date_from = fields.Date(data_key="from", metadata={"description": "awal (bawaan: 30 hari "
                                                                      "lalu)"})
    date_to = fields.Date(data_key="to", metadata={"description": "akhir (bawaan: hari ini)"})
    instansi = _instansi
    opd_id = _opd

    @validates_schema
    def _range(self, data, **_):
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError("tanggal awal sesudah tanggal akhir", field_name="from")
        if start and end and (end - start).days > TREND_DAYS_MAX:
            raise ValidationError(f"rentang paling lama {TREND_DAYS_MAX} hari",
                                  field_name="from")


class WorkloadQuery(Schema):
    """Verification workload and SLA per OPD: what is open now, and what was decided in
    `year`."""

    year = fields.Integer(validate=validate.Range(2000, 2100, error="tahun 2000-2100"),
                          metadata={"description": "tahun keputusan (bawaan: tahun ini)"})
    opd_id = _opd


class EvaluationRecord(Schema):
    """`POST /api/monev/evaluations/{year}`: record (and sign) the year's evaluation."""

    signer = fields.String(required=True, validate=validate.Length(1, 80),
                           metadata={"description": "akun pejabat penandatangan"})
    correction = fields.Boolean(load_default=False, metadata={
        "description": "ralat evaluasi yang sudah dicatat (wajib beserta alasan)"})
    reason = fields.String(validate=validate.Length(5, 1000, error="alasan 5-1000 huruf"))
    notes = fields.String(validate=validate.Length(max=2000))

    @validates_schema
    def _correction(self, data, **_):
        if data.get("correction") and not data.get("reason"):
            raise ValidationError("ralat memerlukan alasan", field_name="reason")


# -- answers -----------------------------------------------------------------------------------

_pct = fields.Float(allow_none=True, metadata={"description": "persen (0-100, dua desimal)"})


class CompletenessGroup(Schema):
    """One group of the rollup: an OPD (instansi, opd_id, opd_name), an instansi (instansi,
    instansi_name) or a fasilitator (account_id, display_name, opd_ids)."""

    instansi = fields.String()
    opd_id = fields.String(allow_none=True)
    opd_name = fields.String(allow_none=True)
    instansi_name = fields.String()
    account_id = fields.String()
    display_name = fields.String(allow_none=True)
    opd_ids = fields.String(metadata={"description": "OPD binaan, dipisah koma"})
    employees = fields.Integer(metadata={"description": "jumlah pegawai aktif"})
    complete = fields.Integer(metadata={"description": "pegawai yang datanya lengkap"})
    complete_percent = _pct
    required = fields.Integer(metadata={"description": "isian wajib (data + dokumen)"})
    present = fields.Integer(metadata={"description": "isian wajib yang terisi"})
    percent = _pct


class CompletenessRollup(Schema):
    items = fields.List(fields.Nested(CompletenessGroup))


class _MissingField(Schema):
    field = fields.String()
    name = fields.String()


class _MissingDocument(Schema):
    slot = fields.String()
    name = fields.String()


class EmployeeCompleteness(Schema):
    """One employee's completeness: what is missing, by the rules of the layanan they will
    need. Never a value of the record."""

    nip = fields.String()
    name = fields.String(allow_none=True)
    instansi = fields.String()
    opd_id = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    layanan = fields.List(fields.String(), metadata={
        "description": "layanan yang akan diperlukan (mis. PENSIUN menjelang BUP)"})
    missing_fields = fields.List(fields.Nested(_MissingField))
    missing_documents = fields.List(fields.Nested(_MissingDocument))
    required = fields.Integer()
    present = fields.Integer()
    percent = _pct
    complete = fields.Boolean()


class CompletenessPage(Schema):
    items = fields.List(fields.Nested(EmployeeCompleteness))
    limit = fields.Integer()
    offset = fields.Integer()
    has_more = fields.Boolean()


class TrendPoint(Schema):
    day = fields.String(metadata={"format": "date"})
    instansi = fields.String()
    opd_id = fields.String()
    opd_name = fields.String(allow_none=True)
    employees = fields.Integer()
    complete = fields.Integer()
    percent = _pct


class Trend(Schema):
    items = fields.List(fields.Nested(TrendPoint))


class OpdWorkload(Schema):
    opd_id = fields.String()
    opd_name = fields.String(allow_none=True)
    open = fields.Integer(metadata={"description": "usulan di tangan BKD kini"})
    waiting_verification = fields.Integer()
    in_verification = fields.Integer()
    waiting_approval = fields.Integer()
    oldest_days = fields.Integer(allow_none=True, metadata={
        "description": "hari kerja di tangan BKD dari usulan terbuka tertua"})
    open_over_sla = fields.Integer()
    decided = fields.Integer(metadata={"description": "diputus pada tahun yang diminta"})
    decided_over_sla = fields.Integer()
    sla_met_percent = _pct
    median_verification_days = fields.Float(allow_none=True)
    median_approval_days = fields.Float(allow_none=True)


class Workload(Schema):
    items = fields.List(fields.Nested(OpdWorkload))


class _Revision(Schema):
    revision = fields.Integer()
    status = fields.String(metadata={"description": "recorded, signed atau refused"})
    correction = fields.Boolean()
    reason = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.String(metadata={"format": "date-time"})
    signed_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    document_id = fields.String(allow_none=True, metadata={"format": "uuid"})
    number = fields.String(allow_none=True, metadata={"description": "nomor laporan"})
    pdf_sha256 = fields.String(allow_none=True)
    document_url = fields.String(allow_none=True, metadata={
        "description": "unduh PDF bertanda tangan"})


class RecordedEvaluation(_Revision):
    """The year's evaluation as recorded (its latest signed revision) and its signed PDF."""

    year = fields.Integer()
    signer = fields.String()
    notes = fields.String(allow_none=True)
    figures = fields.List(fields.Dict(), metadata={
        "description": "angka per layanan saat dicatat (tingkat dan median sebagai teks desimal)"})
    figures_sha256 = fields.String()
    revisions = fields.List(fields.Nested(_Revision))
