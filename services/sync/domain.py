"""The rules of the sync protocol, in plain Python: which regions exist, how a request is signed
and checked, when a timestamp is too old, which sequences are missing, and what a refusal by
records means (quarantine or try again). docs/design/sync.md explains the protocol."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from functools import cache

from shared.reference import domain_data

#: the headers a region signs a request with (docs/design/sync.md)
H_REGION = "X-Simasn-Region"
H_KEY_ID = "X-Simasn-Key-Id"
H_TIMESTAMP = "X-Simasn-Timestamp"
H_BATCH_ID = "X-Simasn-Batch-Id"
H_SIGNATURE = "X-Simasn-Signature"
SIGNED_HEADERS = (H_REGION, H_KEY_ID, H_TIMESTAMP, H_BATCH_ID, H_SIGNATURE)
#: a snapshot upload signs this digest of its body instead of the body (too big to hold)
H_CONTENT_SHA256 = "X-Simasn-Content-SHA256"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
#: a snapshot id: a UUID, in its own namespace (the snapshots table), taken once for ever
SNAPSHOT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: the change kinds records applies for a region (records.apply_region_change)
KINDS = ("employee_registered", "data_pokok_changed", "history_recorded")
#: a batch id: what a region's client makes up, e.g. a UUID
BATCH_ID = re.compile(r"^[A-Za-z0-9._:-]{8,80}$")
#: at most this many keys of one region verify at once (the overlap of a rotation)
MAX_ACTIVE_KEYS = 3

#: refusals of records that no retry can fix: the event is quarantined with the reasons
QUARANTINE_STATUSES = frozenset({400, 403, 404, 409, 422})

#: an inbound event's states: waiting (to be applied, or for a gap), applied, quarantined,
#: skipped (an administrator's decision); applied and skipped are final
WAITING, APPLIED, QUARANTINED, SKIPPED = "waiting", "applied", "quarantined", "skipped"
FINAL = frozenset({APPLIED, SKIPPED})


@cache
def regions() -> dict[str, str]:
    """BPS code ("3501".."3579") -> full name of the 38 kabupaten/kota of Jawa Timur."""
    return {row["kode_bps_nik"]: row["nama_lengkap"]
            for row in domain_data()["kab_kota_jatim"]}


def signature_base(timestamp: str, batch_id: str, body: bytes) -> bytes:
    """What the signature covers: timestamp, a newline, the batch id, a newline, the raw body
    exactly as sent. For a signed read (GET) the second line is the method and path, e.g.
    `GET /api/sync/3507/status`, and the body is empty."""
    return timestamp.encode() + b"\n" + batch_id.encode() + b"\n" + body


def sign(secret: str, timestamp: str, batch_id: str, body: bytes) -> str:
    """HMAC-SHA256 of the signature base under the region key's secret, lowercase hex."""
    return hmac.new(secret.encode(), signature_base(timestamp, batch_id, body),
                    hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: str, batch_id: str, body: bytes,
                      signature: str) -> bool:
    """Constant-time comparison: how much of a guess was right never shows in the timing."""
    return hmac.compare_digest(sign(secret, timestamp, batch_id, body).encode(),
                               signature.strip().lower().encode())


