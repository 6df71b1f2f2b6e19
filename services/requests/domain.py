"""Domain rules of the requests service: plain Python, no Nameko, SQLAlchemy or marshmallow.

The 18 layanan are data (shared/reference/layanan.json, versioned): each entry names its
eligibility rules with their parameters and its required documents. This module holds the
vocabulary those entries are written in — each rule reads the employee's record (the records
service's view) and answers pass or fail with a reason in Bahasa and, where the answer changes
with time, the date it will. "Not eligible" always says which rule and when."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from shared.career import (  # noqa: F401 - add_months, add_years: part of this module's vocabulary
    add_months,
    add_years,
    bup_age_of,
    kgb_due_day,
    next_kp_period,
    retirement_day,
)
from shared.reference import domain_data

PREDICATES = ("Sangat Kurang", "Kurang", "Butuh Perbaikan", "Baik", "Sangat Baik")
ROMAN = {10: "X", 20: "XX", 30: "XXX"}


@dataclass(frozen=True)
class Check:
    rule: str
    ok: bool
    message: str
    #: when the rule will hold (None: it will not by waiting, or it holds now)
    eligible_from: date | None = None
    #: the TMT the grant this rule is about would take (KGB: its due date; KP: its period)
    tmt: date | None = None
    #: the earlier request this answer is about (a grant made before, a request still open)
    request_id: str | None = None

    def as_dict(self) -> dict:
        answer = {"rule": self.rule, "ok": self.ok, "message": self.message,
                  "eligible_from": self.eligible_from.isoformat() if self.eligible_from
                  else None}
        if self.request_id:
            answer["request_id"] = self.request_id
        return answer


@dataclass(frozen=True)
class Eligibility:
    layanan: str
    checks: tuple[Check, ...]

    @property
    def eligible(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def eligible_from(self) -> date | None:
        """The first day every failing rule will hold, when waiting is enough."""
        failing = [c for c in self.checks if not c.ok]
        if not failing or any(c.eligible_from is None for c in failing):
            return None
        return max(c.eligible_from for c in failing)

    @property
    def tmt(self) -> date | None:
        """The TMT a grant made now would take, when one of the rules sets it."""
        return next((c.tmt for c in self.checks if c.tmt is not None), None)

    def with_checks(self, *more: Check) -> Eligibility:
        return Eligibility(self.layanan, self.checks + tuple(more))

    def as_dict(self) -> dict:
        when, tmt = self.eligible_from, self.tmt
        return {"layanan": self.layanan, "eligible": self.eligible,
                "eligible_from": when.isoformat() if when else None,
                "tmt": tmt.isoformat() if tmt else None,
                "checks": [c.as_dict() for c in self.checks]}


# -- reading the record --------------------------------------------------------------------

def _d(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _grades() -> dict[str, dict]:
    return {g["gol_ruang"]: g for g in domain_data()["golongan_pns"]}


def _education(education_id: str | None) -> dict | None:
    return next((e for e in domain_data()["tingkat_pendidikan_siasn"]
                 if e["id"] == education_id), None)


def _history(record: dict, name: str) -> list[dict]:
    return list((record.get("histories") or {}).get(name) or [])


def current_pangkat(record: dict) -> tuple[str | None, date | None]:
    """(golongan, TMT) of the latest pangkat entry, else the registered golongan from TMT CPNS."""
    entries = sorted(_history(record, "pangkat"), key=lambda e: e["tmt"])
    if entries:
        return entries[-1]["golongan"], _d(entries[-1]["tmt"])
    return record.get("golongan"), _d(record.get("tmt_cpns"))


def current_education(record: dict) -> str | None:
    levels = [e["education_id"] for e in _history(record, "pendidikan")]
    if record.get("education_id"):
        levels.append(record["education_id"])
    return max(levels, key=lambda i: int(i) if i.isdigit() else 0) if levels else None


def current_jabatan(record: dict) -> dict | None:
    entries = sorted(_history(record, "jabatan"), key=lambda e: e["tmt"])
    return entries[-1] if entries else None


def _penalty_level(kode: str) -> tuple[str | None, int | None]:
    found = next((j for j in domain_data()["hukuman_disiplin"]["jenis"] if j["kode"] == kode),
                 None)
    return (found["tingkat"], found["durasi_bulan"]) if found else (None, None)


def is_married(record: dict) -> bool:
    spouse = any(e.get("hubungan") in ("suami", "istri") for e in _history(record, "keluarga"))
    return spouse or str(record.get("marital_status") or "").lower() in ("kawin", "menikah")


def bup_age(record: dict) -> tuple[int, str]:
    """Retirement age (BUP) for the employee's position, with its legal basis."""
    jabatan = current_jabatan(record) or {}
    return bup_age_of(jabatan.get("jenis_jabatan"), jabatan.get("nama_jabatan"),
                      jabatan.get("eselon"))


