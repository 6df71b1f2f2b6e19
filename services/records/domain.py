"""Domain rules of the records service: plain Python, no Nameko, SQLAlchemy or marshmallow.

Identity numbers and grades as the national rules define them (reference-data.json
`nomor_identitas`, `golongan_pns`, `tingkat_pendidikan_siasn`; Perka BKN 22/2007):
- NIP (18 digits): birth date yyyymmdd, TMT CPNS yyyymm, gender digit (1 male, 2 female),
  sequence 001-999. For PPPK, digits 9-12 are the appointment year and 13-14 a code, not a month.
- NIK (16 digits): region code (6), birth date ddmmyy with 40 added to the day for women,
  sequence 0001-9999.
Every check answers with problems naming the field, never a bare "invalid"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from shared.folds import register_fold
from shared.nip import (  # noqa: F401 - the NIP rules live in shared (sync checks them too)
    CPNS,
    FEMALE,
    MALE,
    PNS,
    PPPK,
    NipParts,
    Problem,
    nip_problems,
    parse_nip,
)
from shared.reference import PROVINCE, document_slots, domain_data, instansi, opds


def nik_problems(nik: str, *, date_of_birth: date | None = None,
                 gender: str | None = None) -> list[Problem]:
    if not isinstance(nik, str) or len(nik) != 16 or not nik.isdigit():
        return [Problem("nik", "nik_format", "NIK harus 16 digit angka")]
    problems = []
    day, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    female = day > 40
    real_day = day - 40 if female else day
    if not (1 <= real_day <= 31) or not (1 <= month <= 12) or 31 < day < 41 or day > 71:
        return [Problem("nik", "nik_birth_date",
                        "digit 7-12 NIK harus tanggal lahir ddmmyy (perempuan: tanggal + 40)")]
    if nik[12:16] == "0000":
        problems.append(Problem("nik", "nik_sequence", "nomor urut NIK (digit 13-16) 0001-9999"))
    if date_of_birth is not None and (date_of_birth.day, date_of_birth.month,
                                      date_of_birth.year % 100) != (real_day, month, year2):
        problems.append(Problem("date_of_birth", "nik_mismatch_birth_date",
                                "tanggal lahir tidak sama dengan digit 7-12 NIK"))
    if gender is not None and (gender == FEMALE) != female:
        problems.append(Problem("gender", "nik_mismatch_gender",
                                "jenis kelamin tidak sama dengan NIK (perempuan: tanggal + 40)"))
    return problems


# -- golongan and education ---------------------------------------------------------------

@dataclass(frozen=True)
class Golongan:
    code: str  # "III/a"
    rank: int  # 1 (I/a) .. 17 (IV/e)
    siasn_id: int
    pangkat: str


def golongan_list() -> dict[str, Golongan]:
    return {g["gol_ruang"]: Golongan(g["gol_ruang"], g["urutan"], g["siasn_golongan_id"],
                                     g["pangkat"]) for g in domain_data()["golongan_pns"]}


def education_levels() -> dict[str, dict]:
    return {e["id"]: e for e in domain_data()["tingkat_pendidikan_siasn"]}


def golongan_problems(golongan: str, education_id: str | None = None,
                      field: str = "golongan") -> list[Problem]:
    """A golongan from the reference list, never above the ceiling of the education level
    (kenaikan pangkat reguler; Perka BKN on KP)."""
    grades = golongan_list()
    grade = grades.get(golongan)
    if grade is None:
        return [Problem(field, "golongan_unknown",
                        f"golongan {golongan!r} tidak ada dalam daftar (mis. III/a)")]
    if education_id is None:
        return []
    level = education_levels().get(education_id)
    if level is None:
        return [Problem("education_id", "education_unknown",
                        f"tingkat pendidikan {education_id!r} tidak dikenal")]
    ceiling = next((g for g in grades.values() if g.siasn_id == level.get("gol_maks_id")), None)
    if ceiling is not None and grade.rank > ceiling.rank:
        return [Problem(field, "golongan_above_education",
                        f"golongan {golongan} melebihi batas tertinggi untuk pendidikan "
                        f"{level['nama']} ({ceiling.code})")]
    return []


@dataclass(frozen=True)
class PangkatEntry:
    golongan: str
    tmt: date


def pangkat_history_problems(entries: list[PangkatEntry], date_of_birth: date | None = None,
                             tmt_cpns: date | None = None) -> list[Problem]:
    """Dated pangkat entries: known golongan, none before birth or CPNS, and periods that do not
    overlap (each period runs from its TMT to the next entry's, so two entries may not share a
    TMT). A lower golongan later is allowed: a disciplinary demotion (penurunan pangkat) does
    exactly that."""
    problems = []
    grades = golongan_list()
    ordered = sorted(enumerate(entries), key=lambda item: item[1].tmt)
    for index, entry in ordered:
        field = f"pangkat[{index}]"
        if entry.golongan not in grades:
            problems.append(Problem(f"{field}.golongan", "golongan_unknown",
                                    f"golongan {entry.golongan!r} tidak dikenal"))
        if date_of_birth and entry.tmt <= date_of_birth:
            problems.append(Problem(f"{field}.tmt", "tmt_before_birth",
                                    "TMT pangkat sebelum tanggal lahir"))
        if tmt_cpns and entry.tmt < tmt_cpns:
            problems.append(Problem(f"{field}.tmt", "tmt_before_cpns",
                                    "TMT pangkat sebelum TMT CPNS"))
    for (_, earlier), (j, later) in zip(ordered, ordered[1:], strict=False):
        if earlier.tmt == later.tmt:
            problems.append(Problem(f"pangkat[{j}].tmt", "pangkat_overlap",
                                    f"dua pangkat ber-TMT sama ({later.tmt.isoformat()})"))
    return problems


# -- the employee record ---------------------------------------------------------------------

#: histories only an administrator writes and sees (Pergub 73/2020: confidential data)
CONFIDENTIAL_HISTORIES = frozenset({"hukuman_disiplin"})
#: data pokok fields that are confidential
CONFIDENTIAL_FIELDS = frozenset({"catatan_kesehatan"})
HISTORIES = ("pangkat", "jabatan", "pendidikan", "keluarga", "diklat", "penghargaan",
             "hukuman_disiplin", "kinerja", "gaji_berkala", "izin_belajar", "ujian")
#: entry dates that cannot precede the employee's birth (family members' own dates can)
_LIFE_DATES = ("tmt", "sk_tanggal", "lulus_tanggal", "mulai", "selesai", "tanggal", "akhir",
               "tanggal_nikah")
#: (start, end) pairs that must be in order within one entry
_SPANS = (("mulai", "selesai"), ("mulai", "akhir"))
#: data pokok a pegawai may propose to change (identity numbers and birth data are not here:
#: they change only by an administrator's correction with a document)
PROPOSABLE_FIELDS = frozenset({"name", "gelar_depan", "gelar_belakang", "religion",
                               "marital_status", "address", "catatan_kesehatan"})


class RuleViolation(Exception):
    """The change breaks a rule; `problems` says which field and why."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def slot_is_confidential(slot: str) -> bool:
    known = document_slots().get(slot)
    return True if known is None else bool(known["confidential"])  # unknown: be careful


