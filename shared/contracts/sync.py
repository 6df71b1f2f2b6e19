"""Contract of the sync service's RPC payloads and answers (shared with the gateway), and of the
batch a region sends (docs/design/sync.md)."""

import copy

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.contracts import records
from shared.reference import domain_data

REGION_CODES = tuple(row["kode_bps_nik"] for row in domain_data()["kab_kota_jatim"])
KINDS = ("employee_registered", "data_pokok_changed", "history_recorded")
#: the headers a region signs its requests with (services/sync/domain.py checks them); the
#: gateway hands exactly these to sync
SIGNED_HEADERS = ("X-Simasn-Region", "X-Simasn-Key-Id", "X-Simasn-Timestamp", "X-Simasn-Batch-Id",
                  "X-Simasn-Signature")
#: what each event of a batch answers (docs/design/sync.md, "Answers")
OUTCOMES = ("received", "waiting", "duplicate", "refused")

_reason = fields.String(required=True, validate=validate.Length(5, 1000),
                        metadata={"description": "alasan (tercatat di log)"})


# -- what a region sends ----------------------------------------------------------------------

class IncomingEvent(Schema):
    event_id = fields.UUID(required=True)
    sequence = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=2**62))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    nip = fields.String(required=True, validate=validate.Length(1, 32))
    data = fields.Dict(required=True)


class Batch(Schema):
    events = fields.List(fields.Nested(IncomingEvent), required=True,
                         validate=validate.Length(min=1))


class SignedRequest(Schema):
    """A region's signed request as the gateway hands it over: it does not know the keys."""

    method = fields.String(required=True, validate=validate.OneOf(("GET", "POST")))
    path = fields.String(required=True, validate=validate.Length(1, 8192))
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    body_base64 = fields.String(load_default="")
    #: a snapshot upload (its body is not in the request): its media type and declared length
    content_type = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(max=200))
    content_length = fields.Integer(load_default=None, allow_none=True)


# -- answers to a region ------------------------------------------------------------------------

class EventOutcome(Schema):
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES),
                            metadata={"description": "received: akan diterapkan; waiting: "
                                      "menunggu urutan yang hilang; duplicate: sudah diterima; "
                                      "refused: urutan ini milik peristiwa lain"})
    code = fields.String(allow_none=True)
    replaces = fields.String(allow_none=True)


class BatchAnswer(Schema):
    region = fields.String(required=True)
    batch_id = fields.String(required=True)
    events = fields.List(fields.Nested(EventOutcome), required=True)
    received_through = fields.Integer(required=True)
    applied_through = fields.Integer(required=True)
    missing = fields.List(fields.List(fields.Integer()), required=True,
                          metadata={"description": "urutan yang belum diterima, [awal, akhir]"})


class Refusal(Schema):
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    message = fields.String(required=True)
    field = fields.String(allow_none=True)
    details = fields.Raw(allow_none=True)


class QuarantineEntry(Schema):
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    kind = fields.String(required=True)
    nip = fields.String(required=True)
    batch_id = fields.String(required=True)
    received_at = fields.String(required=True)
    refusal = fields.Nested(Refusal, allow_none=True)


class RegionStatus(Schema):
    region = fields.String(required=True)
    name = fields.String(required=True)
    onboarded_at = fields.String(required=True)
    active_keys = fields.Integer(required=True)
    last_received_at = fields.String(allow_none=True)
    last_sequence = fields.Integer(required=True)
    received_through = fields.Integer(required=True)
    applied_through = fields.Integer(required=True)
    lag = fields.Integer(required=True, metadata={"description": "last_sequence - "
                                                  "applied_through"})
    missing = fields.List(fields.List(fields.Integer()), required=True)
    gap_open_since = fields.String(allow_none=True)
    gap_reported = fields.Boolean(required=True)
    waiting = fields.Integer(required=True)
    held_for_gap = fields.Integer(required=True)
    quarantined = fields.Integer(required=True)
    retry_after = fields.String(allow_none=True)
    silent = fields.Boolean(required=True)
    silent_since = fields.String(allow_none=True)
    amqp_rejected = fields.Integer(load_default=0, metadata={
        "description": "messages of the AMQP push refused (dead-lettered into the log)"})
    last_amqp_rejection = fields.Dict(allow_none=True, load_default=None, metadata={
        "description": "the last one: code, message, field, batch_id, at (Unix seconds)"})
    last_snapshot = fields.Dict(allow_none=True, load_default=None, metadata={
        "description": "snapshot terakhir: snapshot_id, status, received_at, rows_total, "
                       "rows_invalid"})
    last_reconciliation = fields.Dict(allow_none=True, load_default=None, metadata={
        "description": "rekonsiliasi terakhir: reconciliation_id, snapshot_id, year, status, "
                       "started_at, reported_at"})


# -- administrators ----------------------------------------------------------------------------