def tmt_pensiun(record: dict) -> date:
    """First day of the month after the month the employee reaches BUP."""
    return retirement_day(_d(record["date_of_birth"]), bup_age(record)[0])


# -- the rules -------------------------------------------------------------------------------

Rule = Callable[[dict, date, dict], Check]
RULES: dict[str, Rule] = {}


def rule(name: str):
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


@rule("status_in")
def _status_in(record, today, p) -> Check:
    status = record.get("status")
    ok = status in p["statuses"]
    return Check("status_in", ok, f"status kepegawaian {status}" + (
        "" if ok else f"; layanan ini untuk {'/'.join(p['statuses'])}"))


@rule("married")
def _married(record, today, p) -> Check:
    ok = is_married(record)
    return Check("married", ok, "tercatat menikah" if ok else
                 "belum tercatat menikah (riwayat keluarga: suami/istri)")


@rule("service_milestone")
def _service_milestone(record, today, p) -> Check:
    start = _d(record.get("tmt_cpns"))
    if start is None:
        return Check("service_milestone", False, "TMT CPNS belum tercatat")
    awarded = set()
    for entry in _history(record, "penghargaan"):
        words = str(entry.get("nama", "")).upper().replace("-", " ").split()
        if any(w.startswith("SATYA") for w in words):
            awarded |= {y for y in p["years"] if ROMAN.get(y) in words or str(y) in words}
    for years in sorted(p["years"]):
        if years in awarded:
            continue  # this medal was already given
        due = add_years(start, years)
        if due <= today:
            return Check("service_milestone", True,
                         f"masa kerja {years} tahun tercapai pada {due.isoformat()}")
        return Check("service_milestone", False,
                     f"masa kerja {years} tahun baru tercapai pada {due.isoformat()}", due)
    return Check("service_milestone", False, "semua tingkat Satyalancana sudah diterima")


@rule("no_penalty")
def _no_penalty(record, today, p) -> Check:
    hits = [e for e in _history(record, "hukuman_disiplin")
            if _penalty_level(e.get("kode"))[0] in p["levels"]]
    if hits:
        return Check("no_penalty", False,
                     f"pernah dijatuhi hukuman disiplin tingkat {'/'.join(p['levels'])}")
    return Check("no_penalty", True,
                 f"tidak pernah dijatuhi hukuman disiplin tingkat {'/'.join(p['levels'])}")


def penalty_end(entry: dict) -> date | None:
    """The last day a penalty runs (None: it has no duration, e.g. a teguran)."""
    if entry.get("akhir"):
        return _d(entry["akhir"])
    _, months = _penalty_level(entry.get("kode"))
    if months:
        return add_months(_d(entry["mulai"]), months)
    return None


@rule("no_running_penalty")
def _no_running_penalty(record, today, p) -> Check:
    running = []
    for entry in _history(record, "hukuman_disiplin"):
        if _penalty_level(entry.get("kode"))[0] not in p["levels"]:
            continue
        start, end = _d(entry["mulai"]), penalty_end(entry)
        if start <= today and end is not None and end >= today:
            running.append(end)
    if running:
        until = max(running)
        return Check("no_running_penalty", False,
                     f"sedang menjalani hukuman disiplin sampai {until.isoformat()}",
                     date.fromordinal(until.toordinal() + 1))
    return Check("no_running_penalty", True, "tidak sedang menjalani hukuman disiplin")