def attach_document(employee: Employee, slot: str, document: dict) -> list[tuple[str, dict]]:
    """A new version of one document slot (SK CPNS, KTP, ...); stored documents are never
    replaced, a slot only gains versions."""
    if slot not in document_slots():
        raise RuleViolation([Problem("slot", "slot_unknown",
                                     f"jenis dokumen {slot!r} tidak dikenal")])
    versions = employee.documents.get(slot, [])
    if versions and versions[-1]["sha256"] == document["sha256"]:
        raise RuleViolation([Problem("sha256", "document_unchanged",
                                     "dokumen sama dengan versi terakhir pada slot ini")])
    return [("DocumentAttached", {"slot": slot, **document})]


def stream_for(nip: str) -> str:
    return f"employee:{nip}"


@dataclass
class Employee:
    """One employee, rebuilt from the events of `employee:<NIP>`."""

    nip: str = ""
    version: int = 0
    data: dict = None
    histories: dict = None
    pending: dict = None
    #: slot code -> versions [{version, sha256, content_type, size, pages, file_name}]
    documents: dict = None
    #: every document hash an event of this record links -> True when it is confidential
    linked: dict = None
    #: request id -> the decree whose outcome was applied (LayananOutcomeApplied)
    outcomes: dict = None

    def __post_init__(self):
        self.data = self.data or {}
        self.histories = {name: [] for name in HISTORIES} | (self.histories or {})
        self.pending = self.pending or {}
        self.documents = self.documents or {}
        self.linked = self.linked or {}
        self.outcomes = self.outcomes or {}

    def _link(self, hashes, confidential: bool) -> None:
        for sha256 in hashes or ():
            self.linked[sha256] = self.linked.get(sha256, False) or confidential

    def apply(self, event_type: str, payload: dict) -> None:
        if event_type == "EmployeeRegistered":
            self.nip = payload["nip"]
            self.data = {k: v for k, v in payload.items() if k != "nip"}
        elif event_type == "DataPokokChanged":
            self.data.update(payload["changes"])
            self._link(payload.get("documents"),
                       bool(set(payload["changes"]) & CONFIDENTIAL_FIELDS))
        elif event_type == "HistoryEntryRecorded":
            self.histories[payload["history"]].append(
                {"entry_id": payload["entry_id"], **payload["entry"],
                 "documents": payload.get("documents", [])})
            self._link(payload.get("documents"), payload["history"] in CONFIDENTIAL_HISTORIES)
        elif event_type == "ChangeProposed":
            self.pending[payload["change_id"]] = payload
            self._link(payload.get("documents"),
                       bool(set(payload["changes"]) & CONFIDENTIAL_FIELDS))
        elif event_type == "DocumentAttached":
            versions = self.documents.setdefault(payload["slot"], [])
            versions.append({"version": len(versions) + 1,
                             **{k: v for k, v in payload.items() if k != "slot"}})
            self._link([payload["sha256"]], slot_is_confidential(payload["slot"]))
        elif event_type in ("ChangeApplied", "ChangeRejected"):
            self.pending.pop(payload["change_id"], None)
        elif event_type == "LayananOutcomeApplied":
            # a completed layanan: each entry cites its request and the signed decree
            self.data.update(payload["changes"])
            source = {"request_id": payload["request_id"],
                      "output_sha256": payload["output_sha256"],
                      "document_id": payload.get("document_id")}
            for item in payload["entries"]:
                self.histories[item["history"]].append(
                    {"entry_id": item["entry_id"], **item["entry"], "documents": [], **source})
            self.outcomes[payload["request_id"]] = {
                "layanan": payload["layanan"], "decree_number": payload["decree_number"],
                "decree_date": payload["decree_date"],
                "output_sha256": payload["output_sha256"],
                "document_id": payload.get("document_id")}
        elif event_type == "LayananDecreeReplaced":
            # a re-issued decree: its outcome's entries cite the new one and keep the old
            moved = {(item["history"], item["entry_id"]): item["changes"]
                     for item in payload["entries"]}
            for history, entries in self.histories.items():
                self.histories[history] = [
                    {**entry, **moved[(history, entry["entry_id"])],
                     "replaced_decrees": [*entry.get("replaced_decrees", []),
                                          payload["previous"]]}
                    if (history, entry["entry_id"]) in moved else entry
                    for entry in entries]
            applied = self.outcomes.get(payload["request_id"], {})
            self.outcomes[payload["request_id"]] = {
                **applied, "layanan": payload["layanan"],
                **{k: payload.get(k) for k in ("decree_number", "decree_date",
                                                "output_sha256", "document_id")},
                "replaced": [*applied.get("replaced", []), payload["previous"]]}
        self.version += 1

    def view(self, confidential: bool) -> dict:
        """The record as a role may see it: confidential parts only for administrators."""
        data = {k: v for k, v in self.data.items()
                if confidential or k not in CONFIDENTIAL_FIELDS}
        histories = {name: list(entries) for name, entries in self.histories.items()
                     if confidential or name not in CONFIDENTIAL_HISTORIES}
        documents = {slot: list(versions) for slot, versions in self.documents.items()
                     if confidential or not slot_is_confidential(slot)}
        proposals = [{"change_id": change_id,
                      "changes": {k: v for k, v in proposal["changes"].items()
                                  if confidential or k not in CONFIDENTIAL_FIELDS},
                      "documents": [d for d in proposal.get("documents", [])
                                    if confidential or not self.linked.get(d)]}
                     for change_id, proposal in sorted(self.pending.items())]
        return {"nip": self.nip, "version": self.version, **data, "histories": histories,
                "documents": documents, "pending_changes": sorted(self.pending),
                "proposals": proposals}

    def may_download(self, sha256: str, confidential: bool) -> bool:
        """A document this record links, and not a confidential one for a non-administrator."""
        return sha256 in self.linked and (confidential or not self.linked[sha256])