def parse_timestamp(text: str) -> int | None:
    """Unix seconds as a decimal integer, or None."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 12:
        return None
    return int(text)


def within_window(timestamp: int, now: float, window_seconds: int) -> bool:
    """A request is taken only while its timestamp is within `window_seconds` of our clock,
    either side: a captured request cannot be played again later."""
    return abs(now - timestamp) <= window_seconds


def advance(through: int, sequences: Iterable[int]) -> int:
    """The highest sequence s such that 1..s are all in hand, given everything in hand above
    `through` (`sequences`)."""
    present = set(sequences)
    while through + 1 in present:
        through += 1
    return through


def missing_ranges(through: int, held: Iterable[int]) -> list[list[int]]:
    """The gaps below the highest held sequence, as [first, last] ranges: what the region
    must send again. `through`: everything up to it is in hand; `held`: sequences above it."""
    gaps = []
    expected = through + 1
    for sequence in sorted(set(held)):
        if sequence > expected:
            gaps.append([expected, sequence - 1])
        expected = max(expected, sequence + 1)
    return gaps


def quarantines(status: int | None, transient: bool) -> bool:
    """A refusal by records that no retry can fix (invalid data, another instansi's employee,
    no such employee, a conflicting state) quarantines the event; anything else (records down,
    a timeout, an internal error) is tried again later and never quarantined."""
    return status in QUARANTINE_STATUSES and not transient


def retry_delay(attempts: int, base_seconds: float, cap_seconds: float) -> float:
    """Seconds before the next try after `attempts` transient failures: doubling, capped."""
    return min(cap_seconds, base_seconds * (2 ** max(0, min(attempts - 1, 20))))


# -- decisions on a reconciliation's differences (docs/design/sync.md, "Decisions, applying and
# the berita acara") -----------------------------------------------------------------------------

TAKE_REGION, KEEP_PROVINCE, ASK_CORRECTION = "take_region", "keep_province", "ask_correction"
DECISIONS = (TAKE_REGION, KEEP_PROVINCE, ASK_CORRECTION)

#: which decisions each kind of difference allows, and why the others are refused
ALLOWED_DECISIONS = {
    # take_region registers the employee from the snapshot row
    "missing_in_records": frozenset(DECISIONS),
    # take_region is a data pokok change of that one field (REGION_CHANGEABLE_FIELDS)
    "field_mismatch": frozenset(DECISIONS),
    # taking the region's side would remove an employee from the records: never through sync
    "missing_in_region": frozenset({KEEP_PROVINCE, ASK_CORRECTION}),
    # moving an employee between instansi is a mutasi, not a reconciliation decision
    "nip_in_two_instansi": frozenset({KEEP_PROVINCE, ASK_CORRECTION}),
    # an invalid NIP can only be corrected by the region
    "nip_invalid": frozenset({ASK_CORRECTION}),
}
DIFFERENCE_KINDS = tuple(ALLOWED_DECISIONS)

REFUSED_WHY = {
    "missing_in_region": "pegawai yang tidak ada di data daerah tidak dihapus melalui "
                         "sinkronisasi; pilih keep_province atau ask_correction",
    "nip_in_two_instansi": "perpindahan pegawai antarinstansi adalah mutasi, bukan keputusan "
                           "rekonsiliasi; pilih keep_province atau ask_correction",
    "nip_invalid": "NIP yang tidak sah hanya dapat diperbaiki oleh daerah; pilih "
                   "ask_correction",
}

#: the data pokok fields a region may change in the records (records: every registration field
#: but the NIP, the instansi — NOT_CHANGED_BY_REGION — and the confidential health notes, which
#: only an administrator writes): a field_mismatch on any other field cannot take the region's
#: value
REGION_CHANGEABLE_FIELDS = frozenset({
    "name", "nik", "gelar_depan", "gelar_belakang", "birth_place", "date_of_birth", "gender",
    "religion", "marital_status", "address", "email", "phone", "status", "tmt_cpns", "tmt_pns",
    "opd_id", "opd_name", "unit", "golongan", "education_id"})

#: a reconciliation's states from the report on (the report's own are running/failed)
REPORTED, APPLYING, APPLIED, CLOSING, CLOSED = ("reported", "applying", "applied", "closing",
                                             "closed")
#: decisions are recorded and changed while the reconciliation is in these states
DECIDABLE = frozenset({REPORTED, APPLIED})


def decision_refusal(kind: str, field: str | None, decision: str) -> str | None:
    """Why `decision` cannot be taken on a difference of `kind` (on `field`), or None."""
    if decision not in ALLOWED_DECISIONS.get(kind, ()):
        return REFUSED_WHY.get(kind, f"keputusan {decision} tidak berlaku untuk {kind}")
    if kind == "field_mismatch" and decision == TAKE_REGION and \
            field not in REGION_CHANGEABLE_FIELDS:
        return (f"kolom {field} tidak dapat diubah oleh daerah (NIP, instansi, dan catatan "
                "kesehatan tidak); pilih keep_province atau ask_correction")
    return None


def region_change(kind: str, field: str | None, region_value, snapshot_row: dict | None,
                  nip: str) -> tuple[str, dict]:
    """The change records applies for a take_region decision: (change kind, data)."""
    if kind == "missing_in_records":
        data = {k: v for k, v in (snapshot_row or {}).items()
                if v not in (None, "") and not k.startswith("_")}
        data["nip"] = nip
        return "employee_registered", data
    if kind == "field_mismatch":
        return "data_pokok_changed", {"changes": {field: region_value}}
    raise ValueError(f"{kind} has no take_region change")


def applied_figures(rows) -> dict:
    """Per kind: how many differences, how many of each decision, applied, refused. `rows`:
    (kind, decision, applied outcome status or None, count)."""
    figures: dict[str, dict] = {}
    for kind, decision, outcome, count in rows:
        entry = figures.setdefault(kind, {"differences": 0, "undecided": 0, **{
            d: 0 for d in DECISIONS}, "applied": 0, "refused": 0})
        entry["differences"] += count
        entry[decision or "undecided"] += count
        if outcome in ("applied", "refused"):
            entry[outcome] += count
    return figures


# -- the berita acara's contents (signing renders them: BERITA_ACARA_REKONSILIASI) --------------

BERITA_ACARA_KEY = "BERITA_ACARA_REKONSILIASI"
#: up to this many decisions are listed in the berita acara; more are summarised by kind with a
#: reference to the full list and its SHA-256
LISTED_DECISIONS = 200
KIND_WORDS = {
    "missing_in_records": "Ada di data daerah, tidak ada di data provinsi",
    "missing_in_region": "Ada di data provinsi, tidak ada di data daerah",
    "field_mismatch": "Isian data berbeda",
    "nip_in_two_instansi": "NIP tercatat pada dua instansi",
    "nip_invalid": "NIP tidak sah",
}
DECISION_WORDS = {TAKE_REGION: "ambil data daerah", KEEP_PROVINCE: "tetap data provinsi",
                  ASK_CORRECTION: "minta perbaikan daerah"}
OUTCOME_WORDS = {"applied": "diterapkan", "refused": "ditolak data pegawai"}
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")


def tanggal(day) -> str:
    """A date as Indonesian letters write it: 5 Desember 2026."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def decision_line(row: dict) -> str:
    """One decision as the SHA-256 of the full list covers it (difference id order)."""
    return "|".join(str(row.get(k) if row.get(k) is not None else "") for k in (
        "difference_id", "kind", "nip", "field", "decision", "outcome")) + "\n"