@rule("golongan_in")
def _golongan_in(record, today, p) -> Check:
    golongan, _ = current_pangkat(record)
    ok = golongan in p["golongan"]
    return Check("golongan_in", ok, f"golongan {golongan}" + (
        "" if ok else f"; layanan ini untuk golongan {', '.join(p['golongan'])}"))


@rule("years_in_rank")
def _years_in_rank(record, today, p) -> Check:
    golongan, since = current_pangkat(record)
    if since is None:
        return Check("years_in_rank", False, "TMT pangkat terakhir belum tercatat")
    at = next_kp_period(today) if p.get("at") == "next_kp_period" else today
    due = add_years(since, p["years"])
    when = f"periode {at.isoformat()}" if p.get("at") else "hari ini"
    if due <= at:
        return Check("years_in_rank", True,
                     f"{p['years']} tahun dalam golongan {golongan} terpenuhi ({when})",
                     tmt=at if p.get("at") else None)
    eligible = next_kp_period(due) if p.get("at") == "next_kp_period" else due
    return Check("years_in_rank", False,
                 f"baru {p['years']} tahun dalam golongan {golongan} pada {due.isoformat()}",
                 eligible, tmt=eligible if p.get("at") else None)


@rule("education_ceiling")
def _education_ceiling(record, today, p) -> Check:
    golongan, _ = current_pangkat(record)
    grades = _grades()
    level = _education(current_education(record))
    if golongan not in grades or level is None:
        return Check("education_ceiling", False, "golongan atau pendidikan belum tercatat")
    ceiling = next((g for g in grades.values() if g["siasn_golongan_id"] == level["gol_maks_id"]),
                   None)
    following = next((g for g in grades.values()
                      if g["urutan"] == grades[golongan]["urutan"] + 1), None)
    if following is None or (ceiling and following["urutan"] > ceiling["urutan"]):
        top = ceiling["gol_ruang"] if ceiling else golongan
        return Check("education_ceiling", False,
                     f"golongan {golongan} sudah batas tertinggi untuk pendidikan "
                     f"{level['nama']} ({top}); naik melalui penyesuaian ijazah")
    return Check("education_ceiling", True,
                 f"kenaikan ke {following['gol_ruang']} dalam batas pendidikan {level['nama']}")


@rule("skp_min")
def _skp_min(record, today, p) -> Check:
    minimum = PREDICATES.index(p["predicate"])
    by_year = {e["tahun"]: e["predikat"] for e in _history(record, "kinerja")}
    years = [today.year - i for i in range(1, p["years"] + 1)]
    missing = [y for y in years if y not in by_year]
    low = [y for y in years if y in by_year and PREDICATES.index(by_year[y]) < minimum]
    if missing:
        return Check("skp_min", False,
                     f"SKP tahun {', '.join(map(str, missing))} belum tercatat")
    if low:
        return Check("skp_min", False,
                     f"predikat SKP tahun {', '.join(map(str, low))} di bawah {p['predicate']}",
                     date(max(low) + p["years"] + 1, 1, 1))
    return Check("skp_min", True,
                 f"SKP {p['years']} tahun terakhir minimal {p['predicate']}")


@rule("kgb_due")
def _kgb_due(record, today, p) -> Check:
    kgb = sorted(_d(e["tmt"]) for e in _history(record, "gaji_berkala"))
    _, rank_since = current_pangkat(record)
    due = kgb_due_day(kgb[-1] if kgb else None, rank_since, p["years"])
    if due is None:
        return Check("kgb_due", False, "TMT gaji berkala atau pangkat terakhir belum tercatat")
    opens = add_months(due, -p.get("lead_months", 0))
    if opens <= today:
        return Check("kgb_due", True, f"KGB berikutnya ber-TMT {due.isoformat()}", tmt=due)
    return Check("kgb_due", False,
                 f"KGB berikutnya ber-TMT {due.isoformat()}; usul dapat diajukan mulai "
                 f"{opens.isoformat()}", opens, tmt=due)