@register_fold("Employee")
def _fold_employee(state: dict, event) -> dict:
    """`simasn audit replay` of an employee stream: the full record, as the aggregate sees it."""
    employee = Employee(**state) if state else Employee()
    employee.apply(event.event_type, event.payload)
    return {"nip": employee.nip, "version": employee.version, "data": employee.data,
            "histories": employee.histories, "pending": employee.pending,
            "documents": employee.documents, "linked": employee.linked,
            "outcomes": employee.outcomes}


def replay_employee(events) -> Employee:
    employee = Employee()
    for event in events:
        employee.apply(event.event_type, event.payload)
    return employee


def _iso(value) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


# -- where an employee works: the instansi above the OPD/unit ---------------------------------
# Every employee belongs to one instansi: the province ("35") or a kabupaten/kota (its BPS code,
# "3501".."3579"). A provincial employee's `opd_id` is one of the province's OPDs (opd.json);
# a kab/kota employee's is the region's own unit, stored as "<instansi>.<the region's code>"
# (e.g. "3507.dinkes") with its name in `opd_name`: never equal to a provincial OPD code, so no
# provincial fasilitator's OPD scope (and no per-OPD queue or list of another service) can ever
# contain it.

#: a kab/kota's own OPD/unit code: "<instansi>.<code>"
REGION_OPD = re.compile(r"^(35\d\d)\.([a-z0-9-]{2,40})$")
#: data pokok a region's feed may not change: the NIP is the record's identity, and moving an
#: employee to another instansi is a transfer between governments, not one region's edit
NOT_CHANGED_BY_REGION = frozenset({"nip", "instansi"})