class RegionOnboard(Schema):
    region = fields.String(required=True, validate=validate.OneOf(REGION_CODES),
                           metadata={"description": "kode BPS kabupaten/kota (3501..3579)"})
    reason = _reason


class ReasonRequest(Schema):
    reason = _reason


class KeySecret(Schema):
    """A new key: the secret is shown this once and never again."""

    region = fields.String(required=True)
    key_id = fields.String(required=True)
    secret = fields.String(required=True)
    created_at = fields.String(required=True)


class RegionKey(Schema):
    key_id = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.String(required=True)
    retired_at = fields.String(allow_none=True)


class QuarantineQuery(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class QuarantineDecision(Schema):
    region = fields.String(required=True)
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    status = fields.String(required=True)


class _Sequence(Schema):
    sequence = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**62))


def sequence_of(value) -> int:
    """A sequence number from a path parameter (ValidationFailed names it when it is none)."""
    from shared.schemas import load

    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return load(_Sequence(), {"sequence": value})["sequence"]


# -- snapshots and the reconciliation (docs/design/sync.md "Snapshots and reconciliation") ------

#: the header carrying the hex SHA-256 of a snapshot's body: signed instead of the body, which
#: is too big to hold in memory (the signature base is timestamp, snapshot id, this digest)
CONTENT_SHA256 = "X-Simasn-Content-SHA256"
SNAPSHOT_HEADERS = (*SIGNED_HEADERS, CONTENT_SHA256)
#: a snapshot's media type -> its format
SNAPSHOT_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
SNAPSHOT_STATUSES = ("received", "loading", "loaded", "failed")
#: the kinds of difference, in the order a report lists them
DIFFERENCE_KINDS = ("missing_in_records", "missing_in_region", "field_mismatch",
                    "nip_in_two_instansi", "nip_invalid")
#: the fields a reconciliation compares, where the snapshot has the column: identity and data
#: pokok both sides keep (contact details and the health note are not compared)
COMPARED_FIELDS = ("nik", "name", "gelar_depan", "gelar_belakang", "birth_place",
                   "date_of_birth", "gender", "religion", "marital_status", "status", "tmt_cpns",
                   "tmt_pns", "opd_id", "unit", "golongan", "education_id")
#: compared without regard to case or repeated spaces (free text typed by people); the rest
#: are codes and dates, compared trimmed (codes upper-cased)
FREE_TEXT_FIELDS = ("name", "gelar_depan", "gelar_belakang", "birth_place", "religion",
                    "marital_status", "unit")
#: a snapshot row must have these
SNAPSHOT_REQUIRED = records.IMPORT_REQUIRED


def _optional(field):
    copied = copy.copy(field)
    copied.required = False
    return copied


#: one employee of a region's snapshot: the columns of records' bulk import (aliases too), the
#: same field rules; the unit code optional (a region's unit codes are its own)
SnapshotRow = Schema.from_dict(
    {name: (_optional(f) if name not in SNAPSHOT_REQUIRED else f)
     for name, f in records.IMPORT_ROW_FIELDS.items()}, name="SnapshotRow")
SNAPSHOT_COLUMNS = frozenset(records.IMPORT_ROW_FIELDS)


class Snapshot(Schema):
    snapshot_id = fields.String(required=True)
    region = fields.String(required=True)
    format = fields.String(required=True, metadata={"description": "csv | jsonl"})
    sha256 = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    key_id = fields.String(required=True)
    received_at = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SNAPSHOT_STATUSES),
                           metadata={"description": "received | loading | loaded | failed"})
    rows_total = fields.Integer(required=True)
    rows_invalid = fields.Integer(required=True)
    loaded_at = fields.String(allow_none=True)
    error = fields.Dict(allow_none=True, metadata={
        "description": "failed: code, message (mengapa berkas tidak dapat dibaca)"})


class SnapshotUpload(Schema):
    """What the gateway hands sync after streaming a signed snapshot into the object store."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    size = fields.Integer(required=True, validate=validate.Range(0, 1 << 40))
    created = fields.Boolean(load_default=False)


class SnapshotPermit(Schema):
    """Sync's answer before a byte of the body is read: whose it is, how many bytes at most."""

    snapshot_id = fields.String(required=True)
    format = fields.String(required=True)
    max_bytes = fields.Integer(required=True)


class ReconciliationStart(Schema):
    snapshot_id = fields.UUID(required=True)
    year = fields.Integer(required=True, strict=True, validate=validate.Range(2000, 2100))


class Reconciliation(Schema):
    reconciliation_id = fields.String(required=True)
    region = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    year = fields.Integer(required=True)
    status = fields.String(required=True, metadata={
        "description": "running | reported | failed (lalu applying | applied | closed)"})
    requested_by = fields.String(required=True)
    started_at = fields.String(required=True)
    reported_at = fields.String(allow_none=True)
    figures = fields.Dict(allow_none=True, metadata={
        "description": "per kind, rows_compared, roster, differences, differences_sha256"})
    error = fields.Dict(allow_none=True)
    applied_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    berita_acara = fields.String(allow_none=True, metadata={
        "description": "id dokumen berita acara bertanda tangan (setelah ditutup)"})