@rule("bup")
def _bup(record, today, p) -> Check:
    age, basis = bup_age(record)
    tmt = tmt_pensiun(record)
    opens = add_months(tmt, -p["months_before"])
    if opens <= today:
        return Check("bup", True, f"batas usia pensiun {age} tahun ({basis}); TMT pensiun "
                                  f"{tmt.isoformat()}")
    return Check("bup", False, f"batas usia pensiun {age} tahun ({basis}) tercapai dengan TMT "
                               f"pensiun {tmt.isoformat()}; usul dibuka {opens.isoformat()}",
                 opens)


@rule("probation")
def _probation(record, today, p) -> Check:
    start = _d(record.get("tmt_cpns"))
    if start is None:
        return Check("probation", False, "TMT CPNS belum tercatat")
    due = add_years(start, p["years"])
    if due <= today:
        return Check("probation", True, f"masa percobaan {p['years']} tahun selesai")
    return Check("probation", False,
                 f"masa percobaan {p['years']} tahun selesai pada {due.isoformat()}", due)


@rule("has_diklat")
def _has_diklat(record, today, p) -> Check:
    ok = any(e.get("jenis") == p["jenis"] for e in _history(record, "diklat"))
    return Check("has_diklat", ok, f"diklat {p['jenis']} " + ("tercatat" if ok else
                                                              "belum tercatat"))


@rule("jabatan")
def _jabatan(record, today, p) -> Check:
    jabatan = current_jabatan(record) or {}
    ok = jabatan.get("jenis_jabatan") in p["jenis"]
    return Check("jabatan", ok, f"jabatan {jabatan.get('jenis_jabatan') or 'belum tercatat'}"
                 + ("" if ok else f"; layanan ini untuk jabatan {'/'.join(p['jenis'])}"))


@rule("not_jabatan")
def _not_jabatan(record, today, p) -> Check:
    jabatan = current_jabatan(record) or {}
    ok = jabatan.get("jenis_jabatan") not in p["jenis"]
    return Check("not_jabatan", ok, "jabatan memenuhi" if ok else
                 f"tidak untuk pemangku jabatan {'/'.join(p['jenis'])}")


@rule("education_above_rank")
def _education_above_rank(record, today, p) -> Check:
    golongan, _ = current_pangkat(record)
    level = _education(current_education(record))
    grades = _grades()
    if golongan not in grades or level is None:
        return Check("education_above_rank", False, "golongan atau pendidikan belum tercatat")
    start = next((g for g in grades.values() if g["siasn_golongan_id"] == level["gol_awal_id"]),
                 None)
    ok = start is not None and grades[golongan]["urutan"] < start["urutan"]
    return Check("education_above_rank", ok,
                 f"ijazah {level['nama']} setara golongan awal "
                 f"{start['gol_ruang'] if start else '-'}, golongan kini {golongan}"
                 + ("" if ok else "; tidak perlu penyesuaian"))


@rule("education_min")
def _education_min(record, today, p) -> Check:
    have = current_education(record)
    ok = have is not None and have.isdigit() and int(have) >= int(p["education_id"])
    wanted = _education(p["education_id"])
    return Check("education_min", ok, f"pendidikan minimal {wanted['nama'] if wanted else p}"
                 + (" terpenuhi" if ok else " belum terpenuhi"))


def evaluate(entry: dict, record: dict, today: date) -> Eligibility:
    """Every eligibility rule of a catalogue entry against the record, each explained."""
    checks = []
    for spec in entry["eligibility"]:
        params = {k: v for k, v in spec.items() if k != "rule"}
        checks.append(RULES[spec["rule"]](record, today, params))
    return Eligibility(entry["kode"], tuple(checks))


# -- a layanan granted before: whether and when it may be granted again -----------------------

@dataclass(frozen=True)
class Grant:
    """A request of this layanan completed for this employee (the requests log's own record of
    what it granted: the `grants` table, written with RequestCompleted)."""

    request_id: str
    granted_on: date
    #: the TMT the grant took (KGB, KP) or, when it has none, the day it was granted
    tmt: date
    options: dict = field(default_factory=dict)