def instansi_of(data: dict) -> str:
    """The instansi of a record's data pokok (records registered before issue 14: the province)."""
    return data.get("instansi") or PROVINCE


def placement_problems(data: dict) -> list[Problem]:
    """The instansi is known and the OPD/unit is one of its own."""
    code, opd = instansi_of(data), data.get("opd_id")
    if code not in instansi():
        return [Problem("instansi", "instansi_unknown",
                        f"instansi {code!r} tidak dikenal (35 = Provinsi Jawa Timur, atau kode "
                        "BPS kabupaten/kota 3501-3579)")]
    if code == PROVINCE:
        if opd not in opds():
            return [Problem("opd_id", "opd_unknown",
                            f"OPD {opd!r} bukan perangkat daerah Pemerintah Provinsi")]
        return []
    problems = []
    match = REGION_OPD.match(opd or "")
    if match is None or match.group(1) != code:
        problems.append(Problem("opd_id", "opd_not_of_instansi",
                                f"OPD pegawai {instansi()[code]['short']} ditulis "
                                f"\"{code}.<kode unit>\" (mis. {code}.dinkes)"))
    if not data.get("opd_name"):
        problems.append(Problem("opd_name", "opd_name_missing",
                                "nama OPD/unit kerja pada kabupaten/kota wajib diisi"))
    return problems