def berita_acara_values(*, region_name: str, year: int, meeting: dict, figures: dict,
                        matched, decisions: list[dict], total: int, digest: str,
                        reference: str) -> dict:
    """What the berita acara says (signing's template values): the meeting, the figures per
    kind, the decisions listed (at most LISTED_DECISIONS; `decisions` holds them when `total`
    is no more) or summarised, the reference to the full list and its SHA-256."""
    rows = [[KIND_WORDS[kind], f["differences"], f[TAKE_REGION], f[KEEP_PROVINCE],
             f[ASK_CORRECTION], f["applied"], f["refused"]]
            for kind, f in sorted(figures.items(), key=lambda item: DIFFERENCE_KINDS.index(
                item[0]))]
    applied = sum(f["applied"] for f in figures.values())
    refused = sum(f["refused"] for f in figures.values())
    asked = sum(f[ASK_CORRECTION] for f in figures.values())
    summary = (f"{total} selisih diputuskan; {applied} perubahan diterapkan pada data "
               f"kepegawaian provinsi, {refused} ditolak oleh aturan data pegawai, {asked} "
               f"diminta untuk diperbaiki oleh {region_name}.")
    listed = [[d["difference_id"], KIND_WORDS[d["kind"]], d["nip"], d.get("field") or "-",
               DECISION_WORDS[d["decision"]], OUTCOME_WORDS.get(d.get("outcome"), "-")]
              for d in decisions] if total <= LISTED_DECISIONS else []
    told = "Daftar lengkap" if listed else (
        f"Karena berjumlah {total}, keputusan tidak dicantumkan satu per satu; daftar lengkapnya")
    return {
        "wilayah": region_name, "tahun": str(year), "rapat_tanggal": tanggal(meeting["date"]),
        "rapat_tempat": meeting["place"],
        "jumlah_cocok": str(matched) if matched is not None else "-",
        "jumlah_selisih": str(total), "ringkasan": summary, "peserta": meeting["participants"],
        "angka": rows, "keputusan": listed,
        "keputusan_rujukan": f"{told} tersedia pada SIMASN Jatim ({reference}), dengan sidik "
                             f"SHA-256 {digest}.",
        "catatan": meeting.get("notes") or "-"}