#: repeat rule -> its parameters (`?`: optional); a catalogue entry's `repeat`
REPEAT_PARAMS = {"unlimited": set(), "once": {"replacement?"},
                 "interval": {"years", "lead_months?"}}
#: the eligibility lines these rules answer with
NOT_GRANTED_BEFORE, GRANT_PERIOD, NO_OPEN_REQUEST = (
    "not_granted_before", "grant_period", "no_open_request")


def is_replacement(replacement: dict | None, options: dict, documents: dict) -> bool:
    """Does this request ask for a replacement the rule allows: an option with one of the
    stated values (the catalogue then asks for its document, e.g. the loss report), or a
    document attached (e.g. the loss report itself)?"""
    if not replacement:
        return False
    if "option" in replacement:
        return options.get(replacement["option"]) in replacement["values"]
    return bool(documents.get(replacement["document"]))


def _replacement_text(replacement: dict) -> str:
    if "option" in replacement:
        return (f"usulan lagi hanya sebagai penggantian: pilih {replacement['option']} "
                f"{'/'.join(replacement['values'])} dan lampirkan dokumen yang diminta "
                "(mis. surat keterangan kehilangan)")
    return (f"usulan lagi hanya sebagai penggantian dengan dokumen {replacement['document']} "
            "terlampir")


def repeat_check(spec: dict, nama: str, grants: list[Grant], options: dict, documents: dict,
                 tmt: date | None, today: date) -> Check | None:
    """May this layanan be granted to this employee again? `spec` is the catalogue entry's
    repeat rule, `grants` what was granted before, `tmt` the TMT this request would take
    (from the eligibility rules, when the layanan has one). None: the layanan repeats freely."""
    rule_name = spec["rule"]
    if rule_name == "unlimited":
        return None
    line = NOT_GRANTED_BEFORE if rule_name == "once" else GRANT_PERIOD
    if not grants:
        return Check(line, True, f"{nama} belum pernah diberikan kepada pegawai ini")
    if rule_name == "once":
        last = max(grants, key=lambda g: g.granted_on)
        given = (f"{nama} sudah diberikan pada {last.granted_on.isoformat()} "
                 f"(usulan {last.request_id})")
        replacement = spec.get("replacement")
        if is_replacement(replacement, options, documents):
            return Check(line, True, f"penggantian: {given}", request_id=last.request_id)
        rest = _replacement_text(replacement) if replacement else "layanan ini diberikan sekali"
        return Check(line, False, f"{given}; {rest}", request_id=last.request_id)
    last = max(grants, key=lambda g: g.tmt)
    following = add_years(last.tmt, spec["years"])
    opens = add_months(following, -spec.get("lead_months", 0))
    given = f"{nama} ber-TMT {last.tmt.isoformat()} sudah diberikan (usulan {last.request_id})"
    if today < opens:
        return Check(line, False, f"{given}; periode berikutnya ber-TMT {following.isoformat()}"
                                  f", usul dapat diajukan mulai {opens.isoformat()}", opens,
                     request_id=last.request_id)
    if tmt is not None and tmt < following:
        return Check(line, False, f"{given}; usulan ini ber-TMT {tmt.isoformat()}, sebelum "
                                  f"periode berikutnya ({following.isoformat()}): riwayat "
                                  "pegawai belum memuat pemberian itu",
                     request_id=last.request_id)
    return Check(line, True, f"periode berikutnya: {given}", request_id=last.request_id)


def open_request_check(nama: str, open_request: tuple[str, str] | None) -> Check:
    """One open request per employee and layanan: `open_request` is (id, state) of another
    request of this layanan for this employee that is neither completed, rejected nor
    withdrawn."""
    if open_request is None:
        return Check(NO_OPEN_REQUEST, True, f"tidak ada usulan {nama} lain yang masih berjalan")
    request_id, state = open_request
    return Check(NO_OPEN_REQUEST, False,
                 f"usulan {nama} untuk pegawai ini masih berjalan (usulan {request_id}, "
                 f"{STATE_NAMES.get(state, state)}): lanjutkan atau tarik usulan itu",
                 request_id=request_id)


# -- documents -------------------------------------------------------------------------------