def register(data: dict, today: date | None = None) -> list[tuple[str, dict]]:
    """A new employee record: identity numbers, grade and dates must hold together, and the
    OPD/unit belongs to the employee's instansi."""
    data = {**data, "instansi": instansi_of(data)}
    problems = _pokok_problems(data, today)
    if problems:
        raise RuleViolation(problems)
    return [("EmployeeRegistered", dict(data))]


def change_data_pokok(employee: Employee, changes: dict,
                      today: date | None = None) -> list[tuple[str, dict]]:
    """Data pokok changed by whoever is authoritative for it (a region for its own employees):
    the changed record must hold together as a registration would. Nothing different: no event."""
    refused = sorted(set(changes) & NOT_CHANGED_BY_REGION)
    if refused:
        raise RuleViolation([Problem(f"changes.{name}", "field_not_changeable",
                                     f"{name} tidak dapat diubah melalui perubahan data pokok")
                             for name in refused])
    if not changes:
        raise RuleViolation([Problem("changes", "empty", "tidak ada perubahan")])
    different = {k: v for k, v in changes.items() if employee.data.get(k) != v}
    if not different:
        return []
    merged = {**employee.data, **different, "nip": employee.nip}
    problems = _pokok_problems(merged, today)
    if problems:
        # named as the change names them where the change caused them
        raise RuleViolation([Problem(f"changes.{p.field}" if p.field in different else p.field,
                                     p.code, p.message) for p in problems])
    return [("DataPokokChanged", {"changes": different, "documents": []})]


def _pokok_problems(data: dict, today: date | None = None) -> list[Problem]:
    born, tmt = _iso(data["date_of_birth"]), _iso(data.get("tmt_cpns"))
    status = data.get("status", PNS)
    problems = nip_problems(data["nip"], date_of_birth=born, gender=data["gender"],
                            tmt_cpns=tmt if status != PPPK else None, status=status, today=today)
    if data.get("nik"):
        problems += nik_problems(data["nik"], date_of_birth=born, gender=data["gender"])
    if data.get("golongan"):
        problems += golongan_problems(data["golongan"], data.get("education_id"))
    if tmt and born and tmt <= born:
        problems.append(Problem("tmt_cpns", "tmt_before_birth", "TMT CPNS sebelum lahir"))
    return problems + placement_problems(data)


def _reference_codes() -> dict[str, set[str]]:
    data = domain_data()
    return {
        "eselon": {e["eselon"] for e in data["jenis_jabatan"]["eselon_siasn"]},
        "hukuman": {j["kode"] for j in data["hukuman_disiplin"]["jenis"]},
        "predikat": set(data["kinerja"]["predikat_kinerja"]),
    }