class Difference(Schema):
    difference_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(DIFFERENCE_KINDS))
    nip = fields.String(required=True)
    field = fields.String(allow_none=True)
    region_value = fields.Raw(allow_none=True)
    province_value = fields.Raw(allow_none=True)
    other_instansi = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    decision = fields.String(allow_none=True)


class DifferenceQuery(Schema):
    kind = fields.String(validate=validate.OneOf(DIFFERENCE_KINDS))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000_000))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class DifferencePage(Schema):
    reconciliation_id = fields.String(required=True)
    total = fields.Integer(required=True, metadata={"description": "jumlah (sesuai kind)"})
    offset = fields.Integer(required=True)
    differences = fields.List(fields.Nested(Difference), required=True)


# -- a reconciliation's decisions, applying them, the berita acara ---------------------------

DECISIONS = ("take_region", "keep_province", "ask_correction")
_decision = fields.String(required=True, validate=validate.OneOf(DECISIONS), metadata={
    "description": "take_region: ambil data daerah; keep_province: tetap data provinsi; "
                   "ask_correction: minta daerah memperbaiki"})
_note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class DecisionItem(Schema):
    difference_id = fields.Integer(required=True, strict=True,
                                   validate=validate.Range(1, 2**31 - 1))
    decision = _decision
    note = _note


class BulkDecision(Schema):
    """Every undecided difference of a kind (and field, for field_mismatch) at once."""

    kind = fields.String(required=True, validate=validate.OneOf(DIFFERENCE_KINDS))
    field = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 60))
    decision = _decision
    note = _note


class DecisionsRequest(Schema):
    """Either `decisions` (by difference id, at most 1,000) or `bulk`, not both."""

    decisions = fields.List(fields.Nested(DecisionItem), validate=validate.Length(1, 1000))
    bulk = fields.Nested(BulkDecision)

    @validates_schema
    def _one_form(self, data, **_):
        if ("decisions" in data) == ("bulk" in data):
            raise ValidationError("isi salah satu: decisions atau bulk", "decisions")


class DecisionsAnswer(Schema):
    reconciliation_id = fields.String(required=True)
    decided = fields.Integer(required=True, metadata={"description": "selisih yang diputuskan "
                                                      "oleh permintaan ini"})
    changed = fields.Integer(required=True, metadata={"description": "di antaranya yang "
                                                      "keputusannya berubah"})
    undecided = fields.Integer(required=True, metadata={"description": "selisih yang belum "
                                                        "diputuskan"})


class DecidedDifferenceQuery(Schema):
    kind = fields.String(validate=validate.OneOf(DIFFERENCE_KINDS))
    decision = fields.String(validate=validate.OneOf((*DECISIONS, "undecided")))
    after = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))
    limit = fields.Integer(load_default=500, validate=validate.Range(1, 5000))


class DecidedDifference(Difference):
    """A difference with its decision, who took it, and what applying it did."""

    decided_by = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    applied_at = fields.String(allow_none=True)
    applied_outcome = fields.Dict(allow_none=True, metadata={
        "description": "status applied, atau refused dengan alasan dari data pegawai"})


class CorrectionAsked(DecidedDifference):
    """A difference BKD asks the region to correct (its signed read)."""

    class Meta:
        exclude = ("other_instansi", "decision", "decided_by", "applied_at", "applied_outcome")


class ReconciliationState(Schema):
    reconciliation_id = fields.String(required=True)
    region = fields.String(required=True)
    year = fields.Integer(required=True)
    status = fields.String(required=True)
    figures = fields.Dict(required=True, metadata={"description": "per jenis selisih: jumlah, "
                                                   "keputusan, diterapkan, ditolak"})
    applied_at = fields.String(allow_none=True)
    berita_acara = fields.String(allow_none=True, metadata={"description": "id dokumen berita "
                                                            "acara bertanda tangan"})
    closed_at = fields.String(allow_none=True)


class Participant(Schema):
    name = fields.String(required=True, validate=validate.Length(2, 150))
    position = fields.String(required=True, validate=validate.Length(2, 150))
    instansi = fields.String(required=True, validate=validate.Length(2, 150))


class BeritaAcaraRequest(Schema):
    meeting_date = fields.Date(required=True)
    place = fields.String(required=True, validate=validate.Length(3, 200))
    participants = fields.List(fields.Nested(Participant), required=True,
                               validate=validate.Length(1, 60))
    signer = fields.String(required=True, validate=validate.Length(1, 80), metadata={
        "description": "akun pejabat penandatangan (punya sertifikat)"})
    notes = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=2000))