def _condition_holds(condition: dict | None, record: dict, options: dict) -> bool:
    if condition is None:
        return True
    if "option" in condition:
        return options.get(condition["option"]) == condition["equals"]
    kind, value = condition["record"], condition.get("value")
    if kind == "golongan_in":
        return current_pangkat(record)[0] in value
    if kind == "first_kp":
        return len(_history(record, "pangkat")) <= 1
    if kind == "married":
        return is_married(record)
    if kind == "has_history":
        return bool(_history(record, value))
    if kind == "tmt_cpns_from":
        start = _d(record.get("tmt_cpns"))
        return start is not None and start >= _d(value)
    raise ValueError(f"unknown document condition {kind!r}")


@dataclass
class DocumentCheck:
    required: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def check_documents(entry: dict, record: dict, options: dict,
                    provided: dict[str, object]) -> DocumentCheck:
    """Which documents this request needs (mandatory ones, and conditional ones whose
    condition holds for this employee and these options), and which of them are missing."""
    result = DocumentCheck()
    known = set()
    for doc in entry["documents"]:
        known.add(doc["code"])
        when = doc.get("when")
        needed = _condition_holds(when, record, options) if when else doc["mandatory"]
        if needed:
            result.required.append(doc)
            if not provided.get(doc["code"]):
                result.missing.append(doc)
    result.unexpected = sorted(set(provided) - known)
    return result


# -- the request workflow ------------------------------------------------------------------------

DRAFT, SUBMITTED, VERIFYING, RETURNED = "draft", "submitted", "under_verification", "returned"
APPROVING, APPROVED, REJECTED = "under_approval", "approved", "rejected"
SIGNING, COMPLETED, WITHDRAWN = "signing", "completed", "withdrawn"
FINAL = frozenset({REJECTED, COMPLETED, WITHDRAWN})
#: stage -> whose clock runs there (SLA per stage, in working days, from the catalogue)
STAGES = {SUBMITTED: "verification", VERIFYING: "verification", RETURNED: "employee",
          APPROVING: "approval", APPROVED: "signing", SIGNING: "signing"}

#: event -> (states it may happen in, state after)
TRANSITIONS = {
    "RequestSubmitted": ({DRAFT, RETURNED}, SUBMITTED),
    "RequestWithdrawn": ({DRAFT, SUBMITTED, RETURNED}, WITHDRAWN),
    "VerificationStarted": ({SUBMITTED}, VERIFYING),
    "RequestReturned": ({VERIFYING}, RETURNED),
    "RequestVerified": ({VERIFYING}, APPROVING),
    "RequestApproved": ({APPROVING}, APPROVED),
    "RequestRejected": ({APPROVING}, REJECTED),
    "SigningStarted": ({APPROVED}, SIGNING),
    "RequestCompleted": ({SIGNING}, COMPLETED),
    "OutputReplaced": ({COMPLETED}, COMPLETED),
}
STATE_NAMES = {DRAFT: "draf", SUBMITTED: "diajukan", VERIFYING: "sedang diverifikasi",
               RETURNED: "dikembalikan untuk perbaikan", APPROVING: "menunggu persetujuan",
               APPROVED: "disetujui", REJECTED: "ditolak", SIGNING: "dokumen sedang ditandatangani",
               COMPLETED: "selesai", WITHDRAWN: "ditarik"}


class IllegalTransition(Exception):
    def __init__(self, state: str, event_type: str):
        allowed = sorted(e for e, (sources, _) in TRANSITIONS.items() if state in sources)
        super().__init__(f"tidak dapat {event_type} pada usulan berstatus "
                         f"{STATE_NAMES.get(state, state)}")
        self.state, self.event_type, self.allowed = state, event_type, allowed