def entry_problems(employee: Employee, history: str, entry: dict) -> list[Problem]:
    """Rules of one history entry against the record and the reference data (its shape was
    checked by the API schema)."""
    problems = []
    born = _iso(employee.data.get("date_of_birth"))
    for name in _LIFE_DATES:
        value = _iso(entry.get(name))
        if born and value and value <= born and not (history == "keluarga"
                                                     and name != "tanggal_nikah"):
            problems.append(Problem(f"entry.{name}", "date_before_birth",
                                    f"{name} {value.isoformat()} sebelum tanggal lahir pegawai"))
    for start, end in _SPANS:
        first, last = _iso(entry.get(start)), _iso(entry.get(end))
        if first and last and last < first:
            problems.append(Problem(f"entry.{end}", "dates_out_of_order",
                                    f"{end} sebelum {start}"))
    codes = _reference_codes()
    if history == "pangkat":
        entries = [PangkatEntry(e["golongan"], _iso(e["tmt"]))
                   for e in employee.histories["pangkat"]]
        entries.append(PangkatEntry(entry["golongan"], _iso(entry["tmt"])))
        problems += pangkat_history_problems(entries, born, _iso(employee.data.get("tmt_cpns")))
        problems += golongan_problems(entry["golongan"], employee.data.get("education_id"),
                                      field="entry.golongan")
    elif history == "jabatan" and entry.get("eselon") and entry["eselon"] not in codes["eselon"]:
        problems.append(Problem("entry.eselon", "eselon_unknown",
                                f"eselon {entry['eselon']!r} tidak dikenal (mis. III.a)"))
    elif history == "hukuman_disiplin" and entry["kode"] not in codes["hukuman"]:
        problems.append(Problem("entry.kode", "penalty_unknown",
                                f"jenis hukuman {entry['kode']!r} tidak dikenal (PP 94/2021)"))
    elif history == "kinerja":
        if entry["predikat"] not in codes["predikat"]:
            problems.append(Problem("entry.predikat", "predicate_unknown",
                                    f"predikat {entry['predikat']!r} tidak dikenal "
                                    f"({', '.join(sorted(codes['predikat']))})"))
        if any(e["tahun"] == entry["tahun"] for e in employee.histories["kinerja"]):
            problems.append(Problem("entry.tahun", "kinerja_year_exists",
                                    f"kinerja tahun {entry['tahun']} sudah tercatat"))
    elif history in ("pendidikan", "izin_belajar") and (
            entry["education_id"] not in education_levels()):
        problems.append(Problem("entry.education_id", "education_unknown",
                                f"tingkat pendidikan {entry['education_id']!r} tidak dikenal"))
    elif history == "ujian" and any(e["jenis"] == entry["jenis"]
                                    for e in employee.histories["ujian"]):
        problems.append(Problem("entry.jenis", "ujian_exists",
                                f"kelulusan {entry['jenis']} sudah tercatat"))
    elif history == "gaji_berkala":
        if entry.get("golongan"):
            problems += golongan_problems(entry["golongan"], field="entry.golongan")
        if any(e["tmt"] == entry["tmt"] for e in employee.histories["gaji_berkala"]):
            problems.append(Problem("entry.tmt", "kgb_tmt_exists",
                                    f"gaji berkala TMT {entry['tmt']} sudah tercatat"))
    return problems


def record_history(employee: Employee, history: str, entry_id: str, entry: dict,
                   documents: list[str]) -> list[tuple[str, dict]]:
    """One dated history entry (pangkat, jabatan, ...), checked against the record."""
    if history not in HISTORIES:
        raise RuleViolation([Problem("history", "history_unknown",
                                     f"riwayat {history!r} tidak dikenal")])
    if any(e["entry_id"] == entry_id for e in employee.histories[history]):
        raise RuleViolation([Problem("entry_id", "entry_exists",
                                     f"entri {entry_id} sudah tercatat pada riwayat {history}")])
    problems = entry_problems(employee, history, entry)
    if problems:
        raise RuleViolation(problems)
    return [("HistoryEntryRecorded", {"history": history, "entry_id": entry_id,
                                      "entry": entry, "documents": documents})]


def propose(employee: Employee, change_id: str, changes: dict,
            documents: list[str]) -> list[tuple[str, dict]]:
    """A pegawai's proposal: pending until a verifier applies or rejects it."""
    refused = sorted(set(changes) - PROPOSABLE_FIELDS)
    if refused:
        raise RuleViolation([Problem(f"changes.{name}", "field_not_proposable",
                                     f"{name} tidak dapat diusulkan oleh pegawai")
                             for name in refused])
    if not changes:
        raise RuleViolation([Problem("changes", "empty", "tidak ada perubahan yang diusulkan")])
    return [("ChangeProposed", {"change_id": change_id, "changes": changes,
                                "documents": documents,
                                "opd_id": employee.data.get("opd_id")})]


def decide(employee: Employee, change_id: str, apply: bool,
           reason: str) -> list[tuple[str, dict]]:
    proposal = employee.pending.get(change_id)
    if proposal is None:
        raise RuleViolation([Problem("change_id", "change_not_pending",
                                     "usulan tidak ditemukan atau sudah diputuskan")])
    confidential = bool(set(proposal["changes"]) & CONFIDENTIAL_FIELDS)
    decision = {"change_id": change_id, "reason": reason}
    if confidential:  # the reason may speak of the health note: kept off the bus
        decision["confidential"] = True
    if not apply:
        return [("ChangeRejected", decision)]
    return [("DataPokokChanged", {"changes": proposal["changes"],
                                  "documents": proposal["documents"]}),
            ("ChangeApplied", decision)]