@dataclass
class ServiceRequest:
    """One request for a layanan, rebuilt from the events of `request:<id>`."""

    request_id: str = ""
    layanan: str = ""
    catalogue_version: int = 0
    nip: str = ""
    opd_id: str = ""
    state: str = ""
    version: int = 0
    submitted_by: str = ""
    on_behalf: bool = False
    options: dict = field(default_factory=dict)
    documents: dict = field(default_factory=dict)
    #: who did what at each step, for four-eyes and the timeline
    actors: dict = field(default_factory=dict)
    returns: list = field(default_factory=list)
    #: everyone who drafted, supplied documents or submitted: none of them verifies or decides
    preparers: set = field(default_factory=set)
    #: a disciplinary procedure (BKD-only layanan): seen by BKD and the employee concerned only
    confidential: bool = False
    decision_reason: str | None = None
    #: what the approver recorded of the decree (what it changes in the employee's record)
    outcome: dict = field(default_factory=dict)
    output_sha256: str | None = None
    #: the signed decree: its number and date (set when the request completes)
    decree_number: str | None = None
    decree_date: str | None = None
    #: the signing service's document id of the signed decree (a re-issue moves all three)
    document_id: str | None = None
    #: when signing started: the signing service dates the decree by it
    signing_started_at: str | None = None
    stage_since: str | None = None
    #: the TMT the layanan takes, as the eligibility rules set it at the last submission
    tmt: date | None = None

    def apply(self, event_type: str, payload: dict, recorded_at: str | None = None,
              actor: str | None = None) -> None:
        if event_type == "RequestDrafted":
            self.request_id = payload["request_id"]
            self.layanan = payload["layanan"]
            self.catalogue_version = payload["catalogue_version"]
            self.nip, self.opd_id = payload["nip"], payload["opd_id"]
            self.options = dict(payload.get("options") or {})
            self.documents = dict(payload.get("documents") or {})
            self.submitted_by = payload["drafted_by"]
            self.on_behalf = payload["on_behalf"]
            self.confidential = bool(payload.get("confidential"))
            self.state = DRAFT
        elif event_type == "RequestDocumentsChanged":
            self.documents.update(payload["documents"])
            for code in payload.get("removed", []):
                self.documents.pop(code, None)
        else:
            self.state = TRANSITIONS[event_type][1]
            if event_type == "RequestSubmitted":
                self.tmt = _d((payload.get("eligibility") or {}).get("tmt"))
            if event_type == "RequestReturned":
                self.returns.append(payload["documents"])
            if event_type in ("RequestApproved", "RequestRejected"):
                self.decision_reason = payload.get("reason")
            if event_type == "RequestApproved":
                self.outcome = dict(payload.get("outcome") or {})
            if event_type == "SigningStarted":
                self.signing_started_at = recorded_at
            if event_type in ("RequestCompleted", "OutputReplaced"):
                self.output_sha256 = payload["output_sha256"]
            if event_type == "RequestCompleted" or (
                    event_type == "OutputReplaced" and payload.get("decree_number")):
                # an OutputReplaced of before the re-issue carried its decree (v1) names none
                self.decree_number = payload.get("decree_number")
                self.decree_date = payload.get("decree_date")
                self.document_id = payload.get("document_id")
        if actor:
            self.actors[event_type] = actor
            if event_type in ("RequestDrafted", "RequestDocumentsChanged", "RequestSubmitted"):
                self.preparers.add(actor)
        if recorded_at and event_type not in ("RequestDocumentsChanged", "OutputReplaced"):
            self.stage_since = recorded_at
        self.version += 1

    def check(self, event_type: str) -> None:
        sources, _ = TRANSITIONS[event_type]
        if self.state not in sources:
            raise IllegalTransition(self.state, event_type)


def four_eyes(request: ServiceRequest, actor: str, event_type: str) -> str | None:
    """Why `actor` may not take this step, or None. The employee concerned and whoever drafted,
    supplied documents for or submitted a request never verify or decide it; whoever verified
    it does not also approve it."""
    if actor in {request.nip, request.submitted_by} | request.preparers and event_type in (
            "VerificationStarted", "RequestReturned", "RequestVerified", "RequestApproved",
            "RequestRejected"):
        return "pengaju atau pegawai yang bersangkutan tidak boleh memverifikasi/memutus"
    verifier = request.actors.get("RequestVerified")
    if event_type in ("RequestApproved", "RequestRejected") and actor == verifier:
        return "yang memverifikasi tidak boleh juga memutus (empat mata)"
    return None
